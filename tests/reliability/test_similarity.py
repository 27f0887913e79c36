"""A learnt similarity is as safe as a head: SIGKILL while it trains or projects the library
loses no judgement, leaves the stored similarity whole (the previous version, or the new
one) and the searched vectors complete; the next run finishes the job."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

from core.similarity import JudgementStore, learnt
from core.similarity.search import SimilaritySearch
from tests.reliability.conftest import Indexed
from tests.reliability.forkserver import ForkServer
from tests.reliability.helpers import DIM, MODEL, MODEL_KEY, check_catalog, library_args
from tests.reliability.test_interruptions import _timed_run, _Trials

KILLS = 2


def _judgements(catalog: Path) -> list[tuple]:
    conn = sqlite3.connect(catalog)
    rows = conn.execute("SELECT * FROM judgements ORDER BY 1, 2").fetchall()
    conn.close()
    return rows


def test_killed_learning_keeps_judgements_and_a_whole_similarity(
        forkserver: ForkServer, indexed: Indexed) -> None:
    root, catalog = indexed.root, indexed.catalog
    with indexed.open() as library:
        by_folder: dict[str, list[int]] = {}
        for photo in library.catalog.photos():
            by_folder.setdefault(photo.path.parent.name, []).append(photo.id)
        folders = sorted(by_folder)
        store = JudgementStore(library.catalog)
        for k, folder in enumerate(folders[2:6]):
            ids = by_folder[folder]
            store.judge(ids[0], ids[1:], by_folder[folders[2 + (k + 1) % 4]][:2])
    judged = _judgements(catalog)
    assert len(judged) == 4 * 5
    argv = ["learn", *library_args(root, catalog, "--loss", "triplet", "-q")]
    trials = _Trials(forkserver, 17, KILLS, argv=argv)
    version = 0
    for _code in trials:
        state = check_catalog(catalog)
        assert _judgements(catalog) == judged
        with indexed.open() as library:
            found = learnt.load(library.catalog, "mine", MODEL_KEY)  # loads the weights
            assert found is not None and found[1] is not None
            assert found[0].version >= version
            version = found[0].version
            if found[0].projected:  # the searched vectors are complete
                assert library.catalog.embedded_count(found[0].projected) == state.embedded
    _timed_run(forkserver, argv=argv)
    pid = forkserver.start(argv=["similar", *library_args(root, catalog), str(
        sorted(root.rglob("*.jpg"))[0]), "--similarity", "mine", "-k", "5", "--json"])
    assert forkserver.wait(pid, timeout=300) == 0, forkserver.output()[1]
    assert len(json.loads(forkserver.output()[0])) == 5
    with indexed.open() as library:
        sim = learnt.get(library.catalog, "mine", MODEL_KEY)
        assert sim.version == version + 1 and sim.projected == sim.key
        assert SimilaritySearch(library.catalog, MODEL_KEY, "mine").catch_up() == 0
        leftovers = library.catalog.conn.execute(
            "SELECT count(DISTINCT model) FROM embeddings WHERE model LIKE ?",
            (f"{MODEL_KEY}~%",)).fetchone()[0]
        assert leftovers == 1  # older versions' vectors are gone


FINETUNE_STEPS = 40  # checkpoints every 10


def _checkpoint_step(models: Path) -> int:
    """The step of the fine-tuning checkpoint in ``models`` (it must load), 0 if none."""
    import torch

    found = list(models.glob("finetune-*.ckpt"))
    assert len(found) <= 1, found
    return int(torch.load(found[0], weights_only=True)["step"]) if found else 0


def test_killed_finetuning_resumes_from_its_checkpoint(forkserver: ForkServer,
                                                       indexed: Indexed) -> None:
    """SIGKILL once a checkpoint is written, and again at a random moment: each rerun goes on
    from the last checkpoint, the catalog and judgements are whole, and the last run gives a
    weights file that embeds photos."""
    from core.embed.cnn import Embedder
    from core.files import TEMP_PREFIX

    root, catalog = indexed.root, indexed.catalog
    models = catalog.parent / "models"
    with indexed.open() as library:
        ids = [p.id for p in library.catalog.photos()]
        JudgementStore(library.catalog).judge(ids[0], ids[1:3], ids[-3:])
    judged = _judgements(catalog)
    argv = ["finetune", *library_args(root, catalog, "--steps", str(FINETUNE_STEPS), "-q")]
    pid = forkserver.start(argv=argv)
    while _checkpoint_step(models) == 0:  # killed as soon as there is a checkpoint
        assert forkserver.wait(pid, timeout=0.05) is None, forkserver.output()[1]
    assert forkserver.kill(pid) == -9
    reached = _checkpoint_step(models)
    assert 10 <= reached < FINETUNE_STEPS
    pid = forkserver.start(argv=argv)  # resumes; killed again a moment after its next one
    while _checkpoint_step(models) == reached:
        assert forkserver.wait(pid, timeout=0.05) is None, forkserver.output()[1]
    code = forkserver.wait(pid, timeout=random.Random(17).uniform(0, 0.5)) or forkserver.kill(pid)
    assert code == -9, forkserver.output()[1]
    assert _checkpoint_step(models) > reached
    check_catalog(catalog)
    assert _judgements(catalog) == judged
    assert not list(models.glob("*.pt"))  # no half-made model

    pid = forkserver.start(argv=argv)
    assert forkserver.wait(pid, timeout=300) == 0, forkserver.output()[1]
    out = forkserver.output()[0]
    assert f"for {FINETUNE_STEPS} steps" in out and "resumed at step " in out, out
    assert int(out.split("resumed at step ")[1].split(".")[0]) > reached
    assert _checkpoint_step(models) == 0  # done: the checkpoint is gone
    assert not list(models.glob(f"{TEMP_PREFIX}*"))  # nor a killed writer's leftovers
    (weights,) = models.glob("*.pt")
    assert f"--weights {weights}" in out
    vector = Embedder(MODEL, weights, "cpu").embed_file(sorted(root.rglob("*.jpg"))[0])
    assert vector.shape == (DIM,) and abs(float((vector ** 2).sum()) - 1) < 1e-3
    check_catalog(catalog)
    assert _judgements(catalog) == judged
