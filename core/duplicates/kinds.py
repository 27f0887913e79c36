"""What a pair of photos is: exact copy, re-encode/resize, crop/edit, burst, same scene.

The embedding proposes the pair (it is within the model's radius); the kind comes from
cheap checks in order: content hash, EXIF capture time and camera, aspect ratio, an aligned
comparison of the pixels at low resolution, a search for one picture inside the other, and
last the embedding similarity for "same scene". Two photos whose EXIF capture times differ are
distinct shots (an edit or a copy keeps the original's time): a burst when one camera took
them within the burst gap (and they align), else at most "same scene", from a lower
similarity when one camera took them within a minute (a photographer recomposing).
Thresholds are per model (:func:`thresholds_for`); the pixel ones are the model's business of
no model.
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
    reencode_colour: float = 0.012  # and of its 8 x 8 colour thumbnails (re-encodes and
    # resizes measured <= 0.002, the mildest colour edit 0.032)
    edit_corr: float = 0.88  # aligned correlation of an exposure/colour/rotation edit
    crop_corr: float = 0.88  # correlation of one picture found inside the other
    burst_gap_s: float = 2.0  # most seconds between two frames of one burst
    burst_corr: float = 0.45  # aligned correlation two burst frames need at least
    scene_window_s: float = 86_400.0  # distinct shots further apart are not "one scene"
    moment_s: float = 60.0  # two shots one camera took at most this far apart: one moment
    moment_scene: float | None = None  # similarity from which two shots of one moment are
    # "same scene" (a photographer recomposing; None: ``scene``, as for shots further apart)
    neighbours: int = 16  # pairs a photo is proposed in by the graph, at most
    rotated_radius: float | None = None  # similarity from which a pair that may be a copy
    # rotated in its pixels (by 90, 180 or 270 degrees, which the CNN sees as less alike:
    # see :func:`may_be_rotated`) is proposed, among each photo's two nearest; None: only
    # ``radius``


DEFAULT = Thresholds()
RANDOM_WEIGHTS = replace(DEFAULT, radius=-1.0, scene=None, neighbours=6)
# Models with no calibration: the similarity scale of an unknown model (torchvision's, a
# fine-tuned file, random weights) says nothing, so the graph proposes each photo's nearest
# neighbours at any similarity (radius -1, the 6 nearest of each) and the pixel checks alone
# decide; "same scene" then needs the pixel layout to agree. Correct for any model, but
# every photo with a neighbour is read once: calibrate a model to make it fast.
UNCALIBRATED = RANDOM_WEIGHTS
# Per model key (see core.embed.models.model_key), from `python -m benchmarks.duplicates
# --embeddings MODEL --kinds-photos 22` (22 photos: 16 real, 6 generated scenes; 10 pairs
# each and the 231 pairs of two different photos; figures in benchmarks/README.md, issue
# 18). The rule (benchmarks.duplicates.suggest): radius 0.05 under the least similar copy
# or edit; scene 0.01 over the most similar two different photos; rotated_radius 0.05 under
# the least similar rotated copy; moment_scene where two views of one scene are found with
# precision >= 0.9 even if every two different photos were shot in the same minute.
MODEL_THRESHOLDS: dict[str, Thresholds] = {
    "efficientnet_lite0@imagenet": replace(DEFAULT, radius=0.74, scene=0.82,
                                           moment_scene=0.80, rotated_radius=0.39),
    "efficientnet_lite1@imagenet": replace(DEFAULT, radius=0.73, scene=0.86,
                                           moment_scene=0.83, rotated_radius=0.55),
    "efficientnet_lite2@imagenet": replace(DEFAULT, radius=0.70, scene=0.84,
                                           moment_scene=0.83, rotated_radius=0.43),
}


def thresholds_for(model_key: str) -> Thresholds:
    """The thresholds of an embedding model key such as ``efficientnet_lite1@imagenet``:
    its calibration, else :data:`UNCALIBRATED`."""
    return MODEL_THRESHOLDS.get(model_key, UNCALIBRATED)


def calibrated(model_key: str) -> bool:
    """Whether the model key has thresholds of its own."""
    return model_key in MODEL_THRESHOLDS


def same_shape(aspect_a: float, aspect_b: float) -> bool:
    """Whether two shapes (width / height) are equal within 2 %."""
    return abs(aspect_a - aspect_b) / max(aspect_a, aspect_b, 1e-9) < 0.02


def turned(aspect_a: float, aspect_b: float) -> bool:
    """Whether two shapes (width / height) are one another turned by a quarter: width and
    height swapped, within 2 %."""
    return aspect_a > 0 and aspect_b > 0 and abs(aspect_a * aspect_b - 1) < 0.02


def may_be_rotated(aspect_a: float, aspect_b: float, taken_a: str | None,
                   taken_b: str | None) -> bool:
    """Whether two photos could be one picture rotated in its pixels: their shapes are
    turned (90, 270 degrees) or equal (180), and their capture times do not say they are two
    shots (one is unknown, as when a rotating tool dropped the EXIF, or they are equal)."""
    if taken_a and taken_b and taken_a != taken_b:
        return False
    return turned(aspect_a, aspect_b) or same_shape(aspect_a, aspect_b)


def proposed(similarity: float, th: Thresholds, rotatable: bool = False) -> bool:
    """Whether an embedding similarity makes a pair a candidate: at least ``radius``, or
    for a pair that :func:`may_be_rotated`, at least ``rotated_radius``."""
    if similarity >= th.radius:
        return True
    return rotatable and th.rotated_radius is not None and similarity >= th.rotated_radius


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
        if _burst_times(facts, a, b, th) and corr >= th.burst_corr:
            return BURST  # (frames that do not align, the camera swung: a scene at most)
        if abs(a.taken - b.taken) > th.scene_window_s:  # type: ignore[operator]
            return None  # lookalikes from other days are not duplicates of any kind
        if th.scene is not None:
            return SCENE if facts.similarity >= _scene_floor(facts, a, b, th) else None
        alike = corr >= th.scene_layout or _crop(a, b, th)
        return SCENE if alike else None
    same_aspect = abs(a.aspect - b.aspect) / max(a.aspect, b.aspect) < 0.02
    if (same_aspect and corr >= th.reencode_corr and diff <= th.reencode_diff
            and colour_difference(a, b) <= th.reencode_colour):
        return REENCODE
    if corr >= th.edit_corr:
        return EDIT
    if _crop(a, b, th):
        return EDIT
    if th.scene is not None:
        return SCENE if facts.similarity >= th.scene else None
    return SCENE if corr >= th.scene_layout else None


def _scene_floor(facts: PairFacts, a: Signature, b: Signature, th: Thresholds) -> float:
    """The similarity two distinct shots need to be "same scene": ``moment_scene`` for two
    shots of one camera within ``moment_s`` (a scene is shot in a minute, the frames framed
    apart), else ``scene``."""
    assert th.scene is not None
    if (th.moment_scene is not None and facts.same_camera and a.taken is not None
            and b.taken is not None and abs(a.taken - b.taken) <= th.moment_s):
        return min(th.scene, th.moment_scene)
    return th.scene


def _crop(a: Signature, b: Signature, th: Thresholds) -> bool:
    """One picture is found inside the other (the second search only if the first fails)."""
    return contained(a, b) >= th.crop_corr or contained(b, a) >= th.crop_corr


def _shot_apart(a: Signature, b: Signature) -> bool:
    """Both capture times are known and differ (sub-seconds count)."""
    return a.taken is not None and b.taken is not None and a.taken != b.taken


def _burst_times(facts: PairFacts, a: Signature, b: Signature, th: Thresholds) -> bool:
    """Two frames shot apart by the same camera within the burst gap: a different capture
    time (sub-seconds count), not the same shot saved twice."""
    if not facts.same_camera or a.taken is None or b.taken is None:
        return False
    return 0 < abs(a.taken - b.taken) <= th.burst_gap_s
