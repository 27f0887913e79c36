"""Finding the groups of a library (a job): candidates, kinds, capped groups, best picks.

1. Items: a RAW file and a JPEG of the same name in one folder are one shot, one item (the
   JPEG stands for it; the RAW is its companion), never a duplicate pair.
2. Candidate pairs: the neighbour graph of the embeddings at the model's radius
   (:func:`core.duplicates.graph.radius_pairs`), plus each photo's two nearest down to the
   model's ``rotated_radius`` where the pair may be a copy rotated in its pixels (shapes
   turned or equal, not two shots by their times), plus photos with one content hash, plus
   frames of one camera within the burst window (capture times, a sort: no n^2).
3. Each candidate is classified (:func:`core.duplicates.kinds.classify`) from cheap checks;
   the photos' pixels are read once each, at low resolution, only for candidates.
4. Groups: union-find over the kept pairs, strongest kind first, never past ``cap`` photos.
5. Each group gets a best pick with reasons, and its stored decisions if still valid.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from core.catalog import Catalog, Photo
from core.decode.reader import RAW_EXTENSIONS
from core.duplicates import graph, store
from core.duplicates.graph import CappedUnion
from core.duplicates.kinds import (
    EXACT,
    REENCODE,
    STRENGTH,
    PairFacts,
    Thresholds,
    classify,
    thresholds_for,
)
from core.duplicates.pick import Candidate, best
from core.duplicates.pixels import Quality, Signature, signature
from core.duplicates.taste import Taste, taste_pick
from core.errors import LookalikeError
from core.jobs import Job, RateMeter, check_cancel

log = logging.getLogger(__name__)

GROUP_CAP = 50  # photos in one group at most


@dataclass(frozen=True)
class Pair:
    """Two photos of a group and what they are to each other."""

    a: int
    b: int
    kind: str
    similarity: float


@dataclass(frozen=True)
class Group:
    """Near-identical photos, the proposed (or decided) pick and the rejects.

    ``decisions`` maps photo id to "pick"/"reject": the user's where the group is
    ``decided``, else the automatic proposal (the best pick, the rest rejected).
    """

    key: str
    photos: tuple[Photo, ...]
    pairs: tuple[Pair, ...]
    pick: int
    reasons: tuple[str, ...]
    decisions: dict[int, str]
    decided: bool
    scores: dict[int, float] = field(default_factory=dict)
    quality: dict[int, Quality] = field(default_factory=dict)
    companions: dict[int, tuple[Path, ...]] = field(default_factory=dict)
    decided_by: str = ""  # "user", or "auto" (proposals stored with --accept); "" undecided

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of its pairs, strongest first, each once."""
        return tuple(sorted({p.kind for p in self.pairs}, key=STRENGTH.__getitem__))

    def rejects(self) -> list[Photo]:
        return [p for p in self.photos if self.decisions.get(p.id) == store.REJECT]


@dataclass(frozen=True)
class Report:
    """Every group found, and the photos whose pixels could not be read (path, reason)."""

    groups: tuple[Group, ...]
    photos: int
    unreadable: tuple[tuple[Path, str], ...]


def find_groups(catalog: Catalog, model: str, *, folder: Path | None = None,
                ids: Iterable[int] | None = None, kinds: Iterable[str] | None = None,
                thresholds: Thresholds | None = None, cap: int = GROUP_CAP,
                pixels: bool = True, taste: Taste | None = None,
                cancel: threading.Event | None = None) -> Job[Report]:
    """Find the duplicate groups among the library's photos (or those under ``folder``, or
    ``ids``) with the embeddings of ``model``; keep only pairs of ``kinds`` if given.
    ``pixels`` False: no photo is read, kinds come from hashes, times and embeddings only
    (the benchmark's measure of the grouping itself). ``taste``: a head trained on the user's
    decisions (:func:`core.duplicates.taste.train_taste`) picks in undecided groups."""
    th = thresholds or thresholds_for(model)
    items, companions = _items(catalog, _selected(catalog, folder, ids))
    by_id = {p.id: p for p in items}
    yield RateMeter(1).progress("reading embeddings", 0)
    vectors = Vectors(catalog, model, [p.id for p in items])
    emb_ids = vectors.ids
    check_cancel(cancel)
    candidates: dict[tuple[int, int], float] = {}
    if len(emb_ids) > 1:
        # without pixels a rotated copy cannot be confirmed: no low band then
        rows_a, rows_b, sims = vectors.radius_pairs(th.radius, max_per_row=th.neighbours,
                                                    low=th.rotated_radius if pixels else None)
        check_cancel(cancel)
        high = sims >= th.radius
        for a, b, s in zip(emb_ids[rows_a[high]].tolist(), emb_ids[rows_b[high]].tolist(),
                           sims[high].tolist(), strict=True):
            candidates[(min(a, b), max(a, b))] = s
        if not high.all():
            low = _may_be_rotated(by_id, emb_ids, rows_a[~high], rows_b[~high])
            candidates.update(_rescored(vectors, rows_a[~high][low], rows_b[~high][low],
                                        th.rotated_radius))
    extra = [pair for pair in _hash_pairs(catalog, items)
             + _time_pairs(items, th)
             if pair not in candidates]
    candidates.update(zip(extra, vectors.similarities(extra).tolist(), strict=True))
    del vectors
    wanted = set(kinds) if kinds else None
    needed = sorted({i for pair in candidates for i in pair
                     if pixels and not _same_hash(by_id, *pair)})
    signatures: dict[int, Signature] = {}
    unreadable: list[tuple[Path, str]] = []
    meter = RateMeter(len(needed))
    for n, photo in enumerate(catalog.photos(needed), 1):
        check_cancel(cancel)
        try:
            signatures[photo.id] = signature(photo.path)
        except LookalikeError as exc:
            unreadable.append((photo.path, str(exc)))
        if n % 8 == 0 or n == len(needed):
            yield meter.progress("comparing photos", n, photo.path.name)
    pairs: list[Pair] = []
    for (a, b), sim in candidates.items():
        pa, pb = by_id[a], by_id[b]
        facts = PairFacts(_same_hash(by_id, a, b), sim,
                          bool(pa.camera) and pa.camera == pb.camera)
        kind = classify(facts, signatures.get(a), signatures.get(b), th)
        if kind is not None and (wanted is None or kind in wanted):
            pairs.append(Pair(a, b, kind, round(sim, 4)))
    groups = _groups(catalog, pairs, signatures, companions, cap)
    if taste is not None:
        groups = _with_taste(catalog, model, groups, taste)
    return Report(tuple(groups), len(items), tuple(unreadable))


class _Row(NamedTuple):
    """What the grouping needs of a photo (full :class:`Photo` s only for the grouped)."""

    id: int
    rel: bytes  # the stored path, relative to the library root
    content_hash: str
    captured_at: str | None
    camera: str | None
    width: int | None
    height: int | None


def _selected(catalog: Catalog, folder: Path | None, ids: Iterable[int] | None) -> list[_Row]:
    """The read photos (they have a hash), or those of ``ids``, or under ``folder``."""
    make = functools.partial(tuple.__new__, _Row)  # _Row(*r) costs 5 s for 1M rows
    rows: list[_Row] = list(map(make, catalog.conn.execute(
        "SELECT id, path, content_hash, captured_at, camera, width, height FROM photos "
        "WHERE content_hash IS NOT NULL ORDER BY id")))
    if ids is not None:
        wanted = {int(i) for i in ids}
        rows = [r for r in rows if r.id in wanted]
    if folder is not None:
        prefix = catalog.encode_path(Path(folder).resolve())
        if prefix != b".":
            inside = prefix + os.sep.encode()
            rows = [r for r in rows if r.rel == prefix or r.rel.startswith(inside)]
    return rows


def _items(catalog: Catalog, rows: list[_Row]) -> tuple[list[_Row], dict[int, tuple[Path, ...]]]:
    """Photos with each RAW that has a non-RAW twin (same folder, same name) folded into it.

    Only the names that some RAW file has are grouped (a dictionary of every photo's name
    took 24 s of a million photos' 60)."""
    raw_stems = {_stem(r.rel) for r in rows if _is_raw(r.rel)}
    if not raw_stems:
        return rows, {}
    by_stem: dict[bytes, list[_Row]] = defaultdict(list)
    items: list[_Row] = []
    for r in rows:
        stem = _stem(r.rel)
        (by_stem[stem] if stem in raw_stems else items).append(r)
    companions: dict[int, tuple[Path, ...]] = {}
    for shot in by_stem.values():
        raws = [r for r in shot if _is_raw(r.rel)]
        others = [r for r in shot if not _is_raw(r.rel)]
        if raws and others:
            companions[others[0].id] = tuple(catalog.decode_path(r.rel) for r in raws)
            items.extend(others)
        else:
            items.extend(shot)
    items.sort(key=lambda r: r.id)
    return items, companions


_RAW_SUFFIXES = frozenset(e[1:].encode() for e in RAW_EXTENSIONS)


def _is_raw(rel: bytes) -> bool:
    _, dot, suffix = rel.rpartition(b".")
    if not dot:
        return False
    if suffix.isascii():
        return suffix.lower() in _RAW_SUFFIXES
    return "." + os.fsdecode(suffix).lower() in RAW_EXTENSIONS


def _stem(rel: bytes) -> bytes:
    """The name without its suffix, lower case: a RAW and its JPEG share it."""
    stem, dot, suffix = rel.rpartition(b".")
    return (stem if dot else suffix).lower()


def _same_hash(by_id: dict[int, _Row], a: int, b: int) -> bool:
    return by_id[a].content_hash == by_id[b].content_hash


def _may_be_rotated(by_id: dict[int, _Row], ids: np.ndarray, ra: np.ndarray, rb: np.ndarray
                    ) -> np.ndarray:
    """Which pairs of rows (ra, rb) below the radius stay candidates: those that may be a copy
    rotated in its pixels (:func:`core.duplicates.kinds.may_be_rotated`, vectorised; the
    32-px check tries the turns)."""
    if not len(ra):
        return np.zeros(0, bool)
    rows = [by_id[int(i)] for i in ids]
    aspect = np.array([r.width / r.height if r.width and r.height else 0.0 for r in rows])
    moments = sorted({r.captured_at for r in rows if r.captured_at})
    code = {m: n + 1 for n, m in enumerate(moments)}
    taken = np.array([code.get(r.captured_at or "", 0) for r in rows])
    xa, xb = aspect[ra], aspect[rb]
    known = (xa > 0) & (xb > 0)
    turned = np.abs(xa * xb - 1) < 0.02
    same = np.abs(xa - xb) < 0.02 * np.maximum(np.maximum(xa, xb), 1e-9)
    ta, tb = taken[ra], taken[rb]
    one_shot = (ta == 0) | (tb == 0) | (ta == tb)
    return known & (turned | same) & one_shot


def _rescored(vectors: Vectors, ra: np.ndarray, rb: np.ndarray, floor: float | None
              ) -> dict[tuple[int, int], float]:
    """The pairs of rows (ra, rb) (the graph's low band, whose scores may be approximate)
    whose exact similarity is at least ``floor``, by photo ids."""
    out: dict[tuple[int, int], float] = {}
    if floor is None or not len(ra):
        return out
    exact = vectors.dots(ra, rb)
    keep = exact >= floor
    ids = vectors.ids
    for x, y, s in zip(ids[ra[keep]].tolist(), ids[rb[keep]].tolist(), exact[keep].tolist(),
                       strict=True):
        out[(min(x, y), max(x, y))] = s
    return out


HOLD_BYTES = 512 << 20  # float16 vectors held in memory at most (200k photos at 1280-d)


class Vectors:
    """The embeddings of the photos ``wanted`` (those that have one, ``ids``, sorted), for
    the neighbour graph: held in memory up to :data:`HOLD_BYTES`; above, read from the
    catalog a block at a time (the graph holds only their projection) and the few rows the
    exact scores need read again by id."""

    def __init__(self, catalog: Catalog, model: str, wanted: list[int]) -> None:
        self.catalog, self.model = catalog, model
        stored = np.fromiter((r[0] for r in catalog.conn.execute(
            "SELECT photo_id FROM embeddings WHERE model = ?", (model,))), np.int64)
        self.ids = _common(stored, np.asarray(wanted, np.int64))
        self._held: np.ndarray | None = None
        if len(self.ids) <= graph.EXACT_MAX:
            ids, held = catalog.stored_embeddings(model, self.ids.tolist())
            self.ids, self._held = ids, held  # ids: those still there when read
            return
        row = catalog.conn.execute("SELECT length(vector) FROM embeddings WHERE model = ? "
                                   "LIMIT 1", (model,)).fetchone()
        if row is not None and len(self.ids) * row[0] <= HOLD_BYTES:
            # read once, in one pass; the exact scores then need no second read
            held = np.empty((len(self.ids), row[0] // 2), np.float16)
            done = 0
            for block in self._blocks():
                held[done:done + len(block)] = block
                done += len(block)
            self._held = held[:done]

    def radius_pairs(self, radius: float, **options: Any) -> graph.Pairs:
        """:func:`graph.radius_pairs` over these vectors (rows: positions in ``ids``)."""
        if self._held is not None:
            return graph.radius_pairs(self._held, radius, **options)
        n = len(self.ids)
        sample = self.rows(graph.sample_positions(n, options.get("seed", 0)))
        return graph.radius_pairs_streamed(n, sample, self._blocks(), self.dots, radius,
                                           **options)

    def _blocks(self) -> Iterator[np.ndarray]:
        """The vectors of ``ids`` in order: one scan of the model's embeddings."""
        done = 0
        with self.catalog.read_snapshot():
            for block_ids, block in self.catalog.embedding_blocks(self.model,
                                                                     graph.PROJECT_BLOCK):
                keep = np.isin(block_ids, self.ids, assume_unique=True)
                if not keep.all():
                    block_ids, block = block_ids[keep], block[keep]
                if not np.array_equal(block_ids, self.ids[done:done + len(block_ids)]):
                    raise LookalikeError("The library's embeddings changed while duplicates "
                                         "were searched; run it again.")
                done += len(block_ids)
                yield block

    def rows(self, positions: np.ndarray) -> np.ndarray:
        """float32 vectors at ``positions`` (into ``ids``)."""
        if self._held is not None:
            return np.asarray(self._held[positions], np.float32)
        unique, inverse = np.unique(positions, return_inverse=True)
        ids, vectors = self.catalog.stored_embeddings(self.model, self.ids[unique].tolist())
        if not np.array_equal(ids, self.ids[unique]):
            raise LookalikeError("The library's embeddings changed while duplicates were "
                                 "searched; run it again.")
        return np.asarray(vectors, np.float32)[inverse]

    def dots(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Exact similarities of the pairs of rows (i[k], j[k])."""
        out = np.empty(len(i), np.float32)
        for start in range(0, len(i), 4096):
            both = self.rows(np.concatenate([i[start:start + 4096], j[start:start + 4096]]))
            half = len(both) // 2
            out[start:start + half] = np.einsum("ij,ij->i", both[:half], both[half:])
        return out

    def similarities(self, pairs: list[tuple[int, int]]) -> np.ndarray:
        """Exact similarities of pairs of photo ids (0 where one has no embedding)."""
        if not pairs:
            return np.zeros(0, np.float32)
        a, b = (np.array(side, np.int64) for side in zip(*pairs, strict=True))
        if not len(self.ids):
            return np.zeros(len(pairs), np.float32)
        pa = np.minimum(np.searchsorted(self.ids, a), len(self.ids) - 1)
        pb = np.minimum(np.searchsorted(self.ids, b), len(self.ids) - 1)
        known = (self.ids[pa] == a) & (self.ids[pb] == b)
        out = np.zeros(len(pairs), np.float32)
        if known.any():
            out[known] = self.dots(pa[known], pb[known])
        return out


def _common(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The values of sorted unique ``a`` that sorted unique ``b`` has too (linear: no sort)."""
    if not len(a) or not len(b):
        return np.zeros(0, np.int64)
    at = np.minimum(np.searchsorted(b, a), len(b) - 1)
    return a[b[at] == a]


def _hash_pairs(catalog: Catalog, items: list[_Row]) -> list[tuple[int, int]]:
    """(first, other) for the photos that share a content hash (the catalog's index names
    the shared hashes: no dictionary of every photo's)."""
    shared = {h for (h,) in catalog.conn.execute(
        "SELECT content_hash FROM photos WHERE content_hash IS NOT NULL "
        "GROUP BY content_hash HAVING count(*) > 1")}
    by_hash: dict[str, list[int]] = defaultdict(list)
    for p in items:
        if p.content_hash in shared:
            by_hash[p.content_hash].append(p.id)
    return [(ids[0], other) for ids in by_hash.values() if len(ids) > 1 for other in ids[1:]]


def _time_pairs(items: list[_Row], th: Thresholds) -> list[tuple[int, int]]:
    """Consecutive photos of one camera whose capture times (to the second, as the catalog
    has them) are within the burst window: a sort per camera, linear."""
    by_camera: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for p in items:
        if p.camera and p.captured_at:
            try:
                moment = datetime.fromisoformat(p.captured_at).timestamp()
            except ValueError:
                continue
            by_camera[p.camera].append((moment, p.id))
    out = []
    for shots in by_camera.values():
        shots.sort()
        for (t0, a), (t1, b) in itertools.pairwise(shots):
            if t1 - t0 <= th.burst_gap_s + 1:  # +1: the catalog's times lack sub-seconds
                out.append((min(a, b), max(a, b)))
    return out


def _groups(catalog: Catalog, pairs: list[Pair],
            signatures: dict[int, Signature], companions: dict[int, tuple[Path, ...]],
            cap: int) -> list[Group]:
    ids = sorted({i for p in pairs for i in (p.a, p.b)})
    pos = {pid: n for n, pid in enumerate(ids)}
    by_id = {p.id: p for p in catalog.photos(ids)}
    stored = store.decisions(catalog, (p.content_hash or "" for p in by_id.values()))
    union = CappedUnion(len(ids), cap)
    kept: list[Pair] = []
    for pair in sorted(pairs, key=lambda p: (STRENGTH[p.kind], -p.similarity, p.a, p.b)):
        if union.union(pos[pair.a], pos[pair.b]):
            kept.append(pair)
    root_pairs: dict[int, list[Pair]] = defaultdict(list)
    for pair in kept:
        root_pairs[union.find(pos[pair.a])].append(pair)
    groups = []
    for members in union.groups():
        photos = tuple(by_id[ids[m]] for m in members)
        group_pairs = tuple(root_pairs[union.find(members[0])])
        groups.append(_group(stored, photos, group_pairs, signatures, companions))
    return groups


def _group(stored_all: dict[str, store.Decision], photos: tuple[Photo, ...],
           pairs: tuple[Pair, ...],
           signatures: dict[int, Signature], companions: dict[int, tuple[Path, ...]]) -> Group:
    quality = {p.id: signatures[p.id].quality for p in photos if p.id in signatures}
    copies: dict[int, int] = defaultdict(int)
    for pair in pairs:
        if pair.kind in (EXACT, REENCODE):
            copies[pair.a] += 1
            copies[pair.b] += 1
    candidates = [Candidate(p.id, (p.width or 0) * (p.height or 0), p.size, quality.get(p.id),
                            copies[p.id]) for p in photos]
    if len(quality) < len(photos) and all(pair.kind == EXACT for pair in pairs):
        quality = {}  # exact copies only: the pixels were never needed
        candidates = [Candidate(c.photo_id, c.pixels, c.size, Quality(0, 0, 0), c.copies)
                      for c in candidates]
    only_copies = all(pair.kind in (EXACT, REENCODE) for pair in pairs)
    chosen = best(candidates, only_copies)
    key = store.group_key(p.content_hash or "" for p in photos)
    stored = {p.content_hash: stored_all[p.content_hash] for p in photos
              if p.content_hash in stored_all}
    decided = all(p.content_hash in stored and stored[p.content_hash].group_key == key
                  for p in photos)
    decisions = _decisions(photos, stored if decided else {}, chosen.photo_id)
    pick = next((p.id for p in photos if decisions[p.id] == store.PICK), chosen.photo_id)
    by = ("user" if any(d.source == "user" for d in stored.values()) else "auto") \
        if decided else ""
    return Group(key, photos, pairs, pick, chosen.reasons, decisions, decided,
                 chosen.scores, quality, {p.id: companions[p.id] for p in photos
                                          if p.id in companions}, by)


def _with_taste(catalog: Catalog, model: str, groups: list[Group], taste: Taste) -> list[Group]:
    """Undecided groups re-picked by the user's taste head."""
    ids, vectors = catalog.embeddings(model, [p.id for g in groups for p in g.photos])
    vector_of = {int(i): v for i, v in zip(ids, vectors, strict=True)}
    agree = f" (agreed with {taste.agreement:.0%} of your held-out picks)" \
        if taste.agreement is not None else ""
    out = []
    for group in groups:
        pick = None if group.decided else taste_pick(taste, vector_of,
                                                     [p.id for p in group.photos])
        if pick is None:
            out.append(group)
            continue
        out.append(replace(group, pick=pick, decisions=_decisions(group.photos, {}, pick),
                           reasons=(f"your taste, learned from your decisions{agree}",)))
    return out


def _decisions(photos: tuple[Photo, ...], stored: dict[str, store.Decision],
               proposed: int) -> dict[int, str]:
    """Photo id -> pick/reject: the stored decisions, else the proposal. Exact copies share
    a hash, hence a decision: of a picked hash only the first copy is kept, the rest are
    rejected as redundant."""
    out: dict[int, str] = {}
    seen: set[str] = set()
    for p in sorted(photos, key=lambda p: (p.id != proposed, str(p.path))):
        h = p.content_hash or ""
        wanted = stored[h].decision if stored else store.PICK if p.id == proposed else store.REJECT
        if wanted == store.PICK and h in seen:
            wanted = store.REJECT
        seen.add(h)
        out[p.id] = wanted
    return out
