"""Keywords in the catalog: each photo's top ImageNet classes, and the words they roll up to.

The classes are stored by content hash and model key (``keywords`` table, migration 4), so
they survive re-scans and moves, and duplicates share them. A photo's score for an everyday
word is the summed probability of its top classes under that word (malamute 0.38 + German
shepherd 0.28 make "dog" 0.66), so a photo the classifier hesitates on between breeds is still
surely a dog.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog, Photo
from core.catalog.vectors import chunks
from core.keywords.vocabulary import vocabulary

MIN_SCORE = 0.2  # a word (or class) counts for a photo from this summed probability


@dataclass(frozen=True)
class PhotoKeywords:
    """What the classifier saw in one photo: everyday words and ImageNet classes, each with
    its probability, most likely first."""

    words: tuple[tuple[str, float], ...]
    classes: tuple[tuple[str, float], ...]

    def confident_words(self, min_score: float = MIN_SCORE) -> list[str]:
        """The words at or above ``min_score``, the most specific first ("dog, mammal,
        animal")."""
        order = vocabulary().words
        return sorted((word for word, score in self.words if score >= min_score),
                      key=order.index)


def write_keywords(
    conn: sqlite3.Connection,
    model: str,
    hashes: Iterable[str],
    classes: NDArray[np.int64],
    probs: NDArray[np.float32],
) -> None:
    """Store the top classes of each photo (by content hash) for ``model`` (in the caller's
    transaction), replacing what that photo had."""
    for digest, row_classes, row_probs in zip(hashes, classes, probs, strict=True):
        conn.execute("DELETE FROM keywords WHERE content_hash = ? AND model = ?",
                     (digest, model))
        conn.executemany(
            "INSERT INTO keywords (content_hash, model, class, probability) VALUES (?, ?, ?, ?)",
            [(digest, model, int(c), float(p)) for c, p in zip(row_classes, row_probs,
                                                                strict=True)],
        )


def keywords_of(rows: Iterable[tuple[int, float]]) -> PhotoKeywords:
    """Words and classes from (class index, probability) rows."""
    vocab = vocabulary()
    ranked = sorted(rows, key=lambda r: -r[1])
    scores: dict[str, float] = {}
    for cls, prob in ranked:
        for word in vocab.class_words[cls]:
            scores[word] = scores.get(word, 0.0) + prob
    words = sorted(scores.items(), key=lambda item: (-item[1], vocab.words.index(item[0])))
    classes = tuple((vocab.names[c], p) for c, p in ranked)
    return PhotoKeywords(tuple((w, min(s, 1.0)) for w, s in words), classes)


def photo_keywords(catalog: Catalog, content_hash: str | None, model: str) -> PhotoKeywords:
    """The keywords of the photo with ``content_hash`` (empty if it has none for ``model``)."""
    if content_hash is None:
        return PhotoKeywords((), ())
    rows = catalog.conn.execute(
        "SELECT class, probability FROM keywords WHERE content_hash = ? AND model = ?",
        (content_hash, model),
    ).fetchall()
    return keywords_of(rows)


def keyword_photo_count(catalog: Catalog, model: str) -> int:
    """Photos of the library that have keywords from ``model``."""
    return int(catalog.conn.execute(
        "SELECT count(*) FROM photos p WHERE EXISTS (SELECT 1 FROM keywords k "
        "WHERE k.content_hash = p.content_hash AND k.model = ?)", (model,),
    ).fetchone()[0])


def search_keywords(catalog: Catalog, model: str, query: str,
                    min_score: float = MIN_SCORE) -> list[int]:
    """Ids of the photos whose keywords match ``query`` (an everyday word such as "dog", or
    part of a class name), most likely first; see :meth:`Vocabulary.classes_matching`."""
    classes = vocabulary().classes_matching(query)
    if not classes:
        return []
    scores: dict[int, float] = {}
    for chunk in chunks(classes, 900):
        marks = ",".join("?" * len(chunk))
        for pid, prob in catalog.conn.execute(
            "SELECT p.id, k.probability FROM keywords k JOIN photos p "
            f"ON p.content_hash = k.content_hash WHERE k.model = ? AND k.class IN ({marks})",
            [model, *chunk],
        ):
            scores[pid] = scores.get(pid, 0.0) + prob
    hits = [(pid, score) for pid, score in scores.items() if score >= min_score]
    return [pid for pid, _score in sorted(hits, key=lambda h: (-h[1], h[0]))]


def library_keywords(catalog: Catalog, model: str) -> Iterator[tuple[Photo, PhotoKeywords]]:
    """Every photo with keywords from ``model``, in id order, with them."""
    by_hash: dict[str, list[tuple[int, float]]] = {}
    for digest, cls, prob in catalog.conn.execute(
        "SELECT content_hash, class, probability FROM keywords WHERE model = ?", (model,)
    ):
        by_hash.setdefault(digest, []).append((cls, prob))
    for photo in catalog.photos():
        rows = by_hash.get(photo.content_hash or "")
        if rows:
            yield photo, keywords_of(rows)


def keyword_details(catalog: Catalog, photo: Photo, model: str) -> list[tuple[str, str]]:
    """(label, value) lines for a photo's info panel: its words, then its top classes."""
    found = photo_keywords(catalog, photo.content_hash, model)
    if not found.classes:
        return []
    words = ", ".join(found.confident_words()) or "none sure"
    classes = ", ".join(f"{name} {prob:.0%}" for name, prob in found.classes[:3])
    return [("Keywords", words), ("Seen", classes)]
