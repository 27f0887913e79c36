"""Finding photos: a safe recursive walk and the incremental diff against the catalog.

The walk skips hidden folders and Lookalike's own data, follows symlinked folders once
(loops cannot hang it), and reports what it cannot read instead of stopping. The diff adds
new files, marks changed ones (size or mtime) for re-embedding, drops removed ones, and
recognises moved or renamed files by their content hash so they keep their record (also
when an interrupted scan had already recorded the new path).

Photos are never dropped on a doubt: those in a folder that is there but cannot be read
(permissions, a network share that hiccups) are kept, and a library folder that is empty
while its catalog lists photos (a drive not connected) stops the scan with a message.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from core import paths
from core.catalog import Catalog
from core.decode import SUPPORTED_EXTENSIONS, file_hash
from core.errors import FolderNotFound, LookalikeError, UnreadableImage
from core.files import os_reason, special_kind, why_not_a_folder
from core.jobs import Job, Progress, check_cancel
from core.video import VIDEO_EXTENSIONS
from core.video.store import forget_frames

log = logging.getLogger(__name__)

COMMIT_EVERY_S = 0.5  # new photos become visible (to the GUI) at least this often
EXTENSIONS = SUPPORTED_EXTENSIONS | VIDEO_EXTENSIONS  # photos and video clips


@dataclass(frozen=True)
class FileEntry:
    """A photo file found by the walk."""

    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class ScanResult:
    """What a scan changed in the catalog."""

    found: int
    new: int
    changed: int
    removed: int
    moved: int
    problems: int


def walk(
    root: Path,
    on_problem: Callable[[Path, str], None],
    skip: Collection[Path] = (),
) -> Iterator[FileEntry]:
    """Yield every supported photo and video file under ``root``.

    Hidden entries (names starting with ".") and the folders in ``skip`` are not entered.
    Each folder is entered once even through symlinks, so loops end. Unreadable folders,
    broken links and files that vanish are reported through ``on_problem(path, reason)``.
    """
    skip_real = {os.path.realpath(p) for p in skip}
    seen_dirs: set[tuple[int, int]] = set()
    stack = [os.fspath(root)]
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
        except OSError as exc:
            on_problem(Path(folder), os_reason(exc, "folder"))
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen_dirs or os.path.realpath(folder) in skip_real:
            continue
        seen_dirs.add(key)
        try:
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            on_problem(Path(folder), os_reason(exc, "folder"))
            continue
        subfolders = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():  # follows symlinks
                    subfolders.append(entry.path)
                    continue
                if os.path.splitext(entry.name)[1].lower() not in EXTENSIONS:
                    continue
                st = entry.stat()  # follows symlinks
            except FileNotFoundError:
                on_problem(Path(entry.path), "broken link: its target is missing"
                           if entry.is_symlink() else "file disappeared during the scan")
                continue
            except OSError as exc:
                on_problem(Path(entry.path), os_reason(exc, "file"))
                continue
            if not stat.S_ISREG(st.st_mode):  # never opened: a FIFO or a device would block
                link = " (through a link)" if entry.is_symlink() else ""
                on_problem(Path(entry.path),
                           f"not a regular file: {special_kind(st.st_mode)}{link}")
                continue
            yield FileEntry(Path(entry.path), st.st_size, st.st_mtime_ns)
        stack.extend(reversed(subfolders))


def scan(catalog: Catalog, cancel: threading.Event | None = None) -> Job[ScanResult]:
    """Bring the catalog's list of photos in line with the folder (no decoding).

    New files are committed in batches as they are found, so a cancelled scan keeps what
    it found; removals and moves are only decided once the walk has finished.
    """
    root = catalog.root
    why = why_not_a_folder(root)
    if why:
        raise FolderNotFound(root, why)
    known = catalog.scan_state()
    known_problems = catalog.problem_state()
    seen: set[bytes] = set()
    problems: dict[bytes, str] = {}
    pending_new: list[tuple[bytes, int, int]] = []
    new_ids: list[tuple[int, bytes, int]] = []  # (id, path, size) for move detection
    changed = 0
    changed_paths: set[bytes] = set()
    found = 0
    last_commit = time.monotonic()

    unreadable_folders: list[bytes] = []  # still there but unreadable: keep their photos

    def on_problem(path: Path, reason: str) -> None:
        stored = catalog.encode_path(path)
        problems[stored] = reason
        if os.path.isdir(path):
            unreadable_folders.append(b"" if stored == b"." else stored + os.sep.encode())

    def flush() -> None:
        now = time.time()
        with catalog.transaction() as tx:
            for stored, size, mtime in pending_new:
                cur = tx.execute(
                    "INSERT INTO photos (path, size, mtime_ns, added_at) VALUES (?, ?, ?, ?)",
                    (stored, size, mtime, now),
                )
                new_ids.append((int(cur.lastrowid or 0), stored, size))
                tx.execute("DELETE FROM problems WHERE path = ?", (stored,))
        pending_new.clear()

    skip = [paths.data_dir(), paths.cache_dir(), catalog.path.parent]
    for entry in walk(root, on_problem, skip=skip):
        check_cancel(cancel)
        found += 1
        stored = catalog.encode_path(entry.path)
        seen.add(stored)
        old = known.get(stored)
        if old is not None:
            if (old[1], old[2]) != (entry.size, entry.mtime_ns):
                with catalog.transaction() as tx:
                    tx.execute(
                        "UPDATE photos SET size = ?, mtime_ns = ?, content_hash = NULL, "
                        "width = NULL, height = NULL, captured_at = NULL, camera = NULL "
                        "WHERE id = ?",
                        (entry.size, entry.mtime_ns, old[0]),
                    )
                    tx.execute("DELETE FROM embeddings WHERE photo_id = ?", (old[0],))
                    tx.execute("DELETE FROM regions WHERE photo_id = ?", (old[0],))
                    forget_frames(tx, old[0])  # a changed clip is read again from its start
                    tx.execute("DELETE FROM problems WHERE path = ?", (stored,))  # read in part
                    catalog.bump_generation(None, tx)
                changed += 1
                changed_paths.add(stored)
        elif known_problems.get(stored) == (entry.size, entry.mtime_ns):
            pass  # an unchanged file that could not be read last time: still a problem
        else:
            pending_new.append((stored, entry.size, entry.mtime_ns))
        if time.monotonic() - last_commit > COMMIT_EVERY_S:
            if pending_new:
                flush()
            last_commit = time.monotonic()
            yield Progress("scanning", found, 0, f"Found {found} photos")
    check_cancel(cancel)
    if pending_new:
        flush()
    new_count = len(new_ids)
    this_run = {row[0] for row in new_ids}
    # Rows that an interrupted scan added and nothing read yet may be moved files too.
    new_ids += [(v[0], p, v[1]) for p, v in known.items()
                if p in seen and v[3] is None and p not in changed_paths]

    removed_rows = {p: v for p, v in known.items()
                    if p not in seen and not p.startswith(tuple(unreadable_folders))}
    if removed_rows and not found and not unreadable_folders:
        raise LookalikeError(
            f"The folder {paths.display(root)} is empty, but its catalog lists "
            f"{len(removed_rows)} photos; nothing was removed. If they are on a drive that "
            f"is not connected, connect it and index again; if you deleted them, delete the "
            f"catalog {paths.display(catalog.path)}."
        )
    moved = _match_moves(catalog, removed_rows, new_ids)
    with catalog.transaction() as tx:
        for stored, new_id in moved.items():
            old_id = removed_rows.pop(stored)[0]
            row = tx.execute(
                "SELECT path, size, mtime_ns FROM photos WHERE id = ?", (new_id,)
            ).fetchone()
            tx.execute("DELETE FROM photos WHERE id = ?", (new_id,))
            tx.execute(
                "UPDATE photos SET path = ?, size = ?, mtime_ns = ? WHERE id = ?",
                (row[0], row[1], row[2], old_id),
            )
        for photo_id, *_rest in removed_rows.values():
            tx.execute("DELETE FROM photos WHERE id = ?", (photo_id,))
        if removed_rows or new_count:
            catalog.bump_generation(None, tx)
        # Problems: forget files that are gone, record what the walk could not read.
        for stored in known_problems:
            if stored not in seen and stored not in problems:
                tx.execute("DELETE FROM problems WHERE path = ?", (stored,))
        now = time.time()
        for stored, reason in problems.items():
            tx.execute(
                "INSERT OR REPLACE INTO problems (path, size, mtime_ns, reason, seen_at) "
                "VALUES (?, NULL, NULL, ?, ?)",
                (stored, reason, now),
            )
    result = ScanResult(
        found=found,
        new=new_count - sum(1 for new_id in moved.values() if new_id in this_run),
        changed=changed,
        removed=len(removed_rows),
        moved=len(moved),
        problems=len(catalog.problems()),
    )
    yield Progress("scanning", found, found, f"Found {found} photos")
    return result


def _match_moves(
    catalog: Catalog,
    removed: dict[bytes, tuple[int, int, int, str | None]],
    new_ids: list[tuple[int, bytes, int]],
) -> dict[bytes, int]:
    """Removed path -> id of the new row holding the same file (same size, same hash)."""
    by_size: dict[int, list[tuple[bytes, str]]] = {}
    for stored, (_id, size, _mtime, digest) in removed.items():
        if digest:
            by_size.setdefault(size, []).append((stored, digest))
    moved: dict[bytes, int] = {}
    if not by_size:
        return moved
    for new_id, stored_new, size in new_ids:
        candidates = by_size.get(size)
        if not candidates:
            continue
        try:
            digest = file_hash(catalog.decode_path(stored_new))
        except UnreadableImage:
            continue
        for i, (stored_old, old_digest) in enumerate(candidates):
            if old_digest == digest:
                moved[stored_old] = new_id
                del candidates[i]
                break
    return moved
