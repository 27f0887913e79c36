"""A clip's labels in its XMP sidecar: keywords, and their time ranges as markers.

The ranges go into a standard field, XMP Dynamic Media (``xmpDM``, read by Adobe Premiere
and Bridge, exiftool, digiKam): ``xmpDM:Tracks`` gets one track per label set, named
``Lookalike: <set>`` (``xmpDM:trackType`` "Lookalike labels", ``xmpDM:frameRate`` "f1000":
times count milliseconds), whose ``xmpDM:markers`` are the ranges: ``xmpDM:name`` the
label, ``xmpDM:startTime`` and ``xmpDM:duration``, ``xmpDM:probability`` (the frames' mean)
and ``xmpDM:type`` "Label". The labels themselves are keywords ("Set|label"), as for
photos. The sidecar is found and merged by :mod:`core.xmp` with the photos' rules (other
tracks, keywords and metadata are kept; the clip file is never opened for writing).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from core import xmp
from core.catalog import Catalog
from core.jobs import Job, RateMeter, check_cancel
from core.labels import LabelStore
from core.labels.export import SidecarResult
from core.paths import display
from core.video import store
from core.video.labels import label_ranges

log = logging.getLogger(__name__)

TRACKS = "Xmp.xmpDM.Tracks"
TRACK_PREFIX = "Lookalike: "
TRACK_TYPE = "Lookalike labels"
RATE = "f1000"  # a track's time unit: milliseconds


@dataclass(frozen=True)
class Marker:
    """A label's time range in a clip (seconds) and its mean probability."""

    name: str
    start: float
    duration: float
    probability: float | None = None


def set_track(exiv2: Any, data: Any, name: str, markers: Sequence[Marker]) -> None:
    """Make the track ``name`` of the packet hold these markers (added after the others if
    new, its markers replaced in place if there)."""
    props = {d.key(): d.toString() for d in data}
    count = _track_count(props)
    index = next((n for n in range(1, count + 1)
                  if props.get(f"{TRACKS}[{n}]/xmpDM:trackName") == name), None)
    if index is None:
        if count == 0:
            _array(exiv2, data, TRACKS, exiv2.XmpValue.XmpArrayType.xaBag)
        index = count + 1
        _struct(exiv2, data, f"{TRACKS}[{index}]")
    track = f"{TRACKS}[{index}]"
    data[f"{track}/xmpDM:trackName"] = name
    data[f"{track}/xmpDM:trackType"] = TRACK_TYPE
    data[f"{track}/xmpDM:frameRate"] = RATE
    xmp.delete_property(exiv2, data, f"{track}/xmpDM:markers")
    if not markers:
        return
    _array(exiv2, data, f"{track}/xmpDM:markers", exiv2.XmpValue.XmpArrayType.xaSeq)
    for n, marker in enumerate(markers, 1):
        item = f"{track}/xmpDM:markers[{n}]"
        _struct(exiv2, data, item)
        data[f"{item}/xmpDM:name"] = marker.name
        data[f"{item}/xmpDM:startTime"] = str(round(marker.start * 1000))
        data[f"{item}/xmpDM:duration"] = str(round(marker.duration * 1000))
        if marker.probability is not None:
            data[f"{item}/xmpDM:probability"] = f"{marker.probability:.4f}"
        data[f"{item}/xmpDM:type"] = "Label"


def read_tracks(record: xmp.XmpRecord) -> dict[str, list[Marker]]:
    """Every track's markers (by track name) in a sidecar read with :mod:`core.xmp`;
    times in seconds where the track's frame rate says how ("f1000", "f25", ...)."""
    props = record.properties
    out: dict[str, list[Marker]] = {}
    for n in range(1, _track_count(props) + 1):
        track = f"{TRACKS}[{n}]"
        rate = re.fullmatch(r"f(\d+)(?:s(\d+))?", props.get(f"{track}/xmpDM:frameRate", ""))
        unit = (int(rate[2] or 1) / int(rate[1])) if rate and int(rate[1]) else 1.0
        markers = []
        m = 1
        while f"{track}/xmpDM:markers[{m}]" in props:
            item = f"{track}/xmpDM:markers[{m}]"
            m += 1
            probability = props.get(f"{item}/xmpDM:probability")
            markers.append(Marker(
                props.get(f"{item}/xmpDM:name", ""),
                float(props.get(f"{item}/xmpDM:startTime", 0)) * unit,
                float(props.get(f"{item}/xmpDM:duration", 0)) * unit,
                float(probability) if probability else None))
        out[props.get(f"{track}/xmpDM:trackName", f"track {n}")] = markers
    return out


def write_clip_sidecars(catalog: Catalog, set_id: int, model: str,
                        cancel: threading.Event | None = None) -> Job[SidecarResult]:
    """Merge each clip's labels of the set (predicted by its head on the kept frames, and
    assigned by the user) into the clip's sidecar: keywords, and a marker per time range.
    A sidecar that cannot be read or written is listed and left alone (a job)."""
    labels = LabelStore(catalog)
    label_set = labels.get_set(set_id)
    names = {label.id: label.name for label in labels.labels(set_id)}
    managed = {f"{label_set.name}|{name}" for name in names.values()}
    assigned = labels.photo_labels(set_id)
    clips = sorted(catalog.photos(store.durations(catalog).keys()), key=lambda c: str(c.path))
    meter = RateMeter(len(clips))
    written, failed = 0, []
    for n, clip in enumerate(clips, 1):
        check_cancel(cancel)
        ranges = label_ranges(catalog, set_id, model, clip.id)
        wanted = {f"{label_set.name}|{r.label}" for r in ranges}
        wanted |= {f"{label_set.name}|{names[i]}" for i in assigned.get(clip.id, ())
                   if i in names}
        markers = [Marker(r.label, r.start, r.end - r.start, r.probability) for r in ranges]
        target = xmp.sidecar_path(clip.path)
        reason = xmp.write_or_reason(target, partial(
            xmp.merge_into_sidecar, target, add_keywords=sorted(wanted),
            remove_keywords=managed - wanted,
            edit=partial(set_track, name=TRACK_PREFIX + label_set.name, markers=markers)))
        if reason is None:
            written += 1
        else:
            failed.append((target, reason))
        yield meter.progress("writing clip sidecars", n, display(clip.path.name))
    return SidecarResult(written, tuple(failed))


def _track_count(props: Mapping[str, str]) -> int:
    n = 0
    while f"{TRACKS}[{n + 1}]" in props:
        n += 1
    return n


def _struct(exiv2: Any, data: Any, key: str) -> None:
    value = exiv2.XmpTextValue()
    value.setXmpStruct()
    data[key] = value


def _array(exiv2: Any, data: Any, key: str, kind: Any) -> None:
    value = exiv2.XmpTextValue()
    value.setXmpArrayType(kind)
    data[key] = value
