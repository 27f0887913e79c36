"""Label sets, labels and their assignments to photos, stored in the catalog.

A label set is one task: single-choice (each photo has at most one of its labels; a softmax
head) or multi-label (any number; sigmoid heads). An assignment says that a photo has a
label (positive) or, after a rejected suggestion, that it has not (negative); it records its
source ("user" or "accepted prediction") and time.

Assignments are keyed by the photo's **content hash**, not by its id: they survive re-scans,
moves and renames, a file that leaves the library and comes back, and a rebuilt photo table;
identical copies of a file share their labels. A photo can be labelled once it has been read
(it gets its hash when it is embedded); an edited file gets a new hash and loses its labels.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from core.catalog import Catalog
from core.catalog.vectors import chunks
from core.errors import LookalikeError

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

SOURCE_USER = "user"
SOURCE_ACCEPTED = "accepted prediction"
SOURCES = (SOURCE_USER, SOURCE_ACCEPTED)


class LabelError(LookalikeError):
    """A label set or label that does not exist, or a name that is taken or empty."""


@dataclass(frozen=True)
class LabelSet:
    """A labelling task. ``revision`` changes whenever its labels or assignments change."""

    id: int
    name: str
    multi: bool
    revision: int = 0

    @property
    def kind(self) -> str:
        return "multi-label" if self.multi else "single-choice"


@dataclass(frozen=True)
class Label:
    """A label of a set; ``count``/``negatives``: photos of the library that have/lack it."""

    id: int
    set_id: int
    name: str
    position: int
    count: int = 0
    negatives: int = 0


@dataclass(frozen=True)
class Assignment:
    """One label decision on one photo content (``positive`` False: "not this label")."""

    label_id: int
    content_hash: str
    positive: bool
    source: str
    created_at: float


@dataclass(frozen=True)
class Examples:
    """The labelled photos of a set, one per distinct content, for training.

    ``photo_ids[i]`` has the labels ``positives[i]`` and lacks ``negatives[i]`` (label ids).
    """

    photo_ids: tuple[int, ...]
    positives: tuple[frozenset[int], ...]
    negatives: tuple[frozenset[int], ...]


def _announced(method: F) -> F:
    """Emit the catalog's ``changed("labels")`` after the change ``method`` makes."""
    @functools.wraps(method)
    def wrapper(self: LabelStore, *args: Any, **kwargs: Any) -> Any:
        result = method(self, *args, **kwargs)
        self.catalog.changed.emit("labels")
        return result

    return wrapper  # type: ignore[return-value]


class LabelStore:
    """Reads and changes the label sets of one catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # -- sets ------------------------------------------------------------------------------

    def sets(self) -> list[LabelSet]:
        rows = self.catalog.conn.execute(
            "SELECT id, name, multi, revision FROM label_sets ORDER BY name COLLATE NOCASE"
        )
        return [LabelSet(r[0], r[1], bool(r[2]), r[3]) for r in rows]

    def get_set(self, key: int | str) -> LabelSet:
        """The set with this id or name; LabelError if there is none."""
        column = "id" if isinstance(key, int) else "name"
        row = self.catalog.conn.execute(
            f"SELECT id, name, multi, revision FROM label_sets WHERE {column} = ?", (key,)
        ).fetchone()
        if row is None:
            names = ", ".join(s.name for s in self.sets()) or "none yet"
            raise LabelError(f"No label set {key!r} (label sets: {names}).")
        return LabelSet(row[0], row[1], bool(row[2]), row[3])

    def find_set(self, name: str) -> LabelSet | None:
        try:
            return self.get_set(name)
        except LabelError:
            return None

    @_announced
    def create_set(self, name: str, *, multi: bool = False) -> LabelSet:
        name = _clean(name, "label set")
        try:
            with self.catalog.transaction() as tx:
                cur = tx.execute(
                    "INSERT INTO label_sets (name, multi, created_at) VALUES (?, ?, ?)",
                    (name, int(multi), time.time()),
                )
        except sqlite3.IntegrityError as exc:
            raise LabelError(f"There is already a label set named {name!r}.") from exc
        return LabelSet(int(cur.lastrowid or 0), name, multi)

    def ensure_set(self, name: str, *, multi: bool = False) -> LabelSet:
        """The set named ``name``, created (single-choice unless ``multi``) if missing."""
        return self.find_set(name) or self.create_set(name, multi=multi)

    @_announced
    def rename_set(self, set_id: int, name: str) -> LabelSet:
        name = _clean(name, "label set")
        try:
            with self.catalog.transaction() as tx:
                tx.execute("UPDATE label_sets SET name = ? WHERE id = ?", (name, set_id))
        except sqlite3.IntegrityError as exc:
            raise LabelError(f"There is already a label set named {name!r}.") from exc
        return self.get_set(set_id)

    @_announced
    def delete_set(self, set_id: int) -> None:
        """Delete the set with its labels, assignments, heads and predictions."""
        with self.catalog.transaction() as tx:
            tx.execute("DELETE FROM label_sets WHERE id = ?", (set_id,))

    # -- labels ----------------------------------------------------------------------------

    def labels(self, set_id: int) -> list[Label]:
        """The labels of a set in their order, with counts of the library's photos."""
        rows = self.catalog.conn.execute(
            "SELECT l.id, l.set_id, l.name, l.position, "
            "  (SELECT count(DISTINCT a.content_hash) FROM assignments a WHERE a.label_id = l.id"
            "   AND a.positive = 1 AND EXISTS (SELECT 1 FROM photos p"
            "   WHERE p.content_hash = a.content_hash)), "
            "  (SELECT count(DISTINCT a.content_hash) FROM assignments a WHERE a.label_id = l.id"
            "   AND a.positive = 0 AND EXISTS (SELECT 1 FROM photos p"
            "   WHERE p.content_hash = a.content_hash)) "
            "FROM labels l WHERE l.set_id = ? ORDER BY l.position, l.id",
            (set_id,),
        )
        return [Label(*r) for r in rows]

    def get_label(self, set_id: int, key: int | str) -> Label:
        """The label of the set with this id or name; LabelError if there is none."""
        for label in self.labels(set_id):
            if key in (label.id, label.name):
                return label
        names = ", ".join(label.name for label in self.labels(set_id)) or "none yet"
        raise LabelError(f"No label {key!r} in this set (labels: {names}).")

    @_announced
    def add_label(self, set_id: int, name: str) -> Label:
        name = _clean(name, "label")
        self.get_set(set_id)
        try:
            with self.catalog.transaction() as tx:
                position = tx.execute(
                    "SELECT coalesce(max(position) + 1, 0) FROM labels WHERE set_id = ?",
                    (set_id,),
                ).fetchone()[0]
                cur = tx.execute(
                    "INSERT INTO labels (set_id, name, position) VALUES (?, ?, ?)",
                    (set_id, name, position),
                )
                _bump(tx, set_id)
        except sqlite3.IntegrityError as exc:
            raise LabelError(f"There is already a label named {name!r} in this set.") from exc
        return Label(int(cur.lastrowid or 0), set_id, name, position)

    def ensure_label(self, set_id: int, name: str) -> Label:
        """The label ``name`` of the set, created if missing."""
        for label in self.labels(set_id):
            if label.name == name.strip():
                return label
        return self.add_label(set_id, name)

    @_announced
    def rename_label(self, label_id: int, name: str) -> None:
        name = _clean(name, "label")
        try:
            with self.catalog.transaction() as tx:
                tx.execute("UPDATE labels SET name = ? WHERE id = ?", (name, label_id))
        except sqlite3.IntegrityError as exc:
            raise LabelError(f"There is already a label named {name!r} in this set.") from exc

    @_announced
    def delete_label(self, label_id: int) -> None:
        """Delete a label and its assignments; the set's heads must be retrained."""
        with self.catalog.transaction() as tx:
            row = tx.execute("SELECT set_id FROM labels WHERE id = ?", (label_id,)).fetchone()
            if row is None:
                return
            tx.execute("DELETE FROM labels WHERE id = ?", (label_id,))
            tx.execute("DELETE FROM heads WHERE set_id = ?", (row[0],))
            drop_predictions(tx, row[0])
            _bump(tx, row[0])

    # -- assignments -----------------------------------------------------------------------

    @_announced
    def assign(self, label_id: int, photo_ids: Iterable[int], *, source: str = SOURCE_USER,
               positive: bool = True) -> int:
        """Give the photos the label (or, ``positive=False``, mark them "not this label").

        In a single-choice set a positive label replaces the photo's other label. Photos
        not read yet (no content hash) are skipped. Returns how many photos were changed.
        """
        if source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}")
        hashes = self._hashes(photo_ids)
        if not hashes:
            return 0
        now = time.time()
        with self.catalog.transaction() as tx:
            set_id, multi = _label_set(tx, label_id)
            if positive and not multi:
                for chunk in chunks(hashes, 900):
                    marks = ",".join("?" * len(chunk))
                    tx.execute(
                        f"DELETE FROM assignments WHERE positive = 1 AND label_id IN "
                        f"(SELECT id FROM labels WHERE set_id = ? AND id != ?) "
                        f"AND content_hash IN ({marks})",
                        (set_id, label_id, *chunk),
                    )
            tx.executemany(
                "INSERT OR REPLACE INTO assignments "
                "(label_id, content_hash, positive, source, created_at) VALUES (?, ?, ?, ?, ?)",
                [(label_id, h, int(positive), source, now) for h in hashes],
            )
            _bump(tx, set_id)
        return len(hashes)

    def reject(self, label_id: int, photo_ids: Iterable[int]) -> int:
        """Mark the photos "not this label" (a rejected suggestion): a negative example."""
        return self.assign(label_id, photo_ids, positive=False)

    @_announced
    def unassign(self, label_id: int, photo_ids: Iterable[int]) -> int:
        """Forget the label decision (positive or negative) on the photos."""
        hashes = self._hashes(photo_ids)
        with self.catalog.transaction() as tx:
            set_id, _ = _label_set(tx, label_id)
            for chunk in chunks(hashes, 900):
                marks = ",".join("?" * len(chunk))
                tx.execute(
                    f"DELETE FROM assignments WHERE label_id = ? AND content_hash IN ({marks})",
                    (label_id, *chunk),
                )
            _bump(tx, set_id)
        return len(hashes)

    @_announced
    def import_assignments(self, rows: Sequence[Assignment]) -> int:
        """Store assignments as they are (hash, source and time kept), e.g. from a CSV."""
        with self.catalog.transaction() as tx:
            sets = set()
            for a in rows:
                sets.add(_label_set(tx, a.label_id)[0])
                tx.execute(
                    "INSERT OR REPLACE INTO assignments "
                    "(label_id, content_hash, positive, source, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (a.label_id, a.content_hash, int(a.positive), a.source, a.created_at),
                )
            for set_id in sets:
                _bump(tx, set_id)
        return len(rows)

    def assignments(self, set_id: int) -> list[Assignment]:
        """Every decision of the set, also on contents no longer in the library."""
        rows = self.catalog.conn.execute(
            "SELECT a.label_id, a.content_hash, a.positive, a.source, a.created_at "
            "FROM assignments a JOIN labels l ON l.id = a.label_id WHERE l.set_id = ? "
            "ORDER BY a.created_at, a.content_hash",
            (set_id,),
        )
        return [Assignment(r[0], r[1], bool(r[2]), r[3], r[4]) for r in rows]

    def photo_labels(self, set_id: int, photo_ids: Iterable[int] | None = None,
                     *, positive: bool = True) -> dict[int, list[int]]:
        """Photo id -> label ids (in label order) of the set, for the given or all photos."""
        rows = self.catalog.conn.execute(
            "SELECT p.id, a.label_id FROM assignments a JOIN labels l ON l.id = a.label_id "
            "JOIN photos p ON p.content_hash = a.content_hash "
            "WHERE l.set_id = ? AND a.positive = ? ORDER BY p.id, l.position",
            (set_id, int(positive)),
        )
        wanted = None if photo_ids is None else set(photo_ids)
        out: dict[int, list[int]] = {}
        for pid, label_id in rows:
            if wanted is None or pid in wanted:
                out.setdefault(pid, []).append(label_id)
        return out

    def label_names(self, photo_id: int) -> list[tuple[str, str]]:
        """(set name, label name) of every label the user gave the photo, by set."""
        rows = self.catalog.conn.execute(
            "SELECT s.name, l.name FROM assignments a JOIN labels l ON l.id = a.label_id "
            "JOIN label_sets s ON s.id = l.set_id "
            "JOIN photos p ON p.content_hash = a.content_hash "
            "WHERE p.id = ? AND a.positive = 1 "
            "ORDER BY s.name COLLATE NOCASE, l.position", (photo_id,))
        return [(str(r[0]), str(r[1])) for r in rows]

    def photos_with(self, label_id: int, *, positive: bool = True) -> list[int]:
        """Ids of the library's photos that have (or are marked not to have) the label."""
        rows = self.catalog.conn.execute(
            "SELECT p.id FROM assignments a JOIN photos p ON p.content_hash = a.content_hash "
            "WHERE a.label_id = ? AND a.positive = ? ORDER BY p.id",
            (label_id, int(positive)),
        )
        return [r[0] for r in rows]

    def examples(self, set_id: int) -> Examples:
        """The set's labelled photos of the library, one per content (lowest photo id)."""
        rows = self.catalog.conn.execute(
            "SELECT min(p.id), a.label_id, a.positive FROM assignments a "
            "JOIN labels l ON l.id = a.label_id JOIN photos p ON p.content_hash = a.content_hash "
            "WHERE l.set_id = ? GROUP BY a.content_hash, a.label_id ORDER BY 1",
            (set_id,),
        )
        pos: dict[int, set[int]] = {}
        neg: dict[int, set[int]] = {}
        for pid, label_id, positive in rows:
            (pos if positive else neg).setdefault(pid, set()).add(label_id)
            (neg if positive else pos).setdefault(pid, set())
        ids = sorted(pos)
        return Examples(tuple(ids), tuple(frozenset(pos[i]) for i in ids),
                        tuple(frozenset(neg[i]) for i in ids))

    def _hashes(self, photo_ids: Iterable[int]) -> list[str]:
        photos = self.catalog.photos(dict.fromkeys(int(i) for i in photo_ids))
        unread = [p for p in photos if not p.content_hash]
        if unread:
            log.info("%d photos not read yet cannot be labelled", len(unread))
        return list(dict.fromkeys(p.content_hash for p in photos if p.content_hash))


def _clean(name: str, what: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise LabelError(f"A {what} needs a name.")
    return name


def _label_set(conn: sqlite3.Connection, label_id: int) -> tuple[int, bool]:
    row = conn.execute(
        "SELECT s.id, s.multi FROM labels l JOIN label_sets s ON s.id = l.set_id WHERE l.id = ?",
        (label_id,),
    ).fetchone()
    if row is None:
        raise LabelError(f"No label with id {label_id}.")
    return int(row[0]), bool(row[1])


def _bump(conn: sqlite3.Connection, set_id: int) -> None:
    conn.execute("UPDATE label_sets SET revision = revision + 1 WHERE id = ?", (set_id,))


def drop_predictions(tx: sqlite3.Connection, set_id: int, model: str | None = None) -> None:
    """Delete the stored predictions of a set (for ``model``, or every model), both the
    blocks and the per-photo rows older catalogs hold, inside the caller's transaction."""
    where, args = ("set_id = ?", (set_id,)) if model is None else (
        "set_id = ? AND model = ?", (set_id, model))
    tx.execute(f"DELETE FROM prediction_blocks WHERE {where}", args)
    tx.execute(f"DELETE FROM predictions WHERE {where}", args)
