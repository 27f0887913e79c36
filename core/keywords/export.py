"""Keywords out of the catalog: a CSV, and (opt-in) XMP sidecars.

CSV: one row per photo: ``path``, ``keywords`` (the everyday words at or above the score
threshold, ``; ``-separated), ``classes`` (the top ImageNet classes with probabilities).

XMP: the words go under their own hierarchy, ``Lookalike|dog``, as ``lr:hierarchicalSubject``
entries only: the sidecar's flat ``dc:subject`` keywords - the user's - are never touched, and
a user's "dog" is never removed because Lookalike stops seeing a dog. A re-export replaces the
``Lookalike|...`` entries a photo no longer has; everything else in the sidecar is kept.
"""

from __future__ import annotations

import csv
import logging
import threading
from pathlib import Path

from core.catalog import Catalog
from core.csvcells import safe_row
from core.jobs import Job, RateMeter, check_cancel
from core.keywords.store import MIN_SCORE, library_keywords
from core.keywords.vocabulary import vocabulary
from core.labels.export import SidecarResult, merge_sidecar, sidecar_path, writing
from core.paths import display
from core.xmp import failure_reason

log = logging.getLogger(__name__)

KEYWORD_COLUMNS = ("path", "keywords", "classes")
HIERARCHY = "Lookalike"  # the root of the keywords Lookalike writes into XMP sidecars


def export_keywords_csv(catalog: Catalog, model: str, path: Path,
                        min_score: float = MIN_SCORE) -> int:
    """Write every photo's keywords from ``model`` to ``path``; rows written."""
    n = 0
    with writing(path) as f:
        writer = csv.writer(f)
        writer.writerow(KEYWORD_COLUMNS)
        for photo, found in library_keywords(catalog, model):
            classes = "; ".join(f"{name} {prob:.2f}" for name, prob in found.classes)
            writer.writerow(safe_row([display(photo.path),
                                      "; ".join(found.confident_words(min_score)), classes]))
            n += 1
    return n


def write_keyword_sidecars(catalog: Catalog, model: str, min_score: float = MIN_SCORE, *,
                           cancel: threading.Event | None = None) -> Job[SidecarResult]:
    """Merge every photo's keywords as ``Lookalike|word`` into its XMP sidecar (a job)."""
    managed = {f"{HIERARCHY}|{word}" for word in vocabulary().words}
    todo = list(library_keywords(catalog, model))
    meter = RateMeter(len(todo))
    written, failed = 0, []
    for n, (photo, found) in enumerate(todo, 1):
        check_cancel(cancel)
        wanted = {f"{HIERARCHY}|{word}" for word in found.confident_words(min_score)}
        target = sidecar_path(photo.path)
        if not wanted and not target.exists():
            yield meter.progress("writing sidecars", n, display(photo.path.name))
            continue  # nothing to say: no empty sidecar
        try:
            merge_sidecar(target, wanted, managed, flat=False)
            written += 1
        except (OSError, ValueError) as exc:
            reason = failure_reason(target, exc)
            failed.append((target, reason))
            log.warning("XMP sidecar %s: %s", target, reason)
        yield meter.progress("writing sidecars", n, display(photo.path.name))
    return SidecarResult(written, tuple(failed))
