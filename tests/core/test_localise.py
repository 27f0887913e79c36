"""Where a label is (core.labels.localise): a head trained on whole photos with a pasted object
scores the photos' regions; the heat map and the best box land on the object, EXIF-rotated
photo included; ``predict --boxes`` writes those boxes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from cli import main
from core.jobs import run
from core.labels import LabelStore
from core.labels.localise import heat_grid, predicted_boxes, region_scores
from core.library import Library
from core.regions import iou
from tests.pasted import MODEL, SET_NAME, PastedCatalog


def _inside(heat: np.ndarray, box: tuple[float, float, float, float]) -> np.ndarray:
    rows, columns = heat.shape
    ys = (np.arange(rows) + 0.5) / rows
    xs = (np.arange(columns) + 0.5) / columns
    x, y, w, h = box
    return np.outer((ys >= y) & (ys <= y + h), (xs >= x) & (xs <= x + w))


def test_heat_maps_and_best_boxes_land_on_the_object(pasted_catalog: PastedCatalog) -> None:
    photos = pasted_catalog.photos
    with Library(photos.root, catalog_path=pasted_catalog.catalog, model=MODEL) as library:
        store = LabelStore(library.catalog)
        label_set = store.get_set(SET_NAME)
        found = store.get_label(label_set.id, "object")
        ids = {library.photo_at(p).id: p for p in [*photos.objects, *photos.plain]}
        scores = {s.photo_id: s for s in region_scores(library.catalog, label_set.id,
                                                      library.model_key, ids)}
        assert set(scores) == set(ids)  # every photo has its regions
        for pid, path in ids.items():
            column = scores[pid].column(found.id)
            if path not in photos.objects:
                assert column.max() < 0.5, path.name  # nowhere in a photo without it
                continue
            box, best = scores[pid].best(found.id)
            assert best > 0.9 and iou(box, photos.objects[path]) >= 0.2, (path.name, box)
            heat = heat_grid(scores[pid].boxes, column, 64, 0.75)
            on = _inside(heat, photos.objects[path])
            covered = ~np.isnan(heat)
            assert np.nanmean(heat[on & covered]) > np.nanmean(heat[~on & covered]) + 0.1, \
                path.name
        boxes = run(predicted_boxes(library.catalog, label_set.id, library.model_key))
        rotated = library.photo_at(photos.rotated).id
        assert iou(boxes[rotated][0], photos.objects[photos.rotated]) >= 0.2  # upright box


def test_predict_boxes_writes_each_photos_box(pasted_catalog: PastedCatalog, tmp_path: Path,
                                              capsys) -> None:
    photos = pasted_catalog.photos
    catalog = pasted_catalog.copy(tmp_path)
    out = tmp_path / "predictions.csv"
    argv = ["predict", str(photos.root), "--catalog", str(catalog), "--model", MODEL,
            "--set", SET_NAME, "-q"]
    assert main([*argv, "--boxes"]) == 2  # the boxes go into the CSV
    assert "--csv" in capsys.readouterr().err
    assert main([*argv, "--csv", str(out), "--boxes"]) == 0
    with out.open(newline="") as f:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(f)}
    assert len(rows) == len(photos.objects) + len(photos.plain)
    for path, truth in photos.objects.items():
        row = rows[path.name]
        assert row["predicted"] == "object"
        box = tuple(float(row[k]) for k in ("box_x", "box_y", "box_w", "box_h"))
        assert iou(box, truth) >= 0.2 and float(row["box_score"]) > 0.9, (path.name, box)
    assert all(rows[p.name]["predicted"] == "plain" and rows[p.name]["box_w"]
               for p in photos.plain)
