"""Labels and predictions out of (and labels into) the catalog: CSV, JSON, XMP sidecars.

Label CSV: one row per photo and decision, columns :data:`LABEL_COLUMNS`; ``value`` is
"yes" (has the label) or "no" (not this label). Import accepts the same file, or any CSV
with at least ``path``, ``set`` and ``label`` columns; it matches photos by content hash
first, then by path (absolute or relative to the library). Predictions CSV: ``path``,
``predicted``, ``confidence``, then one column per label with its probability.

XMP sidecars are opt-in: ``photo.xmp`` beside ``photo.jpg`` (the name Lightroom reads;
darktable and digiKam read it too) gets the labels as ``dc:subject`` keywords and as
``lr:hierarchicalSubject`` "Set|Label". An existing sidecar is merged, never replaced; the
photo file itself is never opened for writing. Written with python-xmp-toolkit (Exempi).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from core.catalog import Catalog
from core.errors import LookalikeError
from core.jobs import Job, RateMeter, check_cancel
from core.labels.heads import head_info
from core.labels.review import load_predictions
from core.labels.store import SOURCE_USER, SOURCES, Assignment, LabelSet, LabelStore
from core.paths import display

log = logging.getLogger(__name__)

LABEL_COLUMNS = ("path", "content_hash", "set", "kind", "label", "value", "source", "created_at")
LR_NS = "http://ns.adobe.com/lightroom/1.0/"
DC_NS = "http://purl.org/dc/elements/1.1/"


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_labels_csv` did: rows stored, and rows whose photo is unknown."""

    imported: int
    unknown: int
    unknown_paths: tuple[str, ...]


@dataclass(frozen=True)
class SidecarResult:
    """What :func:`write_sidecars` did: sidecars written, and (path, reason) failures."""

    written: int
    failed: tuple[tuple[Path, str], ...]


def _sets(store: LabelStore, set_ids: Iterable[int] | None) -> list[LabelSet]:
    return store.sets() if set_ids is None else [store.get_set(i) for i in set_ids]


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")


def _label_rows(catalog: Catalog, set_ids: Iterable[int] | None) -> list[dict[str, str]]:
    store = LabelStore(catalog)
    rows = []
    for label_set in _sets(store, set_ids):
        names = {label.id: label.name for label in store.labels(label_set.id)}
        found = store.assignments(label_set.id)
        paths = _paths_by_hash(catalog, {a.content_hash for a in found})
        for a in found:
            for path in paths.get(a.content_hash, [""]):
                rows.append({"path": path, "content_hash": a.content_hash,
                             "set": label_set.name, "kind": label_set.kind,
                             "label": names[a.label_id], "value": "yes" if a.positive else "no",
                             "source": a.source, "created_at": _iso(a.created_at)})
    return rows


def _paths_by_hash(catalog: Catalog, hashes: set[str]) -> dict[str, list[str]]:
    ids = catalog.ids_by_hash(hashes)
    photos = {p.id: p for p in catalog.photos([i for group in ids.values() for i in group])}
    return {h: sorted(display(photos[i].path) for i in group if i in photos)
            for h, group in ids.items()}


def export_labels_csv(catalog: Catalog, path: Path, set_ids: Iterable[int] | None = None) -> int:
    """Write every label decision (of all sets, or of ``set_ids``) to ``path``; rows written."""
    rows = _label_rows(catalog, set_ids)
    with _writing(path) as f:
        writer = csv.DictWriter(f, fieldnames=LABEL_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def export_json(catalog: Catalog, path: Path, model: str,
                set_ids: Iterable[int] | None = None) -> int:
    """Write the label sets, their decisions and the predictions of ``model`` as JSON."""
    store = LabelStore(catalog)
    rows = _label_rows(catalog, set_ids)
    sets = []
    for label_set in _sets(store, set_ids):
        labels = store.labels(label_set.id)
        entry: dict[str, object] = {
            "name": label_set.name, "kind": label_set.kind,
            "labels": [{"name": label.name, "photos": label.count} for label in labels],
            "assignments": [{k: v for k, v in r.items() if k not in ("set", "kind")}
                            for r in rows if r["set"] == label_set.name],
        }
        info = head_info(catalog, label_set.id, model)
        predictions = load_predictions(catalog, label_set.id, model)
        if info is not None:
            entry["head"] = {"model": model, "kind": info.kind, "version": info.version,
                             "trained_at": _iso(info.trained_at),
                             "validation": info.validation.method,
                             "accuracy": round(info.validation.accuracy, 4)}
        if predictions is not None:
            entry["predictions"] = [
                {"path": path, "predicted": predicted, "confidence": confidence,
                 "probabilities": dict(zip(columns, probs, strict=True))}
                for path, predicted, confidence, columns, probs
                in _prediction_rows(catalog, label_set.id, model)]
        sets.append(entry)
    document = {"library": display(catalog.root), "exported_at": _iso(datetime.now().timestamp()),
                "sets": sets}
    with _writing(path) as f:
        json.dump(document, f, ensure_ascii=False, indent=1)
    return len(rows)


def _prediction_rows(catalog: Catalog, set_id: int, model: str
                     ) -> list[tuple[str, str, float, list[str], list[float]]]:
    predictions = load_predictions(catalog, set_id, model)
    if predictions is None:
        name = LabelStore(catalog).get_set(set_id).name
        raise LookalikeError(f"No predictions for {name!r} with {model} yet: train it first.")
    names = {label.id: label.name for label in LabelStore(catalog).labels(set_id)}
    columns = [names.get(i, f"label {i}") for i in predictions.label_ids]
    photos = {p.id: p for p in catalog.photos(predictions.photo_ids.tolist())}
    top, confidence = predictions.top()
    out = []
    for row, pid in enumerate(predictions.photo_ids.tolist()):
        if pid in photos:
            out.append((display(photos[pid].path), columns[top[row]],
                        round(float(confidence[row]), 6), columns,
                        [round(float(p), 6) for p in predictions.probs[row]]))
    return sorted(out)


def export_predictions_csv(catalog: Catalog, path: Path, set_id: int, model: str) -> int:
    """Columns ``path``, ``predicted``, ``confidence``, then one probability per label."""
    rows = _prediction_rows(catalog, set_id, model)
    with _writing(path) as f:
        writer = csv.writer(f)
        header = rows[0][3] if rows else [
            label.name for label in LabelStore(catalog).labels(set_id)]
        writer.writerow(["path", "predicted", "confidence", *header])
        for photo_path, predicted, confidence, _, probs in rows:
            writer.writerow([photo_path, predicted, confidence, *probs])
    return len(rows)


def import_labels_csv(catalog: Catalog, path: Path) -> ImportResult:
    """Read label decisions from a CSV (see the module doc); creates missing sets and labels."""
    store = LabelStore(catalog)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise LookalikeError(f"Cannot read {path}: {exc}.") from exc
    if rows and not {"set", "label"} <= set(rows[0]):
        raise LookalikeError(f"{path} needs the columns path (or content_hash), set and label.")
    assignments: list[Assignment] = []
    unknown: list[str] = []
    for row in rows:
        digest = (row.get("content_hash") or "").strip() or _hash_of(catalog, row.get("path"))
        if not digest:
            unknown.append(row.get("path") or "")
            continue
        multi = (row.get("kind") or "").strip() == "multi-label"
        label_set = store.ensure_set(row["set"], multi=multi)
        label = store.ensure_label(label_set.id, row["label"])
        value = (row.get("value") or "yes").strip().lower()
        source = (row.get("source") or "").strip()
        assignments.append(Assignment(
            label.id, digest, value not in ("no", "0", "false", "n"),
            source if source in SOURCES else SOURCE_USER, _timestamp(row.get("created_at"))))
    store.import_assignments(assignments)
    return ImportResult(len(assignments), len(unknown), tuple(unknown))


def _hash_of(catalog: Catalog, path: str | None) -> str | None:
    if not path:
        return None
    candidate = Path(path)
    photo = catalog.photo_by_path(candidate if candidate.is_absolute()
                                  else catalog.root / candidate)
    return photo.content_hash if photo else None


def _timestamp(text: str | None) -> float:
    try:
        return datetime.fromisoformat((text or "").strip()).timestamp()
    except ValueError:
        try:
            return float(text or "")
        except ValueError:
            return datetime.now().timestamp()


@contextmanager
def _writing(path: Path) -> Iterator[TextIO]:
    """A text file for ``path``, written to a temporary name and renamed on success."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            yield f
        os.replace(tmp, path)
    except OSError as exc:
        raise LookalikeError(f"Cannot write {path}: {exc.strerror}.") from exc
    finally:
        tmp.unlink(missing_ok=True)


writing = _writing  # for the other exporters (core.keywords.export)


# -- XMP sidecars --------------------------------------------------------------------------

def sidecar_path(photo: Path) -> Path:
    """``IMG_0001.xmp`` for ``IMG_0001.JPG`` (Lightroom's convention)."""
    return photo.with_suffix(".xmp")


def write_sidecars(catalog: Catalog, set_ids: Iterable[int] | None = None, *,
                   cancel: threading.Event | None = None) -> Job[SidecarResult]:
    """Write (merge) the labels of every labelled photo into its XMP sidecar (a job).

    Keywords Lookalike wrote before for a label the photo no longer has are removed; other
    keywords are kept. A sidecar that cannot be parsed is left alone and reported.
    """
    xmp = _libxmp()
    store = LabelStore(catalog)
    wanted: dict[int, set[str]] = {}
    managed: set[str] = set()
    for label_set in _sets(store, set_ids):
        names = {label.id: label.name for label in store.labels(label_set.id)}
        managed |= {f"{label_set.name}|{name}" for name in names.values()}
        for pid, label_ids in store.photo_labels(label_set.id).items():
            wanted.setdefault(pid, set()).update(f"{label_set.name}|{names[i]}"
                                                 for i in label_ids)
    photos = catalog.photos(sorted(wanted))
    meter = RateMeter(len(photos))
    written, failed = 0, []
    for n, photo in enumerate(photos, 1):
        check_cancel(cancel)
        try:
            _merge_sidecar(xmp, sidecar_path(photo.path), wanted[photo.id], managed)
            written += 1
        except (OSError, xmp.XMPError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            failed.append((sidecar_path(photo.path), reason))
            log.warning("XMP sidecar %s: %s", sidecar_path(photo.path), reason)
        yield meter.progress("writing sidecars", n, display(photo.path.name))
    return SidecarResult(written, tuple(failed))


def read_sidecar(path: Path) -> tuple[list[str], list[str]]:
    """The ``dc:subject`` keywords and ``lr:hierarchicalSubject`` entries of a sidecar."""
    xmp = _libxmp()
    meta = xmp.XMPMeta(xmp_str=Path(path).read_text(encoding="utf-8"))
    return _items(meta, DC_NS, "subject"), _items(meta, LR_NS, "hierarchicalSubject")


def _libxmp() -> ModuleType:
    """python-xmp-toolkit, with Exempi loaded (imported on first use: it is optional)."""
    try:
        import libxmp
    except ImportError as exc:
        raise LookalikeError("Writing XMP sidecars needs python-xmp-toolkit "
                             "(pip install python-xmp-toolkit).") from exc
    try:
        libxmp.XMPMeta()  # loads Exempi
    except libxmp.ExempiLoadError as exc:
        raise LookalikeError(
            "Writing XMP sidecars needs the Exempi library "
            "(Debian/Ubuntu: apt install libexempi8; macOS: brew install exempi).") from exc
    return libxmp


def _items(meta: Any, ns: str, name: str) -> list[str]:
    count = meta.count_array_items(ns, name) if meta.does_property_exist(ns, name) else 0
    return [meta.get_array_item(ns, name, i) for i in range(1, count + 1)]


def merge_sidecar(path: Path, wanted: set[str], managed: set[str], *,
                  flat: bool = True, properties: Callable[[Any], bool] | None = None) -> None:
    """Merge the hierarchical keywords ``wanted`` into the XMP sidecar ``path``, removing
    those of ``managed`` it no longer wants; ``flat=False`` leaves ``dc:subject`` alone;
    ``properties(meta)`` may set more (and says whether it changed anything).
    Raises OSError, or ValueError for a sidecar that cannot be parsed."""
    xmp = _libxmp()
    try:
        _merge_sidecar(xmp, path, wanted, managed, flat, properties)
    except xmp.XMPError as exc:
        raise ValueError(f"the sidecar cannot be read as XMP ({exc})") from exc


def _merge_sidecar(xmp: ModuleType, path: Path, wanted: set[str], managed: set[str],
                   flat: bool = True, properties: Callable[[Any], bool] | None = None) -> None:
    meta = xmp.XMPMeta()
    if path.exists():
        meta = xmp.XMPMeta(xmp_str=path.read_text(encoding="utf-8"))
    meta.register_namespace(LR_NS, "lr")
    changed = properties(meta) if properties is not None else False
    subjects = _items(meta, DC_NS, "subject")
    hierarchy = _items(meta, LR_NS, "hierarchicalSubject")
    stale = {h for h in hierarchy if h in managed and h not in wanted}
    leaves_kept = {h.rsplit("|", 1)[-1] for h in (set(hierarchy) - stale) | wanted}
    stale_leaves = {h.rsplit("|", 1)[-1] for h in stale} - leaves_kept
    new_hierarchy = [h for h in hierarchy if h not in stale]
    new_hierarchy += sorted(wanted - set(hierarchy))
    new_subjects = [s for s in subjects if s not in stale_leaves]
    new_subjects += sorted({h.rsplit("|", 1)[-1] for h in wanted} - set(subjects))
    if not flat:
        new_subjects = subjects
    if (new_subjects, new_hierarchy) == (subjects, hierarchy) and path.exists() and not changed:
        return
    bag = {"prop_array_is_unordered": True}
    for ns, name, items in ((DC_NS, "subject", new_subjects),
                            (LR_NS, "hierarchicalSubject", new_hierarchy)):
        meta.delete_property(ns, name)
        for item in items:
            meta.append_array_item(ns, name, item, bag)
    text = meta.serialize_to_unicode(omit_packet_wrapper=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
