"""XMP metadata: read sidecars and the XMP inside photos, merge changes into sidecars.

Built on python-exiv2, whose wheels ship libexiv2 (digiKam's metadata library): no system
package is needed. Every property Lookalike does not know (Camera Raw settings, another
program's namespaces, titles in several languages, nested structures) is kept as it was.
A photo file is only ever read (from a copy of its bytes in memory); sidecars are written
to a temporary file in the same folder and renamed over the old one, so a failure leaves
the old sidecar whole.

The API, for every feature that writes XMP (labels as keywords, ratings, face regions):

- :func:`sidecar_path` - where a photo's sidecar goes (RAW+JPEG pairs never share one);
- :func:`read_sidecar` / :func:`read_embedded` - an :class:`XmpRecord`;
- :func:`merge_into_sidecar` - add and remove keywords, set the rating, replace the MWG
  face regions, or set any property by its Exiv2 key, in one atomic write (``edit``: any
  other change, e.g. a clip's markers in :mod:`core.video.xmp`).

Failures raise :class:`XmpError` (a LookalikeError) or OSError, with a plain reason.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import LookalikeError

log = logging.getLogger(__name__)

SUBJECT = "Xmp.dc.subject"
HIERARCHY = "Xmp.lr.hierarchicalSubject"
RATING = "Xmp.xmp.Rating"
REGIONS = "Xmp.mwg-rs.Regions"
_RAW = frozenset({".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2", ".dng", ".kdc",
                  ".pef", ".srw", ".nrw"})
_MAX_SIDECAR = 16 * 1024 * 1024  # a sidecar larger than this is not one
_lock = threading.Lock()  # the XMP toolkit inside libexiv2 is not thread-safe


class XmpError(LookalikeError):
    """XMP that cannot be read or written (not XMP, damaged, or Exiv2 refused it)."""


@dataclass(frozen=True)
class FaceRegion:
    """An MWG region (``kind`` "Face" unless another program wrote, e.g., "Pet"): the
    centre (x, y) and size (w, h) as fractions of the image as stored (before the EXIF
    orientation)."""

    name: str
    x: float
    y: float
    w: float
    h: float
    kind: str = "Face"


@dataclass(frozen=True)
class XmpRecord:
    """What an XMP packet holds: the fields Lookalike uses, and every property by key."""

    keywords: tuple[str, ...] = ()  # dc:subject
    hierarchy: tuple[str, ...] = ()  # lr:hierarchicalSubject ("Set|Label")
    rating: int | None = None  # xmp:Rating (-1 rejected, 0 none, 1-5 stars)
    regions: tuple[FaceRegion, ...] = ()  # MWG regions with a normalised area, any type
    properties: Mapping[str, str] = field(default_factory=dict)  # Exiv2 key -> text


def _exiv2() -> Any:
    """The exiv2 module (imported on first use), with its log sent to Python's logging."""
    try:
        import exiv2
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise XmpError("Reading or writing XMP needs python-exiv2 (pip install exiv2).") from exc
    return exiv2


@contextlib.contextmanager
def _guarded(what: str) -> Iterator[Any]:
    """Hold the toolkit's lock; turn Exiv2's errors into :class:`XmpError` about ``what``."""
    exiv2 = _exiv2()
    with _lock:
        try:
            yield exiv2
        except exiv2.Exiv2Error as exc:
            raise XmpError(f"{what}: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    """Exiv2's message (its args are the error code and the text), as a plain reason."""
    args: tuple[object, ...] = tuple(getattr(exc, "args", ()))
    return f"not valid XMP ({args[1] if len(args) > 1 else exc})"


# -- where ------------------------------------------------------------------------------------

def failure_reason(sidecar: Path, exc: Exception) -> str:
    """Why ``sidecar`` could not be written, in plain words (the sidecar writers list it and
    go on with the others)."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc).replace(f"{sidecar}: ", "") or type(exc).__name__


def write_or_reason(sidecar: Path, write: Callable[[], object]) -> str | None:
    """Run ``write`` (which writes ``sidecar``); None when it worked, else why not, in plain
    words, logged (the sidecar writers list it and go on with the others)."""
    try:
        write()
    except (OSError, XmpError) as exc:
        reason = failure_reason(sidecar, exc)
        log.warning("XMP sidecar %s: %s", sidecar, reason)
        return reason
    return None


def sidecar_path(photo: Path, siblings: Collection[str] | None = None) -> Path:
    """The sidecar of ``photo``: ``IMG_1.xmp`` (the name Lightroom, darktable and digiKam
    read) when no other photo in its folder has the stem ``IMG_1``. In a pair such as
    ``IMG_1.CR2`` + ``IMG_1.JPG`` the RAW keeps ``IMG_1.xmp`` (Lightroom's rule: the pair's
    sidecar belongs to the RAW) and the other file gets ``IMG_1.JPG.xmp`` (digiKam's and
    darktable's form), so the two never share keywords. ``siblings``: the names in the
    photo's folder (listed when not given)."""
    photo = Path(photo)
    if siblings is None:
        try:
            siblings = os.listdir(photo.parent)
        except OSError:
            siblings = ()
    stem = photo.stem.lower()
    from core.decode import SUPPORTED_EXTENSIONS  # lazy: core.decode imports Pillow

    pair = [n for n in siblings if os.path.splitext(n)[0].lower() == stem
            and os.path.splitext(n)[1].lower() in SUPPORTED_EXTENSIONS]
    others = [n for n in pair if n != photo.name]
    if not others:
        return photo.with_suffix(".xmp")
    raws = [n for n in pair if os.path.splitext(n)[1].lower() in _RAW]
    if raws == [photo.name]:
        return photo.with_suffix(".xmp")
    return photo.with_name(photo.name + ".xmp")


# -- reading ----------------------------------------------------------------------------------

def read_sidecar(path: Path) -> XmpRecord:
    """The XMP of the sidecar ``path``. Raises OSError (cannot read) or XmpError."""
    return _record(_open_packet(_read_bytes(Path(path)), Path(path)))


def read_embedded(photo: Path) -> XmpRecord:
    """The XMP embedded in a JPEG, TIFF, PNG, WebP, HEIC or RAW file (empty if none).
    The file is read into memory; it is never opened for writing. Raises OSError or
    XmpError (a format Exiv2 does not read)."""
    photo = Path(photo)
    from core.decode.reader import read_photo_bytes  # refuses FIFOs, devices, huge files

    try:
        data = read_photo_bytes(photo)
    except Exception as exc:
        raise XmpError(f"{photo}: {exc}") from exc
    with _guarded(f"{photo}") as exiv2:
        image = exiv2.ImageFactory.open(data)
        image.readMetadata()
        return _record_of(image.xmpData())


def _read_bytes(path: Path) -> bytes:
    with path.open("rb") as f:
        data = f.read(_MAX_SIDECAR + 1)
    if len(data) > _MAX_SIDECAR:
        raise XmpError(f"{path}: too large for an XMP sidecar")
    return data


def _open_packet(data: bytes, path: Path) -> Any:
    """An in-memory Exiv2 XMP image holding ``data`` (a new one when ``data`` is empty)."""
    with _guarded(str(path)) as exiv2:
        if not data.strip():
            return exiv2.ImageFactory.create(exiv2.ImageType.xmp)
        if b"xmpmeta" not in data[:4096] and b"<rdf:RDF" not in data[:4096]:
            raise XmpError(f"{path}: not an XMP sidecar")
        image = exiv2.ImageFactory.open(data)
        if image.mimeType() != "application/rdf+xml":
            raise XmpError(f"{path}: not an XMP sidecar")
        image.readMetadata()
        return image


def _record(image: Any) -> XmpRecord:
    with _guarded("XMP") as _:
        return _record_of(image.xmpData())


def _record_of(data: Any) -> XmpRecord:
    properties = {d.key(): d.toString() for d in data}
    rating = properties.get(RATING, "").strip()
    try:
        stars = int(float(rating)) if rating else None
    except ValueError:
        stars = None
    return XmpRecord(
        keywords=tuple(_items(data, SUBJECT)), hierarchy=tuple(_items(data, HIERARCHY)),
        rating=stars, regions=tuple(_face_regions(properties)), properties=properties)


def _items(data: Any, key: str) -> list[str]:
    found = data.findKey(_exiv2().XmpKey(key))
    if found == data.end():
        return []
    value = found.value()
    return [value.toString(i) for i in range(value.count())]


def _face_regions(properties: Mapping[str, str]) -> Iterator[FaceRegion]:
    base = f"{REGIONS}/mwg-rs:RegionList"
    n = 1
    while f"{base}[{n}]" in properties:
        item = f"{base}[{n}]"
        n += 1
        if properties.get(f"{item}/mwg-rs:Area/stArea:unit", "normalized") != "normalized":
            continue
        try:
            x, y, w, h = (float(properties[f"{item}/mwg-rs:Area/stArea:{c}"]) for c in "xywh")
        except (KeyError, ValueError):
            continue
        yield FaceRegion(properties.get(f"{item}/mwg-rs:Name", ""), x, y, w, h,
                         properties.get(f"{item}/mwg-rs:Type", "Face"))


# -- writing ----------------------------------------------------------------------------------

def merge_into_sidecar(
    path: Path, *,
    add_keywords: Iterable[str] = (),
    remove_keywords: Iterable[str] = (),
    rating: int | None = None,
    flat: bool = True,
    face_regions: Sequence[FaceRegion] | None = None,
    image_size: tuple[int, int] | None = None,
    properties: Mapping[str, str | None] | None = None,
    edit: Callable[[Any, Any], None] | None = None,
) -> bool:
    """Merge changes into the sidecar ``path`` (created if missing); True if it changed.

    ``add_keywords`` / ``remove_keywords``: hierarchical keywords such as "Scene|Beach" (a
    keyword without "|" is a plain one): the full form goes to lr:hierarchicalSubject, the
    leaf to dc:subject; a leaf is removed from dc:subject only when no kept hierarchical
    keyword ends with it (``flat=False``: dc:subject is left alone). Keywords not named are
    kept. ``rating``: xmp:Rating (None: keep).
    ``face_regions``: replace the MWG regions, of every type: pass those read (see
    :attr:`XmpRecord.regions`) that are to stay (``image_size``: the stored pixels).
    ``properties``: Exiv2 key -> text (None deletes), e.g. {"Xmp.xmp.Label": "Red"}.
    ``edit``: called with (the exiv2 module, the packet's XmpData) for more changes, under
    the toolkit's lock (see :func:`delete_property`).
    Raises OSError (cannot read or write the file) or XmpError (not XMP, or damaged: the
    file is then left alone).
    """
    path = Path(path)
    exists = path.exists()
    image = _open_packet(_read_bytes(path) if exists else b"", path)
    with _guarded(str(path)) as exiv2:
        data = image.xmpData()
        before = {d.key(): d.toString() for d in data}
        _merge_keywords(exiv2, data, list(add_keywords), set(remove_keywords), flat)
        if rating is not None:
            data[RATING] = str(int(rating))
        if face_regions is not None:
            _set_regions(exiv2, data, face_regions, image_size)
        for key, text in (properties or {}).items():
            if text is None:
                _delete(exiv2, data, key)
            else:
                data[key] = text
        if edit is not None:
            edit(exiv2, data)
        after = {d.key(): d.toString() for d in data}
        if exists and after == before:
            return False
        image.writeMetadata()
        io = image.io()
        packet = bytes(io.mmap())
        io.munmap()
    _write_atomically(path, packet)
    return True


def _merge_keywords(exiv2: Any, data: Any, add: list[str], remove: set[str],
                    flat: bool = True) -> None:
    if not add and not remove:
        return
    subjects, hierarchy = _items(data, SUBJECT), _items(data, HIERARCHY)
    stale = {h for h in hierarchy if h in remove and h not in add}
    stale |= {k for k in remove if "|" not in k and k not in add}
    kept = [h for h in hierarchy if h not in stale]
    new_hierarchy = kept + sorted({k for k in add if "|" in k} - set(hierarchy))
    leaves_kept = {_leaf(k) for k in new_hierarchy} | {_leaf(k) for k in add}
    stale_leaves = {_leaf(k) for k in stale} - leaves_kept
    new_subjects = [s for s in subjects if s not in stale_leaves]
    new_subjects += sorted({_leaf(k) for k in add} - set(new_subjects))
    if not flat:
        new_subjects = subjects
    for key, items, old in ((SUBJECT, new_subjects, subjects),
                            (HIERARCHY, new_hierarchy, hierarchy)):
        if items == old:
            continue
        _delete(exiv2, data, key)
        if items:
            value = exiv2.Value.create(exiv2.TypeId.xmpBag)
            for item in items:
                value.read(item)
            data[key] = value


def delete_property(exiv2: Any, data: Any, key: str) -> None:
    """Delete ``key`` and everything under it from XmpData (for ``edit`` functions)."""
    _delete(exiv2, data, key)


def _leaf(keyword: str) -> str:
    return keyword.rsplit("|", 1)[-1]


def _delete(exiv2: Any, data: Any, key: str) -> None:
    """Delete ``key`` and everything under it (array items, struct fields)."""
    for datum in [d.key() for d in data]:
        if datum == key or datum.startswith((key + "/", key + "[")):
            found = data.findKey(exiv2.XmpKey(datum))
            if found != data.end():
                data.erase(found)


def _set_regions(exiv2: Any, data: Any, regions: Sequence[FaceRegion],
                 size: tuple[int, int] | None) -> None:
    _delete(exiv2, data, REGIONS)
    if not regions:
        return
    struct = exiv2.XmpTextValue()
    struct.setXmpStruct()
    data[REGIONS] = struct
    if size is not None:
        dims = f"{REGIONS}/mwg-rs:AppliedToDimensions"
        data[f"{dims}/stDim:w"] = str(int(size[0]))
        data[f"{dims}/stDim:h"] = str(int(size[1]))
        data[f"{dims}/stDim:unit"] = "pixel"
    bag = exiv2.XmpTextValue()
    bag.setXmpArrayType(exiv2.XmpValue.XmpArrayType.xaBag)
    data[f"{REGIONS}/mwg-rs:RegionList"] = bag
    for n, region in enumerate(regions, 1):
        item = f"{REGIONS}/mwg-rs:RegionList[{n}]"
        struct = exiv2.XmpTextValue()
        struct.setXmpStruct()
        data[item] = struct
        data[f"{item}/mwg-rs:Name"] = region.name
        data[f"{item}/mwg-rs:Type"] = region.kind
        for c in "xywh":
            data[f"{item}/mwg-rs:Area/stArea:{c}"] = f"{getattr(region, c):.6f}"
        data[f"{item}/mwg-rs:Area/stArea:unit"] = "normalized"


def _write_atomically(path: Path, packet: bytes) -> None:
    """Write ``packet`` to ``path`` through a short temporary name in the same folder (the
    temporaries a killed writer left there go first)."""
    _sweep_stale(path.parent)
    tmp = path.with_name(f".lookalike-{os.getpid()}-{threading.get_ident() % 10**6}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(packet)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


_TEMP_NAME = re.compile(r"\.lookalike-(\d+)-\d+\.tmp")
_swept: set[Path] = set()  # folders already swept by this process


def _sweep_stale(folder: Path) -> None:
    """Remove the sidecar temporaries (``.lookalike-PID-N.tmp``, never any other file) that
    a process no longer running left in ``folder``; once per folder per process."""
    if folder in _swept:
        return
    _swept.add(folder)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        found = _TEMP_NAME.fullmatch(name)
        if found and not _alive(int(found.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(folder / name)
                log.info("removed %s, left by a killed writer", folder / name)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process: alive
        return True
    return True
