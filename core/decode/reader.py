"""Reading photos: this module (with its helpers decode_formats, decode_exif and
decode_pixels) is the only one that opens image files.

Every public function either returns pixels/metadata or raises
:class:`~core.errors.UnreadableImage` with a reason a photographer understands. Decoding is
cheap where the format allows it (JPEG DCT scaling, RAW embedded previews), colour-managed
to sRGB, and safe against decompression bombs. Safe to call from many threads at once: the
only shared state is two caches of immutable objects (plugin registration, ICC transforms).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image

from core.decode.exif import ImageInfo, orient, shooting_details
from core.decode.formats import (
    EMPTY,
    MAX_PIXELS,
    Read,
    Refused,
    by_format,
    read_pillow,
    read_pillow_info,
    read_raw,
    read_raw_info,
    reading,
)
from core.decode.pixels import Resize, fit, shrink, to_rgb, unchanged
from core.files import special_kind

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_PIXELS",
    "RAW_EXTENSIONS",
    "SUPPORTED_EXTENSIONS",
    "Decoded",
    "ImageInfo",
    "decode_file",
    "file_hash",
    "load_image",
    "make_thumbnail",
    "model_input",
    "read_info",
]

# Refuse larger files without reading them (the largest real photos, 16-bit TIFFs of
# MAX_PIXELS, are about 1 GB).
MAX_FILE_BYTES: int = 2 * 1024**3

RAW_EXTENSIONS: frozenset[str] = frozenset(
    {".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2", ".dng", ".kdc", ".pef", ".srw",
     ".nrw"}
)
SUPPORTED_EXTENSIONS: frozenset[str] = (
    frozenset({".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif",
               ".heic", ".heif"})
    | RAW_EXTENSIONS
)


@dataclass(frozen=True)
class Decoded:
    """One read of a file: its hash and size, metadata, and a small upright RGB image."""

    content_hash: str
    size: int
    info: ImageInfo
    image: Image.Image


def decode_file(path: Path, min_side: int = 256) -> Decoded:
    """Read *path* once: hash its bytes and decode a small upright RGB image from them.

    The image's shorter side is between ``min_side`` and about ``2 * min_side`` (or the
    original's, if smaller). Raises UnreadableImage.
    """
    path = Path(path)
    with reading(path):
        data = read_photo_bytes(path)
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        image, orientation, info = _read(path, data, min_side, partial(shrink, min_side=min_side))
        image = orient(image, orientation)
    return Decoded(content_hash=digest, size=len(data), info=info, image=image)


def load_image(path: Path, max_side: int | None = None) -> Image.Image:
    """Upright RGB image for viewing, longer side at most *max_side*. Raises UnreadableImage."""
    path = Path(path)
    with reading(path):
        data = read_photo_bytes(path)
        resize = partial(fit, max_side=max_side) if max_side else unchanged
        image, orientation, _ = _read(path, data, max_side, resize)
        return orient(image, orientation)


def read_info(path: Path) -> ImageInfo:
    """Metadata only (header and EXIF, no pixel decoding for non-RAW files)."""
    path = Path(path)
    with reading(path):
        if path.stat().st_size == 0:
            raise Refused(EMPTY)
        is_raw = _is_raw(path)
        data = path.read_bytes() if is_raw else b""
        return by_format(is_raw, lambda: read_raw_info(data), lambda: read_pillow_info(path))


def read_photo_bytes(path: Path) -> bytes:
    """The bytes of a photo file. Refuses (``Refused``) an empty file, one larger than
    :data:`MAX_FILE_BYTES`, and anything that is not a regular file, without reading it (a
    FIFO would block, a device never end)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Refused(f"not a regular file: {special_kind(st.st_mode)}")
        if st.st_size > MAX_FILE_BYTES:
            raise Refused(f"file is too large to read safely ({st.st_size / 1e9:.1f} GB)")
        data = f.read()  # to its end (sized from fstat: no 2 GiB buffer up front)
    if not data:
        raise Refused(EMPTY)
    if len(data) > MAX_FILE_BYTES:  # it grew while being read
        raise Refused(f"file is too large to read safely ({len(data) / 1e9:.1f} GB)")
    return data
def read_details(path: Path) -> list[tuple[str, str]]:
    """Exposure, aperture, ISO, focal length, lens, GPS and keywords of the photo, as
    (label, value) lines (empty for RAW files and files without them)."""
    path = Path(path)
    if _is_raw(path):
        return []
    with reading(path), Image.open(io.BytesIO(read_photo_bytes(path))) as im:
        return shooting_details(im)


def file_hash(path: Path) -> str:
    """blake2b-128 hex digest of the file, streamed; equals ``Decoded.content_hash``."""
    path = Path(path)
    with reading(path), path.open("rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def make_thumbnail(image: Image.Image, size: int = 256, quality: int = 85) -> bytes:
    """JPEG bytes of *image* with its longer side *size* (never upscaled), aspect kept."""
    small = fit(to_rgb(image), size)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def model_input(image: Image.Image, size: int = 224) -> np.ndarray:
    """uint8 array (size, size, 3): shorter side resized to *size*, then centre-cropped."""
    rgb = to_rgb(image)
    w, h = rgb.size
    if max(w, h) > 4 * min(w, h):  # a strip (1 x 100,000): crop the centre square first,
        side = min(w, h)           # or the resized image alone would fill the memory
        left, top = (w - side) // 2, (h - side) // 2
        rgb = rgb.crop((left, top, left + side, top + side))
        w, h = rgb.size
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    if (new_w, new_h) != (w, h):
        rgb = rgb.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return np.array(rgb.crop((left, top, left + size, top + size)), dtype=np.uint8)


def _is_raw(path: Path) -> bool:
    return path.suffix.lower() in RAW_EXTENSIONS


def _read(path: Path, data: bytes, want: int | None, resize: Resize) -> Read:
    """sRGB image as stored (not yet oriented) after *resize*, the EXIF orientation to
    apply, and info. *want*: the shorter side needed (JPEG draft, RAW preview choice)."""
    return by_format(_is_raw(path), lambda: read_raw(data, want, resize),
                     lambda: read_pillow(data, want, resize))
