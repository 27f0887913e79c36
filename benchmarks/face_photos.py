"""Real faces from ../shared/photos, and photos made from them for the people tests.

Each source is a face found (and checked by eye) in one of the camera samples: seven
different people. :func:`variants` makes "several photos of the same face" from one the
way a library has them: other crops and framings, sizes, mirrored, darker and brighter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance, ImageOps

# name: (file under photos/exif-samples, face box left, top, side in upright pixels)
SOURCES: dict[str, tuple[str, int, int, int]] = {
    "best_man": ("jpg/exif-org/canon-ixus.jpg", 329, 222, 32),
    "bride": ("jpg/exif-org/canon-ixus.jpg", 300, 217, 27),
    "groom": ("jpg/exif-org/canon-ixus.jpg", 253, 202, 32),
    "devil": ("jpg/exif-org/kodak-dc210.jpg", 289, 230, 55),
    "orange": ("jpg/exif-org/sony-cybershot.jpg", 101, 89, 38),
    "shop": ("jpg/exif-org/sony-d700.jpg", 242, 126, 33),
    "dudley": ("tiff/DudleyLeavittUtah.tiff", 68, 62, 66),
}


def source(photos: Path, name: str) -> tuple[Image.Image, tuple[int, int, int]]:
    """The upright photo holding face ``name``, and the face's box (left, top, side)."""
    file, left, top, side = SOURCES[name]
    image = ImageOps.exif_transpose(Image.open(photos / "exif-samples" / file)).convert("RGB")
    return image, (left, top, side)


@dataclass(frozen=True)
class Variant:
    """A photo made from a source photo, and where it came from (to map boxes back)."""

    image: Image.Image
    file: str
    left: float  # the crop's corner in the source photo
    top: float
    scale: float  # variant pixels per source pixel
    mirrored: bool

    def source_centre(self, x: float, y: float, w: float, h: float) -> tuple[float, float]:
        """The centre, in source-photo pixels, of a box relative to this variant."""
        cx, cy = (x + w / 2) * self.image.width, (y + h / 2) * self.image.height
        if self.mirrored:
            cx = self.image.width - cx
        return self.left + cx / self.scale, self.top + cy / self.scale


def variants(photos: Path, name: str, count: int = 4, seed: int = 0) -> list[Variant]:
    """``count`` different photos of face ``name``: a crop around it (3-5 face sizes,
    off-centre), scaled so the face is 110-190 px, every other one mirrored, exposure
    from 0.65x to 1.45x. Other people near the face may be in the picture too."""
    image, (left, top, side) = source(photos, name)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        span = side * rng.uniform(3.0, 5.0)
        cx = left + side / 2 + rng.uniform(-0.6, 0.6) * side
        cy = top + side / 2 + rng.uniform(-0.4, 0.4) * side
        box = (round(cx - span / 2), round(cy - span / 2),
               round(cx + span / 2), round(cy + span / 2))
        crop = image.crop(box)
        scale = rng.uniform(110, 190) / side
        photo = crop.resize((round(crop.width * scale),) * 2, Image.Resampling.BICUBIC)
        if i % 2:
            photo = ImageOps.mirror(photo)
        photo = ImageEnhance.Brightness(photo).enhance(float(rng.uniform(0.65, 1.45)))
        out.append(Variant(photo, SOURCES[name][0], box[0], box[1],
                           photo.width / crop.width, bool(i % 2)))
    return out


def who(file: str, x: float, y: float) -> str | None:
    """The known person whose face (in source photo ``file``) holds the point (x, y)."""
    for name, (source_file, left, top, side) in SOURCES.items():
        if source_file == file and left <= x <= left + side and top <= y <= top + side:
            return name
    return None


def write_set(photos: Path, folder: Path, names: list[str],
              count: int = 4) -> dict[str, Variant]:
    """Write ``count`` variants of each face as JPEGs in ``folder``; {file name: variant}."""
    folder.mkdir(parents=True, exist_ok=True)
    made = {}
    for k, name in enumerate(names):
        for i, variant in enumerate(variants(photos, name, count, seed=k)):
            file = f"{name}_{i}.jpg"
            variant.image.save(folder / file, quality=90)
            made[file] = variant
    return made
