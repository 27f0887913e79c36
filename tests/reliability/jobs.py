"""Work the reliability tests run in child processes (forked, or restricted), through the
same core calls the app and the CLI make."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback
from pathlib import Path

from core.jobs import run
from core.labels import LabelStore
from core.labels.heads import train
from core.labels.review import predict_library
from core.library import Library
from tests.reliability.helpers import MODEL


def train_and_predict(root: str, catalog: str, set_name: str) -> int:
    """Train the label set's head on the library's embeddings, then predict every photo."""
    with Library(Path(root), catalog_path=Path(catalog), model=MODEL, weights="none",
                 lock=True) as library:
        label_set = LabelStore(library.catalog).get_set(set_name)
        run(train(library.catalog, label_set.id, library.model_key))
        run(predict_library(library.catalog, label_set.id, library.model_key))
    return 0


def label_by_folder(library: Library, set_name: str, per_label: int = 3) -> dict[str, list[str]]:
    """A single-choice label set whose labels are the first scenes' folder names, given to
    ``per_label`` photos of each; returns {label: [content hashes]}."""
    store = LabelStore(library.catalog)
    label_set = store.ensure_set(set_name)
    by_folder: dict[str, list[int]] = {}
    for photo in library.catalog.photos():
        if photo.content_hash:
            by_folder.setdefault(photo.path.parent.name, []).append(photo.id)
    chosen: dict[str, list[str]] = {}
    for folder in sorted(by_folder)[:2]:
        label = store.ensure_label(label_set.id, folder)
        ids = by_folder[folder][:per_label]
        store.assign(label.id, ids)
        chosen[folder] = [p.content_hash or "" for p in library.catalog.photos(ids)]
    return chosen


def workload(root: Path, catalog: Path | None, out: Path, query: Path) -> list[dict]:
    """Every command a user runs on a library, as cli_runs cases: index, search, status, label,
    train, predict (with boxes; clips' ranges and sidecars), export, judge, learn, fine-tune
    (and embed with the result), search in the learnt similarity and by a region, faces and
    people (naming a person there is not, in words), map (a PNG with thumbnails), the visual
    layer (index and search it, then back to the semantic one) and a rebuild. Results go to
    ``out``; ``catalog`` None: the default location."""
    options = ["--weights", "none", "--model", MODEL]
    if catalog is not None:
        options += ["--catalog", str(catalog)]
    lib = [str(root), *options]
    scenes = sorted(p.parent for p in root.glob("*/orig.jpg"))
    first, second = (sorted(map(str, s.glob("*.jpg")))[:2] for s in scenes[:2])
    cases = [{"argv": argv} for argv in (
        ["index", *lib, "-q"],
        ["similar", *lib, first[0], "-k", "3", "--json"],
        ["similar", *lib, str(query), "-k", "3"],
        ["status", *lib, "--json"],
        ["label", *lib, "--set", "scene", "--add", "first", *first, "--add", "second", *second],
        ["train", *lib, "--set", "scene", "-q"],
        ["predict", *lib, "--set", "scene", "--csv", str(out / "predictions.csv"), "--boxes",
         "-q"],
        ["predict", *lib, "--set", "scene", "--clip-ranges", str(out / "ranges.csv"),
         "--clip-xmp", "-q"],
        ["labels", "export", *lib, "--csv", str(out / "labels.csv")],
        ["labels", "export", *lib, "--json", str(out / "labels.json")],
        ["duplicates", *lib, "-q", "--csv", str(out / "duplicates.csv"),
         "--rejects", str(out / "rejects.txt")],
        ["judge", *lib, first[0], "--similar", first[1], "--not-similar", *second],
        ["learn", *lib, "-q"],
        ["finetune", *lib, "--steps", "2", "--embed", "-q"],
        ["similar", *lib, first[0], "-k", "3", "--similarity", "mine", "--json"],
        ["similar", *lib, first[0], "-k", "3", "--region", "0.2,0.2,0.5,0.5", "--json"],
        ["faces", *lib, "-q", "--workers", "1"],
        ["people", *lib, "--json"],
        ["map", *lib, "--png", str(out / "map.png"), "--thumbnails", "-q"],
        ["keywords", *lib, "--csv", str(out / "keywords.csv")],
        ["keywords", *lib, "--find", "dog"],
        ["index", *lib, "--layer", "visual", "-q"],
        ["similar", *lib, first[0], "-k", "3", "--layer", "visual", "--json"],
        ["index", *lib, "--layer", "semantic", "-q"],
        ["index", *lib, "--rebuild", "-q"],
    )]
    cases.insert(-2, {"argv": ["people", "name", *lib[:1], "1", "Ann", *options], "expect": 1})
    return cases


def cli_runs(spec: str, results: str) -> int:
    """Run ``lookalike`` once per entry of the JSON file ``spec`` ({"argv": [...], "env":
    {...}, "chmod": [path, "octal mode"] done first}), in this process; write [{"code",
    "stdout", "stderr"}] to ``results``. An uncaught exception is reported with its
    traceback, as Python would print it."""
    from cli import main

    outcomes = []
    for case in json.loads(Path(spec).read_text()):
        os.environ.update(case.get("env", {}))
        if "chmod" in case:  # the owner may, even without root's file privileges
            os.chmod(case["chmod"][0], int(case["chmod"][1], 8))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(case["argv"])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException:  # noqa: BLE001 - a traceback is what the test looks for
                traceback.print_exc()
                code = 1
        outcomes.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
    Path(results).write_text(json.dumps(outcomes))
    return 0


def duplicates_killed_at(point: str, n: int, *argv: str) -> int:
    """Run ``lookalike ARGV`` (a ``duplicates --accept --xmp`` run) in this process and
    SIGKILL it at the ``n``-th ``point``: "commit" (a transaction of decisions written, not
    yet committed; two groups a transaction), "sidecar" (half of a sidecar's temporary file
    written) or "rename" (a sidecar's temporary file whole, before it replaces the sidecar).
    The product's code runs unchanged up to the kill."""
    import signal

    from cli import duplicates_cmd, main
    from core import xmp
    from core.duplicates import store

    seen = 0

    def hit() -> None:
        nonlocal seen
        seen += 1
        if seen == n:
            os.kill(os.getpid(), signal.SIGKILL)

    if point == "commit":
        def decide_groups(catalog, groups, source="user", per_transaction=500):
            catalog.conn.set_trace_callback(lambda sql: hit() if sql == "COMMIT" else None)
            return store.decide_groups(catalog, groups, source, per_transaction=2)
        duplicates_cmd.decide_groups = decide_groups  # type: ignore[assignment]
    elif point == "sidecar":
        class Dying(io.BufferedWriter):
            def write(self, data) -> int:
                super().write(bytes(data)[:len(data) // 2])
                self.flush()
                os.fsync(self.fileno())
                hit()
                return super().write(bytes(data)[len(data) // 2:])

        def opener(file, mode="r", *args, **kwargs):
            if mode == "wb" and os.path.basename(file).startswith(".lookalike-"):
                return Dying(io.FileIO(file, "w"))
            return open(file, mode, *args, **kwargs)
        xmp.open = opener  # type: ignore[attr-defined]
    elif point == "rename":
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs) -> None:
            if os.path.basename(src).startswith(".lookalike-"):
                hit()
            real_replace(src, dst, *args, **kwargs)
        os.replace = replace  # type: ignore[assignment]
    else:
        raise ValueError(point)
    return main(list(argv))


def index_killed_in_relearn(point: str, *argv: str) -> int:
    """Run ``lookalike ARGV`` (an ``index`` whose pass learns the region whitening again) in
    this process and SIGKILL it at ``point`` of that step: "recode" (every code rewritten and
    the new reduction saved in its transaction, not committed), "commit" (as the COMMIT
    starts) or "committed" (just after it, before the pass knows). The product's code runs
    unchanged up to the kill."""
    import importlib
    import logging
    import signal

    from cli import main

    describe = importlib.import_module("core.regions.describe")  # the package names a function so

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    real_recode = describe.recode_regions

    def recode_regions(catalog, tx, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        if point == "commit":
            tx.set_trace_callback(lambda sql: die() if sql == "COMMIT" else None)
        real_recode(catalog, tx, *args, **kwargs)
        if point == "recode":
            die()

    class Dying(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if str(record.msg).startswith("region reduction of %s learned again"):
                die()
            return True

    if point not in ("recode", "commit", "committed"):
        raise ValueError(point)
    describe.recode_regions = recode_regions  # type: ignore[assignment]
    if point == "committed":
        describe.log.setLevel(logging.INFO)
        describe.log.addFilter(Dying())
    return main(list(argv))


if __name__ == "__main__":  # python -m tests.reliability.jobs FUNCTION ARGS...
    sys.exit(globals()[sys.argv[1]](*sys.argv[2:]))
