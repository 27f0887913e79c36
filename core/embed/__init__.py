"""Embedding photos: the pipeline (:mod:`~core.embed.pipeline`: decode threads feeding batches),
the CNN (:mod:`~core.embed.cnn`), the model registry (:mod:`~core.embed.models`) and the way
torch is loaded (:mod:`~core.embed.torch_loader`). torch loads only when a model is built."""

from core.embed.pipeline import (
    EmbedResult,
    decode_workers,
    embed_missing,
    read_photo,
    torch_threads,
)

__all__ = ["EmbedResult", "decode_workers", "embed_missing", "read_photo", "torch_threads"]
