"""The photos of the quality benchmark: fetched, checked by hand, cached, cut into tiles.

The photos are real: ``../shared/photos`` plus what Debian's wallpaper packages ship
(:data:`PACKAGES`), fetched with ``apt-get download`` and unpacked with ``dpkg-deb -x`` into
a cache, never committed. ``quality_manifest.tsv`` (committed) names each distinct picture
(one size of each wallpaper; colour/dark twins, portrait re-crops, logos and diagrams left
out), its everyday group (checked by looking at every picture) and its role in the
near-duplicate protocol: ``original`` (edited copies of it are the queries) or ``tiles``
(the picture, and the tiles cut from it, are distractors). Each picture is decoded once with
the product's decoder into a working copy (longer side :data:`WORK_SIDE`; tile sources
:data:`SOURCE_SIDE`) kept in the cache.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from core import decode
from core.decode.pixels import fit

log = logging.getLogger(__name__)

PACKAGES = ("plasma-workspace-wallpapers", "gnome-backgrounds", "mate-backgrounds",
            "ukui-wallpapers", "lomiri-wallpapers", "lomiri-wallpapers-16.04",
            "lomiri-wallpapers-20.04")
MANIFEST = Path(__file__).with_name("quality_manifest.tsv")
SHARED_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "photos"
WORK_SIDE = 1024  # longer side of an original's working copy (about 0.7 megapixels)
SOURCE_SIDE = 2048  # longer side a tile source is decoded at before it is cut
TILE_GRIDS = (2, 3, 4)  # with the shifted 3 x 3 grid, a source gives 1 + 4 + 9 + 16 + 4 = 34
ORIGINAL, TILES, OTHER = "original", "tiles", "other"


def default_cache() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "lookalike-bench" / "quality"


@dataclass(frozen=True)
class Entry:
    """One line of the manifest."""

    source: str  # a Debian package name, or "shared" for ../shared/photos
    path: str  # inside the unpacked package, or inside shared/photos
    group: str  # everyday group; "other" takes part in near-duplicates only
    role: str  # ORIGINAL or TILES

    @property
    def name(self) -> str:
        stem = f"{self.source}/{self.path}".replace("/usr/share/", "/")
        return stem.replace("/", "_").replace(" ", "_")


@dataclass(frozen=True)
class Item:
    """An image of the benchmark, made on demand (only when an embedding is missing)."""

    name: str
    make: Callable[[], Image.Image]
    group: str = OTHER


def load_manifest(path: Path = MANIFEST) -> list[Entry]:
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            source, rel, group, role = line.split("\t")
            entries.append(Entry(source, rel, group, role))
    return entries


def fetch_packages(cache: Path, packages: tuple[str, ...] = PACKAGES) -> None:
    """``apt-get download`` and ``dpkg-deb -x`` each package not yet unpacked in the cache.

    Raises RuntimeError saying what to do when apt-get or dpkg-deb cannot be used.
    """
    debs, unpacked = cache / "debs", cache / "packages"
    debs.mkdir(parents=True, exist_ok=True)
    for name in packages:
        target = unpacked / name
        if (target / ".done").exists():
            continue
        if not any(debs.glob(f"{name}_*.deb")):
            log.info("apt-get download %s", name)
            _run(["apt-get", "download", name], debs)
        deb = sorted(debs.glob(f"{name}_*.deb"))[-1]
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        _run(["dpkg-deb", "-x", str(deb), str(target)], debs)
        (target / ".done").touch()


def _run(command: list[str], cwd: Path) -> None:
    if shutil.which(command[0]) is None:
        raise RuntimeError(f"{command[0]} is not available: the full benchmark needs a Debian "
                           "or Ubuntu system (or run --quick, which uses ../shared/photos).")
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-500:]} "
                           "(run `apt-get update` once first).")


def source_file(entry: Entry, cache: Path, shared: Path = SHARED_PHOTOS) -> Path:
    if entry.source == "shared":
        return shared / entry.path
    return cache / "packages" / entry.source / entry.path


def working_copy(entry: Entry, cache: Path, shared: Path = SHARED_PHOTOS) -> Path:
    """The entry decoded by the product's decoder (EXIF orientation, ICC to sRGB), fitted in
    :data:`WORK_SIDE` (:data:`SOURCE_SIDE` for tile sources), as a JPEG in the cache."""
    side = SOURCE_SIDE if entry.role == TILES else WORK_SIDE
    out = cache / f"work{side}" / f"{entry.name}.jpg"
    if not out.exists():
        decoded = decode.decode_file(source_file(entry, cache, shared), min_side=side)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        fit(decoded.image, side).save(tmp, "JPEG", quality=95)
        tmp.replace(out)
    return out


def open_rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def tiles(image: Image.Image, grids: tuple[int, ...] = TILE_GRIDS) -> Iterator[Image.Image]:
    """The tiles of an n x n grid for each n, then the inner tiles of a 3 x 3 grid shifted
    by half a tile (overlapping the others by a quarter), each fitted in :data:`WORK_SIDE`."""
    w, h = image.size
    cells = [(n, row, col, 0.0) for n in grids for row in range(n) for col in range(n)]
    cells += [(3, row, col, 0.5) for row in range(2) for col in range(2)]
    for n, row, col, shift in cells:
        left, top = (col + shift) * w / n, (row + shift) * h / n
        box = (round(left), round(top), round(left + w / n), round(top + h / n))
        yield fit(image.crop(box), WORK_SIDE)


@functools.lru_cache(maxsize=2)
def _tiles_of(path: Path) -> list[Image.Image]:
    return list(tiles(open_rgb(path)))


def tile_items(entry: Entry, path: Path) -> list[Item]:
    """The distractors cut from one tile source: the whole picture and its tiles."""
    n_tiles = sum(n * n for n in TILE_GRIDS) + 4

    def whole() -> Image.Image:
        return fit(open_rgb(path), WORK_SIDE)

    def tile(i: int) -> Callable[[], Image.Image]:
        return lambda: _tiles_of(path)[i]

    return ([Item(f"d:{entry.name}", whole, entry.group)]
            + [Item(f"d:{entry.name}:t{i}", tile(i)) for i in range(n_tiles)])
