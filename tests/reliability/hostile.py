"""Hostile files, as data: each :class:`Kind` writes one odd file (or link, FIFO, folder)
into a library folder and says what a user expects of it: indexed, listed as a problem
with a reason containing some words, or left alone (hidden, not a photo). The sweep in
test_hostile_sweep.py indexes one folder holding every kind at once."""

from __future__ import annotations

import io
import os
import random
import socket
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from benchmarks import synthetic

INDEXED = "indexed"  # a photo of the library, with an embedding
SKIPPED = "skipped"  # neither a photo nor a problem (hidden, or not a photo's extension)
TOO_LARGE = "image is too large to read safely"
NOT_IMAGE = "not an image (or an unsupported format)"
TRUNCATED = "file is damaged or incomplete (truncated)"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "photos" / "exif-samples"


@dataclass(frozen=True)
class Kind:
    """One hostile kind: ``make(folder)`` creates ``name`` in ``folder``; ``expect`` is
    INDEXED, SKIPPED, or the reasons a problem may give (any of them, as substrings)."""

    name: str
    make: Callable[[Path], None]
    expect: str | tuple[str, ...]


def _save(image: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def _scene(seed: int, size: tuple[int, int] = (96, 72)) -> Image.Image:
    return synthetic.scene(seed, size)


def _jpeg(seed: int, **options: object) -> bytes:
    return _save(_scene(seed), "JPEG", quality=85, **options)


def _png(seed: int) -> bytes:
    return _save(_scene(seed), "PNG")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (struct.pack(">I", len(payload)) + kind + payload
            + struct.pack(">I", zlib.crc32(kind + payload)))


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (its data is a few blank rows)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress((b"\x00" + bytes(min(width, 4096))) * 4)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", data)
            + _chunk(b"IEND", b""))


def _jpeg_claiming(width: int, height: int) -> bytes:
    """A real JPEG whose frame header (SOF) claims another size."""
    data, i = bytearray(_jpeg(4)), 2
    while data[i + 1] not in (0xC0, 0xC1, 0xC2):
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    data[i + 5:i + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _tiff_claiming(width: int, height: int) -> bytes:
    """A deflate-compressed grey TIFF whose tags claim ``width`` x ``height``."""
    strip = zlib.compress(bytes(4096))
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 8),
               (262, 3, 1, 1), (273, 4, 1, 8 + 2 + 12 * 9 + 4), (277, 3, 1, 1),
               (278, 4, 1, height), (279, 4, 1, len(strip))]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, count, value) for tag, kind, count, value in entries)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + strip


def _webp_claiming(width: int, height: int) -> bytes:
    """A lossless WebP (VP8L) header claiming ``width`` x ``height``, then noise."""
    bits = (width - 1) | ((height - 1) << 14)
    payload = b"\x2f" + struct.pack("<I", bits) + random.Random(5).randbytes(64)
    chunk = b"VP8L" + struct.pack("<I", len(payload)) + payload
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _bmp_claiming(width: int, height: int) -> bytes:
    header = struct.pack("<2sIHHI", b"BM", 54 + 64, 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return header + info + bytes(64)


def _gif_claiming(width: int, height: int) -> bytes:
    data = bytearray(_save(_scene(6).convert("P"), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def _heic_claiming(width: int, height: int) -> bytes:
    """The real iPhone HEIC with every image-size box (ispe) claiming another size."""
    data = bytearray((SHARED / "heic" / "IMG_5195.HEIC").read_bytes())
    at = data.find(b"ispe")
    while at >= 0:
        data[at + 8:at + 16] = struct.pack(">II", width, height)
        at = data.find(b"ispe", at + 4)
    return bytes(data)


def _gif_frames(frames: int) -> bytes:
    images = [Image.new("P", (16, 16), color=n % 256) for n in range(frames)]
    return _save(images[0], "GIF", save_all=True, append_images=images[1:], duration=10)


def _exif_jpeg(seed: int, tags: dict[int, object], gps: dict[int, object] | None = None
               ) -> bytes:
    exif = Image.Exif()
    for tag, value in tags.items():
        exif[tag] = value
    if gps is not None:
        exif.get_ifd(0x8825).update(gps)
    return _save(_scene(seed), "JPEG", quality=85, exif=exif)


def _write(data: bytes | Callable[[], bytes]) -> Callable[[Path, str], None]:
    def make(folder: Path, name: str) -> None:
        (folder / name).write_bytes(data() if callable(data) else data)
    return make


def _file(name: str, data: bytes | Callable[[], bytes], expect: str | tuple[str, ...]
          ) -> Kind:
    write = _write(data)
    return Kind(name, lambda folder: write(folder, name), expect)


def _link(name: str, target: str, expect: str | tuple[str, ...]) -> Kind:
    return Kind(name, lambda folder: (folder / name).symlink_to(target), expect)


def _fifo(folder: Path) -> None:
    os.mkfifo(folder / "pipe.jpg")


def _socket(folder: Path) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(os.fspath(folder / "socket.jpg"))


def _locked_file(folder: Path) -> None:
    (folder / "locked.jpg").write_bytes(_jpeg(30))
    (folder / "locked.jpg").chmod(0)


def _locked_folder(folder: Path) -> None:
    (folder / "locked-folder").mkdir()
    (folder / "locked-folder" / "inside.jpg").write_bytes(_jpeg(31))
    (folder / "locked-folder").chmod(0)


def _folder_named_jpg(folder: Path) -> None:
    (folder / "album.jpg").mkdir()
    (folder / "album.jpg" / "in-album.jpg").write_bytes(_jpeg(32))


def _folder_loop(folder: Path) -> None:
    (folder / "loop-folder").mkdir()
    (folder / "loop-folder" / "looped.jpg").write_bytes(_jpeg(33))
    (folder / "loop-folder" / "back").symlink_to("..")


def _sparse(folder: Path) -> None:
    with open(folder / "sparse-3gb.jpg", "wb") as f:
        f.write(_jpeg(34))
        f.truncate(3 * 1024**3)


def _outside_link(folder: Path) -> None:
    outside = folder.parent / "outside.jpg"
    outside.write_bytes(_jpeg(35))
    (folder / "link-to-outside.jpg").symlink_to(outside)


def _gps_nan() -> bytes:
    nan = IFDRational(0, 0)  # 0/0
    return _exif_jpeg(24, {0x0110: "Cam"}, {1: "N", 2: (nan, nan, nan), 3: "E",
                                            4: (nan, nan, nan), 6: nan})


KINDS: list[Kind] = [
    # -- good photos in odd forms: indexed --------------------------------------------------
    _file("plain.jpg", lambda: _jpeg(1), INDEXED),
    _file("UPPER.JPEG", lambda: _jpeg(2), INDEXED),
    _file("cmyk.jpg", lambda: _save(_scene(3).convert("CMYK"), "JPEG"), INDEXED),
    _file("grey16.png", lambda: _save(_scene(4).convert("L").convert("I;16"), "PNG"),
          INDEXED),
    _file("grey16.tif", lambda: _save(_scene(5).convert("L").convert("I;16"), "TIFF"),
          INDEXED),
    _file("alpha.png", lambda: _save(_scene(6).convert("RGBA"), "PNG"), INDEXED),
    _file("palette.gif", lambda: _save(_scene(7).convert("P"), "GIF"), INDEXED),
    _file("frames-3000.gif", lambda: _gif_frames(3000), INDEXED),
    _file("one-by-100000.png", lambda: _save(Image.new("L", (1, 100_000), 128), "PNG"),
          INDEXED),
    _file("100000-by-one.png", lambda: _save(Image.new("L", (100_000, 1), 99), "PNG"),
          INDEXED),
    _file("orientation-9.jpg", lambda: _exif_jpeg(8, {0x0112: 9}), INDEXED),
    _file("orientation-65535.jpg", lambda: _exif_jpeg(9, {0x0112: 65535}), INDEXED),
    _file("gps-nan.jpg", _gps_nan, INDEXED),
    _file("date-garbage.jpg", lambda: _exif_jpeg(10, {0x0132: "9999:99:99 99:99:99"}),
          INDEXED),
    _file("huge-comment.jpg", lambda: _exif_jpeg(11, {0x010E: "x" * 60_000}), INDEXED),
    _file("bad-icc.jpg", lambda: _jpeg(12, icc_profile=b"not a colour profile" * 20),
          INDEXED),
    _file("raw-that-is-jpeg.nef", lambda: _jpeg(13), INDEXED),
    _file("multipage.tif", lambda: _save(_scene(14), "TIFF", save_all=True,
                                         append_images=[_scene(15), _scene(16)]), INDEXED),
    _file("webp.webp", lambda: _save(_scene(17), "WEBP"), INDEXED),
    _file("new\nline.jpg", lambda: _jpeg(18), INDEXED),
    _file("not-utf8-\udcff\udcfe.jpg", lambda: _jpeg(19), INDEXED),
    _file("-rf --catalog.jpg", lambda: _jpeg(20), INDEXED),
    _file("n" * 246 + ".jpg", lambda: _jpeg(21), INDEXED),  # 250 characters
    _file("é" * 125 + "x.jpg", lambda: _jpeg(22), INDEXED),  # 255 bytes, the longest name
    _file("readonly.jpg", lambda: _jpeg(23), INDEXED),
    Kind("album.jpg/in-album.jpg", _folder_named_jpg, INDEXED),
    Kind("loop-folder/looped.jpg", _folder_loop, INDEXED),
    Kind("link-to-outside.jpg", _outside_link, INDEXED),
    # -- not photos: listed with the true reason --------------------------------------------
    _file("empty.jpg", b"", ("file is empty",)),
    _file("text.jpg", b"Dear diary,\n" * 40, (NOT_IMAGE,)),
    _file("html.jpg", b"<!doctype html><html><body>hi</body></html>\n", (NOT_IMAGE,)),
    _file("svg.png", b'<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"/>',
          (NOT_IMAGE,)),
    _file("pdf.jpg", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n", (NOT_IMAGE,)),
    _file("zip.tif", b"PK\x03\x04" + bytes(200), (NOT_IMAGE,)),
    _file("video.jpg", b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
          + b"\x00\x00\x10\x00mdat" + random.Random(3).randbytes(4000), (NOT_IMAGE,)),
    _file("noise.png", random.Random(4).randbytes(5000), (NOT_IMAGE,)),
    _file("noise.cr2", random.Random(5).randbytes(5000), ("not a readable RAW file",)),
    _file("truncated.jpg", lambda: _jpeg(40)[:1500], (TRUNCATED,)),
    _file("truncated.png", lambda: _png(41)[:2000], (TRUNCATED,)),
    _file("truncated.webp", lambda: _save(_scene(42), "WEBP")[:300],
          ("file is damaged and cannot be decoded",)),
    _file("zero-by-zero.png", lambda: _png_claiming(0, 0), (NOT_IMAGE,)),
    _file("bomb-60000.png", lambda: _png_claiming(60_000, 60_000), (TOO_LARGE,)),
    _file("bomb-65500.jpg", lambda: _jpeg_claiming(65_500, 65_500), (TOO_LARGE,)),
    _file("bomb.tif", lambda: _tiff_claiming(100_000, 100_000), (TOO_LARGE,)),
    _file("bomb.webp", lambda: _webp_claiming(16_383, 16_383), (TOO_LARGE,)),
    _file("bomb.bmp", lambda: _bmp_claiming(50_000, 50_000), (TOO_LARGE,)),
    _file("bomb.gif", lambda: _gif_claiming(65_535, 65_535), (TOO_LARGE,)),
    _file("bomb.heic", lambda: _heic_claiming(60_000, 60_000), (TOO_LARGE,)),
    Kind("sparse-3gb.jpg", _sparse, ("file is too large to read safely",)),
    Kind("pipe.jpg", _fifo, ("not a regular file: a FIFO (named pipe)",)),
    Kind("socket.jpg", _socket, ("not a regular file: a socket",)),
    _link("zero.jpg", "/dev/zero", ("not a regular file: a device (through a link)",)),
    _link("urandom.png", "/dev/urandom", ("not a regular file: a device (through a link)",)),
    _link("gone.jpg", "no-such-file.jpg", ("broken link: its target is missing",)),
    _link("self.jpg", "self.jpg", ("link loop: the link points back to itself",)),
    _link("ping.jpg", "pong.jpg", ("link loop: the link points back to itself",)),
    _link("pong.jpg", "ping.jpg", ("link loop: the link points back to itself",)),
    Kind("locked.jpg", _locked_file, ("permission denied",)),  # run without root's privileges
    Kind("locked-folder", _locked_folder, ("permission denied: Lookalike may not read this "
                                           "folder",)),
    # -- left alone -------------------------------------------------------------------------
    _file(".hidden.jpg", lambda: _jpeg(50), SKIPPED),
    _file("notes.txt", b"not a photo", SKIPPED),
    _file("photo.jpg.xmp", b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>", SKIPPED),
]


def make_library(folder: Path) -> None:
    """Write every kind into ``folder`` (created)."""
    folder.mkdir(parents=True)
    for kind in KINDS:
        kind.make(folder)
    (folder / "readonly.jpg").chmod(0o444)
