"""What a pair of photos is: exact copy, re-encode/resize, crop/edit, burst, same scene.

The embedding proposes the pair (it is within the model's radius); the kind comes from
cheap checks in order: content hash, EXIF capture time and camera, aspect ratio, an aligned
comparison of the pixels at low resolution, a search for one picture inside the other, and
last the embedding similarity for "same scene". Two photos whose EXIF capture times differ are
distinct shots (an edit or a copy keeps the original's time): a burst when one camera took
them within the burst gap, else at most "same scene". Thresholds are per model
(:func:`thresholds_for`); the pixel ones are the model's business of no model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from core.duplicates.pixels import Signature, aligned, colour_difference, contained

EXACT = "exact"
REENCODE = "re-encode"
EDIT = "crop/edit"
BURST = "burst"
SCENE = "same scene"
KINDS = (EXACT, REENCODE, EDIT, BURST, SCENE)
STRENGTH = {EXACT: 0, REENCODE: 1, EDIT: 2, BURST: 3, SCENE: 4}  # groups form strongest first


@dataclass(frozen=True)
class Thresholds:
    """Where one kind ends and the next begins, for one embedding model.

    ``radius``: cosine similarity at which the neighbour graph proposes a pair; ``scene``:
    similarity from which a pair that is not a copy is "same scene" (None: the model has no
    semantics, e.g. random weights, and the pixel layout must agree, ``scene_layout``).
    """

    radius: float = 0.80
    scene: float | None = 0.88
    scene_layout: float = 0.80  # aligned correlation a same-scene pair needs without semantics
    reencode_corr: float = 0.97  # aligned correlation of a re-encode or resize
    reencode_diff: float = 0.035  # and its mean absolute pixel difference (0..1)
    edit_corr: float = 0.88  # aligned correlation of an exposure/colour/rotation edit
    crop_corr: float = 0.88  # correlation of one picture found inside the other
    burst_gap_s: float = 2.0  # most seconds between two frames of one burst
    burst_corr: float = 0.45  # aligned correlation two burst frames need at least
    scene_window_s: float = 86_400.0  # distinct shots further apart are not "one scene"


DEFAULT = Thresholds()
RANDOM_WEIGHTS = replace(DEFAULT, radius=-1.0, scene=None)
# Per model key prefix (see core.embed.models.model_key); calibrated with
# `python -m benchmarks.duplicates --kinds` where the weights are available.
# efficientnet_lite0 (real weights), `python -m benchmarks.duplicates --embeddings
# efficientnet_lite0 --kinds-photos 22` (22 photos, 2026-12-02): re-encodes >= 0.935, resizes
# >= 0.979, exposure/colour edits >= 0.919, crops (60-90%) >= 0.786; shifted views of one
# scene 0.748-0.909 (p10 0.800), unrelated photos 0.207-0.808 (the top ones: two generated
# scenes, which share a style). radius 0.74 keeps every copy and edit but pixel-rotated ones
# (0.44-0.90: the CNN is not rotation-invariant); scene 0.82 gives up a third of the shifted
# views to keep lookalike strangers (0.80-0.81 in a test library) out of duplicate groups.
MODEL_THRESHOLDS: dict[str, Thresholds] = {
    "efficientnet_lite0@": replace(DEFAULT, radius=0.74, scene=0.82),
}


def thresholds_for(model_key: str) -> Thresholds:
    """The thresholds of an embedding model key such as ``resnet50@IMAGENET1K_V2``."""
    if "@random" in model_key:
        return RANDOM_WEIGHTS
    for prefix, found in MODEL_THRESHOLDS.items():
        if model_key.startswith(prefix):
            return found
    return DEFAULT


@dataclass(frozen=True)
class PairFacts:
    """What is known about two photos apart from their pixels."""

    same_hash: bool
    similarity: float  # cosine of their embeddings
    same_camera: bool  # both have a camera name and it is the same


def classify(facts: PairFacts, a: Signature | None, b: Signature | None,
             th: Thresholds) -> str | None:
    """The kind of a pair, or None when it is no duplicate of any kind."""
    if facts.same_hash:
        return EXACT
    if a is None or b is None:  # unreadable now: only the embedding speaks
        return SCENE if th.scene is not None and facts.similarity >= th.scene else None
    corr, diff = aligned(a, b)
    if _shot_apart(a, b):  # edits and copies keep the original's capture time
        if _burst_times(facts, a, b, th):
            return BURST if corr >= th.burst_corr else None
        if abs(a.taken - b.taken) > th.scene_window_s:  # type: ignore[operator]
            return None  # lookalikes from other days are not duplicates of any kind
        if th.scene is not None:
            return SCENE if facts.similarity >= th.scene else None
        alike = corr >= th.scene_layout or max(contained(a, b), contained(b, a)) >= th.crop_corr
        return SCENE if alike else None
    same_aspect = abs(a.aspect - b.aspect) / max(a.aspect, b.aspect) < 0.02
    if (same_aspect and corr >= th.reencode_corr and diff <= th.reencode_diff
            and colour_difference(a, b) <= th.reencode_diff):
        return REENCODE
    if corr >= th.edit_corr:
        return EDIT
    if max(contained(a, b), contained(b, a)) >= th.crop_corr:
        return EDIT
    if th.scene is not None:
        return SCENE if facts.similarity >= th.scene else None
    return SCENE if corr >= th.scene_layout else None


def _shot_apart(a: Signature, b: Signature) -> bool:
    """Both capture times are known and differ (sub-seconds count)."""
    return a.taken is not None and b.taken is not None and a.taken != b.taken


def _burst_times(facts: PairFacts, a: Signature, b: Signature, th: Thresholds) -> bool:
    """Two frames shot apart by the same camera within the burst gap: a different capture
    time (sub-seconds count), not the same shot saved twice."""
    if not facts.same_camera or a.taken is None or b.taken is None:
        return False
    return 0 < abs(a.taken - b.taken) <= th.burst_gap_s
