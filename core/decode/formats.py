"""Format readers for :mod:`core.decode`: Pillow (JPEG, PNG, TIFF, WebP, HEIF...) and RAW via
libraw, plus the plain-words reasons their failures become. Import from :mod:`core.decode`.
"""

from __future__ import annotations

import functools
import io
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import numpy as np
import rawpy
from PIL import Image, UnidentifiedImageError
from PIL.JpegImagePlugin import JpegImageFile

from core.decode.exif import NO_METADATA, ImageInfo, Metadata, exif_metadata, image_info
from core.decode.pixels import Resize, finish
from core.errors import UnreadableImage

log = logging.getLogger(__name__)
T = TypeVar("T")
# An image as stored (not yet oriented), the EXIF orientation to apply, and its info.
Read = tuple[Image.Image, int, ImageInfo]

# Refuse bigger images instead of exhausting memory. Kept below Pillow's own hard limit
# (2 * Image.MAX_IMAGE_PIXELS, about 179 MP) so that our check, with our message, comes first.
MAX_PIXELS: int = 150_000_000
EMPTY = "file is empty"

_PIL_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "BMP", "GIF", "HEIF")
_NOT_AN_IMAGE = "not an image (or an unsupported format)"
_TRUNCATED = "file is damaged or incomplete (truncated)"
_DAMAGED = "file is damaged and cannot be decoded"
_NOT_RAW = "not a readable RAW file"
_LIBRAW_FLIP_TO_EXIF = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}


class Refused(Exception):
    """A plain-words reason to refuse a file; :func:`reading` turns it into UnreadableImage."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn every failure while reading *path* into UnreadableImage with a plain reason."""
    try:
        yield
    except UnreadableImage:
        raise
    except Refused as e:
        raise UnreadableImage(path, e.reason) from None
    except Exception as e:  # the contract: nothing but UnreadableImage escapes
        reason = _reason(e)
        log.debug("cannot read %s: %s", path, reason, exc_info=True)
        raise UnreadableImage(path, reason) from e


def by_format(is_raw: bool, raw: Callable[[], T], pillow: Callable[[], T]) -> T:
    """``raw()`` for a RAW file, falling back to ``pillow()`` for the "RAW" files that are plain
    JPEG/TIFF; ``pillow()`` for any other file."""
    if is_raw:
        try:
            return raw()
        except rawpy.LibRawFileUnsupportedError:
            pass
    try:
        return pillow()
    except UnidentifiedImageError:
        if is_raw:
            raise Refused(_NOT_RAW) from None
        raise


# --- errors -----------------------------------------------------------------------------


def _reason(e: Exception) -> str:
    if isinstance(e, FileNotFoundError):
        return "file disappeared before it could be read"
    if isinstance(e, PermissionError):
        return "permission denied"
    if isinstance(e, IsADirectoryError):
        return "this is a folder, not a file"
    if isinstance(e, (MemoryError, rawpy.LibRawUnsufficientMemoryError,
                      rawpy.LibRawMemPoolOverflowError)):
        return "not enough memory to read this image"
    if isinstance(e, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        found = re.search(r"\((\d+) pixels\)", str(e))
        return _too_large(int(found.group(1)) if found else None)
    if isinstance(e, rawpy.LibRawTooBigError):
        return _too_large(None)
    if isinstance(e, UnidentifiedImageError):
        return _NOT_AN_IMAGE
    if isinstance(e, (rawpy.LibRawDataError, rawpy.LibRawIOError)):
        return "RAW file is damaged or incomplete"
    if isinstance(e, rawpy.LibRawError):
        return _NOT_RAW
    if isinstance(e, OSError) and "truncated" in str(e):
        return _TRUNCATED
    if isinstance(e, OSError) and e.errno is not None:
        return f"the disk could not read it ({e.strerror or e.errno})"
    return _DAMAGED


def _too_large(pixels: int | None) -> str:
    if pixels is None:
        return "image is too large to read safely"
    return f"image is too large to read safely ({pixels / 1e6:.0f} megapixels)"


def _check_size(width: int, height: int) -> None:
    if width <= 0 or height <= 0:
        raise Refused(_DAMAGED)
    if width * height > MAX_PIXELS:
        raise Refused(_too_large(width * height))


# --- Pillow -----------------------------------------------------------------------------


def read_pillow(data: bytes, want: int | None, resize: Resize) -> Read:
    """sRGB image after *resize*; *want*: the shorter side needed (JPEG DCT scaling)."""
    im = Image.open(io.BytesIO(data), formats=_pil_formats())
    full_size = im.size
    _check_size(*full_size)
    if want and isinstance(im, JpegImageFile):
        im.draft("RGB", (want, want))  # DCT scaling: shorter side stays >= want
    im.load()
    _check_complete(im)
    metadata = exif_metadata(im)
    return finish(im, resize), metadata[0], image_info(full_size, metadata)


def read_pillow_info(path: Path) -> ImageInfo:
    """Info from the header and EXIF, without decoding pixels."""
    with Image.open(path, formats=_pil_formats()) as im:
        return image_info(im.size, exif_metadata(im))


def _check_complete(im: Image.Image) -> None:
    """Refuse a JPEG whose data ended early: libjpeg only warns and paints the rest grey."""
    if isinstance(im, JpegImageFile) and im.mode in ("RGB", "L"):
        last_row = np.asarray(im.crop((0, im.height - 1, im.width, im.height)))
        if (last_row == 128).all():
            raise Refused(_TRUNCATED)


@functools.cache
def _pil_formats() -> tuple[str, ...]:
    """Pillow formats we accept; registers the HEIF opener once, on first use."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    Image.init()  # Image.open(formats=...) needs every plugin loaded, not just the common ones
    return _PIL_FORMATS


# --- RAW --------------------------------------------------------------------------------


def read_raw(data: bytes, want: int | None, resize: Resize) -> Read:
    """The embedded preview when big enough for *want*, else libraw's (half-size) develop."""
    with rawpy.imread(io.BytesIO(data)) as raw:
        preview, preview_meta = _raw_preview(raw, want)
        orientation, info = _raw_info(raw, data, preview_meta)
        shorter = min(raw.sizes.width, raw.sizes.height)
        if preview is not None and min(preview.size) >= min(want or shorter, shorter):
            return finish(preview, resize), orientation, info
        half = want is not None and shorter >= 2 * want
        pixels = raw.postprocess(half_size=half, use_camera_wb=True, output_bps=8)
        return resize(Image.fromarray(pixels)), 1, info  # sRGB, orientation applied


def read_raw_info(data: bytes) -> ImageInfo:
    """Info of a RAW file, without developing it."""
    with rawpy.imread(io.BytesIO(data)) as raw:
        return _raw_info(raw, data, _raw_preview(raw, None, pixels=False)[1])[1]


def _raw_preview(
    raw: rawpy.RawPy, want: int | None, pixels: bool = True
) -> tuple[Image.Image | None, Metadata]:
    """The camera's embedded preview, as stored (None if *pixels* is false or there is none),
    and its EXIF metadata."""
    try:
        thumb = raw.extract_thumb()
        if thumb.format == rawpy.ThumbFormat.BITMAP:
            bitmap = Image.fromarray(np.ascontiguousarray(thumb.data)) if pixels else None
            return bitmap, NO_METADATA
        im = Image.open(io.BytesIO(bytes(thumb.data)), formats=("JPEG",))
        meta = exif_metadata(im)
        if not pixels:
            return None, meta
        if want:
            im.draft("RGB", (want, want))
        im.load()
        return im, meta
    except (rawpy.LibRawError, OSError, SyntaxError, ValueError):
        log.debug("no usable RAW preview", exc_info=True)
        return None, NO_METADATA


def _raw_info(raw: rawpy.RawPy, data: bytes, preview_meta: Metadata) -> tuple[int, ImageInfo]:
    """Orientation of the preview, and info: full size, preview or TIFF-container EXIF."""
    sizes = raw.sizes
    _check_size(sizes.width, sizes.height)
    orientation = _LIBRAW_FLIP_TO_EXIF.get(sizes.flip, 1)
    if orientation == 1:
        orientation = preview_meta[0]
    _, captured, camera = preview_meta
    if captured is None or camera is None:
        _, tiff_captured, tiff_camera = _container_metadata(data)
        captured, camera = captured or tiff_captured, camera or tiff_camera
    return orientation, image_info((sizes.width, sizes.height), (orientation, captured, camera))


def _container_metadata(data: bytes) -> Metadata:
    """EXIF of a TIFF-based RAW container (most are), read by Pillow without decoding."""
    try:
        with Image.open(io.BytesIO(data), formats=("TIFF",)) as im:
            return exif_metadata(im)
    except Exception:  # not TIFF-based, or odd: metadata is optional
        log.debug("no TIFF metadata in this RAW file", exc_info=True)
        return NO_METADATA
