"""Face regions in XMP, in the Metadata Working Group format (``mwg-rs:Regions``).

That is what Lightroom, digiKam, Picasa and Immich read and write: a list of regions, each
with a ``Name``, ``Type`` Face and an ``Area`` (centre x, y, width, height, normalised).
Lookalike keeps boxes relative to the *upright* photo; MWG areas are relative to the image
*as stored* (before the EXIF orientation), so boxes are turned on the way out and back on
the way in. Writing is opt-in and goes to sidecars (``photo.xmp``, merged: other metadata
and regions of other types stay); reading takes sidecars and XMP embedded in the photo.
Names as keywords come with the "People" label set (``lookalike labels export --xmp``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from core.catalog import Catalog
from core.faces.labels import sync_people_labels
from core.faces.store import FaceStore
from core.jobs import Job, RateMeter, check_cancel
from core.labels.export import SidecarResult, _libxmp, sidecar_path
from core.paths import display

log = logging.getLogger(__name__)

RS = "http://www.metadataworkinggroup.com/schemas/regions/"
AREA = "http://ns.adobe.com/xmp/sType/Area#"
DIM = "http://ns.adobe.com/xap/1.0/sType/Dimensions#"
LIST = "Regions/mwg-rs:RegionList"
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


def _meta(xmp: Any, text: str | None) -> Any:
    meta = xmp.XMPMeta(xmp_str=text) if text else xmp.XMPMeta()
    for uri, prefix in ((RS, "mwg-rs"), (AREA, "stArea"), (DIM, "stDim")):
        meta.register_namespace(uri, prefix)
    return meta


def _regions(meta: Any) -> list[dict[str, str]]:
    """Every region of a parsed packet, as {field: value} (Name, Type, x, y, w, h, unit)."""
    if not meta.does_property_exist(RS, LIST):
        return []
    out = []
    for i in range(1, meta.count_array_items(RS, LIST) + 1):
        fields = {}
        for ns, name in ((RS, "Name"), (RS, "Type"), (AREA, "x"), (AREA, "y"), (AREA, "w"),
                         (AREA, "h"), (AREA, "unit")):
            path = (f"{LIST}[{i}]/mwg-rs:{name}" if ns == RS
                    else f"{LIST}[{i}]/mwg-rs:Area/stArea:{name}")
            if meta.does_property_exist(RS, path):
                fields[name] = meta.get_property(RS, path)
        out.append(fields)
    return out


def read_face_regions(path: Path) -> list[Region]:
    """The named face regions of a photo: from its sidecar, else from its embedded XMP."""
    xmp = _libxmp()
    path = Path(path)
    packets = []
    sidecar = sidecar_path(path)
    if sidecar.is_file():
        packets.append(sidecar.read_text(encoding="utf-8", errors="replace"))
    try:
        with Image.open(path) as im:
            embedded = im.info.get("xmp")
        if embedded:
            packets.append(embedded.decode("utf-8", "replace") if isinstance(embedded, bytes)
                           else str(embedded))
    except Exception:
        log.debug("no embedded XMP in %s", path, exc_info=True)
    orientation = _stored_info(path)[0]
    for packet in packets:
        try:
            regions = _regions(_meta(xmp, packet))
        except xmp.XMPError:
            log.warning("unreadable XMP for %s", path)
            continue
        found = []
        for r in regions:
            if r.get("Type", "Face") != "Face" or not r.get("Name") or \
                    r.get("unit", "normalized") != "normalized":
                continue
            try:
                cx, cy, w, h = (float(r[k]) for k in "xywh")
            except (KeyError, ValueError):
                continue
            found.append(Region(r["Name"].strip(),
                                to_upright((cx - w / 2, cy - h / 2, w, h), orientation)))
        if found:
            return found
    return []


def write_face_regions(catalog: Catalog, cancel: threading.Event | None = None
                       ) -> Job[SidecarResult]:
    """Merge the named faces of every photo into its sidecar as MWG face regions (a job).
    Face regions named after a person of this library are replaced; others are kept."""
    xmp = _libxmp()
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
        sidecar = sidecar_path(photo.path)
        try:
            _merge(xmp, photo.path, sidecar, by_hash[photo.content_hash or ""], names)
            written += 1
        except (OSError, xmp.XMPError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            failed.append((sidecar, reason))
            log.warning("XMP sidecar %s: %s", sidecar, reason)
        yield meter.progress("writing face regions", n, display(photo.path.name))
    return SidecarResult(written, tuple(failed))


def _merge(xmp: Any, photo: Path, sidecar: Path, regions: list[Region],
           managed: set[str]) -> None:
    meta = _meta(xmp, sidecar.read_text(encoding="utf-8") if sidecar.exists() else None)
    kept = [r for r in _regions(meta) if r.get("Type", "Face") != "Face"
            or r.get("Name") not in managed]
    orientation, (width, height) = _stored_info(photo)
    meta.delete_property(RS, "Regions")
    if width and height:
        for key, value in (("w", width), ("h", height), ("unit", "pixel")):
            meta.set_property(RS, f"Regions/mwg-rs:AppliedToDimensions/stDim:{key}", str(value))
    meta.set_property(RS, LIST, "", prop_value_is_array=True, prop_array_is_unordered=True)
    entries = kept + [_entry(r, orientation) for r in regions]
    for i, entry in enumerate(entries, 1):
        meta.append_array_item(RS, LIST, None, None, prop_value_is_struct=True)
        for key, value in entry.items():
            path = (f"{LIST}[{i}]/mwg-rs:{key}" if key in ("Name", "Type")
                    else f"{LIST}[{i}]/mwg-rs:Area/stArea:{key}")
            meta.set_property(RS, path, value)
    tmp = sidecar.with_name(f".{sidecar.name}.tmp")
    tmp.write_text(meta.serialize_to_unicode(omit_packet_wrapper=True), encoding="utf-8")
    os.replace(tmp, sidecar)


def _entry(region: Region, orientation: int) -> dict[str, str]:
    x, y, w, h = to_stored(region.box, orientation)
    return {"Name": region.name, "Type": "Face", "x": f"{x + w / 2:.6f}",
            "y": f"{y + h / 2:.6f}", "w": f"{w:.6f}", "h": f"{h:.6f}", "unit": "normalized"}


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
