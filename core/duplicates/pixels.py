"""What a photo's pixels tell the duplicate finder: a low-resolution signature for aligned
comparisons, the exact capture time (with EXIF sub-seconds), and quality measures.

All of it comes from one decode at :data:`WORK_SIDE` pixels (JPEG draft mode makes that
cheap); the photo file is only read.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import ExifTags, Image

from core.decode import load_image
from core.errors import LookalikeError

log = logging.getLogger(__name__)

WORK_SIDE = 768  # longer side of the decode that quality is measured on
SQUARE = 32  # side of the aligned comparison image (aspect ignored)
SEARCH_SIDE = 96  # longer side of the image a crop is searched in
COLOUR = 8  # side of the colour thumbnail compared for colour edits
TILES = 4  # sharpness: the image is split in TILES x TILES regions, the sharpest counts
_SUBSEC_ORIGINAL = 0x9291


@dataclass(frozen=True)
class Quality:
    """Measures of one photo; higher sharpness is better, lower clipping and noise are."""

    sharpness: float  # variance of the Laplacian in the sharpest region over the image's
    # variance (so that an exposure or contrast edit does not look sharper)
    clipped: float  # fraction of pixels at pure black or pure white
    noise: float  # estimated noise sigma (Immerkaer), 0..255 scale


@dataclass(frozen=True)
class Signature:
    """A photo's pixels, reduced: ``square`` is SQUARE x SQUARE grey (aspect ignored, zero
    mean, unit norm), ``small`` the grey image with its longer side SEARCH_SIDE."""

    square: NDArray[np.float32]
    small: NDArray[np.float32]
    aspect: float  # width / height, orientation applied
    taken: float | None  # capture time in seconds (EXIF date + sub-seconds), None if unknown
    subsec: bool  # the time has EXIF sub-seconds
    quality: Quality
    colour: NDArray[np.float32]  # COLOUR x COLOUR x 3 mean colours, 0..1 (grey misses tints)


def signature(path: Path) -> Signature:
    """Read ``path`` once and reduce it. Raises UnreadableImage."""
    image = load_image(path, WORK_SIDE)
    grey = np.asarray(image.convert("L"), dtype=np.float32)
    taken, subsec = capture_time(path)
    square = _unit(np.asarray(image.convert("L").resize((SQUARE, SQUARE), Image.Resampling.BOX),
                              dtype=np.float32))
    w, h = image.size
    scale = SEARCH_SIDE / max(w, h)
    small_size = (max(8, round(w * scale)), max(8, round(h * scale)))
    small = np.asarray(image.convert("L").resize(small_size, Image.Resampling.BOX),
                       dtype=np.float32)
    colour = np.asarray(image.convert("RGB").resize((COLOUR, COLOUR), Image.Resampling.BOX),
                        dtype=np.float32) / 255.0
    return Signature(square, small, w / h, taken, subsec, measure(grey), colour)


def capture_time(path: Path) -> tuple[float | None, bool]:
    """(seconds since the epoch, naive local time, with sub-seconds; whether sub-seconds were
    there). (None, False) when the file has no EXIF date or cannot be read."""
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            ifd = exif.get_ifd(ExifTags.IFD.Exif)
            stamp = ifd.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime)
            sub = ifd.get(_SUBSEC_ORIGINAL) or ifd.get(ExifTags.Base.SubsecTime)
    except Exception:  # any unreadable header: the time is simply unknown  # noqa: BLE001
        return None, False
    if not isinstance(stamp, str):
        return None, False
    try:
        moment = datetime.strptime(stamp.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None, False
    seconds = (moment - datetime(1970, 1, 1)).total_seconds()
    digits = "".join(ch for ch in str(sub or "") if ch.isdigit())
    if digits:
        return seconds + int(digits) / 10 ** len(digits), True
    return seconds, False


def measure(grey: NDArray[np.float32]) -> Quality:
    """Sharpness, clipping and noise of a grey image (0..255)."""
    lap = (grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1]
           - 4 * grey[1:-1, 1:-1])
    h, w = lap.shape
    best = 0.0
    for ty in range(TILES):
        for tx in range(TILES):
            tile = lap[ty * h // TILES:(ty + 1) * h // TILES, tx * w // TILES:(tx + 1) * w // TILES]
            if tile.size:
                best = max(best, float(tile.var()))
    clipped = float(np.mean((grey <= 2) | (grey >= 253)))
    spread = max(float(grey.var()), 1.0)
    return Quality(1000 * best / spread, clipped, _noise(grey) / np.sqrt(spread) * 50)


def _noise(grey: NDArray[np.float32]) -> float:
    """Immerkaer's fast noise estimate: the mean absolute response of a mask that cancels
    smooth image structure, in the flattest half of the image (edges are not noise)."""
    g = grey
    m = (g[:-2, :-2] - 2 * g[:-2, 1:-1] + g[:-2, 2:]
         - 2 * g[1:-1, :-2] + 4 * g[1:-1, 1:-1] - 2 * g[1:-1, 2:]
         + g[2:, :-2] - 2 * g[2:, 1:-1] + g[2:, 2:])
    gy, gx = np.abs(g[2:, 1:-1] - g[:-2, 1:-1]), np.abs(g[1:-1, 2:] - g[1:-1, :-2])
    flat = (gx + gy) <= np.median(gx + gy)
    if not flat.any():
        return 0.0
    return float(math.sqrt(math.pi / 2) / 6 * np.abs(m[flat]).mean())


def _unit(x: NDArray[np.float32]) -> NDArray[np.float32]:
    x = x - x.mean()
    norm = float(np.linalg.norm(x))
    return (x / norm if norm > 1e-6 else x).astype(np.float32)


def aligned(a: Signature, b: Signature) -> tuple[float, float]:
    """(correlation, mean absolute difference on the 0..1 scale) of the two aligned squares,
    the best of b as it is and b turned by 90, 180 or 270 degrees (an edit may rotate)."""
    best_corr, best_diff = -1.0, 1.0
    for turns in range(4):
        sq = np.rot90(b.square, turns)
        corr = float(np.sum(a.square * sq))
        if corr > best_corr:
            best_corr = corr
            best_diff = _pixel_difference(a, b) if turns == 0 else 1.0
    return best_corr, best_diff


def colour_difference(a: Signature, b: Signature) -> float:
    """Mean absolute difference of the colour thumbnails (0..1), b as it is."""
    return float(np.mean(np.abs(a.colour - b.colour)))


def _pixel_difference(a: Signature, b: Signature) -> float:
    """Mean absolute difference of the small images resized to one size, 0..1."""
    if a.small.shape != b.small.shape:
        size = (a.small.shape[1], a.small.shape[0])
        other = np.asarray(Image.fromarray(b.small).resize(size, Image.Resampling.BILINEAR))
    else:
        other = b.small
    return float(np.mean(np.abs(a.small - other))) / 255.0


def contained(outer: Signature, inner: Signature,
              scales: tuple[float, ...] = tuple(np.arange(0.5, 0.99, 0.05)),
              enough: float = 0.8) -> float:
    """How well ``inner`` matches a region of ``outer`` (best normalised cross-correlation
    over scales and positions): near 1 when ``inner`` is a crop of ``outer``. Searched at
    half resolution and every other scale first (over 10 times cheaper); only where that
    reaches ``enough`` is the full-resolution search (stride 2) done, else the coarse value
    is returned."""
    coarse = _search(_half(outer.small), _half(inner.small), inner.aspect, scales[::2], 1)
    if coarse < enough:
        return coarse
    return _search(outer.small, inner.small, inner.aspect, scales, 2)


def _half(image: NDArray[np.float32]) -> NDArray[np.float32]:
    """The image at half its size (2 x 2 block means)."""
    h, w = image.shape[0] // 2 * 2, image.shape[1] // 2 * 2
    return image[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))


def _search(big: NDArray[np.float32], small: NDArray[np.float32], aspect: float,
            scales: tuple[float, ...], stride: int) -> float:
    bh, bw = big.shape
    best = -1.0
    for scale in scales:
        w = round(bw * scale)
        h = round(w / aspect)
        if h > bh:
            h = round(bh * scale)
            w = round(h * aspect)
        if w < 6 or h < 6 or w > bw or h > bh:
            continue
        tmpl = np.asarray(Image.fromarray(small).resize((w, h), Image.Resampling.BOX),
                          dtype=np.float32)
        tmpl = _unit(tmpl)
        windows = np.lib.stride_tricks.sliding_window_view(big, (h, w))[::stride, ::stride]
        flat = windows.reshape(windows.shape[0] * windows.shape[1], -1)
        flat = flat - flat.mean(axis=1, keepdims=True)
        norms = np.linalg.norm(flat, axis=1)
        scores = (flat @ tmpl.ravel()) / np.maximum(norms, 1e-6)
        best = max(best, float(scores.max()))
    return best


def read_signatures(paths: dict[int, Path]) -> tuple[dict[int, Signature], dict[int, str]]:
    """Signatures of photos by id, and the reason for each that could not be read."""
    found: dict[int, Signature] = {}
    failed: dict[int, str] = {}
    for key, path in paths.items():
        try:
            found[key] = signature(path)
        except LookalikeError as exc:
            failed[key] = str(exc)
            log.warning("duplicates: %s", exc)
    return found, failed
