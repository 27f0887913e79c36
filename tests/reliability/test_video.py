"""Video clips under SIGKILL: a killed ``lookalike index`` resumes inside a long clip and
loses nothing (the frames committed before the kill stay as they were, none is made twice,
and the clip ends with one kept frame per shot)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from benchmarks.clips import make_clip, shot_photos
from tests.reliability.forkserver import ForkServer
from tests.reliability.helpers import check_catalog


def _frames(catalog: Path) -> tuple[list[tuple[int, float]], float | None]:
    """The kept frames (id, time) and the resume point, read as another process would."""
    conn = sqlite3.connect(catalog)
    try:
        frames = conn.execute("SELECT id, time FROM frames ORDER BY time").fetchall()
        row = conn.execute("SELECT decoded_to FROM clip_progress").fetchone()
    except sqlite3.OperationalError:  # not created yet
        return [], None
    finally:
        conn.close()
    return [(int(i), float(t)) for i, t in frames], (float(row[0]) if row else None)


def test_a_killed_index_resumes_inside_a_long_clip(shared_photos: Path, forkserver: ForkServer,
                                                   tmp_path: Path) -> None:
    root = tmp_path / "photos"
    root.mkdir()
    shots = make_clip(root / "long.mp4", shot_photos(shared_photos) * 5, 2.0)  # 20 shots, 40 s
    catalog = tmp_path / "catalog.sqlite"
    argv = ["index", str(root), "--model", "resnet50", "--weights", "none",
            "--catalog", str(catalog), "-q"]
    pid = forkserver.start(argv=argv)  # resnet50: ~0.3 s a frame here, time to kill inside
    while True:
        kept, decoded_to = _frames(catalog)
        if len(kept) >= 3 and decoded_to is not None:
            break
        assert forkserver.wait(pid, timeout=0.05) is None, "indexing ended before the kill"
    forkserver.kill(pid)
    before, decoded_to = _frames(catalog)
    assert decoded_to is not None and 0 < decoded_to < shots[-1].start
    check_catalog(catalog)
    pid = forkserver.start(argv=argv)
    assert forkserver.wait(pid, timeout=300) == 0, forkserver.output()
    after, progress = _frames(catalog)
    assert progress is None  # the clip is complete
    assert after[:len(before)] == before
    assert [next(i for i, s in enumerate(shots) if s.start - 1e-3 <= t < s.end)
            for _, t in after] == list(range(len(shots)))
    check_catalog(catalog)
