"""A person is also a label: the "People" label set mirrors the named persons.

Each named person is a label of the multi-label set :data:`PEOPLE_SET`, given to every
photo with one of the person's faces (source ``"person"``), so people work wherever
labels do: the labelling panel and filters, the heads (a head trained on "People"
recognises a person from the whole photo's embedding), CSV/JSON export and keywords in XMP
sidecars. The sync only touches its own assignments: a label the user set by hand on a
photo stays.
"""

from __future__ import annotations

import time

from core.catalog import Catalog
from core.labels.store import LabelStore, drop_predictions

PEOPLE_SET = "People"
SOURCE_PERSON = "person"


def sync_people_labels(catalog: Catalog) -> int:
    """Bring the "People" label set in line with the named persons; returns how many
    assignments were added or removed. Creates the set when the first person is named."""
    conn = catalog.conn
    wanted: dict[str, set[str]] = {}
    for name, digest in conn.execute(
            "SELECT p.name, f.content_hash FROM faces f JOIN persons p ON p.id = f.person_id "
            "WHERE p.name IS NOT NULL AND f.not_face = 0"):
        wanted.setdefault(name, set()).add(digest)
    store = LabelStore(catalog)
    label_set = store.find_set(PEOPLE_SET)
    if label_set is None:
        if not wanted:
            return 0
        label_set = store.create_set(PEOPLE_SET, multi=True)
    labels = {label.name: label.id for label in store.labels(label_set.id)}
    for name in wanted:
        if name not in labels:
            labels[name] = store.add_label(label_set.id, name).id
    changes = 0
    now = time.time()
    with catalog.transaction() as tx:
        for name, label_id in labels.items():
            have = {r[0] for r in tx.execute(
                "SELECT content_hash FROM assignments WHERE label_id = ? AND source = ?",
                (label_id, SOURCE_PERSON))}
            want = wanted.get(name, set())
            for digest in have - want:
                tx.execute("DELETE FROM assignments WHERE label_id = ? AND content_hash = ? "
                           "AND source = ?", (label_id, digest, SOURCE_PERSON))
            for digest in want - have:
                tx.execute("INSERT OR IGNORE INTO assignments (label_id, content_hash, "
                           "positive, source, created_at) VALUES (?, ?, 1, ?, ?)",
                           (label_id, digest, SOURCE_PERSON, now))
            changes += len(have - want) + len(want - have)
            if name not in wanted and not tx.execute(
                    "SELECT 1 FROM assignments WHERE label_id = ?", (label_id,)).fetchone():
                tx.execute("DELETE FROM labels WHERE id = ?", (label_id,))  # renamed, merged
                tx.execute("DELETE FROM heads WHERE set_id = ?", (label_set.id,))
                drop_predictions(tx, label_set.id)
                changes += 1
        if changes:
            tx.execute("UPDATE label_sets SET revision = revision + 1 WHERE id = ?",
                       (label_set.id,))
    if changes:
        catalog.changed.emit("labels")  # the labelling panel and the grid's badges follow
    return changes
