"""Pick/reject decisions in the catalog, keyed by content hash (migration 7).

A decision survives a re-scan, a move and a rename (the hash is the same). Each records the
key of the group it was made in (a digest of the group's content hashes): a group is decided
while every photo has a decision made in that same group; once a photo changes, joins or
leaves, the key differs and the group is proposed afresh.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from core.catalog import Catalog
from core.catalog.vectors import chunks

PICK = "pick"
REJECT = "reject"
DECISIONS = (PICK, REJECT)


@dataclass(frozen=True)
class Decision:
    """One photo's decision, the group it was made in, and who made it ("user", "auto")."""

    content_hash: str
    decision: str
    group_key: str
    source: str


def group_key(hashes: Iterable[str]) -> str:
    """The key of a group: a digest of its members' content hashes (order-free)."""
    digest = hashlib.blake2b(digest_size=12)
    for value in sorted(set(hashes)):
        digest.update(value.encode("ascii", "replace") + b"\n")
    return digest.hexdigest()


def decisions(catalog: Catalog, hashes: Iterable[str]) -> dict[str, Decision]:
    """The stored decisions of these content hashes."""
    out: dict[str, Decision] = {}
    for chunk in chunks(sorted(set(hashes)), 900):
        rows = catalog.conn.execute(
            "SELECT content_hash, decision, group_key, source FROM duplicate_decisions "
            f"WHERE content_hash IN ({','.join('?' * len(chunk))})", chunk)
        for row in rows:
            out[row[0]] = Decision(*row)
    return out


def decide(catalog: Catalog, key: str, choices: Mapping[str, str], source: str = "user") -> None:
    """Store ``{content_hash: "pick" | "reject"}`` for the group ``key`` (one transaction)."""
    decide_groups(catalog, [(key, choices)], source)


def decide_groups(catalog: Catalog, groups: Iterable[tuple[str, Mapping[str, str]]],
                  source: str = "user", per_transaction: int = 500) -> int:
    """Store the decisions of many groups, ``per_transaction`` groups a transaction: a group
    is stored whole or not at all (a killed run leaves the rest undecided, and the next run
    decides them). Returns the groups stored."""
    batch: list[tuple[str, str, str, str, float]] = []
    stored = pending = 0
    for key, choices in groups:
        for value in choices.values():
            if value not in DECISIONS:
                raise ValueError(f"a decision is one of {DECISIONS}, not {value!r}")
        now = time.time()
        batch.extend((h, d, key, source, now) for h, d in choices.items())
        pending += 1
        if pending >= per_transaction:
            _store(catalog, batch)
            stored, batch, pending = stored + pending, [], 0
    if pending:
        _store(catalog, batch)
    return stored + pending


def _store(catalog: Catalog, rows: list[tuple[str, str, str, str, float]]) -> None:
    with catalog.transaction() as conn:
        conn.executemany(
            "INSERT INTO duplicate_decisions (content_hash, decision, group_key, source, "
            "decided_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(content_hash) DO UPDATE SET "
            "decision = excluded.decision, group_key = excluded.group_key, "
            "source = excluded.source, decided_at = excluded.decided_at", rows)


def forget(catalog: Catalog, hashes: Iterable[str]) -> None:
    """Remove the decisions of these content hashes (the group is proposed afresh)."""
    with catalog.transaction() as conn:
        for chunk in chunks(sorted(set(hashes)), 900):
            conn.execute("DELETE FROM duplicate_decisions WHERE content_hash IN "
                         f"({','.join('?' * len(chunk))})", chunk)
