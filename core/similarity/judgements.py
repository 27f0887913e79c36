"""Similarity judgements in the catalog: "this photo is (not) similar to that one".

A judgement relates a query photo to another photo: *similar* (it belongs with the query) or
*not similar*. They come from the user (buttons and keys on the result tiles, ``lookalike
judge``) and from search feedback ("more like these" makes the chosen photos similar to each
other, "not like this" makes the rejected ones not similar to the query). Like labels they
are keyed by **content hash**, so they survive moves, renames, re-scans and re-embedding with
another model; a judgement on a content that leaves the library is kept and applies again
when it comes back. Every change bumps a revision, so a similarity learnt from them knows
when it is out of date.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from core.catalog import Catalog
from core.catalog.vectors import chunks

SOURCE_USER = "user"
SOURCE_FEEDBACK = "search feedback"
REVISION_KEY = "judgements:revision"


@dataclass(frozen=True)
class Judgement:
    """``other_hash`` is (``similar``) or is not similar to ``query_hash``."""

    query_hash: str
    other_hash: str
    similar: bool
    source: str
    created_at: float


@dataclass(frozen=True)
class JudgementCounts:
    """How many judgements there are, and on how many query photos."""

    similar: int
    not_similar: int
    queries: int

    @property
    def total(self) -> int:
        return self.similar + self.not_similar


class JudgementStore:
    """Reads and records the similarity judgements of one catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def judge(self, query_id: int, similar: Iterable[int] = (), not_similar: Iterable[int] = (),
              *, source: str = SOURCE_USER) -> int:
        """Record that ``similar`` photos are like photo ``query_id`` and ``not_similar``
        ones are not (a later judgement of the same pair replaces the earlier one).

        Photos not read yet (no content hash) and the query itself are skipped. Returns how
        many judgements were stored.
        """
        hashes = self._hashes([query_id, *similar, *not_similar])
        query = hashes.get(int(query_id))
        if query is None:
            return 0
        rows = []
        now = time.time()
        for ids, verdict in ((similar, 1), (not_similar, 0)):
            for pid in ids:
                other = hashes.get(int(pid))
                if other is not None and other != query:
                    rows.append((query, other, verdict, source, now))
        if not rows:
            return 0
        with self.catalog.transaction() as tx:
            tx.executemany(
                "INSERT OR REPLACE INTO judgements (query_hash, other_hash, similar, source, "
                "created_at) VALUES (?, ?, ?, ?, ?)", rows)
            _bump(tx)
        return len(rows)

    def alike(self, photo_ids: Iterable[int], *, source: str = SOURCE_FEEDBACK) -> int:
        """Record that the photos are all similar to each other ("more like these")."""
        ids = list(dict.fromkeys(int(i) for i in photo_ids))
        return sum(self.judge(q, ids[n + 1:], source=source) for n, q in enumerate(ids[:-1]))

    def forget(self, query_id: int, others: Iterable[int] | None = None) -> int:
        """Drop the judgements of ``others`` (all if None) against photo ``query_id``."""
        hashes = self._hashes([query_id, *(others or ())])
        query = hashes.pop(int(query_id), None)
        if query is None:
            return 0
        with self.catalog.transaction() as tx:
            if others is None:
                cur = tx.execute("DELETE FROM judgements WHERE query_hash = ?", (query,))
                n = cur.rowcount
            else:
                n = 0
                for chunk in chunks(list(hashes.values()), 900):
                    cur = tx.execute(
                        f"DELETE FROM judgements WHERE query_hash = ? AND other_hash IN "
                        f"({','.join('?' * len(chunk))})", (query, *chunk))
                    n += cur.rowcount
            if n:
                _bump(tx)
        return n

    def judgements(self) -> list[Judgement]:
        """Every judgement, also on contents no longer in the library, oldest first."""
        rows = self.catalog.conn.execute(
            "SELECT query_hash, other_hash, similar, source, created_at FROM judgements "
            "ORDER BY created_at, query_hash, other_hash")
        return [Judgement(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows]

    def pairs(self) -> list[tuple[int, int, bool]]:
        """(query photo id, other photo id, similar) for the judgements whose two photos are
        both in the library (one photo per content: the lowest id)."""
        rows = self.catalog.conn.execute(
            "SELECT (SELECT min(id) FROM photos WHERE content_hash = j.query_hash), "
            "(SELECT min(id) FROM photos WHERE content_hash = j.other_hash), j.similar "
            "FROM judgements j ORDER BY j.created_at, j.query_hash, j.other_hash")
        return [(q, o, bool(s)) for q, o, s in rows if q is not None and o is not None]

    def of_photo(self, query_id: int) -> dict[int, bool]:
        """Photo id -> similar, for the library's photos judged against ``query_id``."""
        query = self._hashes([query_id]).get(int(query_id))
        if query is None:
            return {}
        rows = self.catalog.conn.execute(
            "SELECT p.id, j.similar FROM judgements j JOIN photos p "
            "ON p.content_hash = j.other_hash WHERE j.query_hash = ? ORDER BY p.id", (query,))
        return {pid: bool(s) for pid, s in rows}

    def counts(self) -> JudgementCounts:
        row = self.catalog.conn.execute(
            "SELECT coalesce(sum(similar), 0), coalesce(sum(1 - similar), 0), "
            "count(DISTINCT query_hash) FROM judgements").fetchone()
        return JudgementCounts(int(row[0]), int(row[1]), int(row[2]))

    def revision(self) -> int:
        """A counter that changes whenever a judgement is added, changed or removed."""
        return int(self.catalog.get_meta(REVISION_KEY, "0") or 0)

    def _hashes(self, photo_ids: Iterable[int]) -> dict[int, str]:
        photos = self.catalog.photos(dict.fromkeys(int(i) for i in photo_ids))
        return {p.id: p.content_hash for p in photos if p.content_hash}


def _bump(conn: object) -> None:
    conn.execute(  # type: ignore[attr-defined]
        "INSERT INTO meta (key, value) VALUES (?, '1') ON CONFLICT(key) DO UPDATE "
        "SET value = CAST(value AS INTEGER) + 1", (REVISION_KEY,))
