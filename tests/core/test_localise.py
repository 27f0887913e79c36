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
from core.labels.head_data import Aggregation, TrainingData, compare_aggregation, top_k_mean
from core.labels.heads import describe, head_info, load_head
from core.labels.localise import heat_grid, predicted_boxes, region_scores
from core.labels.review import load_predictions
from core.labels.training import fit, probabilities
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


def test_region_aggregation_is_kept_only_where_it_validates_better() -> None:
    targets = np.eye(2, dtype=np.float32)[[0, 1, 0, 1, 0, 1]]
    data = TrainingData(np.zeros((6, 4), np.float32), targets, np.ones_like(targets, bool),
                        multi=False)
    right, wrong = targets * 0.8 + 0.1, (1 - targets) * 0.8 + 0.1
    photo = np.vstack([right[:3], wrong[3:5], np.full((1, 2), np.nan)])  # 3 of 5 validated
    regions = np.vstack([right[:5], wrong[5:]])  # the 6th: not validated, left out
    better = compare_aggregation(data, photo, regions, ["a", "b"], "hold-out", 3)
    assert better == Aggregation(3, 5, 0.6, 1.0, used=True)
    worse = compare_aggregation(data, regions, photo, ["a", "b"], "hold-out", 3)
    assert worse is not None and not worse.used and worse.photo_accuracy == 1.0
    assert not compare_aggregation(data, photo, photo, ["a", "b"], "hold-out", 3).used  # tie
    no_regions = np.full_like(photo, np.nan)
    assert compare_aggregation(data, photo, no_regions, ["a", "b"], "hold-out", 3) is None


def test_fit_compares_the_aggregation_on_held_out_photos() -> None:
    """Every validation photo with regions is predicted both ways by the head of its fold."""
    rng = np.random.default_rng(3)
    kinds = rng.normal(size=(2, 16))
    labels = np.arange(60) % 2
    vectors = (kinds[labels] + rng.normal(size=(60, 16))).astype(np.float32)
    regions: list[np.ndarray | None] = [
        (kinds[labels[i]] + rng.normal(size=(5, 16))).astype(np.float32) if i % 3 else None
        for i in range(60)]
    targets = np.eye(2, dtype=np.float32)[labels]
    data = TrainingData(vectors, targets, np.ones_like(targets, bool), multi=False)
    fitted = run(fit(data, ["a", "b"], regions=regions))
    agg = fitted.aggregation
    assert agg is not None and agg.top_k == 3
    assert 0 < agg.validated < fitted.validation.validated == 12  # the hold-out with regions
    assert agg.used == (agg.regions_accuracy > agg.photo_accuracy)
    assert run(fit(data, ["a", "b"])).aggregation is None  # no regions: nothing compared


def test_training_summary_and_predictions_follow_the_choice(pasted_catalog: PastedCatalog,
                                                            tmp_path: Path) -> None:
    photos = pasted_catalog.photos
    catalog = pasted_catalog.copy(tmp_path)
    with Library(photos.root, catalog_path=catalog, model=MODEL) as library:
        label_set = LabelStore(library.catalog).get_set(SET_NAME)
        info = head_info(library.catalog, label_set.id, library.model_key)
        assert info is not None and info.aggregation is not None
        assert info.aggregation.validated == len(photos.objects) + len(photos.plain)
        summary = "\n".join(describe(info))
        assert "Photos with many objects: regions (mean of the top 3)" in summary
        assert ("used for predictions" in summary) == info.aggregation.used
        predictions = load_predictions(library.catalog, label_set.id, library.model_key)
        assert predictions is not None
        found = next(region_scores(library.catalog, label_set.id, library.model_key,
                                   predictions.photo_ids[:1]))
        _, vectors = library.catalog.embeddings(library.model_key, predictions.photo_ids[:1])
        head = load_head(library.catalog, label_set.id, library.model_key)[1]
        expected = (top_k_mean(found.probs) if info.aggregation.used else
                    probabilities(head, vectors, False)[0])
        assert np.allclose(predictions.probs[0], expected, atol=1e-5)
