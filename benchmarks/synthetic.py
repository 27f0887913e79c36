"""Generated photographic scenes for tests and benchmarks.

Not flat colours: a sky gradient with clouds, a ridged horizon, textured ground, shapes and
film grain, with a palette drawn from the seed, so that a CNN sees structure and different
seeds look clearly different. Everything is deterministic for a seed and fast (about 15 ms
for a 640x480 scene on one slow core, under half a second for 12 megapixels).
"""

from __future__ import annotations

import colorsys
import io
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageChops, ImageDraw, ImageEnhance

VARIANTS = ("crop", "exposure", "rotated", "reencode", "small")
"""The near-duplicates :func:`write_library` writes, in this order (``n_variants`` first)."""

_SAVE_FORMATS = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "tif": "TIFF",
                 "tiff": "TIFF", "heic": "HEIF"}
_EXIF_IFD_TAGS_FROM = 0x829A  # ExposureTime: tags from here on live in the Exif sub-IFD
_IFD0_POINTERS = {ExifTags.IFD.Exif, ExifTags.IFD.GPSInfo}


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A distinct RGB landscape-like scene for *seed*."""
    rng = np.random.default_rng(seed)
    out_w, out_h = size
    w, h = max(2, out_w // 2), max(2, out_h // 2)  # paint at half size, upscale: soft edges
    sky_top, sky_low, ground_a, ground_b, *accents = _palette(rng)
    y = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    clouds = _fractal(rng, (w, h), cells=int(rng.integers(2, 6)))
    cloud_light = (clouds - 0.45).clip(0, None) * np.float32(rng.uniform(150, 320))
    sky = sky_top * (1 - y) + sky_low * y + cloud_light[..., None]

    ridge = _fractal(rng, (w, 1), cells=int(rng.integers(3, 9)))[0]
    horizon = h * (rng.uniform(0.35, 0.7) + (ridge - 0.5) * rng.uniform(0.1, 0.4))
    below = np.arange(h, dtype=np.float32)[:, None] - horizon[None, :].astype(np.float32)
    texture = _fractal(rng, (w, h), cells=int(rng.integers(4, 16)))
    shade = 0.75 + 0.5 * (below / h).clip(0, 1)
    ground = (ground_a + (ground_b - ground_a) * texture[..., None]) * shade[..., None]
    pixels = np.where((below > 0)[..., None], ground, sky)

    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8))
    _draw_shapes(image, rng, accents)
    image = image.resize((out_w, out_h), Image.Resampling.BICUBIC)
    return _add_grain(image, rng, strength=float(rng.uniform(6, 14)))


def variants(image: Image.Image, seed: int) -> dict[str, Image.Image]:
    """Near-duplicates of *image*: "crop", "exposure", "reencode" (JPEG q=40), "small"."""
    rng = np.random.default_rng(seed)
    w, h = image.size
    keep = rng.uniform(0.82, 0.88)
    cw, ch = round(w * keep), round(h * keep)
    left = (w - cw) // 2 + int(rng.integers(-(w - cw) // 4, (w - cw) // 4 + 1))
    top = (h - ch) // 2 + int(rng.integers(-(h - ch) // 4, (h - ch) // 4 + 1))
    crop = image.crop((left, top, left + cw, top + ch)).resize((w, h), Image.Resampling.LANCZOS)

    brighter = rng.random() < 0.5
    brightness = rng.uniform(1.12, 1.3) if brighter else rng.uniform(0.72, 0.88)
    exposure = ImageEnhance.Brightness(image).enhance(brightness)
    exposure = ImageEnhance.Contrast(exposure).enhance(rng.uniform(0.85, 1.2))

    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=40)
    reencode = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")

    small = image.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS)
    return {"crop": crop, "exposure": exposure, "reencode": reencode, "small": small}


def write_library(
    folder: Path,
    n_scenes: int,
    n_variants: int = 3,
    size: tuple[int, int] = (640, 480),
    seed: int = 0,
    formats: Sequence[str] = ("jpg",),
) -> dict[str, list[Path]]:
    """Write ``scene_{i:03d}/orig.<fmt>`` and its first *n_variants* of :data:`VARIANTS`.

    Formats cycle per scene ("jpg", "png", "heic", "webp", "tiff"). The "rotated" variant is
    always a JPEG whose pixels are turned 90° and tagged with EXIF Orientation 6 or 8, so it
    looks like the original once the orientation is applied. JPEGs carry a capture date and
    a camera model. Returns ``{scene_name: [original, *variants]}``.
    """
    if not 0 <= n_variants <= len(VARIANTS):
        raise ValueError(f"n_variants must be between 0 and {len(VARIANTS)}")
    folder = Path(folder)
    library: dict[str, list[Path]] = {}
    for i in range(n_scenes):
        scene_seed = seed * 10_000 + i
        fmt = formats[i % len(formats)].lower().lstrip(".")
        name = f"scene_{i:03d}"
        base = scene(scene_seed, size)
        made = variants(base, scene_seed)
        exif: dict[str | int, object] = {
            "Make": "Lookalike",
            "Model": "Synthetic Camera",
            "DateTimeOriginal": _capture_date(scene_seed),
        }
        paths = [_write(folder / name / f"orig.{fmt}", base, fmt, exif)]
        for kind in VARIANTS[:n_variants]:
            if kind == "rotated":
                orientation = 6 if i % 2 == 0 else 8
                turn = Image.Transpose.ROTATE_90 if orientation == 6 else Image.Transpose.ROTATE_270
                path = folder / name / "rotated.jpg"
                write_jpeg(path, base.transpose(turn), exif_orientation=orientation, exif=exif)
                paths.append(path)
            else:
                paths.append(_write(folder / name / f"{kind}.{fmt}", made[kind], fmt, exif))
        library[name] = paths
    return library


def write_jpeg(
    path: Path,
    image: Image.Image,
    quality: int = 92,
    exif_orientation: int | None = None,
    exif: Mapping[str | int, object] | None = None,
) -> None:
    """Save *image* as a JPEG with optional EXIF: an Orientation and tags by name or number
    (e.g. ``{"Model": "X100", "DateTimeOriginal": "2020:01:02 03:04:05"}``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").save(path, "JPEG", quality=quality,
                              exif=_exif_bytes(exif or {}, exif_orientation))


def big_photo(seed: int, megapixels: float = 12) -> Image.Image:
    """A 4:3 photo of about *megapixels*, built small, upscaled, and given full-res grain."""
    w = round(math.sqrt(megapixels * 1e6 * 4 / 3))
    h = round(w * 3 / 4)
    small = scene(seed, (max(8, w // 4), max(6, h // 4)))
    image = small.resize((w, h), Image.Resampling.BICUBIC)
    return _add_grain(image, np.random.default_rng(seed), strength=8.0)


def _palette(rng: np.random.Generator) -> list[np.ndarray]:
    """Sky top, sky near the horizon, two ground colours and three accents (float RGB)."""
    sky_hue = rng.uniform(0.0, 1.0)
    ground_hue = (sky_hue + rng.uniform(0.25, 0.75)) % 1.0

    def rgb(hue: float, sat: float, val: float) -> np.ndarray:
        return np.array(colorsys.hsv_to_rgb(hue % 1.0, sat, val), dtype=np.float32) * 255

    colours = [
        rgb(sky_hue, rng.uniform(0.4, 0.9), rng.uniform(0.45, 0.8)),
        rgb(sky_hue + rng.uniform(-0.1, 0.1), rng.uniform(0.1, 0.5), rng.uniform(0.8, 1.0)),
        rgb(ground_hue, rng.uniform(0.4, 0.9), rng.uniform(0.2, 0.5)),
        rgb(ground_hue + rng.uniform(-0.15, 0.15), rng.uniform(0.3, 0.8), rng.uniform(0.5, 0.8)),
    ]
    colours += [rgb(rng.uniform(0, 1), rng.uniform(0.5, 1), rng.uniform(0.3, 1)) for _ in range(3)]
    return colours


def _fractal(rng: np.random.Generator, size: tuple[int, int], cells: int) -> np.ndarray:
    """Value noise in [0, 1] of shape (h, w): octaves of random grids, each twice as fine."""
    w, h = size
    gw, gh = max(2, cells), max(2, round(cells * h / w))
    field = rng.random((gh, gw), dtype=np.float32)
    amplitude = 0.5
    while gw * 2 <= w and amplitude > 0.03:
        gw, gh = gw * 2, min(gh * 2, max(h, 2))
        field = np.asarray(Image.fromarray(field).resize((gw, gh), Image.Resampling.BICUBIC))
        field = field + amplitude * (rng.random((gh, gw), dtype=np.float32) - 0.5)
        amplitude *= 0.5
    field = np.asarray(Image.fromarray(field).resize((w, h), Image.Resampling.BICUBIC))
    low, high = float(field.min()), float(field.max())
    return (field - low) / (high - low + 1e-6)


def _draw_shapes(image: Image.Image, rng: np.random.Generator, accents: list[np.ndarray]) -> None:
    """Sun, blobs, rectangles and polygons in the accent colours, drawn in place."""
    w, h = image.size
    draw = ImageDraw.Draw(image)
    scale = min(w, h)
    if rng.random() < 0.6:
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h * 0.4), rng.uniform(0.04, 0.1) * scale
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(255, 240, 200))
    for _ in range(int(rng.integers(4, 10))):
        colour = accents[int(rng.integers(len(accents)))] * rng.uniform(0.6, 1.1)
        fill = tuple(int(c) for c in colour.clip(0, 255))
        cx, cy = rng.uniform(0, w), rng.uniform(h * 0.2, h)
        rx, ry = rng.uniform(0.03, 0.2) * scale, rng.uniform(0.03, 0.2) * scale
        kind = rng.integers(3)
        if kind == 0:
            draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill)
        elif kind == 1:
            draw.rectangle((cx - rx, cy - ry, cx + rx, cy + ry), fill=fill, outline=(20, 20, 20))
        else:
            angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 8))))
            points = [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]
            draw.polygon(points, fill=fill)


def _add_grain(image: Image.Image, rng: np.random.Generator, strength: float) -> Image.Image:
    """Add luminance grain (a Gaussian noise tile, repeated over big images)."""
    w, h = image.size
    noise = rng.standard_normal((min(h, 251), min(w, 251)), dtype=np.float32)
    tile = (noise * np.float32(strength) + 128).clip(0, 255).astype(np.uint8)
    reps = (-(-h // tile.shape[0]), -(-w // tile.shape[1]))
    grain = Image.fromarray(np.tile(tile, reps)[:h, :w]).convert("RGB")
    return ImageChops.add(image.convert("RGB"), grain, scale=1.0, offset=-128)


def _capture_date(seed: int) -> str:
    moment = datetime(2020, 1, 1) + timedelta(hours=seed % 50_000)
    return moment.strftime("%Y:%m:%d %H:%M:%S")


def _exif_bytes(exif: Mapping[str | int, object], orientation: int | None = None) -> bytes:
    """EXIF block with tags by name or number; Exif-IFD tags go to their sub-IFD."""
    tags = Image.Exif()
    if orientation is not None:
        tags[ExifTags.Base.Orientation] = orientation
    for key, value in exif.items():
        tag = ExifTags.Base[key] if isinstance(key, str) else int(key)
        if tag >= _EXIF_IFD_TAGS_FROM and tag not in _IFD0_POINTERS:
            tags.get_ifd(ExifTags.IFD.Exif)[tag] = value
        else:
            tags[tag] = value
    return tags.tobytes()


def _write(path: Path, image: Image.Image, fmt: str, exif: Mapping[str | int, object]) -> Path:
    if fmt not in _SAVE_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {sorted(_SAVE_FORMATS)}")
    if _SAVE_FORMATS[fmt] == "JPEG":
        write_jpeg(path, image, exif=exif)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = image.convert("RGB")
    if fmt == "heic":
        import pillow_heif

        heif = pillow_heif.from_pillow(rgb)
        try:  # x265's default preset takes a second per small picture
            heif.save(path, quality=90, exif=_exif_bytes(exif), enc_params={"preset": "ultrafast"})
        except (ValueError, RuntimeError):  # another HEVC encoder: its own defaults
            heif.save(path, quality=90, exif=_exif_bytes(exif))
    elif fmt == "png":
        rgb.save(path, "PNG", compress_level=1, exif=_exif_bytes(exif))
    else:
        rgb.save(path, _SAVE_FORMATS[fmt], exif=_exif_bytes(exif))
    return path
