"""Near-duplicate edits, from mild to strong, as in the Copydays protocol.

    from benchmarks.edits import EDITS, apply_edit
    variant = apply_edit(image, "crop50")          # a new PIL image; `image` is untouched

Each edit is what happens to a photo between the camera and a second copy in a library:
recompression (JPEG quality 75 down to 10), downscaling (to 50 % and 10 % of the side),
cropping (10 to 50 % of the area removed), rotation (small tilt and quarter turn), exposure
and colour changes, mirroring, blur, a caption burnt in, and a perspective change with sensor
noise. :data:`EDITS` describes them (family, "mild" or "strong"); :func:`apply_edit` applies
one by name and is deterministic (the same seed gives the same pixels). Used by
``benchmarks/quality.py`` and by anything that calibrates duplicate thresholds.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps

MILD, STRONG = "mild", "strong"


@dataclass(frozen=True)
class Edit:
    """One kind of edit: its name, family (what it does), level and a description."""

    name: str
    family: str
    level: str
    description: str
    apply: Callable[[Image.Image, np.random.Generator], Image.Image]


def _jpeg(quality: int) -> Callable[[Image.Image, np.random.Generator], Image.Image]:
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        buffer = io.BytesIO()
        im.save(buffer, "JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as out:
            return out.convert("RGB")
    return edit


def _resize(fraction: float) -> Callable[[Image.Image, np.random.Generator], Image.Image]:
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = im.size
        size = (max(8, round(w * fraction)), max(8, round(h * fraction)))
        return im.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return edit


def _crop(removed: float) -> Callable[[Image.Image, np.random.Generator], Image.Image]:
    """Keep (1 - removed) of the area, with the original's aspect ratio, at a random place."""
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        w, h = im.size
        side = np.sqrt(1.0 - removed)
        cw, ch = max(8, round(w * side)), max(8, round(h * side))
        left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        return im.crop((left, top, left + cw, top + ch))
    return edit


def _rotate(degrees: float) -> Callable[[Image.Image, np.random.Generator], Image.Image]:
    """Quarter turns are exact; other angles are cropped to the largest upright rectangle
    without the corners (as a "straighten" tool does)."""
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        if degrees % 90 == 0:
            return im.rotate(degrees, expand=True)
        w, h = im.size
        rotated = im.rotate(degrees, Image.Resampling.BICUBIC, expand=False)
        a = np.radians(abs(degrees))
        # largest axis-aligned rectangle of the original's aspect inside the rotated frame
        scale = 1.0 / (np.cos(a) + np.sin(a) * max(w / h, h / w))
        cw, ch = round(w * scale), round(h * scale)
        left, top = (w - cw) // 2, (h - ch) // 2
        return rotated.crop((left, top, left + cw, top + ch))
    return edit


def _exposure(factor: float) -> Callable[[Image.Image, np.random.Generator], Image.Image]:
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        return ImageEnhance.Brightness(im).enhance(factor)
    return edit


def _colour(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A warm white balance, more saturation and contrast (a typical "vivid" preset)."""
    arr = np.asarray(im, dtype=np.float32) * np.array([1.12, 1.0, 0.85], np.float32)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    out = ImageEnhance.Color(out).enhance(1.5)
    return ImageEnhance.Contrast(out).enhance(1.3)


def _greyscale(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return ImageOps.grayscale(im).convert("RGB")


def _mirror(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return ImageOps.mirror(im)


def _blur(fraction: float) -> Callable[[Image.Image, np.random.Generator], Image.Image]:
    """Gaussian blur with a radius of ``fraction`` of the shorter side."""
    def edit(im: Image.Image, rng: np.random.Generator) -> Image.Image:
        return im.filter(ImageFilter.GaussianBlur(max(1.0, min(im.size) * fraction)))
    return edit


def _text(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A caption band across the lower part and a corner watermark."""
    out = im.copy()
    w, h = out.size
    draw = ImageDraw.Draw(out)
    size = max(10, h // 12)
    font = ImageFont.load_default(size)
    top = int(h * rng.uniform(0.6, 0.75))
    draw.rectangle((0, top, w, top + int(size * 1.6)), fill=(0, 0, 0))
    draw.text((w // 20, top + size // 4), "Holiday 2019 - best of the trip!", fill=(255, 255, 0),
              font=font)
    draw.text((w - w // 3, h // 20), "(c) lookalike", fill=(255, 255, 255),
              font=ImageFont.load_default(max(8, h // 20)))
    return out


def _perspective_noise(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A photo of the photo: a keystone (corners moved by up to 12 % of the side), then
    Gaussian sensor noise (sigma 12 of 255)."""
    w, h = im.size
    jitter = rng.uniform(0.0, 0.12, 8) * np.array([w, h] * 4)
    # where each output corner samples from: NW, SW, SE, NE
    quad = (jitter[0], jitter[1], jitter[2], h - jitter[3], w - jitter[4], h - jitter[5],
            w - jitter[6], jitter[7])
    warped = im.transform((w, h), Image.Transform.QUAD, tuple(float(q) for q in quad),
                          Image.Resampling.BICUBIC)
    arr = np.asarray(warped, dtype=np.float32)
    arr = arr + rng.normal(0.0, 12.0, arr.shape).astype(np.float32)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


EDITS: dict[str, Edit] = {
    edit.name: edit
    for edit in (
        Edit("jpeg75", "jpeg", MILD, "JPEG quality 75", _jpeg(75)),
        Edit("jpeg30", "jpeg", MILD, "JPEG quality 30", _jpeg(30)),
        Edit("jpeg10", "jpeg", STRONG, "JPEG quality 10", _jpeg(10)),
        Edit("resize50", "resize", MILD, "downscaled to 50 % of the side", _resize(0.5)),
        Edit("resize10", "resize", STRONG, "downscaled to 10 % of the side", _resize(0.1)),
        Edit("crop10", "crop", MILD, "10 % of the area cropped away", _crop(0.10)),
        Edit("crop25", "crop", STRONG, "25 % of the area cropped away", _crop(0.25)),
        Edit("crop50", "crop", STRONG, "50 % of the area cropped away", _crop(0.50)),
        Edit("rotate5", "rotation", MILD, "straightened by 5 degrees (corners cropped)",
             _rotate(5)),
        Edit("rotate90", "rotation", STRONG, "a quarter turn", _rotate(90)),
        Edit("brighter", "exposure", MILD, "exposure +0.5 EV (x1.4)", _exposure(1.4)),
        Edit("darker", "exposure", MILD, "exposure -1 EV (x0.5)", _exposure(0.5)),
        Edit("colour", "colour", MILD, "warm white balance, +50 % saturation, +30 % contrast",
             _colour),
        Edit("greyscale", "colour", MILD, "converted to black and white", _greyscale),
        Edit("mirror", "mirror", MILD, "mirrored left-right", _mirror),
        Edit("blur", "blur", MILD, "Gaussian blur, radius 0.5 % of the shorter side",
             _blur(0.005)),
        Edit("blur_strong", "blur", STRONG, "Gaussian blur, radius 2 % of the shorter side",
             _blur(0.02)),
        Edit("text", "overlay", MILD, "a caption band and a watermark burnt in", _text),
        Edit("perspective_noise", "perspective", STRONG,
             "keystone up to 12 % + sensor noise (sigma 12)", _perspective_noise),
    )
}


def apply_edit(image: Image.Image, kind: str, seed: int = 0) -> Image.Image:
    """A new RGB image: ``image`` edited by the edit named ``kind`` (a key of :data:`EDITS`).

    Deterministic: the same image, kind and seed give the same pixels. Raises KeyError
    listing the kinds when ``kind`` is unknown.
    """
    try:
        edit = EDITS[kind]
    except KeyError:
        raise KeyError(f"unknown edit {kind!r}; choose one of: {', '.join(EDITS)}") from None
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return edit.apply(rgb, np.random.default_rng(seed))


def paste(target: Image.Image, obj: Image.Image, seed: int, scale: tuple[float, float] = (0.2, 0.4)
          ) -> tuple[Image.Image, tuple[float, float, float, float]]:
    """``target`` with ``obj`` pasted at a random place, its longer side a random fraction
    (``scale``) of the target's shorter side; and where it is: ``(x, y, w, h)`` relative to
    the target. A new RGB image; both inputs are untouched. Deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    out = target.convert("RGB")
    tw, th = out.size
    side = rng.uniform(*scale) * min(tw, th)
    ow, oh = obj.size
    factor = side / max(ow, oh)
    w, h = max(1, round(ow * factor)), max(1, round(oh * factor))
    x, y = int(rng.integers(0, tw - w + 1)), int(rng.integers(0, th - h + 1))
    out.paste(obj.convert("RGB").resize((w, h), Image.Resampling.LANCZOS), (x, y))
    return out, (x / tw, y / th, w / tw, h / th)
