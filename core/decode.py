"""Reading photos: the only module that opens image files.

Every public function either returns pixels/metadata or raises
:class:`~core.errors.UnreadableImage` with a reason a photographer understands. Decoding is
cheap where the format allows it (JPEG DCT scaling, RAW embedded previews), colour-managed
to sRGB, and safe against decompression bombs. Safe to call from many threads at once: the
only shared state is two caches of immutable objects (plugin registration, ICC transforms).
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path

import numpy as np
import rawpy
from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError
from PIL.JpegImagePlugin import JpegImageFile

from core.errors import UnreadableImage

log = logging.getLogger(__name__)
Resize = Callable[[Image.Image], Image.Image]

RAW_EXTENSIONS: frozenset[str] = frozenset(
    {".cr2", ".cr3", ".nef", ".arw", ".raf", ".orf", ".rw2", ".dng", ".kdc", ".pef", ".srw",
     ".nrw"}
)
SUPPORTED_EXTENSIONS: frozenset[str] = (
    frozenset({".jpg", ".jpeg", ".jpe", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif",
               ".heic", ".heif"})
    | RAW_EXTENSIONS
)
# Refuse bigger images instead of exhausting memory. Kept below Pillow's own hard limit
# (2 * Image.MAX_IMAGE_PIXELS, about 179 MP) so that our check, with our message, comes first.
MAX_PIXELS: int = 150_000_000

_PIL_FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "BMP", "GIF", "HEIF")
_EMPTY = "file is empty"
_NOT_AN_IMAGE = "not an image (or an unsupported format)"
_TRUNCATED = "file is damaged or incomplete (truncated)"
_DAMAGED = "file is damaged and cannot be decoded"
_NOT_RAW = "not a readable RAW file"
# PIL transposition that displays an image stored with EXIF orientation N upright.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_LIBRAW_FLIP_TO_EXIF = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}
_CORPORATE = {"corporation", "corp", "co", "ltd", "co.,ltd", "co,ltd", "company", "inc",
              "limited", "imaging", "optical", "electric", "electronics", "gmbh", "ag"}
_DATE = re.compile(r"(\d{4})[:\-/.](\d\d)[:\-/.](\d\d)(?:[ T](\d\d):(\d\d):(\d\d))?")


@dataclass(frozen=True)
class ImageInfo:
    """Metadata of a photo; ``width``/``height`` are full resolution, orientation applied."""

    width: int
    height: int
    captured_at: str | None  # ISO 8601 'YYYY-MM-DDTHH:MM:SS'
    camera: str | None  # e.g. "Canon EOS 40D"


@dataclass(frozen=True)
class Decoded:
    """One read of a file: its hash and size, metadata, and a small upright RGB image."""

    content_hash: str
    size: int
    info: ImageInfo
    image: Image.Image


class _Refused(Exception):
    """A plain-words reason to refuse a file; :func:`_reading` turns it into UnreadableImage."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_file(path: Path, min_side: int = 256) -> Decoded:
    """Read *path* once: hash its bytes and decode a small upright RGB image from them.

    The image's shorter side is between ``min_side`` and about ``2 * min_side`` (or the
    original's, if smaller). Raises UnreadableImage.
    """
    path = Path(path)
    with _reading(path):
        data = path.read_bytes()
        if not data:
            raise _Refused(_EMPTY)
        digest = hashlib.blake2b(data, digest_size=16).hexdigest()
        image, orientation, info = _read(path, data, min_side, partial(_shrink, min_side=min_side))
        image = _orient(image, orientation)
    return Decoded(content_hash=digest, size=len(data), info=info, image=image)


def load_image(path: Path, max_side: int | None = None) -> Image.Image:
    """Upright RGB image for viewing, longer side at most *max_side*. Raises UnreadableImage."""
    path = Path(path)
    with _reading(path):
        data = path.read_bytes()
        if not data:
            raise _Refused(_EMPTY)
        resize = partial(_fit, max_side=max_side) if max_side else _unchanged
        image, orientation, _ = _read(path, data, max_side, resize)
        return _orient(image, orientation)


def read_info(path: Path) -> ImageInfo:
    """Metadata only (header and EXIF, no pixel decoding for non-RAW files)."""
    path = Path(path)
    with _reading(path):
        if path.stat().st_size == 0:
            raise _Refused(_EMPTY)
        is_raw = path.suffix.lower() in RAW_EXTENSIONS
        if is_raw:
            data = path.read_bytes()
            try:
                with rawpy.imread(io.BytesIO(data)) as raw:
                    return _raw_info(raw, data, _raw_preview(raw, None, pixels=False)[1])[1]
            except rawpy.LibRawFileUnsupportedError:
                pass  # not really RAW: let Pillow try it, as _read does
        try:
            with Image.open(path, formats=_pil_formats()) as im:
                orientation, captured, camera = _metadata(im)
                return ImageInfo(*_oriented_size(im.size, orientation), captured, camera)
        except UnidentifiedImageError:
            if is_raw:
                raise _Refused(_NOT_RAW) from None
            raise


def file_hash(path: Path) -> str:
    """blake2b-128 hex digest of the file, streamed; equals ``Decoded.content_hash``."""
    path = Path(path)
    with _reading(path), path.open("rb") as f:
        return hashlib.file_digest(f, lambda: hashlib.blake2b(digest_size=16)).hexdigest()


def make_thumbnail(image: Image.Image, size: int = 256, quality: int = 85) -> bytes:
    """JPEG bytes of *image* with its longer side *size* (never upscaled), aspect kept."""
    small = _fit(_to_rgb(image), size)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def model_input(image: Image.Image, size: int = 224) -> np.ndarray:
    """uint8 array (size, size, 3): shorter side resized to *size*, then centre-cropped."""
    rgb = _to_rgb(image)
    w, h = rgb.size
    scale = size / min(w, h)
    new_w, new_h = max(size, round(w * scale)), max(size, round(h * scale))
    if (new_w, new_h) != (w, h):
        rgb = rgb.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - size) // 2, (new_h - size) // 2
    return np.array(rgb.crop((left, top, left + size, top + size)), dtype=np.uint8)


# --- errors -----------------------------------------------------------------------------


@contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Turn every failure while reading *path* into UnreadableImage with a plain reason."""
    try:
        yield
    except UnreadableImage:
        raise
    except _Refused as e:
        raise UnreadableImage(path, e.reason) from None
    except Exception as e:  # the contract: nothing but UnreadableImage escapes
        reason = _reason(e)
        log.debug("cannot read %s: %s", path, reason, exc_info=True)
        raise UnreadableImage(path, reason) from e


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
        raise _Refused(_DAMAGED)
    if width * height > MAX_PIXELS:
        raise _Refused(_too_large(width * height))


# --- decoding ---------------------------------------------------------------------------


def _read(
    path: Path, data: bytes, want: int | None, resize: Resize
) -> tuple[Image.Image, int, ImageInfo]:
    """sRGB image as stored (not yet oriented) after *resize*, the EXIF orientation to
    apply, and info. *want*: the shorter side needed (JPEG draft, RAW preview choice)."""
    if path.suffix.lower() in RAW_EXTENSIONS:
        try:
            return _read_raw(data, want, resize)
        except rawpy.LibRawFileUnsupportedError:
            try:  # some "RAW" files are plain JPEG/TIFF
                return _read_pillow(data, want, resize)
            except UnidentifiedImageError:
                raise _Refused(_NOT_RAW) from None
    return _read_pillow(data, want, resize)


def _read_pillow(
    data: bytes, want: int | None, resize: Resize
) -> tuple[Image.Image, int, ImageInfo]:
    im = Image.open(io.BytesIO(data), formats=_pil_formats())
    full_size = im.size
    _check_size(*full_size)
    if want and isinstance(im, JpegImageFile):
        im.draft("RGB", (want, want))  # DCT scaling: shorter side stays >= want
    im.load()
    _check_complete(im)
    orientation, captured, camera = _metadata(im)
    info = ImageInfo(*_oriented_size(full_size, orientation), captured, camera)
    return _finish(im, resize), orientation, info


def _check_complete(im: Image.Image) -> None:
    """Refuse a JPEG whose data ended early: libjpeg only warns and paints the rest grey."""
    if isinstance(im, JpegImageFile) and im.mode in ("RGB", "L"):
        last_row = np.asarray(im.crop((0, im.height - 1, im.width, im.height)))
        if (last_row == 128).all():
            raise _Refused(_TRUNCATED)


def _read_raw(data: bytes, want: int | None, resize: Resize) -> tuple[Image.Image, int, ImageInfo]:
    with rawpy.imread(io.BytesIO(data)) as raw:
        preview, preview_meta = _raw_preview(raw, want)
        orientation, info = _raw_info(raw, data, preview_meta)
        shorter = min(raw.sizes.width, raw.sizes.height)
        if preview is not None and min(preview.size) >= min(want or shorter, shorter):
            return _finish(preview, resize), orientation, info
        half = want is not None and shorter >= 2 * want
        pixels = raw.postprocess(half_size=half, use_camera_wb=True, output_bps=8)
        return resize(Image.fromarray(pixels)), 1, info  # sRGB, orientation applied


def _raw_preview(
    raw: rawpy.RawPy, want: int | None, pixels: bool = True
) -> tuple[Image.Image | None, tuple[int, str | None, str | None]]:
    """The camera's embedded preview, as stored (None if *pixels* is false or there is none),
    and its EXIF metadata."""
    none: tuple[int, str | None, str | None] = (1, None, None)
    try:
        thumb = raw.extract_thumb()
        if thumb.format == rawpy.ThumbFormat.BITMAP:
            return (Image.fromarray(np.ascontiguousarray(thumb.data)) if pixels else None), none
        im = Image.open(io.BytesIO(thumb.data), formats=("JPEG",))
        meta = _metadata(im)
        if not pixels:
            return None, meta
        if want:
            im.draft("RGB", (want, want))
        im.load()
        return im, meta
    except (rawpy.LibRawError, OSError, SyntaxError, ValueError):
        log.debug("no usable RAW preview", exc_info=True)
        return None, none


def _raw_info(
    raw: rawpy.RawPy, data: bytes, preview_meta: tuple[int, str | None, str | None]
) -> tuple[int, ImageInfo]:
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
    size = _oriented_size((sizes.width, sizes.height), orientation)
    return orientation, ImageInfo(*size, captured, camera)


def _container_metadata(data: bytes) -> tuple[int, str | None, str | None]:
    """EXIF of a TIFF-based RAW container (most are), read by Pillow without decoding."""
    try:
        with Image.open(io.BytesIO(data), formats=("TIFF",)) as im:
            return _metadata(im)
    except Exception:  # not TIFF-based, or odd: metadata is optional
        log.debug("no TIFF metadata in this RAW file", exc_info=True)
        return 1, None, None


@functools.cache
def _pil_formats() -> tuple[str, ...]:
    """Pillow formats we accept; registers the HEIF opener once, on first use."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    Image.init()  # Image.open(formats=...) needs every plugin loaded, not just the common ones
    return _PIL_FORMATS


# --- pixels -----------------------------------------------------------------------------


def _to_rgb(im: Image.Image) -> Image.Image:
    """8-bit RGB; 16-bit and float greys scaled, transparency composited on white."""
    if im.mode == "RGB":
        return im
    if im.mode.startswith(("I", "F")):
        grey = np.asarray(im, dtype=np.float32)
        peak = float(grey.max(initial=0))
        if im.mode.startswith("I;16") or peak > 255:
            grey = grey / 257.0
        elif im.mode == "F" and peak <= 1.0:
            grey = grey * 255.0
        return Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).convert("RGB")
    if im.has_transparency_data:
        rgba = im.convert("RGBA")
        white = Image.new("RGB", im.size, (255, 255, 255))
        white.paste(rgba, mask=rgba.getchannel("A"))
        return white
    return im.convert("RGB")


def _to_srgb(im: Image.Image) -> Image.Image:
    """Convert RGB or CMYK pixels tagged with a non-sRGB ICC profile (Adobe RGB, Display P3,
    print profiles) to sRGB, so that every photo's colours mean the same. Else unchanged."""
    icc = im.info.get("icc_profile")
    if not icc or im.mode not in ("RGB", "CMYK"):
        return im
    try:
        transform = _srgb_transform(icc, im.mode)
        return transform.apply(im) if transform is not None else im
    except (ImageCms.PyCMSError, OSError, ValueError):
        log.debug("unusable ICC profile, colours left as stored", exc_info=True)
        return im


@functools.lru_cache(maxsize=16)
def _srgb_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """A thread-safe (NOCACHE) transform to sRGB; None when the profile already is sRGB.

    Cached: a library shares a handful of profiles, and building one costs milliseconds.
    """
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    if mode == "RGB" and ImageCms.getProfileDescription(profile).strip().startswith("sRGB"):
        return None
    srgb = ImageCms.createProfile("sRGB")
    return ImageCms.buildTransform(profile, srgb, mode, "RGB", flags=ImageCms.Flags.NOCACHE)


def _finish(im: Image.Image, resize: Resize) -> Image.Image:
    """Resize first, then colour-manage and convert to RGB (cheaper on fewer pixels)."""
    if im.mode not in ("RGB", "CMYK", "L"):
        im = _to_rgb(im)  # palette, alpha, 16-bit: resizing needs plain pixels
    return _to_rgb(_to_srgb(resize(im)))


def _unchanged(im: Image.Image) -> Image.Image:
    return im


def _shrink(im: Image.Image, min_side: int) -> Image.Image:
    """Box-reduce so the shorter side is in [min_side, 2 * min_side)."""
    shorter = min(im.size)
    if shorter >= 2 * min_side:
        return im.reduce(shorter // min_side)
    return im


def _fit(im: Image.Image, max_side: int) -> Image.Image:
    """Downscale (never up) so the longer side is *max_side*."""
    w, h = im.size
    scale = max_side / max(w, h)
    if scale >= 1:
        return im
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def _orient(im: Image.Image, orientation: int) -> Image.Image:
    method = _TRANSPOSE.get(orientation)
    return im.transpose(method) if method is not None else im


def _oriented_size(size: tuple[int, int], orientation: int) -> tuple[int, int]:
    return (size[1], size[0]) if orientation >= 5 else size


# --- metadata ---------------------------------------------------------------------------


def _metadata(im: Image.Image) -> tuple[int, str | None, str | None]:
    """(EXIF orientation 1..8, captured_at, camera); broken EXIF never makes a photo unreadable."""
    if im.format == "PNG" and "exif" not in im.info:
        return 1, None, None  # an eXIf chunk after the pixels would need a full decode
    try:
        exif = im.getexif()
    except Exception:
        log.debug("unreadable EXIF", exc_info=True)
        return 1, None, None
    orientation = exif.get(ExifTags.Base.Orientation)
    if not isinstance(orientation, int) or not 1 <= orientation <= 8:
        orientation = 1
    try:
        original = exif.get_ifd(ExifTags.IFD.Exif).get(ExifTags.Base.DateTimeOriginal)
    except Exception:
        log.debug("unreadable EXIF sub-IFD", exc_info=True)
        original = None
    captured = _date(original) or _date(exif.get(ExifTags.Base.DateTime))
    return orientation, captured, _camera(exif.get(ExifTags.Base.Make),
                                          exif.get(ExifTags.Base.Model))


def _text(value: object) -> str | None:
    """A clean one-line EXIF string: cut at NUL, whitespace collapsed, None if empty."""
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    return " ".join(value.split("\x00", 1)[0].split()) or None


def _date(value: object) -> str | None:
    text = _text(value)
    found = _DATE.match(text) if text else None
    if found is None:
        return None
    try:
        moment = datetime(*(int(part or 0) for part in found.groups()))  # type: ignore[misc]
    except ValueError:  # 0000:00:00 00:00:00 and other placeholders
        return None
    return moment.isoformat(timespec="seconds") if moment.year >= 1826 else None


def _camera(make_value: object, model_value: object) -> str | None:
    """Make and model without repeating the make: "Canon EOS 40D", "NIKON D70"."""
    make, model = _text(make_value), _text(model_value)
    if make:
        words = make.split()
        while len(words) > 1 and words[-1].lower().strip(",.") in _CORPORATE:
            words.pop()
        make = " ".join(words)
    if not make or not model:
        return model or make
    if model.split()[0].lower() in {word.lower() for word in make.split()}:
        return model
    return f"{make} {model}"
