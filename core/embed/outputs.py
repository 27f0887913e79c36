"""What a batch through the network gives: embeddings and, with real weights, the top
ImageNet classes (numpy only: used where torch is not loaded, e.g. on a cluster's workers)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

TOP_CLASSES = 5  # ImageNet classes kept per photo


@dataclass(frozen=True)
class Outputs:
    """One batch through the network: embeddings, the top classes when the weights are the
    real ImageNet ones (``classes``/``probs``: ``(n, TOP_CLASSES)``, best first), and the
    feature maps the embeddings were pooled from when asked for (``maps``, core.regions)."""

    vectors: NDArray[np.float32]
    classes: NDArray[np.int64] | None = None
    probs: NDArray[np.float32] | None = None
    maps: NDArray[np.float32] | None = None  # (n, channels, h, w): the last conv feature map


def from_numpy(features: NDArray[np.float32], logits: NDArray[np.float32] | None,
               maps: NDArray[np.float32] | None = None) -> Outputs:
    """L2-normalised ``features``, the top classes of ``logits`` (when given) and ``maps``."""
    classes = probs = None
    if logits is not None:
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        classes = np.argsort(-p, axis=1, kind="stable")[:, :TOP_CLASSES]
        probs = np.take_along_axis(p, classes, axis=1).astype(np.float32)
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return Outputs((features / np.maximum(norms, 1e-12)).astype(np.float32), classes, probs,
                   maps)
