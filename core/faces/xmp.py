"""Face regions in XMP, in the Metadata Working Group format (``mwg-rs:Regions``).

That is what Lightroom, digiKam, Picasa and Immich read and write: a list of regions, each
with a ``Name``, ``Type`` Face and an ``Area`` (centre x, y, width, height, normalised).
Lookalike keeps boxes relative to the *upright* photo; MWG areas are relative to the image
*as stored* (before the EXIF orientation), so boxes are turned on the way out and back on
the way in. This is the MWG guidelines' rule (2.0, 5.9: "region metadata is applied to the
stored image"; an Exif Orientation turns the regions with the pixels), what exiftool's
``rotate_regions.config`` and digiKam follow; it was checked against exiftool-made test
files for orientations 3, 6 and 8 (skatsubo/exif-orientation-vs-face-regions): the boxes
come out where the orientation-1 original has them, to 1e-16. Writing is opt-in and goes to
sidecars (``photo.xmp``, merged through :mod:`core.xmp`: other metadata and regions of other
types stay); reading takes sidecars (``photo.xmp`` or digiKam's ``photo.jpg.xmp``) and XMP
embedded in the photo.
Names as keywords come with the "People" label set (``lookalike labels export --xmp``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from PIL import Image

from core import xmp
from core.catalog import Catalog
from core.faces.labels import sync_people_labels
from core.faces.store import FaceStore
from core.jobs import Job, RateMeter, check_cancel
from core.labels.export import SidecarResult
from core.paths import display

log = logging.getLogger(__name__)

Box = tuple[float, float, float, float]  # x, y, w, h: top-left corner and size, 0..1


@dataclass(frozen=True)
class Region:
    """A named face region, relative to the upright photo (top-left corner and size)."""

    name: str
    box: Box


# Where a point of the stored image lands once the EXIF orientation is applied.
_UPRIGHT = {
    1: lambda x, y: (x, y), 2: lambda x, y: (1 - x, y), 3: lambda x, y: (1 - x, 1 - y),
    4: lambda x, y: (x, 1 - y), 5: lambda x, y: (y, x), 6: lambda x, y: (1 - y, x),
    7: lambda x, y: (1 - y, 1 - x), 8: lambda x, y: (y, 1 - x),
}
_INVERSE = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}


def _turn(box: Box, turn: Any) -> Box:
    (x0, y0), (x1, y1) = turn(box[0], box[1]), turn(box[0] + box[2], box[1] + box[3])
    return min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)


def to_upright(box: Box, orientation: int) -> Box:
    """A box of the stored image, on the upright photo."""
    return _turn(box, _UPRIGHT.get(orientation, _UPRIGHT[1]))


def to_stored(box: Box, orientation: int) -> Box:
    """A box of the upright photo, on the image as stored."""
    return _turn(box, _UPRIGHT[_INVERSE.get(orientation, 1)])


def _stored_info(path: Path) -> tuple[int, tuple[int, int]]:
    """(EXIF orientation, stored size) from the header; (1, (0, 0)) when unknown."""
    try:
        with Image.open(path) as im:
            return int(im.getexif().get(0x0112, 1) or 1), im.size
    except Exception:  # noqa: BLE001 - RAW, HEIC without a plugin, damaged: unknown
        return 1, (0, 0)


def sidecars(path: Path) -> list[Path]:
    """The sidecars of ``path`` that exist: ours (:func:`core.xmp.sidecar_path`) first,
    then ``IMG_1.JPG.xmp`` (digiKam's and darktable's default) and ``IMG_1.xmp``
    (Lightroom's)."""
    names = [xmp.sidecar_path(path), path.with_name(path.name + ".xmp"), path.with_suffix(".xmp")]
    return [name for name in dict.fromkeys(names) if name.is_file()]


def read_face_regions(path: Path) -> list[Region]:
    """The named face regions of a photo: from its sidecar, else from its embedded XMP."""
    path = Path(path)
    records = []
    found = sidecars(path)
    for read, source in [*((xmp.read_sidecar, s) for s in found), (xmp.read_embedded, path)]:
        try:
            records.append(read(source))
        except (OSError, xmp.XmpError) as exc:  # a damaged sidecar is worth a word
            (log.warning if source in found else log.debug)("unreadable XMP of %s: %s",
                                                             path, exc)
    orientation = _stored_info(path)[0]
    for record in records:
        regions = [Region(r.name.strip(), to_upright((r.x - r.w / 2, r.y - r.h / 2, r.w, r.h),
                                                     orientation))
                   for r in record.regions if r.kind == "Face" and r.name.strip()]
        if regions:
            return regions
    return []


def write_face_regions(catalog: Catalog, cancel: threading.Event | None = None
                       ) -> Job[SidecarResult]:
    """Merge the named faces of every photo into its sidecar as MWG face regions (a job).
    Face regions named after a person of this library are replaced; others are kept."""
    store = FaceStore(catalog)
    names = set(store.names())
    by_hash: dict[str, list[Region]] = {}
    for face in store.faces():
        if face.person_name:
            by_hash.setdefault(face.content_hash, []).append(
                Region(face.person_name, (face.x, face.y, face.w, face.h)))
    ids = catalog.ids_by_hash(by_hash)
    photos = catalog.photos(sorted(i for group in ids.values() for i in group))
    meter = RateMeter(len(photos))
    written, failed = 0, []
    for n, photo in enumerate(photos, 1):
        check_cancel(cancel)
        sidecar = xmp.sidecar_path(photo.path)
        reason = xmp.write_or_reason(sidecar, partial(
            _merge, photo.path, sidecar, by_hash[photo.content_hash or ""], names))
        if reason is None:
            written += 1
        else:
            failed.append((sidecar, reason))
        yield meter.progress("writing face regions", n, display(photo.path.name))
    return SidecarResult(written, tuple(failed))


def _merge(photo: Path, sidecar: Path, regions: list[Region], managed: set[str]) -> None:
    old = xmp.read_sidecar(sidecar).regions if sidecar.exists() else ()
    kept = [r for r in old if r.kind != "Face" or r.name not in managed]
    orientation, (width, height) = _stored_info(photo)
    xmp.merge_into_sidecar(sidecar, face_regions=kept + [_entry(r, orientation)
                                                         for r in regions],
                           image_size=(width, height) if width and height else None)


def _entry(region: Region, orientation: int) -> xmp.FaceRegion:
    x, y, w, h = to_stored(region.box, orientation)
    return xmp.FaceRegion(region.name, x + w / 2, y + h / 2, w, h)


def import_face_regions(catalog: Catalog, cancel: threading.Event | None = None) -> Job[int]:
    """Read the named face regions of every photo (sidecar or embedded XMP) into people:
    a region over a detected face names that face's person (confirmed); a region with no
    detected face under it becomes a face of its own (no descriptor). Returns the number of
    regions taken."""
    store = FaceStore(catalog)
    photos = [p for p in catalog.photos() if p.content_hash]
    meter = RateMeter(len(photos))
    taken = 0
    for n, photo in enumerate(photos, 1):
        check_cancel(cancel)
        for region in read_face_regions(photo.path):
            store.take_region(photo.content_hash or "", region.name, region.box, time.time())
            taken += 1
        yield meter.progress("reading face regions", n, display(photo.path.name))
    if taken:
        sync_people_labels(catalog)
    return taken
