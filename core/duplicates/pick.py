"""The best photo of a group, and why: sharpness, exposure, noise, resolution, and for copies
of one picture the original over the re-encode."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from core.duplicates.pixels import Quality

# Weights of the criteria in the score (each criterion is scaled to about -1..1 in a group).
WEIGHTS = {"sharpness": 3.0, "resolution": 1.5, "clipping": 1.0, "noise": 0.7, "bytes": 0.5,
           "copies": 1.0}


@dataclass(frozen=True)
class Candidate:
    """One photo of a group as the pick sees it."""

    photo_id: int
    pixels: int  # width x height at full resolution
    size: int  # file size in bytes
    quality: Quality | None  # None: could not be read now
    copies: int = 0  # exact or re-encoded copies of it in the group (an original has some)


@dataclass(frozen=True)
class Pick:
    """The chosen photo, its score per photo, and the reasons in words."""

    photo_id: int
    scores: dict[int, float]
    reasons: tuple[str, ...]


def best(candidates: Sequence[Candidate], copies_only: bool) -> Pick:
    """The best candidate. ``copies_only``: every pair is an exact copy or a re-encode, so
    the original (most pixels, then most bytes per pixel) wins before image quality does."""
    if not candidates:
        raise ValueError("a group needs at least one photo")
    scores = {c.photo_id: _score(c, candidates) for c in candidates}
    if copies_only:
        winner = max(candidates, key=lambda c: (c.pixels, c.size / max(c.pixels, 1),
                                                scores[c.photo_id], -c.photo_id))
    else:
        winner = max(candidates, key=lambda c: (scores[c.photo_id], c.pixels, -c.photo_id))
    return Pick(winner.photo_id, scores, tuple(_reasons(winner, candidates, copies_only)))


def _spread(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    return low, (high - low) or 1.0


def _score(c: Candidate, group: Sequence[Candidate]) -> float:
    score = 0.0
    readable = [g for g in group if g.quality is not None]
    if c.quality is not None and readable:
        q = c.quality
        # within 1.4x of the sharpest counts as as sharp: blur costs, texture does not win
        sharpest = max(g.quality.sharpness for g in readable)  # type: ignore[union-attr]
        ratio = math.log2(max(q.sharpness, 1e-6) / max(sharpest, 1e-6)) + 0.5
        score += WEIGHTS["sharpness"] * max(-1.0, min(0.0, ratio))
        low, span = _spread([g.quality.clipped for g in readable])  # type: ignore[union-attr]
        score -= WEIGHTS["clipping"] * (q.clipped - low) / span
        low, span = _spread([g.quality.noise for g in readable])  # type: ignore[union-attr]
        score -= WEIGHTS["noise"] * (q.noise - low) / span
    else:
        score -= 10.0  # a photo that cannot be read is never the best
    low, span = _spread([math.log(max(g.pixels, 1)) for g in group])
    score += WEIGHTS["resolution"] * (math.log(max(c.pixels, 1)) - low) / span
    low, span = _spread([g.size / max(g.pixels, 1) for g in group])
    score += WEIGHTS["bytes"] * (c.size / max(c.pixels, 1) - low) / span
    most = max(g.copies for g in group)
    if most:  # edits are made from the original: the unedited picture comes first
        score += WEIGHTS["copies"] * c.copies / most
    return round(score, 4)


def _reasons(winner: Candidate, group: Sequence[Candidate], copies_only: bool) -> list[str]:
    others = [g for g in group if g.photo_id != winner.photo_id]
    out: list[str] = []
    if not others:
        return out
    if winner.pixels > max(o.pixels for o in others):
        out.append(f"highest resolution ({winner.pixels / 1e6:.1f} MP)")
    if copies_only and winner.pixels >= max(o.pixels for o in others):
        bpp = winner.size / max(winner.pixels, 1)
        if all(bpp > o.size / max(o.pixels, 1) for o in others if o.pixels == winner.pixels):
            out.append("the original: least compressed of the copies")
    q = winner.quality
    rest = [o.quality for o in others if o.quality is not None]
    if q is not None and rest:
        if q.sharpness > 1.2 * max(r.sharpness for r in rest):
            runner_up = max(r.sharpness for r in rest)
            out.append(f"sharpest (detail {q.sharpness:.0f} vs {runner_up:.0f})")
        if q.clipped + 0.01 < min(r.clipped for r in rest):
            out.append(f"least clipped ({q.clipped:.1%} of pixels)")
        if q.noise < 0.8 * min(r.noise for r in rest):
            out.append(f"least noise (sigma {q.noise:.1f})")
    return out or ["best overall balance of sharpness, exposure and noise"]
