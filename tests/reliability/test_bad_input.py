"""Bad files, odd names and a folder that changes under the scan: each becomes a problem
with a reason in plain words, and the scan goes on. (Empty, text and truncated JPEGs, a
broken link, a folder loop and a file deleted before it is read are in
tests/core/test_library.py; unreadable files and folders in test_read_only.py.)

Also: a folder that cannot be read for a while, and an empty library folder (a drive not
connected), do not make the catalog forget photos."""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

import core.scan
from benchmarks import synthetic
from core import thumbnails
from core.decode import file_hash
from core.errors import LookalikeError
from core.jobs import run
from core.library import Library
from core.paths import display
from tests.reliability.forkserver import ForkServer
from tests.reliability.helpers import (
    MODEL,
    check_catalog,
    embedded_figure,
    library_args,
    run_cli,
    run_restricted_python,
)

PATH_MAX = os.pathconf("/", "PC_PATH_MAX")  # 4096 on Linux
NAME_MAX = os.pathconf("/", "PC_NAME_MAX")  # 255


def _jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    synthetic.scene(seed, (320, 240)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    synthetic.scene(seed, (320, 240)).save(buf, "PNG")
    return buf.getvalue()


def _with_size(jpeg: bytes, width: int, height: int) -> bytes:
    """The JPEG with its frame header (SOF) claiming another size."""
    data, i = bytearray(jpeg), 2
    while data[i + 1] not in (0xC0, 0xC1, 0xC2):
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    data[i + 5:i + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _png_bomb() -> bytes:
    """A real 30,000 x 30,000 grey PNG (900 megapixels) of about a megabyte: one deflate
    block of 1,000 blank rows, repeated (a full flush makes blocks independent)."""
    rows = (b"\x00" + bytes(30000)) * 1000
    pack = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = pack.compress(rows) + pack.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(30):
        adler = zlib.adler32(rows, adler)
    stream = b"\x78\xda" + block * 30 + pack.flush() + struct.pack(">I", adler)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (struct.pack(">I", len(payload)) + kind + payload
                + struct.pack(">I", zlib.crc32(kind + payload)))

    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", stream)
            + chunk(b"IEND", b""))


# name -> (bytes, words the problem's reason must contain)
BAD_FILES: dict[str, tuple[bytes, str]] = {
    "corrupt-header.jpg": (_jpeg(1)[:2] + random.Random(1).randbytes(400) + _jpeg(1)[402:],
                           "not an image"),
    "corrupt-data.jpg": (_jpeg(2)[:6000] + random.Random(2).randbytes(3000) + _jpeg(2)[9000:],
                         "damaged"),
    "truncated.png": (_png(3)[: len(_png(3)) // 2], "damaged"),
    "video.jpg": (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
                  + b"\x00\x00\x10\x00mdat" + random.Random(3).randbytes(4000), "not an image"),
    "bomb.jpg": (_with_size(_jpeg(4), 30000, 30000), "too large to read safely"),
    "bomb.png": (b"", "too large to read safely"),  # written by the fixture (1 MB)
    "not-utf8-\udcff\udcfe.jpg": (b"plain text, not a photo\n" * 10, "not an image"),
}


def _deep_folder(root: Path, length: int) -> Path:
    """Create nested folders (by descriptor: no path is ever too long for a call) so that
    the deepest one's absolute path is ``length`` bytes long; return it."""
    root.mkdir()
    path = root
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        while len(os.fsencode(path)) < length:
            name = "d" * min(200, length - len(os.fsencode(path)) - 1)
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
            path = path / name
    finally:
        os.close(fd)
    return path


def _write_at(folder_fd_path: Path, name: str, data: bytes) -> None:
    """Write a file in a folder whose path may exceed PATH_MAX (walks down by descriptor)."""
    parts = folder_fd_path.parts
    fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)
    for part in parts[1:]:
        child = os.open(part, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = child
    out = os.open(name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
    os.close(fd)
    with os.fdopen(out, "wb") as fh:
        fh.write(data)


@pytest.fixture(scope="module")
def bad_library(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str]]:
    """Good photos with odd names among bad files; returns (root, good file names)."""
    root = tmp_path_factory.mktemp("bad") / "photos-\udce9t\udce9"  # b"photos-\xe9t\xe9"
    root.mkdir()
    good = {
        "plain.jpg": _jpeg(10),
        "caf\udce9.jpg": _jpeg(11),  # b"caf\xe9.jpg": Latin-1, not UTF-8
        "é" * 10 + "x" * (NAME_MAX - 24) + ".jpg": _jpeg(12),  # 255 bytes, the longest name
        "long-path.jpg": _jpeg(13),  # written near PATH_MAX below
    }
    for name, data in good.items():
        if name != "long-path.jpg":
            (root / name).write_bytes(data)
    assert max(len(os.fsencode(name)) for name in good) == NAME_MAX
    near = _deep_folder(root / "near", PATH_MAX - 40)  # ~4056 bytes: still readable
    _write_at(near, "long-path.jpg", good["long-path.jpg"])
    beyond = _deep_folder(root / "beyond", PATH_MAX + 100)  # a folder past PATH_MAX
    _write_at(beyond, "unreachable.jpg", _jpeg(14))
    for name, (data, _words) in BAD_FILES.items():
        (root / name).write_bytes(data or _png_bomb())
    (root / "loop-a.jpg").symlink_to("loop-b.jpg")
    (root / "loop-b.jpg").symlink_to("loop-a.jpg")
    (root / "self.jpg").symlink_to("self.jpg")
    return root, set(good)


def test_every_bad_file_is_a_problem_and_the_good_ones_are_indexed(
        bad_library: tuple[Path, set[str]], tmp_path: Path, forkserver: ForkServer) -> None:
    root, good = bad_library
    catalog = tmp_path / "catalog.sqlite"
    # The command prints names that are not UTF-8 (its stdout is strict: no escape hatch).
    proc = run_cli("index", *library_args(root, catalog, "-q"))
    assert proc.returncode == 0, proc.stderr
    assert embedded_figure(proc.stdout) == len(good)
    assert f"See the problems with: lookalike status {display(root)}" in proc.stdout
    with Library(root, catalog_path=catalog, model=MODEL, weights="none") as library:
        photos = library.catalog.photos()
        problems = {p.path.name: p.reason for p in library.catalog.problems()}
        problem_paths = {p.path for p in library.catalog.problems()}
    assert {p.path.name for p in photos} == good
    for name, (_data, words) in BAD_FILES.items():
        assert words in problems.pop(name), name
    for name in ("loop-a.jpg", "loop-b.jpg", "self.jpg"):
        assert problems.pop(name) == "link loop: the link points back to itself"
    too_long = problems.popitem()
    assert too_long[1] == "path too long for the file system", too_long
    assert len(os.fsencode(next(p for p in problem_paths if p.name == too_long[0]))) > PATH_MAX
    assert not problems
    check_catalog(catalog)

    pid = forkserver.start(argv=["status", *library_args(root, catalog, "--json")])
    assert forkserver.wait(pid, timeout=120) == 0, forkserver.output()[1]
    state = json.loads(forkserver.output()[0])
    assert state["folder"] == display(root) and state["photos"] == state["embedded"] == len(good)
    names = {Path(p["path"]).name for p in state["problems"]}
    assert "not-utf8-\ufffd\ufffd.jpg" in names and len(names) == len(BAD_FILES) + 4


def test_files_and_folders_that_change_during_the_scan(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "photos"
    for folder, seeds in (("a", (1, 2, 3)), ("m", (4, 5)), ("z", (6, 7))):
        for k, seed in enumerate(seeds):
            synthetic.write_jpeg(root / folder / f"{k}.jpg", synthetic.scene(seed, (320, 240)))
    monkeypatch.setattr(core.scan, "COMMIT_EVERY_S", -1.0)  # report after every file
    catalog = tmp_path / "catalog.sqlite"
    with Library(root, catalog_path=catalog, model=MODEL, weights="none") as library:
        scan = library.scan()
        next(scan)  # a/0.jpg found; a/ is listed, m/ and z/ are not yet
        (root / "a" / "2.jpg").unlink()  # listed, then deleted before it is looked at
        shutil.rmtree(root / "z")  # a folder removed while the scan runs
        (root / "m" / "0.jpg").write_text("replaced by a note")  # replaced before reading
        scanned = run(scan)
        synthetic.write_jpeg(root / "m" / "1.jpg", synthetic.scene(99, (320, 240)))
        embedded = run(library.embed())  # m/1.jpg was replaced after it was listed
        problems = {str(p.path.relative_to(root)): p.reason for p in library.catalog.problems()}
        assert problems == {
            "a/2.jpg": "file disappeared during the scan",
            "z": "folder disappeared during the scan",
            "m/0.jpg": "not an image (or an unsupported format)",
        }
        assert scanned.found == 4 and embedded.embedded == 3
        check_catalog(catalog)

        again = run(library.index())  # the next scan tidies up and catches the replacement
        problems = {str(p.path.relative_to(root)) for p in library.catalog.problems()}
        assert problems == {"m/0.jpg"}
        assert again.scan.changed == 1 and again.embed.embedded == 1
        replaced = library.photo_at(root / "m" / "1.jpg")
        assert replaced is not None and replaced.content_hash == file_hash(replaced.path)
        with Image.open(thumbnails.thumbnail_path(replaced.content_hash)) as thumb:
            assert thumb.width == 256
    check_catalog(catalog)


def test_a_folder_unreadable_for_a_while_keeps_its_photos(photo_source: Path,
                                                          tmp_path: Path) -> None:
    """A network share that hiccups: its folder cannot be listed during one scan. Its
    photos stay in the catalog (with their embeddings and labels) instead of being taken
    for deleted; when it is back, nothing is redone. Runs without root's file privileges."""
    root = tmp_path / "photos"
    for scene in sorted(photo_source.iterdir())[:2]:
        shutil.copytree(scene, root / scene.name, copy_function=shutil.copy2)
    share = root / sorted(p.name for p in root.iterdir())[1]
    catalog = tmp_path / "catalog.sqlite"
    index = {"argv": ["index", *library_args(root, catalog, "-q")]}
    status = {"argv": ["status", *library_args(root, catalog, "--json")]}
    cases = [index, {**index, "chmod": [str(share), "0"]}, status,
             {**index, "chmod": [str(share), "755"]}, status]
    spec, results = tmp_path / "spec.json", tmp_path / "results.json"
    spec.write_text(json.dumps(cases))
    try:
        proc = run_restricted_python("-m", "tests.reliability.jobs", "cli_runs", spec, results)
    finally:
        share.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    outcomes = json.loads(results.read_text())
    assert [o["code"] for o in outcomes] == [0] * 5, outcomes
    during, after = json.loads(outcomes[2]["stdout"]), json.loads(outcomes[4]["stdout"])
    assert during["photos"] == during["embedded"] == 8
    assert [(Path(p["path"]).name, p["reason"]) for p in during["problems"]] == [
        (share.name, "permission denied: Lookalike may not read this folder")]
    assert "0 removed" in outcomes[1]["stdout"]
    assert after["photos"] == after["embedded"] == 8 and after["problems"] == []
    assert embedded_figure(outcomes[3]["stdout"]) == 0


def test_an_empty_library_folder_is_not_taken_for_deleted_photos(photo_source: Path,
                                                                 tmp_path: Path) -> None:
    """A drive that is not connected leaves its mount point empty: the scan refuses to
    drop the whole catalog, says why, and goes on once the photos are back."""
    root = tmp_path / "photos"
    shutil.copytree(sorted(photo_source.iterdir())[0], root / "scene",
                    copy_function=shutil.copy2)
    away = tmp_path / "away"
    with Library(root, catalog_path=tmp_path / "c.sqlite", model=MODEL,
                 weights="none") as library:
        run(library.index())
        (root / "scene").rename(away)
        with pytest.raises(LookalikeError, match=r"is empty, but its catalog lists 4 photos; "
                                                 r"nothing was removed\. If they are on a drive"):
            run(library.index())
        assert library.catalog.embedded_count(library.model_key) == 4
        away.rename(root / "scene")
        result = run(library.index())
        assert (result.scan.removed, result.embed.embedded) == (0, 0)
