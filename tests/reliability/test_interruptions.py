"""SIGKILL at random moments: indexing, training and the map resume without loss.

Each trial is a real process (forked from a server that imported the engine once, see
forkserver.py) running what ``lookalike index`` runs (or a training run, or ``lookalike
map``), killed after a seeded random delay. After every kill the catalog must open whole,
with no half-written rows, labels untouched and the previous head or map whole; at the end
one plain ``python -m cli index`` must finish the job, embedding only what was missing.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import synthetic
from core.decode import SUPPORTED_EXTENSIONS, file_hash
from core.labels import LabelStore
from core.labels.heads import load_head
from core.labels.review import load_predictions
from core.library import Library
from core.regions import load_reduction, region_count, region_vectors
from tests.reliability.conftest import Indexed
from tests.reliability.forkserver import ForkServer
from tests.reliability.helpers import (
    MODEL,
    MODEL_KEY,
    check_catalog,
    embedded_figure,
    library_args,
    run_cli,
)

KILLS = 20
KILLED_SHORT_RUNS = 5  # kills of a training run, and of a map computation
MAX_DELAY_S = 3.0  # the longest delay before a kill, until runs have been timed


def _files(root: Path) -> dict[bytes, tuple[int, int]]:
    """Relative path -> (size, mtime_ns) of every photo file under ``root``."""
    out = {}
    for folder, _dirs, names in os.walk(os.fsencode(root)):
        for name in names:
            if os.path.splitext(name)[1].decode().lower() in SUPPORTED_EXTENSIONS:
                st = os.stat(os.path.join(folder, name))
                out[os.path.relpath(os.path.join(folder, name), os.fsencode(root))] = (
                    st.st_size, st.st_mtime_ns)
    return out


def _still_to_embed(root: Path, catalog: Path) -> int:
    """How many photos the next index must embed if it redoes nothing: files without an
    up-to-date embedding, less those the scan will recognise as moved (same size and
    content as an embedded record whose file is gone)."""
    files = _files(root)
    conn = sqlite3.connect(catalog)
    try:
        rows = {r[0]: r[1:] for r in conn.execute(
            "SELECT path, size, mtime_ns, content_hash, EXISTS (SELECT 1 FROM embeddings e "
            "WHERE e.photo_id = p.id AND e.model = ?) FROM photos p", (MODEL_KEY,))}
    except sqlite3.OperationalError:  # killed before the catalog had its tables
        rows = {}
    finally:
        conn.close()
    done, candidates = set(), []
    for path, (size, mtime) in files.items():
        row = rows.get(path)
        if row and row[:2] == (size, mtime) and row[3]:
            done.add(path)
        elif row is None or (row[2] is None and row[:2] == (size, mtime)):
            candidates.append(path)
    gone = Counter((r[0], r[2]) for p, r in rows.items() if p not in files and r[2] and r[3])
    for path in candidates:
        key = (files[path][0], file_hash(root / os.fsdecode(path)))
        if gone[key]:
            gone[key] -= 1
            done.add(path)
    return len(files) - len(done)


def _change_the_library(root: Path, rng: random.Random, step: int) -> None:
    """Give the next run work of every kind: 2 new photos, 6 changed, 1 deleted, 1 moved."""
    for k in range(2):
        synthetic.write_jpeg(root / "new" / f"n{step}-{k}.jpg",
                             synthetic.scene(1000 + 10 * step + k, (320, 240)))
    files = sorted(root.rglob("*.jpg"))
    *changed, deleted, moved = rng.sample(files, 8)
    for k, path in enumerate(changed):
        synthetic.write_jpeg(path, synthetic.scene(5000 + 10 * step + k, (320, 240)))
    deleted.unlink()
    target = root / "moved" / f"m{step}-{moved.name}"
    target.parent.mkdir(exist_ok=True)
    shutil.move(moved, target)


def _timed_run(forkserver: ForkServer, runs: int = 1, **job: object) -> float:
    """Run a job to its end in a child ``runs`` times; the median seconds it took."""
    seconds = []
    for _ in range(runs):
        start = time.monotonic()
        pid = forkserver.start(**job)  # type: ignore[arg-type]
        assert forkserver.wait(pid, timeout=300) == 0, forkserver.output()[1]
        seconds.append(time.monotonic() - start)
    return statistics.median(seconds)


class _Trials:
    """Alternate trials of a short job: one killed after a random part of a typical run
    (it may have ended by then), one left to finish (timing the next kills), until
    ``kills`` kills happened."""

    def __init__(self, forkserver: ForkServer, seed: int, kills: int, **job: object) -> None:
        self.forkserver, self.job, self.target = forkserver, job, kills
        self.rng = random.Random(seed)
        self.kills = self.finished = 0
        self.recent = [_timed_run(forkserver, 3, **job)]

    def __iter__(self) -> Iterator[int]:
        """Each trial's exit code (-9: killed)."""
        while self.kills < self.target:
            assert self.kills + self.finished < 6 * self.target, (self.kills, self.finished)
            for kill in (True, False):
                start = time.monotonic()
                pid = self.forkserver.start(**self.job)  # type: ignore[arg-type]
                delay = self.rng.uniform(0.0, statistics.median(self.recent[-3:]))
                code = self.forkserver.wait(pid, timeout=delay if kill else 300)
                if code is None:
                    code = self.forkserver.kill(pid)
                assert code in (0, -9), self.forkserver.output()[1]
                if code == 0:
                    self.finished += 1
                    self.recent.append(time.monotonic() - start)
                self.kills += code == -9
                yield code


def _phase(stderr: str) -> str:
    """Where a run was when killed, from its progress bars."""
    if "Embedding" in stderr:
        return "embedding"
    return "scanning or loading the model" if "Scanning" in stderr else "start-up"


def test_killed_indexing_resumes_without_loss_or_rework(
        forkserver: ForkServer, photos: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.sqlite"
    argv = ["index", *library_args(photos, catalog)]
    rng = random.Random(20240607)
    phases: Counter[str] = Counter()
    whole_runs = [MAX_DELAY_S]  # how long runs that ended on their own took
    trials = 0
    while sum(phases.values()) < KILLS:
        trials += 1
        assert trials <= 3 * KILLS, f"only {dict(phases)} kills in {trials} trials"
        if catalog.exists() and _still_to_embed(photos, catalog) == 0:
            _change_the_library(photos, rng, trials)  # every run has work to be killed in
        start = time.monotonic()
        pid = forkserver.start(argv=argv)
        delay = rng.uniform(0.0, 1.3 * statistics.median(whole_runs))
        code = forkserver.wait(pid, timeout=delay)
        if code is None:
            code = forkserver.kill(pid)
        _out, err = forkserver.output()
        if code == -9:
            phases[_phase(err)] += 1
        else:
            assert code == 0, err
            whole_runs.append(time.monotonic() - start)
        if catalog.exists():
            check_catalog(catalog)
    assert phases["embedding"] >= 5, dict(phases)  # a good share hit the embedding pass

    missing = _still_to_embed(photos, catalog)
    final = run_cli("index", *library_args(photos, catalog, "-q"))
    assert final.returncode == 0, final.stderr
    assert embedded_figure(final.stdout) == missing  # nothing done before is done again
    state = check_catalog(catalog)
    on_disk = set(_files(photos))
    lost = on_disk - state.embedded_paths
    assert not lost, f"{len(lost)} photos lost: {sorted(lost)[:5]}"
    assert state.paths == on_disk and state.photos == len(on_disk)  # no duplicates, no ghosts
    assert state.problems == 0
    print(f"\nindex: {trials} trials, kills by phase {dict(phases)}, {missing} photos left "
          f"for the final run, {len(lost)} lost of {len(on_disk)}; a whole run took "
          f"{statistics.median(whole_runs):.1f} s")


def _labels_of(catalog: Path) -> list[tuple]:
    conn = sqlite3.connect(catalog)
    rows = conn.execute("SELECT l.name, a.content_hash, a.positive, a.source FROM assignments a "
                        "JOIN labels l ON l.id = a.label_id ORDER BY 1, 2").fetchall()
    conn.close()
    return rows


def test_killed_training_keeps_labels_and_a_whole_head(forkserver: ForkServer,
                                                       indexed: Indexed) -> None:
    root, catalog = indexed.root, indexed.catalog
    labels_before = _labels_of(catalog)
    args = [str(root), str(catalog), "scene"]
    trials = _Trials(forkserver, 11, KILLED_SHORT_RUNS,
                     call="tests.reliability.jobs:train_and_predict", args=args)
    versions = 0
    for _code in trials:
        state = check_catalog(catalog)
        assert _labels_of(catalog) == labels_before
        with Library(root, catalog_path=catalog, model=MODEL, weights="none") as library:
            set_id = LabelStore(library.catalog).get_set("scene").id
            found = load_head(library.catalog, set_id, MODEL_KEY)  # loads the weights
            assert found is not None and found[1] is not None
            assert found[0].version >= versions
            versions = found[0].version
            stored = load_predictions(library.catalog, set_id, MODEL_KEY)
            blocks = library.catalog.conn.execute(
                "SELECT count(DISTINCT head_version) FROM prediction_blocks WHERE set_id = ?",
                (set_id,)).fetchone()[0]
        assert stored is not None and blocks == 1  # one head's predictions, whole
        assert len(stored.photo_ids) == state.embedded and stored.version <= versions
    assert versions >= 3 + trials.finished  # each finished run stored a new head
    _timed_run(forkserver, call="tests.reliability.jobs:train_and_predict", args=args)
    with Library(root, catalog_path=catalog, model=MODEL, weights="none") as library:
        info = load_head(library.catalog, set_id, MODEL_KEY, with_state=False)
        assert info is not None and info[0].version == versions + 1  # the re-run finished
        assert library.catalog.conn.execute(
            "SELECT DISTINCT head_version FROM prediction_blocks WHERE set_id = ?", (set_id,)
        ).fetchall() == [(versions + 1,)]
    print(f"\ntraining: {trials.kills} killed, {trials.finished} finished, head version "
          f"{versions}, a whole run {statistics.median(trials.recent):.2f} s")


def test_killed_map_leaves_the_previous_map_whole(
        forkserver: ForkServer, photos: Path, tmp_path: Path) -> None:
    for scene in sorted(photos.iterdir())[3:]:  # 12 photos: the map is a PCA (no numba)
        shutil.rmtree(scene)
    catalog = tmp_path / "catalog.sqlite"
    pid = forkserver.start(argv=["index", *library_args(photos, catalog, "-q")])
    assert forkserver.wait(pid, timeout=300) == 0
    argv = ["map", *library_args(photos, catalog, "--recompute", "--json", "-q")]
    trials = _Trials(forkserver, 5, KILLED_SHORT_RUNS, argv=argv)
    for code in trials:
        if code == 0:
            assert json.loads(forkserver.output()[0])["photos"] == 12
        state = check_catalog(catalog)
        conn = sqlite3.connect(catalog)
        maps = conn.execute("SELECT count(*) FROM maps").fetchone()[0]
        points = conn.execute("SELECT count(*), count(DISTINCT photo_id) FROM map_points"
                              ).fetchone()
        in_clusters = conn.execute("SELECT coalesce(sum(size), 0) FROM map_clusters"
                                   ).fetchone()[0]
        clustered = conn.execute("SELECT count(*) FROM map_points WHERE cluster >= 0"
                                 ).fetchone()[0]
        conn.close()
        assert maps == 1  # the previous map, whole, or the new one
        assert points[0] == points[1] == state.embedded == 12
        assert in_clusters == clustered
    print(f"\nmap: {trials.kills} killed, {trials.finished} finished, a whole run "
          f"{statistics.median(trials.recent):.2f} s")


def test_killed_while_learning_the_region_whitening_again_keeps_regions_whole(
        forkserver: ForkServer, photos: Path, tmp_path: Path) -> None:
    """A library of 8 photos learns its region reduction on them; grown to 40, the next
    index learns it again once 32 are stored, rewriting every code in one transaction. Killed inside
    that transaction (all codes rewritten, or as it commits), the catalog keeps the old
    reduction with the old codes; killed just after, the new with the new. Either way every
    stored region maps back to where it was, and the next index finishes the step."""
    root = tmp_path / "library"
    root.mkdir()
    files = sorted(photos.rglob("*.jpg"))
    assert len(files) == 40
    names = [f"{i:02d}-{path.name}" for i, path in enumerate(files)]  # one folder
    for path, name in zip(files[:8], names, strict=False):
        shutil.copy2(path, root / name)
    catalog = tmp_path / "catalog.sqlite"
    assert run_cli("index", *library_args(root, catalog, "-q")).returncode == 0
    first = _regions(root, catalog, names[0])
    assert first.photos == 8
    for path, name in zip(files[8:], names[8:], strict=True):
        shutil.copy2(path, root / name)
    argv = ["index", *library_args(root, catalog)]
    for point in ("recode", "commit"):
        pid = forkserver.start(call="tests.reliability.jobs:index_killed_in_relearn",
                               args=[point, *argv])
        assert forkserver.wait(pid, timeout=300) == -9, forkserver.output()[1]
        check_catalog(catalog)
        now = _regions(root, catalog, names[0])
        assert now.photos == 8 and now.stored >= 32  # the old reduction, the regions kept
        assert now.same_place_as(first) > 0.999
    pid = forkserver.start(call="tests.reliability.jobs:index_killed_in_relearn",
                           args=["committed", *argv])
    assert forkserver.wait(pid, timeout=300) == -9, forkserver.output()[1]
    check_catalog(catalog)
    learnt = _regions(root, catalog, names[0])
    assert learnt.photos == learnt.stored >= 32  # learned again on every stored photo
    assert learnt.same_place_as(first) > 0.98 and not np.allclose(learnt.scales, first.scales)
    missing = _still_to_embed(root, catalog)
    final = run_cli("index", *library_args(root, catalog, "-q"))
    assert final.returncode == 0, final.stderr
    assert embedded_figure(final.stdout) == missing
    after = _regions(root, catalog, names[0])
    assert after.photos == learnt.photos and after.stored == 40
    assert after.same_place_as(learnt) > 0.999
    np.testing.assert_allclose(after.scales, learnt.scales)  # nothing learned a third time


@dataclass(frozen=True)
class _Regions:
    """The stored region reduction of the test model and one photo's regions, mapped back
    into the embedding space (as a head scores them)."""

    photos: int
    scales: np.ndarray
    stored: int
    vectors: np.ndarray

    def same_place_as(self, other: _Regions) -> float:
        """The median cosine between this photo's regions and ``other``'s (a code read
        with another reduction than its own lands far away: ~0)."""
        return float(np.median(np.einsum("ij,ij->i", self.vectors, other.vectors)))


def _regions(root: Path, catalog: Path, name: str) -> _Regions:
    with Library(root, catalog_path=catalog, model=MODEL, weights="none") as library:
        key = library.model_key
        reduction = load_reduction(library.catalog, key)
        photo = library.catalog.photo_by_path(root / name)
        assert reduction is not None and photo is not None
        found = region_vectors(library.catalog, photo.id, key)
        assert found is not None
        return _Regions(reduction.photos, reduction.scales.copy(),
                        region_count(library.catalog, key), found[1])
