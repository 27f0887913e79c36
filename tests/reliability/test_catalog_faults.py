"""A damaged or newer catalog, a full disk, a read-only catalog location, two writers:
a clear one-line message naming the file and the fix, never a traceback, no partial state,
and a rebuild that recovers the labels where they can be read."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks import synthetic
from core.catalog import Catalog
from core.catalog.faults import CatalogDamaged
from core.catalog.schema import latest_version
from core.errors import CatalogError, CatalogInUse
from core.jobs import run
from core.library import Library
from core.paths import default_catalog_path
from tests.reliability.conftest import Indexed
from tests.reliability.forkserver import ForkServer
from tests.reliability.helpers import (
    MODEL,
    MODEL_KEY,
    check_catalog,
    embedded_figure,
    library_args,
    one_line_error,
    run_cli,
    run_restricted_python,
)


def _labels(catalog: Path) -> list[tuple]:
    conn = sqlite3.connect(catalog)
    rows = conn.execute("SELECT s.name, l.name, a.content_hash, a.positive, a.source "
                        "FROM assignments a JOIN labels l ON l.id = a.label_id "
                        "JOIN label_sets s ON s.id = l.set_id ORDER BY 1, 2, 3").fetchall()
    conn.close()
    return rows


def _checkpoint(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def _garbage(path: Path) -> None:
    path.write_bytes(random.Random(1).randbytes(path.stat().st_size))


def _truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _embedding_pages(path: Path) -> None:
    """Overwrite half of the embeddings table's pages with noise; the rest is intact."""
    conn = sqlite3.connect(path)
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = [r[0] for r in conn.execute(
        "SELECT pageno FROM dbstat WHERE name = 'embeddings' AND pagetype = 'leaf' "
        "ORDER BY pageno")]
    conn.close()
    noise = random.Random(2)
    with open(path, "r+b") as fh:
        for page in pages[::2]:
            fh.seek((page - 1) * size)
            fh.write(noise.randbytes(size))


def _newer(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    conn.close()


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "garbage": (_garbage, "is damaged (file is not a database)"),
    "truncated": (_truncated, "is damaged"),
    "embedding pages": (_embedding_pages, "is damaged"),
    "newer version": (_newer, "was written by a newer Lookalike"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_catalog_is_explained_then_rebuilt(
        damage: str, indexed: Indexed, forkserver: ForkServer) -> None:
    labels_before = _labels(indexed.catalog)
    assert len(labels_before) == 6
    _checkpoint(indexed.catalog)
    catalog, options = indexed.catalog, library_args(indexed.root, indexed.catalog)
    if damage == "garbage":  # recognisable as ours only by its place: the default one
        catalog = default_catalog_path(Path(os.path.abspath(indexed.root)))
        catalog.parent.mkdir(parents=True)
        shutil.copy(indexed.catalog, catalog)
        options = [str(indexed.root), "--weights", "none", "--model", MODEL]
    spoil, words = DAMAGE[damage]
    spoil(catalog)
    spoiled = catalog.read_bytes()

    if damage != "embedding pages":  # the app catches this class to offer the rebuild
        with pytest.raises(CatalogDamaged):
            Library(indexed.root, catalog_path=catalog, model=MODEL, weights="none").close()
    query = str(sorted(indexed.root.rglob("*.jpg"))[0])
    for argv in (["index", *options, "-q"], ["status", *options, "--json"],
                 ["similar", *options, query]):
        pid = forkserver.start(argv=argv)
        code = forkserver.wait(pid, timeout=300)
        assert code is not None
        if code == 0:  # what index and status read is intact; searching reads the vectors
            assert damage == "embedding pages" and argv[0] != "similar"
            continue
        line = one_line_error(code, forkserver.output()[1])
        assert words in line and str(catalog) in line
        assert f"lookalike index {indexed.root} --rebuild" in line
    assert catalog.read_bytes() == spoiled  # the failed commands changed nothing

    pid = forkserver.start(argv=["index", *options, "-q", "--rebuild"])
    code = forkserver.wait(pid, timeout=300)
    out, err = forkserver.output()
    assert code == 0, err
    moved = list(catalog.parent.glob("catalog.sqlite.damaged-*"))
    assert [p.read_bytes() for p in moved if not p.name.endswith(("-wal", "-shm"))] == [
        spoiled]  # kept as it was, for the record
    assert f"Moved the old catalog to {catalog}.damaged-" in out
    state = check_catalog(catalog)
    assert state.photos == state.embedded == 40
    embedded_again = embedded_figure(out)
    if damage in ("newer version", "embedding pages"):
        assert _labels(catalog) == labels_before
        assert "Recovered from it: 1 label sets, 6 label decisions" in out
    if damage == "newer version":
        assert embedded_again == 0  # the embeddings were recovered too
    elif damage == "embedding pages":
        assert 0 < embedded_again < 40  # those on the intact pages were kept
    elif damage == "garbage":
        assert "Nothing could be recovered" in out and embedded_again == 40


def test_rebuild_refuses_while_another_process_writes(indexed: Indexed) -> None:
    with indexed.open(lock=True), pytest.raises(CatalogInUse, match="open in another"):
        Catalog.open(indexed.root, indexed.catalog, lock=True, set_aside=".damaged-x")
    assert not list(indexed.catalog.parent.glob("*.damaged-*"))


def test_a_full_disk_stops_cleanly_between_batches(photos: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.sqlite"
    with Library(photos, catalog_path=catalog, model=MODEL, weights="none") as library:
        run(library.scan())
        conn = library.catalog.conn  # the connection the embedding pass writes with
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        # SQLITE_FULL a few batches on (a batch of 8 writes ~1 MB: raw region descriptors wait
        # in the catalog until the reduction is learned)
        conn.execute(f"PRAGMA max_page_count = {pages + 400}")
        done = [0]
        with pytest.raises(CatalogError) as caught:
            for progress in library.embed(batch_size=8):
                done.append(progress.done)
        message = str(caught.value)
        assert "is full" in message and str(catalog) in message and "Free some space" in message
        stored = library.catalog.embedded_count(MODEL_KEY)
        assert 0 < stored == done[-1] < 40  # whole batches only: the failed one left nothing
    check_catalog(catalog)
    with Library(photos, catalog_path=catalog, model=MODEL, weights="none") as library:
        result = run(library.index())  # space is back (a new connection has no limit)
        assert result.embed.embedded == 40 - stored
    assert check_catalog(catalog).embedded == 40


def test_a_read_only_catalog_location_gives_a_clear_error(indexed: Indexed, tmp_path: Path
                                                          ) -> None:
    """Run without root's file privileges: a read-only folder, a read-only catalog file
    (that can still be read), a read-only user data folder (the default location); and a
    read-only thumbnail cache, which costs the thumbnails (made again later), not photos."""
    locked = tmp_path / "locked"
    locked.mkdir()
    data_home = tmp_path / "data-home"
    data_home.mkdir()
    cache_home = tmp_path / "cache-home"
    cache_home.mkdir()
    few = tmp_path / "few"
    shutil.copytree(sorted(indexed.root.iterdir())[0], few / "scene", copy_function=shutil.copy2)
    _checkpoint(indexed.catalog)
    read_only_file = tmp_path / "readonly" / "catalog.sqlite"
    read_only_file.parent.mkdir()
    shutil.copy(indexed.catalog, read_only_file)
    read_only_file.chmod(0o444)
    original = read_only_file.read_bytes()
    for folder in (locked, data_home, cache_home):
        folder.chmod(0o555)
    synthetic.write_jpeg(indexed.root / "new.jpg", synthetic.scene(77))  # work to write
    no_catalog = ["--weights", "none", "--model", MODEL, "-q"]
    cases = [
        {"argv": ["index", *library_args(indexed.root, locked / "catalog.sqlite", "-q")]},
        {"argv": ["index", *library_args(indexed.root, read_only_file, "-q")]},
        {"argv": ["status", *library_args(indexed.root, read_only_file)]},
        {"argv": ["index", str(indexed.root), *no_catalog],
         "env": {"XDG_DATA_HOME": str(data_home)}},
        {"argv": ["index", *library_args(few, tmp_path / "few.sqlite", "-q")],
         "env": {"XDG_CACHE_HOME": str(cache_home)}},
    ]
    spec, results = tmp_path / "spec.json", tmp_path / "results.json"
    spec.write_text(json.dumps(cases))
    proc = run_restricted_python("-m", "tests.reliability.jobs", "cli_runs", spec, results)
    assert proc.returncode == 0, proc.stderr
    outcomes = json.loads(results.read_text())
    assert outcomes[2]["code"] == 0 and "Photos   40 " in outcomes[2]["stdout"]  # status
    assert outcomes[4]["code"] == 0, outcomes[4]["stderr"]
    assert "4 photos (4 embedded" in outcomes[4]["stdout"] and " 0 problems" in \
        outcomes[4]["stdout"]
    lines = [one_line_error(o["code"], o["stderr"]) for o in outcomes[:2] + outcomes[3:4]]
    assert f"Cannot write the catalog in {locked}: permission denied" in lines[0]
    assert f"Cannot write the catalog {read_only_file}: the file or its folder is read-only" \
        in lines[1]
    assert f"Cannot create the catalog folder {data_home}/lookalike" in lines[2]
    assert all("--catalog" in line for line in lines)
    assert list(locked.iterdir()) == [] and list(data_home.iterdir()) == []
    assert list(cache_home.iterdir()) == []
    assert read_only_file.read_bytes() == original


def test_a_second_index_is_told_the_library_is_in_use(
        photos: Path, tmp_path: Path, forkserver: ForkServer) -> None:
    for scene in sorted(photos.iterdir())[3:]:  # 12 photos are enough to be busy with
        shutil.rmtree(scene)
    catalog = tmp_path / "catalog.sqlite"
    first = forkserver.start(argv=["index", *library_args(photos, catalog, "-q")])
    while not _has_photos(catalog):  # the first is at work: it has recorded photos
        assert forkserver.wait(first, timeout=0.05) is None, "the first index ended too soon"
    os.kill(first, signal.SIGSTOP)  # hold it mid-work while the second one tries
    try:
        second = run_cli("index", *library_args(photos, catalog, "-q"))
    finally:
        os.kill(first, signal.SIGCONT)
    line = one_line_error(second.returncode, second.stderr)
    assert f"The library {photos} is open in another Lookalike window or command" in line
    assert forkserver.wait(first, timeout=300) == 0, forkserver.output()[1]
    state = check_catalog(catalog)
    assert state.photos == state.embedded == 12


def _has_photos(catalog: Path) -> bool:
    if not catalog.exists():
        return False
    conn = sqlite3.connect(catalog, timeout=5)
    try:
        return conn.execute("SELECT count(*) FROM photos").fetchone()[0] > 0
    except sqlite3.OperationalError:  # no tables yet
        return False
    finally:
        conn.close()
