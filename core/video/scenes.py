"""Keeping one frame per scene: a cheap signature picks candidates, the embedding confirms.

The signature of a frame (:func:`signature`, ~1 ms on a 256 px frame) is its colour
histogram (64 bins, 2 bits a channel: a pan or a zoom over one scene barely moves it) and
its 8 x 8 grey layout (a cut between two scenes of similar colours moves that). A frame whose
signature is far enough from the last kept frame's is a *candidate*; the CNN embeds it and it
is kept if its embedding is far enough from the last kept frame's too (the embedding knows
that a pan across the same beach is still the beach). Kept frames are at least
``min_gap`` seconds apart and at most ``max_frames`` a clip; the first frame is always kept.

The thresholds were chosen on clips made from real photos (``benchmarks/video.py`` prints
the figures): over 10 s of a slow pan the histogram moves by < 0.15 and the layout by < 0.15; a
cut between two photos moves the histogram by 0.3-0.9.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

HIST_BINS = 64  # 4 levels a channel
LAYOUT = 8  # the grey layout's side
SIGNATURE_SIZE = HIST_BINS + LAYOUT * LAYOUT


@dataclass(frozen=True)
class SceneOptions:
    """How many frames a clip keeps (Preferences > Video)."""

    min_gap: float = 2.0  # seconds between two kept frames, at least
    max_frames: int = 200  # kept frames a clip, at most
    sample_every: float = 0.5  # seconds between two frames looked at, at least
    histogram_change: float = 0.25  # total-variation distance of the colour histograms
    layout_change: float = 0.2  # mean absolute difference of the grey layouts (0-1)
    embedding_change: float = 0.2  # of the model's distance between unrelated pictures


def signature(pixels: NDArray[np.uint8]) -> NDArray[np.float32]:
    """A frame's signature: its normalised 64-bin colour histogram, then its 8 x 8 grey
    layout in 0-1 (``SIGNATURE_SIZE`` floats)."""
    q = (pixels >> 6).astype(np.uint8)
    codes = (q[..., 0] << 4) | (q[..., 1] << 2) | q[..., 2]
    hist = np.bincount(codes.ravel(), minlength=HIST_BINS).astype(np.float32)
    hist /= max(1.0, float(hist.sum()))
    grey = pixels.mean(axis=2, dtype=np.float32)
    h, w = grey.shape
    rows = np.array_split(np.arange(h), LAYOUT)
    cols = np.array_split(np.arange(w), LAYOUT)
    layout = np.array([[grey[r[0]:r[-1] + 1, c[0]:c[-1] + 1].mean() for c in cols]
                       for r in rows], dtype=np.float32) / 255.0
    return np.concatenate([hist, layout.ravel()])


def signature_change(a: NDArray[np.floating], b: NDArray[np.floating]) -> tuple[float, float]:
    """(histogram distance, layout distance) between two signatures, each in 0-1."""
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    hist = 0.5 * float(np.abs(a[:HIST_BINS] - b[:HIST_BINS]).sum())
    layout = float(np.abs(a[HIST_BINS:] - b[HIST_BINS:]).mean())
    return hist, layout


@dataclass
class SceneKeeper:
    """The state of the frame choice along one clip (resumable: see :meth:`restore`)."""

    options: SceneOptions
    unrelated_distance: float  # the model's cosine distance between unrelated pictures
    kept: int = 0
    last_time: float = -np.inf
    last_signature: NDArray[np.float32] | None = None
    last_vector: NDArray[np.float32] | None = None

    def restore(self, kept: int, time: float, sig: NDArray[np.floating],
                vector: NDArray[np.floating]) -> None:
        """Continue after an interruption, from the last frame kept before it."""
        self.kept = kept
        self.last_time = time
        self.last_signature = np.asarray(sig, np.float32)
        self.last_vector = np.asarray(vector, np.float32)

    @property
    def full(self) -> bool:
        return self.kept >= self.options.max_frames

    def is_candidate(self, time: float, sig: NDArray[np.float32]) -> bool:
        """Whether the frame at ``time`` may start a new scene (the cheap test)."""
        if self.full:
            return False
        if self.last_signature is None:
            return True
        if time - self.last_time < self.options.min_gap:
            return False
        hist, layout = signature_change(self.last_signature, sig)
        return hist >= self.options.histogram_change or layout >= self.options.layout_change

    def confirm(self, time: float, sig: NDArray[np.float32], vector: NDArray[np.float32]
                ) -> bool:
        """Whether a candidate is kept (its embedding differs enough); updates the state."""
        if self.last_vector is not None:
            distance = 1.0 - float(np.dot(self.last_vector, vector))
            if distance < self.options.embedding_change * self.unrelated_distance:
                return False
        self.kept += 1
        self.last_time = time
        self.last_signature = sig
        self.last_vector = np.asarray(vector, np.float32)
        return True
