"""Labels and predictions out of (and labels into) the catalog: CSV, JSON, XMP sidecars.

Label CSV: one row per photo and decision, columns :data:`LABEL_COLUMNS`; ``value`` is
"yes" (has the label) or "no" (not this label). Import accepts the same file, or any CSV
with at least ``path``, ``set`` and ``label`` columns; it matches photos by content hash
first, then by path (absolute or relative to the library). Predictions CSV: ``path``,
``predicted``, ``confidence``, then one column per label with its probability.

XMP sidecars are opt-in: ``photo.xmp`` beside ``photo.jpg`` (the name Lightroom reads;
darktable and digiKam read it too) gets the labels as ``dc:subject`` keywords and as
``lr:hierarchicalSubject`` "Set|Label". An existing sidecar is merged, never replaced; the
photo file itself is never opened for writing. Written through :mod:`core.xmp` (Exiv2).
"""

from __future__ import annotations

import csv
import json
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TextIO

from core import xmp
from core.catalog import Catalog
from core.csvcells import restore, safe_row
from core.errors import LookalikeError
from core.files import why_not_a_file
from core.jobs import Job, RateMeter, check_cancel
from core.labels.heads import head_info
from core.labels.localise import Box
from core.labels.review import load_predictions
from core.labels.store import SOURCE_USER, SOURCES, Assignment, LabelSet, LabelStore
from core.paths import display

log = logging.getLogger(__name__)

LABEL_COLUMNS = ("path", "content_hash", "set", "kind", "label", "value", "source", "created_at")


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
        writer = csv.writer(f)
        writer.writerow(LABEL_COLUMNS)
        writer.writerows(safe_row(row[c] for c in LABEL_COLUMNS) for row in rows)
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
                for path, predicted, confidence, columns, probs, _
                in _prediction_rows(catalog, label_set.id, model)]
        sets.append(entry)
    document = {"library": display(catalog.root), "exported_at": _iso(datetime.now().timestamp()),
                "sets": sets}
    with _writing(path) as f:
        json.dump(document, f, ensure_ascii=False, indent=1)
    return len(rows)


def _prediction_rows(catalog: Catalog, set_id: int, model: str
                     ) -> list[tuple[str, str, float, list[str], list[float], int]]:
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
                        [round(float(p), 6) for p in predictions.probs[row]], pid))
    return sorted(out)


def export_predictions_csv(catalog: Catalog, path: Path, set_id: int, model: str,
                           boxes: Mapping[int, tuple[Box, float]] | None = None) -> int:
    """Columns ``path``, ``predicted``, ``confidence``, then one probability per label;
    with ``boxes`` (see :func:`core.labels.localise.predicted_boxes`) also the best box of the
    predicted label, ``box_x``, ``box_y``, ``box_w``, ``box_h`` (relative to the upright photo)
    and its ``box_score`` (empty for a photo without regions)."""
    rows = _prediction_rows(catalog, set_id, model)
    with _writing(path) as f:
        writer = csv.writer(f)
        header = rows[0][3] if rows else [
            label.name for label in LabelStore(catalog).labels(set_id)]
        extra = ["box_x", "box_y", "box_w", "box_h", "box_score"] if boxes is not None else []
        writer.writerow(safe_row(["path", "predicted", "confidence", *header, *extra]))
        for photo_path, predicted, confidence, _, probs, pid in rows:
            found = boxes.get(pid) if boxes is not None else None
            cells: list[object] = []
            if boxes is not None:
                cells = (["", "", "", "", ""] if found is None else
                         [*(round(v, 4) for v in found[0]), round(found[1], 6)])
            writer.writerow(safe_row([photo_path, predicted, confidence, *probs, *cells]))
    return len(rows)


def import_labels_csv(catalog: Catalog, path: Path) -> ImportResult:
    """Read label decisions from a CSV (see the module doc); creates missing sets and labels.

    Raises LookalikeError, storing nothing, when the file cannot be read or is not a label
    CSV (no header row with the columns set and label, binary data).
    """
    store = LabelStore(catalog)
    rows = _read_label_csv(Path(path))
    for n, row in enumerate(rows, 1):
        if not (row.get("set") or "").strip() or not (row.get("label") or "").strip():
            raise LookalikeError(f"{display(path)}, row {n}: no set or no label "
                                 f"({_row_text(row)}); nothing was imported.")
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


_EXPECTED = (f"a header row with the columns set, label and path (or content_hash), as "
             f"`lookalike labels export --csv` writes: {','.join(LABEL_COLUMNS)}")


def _read_label_csv(path: Path) -> list[dict[str, str]]:
    """The rows of a label CSV, with the cells :func:`core.csvcells.neutralise` changed
    restored. Raises LookalikeError when it is not one."""
    where = display(path)
    why = why_not_a_file(path)  # a FIFO would block, a device never end
    if why:
        raise LookalikeError(f"Cannot read {where}: {why}.")
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
        if b"\x00" in head:
            raise LookalikeError(f"{where} is not a CSV file (it holds binary data): "
                                 f"a label CSV needs {_EXPECTED}.")
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in reader.fieldnames or []]
            if not {"set", "label"} <= set(header) or not {"path", "content_hash"} & set(
                    header):
                found = ",".join(header)[:80] or "nothing"
                raise LookalikeError(f"{where} is not a label CSV: it needs {_EXPECTED} "
                                     f"(its first row is {found!r}).")
            reader.fieldnames = header
            return [{k: restore(v) or "" for k, v in row.items() if isinstance(k, str)}
                    for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        reason = (exc.strerror.lower() if isinstance(exc, OSError) and exc.strerror
                  else "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError)
                  else str(exc))
        raise LookalikeError(f"Cannot read {where}: {reason}.") from exc


def _row_text(row: dict[str, str]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in row.items() if v)[:120]


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

def write_sidecars(catalog: Catalog, set_ids: Iterable[int] | None = None, *,
                   cancel: threading.Event | None = None) -> Job[SidecarResult]:
    """Write (merge) the labels of every labelled photo into its XMP sidecar (a job).

    Keywords Lookalike wrote before for a label the photo no longer has are removed; other
    keywords and all other metadata are kept. A sidecar that cannot be parsed or written
    (not XMP, a read-only folder, a name too long) is left alone and listed; the others
    are written. See :func:`core.xmp.sidecar_path` for RAW+JPEG pairs.
    """
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
    listings: dict[Path, list[str]] = {}
    for n, photo in enumerate(photos, 1):
        check_cancel(cancel)
        folder = photo.path.parent
        if folder not in listings:
            try:
                listings[folder] = os.listdir(folder)
            except OSError:
                listings[folder] = []
        target = xmp.sidecar_path(photo.path, listings[folder])
        reason = xmp.write_or_reason(target, partial(
            xmp.merge_into_sidecar, target, add_keywords=sorted(wanted[photo.id]),
            remove_keywords=managed - wanted[photo.id]))
        if reason is None:
            written += 1
        else:
            failed.append((target, reason))
        yield meter.progress("writing sidecars", n, display(photo.path.name))
    return SidecarResult(written, tuple(failed))
# -- the older helpers of the other exporters (keywords, duplicates), over core.xmp ------------

writing = _writing  # a text file written whole or not at all


def sidecar_path(photo: Path) -> Path:
    """The XMP sidecar of ``photo`` (see :func:`core.xmp.sidecar_path`)."""
    return xmp.sidecar_path(photo)


def read_sidecar(path: Path) -> tuple[list[str], list[str]]:
    """The ``dc:subject`` keywords and ``lr:hierarchicalSubject`` entries of a sidecar."""
    record = xmp.read_sidecar(path)
    return list(record.keywords), list(record.hierarchy)


def merge_sidecar(path: Path, wanted: set[str], managed: set[str], *, flat: bool = True,
                  properties: Mapping[str, str | None] | None = None) -> bool:
    """Merge the hierarchical keywords ``wanted`` into the XMP sidecar ``path``, removing
    those of ``managed`` it no longer wants; ``flat=False`` leaves ``dc:subject`` alone;
    ``properties``: Exiv2 key -> text (None deletes). Raises OSError, or ValueError for a
    sidecar that cannot be read as XMP."""
    try:
        return xmp.merge_into_sidecar(path, add_keywords=sorted(wanted),
                                      remove_keywords=managed - wanted, flat=flat,
                                      properties=properties)
    except xmp.XmpError as exc:
        raise ValueError(str(exc).replace(f"{path}: ", "")) from exc

