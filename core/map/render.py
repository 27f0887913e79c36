"""Draw a cluster map as a PNG without Qt: points coloured by cluster (or any colouring),
or the photos' cached thumbnails at their positions, with a legend."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from core import thumbnails
from core.catalog import Catalog
from core.map.clusters import NONE_COLOUR, Colouring, by_cluster
from core.map.layout import MapResult
from core.map.spread import spread_on_grid
from core.video.store import frame_thumbnail_key

BACKGROUND = (27, 29, 34)  # the app's image-viewer grey
TEXT = (225, 228, 233)
DIM_TEXT = (150, 156, 166)
LEGEND_WIDTH = 280
MAX_THUMBNAILS = 2500


def render_png(
    result: MapResult,
    path: Path,
    *,
    catalog: Catalog | None = None,
    colouring: Colouring | None = None,
    thumbnails: bool = False,
    size: int = 1600,
    title: str = "",
    legend: bool = True,
) -> Path:
    """Write ``result`` as a ``size`` px wide PNG at ``path``; returns ``path``.

    ``thumbnails`` draws cached thumbnails (needs ``catalog``; photos without one stay
    dots) on a grid so they do not pile up. ``colouring`` defaults to the clusters;
    ``legend=False`` gives the plot the whole width.
    """
    colouring = colouring or by_cluster(result.clusters)
    width, height = size, round(size * 0.7)
    image = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(image)
    plot = (24, 56, width - (LEGEND_WIDTH if legend else 0) - 24, height - 24)
    pixels = _to_pixels(result.xy, plot)
    colours = np.array([*colouring.colours(), NONE_COLOUR], dtype=np.uint8)
    point_colours = colours[np.where(colouring.values >= 0, colouring.values, len(colours) - 1)]
    radius = max(1.0, min(5.0, 7.0 - 1.3 * math.log10(max(len(result), 1))))
    order = np.argsort(colouring.values >= 0, kind="stable")  # uncoloured points underneath
    for k in order:
        (x, y), rgb = pixels[k], point_colours[k]
        draw.ellipse((x - radius, y - radius, x + radius, y + radius),
                     fill=(int(rgb[0]), int(rgb[1]), int(rgb[2])))
    if thumbnails and catalog is not None:
        _draw_thumbnails(image, catalog, result, pixels, plot, point_colours)
    if legend:
        _draw_legend(draw, colouring, (width - LEGEND_WIDTH, 56, width - 16, height - 24))
    font = ImageFont.load_default(size=20)
    heading = title or f"{result.describe()} · {len(result.cluster_info)} clusters"
    draw.text((24, 18), heading, fill=TEXT, font=font)
    path = Path(path)
    image.save(path, "PNG", optimize=True)
    return path


def _to_pixels(xy: NDArray[np.float32], box: tuple[int, int, int, int]) -> NDArray[np.float64]:
    """Map coordinates to pixels in ``box``, keeping the aspect ratio, y up."""
    if not len(xy):
        return np.zeros((0, 2))
    lo, hi = xy.min(axis=0).astype(np.float64), xy.max(axis=0).astype(np.float64)
    span = np.maximum(hi - lo, 1e-9)
    scale = min((box[2] - box[0]) / span[0], (box[3] - box[1]) / span[1])
    centre = (lo + hi) / 2
    mid = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
    out = (xy - centre) * scale
    out[:, 1] = -out[:, 1]
    return out + mid


def _draw_thumbnails(image: Image.Image, catalog: Catalog, result: MapResult,
                     pixels: NDArray[np.float64], plot: tuple[int, int, int, int],
                     point_colours: NDArray[np.uint8]) -> None:
    """Cached thumbnails near their points, spread on a grid inside ``plot`` (one per cell:
    none hides another, none crosses the title or the image's edges), framed in the point's
    colour."""
    area = (plot[2] - plot[0]) * (plot[3] - plot[1])
    cell = int(max(28, min(120, math.sqrt(area / max(len(result), 1)) * 1.6)))
    hashes = {p.id: p.content_hash for p in catalog.photos(int(i) for i in result.ids)}
    paths = {k: thumbnails.thumbnail_path(  # a clip's point: its kept frame's own thumbnail
                 digest if (at := result.time_at(k)) is None else frame_thumbnail_key(digest, at))
             for k, i in enumerate(result.ids) if (digest := hashes.get(int(i)))}
    order = [k for k in np.random.default_rng(0).permutation(len(result)) if k in paths
             and paths[k].exists()][:MAX_THUMBNAILS]
    rows, centres = spread_on_grid(pixels, cell, bounds=plot, order=order)
    draw = ImageDraw.Draw(image)
    for k, (cx, cy) in zip(rows.tolist(), centres, strict=True):
        try:
            with Image.open(paths[k]) as thumb:
                thumb.thumbnail((cell - 6, cell - 6))
                tile = thumb.convert("RGB")
        except OSError:
            continue
        x, y = int(cx - tile.width / 2), int(cy - tile.height / 2)
        rgb = tuple(int(c) for c in point_colours[k])
        draw.rectangle((x - 2, y - 2, x + tile.width + 1, y + tile.height + 1), fill=rgb)
        image.paste(tile, (x, y))


def _draw_legend(draw: ImageDraw.ImageDraw, colouring: Colouring,
                 box: tuple[int, int, int, int]) -> None:
    font = ImageFont.load_default(size=15)
    draw.text((box[0], box[1]), colouring.name, fill=TEXT, font=font)
    y = box[1] + 28
    rows = max(1, (box[3] - y) // 22 - 1)
    entries = list(zip(colouring.legend, colouring.counts, colouring.colours(), strict=True))
    unassigned = int((colouring.values < 0).sum())
    for name, count, rgb in entries[:rows]:
        draw.ellipse((box[0], y + 4, box[0] + 11, y + 15), fill=rgb)
        draw.text((box[0] + 20, y), f"{name}", fill=TEXT, font=font)
        draw.text((box[2], y), f"{count:,}", fill=DIM_TEXT, font=font, anchor="ra")
        y += 22
    if len(entries) > rows:
        draw.text((box[0] + 20, y), f"… {len(entries) - rows} more", fill=DIM_TEXT, font=font)
        y += 22
    if unassigned:
        draw.ellipse((box[0], y + 4, box[0] + 11, y + 15), fill=NONE_COLOUR)
        label = "no cluster" if colouring.name == "Cluster" else "none"
        draw.text((box[0] + 20, y), label, fill=DIM_TEXT, font=font)
        draw.text((box[2], y), f"{unassigned:,}", fill=DIM_TEXT, font=font, anchor="ra")
