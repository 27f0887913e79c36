"""Triplets (H, H+, H-) from judgements and labels: the training data of a similarity.

Photos become *items*; what is known about pairs of items is a relation: +1 (alike), -1 (not
alike) or 0 (unknown). Judgements give it directly (a similar / not similar photo against its
query). Labels give it too: in a single-choice set two photos with the same label are alike
and photos with different labels are not; in a multi-label set a photo with a label and one
marked "not this label" are not alike. A judgement overrides what the labels say.

A triplet is an anchor H, a photo H+ alike to it and a photo H- not alike to it. Triplets
are split by photo into training and held-out ones: a random fifth of the photos is held out,
the training triplets hold none of them and the held-out triplets hold at least one, so the
held-out figures are about photos the training never saw (with fewer than eight photos,
triplets are held out at random: new combinations of photos it has seen).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from core.catalog import Catalog
from core.labels import LabelStore
from core.similarity.judgements import JudgementStore

MAX_TRIPLETS = 20_000  # sampled above this (all the judgement triplets come first)
DENSE_MAX_ITEMS = 6_000  # the relation is kept as a dense matrix up to this many items
HELD_OUT = 0.2
MIN_HELD_OUT_PHOTOS = 8  # with fewer photos, triplets are held out at random instead


@dataclass(frozen=True)
class TripletData:
    """Items (photo ids), their relation and the triplets over them (rows of item indices)."""

    photo_ids: NDArray[np.int64]
    relation: NDArray[np.int8] | None  # (items, items) +1/-1/0, None when too many items
    train: NDArray[np.int64]  # (n, 3): anchor, positive, negative
    held_out: NDArray[np.int64]  # (m, 3)
    pairs: NDArray[np.int64]  # (k, 3): item, item, 1 alike / 0 not, for the binary loss

    def __len__(self) -> int:
        return len(self.train) + len(self.held_out)


@dataclass(frozen=True)
class Relations:
    """Known pairs of photo ids: alike and not alike, before they become triplets."""

    alike: list[tuple[int, int]]
    unlike: list[tuple[int, int]]
    groups: list[tuple[NDArray[np.int64], NDArray[np.int64]]]  # (members, non-members)


def relations(catalog: Catalog, *, judgements: bool = True,
              label_sets: Iterable[int] | None = None) -> Relations:
    """The known pairs of the catalog: its judgements and the labels of ``label_sets``
    (every set if None, none if empty)."""
    alike: list[tuple[int, int]] = []
    unlike: list[tuple[int, int]] = []
    if judgements:
        for query, other, similar in JudgementStore(catalog).pairs():
            (alike if similar else unlike).append((query, other))
    store = LabelStore(catalog)
    sets = [s.id for s in store.sets()] if label_sets is None else list(label_sets)
    groups = []
    for set_id in sets:
        multi = store.get_set(set_id).multi
        has = store.photo_labels(set_id)
        lacks = store.photo_labels(set_id, positive=False)
        for label in store.labels(set_id):
            members = np.array(sorted(p for p, ls in has.items() if label.id in ls), np.int64)
            if multi:
                others = [p for p, ls in lacks.items() if label.id in ls]
            else:
                others = [p for p, ls in has.items() if label.id not in ls]
            if len(members) >= 2:
                groups.append((members, np.array(sorted(set(others) - set(members)), np.int64)))
    return Relations(alike, unlike, groups)


def build(rel: Relations, *, seed: int = 0, max_triplets: int = MAX_TRIPLETS,
          held_out: float = HELD_OUT) -> TripletData:
    """Triplets from the relations, split by photo into training and held-out ones."""
    rng = np.random.default_rng(seed)
    ids = sorted({p for pair in rel.alike + rel.unlike for p in pair}
                 | {int(p) for g in rel.groups for part in g for p in part})
    photo_ids = np.array(ids, np.int64)
    index = {p: n for n, p in enumerate(ids)}
    triplets = _judgement_triplets(rel, index)
    room = max(0, max_triplets - len(triplets))
    label_triplets = _label_triplets(rel.groups, index, room, rng)
    all_triplets = np.concatenate([triplets, label_triplets]) if len(label_triplets) else triplets
    if len(all_triplets) > max_triplets:
        all_triplets = all_triplets[rng.choice(len(all_triplets), max_triplets, replace=False)]
    relation = _dense(rel, index) if len(ids) <= DENSE_MAX_ITEMS else None
    train, held = _split(all_triplets, held_out, rng)
    pairs = _pairs(rel, index, train, set(np.setdiff1d(held, train).tolist()), rng)
    return TripletData(photo_ids, relation, train, held, pairs)


def _judgement_triplets(rel: Relations, index: dict[int, int]) -> NDArray[np.int64]:
    alike: dict[int, set[int]] = {}
    unlike: dict[int, set[int]] = {}
    for pairs, into in ((rel.alike, alike), (rel.unlike, unlike)):
        for a, b in pairs:
            into.setdefault(index[a], set()).add(index[b])
    rows = [(a, p, n) for a, ps in alike.items() for p in sorted(ps)
            for n in sorted(unlike.get(a, ()))]
    return np.array(rows, np.int64).reshape(-1, 3)


def _label_triplets(groups: Sequence[tuple[NDArray[np.int64], NDArray[np.int64]]],
                    index: dict[int, int], room: int, rng: np.random.Generator
                    ) -> NDArray[np.int64]:
    """Up to ``room`` triplets sampled evenly over the label groups (all of a small one)."""
    usable = [(m, o) for m, o in groups if len(m) >= 2 and len(o)]
    if not usable or not room:
        return np.zeros((0, 3), np.int64)
    per_group = max(1, room // len(usable))
    rows = []
    for members, others in usable:
        possible = len(members) * (len(members) - 1) * len(others)
        n = min(per_group, possible)
        if possible <= 4 * n:  # small: every triplet, then a sample of them
            a, p, o = np.meshgrid(members, members, others, indexing="ij")
            keep = a != p
            found = np.stack([a[keep], p[keep], o[keep]], 1)
            found = found[rng.permutation(len(found))[:n]]
        else:
            a = rng.integers(len(members), size=n)
            p = (a + rng.integers(1, len(members), size=n)) % len(members)
            found = np.stack([members[a], members[p], others[rng.integers(len(others), size=n)]],
                             1)
        rows.append(np.vectorize(index.__getitem__, otypes=[np.int64])(found))
    return np.unique(np.concatenate(rows), axis=0)


def _dense(rel: Relations, index: dict[int, int]) -> NDArray[np.int8]:
    n = len(index)
    out = np.zeros((n, n), np.int8)
    for members, others in rel.groups:
        m = np.array([index[int(p)] for p in members], np.int64)
        o = np.array([index[int(p)] for p in others], np.int64)
        out[np.ix_(m, m)] = 1
        if len(o):
            out[np.ix_(m, o)] = -1
            out[np.ix_(o, m)] = -1
    for pairs, value in ((rel.alike, 1), (rel.unlike, -1)):  # judgements win
        for a, b in pairs:
            out[index[a], index[b]] = out[index[b], index[a]] = value
    np.fill_diagonal(out, 0)
    return out


def _split(triplets: NDArray[np.int64], fraction: float, rng: np.random.Generator
           ) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Held-out triplets: those that hold one of a random ``fraction`` of the photos (at
    least one); the training triplets hold none of them, so the held-out figures are about
    photos the training never saw (few judgements are easily memorised)."""
    if fraction <= 0 or len(triplets) < 2:
        return triplets, triplets[:0]
    photos = np.unique(triplets)
    if len(photos) < MIN_HELD_OUT_PHOTOS:  # too few photos to spare: triplets at random
        held_rows = rng.permutation(len(triplets))[:max(1, round(len(triplets) * fraction))]
        mask = np.zeros(len(triplets), bool)
        mask[held_rows] = True
        return triplets[~mask], triplets[mask]
    held = rng.choice(photos, max(1, round(len(photos) * fraction)), replace=False)
    holds = np.asarray(np.isin(triplets, held).any(1), bool)
    if holds.all():  # every triplet holds a held-out photo: hold out those anchors' only
        holds = np.asarray(np.isin(triplets[:, 0], held), bool)
    return triplets[~holds], triplets[holds]


def _pairs(rel: Relations, index: dict[int, int], triplets: NDArray[np.int64],
           held_photos: set[int], rng: np.random.Generator) -> NDArray[np.int64]:
    """Labelled pairs for the binary (same/different) formulation: the judgements and the
    pairs of the training triplets, none about a held-out photo."""
    rows = [(index[a], index[b], 1) for a, b in rel.alike]
    rows += [(index[a], index[b], 0) for a, b in rel.unlike]
    out = np.array(rows, np.int64).reshape(-1, 3)
    if len(triplets):
        ones = np.ones((len(triplets), 1), np.int64)
        out = np.concatenate([out, np.hstack([triplets[:, :2], ones]),
                              np.hstack([triplets[:, [0, 2]], 0 * ones])])
    if held_photos:
        held = np.array(sorted(held_photos), np.int64)
        out = out[~np.isin(out[:, 0], held) & ~np.isin(out[:, 1], held)]
    out = np.unique(out, axis=0)
    return out[rng.permutation(len(out))]
