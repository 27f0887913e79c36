"""Browsing a library: ordered photo listings, the folder tree, thumbnails and details.

The grid of the desktop app shows what these functions return; none of them decodes an
image. Listings are plain id arrays so that 100,000 photos cost a few hundred kilobytes.
Folders are given relative to the library root (``Path(".")`` or ``None`` is the root) and
include their subfolders.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath

import numpy as np
from numpy.typing import NDArray

from core import decode, thumbnails
from core.catalog import Catalog, Photo
from core.catalog.schema import FOLDER_ORDER
from core.decode import SUPPORTED_EXTENSIONS
from core.errors import UnreadableImage
from core.paths import display
from core.thumbnails import THUMBNAIL_SIZE
from core.video import clock, durations, frame_thumbnail_key, is_video

log = logging.getLogger(__name__)

SORTS: dict[str, str] = {
    "date": "Capture date",
    "name": "File name",
    "folder": "Folder",
}


@dataclass
class FolderNode:
    """A folder of the library: its photos (``count`` directly inside, ``total`` with
    subfolders) and its subfolders sorted by name. ``path`` is relative to the root."""

    name: str
    path: PurePath
    count: int = 0
    total: int = 0
    children: list[FolderNode] = field(default_factory=list)

    def find(self, path: PurePath) -> FolderNode | None:
        """The node for ``path`` (relative to the root), if the tree holds it."""
        node: FolderNode | None = self
        for part in path.parts:
            node = next((c for c in node.children if c.name == part), None) if node else None
        return node


def _folder_range(catalog: Catalog, folder: PurePath | None) -> tuple[str, tuple[bytes, ...]]:
    """An SQL condition (and its parameters) for photos inside ``folder``, recursively."""
    if folder is None or str(folder) in ("", "."):
        return "1", ()
    prefix = catalog.encode_path(catalog.root / folder) + b"/"
    # Every stored path inside the folder starts with "folder/"; "0" is the byte after "/".
    return "path >= ? AND path < ?", (prefix, prefix[:-1] + b"0")


def list_photos(
    catalog: Catalog, sort: str = "date", folder: PurePath | None = None
) -> NDArray[np.int64]:
    """Ids of the photos in ``folder`` (all if None), ordered by ``sort`` (see SORTS).

    Photos whose capture date is unknown (not read yet, or no EXIF) come after the dated
    ones, by path. Raises ValueError for an unknown sort.
    """
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; choose one of {', '.join(SORTS)}")
    where, params = _folder_range(catalog, folder)
    if sort != "name":  # sorted by SQLite along an index, which lets other threads run
        order = ("captured_at IS NULL, captured_at, path" if sort == "date"
                 else ", ".join(FOLDER_ORDER))
        rows = catalog.conn.execute(
            f"SELECT id FROM photos WHERE {where} ORDER BY {order}", params).fetchall()
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    rows = catalog.conn.execute(f"SELECT id, path FROM photos WHERE {where}", params).fetchall()
    rows.sort(key=lambda r: (_name(r[1]).casefold(), r[1]))
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


SortKey = tuple[object, ...]


def sort_keys(catalog: Catalog, sort: str, ids: Sequence[int] | None = None
              ) -> dict[int, SortKey]:
    """Photo id -> the key that :func:`list_photos` orders by (for ``ids``, or all photos):
    lets a view put photos that arrive during a scan straight into their place."""
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}; choose one of {', '.join(SORTS)}")
    if ids is None:
        rows = catalog.conn.execute("SELECT id, captured_at, path FROM photos").fetchall()
    else:
        rows = []
        for start in range(0, len(ids), 500):
            part = [int(i) for i in ids[start:start + 500]]
            rows += catalog.conn.execute(
                f"SELECT id, captured_at, path FROM photos WHERE id IN "
                f"({','.join('?' * len(part))})", part).fetchall()
    if sort == "date":
        return {r[0]: (r[1] is None, r[1] or "", bytes(r[2])) for r in rows}
    if sort == "name":
        return {r[0]: (_name(r[2]).casefold(), bytes(r[2])) for r in rows}
    return {r[0]: _folder_key(bytes(r[2])) for r in rows}


def _folder_key(stored: bytes) -> SortKey:
    """The folder order's key, as SQLite computes it (schema.FOLDER_ORDER): the folder, then
    the name with ASCII letters folded (SQLite's ``lower``), then the path, all as bytes."""
    folder, _, name = stored.rpartition(b"/")
    return (folder, name.lower(), stored)


def _name(stored: bytes) -> str:
    return os.fsdecode(os.path.basename(stored))


def photos_after(
    catalog: Catalog, last_id: int, folder: PurePath | None = None
) -> NDArray[np.int64]:
    """Ids above ``last_id`` in ``folder``, in id order: the photos a running scan added
    since the caller last looked (cheap however big the library is)."""
    where, params = _folder_range(catalog, folder)
    rows = catalog.conn.execute(
        f"SELECT id FROM photos WHERE id > ? AND {where} ORDER BY id", (last_id, *params)
    ).fetchall()
    return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))


def last_photo_id(catalog: Catalog) -> int:
    """The highest photo id so far (0 for an empty library)."""
    return int(catalog.conn.execute("SELECT coalesce(max(id), 0) FROM photos").fetchone()[0])


def in_folder(catalog: Catalog, ids: Iterable[int], folder: PurePath | None) -> list[int]:
    """The ids (in the order given) of those photos that lie inside ``folder``."""
    ids = [int(i) for i in ids]
    if folder is None or str(folder) in ("", "."):
        return ids
    prefix = catalog.encode_path(catalog.root / folder) + b"/"
    inside = {p.id for p in catalog.photos(ids) if catalog.encode_path(p.path).startswith(prefix)}
    return [i for i in ids if i in inside]


def folder_tree(catalog: Catalog) -> FolderNode:
    """The library's folders that hold photos, as a tree rooted at the library folder."""
    root = FolderNode(catalog.root.name or str(catalog.root), PurePath("."))
    counts: dict[bytes, int] = {}
    for folder, count in _folder_counts(catalog):
        counts[folder] = counts.get(folder, 0) + count
    for folder, count in sorted(counts.items()):
        node = root
        node.total += count
        parts = PurePath(os.fsdecode(folder)).parts if folder else ()
        for depth, part in enumerate(parts):
            child = next((c for c in node.children if c.name == part), None)
            if child is None:
                child = FolderNode(part, PurePath(*parts[: depth + 1]))
                node.children.append(child)
            child.total += count
            node = child
        node.count += count
    _sort_tree(root)
    return root


_DIRNAME = "CAST(rtrim(path, replace(path, '/', '')) AS BLOB)"


def _folder_counts(catalog: Catalog) -> Iterable[tuple[bytes, int]]:
    """(folder, photos directly in it) for every folder, counted by SQLite.

    ``rtrim(path, <the path's characters but '/'>)`` is the folder with its trailing '/'.
    SQLite reads the characters as UTF-8, so a name with broken UTF-8 next to a '/' can
    end the trim early: such a result does not end with '/', and those few paths are
    split in Python instead.
    """
    rows = catalog.conn.execute(
        f"SELECT {_DIRNAME} AS folder, count(*) FROM photos GROUP BY folder").fetchall()
    for stored, count in rows:
        folder = bytes(stored)
        if not folder or folder.endswith(b"/"):
            yield folder[:-1], count
            continue
        paths = catalog.conn.execute(f"SELECT path FROM photos WHERE {_DIRNAME} = ?", (folder,))
        for (path,) in paths:
            yield os.path.dirname(path), 1


def _sort_tree(node: FolderNode) -> None:
    node.children.sort(key=lambda c: c.name.casefold())
    for child in node.children:
        _sort_tree(child)


@dataclass(frozen=True)
class Tile:
    """What the grid shows of a photo: its file name and its cached thumbnail, if read;
    of a video clip, its duration too (the thumbnail is its poster frame, or the frame of
    the moment asked for)."""

    name: str
    thumbnail: Path | None
    duration: float | None = None
    taken: str | None = None  # the capture date, "YYYY-MM-DD"


def tiles(catalog: Catalog, ids: Iterable[int],
          moments: dict[int, float] | None = None) -> dict[int, Tile]:
    """The tile of each photo. A thumbnail missing from the cache - the photo is not
    analysed yet, or the cache was emptied - is made from the photo (draft-mode decode,
    tens of milliseconds), so the grid shows a photo as soon as it is listed; the analysis
    later finds it made. ``thumbnail`` is None for a file that cannot be read, and for a
    clip not analysed yet. ``moments``: clip id -> time whose kept frame to show."""
    wanted = [int(i) for i in ids]  # numpy ints would bind as BLOBs
    lengths = durations(catalog, wanted)
    out: dict[int, Tile] = {}
    for photo in catalog.photos(wanted):
        digest = photo.content_hash
        thumb = thumbnails.thumbnail_path(digest) if digest else None
        at = (moments or {}).get(photo.id)
        if digest and at is not None:
            frame = thumbnails.thumbnail_path(frame_thumbnail_key(digest, at))
            thumb = frame if frame.exists() else thumb
        if (thumb is None or not thumb.exists()) and not is_video(photo.path):
            thumb = _make_thumbnail(photo.path)
        taken = photo.captured_at[:10] if photo.captured_at else None
        out[photo.id] = Tile(display(photo.path.name), thumb, lengths.get(photo.id), taken)
    return out


def _make_thumbnail(path: Path) -> Path | None:
    """Decode the photo and cache its thumbnail under its content hash (as the analysis
    does: same size, same file)."""
    try:
        decoded = decode.decode_file(path, min_side=THUMBNAIL_SIZE)
        thumb = thumbnails.save(decoded.content_hash, decoded.image)
    except (UnreadableImage, OSError) as exc:
        log.info("no thumbnail for %s: %s", path, exc)
        return None
    return thumb


def is_photo_file(path: Path | str) -> bool:
    """Whether ``path`` names a file of a format Lookalike reads (by its extension): a photo
    or a video clip."""
    return os.path.splitext(os.fspath(path))[1].lower() in SUPPORTED_EXTENSIONS or is_video(path)


def format_size(size: int) -> str:
    """A file size in photographer's units: "840 KB", "12.3 MB"."""
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size // 1000} KB"
    if size < 1_000_000_000:
        return f"{size / 1e6:.1f} MB"
    return f"{size / 1e9:.1f} GB"


def photo_details(photo: Photo, root: Path | None = None) -> list[tuple[str, str]]:
    """(label, value) lines describing a photo: file, folder, size, dimensions, date, camera."""
    folder = photo.path.parent
    if root is not None:
        rel = os.path.relpath(folder, root)
        folder_text = root.name if rel == "." else os.path.join(root.name, rel)
    else:
        folder_text = str(folder)
    lines = [
        ("File", display(photo.path.name)),
        ("Folder", folder_text),
        ("Size", format_size(photo.size)),
    ]
    if photo.width and photo.height:
        mp = photo.width * photo.height / 1e6
        lines.append(("Dimensions", f"{photo.width} × {photo.height} ({mp:.1f} MP)"))
    if photo.captured_at:
        lines.append(("Taken", photo.captured_at.replace("T", " ")))
    if photo.camera:
        lines.append(("Camera", photo.camera))
    return [(label, display(value)) for label, value in lines]


def clip_strip(catalog: Catalog, photo: Photo, model: str) -> list[tuple[float, Path | None]]:
    """A clip's kept frames for the viewer's strip: (time, cached thumbnail or None)."""
    from core.video import clip_frames

    out: list[tuple[float, Path | None]] = []
    for frame in clip_frames(catalog, photo.id, model):
        thumb = (thumbnails.thumbnail_path(frame_thumbnail_key(photo.content_hash, frame.time))
                 if photo.content_hash else None)
        out.append((frame.time, thumb if thumb is not None and thumb.exists() else None))
    return out


def frame_thumbnails(catalog: Catalog, frames: list[tuple[int, int]]) -> list[Path | None]:
    """The cached thumbnail of each (clip id, time in ms) kept frame (None: none cached)."""
    hashes = {p.id: p.content_hash for p in catalog.photos({clip for clip, _ in frames})}
    out: list[Path | None] = []
    for clip, ms in frames:
        digest = hashes.get(clip)
        path = thumbnails.thumbnail_path(frame_thumbnail_key(digest, ms / 1000)) \
            if digest else None
        out.append(path if path is not None and path.exists() else None)
    return out


def clip_details(catalog: Catalog, photo: Photo, model: str, root: Path | None = None,
                 ) -> list[tuple[str, str]]:
    """A clip's detail lines: a photo's, its duration and how many frames it keeps."""
    from core.video import clip_frames

    lines = photo_details(photo, root)
    duration = durations(catalog, [photo.id]).get(photo.id)
    if duration is not None:
        kept = len(clip_frames(catalog, photo.id, model))
        lines.insert(3, ("Duration", f"{clock(duration)} ({kept} scenes kept)"))
    return lines

