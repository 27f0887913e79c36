"""SIGKILL during `lookalike duplicates --accept --xmp`: in the decisions' transaction,
halfway through a sidecar's temporary file, before its rename, and at random moments. After
every kill the catalog is whole, each group is decided whole or not at all, every sidecar
there reads back whole with the right rating, and no photo file has changed; a rerun ends
exactly where an uninterrupted run does, with no temporary file left behind."""

from __future__ import annotations

import csv
import os
import random
import re
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from core import xmp
from core.decode import SUPPORTED_EXTENSIONS
from tests.reliability.conftest import Indexed
from tests.reliability.forkserver import ForkServer
from tests.reliability.helpers import check_catalog, library_args, snapshot

RANDOM_KILLS = 2
TEMPORARY = re.compile(r"\.lookalike-\d+-\d+\.tmp|\.tmp-.*")


@dataclass(frozen=True)
class State:
    """What a run leaves: decisions by content hash, sidecars and temporaries by relative
    path, the reject list and the CSV's (path, decision) rows (paths relative to the root)."""

    decisions: dict[str, tuple[str, str]]  # hash -> (decision, group key)
    sidecars: dict[str, tuple[int | None, frozenset[str]]]  # path -> (rating, keywords)
    temporaries: list[str]
    rejects: list[str] | None
    rows: list[tuple[str, str]] | None


def _state(root: Path, catalog: Path, out: Path) -> State:
    conn = sqlite3.connect(catalog)
    decisions = {h: (d, k) for h, d, k in conn.execute(
        "SELECT content_hash, decision, group_key FROM duplicate_decisions")}
    conn.close()
    sidecars, temporaries = {}, []
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.suffix == ".xmp":
            record = xmp.read_sidecar(path)  # raises on a half-written sidecar
            sidecars[rel] = (record.rating, frozenset(record.hierarchy))
        elif TEMPORARY.fullmatch(path.name):
            temporaries.append(rel)
        else:
            assert path.is_dir() or path.suffix.lower() in SUPPORTED_EXTENSIONS, rel
    rejects = rows = None
    if (out / "rejects.txt").exists():
        rejects = sorted(str(Path(line).relative_to(root))
                         for line in (out / "rejects.txt").read_text().splitlines())
    if (out / "report.csv").exists():
        with (out / "report.csv").open(newline="") as fh:
            rows = sorted((str(Path(r["path"]).relative_to(root)), r["decision"])
                          for r in csv.DictReader(fh))
    return State(decisions, sidecars, temporaries, rejects, rows)


def _photos(root: Path) -> dict[bytes, tuple]:
    return {k: v for k, v in snapshot(root).items()
            if os.path.splitext(k)[1].decode().lower() in SUPPORTED_EXTENSIONS}


def _copy(indexed: Indexed, to: Path) -> tuple[Path, Path]:
    shutil.copytree(indexed.root, to / "photos", copy_function=shutil.copy2)
    src, dst = sqlite3.connect(indexed.catalog), sqlite3.connect(to / "catalog.sqlite")
    src.backup(dst)
    src.close()
    dst.close()
    return to / "photos", to / "catalog.sqlite"


def test_a_killed_accept_leaves_decisions_and_sidecars_whole_and_resumes(
        indexed: Indexed, forkserver: ForkServer, tmp_path: Path) -> None:
    def argv(root: Path, catalog: Path, out: Path) -> list[str]:
        out.mkdir(exist_ok=True)
        return ["duplicates", *library_args(root, catalog, "-q", "--accept", "--xmp",
                                            "--csv", str(out / "report.csv"),
                                            "--rejects", str(out / "rejects.txt"))]

    ref_root, ref_catalog = _copy(indexed, tmp_path / "reference")
    start = time.monotonic()
    pid = forkserver.start(argv=argv(ref_root, ref_catalog, tmp_path / "reference"))
    assert forkserver.wait(pid, timeout=300) == 0, forkserver.output()[1]
    took = time.monotonic() - start
    ref = _state(ref_root, ref_catalog, tmp_path / "reference")
    groups: dict[str, set[str]] = {}
    for digest, (_decision, key) in ref.decisions.items():
        groups.setdefault(key, set()).add(digest)
    assert len(groups) >= 8 and len(ref.sidecars) == len(ref.decisions) >= 30
    assert {r for r, _k in ref.sidecars.values()} == {-1, None}  # rejects -1, picks none

    root, catalog, out = indexed.root, indexed.catalog, tmp_path / "out"
    args = argv(root, catalog, out)
    photos = _photos(root)

    def check() -> State:
        """Whole after a kill: what is there is what the finished run has."""
        check_catalog(catalog, thumbnails=False)
        now = _state(root, catalog, out)
        for key in {k for _d, k in now.decisions.values()}:  # a group whole or not at all
            assert {h for h, (_d, k) in now.decisions.items() if k == key} == groups[key]
        assert all(ref.decisions[h] == v for h, v in now.decisions.items())
        assert all(ref.sidecars[p] == v for p, v in now.sidecars.items())
        assert now.rejects in (None, ref.rejects) and now.rows in (None, ref.rows)
        assert _photos(root) == photos  # never a photo file changed
        return now

    kills = [("commit", 2), ("sidecar", 3), ("rename", 10)]
    for point, n in kills:
        pid = forkserver.start(call="tests.reliability.jobs:duplicates_killed_at",
                               args=[point, n, *args])
        assert forkserver.wait(pid, timeout=300) == -9, forkserver.output()
        now = check()
        if point == "commit":  # the first transaction (two groups) committed, the second not
            assert len({k for _d, k in now.decisions.values()}) == 2 and not now.sidecars
        elif point == "sidecar":  # every group decided; two sidecars, the third half-written
            assert now.decisions == ref.decisions
            assert len(now.sidecars) == 2 and len(now.temporaries) == 1
        else:  # sidecars 3 to 11 written (1 and 2 unchanged: not rewritten), 12 not renamed;
            assert len(now.sidecars) == 11 and len(now.temporaries) == 1  # the old one swept
    rng = random.Random(18)
    for _kill in range(RANDOM_KILLS):
        pid = forkserver.start(argv=args)
        if forkserver.wait(pid, timeout=rng.uniform(0.1, 1.0) * took) is None:
            forkserver.kill(pid)
        check()
    pid = forkserver.start(argv=args)
    assert forkserver.wait(pid, timeout=300) == 0, forkserver.output()[1]
    final = check()
    assert final.decisions == ref.decisions and final.sidecars == ref.sidecars
    assert final.rejects == ref.rejects and final.rows == ref.rows
    assert final.temporaries == []  # the killed writers' temporaries were swept
