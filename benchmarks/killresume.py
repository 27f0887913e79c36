"""Kill/resume benchmark: SIGKILL and SIGINT at random moments of ``index``, ``train`` and
``labels import``, then the catalog's integrity and counts after each kill and each resume.

    python -m benchmarks.killresume [--quick] [--trials 120] [--scenes 15] [--seed 1]

A library of generated photos (``--scenes`` x 4) is indexed and labelled once. Then each
trial takes the next command in turn, gives it work (index: a few photos rewritten, one
replaced, and every fifth time all embeddings dropped; train: a retrain; labels import: a
CSV of one decision per photo into a set that is first deleted), runs it as ``lookalike``
does in a forked child (the engine is imported once), and sends SIGKILL (2 in 3) or SIGINT
after a random delay within 1.2x the command's usual duration (a running mean of its
uninterrupted runs; "landed mid-run": before
the command printed its summary). After the kill: ``PRAGMA integrity_check`` and
``foreign_key_check``, no half-written rows (every embedding has its photo's metadata; an
import is all or nothing), no traceback after SIGINT, and a SIGINT mid-run ends with exit
status 130 and "interrupted; what was done is saved". Then the same
command runs to the end, and the counts must be whole: every photo embedded, the head and
its predictions stored, every imported decision there. Prints the tally; exits 1 on any
failure.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks import synthetic
from benchmarks._common import machine_line, print_table

MODEL = "mobilenet_v3_small"
OPS = ("index", "train", "labels import")


@dataclass
class Bench:
    """The library, its catalog and the commands' options."""

    root: Path
    catalog: Path
    work: Path
    rng: random.Random
    seconds: dict[str, float] = field(default_factory=dict)  # op -> uninterrupted duration
    labelled: set[Path] = field(default_factory=set)  # kept as they are: train needs them
    runs: int = 0

    def options(self) -> list[str]:
        return [str(self.root), "--weights", "none", "--model", MODEL, "--catalog",
                str(self.catalog)]

    def argv(self, op: str) -> list[str]:
        if op == "index":
            return ["index", *self.options(), "-q"]
        if op == "train":
            return ["train", *self.options(), "--set", "scene", "-q"]
        return ["labels", "import", *self.options(), str(self.work / "import.csv")]

    def start(self, argv: list[str]) -> tuple[int, Path]:
        """Fork a child running ``lookalike ARGV``; (pid, its stderr file)."""
        self.runs += 1
        out, err = self.work / f"run{self.runs}.out", self.work / f"run{self.runs}.err"
        # SIGINT is held from before the fork until the child calls ``lookalike``'s main: a
        # signal sent earlier lands there, not in this harness's own set-up of the child.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 1
            try:
                for fd, path in ((1, out), (2, err)):
                    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    os.dup2(handle, fd)
                    os.close(handle)
                signal.signal(signal.SIGINT, signal.default_int_handler)
                import cli

                command = cli._main

                def unblocked(args: Sequence[str] | None) -> int:  # inside main's handlers
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
                    return command(args)

                cli._main = unblocked
                code = cli.main(argv)
            except BaseException:  # noqa: BLE001 - printed as Python would
                import traceback

                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        return pid, err

    def complete(self, op: str) -> float:
        """Run ``op`` to the end; its wall seconds (raises if it fails)."""
        began = time.perf_counter()
        pid, err = self.start(self.argv(op))
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        if code != 0:
            raise RuntimeError(f"{op} failed ({code}): {err.read_text()[-2000:]}")
        return time.perf_counter() - began


def _sql(path: Path, *statements: str) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        rows: list[tuple] = []
        for statement in statements:
            rows = conn.execute(statement).fetchall()
        conn.commit()
        return rows


def _photos(root: Path) -> list[Path]:
    return sorted(root.rglob("*.jpg"))


def prepare(bench: Bench, op: str) -> None:
    """Give ``op`` work to do, so that a kill can land in the middle of it."""
    if op == "index":
        photos = [p for p in _photos(bench.root) if p not in bench.labelled]
        for path in bench.rng.sample(photos, 3):
            synthetic.write_jpeg(path, synthetic.scene(bench.rng.randrange(10**6), (320, 240)))
        gone = bench.rng.choice(photos)
        gone.unlink()
        synthetic.write_jpeg(gone.with_name(f"new{bench.runs}.jpg"),
                             synthetic.scene(bench.rng.randrange(10**6), (320, 240)))
        if bench.rng.random() < 0.2:
            _sql(bench.catalog, "DELETE FROM embeddings")
    elif op == "labels import":
        _sql(bench.catalog, "DELETE FROM label_sets WHERE name = 'imported'")
        rows = _sql(bench.catalog, "SELECT path, content_hash FROM photos "
                                   "WHERE content_hash IS NOT NULL")
        with open(bench.work / "import.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "content_hash", "set", "label"])
            for path, digest in rows:
                writer.writerow([os.fsdecode(path), digest, "imported",
                                 Path(os.fsdecode(path)).parent.name])


def check(bench: Bench, op: str, *, resumed: bool) -> list[str]:
    """What is wrong with the catalog (empty: nothing): integrity, no half-written rows
    and, once ``resumed``, whole counts."""
    wrong = []
    rows = _sql(bench.catalog, "PRAGMA integrity_check")
    if rows != [("ok",)]:
        wrong.append(f"integrity_check: {rows[:3]}")
    if _sql(bench.catalog, "PRAGMA foreign_key_check"):
        wrong.append("foreign_key_check failed")
    half = _sql(bench.catalog, "SELECT count(*) FROM embeddings e JOIN photos p "
                               "ON p.id = e.photo_id WHERE p.content_hash IS NULL")[0][0]
    if half:
        wrong.append(f"{half} embeddings without their photo's metadata")
    imported = _sql(bench.catalog, "SELECT count(*) FROM assignments a JOIN labels l "
                                   "ON l.id = a.label_id JOIN label_sets s ON s.id = l.set_id "
                                   "WHERE s.name = 'imported'")[0][0]
    csv_file = bench.work / "import.csv"
    expected_import = (len(csv_file.read_text().splitlines()) - 1) if csv_file.exists() else 0
    if op == "labels import" and imported not in (0, expected_import):
        wrong.append(f"a partial import: {imported} of {expected_import} decisions")
    if not resumed:
        return wrong
    files = len(_photos(bench.root))
    photos, embedded = _sql(bench.catalog, "SELECT (SELECT count(*) FROM photos), "
                                           "(SELECT count(DISTINCT photo_id) FROM embeddings)")[0]
    if op == "index" and not files == photos == embedded:
        wrong.append(f"after resume: {files} files, {photos} photos, {embedded} embedded")
    if op == "train":
        heads, predicted = _sql(bench.catalog, "SELECT (SELECT count(*) FROM heads), "
                                               "(SELECT coalesce(sum(length(photo_ids)), 0) / 8 "
                                               "FROM prediction_blocks)")[0]
        if heads != 1 or predicted != photos:
            wrong.append(f"after resume: {heads} heads, {predicted} of {photos} predicted")
    if op == "labels import" and imported != expected_import:
        wrong.append(f"after resume: {imported} of {expected_import} decisions imported")
    return wrong


def setup(bench: Bench, scenes: int) -> None:
    synthetic.write_library(bench.root, scenes, n_variants=3, size=(320, 240), seed=7)
    bench.seconds["index"] = bench.complete("index")
    for scene in sorted(p for p in bench.root.iterdir())[:3]:
        photos = [str(p) for p in sorted(scene.glob("*.jpg"))[:2]]
        bench.labelled.update(map(Path, photos))
        pid, err = bench.start(["label", *bench.options(), "--set", "scene", "--add",
                                scene.name, *photos])
        if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
            raise RuntimeError(err.read_text())
    bench.seconds["train"] = bench.complete("train")
    prepare(bench, "labels import")
    bench.seconds["labels import"] = bench.complete("labels import")
    _sql(bench.catalog, "DELETE FROM embeddings")  # the first measure of a full pass
    bench.seconds["index"] = bench.complete("index")


def trial(bench: Bench, op: str, tally: Counter, failures: list[str]) -> None:
    prepare(bench, op)
    kind = signal.SIGINT if bench.rng.random() < 1 / 3 else signal.SIGKILL
    delay = bench.rng.uniform(0.0, 1.2 * bench.seconds[op])
    pid, err = bench.start(bench.argv(op))
    time.sleep(delay)
    finished, status = os.waitpid(pid, os.WNOHANG)
    if finished == 0:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, kind)
        status = os.waitpid(pid, 0)[1]
    code = os.waitstatus_to_exitcode(status)
    # Mid-run: its last line (the summary) not yet printed; a big process may still be
    # exiting for a while after it, and a signal then changes nothing.
    landed = finished == 0 and not _text(err.with_suffix(".out")).strip()
    name = "SIGKILL" if kind == signal.SIGKILL else "SIGINT"
    tally[(op, name)] += 1
    tally[(op, "landed")] += landed
    tally[(op, f"exit {code}")] += 1
    wrong = check(bench, op, resumed=False)
    stderr = _text(err)
    if kind == signal.SIGINT and "Traceback" in stderr:
        wrong.append(f"a traceback after SIGINT: {stderr[-600:]}")
    if kind == signal.SIGINT and landed and (code, stderr.strip()) != (
            130, "lookalike: interrupted; what was done is saved."):
        wrong.append(f"SIGINT mid-run ended with {code}: {stderr[-300:]}")
    try:
        took = bench.complete(op)  # the next delays follow the work a trial now gives
        bench.seconds[op] = 0.7 * bench.seconds[op] + 0.3 * took
        wrong += check(bench, op, resumed=True)
    except RuntimeError as exc:
        wrong.append(f"resume failed: {exc}")
    for text in wrong:
        failures.append(f"{op} {name} after {delay:.2f} s: {text}")
    tally[(op, "ok")] += not wrong


def _text(path: Path) -> str:
    """What a child wrote to ``path`` ("" when it was killed before opening it)."""
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.killresume",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="3 trials (one per command) on 8 photos")
    parser.add_argument("--trials", type=int, default=120, help="default %(default)s")
    parser.add_argument("--scenes", type=int, default=15, help="4 photos each")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    trials, scenes = (3, 2) if args.quick else (args.trials, args.scenes)
    with tempfile.TemporaryDirectory(prefix="lookalike-killresume-") as tmp:
        base = Path(tmp)
        for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
            os.environ[name] = str(base / name.lower())
        import cli.index_cmd  # noqa: F401 - the engine, imported once for every fork
        import core.labels.training  # noqa: F401
        from core.embed.torch_loader import ensure_torch

        ensure_torch()
        (base / "work").mkdir()
        bench = Bench(base / "library", base / "catalog.sqlite", base / "work",
                      random.Random(args.seed))
        setup(bench, scenes)
        print(f"# kill/resume benchmark: {machine_line()}; {len(_photos(bench.root))} photos; "
              "uninterrupted: " + ", ".join(f"{op} {s:.2f} s" for op, s in
                                             bench.seconds.items()))
        tally: Counter = Counter()
        failures: list[str] = []
        began = time.perf_counter()
        for n in range(trials):
            trial(bench, OPS[n % len(OPS)], tally, failures)
        rows = [[op, tally[(op, "SIGKILL")] + tally[(op, "SIGINT")], tally[(op, "SIGKILL")],
                 tally[(op, "SIGINT")], tally[(op, "landed")], tally[(op, "ok")]]
                for op in OPS]
        total = [sum(r[i] for r in rows) for i in range(1, 6)]
        print_table(["command", "trials", "SIGKILL", "SIGINT", "landed mid-run",
                     "whole after kill and resume"], [*rows, ["all", *total]],
                    title=f"{trials} trials in {time.perf_counter() - began:.0f} s")
        codes: Counter = Counter()
        for (_op, key), n in tally.items():
            if key.startswith("exit "):
                codes[int(key[5:])] += n
        print("exit codes of the interrupted runs: " + ", ".join(
            f"{code} x{n}" for code, n in sorted(codes.items())))
        for text in failures:
            print(f"FAILED: {text}")
        print(f"{len(failures)} failures" if failures else
              "no failures: integrity_check ok, no half-written rows and whole counts after "
              "every kill and every resume")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
