"""Thumbnails spread on a grid: one per cell, near their points, inside the bounds."""

from __future__ import annotations

import numpy as np

from core.map.spread import spread_on_grid, thumbnail_side


def two_piles(n: int = 24) -> np.ndarray:
    """What UMAP made of 24 real photos: two tight piles a long way apart (pixels)."""
    rng = np.random.default_rng(1)
    centres = np.array([[300.0, 400.0], [900.0, 420.0]])
    return centres[np.arange(n) % 2] + rng.normal(0, 3, (n, 2))


def test_two_piles_open_up_without_overlaps() -> None:
    points = two_piles()
    rows, centres = spread_on_grid(points, 100)
    assert sorted(rows.tolist()) == list(range(24))  # every photo gets a thumbnail
    cells = {(round(x / 100 - 0.5), round(y / 100 - 0.5)) for x, y in centres}
    assert len(cells) == 24  # one per cell: none hides another
    gaps = np.abs(centres - points[rows]).max(axis=1)
    assert gaps.max() <= 3.5 * 100  # near its point (at most three cells away)
    assert np.abs(centres[:, 0] - 300).min() < 100 and np.abs(centres[:, 0] - 900).min() < 100


def test_bounds_keep_whole_cells_inside_and_order_chooses_first() -> None:
    points = np.array([[5.0, 5.0], [6.0, 6.0], [995.0, 795.0], [500.0, 400.0]])
    bounds = (20.0, 60.0, 980.0, 780.0)
    rows, centres = spread_on_grid(points, 80, bounds=bounds, order=[1, 0, 2, 3])
    assert rows.tolist()[0] == 1  # the first in order keeps the nearest cell
    assert len(rows) == 4
    assert (centres[:, 0] - 40 >= bounds[0]).all() and (centres[:, 0] + 40 <= bounds[2]).all()
    assert (centres[:, 1] - 40 >= bounds[1]).all() and (centres[:, 1] + 40 <= bounds[3]).all()


def test_a_crowd_leaves_dots_and_the_size_follows_the_room() -> None:
    crowd = np.full((200, 2), 500.0)
    rows, _ = spread_on_grid(crowd, 50, max_ring=2)
    assert len(rows) == 25  # a 5 × 5 block; the rest stay dots
    assert thumbnail_side(10, 1000, 800) == 112
    assert 28 <= thumbnail_side(300, 1000, 800) < 112
    assert thumbnail_side(5000, 1000, 800) == 0  # too crowded: dots
