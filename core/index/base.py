"""What every index backend shares: :class:`Hit`, the :class:`Index` protocol and helpers for
input checks, top-k selection and atomic saves. Import the public names from :mod:`core.index`.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

import numpy as np
from numpy.typing import NDArray

from core.files import atomic_write

CHUNK = 16_384  # rows converted / scored at a time, bounds temporary memory (~128 MB at 2048-d)


@dataclass(frozen=True)
class Hit:
    """One search result: a photo and its cosine similarity to the query; for a video clip,
    ``time`` is the moment (seconds) of its best-matching kept frame; for a region search,
    ``box`` is its best-matching region (x, y, w, h relative to the upright photo)."""

    photo_id: int
    score: float
    time: float | None = None
    box: tuple[float, float, float, float] | None = None


class Index(Protocol):
    """A nearest-neighbour index over photo embeddings (see STYLE.md section 5)."""

    name: ClassVar[str]

    def build(self, ids: NDArray[np.int64], vectors: NDArray[np.floating]) -> None: ...

    def query(
        self, vector: NDArray[np.floating], k: int, exclude: Collection[int] = ()
    ) -> list[Hit]: ...

    def save(self, path: Path) -> None: ...

    @classmethod
    def load(cls, path: Path) -> Self: ...

    def __len__(self) -> int: ...


def check_build(ids: NDArray[Any], vectors: NDArray[Any]) -> NDArray[np.int64]:
    """Validate build inputs; return the ids as an int64 array. Raises ValueError."""
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a 2-D array (n, dim), got shape {vectors.shape}")
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"ids must be a 1-D integer array, got {ids.dtype} {ids.shape}")
    if len(ids) != len(vectors):
        raise ValueError(f"got {len(ids)} ids but {len(vectors)} vectors")
    if len(np.unique(ids)) != len(ids):
        raise ValueError("ids must be unique")
    return ids.astype(np.int64, copy=True)


def chunks(n: int, size: int = CHUNK) -> Iterator[slice]:
    """Consecutive slices of at most `size` rows covering range(n)."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def normalised_rows(vectors: NDArray[np.floating]) -> NDArray[np.float32]:
    """Float32, C-contiguous, L2-normalised copy of `vectors`, converted in chunks."""
    out = np.empty(vectors.shape, dtype=np.float32)
    for sl in chunks(len(vectors)):
        block = out[sl]
        block[...] = vectors[sl]
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        if not np.all(np.isfinite(norms)) or np.any(norms == 0):
            raise ValueError("vectors contain a zero, NaN or infinite row")
        block /= norms
    return out


def check_k(k: int) -> None:
    """Raise ValueError unless k >= 1."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")


def check_query(vector: NDArray[np.floating], dim: int, k: int) -> NDArray[np.float32]:
    """Validate a query; return it as a normalised float32 vector. Raises ValueError."""
    check_k(k)
    v = np.asarray(vector, dtype=np.float32)
    if v.shape != (dim,):
        raise ValueError(f"query vector must have shape ({dim},), got {v.shape}")
    norm = float(np.linalg.norm(v))
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("query vector is zero, NaN or infinite")
    return v / norm


def matvec(matrix: NDArray[np.float32], vector: NDArray[np.float32],
           out: NDArray[np.float32] | None = None) -> NDArray[np.float32]:
    """matrix @ vector on this thread, for the small products of a query (< ~1 MB).

    OpenBLAS hands any product over ~9k elements to its worker threads; on busy cores a query
    then waits for a worker to be scheduled: measured at 100k (load 3), a 256 x 2048 projection
    took 2.5-6.8 ms a query in a loop vs 0.09 ms here. einsum's own loop uses no BLAS.
    """
    return np.einsum("ij,j->i", matrix, vector, out=out)


def exclude_array(exclude: Collection[int]) -> NDArray[np.int64]:
    """The ids of `exclude`, sorted and unique."""
    return np.unique(np.fromiter(exclude, dtype=np.int64, count=len(exclude)))


def top(scores: NDArray[np.float32], k: int) -> NDArray[np.intp]:
    """Positions of the k largest scores, best first (ties by position)."""
    if k < len(scores):
        part = np.argpartition(-scores, k - 1)[:k]
        return part[np.lexsort((part, -scores[part]))]
    return np.argsort(-scores, kind="stable")


def hits(ids: NDArray[np.int64], scores: NDArray[np.float32], order: NDArray[np.intp],
         excluded: NDArray[np.int64], k: int) -> list[Hit]:
    """Hits for `order` (best first) with excluded ids dropped, at most k."""
    if len(excluded):
        order = order[~np.isin(ids[order], excluded)]
    order = order[:k]
    return [Hit(int(i), float(s)) for i, s in zip(ids[order], scores[order], strict=True)]




def save_npz(path: Path, arrays: dict[str, NDArray[Any]]) -> None:
    """Write `arrays` to one uncompressed .npz file, atomically."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]  # numpy's stub misreads **kwds

    atomic_write(path, write)


def save_npy(path: Path | str, array: NDArray[Any]) -> None:
    """Write one array as .npy (so it can be mmapped back), not atomically: see atomic_write."""
    with open(path, "wb") as f:
        np.save(f, array)


def load_npy(path: Path, shape: tuple[int, int], dtype: type[np.generic]) -> NDArray[Any]:
    """Map an array written by :func:`save_npy` read-only (an empty `shape` array if it has no
    rows). A plain ndarray view of the map: np.memmap's subclass hooks cost ~1 us per slice."""
    if not shape[0]:
        return np.empty(shape, dtype=dtype)
    return np.asarray(np.load(path, mmap_mode="r"))


_NPY_HEADER = 128  # bytes: room for any 2-D shape, so the header can be rewritten in place


def _npy_header(shape: tuple[int, int], descr: str) -> bytes:
    """A .npy (version 1.0) header of exactly :data:`_NPY_HEADER` bytes."""
    text = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': ({shape[0]}, {shape[1]}), }}"
    body = text.ljust(_NPY_HEADER - 11) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body.encode("latin1")


def stream_npy(path: Path | str, blocks: Iterable[NDArray[Any]], dtype: type[np.generic]
               ) -> Iterator[NDArray[Any]]:
    """Write ``blocks`` (rows of one width) to ``path`` as one .npy array as they pass
    through (each block is yielded after it is written, converted to ``dtype``); the file
    holds the whole array once the iteration ends. Only one block is ever in memory."""
    descr = str(np.lib.format.dtype_to_descr(np.dtype(dtype)))  # a plain dtype: a str
    rows, width = 0, 0
    with open(path, "wb") as f:
        f.write(_npy_header((0, 0), descr))
        for block in blocks:
            block = np.ascontiguousarray(block, dtype=dtype)
            if len(block):
                width = block.shape[1]
                f.write(block.tobytes())
                rows += len(block)
            yield block
        f.seek(0)
        f.write(_npy_header((rows, width), descr))


def release_pages(array: NDArray[Any]) -> None:
    """Drop the pages of a memory-mapped array from this process's resident memory (the
    file stays cached by the system; a later read maps them back). No-op for others."""
    base: object = array
    while base is not None and not isinstance(base, mmap.mmap):
        base = getattr(base, "_mmap", None) or getattr(base, "base", None)
    if isinstance(base, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        base.madvise(mmap.MADV_DONTNEED)
