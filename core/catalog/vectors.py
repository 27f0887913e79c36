"""Reading embedding vectors out of the catalog (a part of :class:`core.catalog.Catalog`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import numpy as np
from numpy.typing import NDArray

READ_BLOCK = 2048  # embeddings read and packed at a time


def chunks(items: list, size: int) -> Iterator[list]:
    """``items`` in lists of at most ``size`` (SQLite limits the parameters of a query)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class VectorReads:
    """The catalog's reads of embedding vectors; needs the catalog's ``conn``."""

    @property
    def conn(self) -> sqlite3.Connection:  # provided by Catalog
        raise NotImplementedError

    @contextmanager
    def read_snapshot(self) -> Iterator[sqlite3.Connection]:
        """A read transaction on this thread's connection (WAL: writers go on meanwhile), so
        that several queries see one state of the catalog; inside a transaction already, that
        one."""
        conn = self.conn
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")
        try:
            yield conn
        finally:
            if own and conn.in_transaction:
                conn.execute("COMMIT")

    def embedding_counts(self) -> dict[str, int]:
        """How many embeddings the catalog holds for each model key."""
        rows = self.conn.execute("SELECT model, count(*) FROM embeddings GROUP BY model")
        return {model: int(n) for model, n in rows}

    def embeddings(
        self, model: str, ids: Iterable[int] | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """(ids, float32 vectors) of ``model``, all in id order or those of ``ids``."""
        id_array, vectors = self.stored_embeddings(model, ids)
        return id_array, vectors.astype(np.float32)

    def stored_embeddings(
        self, model: str, ids: Iterable[int] | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.float16]]:
        """Like :meth:`embeddings`, the float16 vectors as stored: at 100k photos converting
        them to float32 costs as much as reading them.

        Rows are read and packed a block at a time, so the GIL is free between blocks (a
        single 400 MB ``join`` held it for 0.2 s at 100k photos) and the blobs of the whole
        library never sit in memory as 100,000 ``bytes`` objects.
        """
        if ids is None:
            return self._all_stored_embeddings(model)
        cursors = (self.conn.execute(
            f"SELECT photo_id, vector FROM embeddings WHERE model = ? "
            f"AND photo_id IN ({','.join('?' * len(chunk))})", (model, *chunk))
            for chunk in chunks([int(i) for i in ids], 900))
        blocks = []
        for cursor in cursors:
            while rows := cursor.fetchmany(READ_BLOCK):
                blocks.append(_packed(rows))
        if not blocks:
            return np.zeros(0, np.int64), np.zeros((0, 0), dtype=np.float16)
        return (np.concatenate([b[0] for b in blocks]),
                np.concatenate([b[1] for b in blocks]))

    def embedding_blocks(self, model: str, size: int = READ_BLOCK
                         ) -> Iterator[tuple[NDArray[np.int64], NDArray[np.float16]]]:
        """The stored float16 embeddings of ``model`` in photo id order, ``size`` rows at a
        time, from one query (for a pass over the whole library that need not hold it).

        Where ``model`` has most of the table's rows, the table is scanned in its own (photo
        id) order rather than through the index on ``model``, which looks each row up again:
        at 1M photos 2.0 s of CPU instead of 5.4 s.
        """
        where = "+model = ?" if self._mostly(model) else "model = ?"
        cursor = self.conn.execute(
            f"SELECT photo_id, vector FROM embeddings WHERE {where} ORDER BY photo_id",
            (model,))
        try:
            while rows := cursor.fetchmany(size):
                yield _packed(rows)
        finally:
            cursor.close()

    def _mostly(self, model: str) -> bool:
        """Whether ``model`` has at least half of the embeddings table's rows (two counts over
        the small index: ~0.1 s at 1M)."""
        total = self.conn.execute("SELECT count(*) FROM embeddings").fetchone()[0]
        mine = self.conn.execute("SELECT count(*) FROM embeddings WHERE model = ?",
                                 (model,)).fetchone()[0]
        return bool(total) and 2 * mine >= total

    def _all_stored_embeddings(self, model: str
                               ) -> tuple[NDArray[np.int64], NDArray[np.float16]]:
        """Every embedding of ``model``, written straight into one array (no second copy):
        the count and the rows come from one read transaction, so they agree."""
        with self.read_snapshot() as conn:
            n = conn.execute("SELECT count(*) FROM embeddings WHERE model = ?",
                             (model,)).fetchone()[0]
            ids = np.empty(n, np.int64)
            vectors: NDArray[np.float16] = np.zeros((0, 0), np.float16)
            done = 0
            for block_ids, block in self.embedding_blocks(model):
                if not done:
                    vectors = np.empty((n, block.shape[1]), np.float16)
                ids[done:done + len(block)] = block_ids
                vectors[done:done + len(block)] = block
                done += len(block)
        return ids, vectors


def _packed(rows: list[tuple[int, bytes]]) -> tuple[NDArray[np.int64], NDArray[np.float16]]:
    """(ids, float16 vectors) of fetched ``(photo_id, vector)`` rows."""
    ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    return ids, np.frombuffer(b"".join(r[1] for r in rows), np.float16).reshape(len(rows), -1)
