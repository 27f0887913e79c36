"""The hostile sweep: one folder holding every kind of tests/reliability/hostile.py
(bombs, FIFOs, device links, odd names, odd images...) indexed once without root's file
privileges, then the CLI given hostile arguments. For each: the outcome a user expects
(indexed, or listed with its true reason, or a one-line refusal), the folder's files
unchanged, and never a traceback. Then files that change or vanish while being read, a
library on a read-only mount and a catalog on a full disk (real mounts, where the test
may mount: it runs as root in CI)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks import synthetic
from core.catalog import Catalog
from core.decode import file_hash
from core.errors import CatalogError
from core.jobs import run
from core.library import Library
from core.paths import display
from tests.reliability import hostile
from tests.reliability.forkserver import ForkServer
from tests.reliability.helpers import (
    MODEL,
    check_catalog,
    diff,
    library_args,
    one_line_error,
    run_restricted_python,
    snapshot,
)


@dataclass(frozen=True)
class Swept:
    root: Path
    catalog: Path
    outside: Path  # a folder beside the library, for files the arguments name
    runs: list[dict]  # index, status --json, index again: {"code", "stdout", "stderr"}


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swept]:
    base = tmp_path_factory.mktemp("hostile")
    root, catalog, outside = base / "library", base / "catalog.sqlite", base / "outside"
    hostile.make_library(root)
    outside.mkdir()
    before = snapshot(root)
    options = library_args(root, catalog)
    cases = [{"argv": ["index", *options, "-q"]}, {"argv": ["status", *options, "--json"]},
             {"argv": ["index", *options, "-q"]}]
    spec, results = base / "spec.json", base / "results.json"
    spec.write_text(json.dumps(cases))
    try:  # without root's file privileges: the locked file and folder are refused
        proc = run_restricted_python("-m", "tests.reliability.jobs", "cli_runs", spec, results)
        assert proc.returncode == 0, proc.stderr
        assert diff(before, snapshot(root)) == []
        yield Swept(root, catalog, outside, json.loads(results.read_text()))
    finally:
        for locked in (root / "locked.jpg", root / "locked-folder"):
            locked.chmod(0o755)


def test_every_hostile_kind_is_indexed_or_listed_with_its_true_reason(swept: Swept) -> None:
    _, status, again = swept.runs
    for outcome in swept.runs:
        assert outcome["code"] == 0 and "Traceback" not in outcome["stderr"], outcome
    state = json.loads(status["stdout"])
    problems = {Path(p["path"]).relative_to(display(swept.root)).as_posix(): p["reason"]
                for p in state["problems"]}
    conn = sqlite3.connect(swept.catalog)
    indexed = {os.fsdecode(r[0]) for r in conn.execute(
        "SELECT p.path FROM photos p JOIN embeddings e ON e.photo_id = p.id")}
    conn.close()
    assert len(hostile.KINDS) >= 60
    for kind in hostile.KINDS:
        shown = display(kind.name)
        if kind.expect == hostile.INDEXED:
            assert kind.name in indexed and shown not in problems, kind.name
        elif kind.expect == hostile.SKIPPED:
            assert kind.name not in indexed and shown not in problems, kind.name
        else:
            reason = problems.pop(shown, None)
            assert reason is not None and any(w in reason for w in kind.expect), (
                kind.name, reason)
    assert problems == {}  # nothing else was listed
    assert len(indexed) == state["photos"] == state["embedded"]
    assert "Embedded 0 in" in again["stdout"] and " 0 new" in again["stdout"]
    check_catalog(swept.catalog)


def _arguments(s: Swept) -> list[tuple[list[str], str]]:
    """(argv, words of the one-line refusal) for hostile arguments."""
    root, out = s.root, s.outside
    lib = library_args(root, s.catalog)
    photo = out / "some-photo.jpg"
    photo.write_bytes((root / "plain.jpg").read_bytes())
    (out / "notes.txt").write_text("my notes\n")
    (out / "random.bin").write_bytes(random.Random(7).randbytes(9000))
    other = sqlite3.connect(out / "other.sqlite")
    other.execute("CREATE TABLE contacts (name TEXT)")
    other.commit()
    other.close()
    os.mkfifo(out / "pipe")
    (out / "junk.pth").write_bytes(random.Random(8).randbytes(3000))
    (out / "binary.csv").write_bytes(bytes(range(256)) * 4)
    (out / "headerless.csv").write_text("plain.jpg,Scene,beach\n")
    (out / "huge-cell.csv").write_text("path,set,label\nplain.jpg,Scene," + "x" * 200_000)

    def index(catalog: Path | str, *extra: str) -> list[str]:
        return ["index", *library_args(root, Path(catalog)), "-q", *extra]

    def similar(*extra: str) -> list[str]:  # searching never scans: the catalog stays
        return ["similar", *lib, str(root / "plain.jpg"), *extra]

    not_ours = "is not a Lookalike catalog"
    return [
        (index(photo), f"{not_ours} (it is a JPEG image, not an SQLite database)"),
        (index(photo, "--rebuild"), f"{not_ours} (it is a JPEG image"),
        (index(out / "notes.txt"), f"{not_ours} (it is a text file"),
        (index(out / "random.bin", "--rebuild"), f"{not_ours} (it is not an SQLite database"),
        (index(out / "other.sqlite", "--rebuild"), "another program, with the tables contacts"),
        (index(root / "new.sqlite"), "would be inside the photo folder"),
        (index(root / "plain.jpg", "--rebuild"), "would be inside the photo folder"),
        (index(out), "is a folder, not a Lookalike catalog"),
        (index("/dev/null"), "is not a regular file (a device)"),
        (index(out / "pipe"), "is not a regular file (a FIFO)"),
        (["status", *library_args(root, photo)], not_ours),
        (["similar", *lib, str(root)], "a folder, not a file"),
        (["similar", *lib, str(out / "pipe")], "not a regular file: a FIFO"),
        (["similar", *lib, "/dev/zero"], "not a regular file: a device"),
        (["similar", *lib, str(root / "zero.jpg")], "a device (through a link)"),
        (["similar", *lib, str(root / "text.jpg")], "not an image"),
        (["similar", *lib, str(root / "bomb-60000.png")], "too large to read safely"),
        (["similar", *lib, str(out / "missing.jpg")], "file not found"),
        (["similar", *lib, str(root / "plain.jpg"), "-k", "0"], "-k must be at least 1"),
        (["index", *library_args(photo, s.catalog)], "a file, not a folder"),
        (["index", *library_args(out / "pipe", s.catalog)], "not a folder: a FIFO"),
        (["index", *library_args(out / "nowhere", s.catalog)], "folder not found"),
        (similar("--weights", str(out / "junk.pth")), "not a PyTorch state_dict"),
        (similar("--weights", "/dev/zero"), "not a regular file: a device"),
        (similar("--weights", str(out)), "a folder, not a file"),
        (["labels", "import", *lib, str(out / "binary.csv")],
         "holds binary data): a label CSV needs a header row with the columns set, label"),
        (["labels", "import", *lib, str(out / "headerless.csv")], "is not a label CSV"),
        (["labels", "import", *lib, str(out / "huge-cell.csv")], "field larger than"),
        (["labels", "import", *lib, str(out / "pipe")], "not a regular file: a FIFO"),
        (["labels", "import", *lib, "/dev/zero"], "not a regular file: a device"),
        (["labels", "export", *lib, "--csv", str(out / "no" / "such" / "dir.csv")],
         "Cannot write"),
        (["label", *lib, "--set", "S", "--add", "x", str(out / "pipe")], "a FIFO"),
    ]


def test_hostile_arguments_get_a_one_line_refusal_and_touch_nothing(
        swept: Swept, forkserver: ForkServer) -> None:
    cases = _arguments(swept)
    before_lib, before_out = snapshot(swept.root), snapshot(swept.outside)
    catalog_rows = _dump(swept.catalog)
    for argv, words in cases:
        pid = forkserver.start(argv=argv)
        code = forkserver.wait(pid, timeout=120)
        assert code is not None, argv
        line = one_line_error(code, forkserver.output()[1])
        assert words in line, (argv, line)
        assert "weights_only" not in line
    for argv in (["similar", *library_args(swept.root, swept.catalog), "x.jpg", "-k", "abc"],
                 ["index", *library_args(swept.root, swept.catalog), "--model", "nope"]):
        pid = forkserver.start(argv=argv)
        assert forkserver.wait(pid, timeout=120) == 2  # argparse's usage error
        err = forkserver.output()[1]
        assert "Traceback" not in err and "invalid" in err
    assert diff(before_lib, snapshot(swept.root)) == []
    assert diff(before_out, snapshot(swept.outside)) == []  # no .lock, no .damaged-, no -wal
    assert _dump(swept.catalog) == catalog_rows  # the refused commands changed nothing
    assert len(cases) >= 30


def _dump(catalog: Path) -> list[str]:
    conn = sqlite3.connect(catalog)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def _writer(path: Path, versions: list[bytes], stop: threading.Event) -> None:
    """Rewrite ``path`` in place (truncate, then write in pieces) until ``stop``."""
    n = 0
    while not stop.is_set():
        data = versions[n % 2]
        n += 1
        with open(path, "r+b") as f:
            f.truncate(0)
            for at in range(0, len(data), 4096):
                f.write(data[at:at + 4096])
                f.flush()
        stop.wait(0.002)  # let the indexer run too


def test_files_that_change_or_vanish_while_being_read(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for seed in range(4):
        synthetic.write_jpeg(root / f"{seed}.jpg", synthetic.scene(seed, (640, 480)))
    changing, vanishing = root / "0.jpg", root / "1.jpg"
    versions = [changing.read_bytes(), (root / "2.jpg").read_bytes()]
    hashes = {file_hash(changing), file_hash(root / "2.jpg")}
    catalog = tmp_path / "catalog.sqlite"
    stop = threading.Event()
    writer = threading.Thread(target=_writer, args=(changing, versions, stop))
    with Library(root, catalog_path=catalog, model=MODEL, weights="none") as library:
        run(library.scan())
        vanishing.unlink()  # listed by the scan, gone before it is read
        writer.start()
        try:
            for _ in range(2):  # each pass reads the changing file at another moment
                run(library.index())
        finally:
            stop.set()
            writer.join()
        problems = {p.path.name: p.reason for p in library.catalog.problems()}
        assert "1.jpg" not in problems  # gone: nothing to list once the scan has seen it
        photo = library.photo_at(changing)
        if photo is not None and photo.content_hash:
            assert photo.content_hash in hashes  # pixels, hash and vector of one read
        else:
            assert problems["0.jpg"].startswith(("file is damaged", "file is empty",
                                                 "not an image")), problems
        check_catalog(catalog)
        changing.write_bytes(versions[1])
        run(library.index())
        assert library.photo_at(changing).content_hash == file_hash(changing)
        assert library.catalog.embedded_count(library.model_key) == 3
    check_catalog(catalog)


@contextlib.contextmanager
def _mounted(*argv: str, target: Path) -> Iterator[None]:
    """``mount ARGV TARGET`` for the block (skips the test, with why, where not allowed)."""
    target.mkdir(exist_ok=True)
    proc = subprocess.run(["mount", *argv, str(target)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount here (needs root and CAP_SYS_ADMIN): {proc.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], check=True)


def test_a_library_on_a_read_only_mount_is_indexed(tmp_path: Path) -> None:
    source = tmp_path / "source"
    for seed in range(3):
        synthetic.write_jpeg(source / f"{seed}.jpg", synthetic.scene(seed, (320, 240)))
    (source / "text.jpg").write_text("not a photo")
    mount = tmp_path / "ro"
    with _mounted("--bind", "-o", "ro", str(source), target=mount):
        if os.access(mount, os.W_OK) and not _read_only(mount):
            subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], check=True)
        assert _read_only(mount)
        before = snapshot(mount)
        with Library(mount, catalog_path=tmp_path / "c.sqlite", model=MODEL,
                     weights="none") as library:
            result = run(library.index())
            assert result.embed.embedded == 3
            assert [p.reason for p in library.catalog.problems()] == [hostile.NOT_IMAGE]
        assert diff(before, snapshot(mount)) == []


def _read_only(folder: Path) -> bool:
    try:
        (folder / ".probe").touch()
    except OSError:
        return True
    (folder / ".probe").unlink()
    return False


def test_a_full_disk_under_the_catalog_stops_cleanly_then_resumes(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    for seed in range(60):
        synthetic.write_jpeg(root / f"{seed:02d}.jpg", synthetic.scene(seed, (64, 48)))
    with Catalog.open(root, tmp_path / "empty.sqlite"):  # what a new catalog takes
        pass
    empty = sum(p.stat().st_size for p in tmp_path.glob("empty.sqlite*"))
    disk = tmp_path / "disk"  # room for the catalog and about 40 photos
    with _mounted("-t", "tmpfs", "-o", f"size={empty // 1024 + 96}k", "tmpfs", target=disk):
        catalog = disk / "catalog.sqlite"
        with Library(root, catalog_path=catalog, model=MODEL, weights="none") as library:
            with pytest.raises(CatalogError, match="is full: the last changes were not saved"):
                run(library.index())
            stored = library.catalog.embedded_count(library.model_key)
        assert check_catalog(catalog, thumbnails=False).embedded == stored < 60
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
        with Library(root, catalog_path=catalog, model=MODEL, weights="none") as library:
            assert run(library.index()).embed.embedded == 60 - stored
        assert check_catalog(catalog).embedded == 60
