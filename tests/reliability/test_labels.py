"""Labels are precious: they survive re-scans, moves and renames, re-embedding with
another backbone, and a lost catalog (one command backs them up, one restores them)."""

from __future__ import annotations

import csv
import shutil
import sqlite3
from pathlib import Path

from core.embed.models import model_key
from core.jobs import run
from core.labels import LabelStore
from core.labels.heads import head_info, train, trained_models
from core.library import Library
from tests.reliability.conftest import Indexed
from tests.reliability.forkserver import ForkServer
from tests.reliability.helpers import MODEL_KEY, check_catalog, library_args

OTHER_MODEL = "mobilenet_v3_large"


def _labelled_paths(library: Library) -> dict[str, set[Path]]:
    """Label name -> the paths of the photos that have it."""
    store = LabelStore(library.catalog)
    label_set = store.get_set("scene")
    names = {label.id: label.name for label in store.labels(label_set.id)}
    out: dict[str, set[Path]] = {}
    by_id = {p.id: p.path for p in library.catalog.photos()}
    for photo_id, label_ids in store.photo_labels(label_set.id).items():
        for label_id in label_ids:
            out.setdefault(names[label_id], set()).add(by_id[photo_id])
    return out


def test_labels_follow_rescans_moves_and_renames(indexed: Indexed) -> None:
    with indexed.open() as library:
        before = _labelled_paths(library)
        assert sorted(len(v) for v in before.values()) == [3, 3]
        moved, renamed = sorted(before["scene_000"])[:2]
        run(library.index())
        assert _labelled_paths(library) == before
        (indexed.root / "elsewhere").mkdir()
        new_moved = indexed.root / "elsewhere" / moved.name
        shutil.move(moved, new_moved)
        new_renamed = renamed.with_name("renamed.jpg")
        renamed.rename(new_renamed)
        result = run(library.index())
        assert result.scan.moved == 2 and result.embed.embedded == 0
        after = _labelled_paths(library)
    expected = {name: {new_moved if p == moved else new_renamed if p == renamed else p
                       for p in paths} for name, paths in before.items()}
    assert after == expected


def test_labels_survive_another_backbone_and_its_heads_are_trained_anew(
        indexed: Indexed) -> None:
    with indexed.open() as library:
        set_id = LabelStore(library.catalog).get_set("scene").id
        run(train(library.catalog, set_id, MODEL_KEY))
        before = _labelled_paths(library)
    for scene in sorted(indexed.root.iterdir())[3:]:  # keep 12 photos: a shorter test
        shutil.rmtree(scene)
    other_key = model_key(OTHER_MODEL, "none")
    with Library(indexed.root, catalog_path=indexed.catalog, model=OTHER_MODEL,
                 weights="none") as library:
        result = run(library.index())
        assert result.embed.embedded == 12  # every photo again, with the new backbone
        assert _labelled_paths(library) == before
        assert trained_models(library.catalog, set_id) == [MODEL_KEY]
        assert head_info(library.catalog, set_id, other_key) is None  # retrain needed
        info = run(train(library.catalog, set_id, other_key))
        assert info.examples == 6
        assert set(trained_models(library.catalog, set_id)) == {MODEL_KEY, other_key}
        assert head_info(library.catalog, set_id, MODEL_KEY) is not None  # the old one kept
    check_catalog(indexed.catalog)


def test_one_command_backs_labels_up_and_another_restores_them(
        indexed: Indexed, forkserver: ForkServer, tmp_path: Path) -> None:
    backup = tmp_path / "labels.csv"

    def lookalike(*argv: str) -> str:
        pid = forkserver.start(argv=list(argv))
        code = forkserver.wait(pid, timeout=300)
        out, err = forkserver.output()
        assert code == 0, err
        return out

    lookalike("labels", "export", *library_args(indexed.root, indexed.catalog), "--csv",
              str(backup))
    with backup.open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 6
    conn = sqlite3.connect(indexed.catalog)
    before = conn.execute("SELECT l.name, a.content_hash, a.positive FROM assignments a "
                          "JOIN labels l ON l.id = a.label_id ORDER BY 1, 2").fetchall()
    conn.close()
    fresh = tmp_path / "fresh.sqlite"  # the catalog is lost: index again, then restore
    lookalike("index", *library_args(indexed.root, fresh, "-q"))
    out = lookalike("labels", "import", *library_args(indexed.root, fresh), str(backup))
    assert "Imported 6 label decisions" in out
    conn = sqlite3.connect(fresh)
    after = conn.execute("SELECT l.name, a.content_hash, a.positive FROM assignments a "
                         "JOIN labels l ON l.id = a.label_id ORDER BY 1, 2").fetchall()
    conn.close()
    assert after == before
