"""A learnt similarity is as safe as a head: SIGKILL while it trains or projects the library
loses no judgement, leaves the stored similarity whole (the previous version, or the new
one) and the searched vectors complete; the next run finishes the job."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from core.similarity import JudgementStore, learnt
from core.similarity.search import SimilaritySearch
from tests.reliability.conftest import Indexed
from tests.reliability.forkserver import ForkServer
from tests.reliability.helpers import MODEL_KEY, check_catalog, library_args
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
