"""Labels of a clip by moment: a label set's head predicts each kept frame, and a clip gets
each label with the time ranges where its frames have it ("beach 00:12–00:40").

A kept frame stands for its scene: from its time to the next kept frame's (the last one to
the clip's end). Consecutive scenes with the same label make one range. Predicting loads
torch (the head): call these off the GUI thread.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.catalog import Catalog
from core.labels import LabelStore
from core.paths import display
from core.video import store
from core.video.indexer import clock

MIN_PROBABILITY = 0.5  # a frame has a label when the head gives it at least this


@dataclass(frozen=True)
class LabelRange:
    """A label a clip has from ``start`` to ``end`` seconds (its frames' mean probability)."""

    label: str
    start: float
    end: float
    probability: float

    def __str__(self) -> str:
        return f"{self.label} {clock(self.start)}–{clock(self.end)}"


def label_ranges(catalog: Catalog, set_id: int, model: str, clip_id: int) -> list[LabelRange]:
    """The set's labels on the clip's kept frames, as time ranges in time order (empty when
    the set has no head for ``model`` or the clip no kept frame)."""
    from core.labels.heads import load_head
    from core.labels.training import probabilities

    found = load_head(catalog, set_id, model)
    times, vectors = store.clip_frame_vectors(catalog, clip_id, model)
    if found is None or not len(times):
        return []
    info, head = found
    assert head is not None
    probs = probabilities(head, vectors, info.multi)
    names = {label.id: label.name for label in LabelStore(catalog).labels(set_id)}
    columns = [names.get(i, f"label {i}") for i in info.label_ids]
    end = store.durations(catalog, [clip_id]).get(clip_id, float(times[-1]))
    bounds = [*times.tolist()[1:], max(end, float(times[-1]))]
    ranges: list[LabelRange] = []
    for column, name in enumerate(columns):
        has = probs[:, column] >= MIN_PROBABILITY
        if not info.multi:
            has &= np.argmax(probs, axis=1) == column
        start = None
        for row in range(len(times) + 1):
            if row < len(times) and has[row]:
                start = row if start is None else start
                continue
            if start is not None:
                ranges.append(LabelRange(name, float(times[start]), bounds[row - 1],
                                         float(probs[start:row, column].mean())))
                start = None
    return sorted(ranges, key=lambda r: (r.start, r.label))


def export_ranges_csv(catalog: Catalog, path: Path, set_id: int, model: str) -> int:
    """Write every clip's label ranges of the set: ``path``, ``label``, ``start``, ``end``
    (seconds), ``from``, ``to`` (mm:ss), ``probability``; returns the number of rows."""
    rows = []
    clips = catalog.photos(store.durations(catalog).keys())
    for clip in sorted(clips, key=lambda c: str(c.path)):
        for r in label_ranges(catalog, set_id, model, clip.id):
            rows.append([display(clip.path), r.label, round(r.start, 3), round(r.end, 3),
                         clock(r.start), clock(r.end), round(r.probability, 4)])
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "start", "end", "from", "to", "probability"])
        writer.writerows(rows)
    return len(rows)


def clip_label_lines(catalog: Catalog, model: str, clip_id: int) -> list[tuple[str, str]]:
    """(set name, "beach 00:12–00:40, ...") for every label set with a head for ``model``:
    the viewer's info lines of a clip."""
    from core.labels.heads import trained_models

    out = []
    for label_set in LabelStore(catalog).sets():
        if model in trained_models(catalog, label_set.id):
            ranges = label_ranges(catalog, label_set.id, model, clip_id)
            out.append((label_set.name, ", ".join(map(str, ranges)) or "none"))
    return out
