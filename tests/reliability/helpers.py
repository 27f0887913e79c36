"""Shared tools of the reliability suite: CLI runs (plain or without file privileges), a
snapshot of a folder tree, and the catalog's invariants."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import re
import sqlite3
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from core.catalog.schema import latest_version
from core.embed.models import get_spec, model_key
from core.thumbnails import thumbnail_path

PROJECT = Path(__file__).resolve().parents[2]
MODEL = "mobilenet_v3_small"  # the smallest backbone: these tests are about the catalog
MODEL_KEY = model_key(MODEL, "none")
DIM = get_spec(MODEL).dim

# Capabilities that let root ignore file permissions (linux/capability.h).
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER = 1, 2, 3
_PR_CAPBSET_DROP = 24


def library_args(root: Path, catalog: Path, *extra: str) -> list[str]:
    """Options of a CLI command on ``root`` with the test model and an explicit catalog."""
    return [str(root), "--weights", "none", "--model", MODEL, "--catalog", str(catalog),
            *extra]


def _drop_file_privileges() -> None:  # pragma: no cover - runs in the child before exec
    """Between fork and exec: remove root's power over file permissions from the bounding
    set, so the program exec'd next runs as uid 0 but gets EACCES like any user would."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    for cap in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH, _CAP_FOWNER):
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def run_cli(*args: str | os.PathLike, restricted: bool = False, timeout: float = 300,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cli ARGS`` in a new process.

    ``restricted``: file permissions apply to it even when the tests run as root (as here
    and in CI): root's file capabilities are dropped before exec. The child's stdout is
    strict UTF-8, so printing a path that is not valid UTF-8 would fail rather than be
    escaped.
    """
    full_env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", **(env or {})}
    preexec = _drop_file_privileges if restricted and os.geteuid() == 0 else None
    return subprocess.run(
        [sys.executable, "-m", "cli", *map(os.fspath, args)], cwd=PROJECT, env=full_env,
        capture_output=True, text=True, errors="replace", timeout=timeout,
        preexec_fn=preexec,
    )


def run_restricted_python(*args: str | os.PathLike, timeout: float = 300
                          ) -> subprocess.CompletedProcess[str]:
    """``python ARGS`` without root's file privileges (see :func:`run_cli`)."""
    preexec = _drop_file_privileges if os.geteuid() == 0 else None
    return subprocess.run(
        [sys.executable, *map(os.fspath, args)], cwd=PROJECT, capture_output=True,
        text=True, errors="replace", timeout=timeout, preexec_fn=preexec,
    )


def one_line_error(code: int, stderr: str) -> str:
    """The single ``lookalike: ...`` line a failed command printed (asserts there is one,
    no traceback, and a non-zero exit status)."""
    assert code != 0, stderr
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lookalike: "), stderr
    return lines[0]


def embedded_figure(stdout: str) -> int:
    """N from the index summary's "Embedded N in ..."."""
    found = re.search(r"Embedded (\d+) in", stdout)
    assert found, stdout
    return int(found.group(1))


# -- folder snapshots -------------------------------------------------------------------------

Snapshot = dict[bytes, tuple]


def snapshot(root: Path, big: int = 1 << 30) -> Snapshot:
    """Every entry under ``root`` (relative bytes path) -> what it is: a file's size, mtime,
    mode and SHA-256 (of its first and last MiB only when it is over ``big`` bytes); a
    folder's mode and mtime (it changes when anything is created or deleted in it, even
    briefly); a link's target. Walks by file descriptor, so paths longer than PATH_MAX are
    included; never follows links."""
    out: Snapshot = {}
    top = os.fsencode(root)
    for folder, dirs, files, dir_fd in os.fwalk(top, follow_symlinks=False):
        rel = os.path.relpath(folder, top)
        st = os.stat(dir_fd)
        out[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
        for name in dirs + files:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            key = os.path.join(rel, name)
            if stat.S_ISLNK(st.st_mode):
                out[key] = ("link", os.readlink(name, dir_fd=dir_fd))
            elif stat.S_ISREG(st.st_mode):
                fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
                with os.fdopen(fd, "rb") as fh:
                    if st.st_size > big:
                        head = fh.read(1 << 20)
                        fh.seek(-(1 << 20), os.SEEK_END)
                        digest = hashlib.sha256(head + fh.read()).hexdigest()
                    else:
                        digest = hashlib.file_digest(fh, "sha256").hexdigest()
                out[key] = ("file", st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode),
                            digest)
    return out


def diff(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed between two snapshots, in words (empty: nothing)."""
    changes = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changes.append(f"{key!r}: {before.get(key)} -> {after.get(key)}")
    return changes


# -- the catalog's invariants -----------------------------------------------------------------

@dataclass(frozen=True)
class CatalogState:
    """A consistent catalog's figures."""

    photos: int
    embedded: int  # photos with an embedding of MODEL_KEY
    problems: int
    paths: frozenset[bytes]
    embedded_paths: frozenset[bytes]


def check_catalog(path: Path, *, thumbnails: bool = True) -> CatalogState:
    """Assert that the catalog at ``path`` is whole and holds no half-written rows.

    Opened like a user would (a fresh connection, WAL recovery included): integrity and
    foreign keys hold; every embedding has a photo with its metadata, and a vector of the
    model's length that is unit-length; no photo is also listed as a problem; every
    embedded photo's thumbnail is a complete JPEG (when ``thumbnails``).
    """
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        assert version in (0, latest_version())  # 0: killed before its first commit
        if version == 0:
            return CatalogState(0, 0, 0, frozenset(), frozenset())
        orphans = conn.execute(
            "SELECT count(*) FROM embeddings e LEFT JOIN photos p ON p.id = e.photo_id "
            "WHERE p.id IS NULL").fetchone()[0]
        assert orphans == 0
        bad_vectors = conn.execute(
            "SELECT count(*) FROM embeddings WHERE model = ? AND length(vector) != ?",
            (MODEL_KEY, 2 * DIM)).fetchone()[0]
        assert bad_vectors == 0
        unread = conn.execute(
            "SELECT count(*) FROM embeddings e JOIN photos p ON p.id = e.photo_id "
            "WHERE p.content_hash IS NULL OR p.width IS NULL OR p.height IS NULL"
        ).fetchone()[0]
        assert unread == 0, "an embedding without its photo's metadata"
        half_meta = conn.execute(
            "SELECT count(*) FROM photos WHERE content_hash IS NOT NULL AND "
            "(width IS NULL OR height IS NULL)").fetchone()[0]
        assert half_meta == 0
        both = conn.execute(
            "SELECT count(*) FROM photos p JOIN problems q ON q.path = p.path").fetchone()[0]
        assert both == 0, "a file is both a photo and a problem"
        for key, value in conn.execute("SELECT key, value FROM meta WHERE key LIKE 'gen%'"):
            assert int(value) >= 0, (key, value)
        rows = conn.execute(
            "SELECT p.path, p.content_hash, e.vector FROM photos p JOIN embeddings e "
            "ON e.photo_id = p.id AND e.model = ?", (MODEL_KEY,)).fetchall()
        for _path, digest, blob in rows:
            norm = float(np.linalg.norm(np.frombuffer(blob, np.float16).astype(np.float32)))
            assert abs(norm - 1.0) < 0.01, norm
            if thumbnails:
                with Image.open(thumbnail_path(digest)) as im:
                    im.load()  # raises on a truncated file
        paths = [r[0] for r in conn.execute("SELECT path FROM photos")]
        return CatalogState(
            photos=len(paths),
            embedded=len(rows),
            problems=conn.execute("SELECT count(*) FROM problems").fetchone()[0],
            paths=frozenset(paths),
            embedded_paths=frozenset(r[0] for r in rows),
        )
    finally:
        conn.close()
