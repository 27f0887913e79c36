"""Pixel work for :mod:`core.decode`: plain 8-bit RGB, ICC profiles to sRGB, resizing."""

from __future__ import annotations

import functools
import io
import logging
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageCms

log = logging.getLogger(__name__)
Resize = Callable[[Image.Image], Image.Image]


def to_rgb(im: Image.Image) -> Image.Image:
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


def to_srgb(im: Image.Image) -> Image.Image:
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


def finish(im: Image.Image, resize: Resize) -> Image.Image:
    """Resize first, then colour-manage and convert to RGB (cheaper on fewer pixels)."""
    if im.mode not in ("RGB", "CMYK", "L"):
        im = to_rgb(im)  # palette, alpha, 16-bit: resizing needs plain pixels
    return to_rgb(to_srgb(resize(im)))


def unchanged(im: Image.Image) -> Image.Image:
    """The identity :data:`Resize`."""
    return im


def shrink(im: Image.Image, min_side: int) -> Image.Image:
    """Box-reduce so the shorter side is in [min_side, 2 * min_side)."""
    shorter = min(im.size)
    if shorter >= 2 * min_side:
        return im.reduce(shorter // min_side)
    return im


def fit(im: Image.Image, max_side: int) -> Image.Image:
    """Downscale (never up) so the longer side is *max_side*."""
    w, h = im.size
    scale = max_side / max(w, h)
    if scale >= 1:
        return im
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
