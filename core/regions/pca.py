"""The reduction of region descriptors: a whitened PCA learned on the library's own regions.

A raw region descriptor is the mean of the feature map over the region (1280-d for the
default model); stored, it is its whitened projection on the leading axes (128-d, int8 in
steps of :data:`CODE_STEP`: each axis has at most unit variance), so a photo's 30 regions
fit in 4 KB. 128 axes found a pasted object's photos in the top 10 a quarter more often than
64 (benchmarks/README.md, regions). The projection is kept unnormalised, so that
:meth:`RegionReduction.restore` maps it back into the embedding space exactly within the
kept axes (a head trained on embeddings scores regions through it).
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

DIM = 128  # kept axes
CODE_STEP = 1 / 32  # a stored code's unit: int8 codes cover +-3.97 (whitened: sd <= 1)
# Whitening divides each axis by sqrt(eigenvalue + SHRINK * mean eigenvalue): full whitening
# blows up the weak axes' noise, more so when the reduction is learned on few photos.
SHRINK = 0.1


@dataclass(frozen=True)
class RegionReduction:
    """``code = ((x / |x|) - mean) @ axes.T * scales`` and back."""

    mean: NDArray[np.float32]  # (channels,)
    axes: NDArray[np.float32]  # (dim, channels), orthonormal rows
    scales: NDArray[np.float32]  # (dim,)
    photos: int  # how many photos it was learned on

    @property
    def dim(self) -> int:
        return len(self.scales)

    def reduce(self, raw: NDArray[np.float32]) -> NDArray[np.float32]:
        """Codes ``(..., dim)`` of raw descriptors ``(..., channels)`` (not normalised)."""
        x = unit_rows(raw)
        with one_blas_thread():
            return ((x - self.mean) @ self.axes.T * self.scales).astype(np.float32)

    def restore(self, codes: NDArray[np.floating]) -> NDArray[np.float32]:
        """Unit vectors ``(..., channels)`` in the embedding space of codes ``(..., dim)``."""
        with one_blas_thread():
            x = (np.asarray(codes, np.float32) / self.scales) @ self.axes + self.mean
        return unit_rows(x)


def one_blas_thread() -> AbstractContextManager[object]:
    """BLAS on one thread: a batch's reduction is a small product, which OpenBLAS's threads
    made 20-60x slower on the busy 2-core machine (180 ms a batch of 8 instead of 3)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - scikit-learn is a dependency
        return nullcontext()
    return threadpool_limits(1, user_api="blas")


def encode(codes: NDArray[np.floating]) -> NDArray[np.int8]:
    """Codes as stored: int8 in steps of :data:`CODE_STEP` (clipped)."""
    return np.clip(np.round(np.asarray(codes, np.float32) / CODE_STEP), -127, 127
                   ).astype(np.int8)


def decode_codes(blob: bytes, regions: int, dim: int) -> NDArray[np.float32]:
    """Stored codes ``(regions, dim)``: int8 (:func:`encode`) or, written before they were,
    float16 (told apart by the blob's length)."""
    if len(blob) == regions * dim:
        return np.frombuffer(blob, np.int8).reshape(regions, dim).astype(np.float32) * CODE_STEP
    return np.frombuffer(blob, np.float16).reshape(regions, -1).astype(np.float32)


def unit_rows(x: NDArray[np.floating]) -> NDArray[np.float32]:
    """``x`` with its last axis L2-normalised (zeros stay zeros)."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


class Moments:
    """Running mean and covariance of unit-normalised raw descriptors, fed in blocks (so
    learning a reduction holds one block, whatever the number of photos)."""

    def __init__(self) -> None:
        self.n = 0
        self.photos = 0
        self.total: NDArray[np.float64] | None = None
        self.outer: NDArray[np.float64] | None = None

    def add(self, raw: NDArray[np.floating], photos: int) -> None:
        """Add raw descriptors ``(n, channels)`` of ``photos`` photos."""
        x = unit_rows(raw).astype(np.float64)
        if self.total is None or self.outer is None:
            self.total = np.zeros(x.shape[1])
            self.outer = np.zeros((x.shape[1], x.shape[1]))
        self.total += x.sum(axis=0)
        self.outer += x.T @ x
        self.n += len(x)
        self.photos += photos

    def fit(self, dim: int = DIM) -> RegionReduction:
        """The whitened PCA of what was added."""
        if self.total is None or self.outer is None or not self.n:
            raise ValueError("no descriptors to learn a reduction from")
        mean = self.total / self.n
        cov = (self.outer - self.n * np.outer(mean, mean)) / max(1, self.n - 1)
        eigvals, eigvecs = np.linalg.eigh(cov)  # ascending
        keep = max(1, min(dim, self.n - 1, len(mean)))
        order = np.argsort(eigvals)[::-1][:keep]
        values = np.maximum(eigvals[order], 0.0)
        scales = 1.0 / np.sqrt(values + SHRINK * max(float(values.mean()), 1e-12))
        return RegionReduction(mean.astype(np.float32), eigvecs[:, order].T.astype(np.float32),
                               scales.astype(np.float32), self.photos)


def fit_reduction(raw: NDArray[np.float32], photos: int, dim: int = DIM) -> RegionReduction:
    """Learn the reduction from raw descriptors ``(n, channels)`` of ``photos`` photos."""
    moments = Moments()
    moments.add(raw, photos)
    return moments.fit(dim)


class CodeMoments:
    """Running mean and covariance of stored codes, unwhitened (``codes / scales``: the
    coordinates of the raw descriptors on the reduction's axes), fed in blocks."""

    def __init__(self, reduction: RegionReduction) -> None:
        self.reduction = reduction
        self.n = 0
        self.total = np.zeros(reduction.dim)
        self.outer = np.zeros((reduction.dim, reduction.dim))

    def add(self, codes: NDArray[np.floating]) -> None:
        y = np.asarray(codes, np.float64) / self.reduction.scales
        self.total += y.sum(axis=0)
        self.outer += y.T @ y
        self.n += len(y)


@dataclass(frozen=True)
class Relearned:
    """A reduction learned again from the stored codes, and how to turn old codes into its
    own: ``new = (old / old scales - shift) @ rotation * new scales``."""

    reduction: RegionReduction
    shift: NDArray[np.float32]
    rotation: NDArray[np.float32]
    old_scales: NDArray[np.float32]

    def recode(self, codes: NDArray[np.floating]) -> NDArray[np.float32]:
        """Old codes ``(n, dim)`` as codes of the new reduction."""
        y = np.asarray(codes, np.float32) / self.old_scales - self.shift
        with one_blas_thread():
            return (y @ self.rotation * self.reduction.scales).astype(np.float32)


def relearn(moments: CodeMoments, photos: int) -> Relearned:
    """The whitened PCA of the library as it is now, from its stored codes (the raw
    descriptors are gone): within the old reduction's axes, a new mean, new axes (a rotation
    of the old ones) and new scales. Exact there: the codes are the raw descriptors'
    coordinates on those axes."""
    old = moments.reduction
    if moments.n < 2:
        raise ValueError("too few regions to learn the reduction again")
    mean_y = moments.total / moments.n
    cov = (moments.outer - moments.n * np.outer(mean_y, mean_y)) / (moments.n - 1)
    eigvals, eigvecs = np.linalg.eigh(cov)
    order = np.argsort(eigvals)[::-1]
    values = np.maximum(eigvals[order], 0.0)
    rotation = eigvecs[:, order]
    scales = 1.0 / np.sqrt(values + SHRINK * max(float(values.mean()), 1e-12))
    reduction = RegionReduction(
        (old.mean + mean_y @ old.axes).astype(np.float32),
        (rotation.T @ old.axes).astype(np.float32), scales.astype(np.float32), photos)
    return Relearned(reduction, mean_y.astype(np.float32), rotation.astype(np.float32),
                     old.scales)
