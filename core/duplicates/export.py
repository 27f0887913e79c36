"""Decisions out to where other tools read them: XMP sidecars, a CSV or JSON report, a plain
list of reject paths. Nothing here touches a photo file: sidecars are separate files,
written (merged) with the labels' XMP code (:func:`core.labels.export.merge_sidecar`).
Every file is written through a temporary name and renamed: a killed run leaves each one
whole, old or new.

A reject gets ``xmp:Rating`` -1 (Lightroom, darktable and digiKam read it as rejected) and the
keyword "Duplicates|Reject"; a pick the keyword "Duplicates|Pick" and its rating kept (a -1
that Lookalike wrote before is cleared).
"""

from __future__ import annotations

import csv
import json
import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core import xmp
from core.csvcells import safe_row
from core.duplicates.finder import Group
from core.duplicates.store import PICK, REJECT
from core.files import atomic_write, write_bytes_atomic
from core.jobs import Job, RateMeter, check_cancel
from core.labels.export import SidecarResult, merge_sidecar, sidecar_path
from core.paths import display

log = logging.getLogger(__name__)

XMP_NS = "http://ns.adobe.com/xap/1.0/"
KEYWORDS = {PICK: "Duplicates|Pick", REJECT: "Duplicates|Reject"}
CSV_COLUMNS = ("group", "path", "decision", "decided_by", "kinds", "width", "height", "size",
               "captured_at", "camera", "score", "reasons")


def rows(groups: Sequence[Group]) -> list[dict[str, Any]]:
    """One row per photo of every group (the CSV's and, nested, the JSON's content)."""
    out = []
    for n, group in enumerate(groups, 1):
        for photo in group.photos:
            out.append({
                "group": n, "path": display(photo.path), "decision": group.decisions[photo.id],
                "decided_by": (group.decided_by or "user") if group.decided else "proposal",
                "kinds": " ".join(group.kinds), "width": photo.width, "height": photo.height,
                "size": photo.size, "captured_at": photo.captured_at, "camera": photo.camera,
                "score": group.scores.get(photo.id),
                "reasons": "; ".join(group.reasons) if photo.id == group.pick else "",
            })
    return out


def to_json(groups: Sequence[Group]) -> list[dict[str, Any]]:
    """Groups as JSON-ready dicts: photos, pairs with their kind, the pick and its reasons."""
    out = []
    for group in groups:
        path = {p.id: display(p.path) for p in group.photos}
        out.append({
            "key": group.key, "decided": group.decided, "kinds": list(group.kinds),
            "pick": path[group.pick], "reasons": list(group.reasons),
            "photos": [{"path": path[p.id], "decision": group.decisions[p.id],
                        "width": p.width, "height": p.height, "size": p.size,
                        "captured_at": p.captured_at, "camera": p.camera,
                        "score": group.scores.get(p.id),
                        "raw": [display(c) for c in group.companions.get(p.id, ())]}
                       for p in group.photos],
            "pairs": [{"a": path[q.a], "b": path[q.b], "kind": q.kind,
                       "similarity": q.similarity} for q in group.pairs],
        })
    return out


def write_csv(groups: Sequence[Group], path: Path) -> int:
    """Write the CSV report; returns the rows written."""
    data = rows(groups)

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            writer.writerows(safe_row(row.get(c, "") for c in CSV_COLUMNS) for row in data)
    atomic_write(Path(path), write)
    return len(data)


def write_rejects(groups: Sequence[Group], path: Path) -> int:
    """Write the rejected photos' paths, one a line (with their RAW companions)."""
    lines = []
    for group in groups:
        for photo in group.rejects():
            lines.append(str(photo.path))
            lines.extend(str(c) for c in group.companions.get(photo.id, ()))
    write_bytes_atomic(Path(path), "".join(f"{line}\n" for line in lines).encode("utf-8",
                                                                              "surrogateescape"))
    return len(lines)


def write_sidecars(groups: Sequence[Group], *,
                   cancel: threading.Event | None = None) -> Job[SidecarResult]:
    """Merge each photo's decision into its XMP sidecar (a job); failures are listed."""
    todo = [(photo, group.decisions[photo.id]) for group in groups for photo in group.photos]
    meter = RateMeter(len(todo))
    written, failed = 0, []
    for n, (photo, decision) in enumerate(todo, 1):
        check_cancel(cancel)
        target = sidecar_path(photo.path)
        try:
            merge_sidecar(target, {KEYWORDS[decision]}, set(KEYWORDS.values()),
                          properties=_rating_change(target, decision))
            written += 1
        except (OSError, ValueError) as exc:
            reason = xmp.failure_reason(target, exc)
            failed.append((target, reason))
            log.warning("XMP sidecar %s: %s", target, reason)
        yield meter.progress("writing sidecars", n, display(photo.path.name))
    return SidecarResult(written, tuple(failed))


def _rating_change(target: Path, decision: str) -> dict[str, str | None]:
    """-1 for a reject; a pick keeps its rating, unless it is a reject's -1 (then removed).
    Raises OSError, or ValueError for a sidecar that is not XMP."""
    try:
        current = xmp.read_sidecar(target).rating if target.exists() else None
    except xmp.XmpError as exc:
        raise ValueError(str(exc).replace(f"{target}: ", "")) from exc
    if decision == REJECT:
        return {} if current == -1 else {xmp.RATING: "-1"}
    return {xmp.RATING: None} if current == -1 else {}


def read_rating(path: Path) -> int | None:
    """The ``xmp:Rating`` of a sidecar, None if it has none."""
    return xmp.read_sidecar(path).rating


def write_json(groups: Sequence[Group], path: Path) -> None:
    write_bytes_atomic(Path(path), json.dumps(to_json(groups), ensure_ascii=False,
                                              indent=1).encode("utf-8"))
