"""People in the catalog: faces, persons, and the user's corrections.

Faces are keyed by their photo's content hash, so they follow a moved or renamed photo; a
face counts while a photo with that hash is in the library. Every change here is one
transaction; corrections are remembered (``confirmed`` faces stay where the user put
them, a face moved out of a person never goes back to it, "not a face" stays out), and
the "People" label set follows the named persons (:mod:`core.faces.labels`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.errors import LookalikeError
from core.faces import grouping
from core.faces.labels import sync_people_labels
from core.faces.model import DESCRIPTOR_DIM


class PeopleError(LookalikeError):
    """A person or face that does not exist, or a name that cannot be used."""


@dataclass(frozen=True)
class Person:
    """A person: its name (None until named), faces and photos in the library, and the
    face that stands for it (the largest confirmed one, else the largest)."""

    id: int
    name: str | None
    faces: int
    photos: int
    cover_face: int | None

    @property
    def title(self) -> str:
        return self.name or f"Person {self.id}"


@dataclass(frozen=True)
class Face:
    """A face in a photo: box relative to the upright photo, its person (if any)."""

    id: int
    content_hash: str
    x: float
    y: float
    w: float
    h: float
    score: float
    person_id: int | None
    person_name: str | None
    confirmed: bool


@dataclass(frozen=True)
class GroupResult:
    """What one grouping did."""

    joined: int  # faces that joined an existing person
    new_persons: int
    grouped: int  # faces in those new persons
    alone: int  # faces left in no person


_LIVE = "f.not_face = 0 AND EXISTS (SELECT 1 FROM photos p WHERE p.content_hash = f.content_hash)"
_FACE_COLUMNS = ("f.id, f.content_hash, f.x, f.y, f.w, f.h, f.score, f.person_id, p.name, "
                 "f.confirmed")


class FaceStore:
    """Reads and corrections of the people of a catalog."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    # -- reading -----------------------------------------------------------------------

    def persons(self) -> list[Person]:
        """Every person with a face in the library: unnamed first, largest first; then the
        named ones by name."""
        rows = self.catalog.conn.execute(
            f"SELECT f.person_id, p.name, count(*), count(DISTINCT f.content_hash), "
            f"(SELECT g.id FROM faces g WHERE g.person_id = f.person_id AND g.not_face = 0 "
            f" ORDER BY g.confirmed DESC, g.w * g.h DESC, g.id LIMIT 1) "
            f"FROM faces f JOIN persons p ON p.id = f.person_id WHERE {_LIVE} "
            f"GROUP BY f.person_id").fetchall()
        people = [Person(*row) for row in rows]
        return sorted(people, key=lambda p: (p.name is not None, -p.faces if p.name is None
                                              else 0, (p.name or "").casefold(), p.id))

    def person(self, person_id: int) -> Person:
        for person in self.persons():
            if person.id == person_id:
                return person
        row = self.catalog.conn.execute("SELECT id, name FROM persons WHERE id = ?",
                                        (person_id,)).fetchone()
        if row is None:
            raise PeopleError(f"There is no person {person_id}; see `lookalike people`.")
        return Person(row[0], row[1], 0, 0, None)

    def find_person(self, name: str) -> Person | None:
        row = self.catalog.conn.execute("SELECT id FROM persons WHERE name = ?",
                                        (name.strip(),)).fetchone()
        return self.person(row[0]) if row else None

    def names(self) -> list[str]:
        """Every name given, sorted (for autocompletion)."""
        rows = self.catalog.conn.execute("SELECT name FROM persons WHERE name IS NOT NULL")
        return sorted((r[0] for r in rows), key=str.casefold)

    def faces(self, *, person_id: int | None = None,
              content_hash: str | None = None) -> list[Face]:
        """The live faces of a person, or of a photo (by content hash)."""
        where: list[str] = [_LIVE]
        args: list[int | str] = []
        if person_id is not None:
            where.append("f.person_id = ?")
            args.append(person_id)
        if content_hash is not None:
            where.append("f.content_hash = ?")
            args.append(content_hash)
        rows = self.catalog.conn.execute(
            f"SELECT {_FACE_COLUMNS} FROM faces f LEFT JOIN persons p ON p.id = f.person_id "
            f"WHERE {' AND '.join(where)} ORDER BY f.id", args)
        return [_face(row) for row in rows]

    def face(self, face_id: int) -> Face:
        row = self.catalog.conn.execute(
            f"SELECT {_FACE_COLUMNS} FROM faces f LEFT JOIN persons p ON p.id = f.person_id "
            "WHERE f.id = ?", (face_id,)).fetchone()
        if row is None:
            raise PeopleError(f"There is no face {face_id}.")
        return _face(row)

    def loose_faces(self) -> int:
        """Live faces in no person."""
        return int(self.catalog.conn.execute(
            f"SELECT count(*) FROM faces f WHERE {_LIVE} AND f.person_id IS NULL").fetchone()[0])

    def loose(self) -> list[Face]:
        """The live faces in no person (seen once so far), largest first."""
        rows = self.catalog.conn.execute(
            f"SELECT {_FACE_COLUMNS} FROM faces f LEFT JOIN persons p ON p.id = f.person_id "
            f"WHERE {_LIVE} AND f.person_id IS NULL ORDER BY f.w * f.h DESC, f.id")
        return [_face(row) for row in rows]

    def thumbnail(self, face_id: int) -> bytes | None:
        row = self.catalog.conn.execute("SELECT thumbnail FROM faces WHERE id = ?",
                                        (face_id,)).fetchone()
        return row[0] if row else None

    def photo_ids(self, person_id: int) -> list[int]:
        """The library's photos showing the person, in id order."""
        rows = self.catalog.conn.execute(
            "SELECT DISTINCT ph.id FROM faces f JOIN photos ph ON ph.content_hash = "
            "f.content_hash WHERE f.person_id = ? AND f.not_face = 0 ORDER BY ph.id",
            (person_id,))
        return [r[0] for r in rows]

    def descriptors(self, face_ids: Iterable[int] | None = None
                    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """(face ids, descriptors) of the live detected faces (or of ``face_ids``)."""
        rows = self.catalog.conn.execute(
            f"SELECT f.id, f.descriptor FROM faces f WHERE {_LIVE} AND f.descriptor IS NOT NULL "
            "ORDER BY f.id").fetchall()
        if face_ids is not None:
            wanted = set(face_ids)
            rows = [r for r in rows if r[0] in wanted]
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        vectors = np.frombuffer(b"".join(r[1] for r in rows), np.float32)
        return ids, vectors.reshape(len(rows), DESCRIPTOR_DIM)

    def similar_faces(self, face_id: int, k: int = 200) -> list[tuple[int, float]]:
        """"Find this face": (photo id, distance of its nearest face) for the ``k`` photos
        whose faces are nearest to the face ``face_id``, nearest first (itself included)."""
        row = self.catalog.conn.execute("SELECT descriptor FROM faces WHERE id = ?",
                                        (face_id,)).fetchone()
        if row is None or row[0] is None:
            raise PeopleError("This face has no descriptor (it came from XMP): run "
                              "`lookalike faces` on the photo first.")
        ids, vectors = self.descriptors()
        distance = np.linalg.norm(vectors - np.frombuffer(row[0], np.float32), axis=1)
        hashes = dict(self.catalog.conn.execute(
            f"SELECT f.id, f.content_hash FROM faces f WHERE {_LIVE}").fetchall())
        best: dict[str, float] = {}
        for i in np.argsort(distance, kind="stable").tolist():
            digest = hashes.get(int(ids[i]))
            if digest is not None and digest not in best:
                best[digest] = float(distance[i])
                if len(best) >= k:
                    break
        photos = self.catalog.ids_by_hash(best)
        return sorted(((pid, d) for h, d in best.items() for pid in photos.get(h, [])),
                      key=lambda hit: hit[1])

    # -- corrections (each one transaction) --------------------------------------------

    def name(self, person_id: int, name: str) -> int:
        """Name a person. If another person already has the name, the two are merged into
        that one (the same person, found twice); returns the person that has the name."""
        name = _clean(name)
        self.person(person_id)
        other = self.find_person(name)
        if other is not None and other.id != person_id:
            self.merge(person_id, other.id)
            return other.id
        with self.catalog.transaction() as tx:
            tx.execute("UPDATE persons SET name = ? WHERE id = ?", (name, person_id))
            tx.execute("UPDATE faces SET confirmed = 1 WHERE person_id = ?", (person_id,))
        sync_people_labels(self.catalog)
        return person_id

    def create_person(self, name: str | None = None) -> int:
        with self.catalog.transaction() as tx:
            return _new_person(tx, _clean(name) if name is not None else None)

    def merge(self, source: int, target: int) -> None:
        """Move every face of ``source`` into ``target`` and forget ``source``. The target
        keeps its name (or takes the source's when it has none)."""
        if source == target:
            return
        src, dst = self.person(source), self.person(target)
        with self.catalog.transaction() as tx:
            tx.execute("UPDATE faces SET person_id = ?, confirmed = 1 WHERE person_id = ?",
                       (target, source))
            tx.execute("INSERT OR IGNORE INTO face_rejections (face_id, person_id) "
                       "SELECT face_id, ? FROM face_rejections WHERE person_id = ?",
                       (target, source))
            tx.execute("DELETE FROM persons WHERE id = ?", (source,))
            if dst.name is None and src.name is not None:
                tx.execute("UPDATE persons SET name = ? WHERE id = ?", (src.name, target))
            tx.execute("UPDATE faces SET confirmed = 1 WHERE person_id = ?", (target,))
        sync_people_labels(self.catalog)

    def move_face(self, face_id: int, person_id: int | None) -> None:
        """Take a face out of its person (it never goes back there) into ``person_id``,
        or into no person (None: grouping may place it elsewhere)."""
        face = self.face(face_id)
        if person_id is not None:
            self.person(person_id)
        with self.catalog.transaction() as tx:
            if face.person_id is not None and face.person_id != person_id:
                tx.execute("INSERT OR IGNORE INTO face_rejections (face_id, person_id) "
                           "VALUES (?, ?)", (face_id, face.person_id))
            tx.execute("UPDATE faces SET person_id = ?, confirmed = ? WHERE id = ?",
                       (person_id, int(person_id is not None), face_id))
            _drop_if_empty(tx, face.person_id)
        sync_people_labels(self.catalog)

    def not_a_face(self, face_id: int) -> None:
        """The detector was wrong: the face leaves its person and is never grouped again."""
        face = self.face(face_id)
        with self.catalog.transaction() as tx:
            tx.execute("UPDATE faces SET not_face = 1, person_id = NULL WHERE id = ?",
                       (face_id,))
            _drop_if_empty(tx, face.person_id)
        sync_people_labels(self.catalog)

    def take_region(self, content_hash: str, name: str, box: tuple[float, float, float, float],
                    now: float) -> int:
        """A named face region from elsewhere (XMP): the detected face under it joins the
        person ``name`` (created if new), confirmed; with none under it, the region becomes
        a face of its own. Returns the face's id. The label sync is the caller's."""
        name = _clean(name)
        best, best_iou = None, 0.3
        for face in self.faces(content_hash=content_hash):
            overlap = _iou(box, (face.x, face.y, face.w, face.h))
            if overlap > best_iou:
                best, best_iou = face.id, overlap
        with self.catalog.transaction() as tx:
            row = tx.execute("SELECT id FROM persons WHERE name = ?", (name,)).fetchone()
            person_id = row[0] if row else _new_person(tx, name)
            if best is None:
                best = int(tx.execute(
                    "INSERT INTO faces (content_hash, x, y, w, h, score, source, person_id, "
                    "confirmed) VALUES (?, ?, ?, ?, ?, 1.0, 'xmp', ?, 1)",
                    (content_hash, *box, person_id)).lastrowid or 0)
            else:
                tx.execute("UPDATE faces SET person_id = ?, confirmed = 1 WHERE id = ?",
                           (person_id, best))
        return best

    # -- grouping ------------------------------------------------------------------------

    def group(self, threshold: float = grouping.THRESHOLD,
              min_faces: int = grouping.MIN_PERSON_FACES) -> GroupResult:
        """Place the faces that are in no person (see :mod:`core.faces.grouping`)."""
        conn = self.catalog.conn
        ids, vectors = self.descriptors()
        if not len(ids):
            return GroupResult(0, 0, 0, 0)
        person_of = dict(conn.execute(
            "SELECT id, person_id FROM faces WHERE person_id IS NOT NULL").fetchall())
        placed = np.array([int(i) in person_of for i in ids], bool)
        loose_ids, loose = ids[~placed], vectors[~placed]
        if not len(loose_ids):
            return GroupResult(0, 0, 0, 0)
        refused: dict[int, set[int]] = {}
        for face_id, person_id in conn.execute("SELECT face_id, person_id FROM face_rejections"):
            refused.setdefault(face_id, set()).add(person_id)
        known_person = np.array([person_of[int(i)] for i in ids[placed]], np.int64)
        joins = grouping.join_existing(loose, vectors[placed], known_person,
                                       [refused.get(int(i), set()) for i in loose_ids],
                                       threshold)
        rest = np.array([j is None for j in joins], bool)
        labels = grouping.chinese_whispers(loose[rest], threshold)
        clusters = [loose_ids[rest][labels == k] for k in range(int(labels.max(initial=-1)) + 1)]
        clusters = [c for c in clusters if len(c) >= min_faces]
        with self.catalog.transaction() as tx:
            for face_id, person_id in zip(loose_ids.tolist(), joins, strict=True):
                if person_id is not None:
                    tx.execute("UPDATE faces SET person_id = ? WHERE id = ?",
                               (person_id, face_id))
            for cluster in clusters:
                person_id = _new_person(tx, None)
                tx.executemany("UPDATE faces SET person_id = ? WHERE id = ?",
                               [(person_id, int(f)) for f in cluster])
        joined = sum(j is not None for j in joins)
        if joined:
            sync_people_labels(self.catalog)
        grouped = sum(len(c) for c in clusters)
        return GroupResult(joined, len(clusters), grouped, len(loose_ids) - joined - grouped)


def _face(row: tuple) -> Face:
    return Face(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                bool(row[9]))


def _iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection over union of two boxes (x, y, w, h)."""
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _clean(name: str) -> str:
    name = " ".join(str(name).split())
    if not name:
        raise PeopleError("A person's name cannot be empty.")
    if len(name) > 200:
        raise PeopleError("A person's name can be at most 200 characters.")
    return name


def _new_person(tx: sqlite3.Connection, name: str | None) -> int:
    cursor = tx.execute("INSERT INTO persons (name, created_at) VALUES (?, ?)",
                        (name, time.time()))
    return int(cursor.lastrowid or 0)


def _drop_if_empty(tx: sqlite3.Connection, person_id: int | None) -> None:
    """Forget an unnamed person that has no face left."""
    if person_id is None:
        return
    tx.execute("DELETE FROM persons WHERE id = ? AND name IS NULL AND NOT EXISTS "
               "(SELECT 1 FROM faces WHERE person_id = ? AND not_face = 0)",
               (person_id, person_id))
