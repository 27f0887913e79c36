"""The `lookalike` command line: index, similar, status, and its user errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import synthetic
from cli import main


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict]:
    base = tmp_path_factory.mktemp("cli")
    root = base / "photos"
    scenes = synthetic.write_library(root, 4, n_variants=2, seed=11)
    catalog = base / "catalog.sqlite"
    assert main(["index", str(root), "--model", "resnet50", "--weights", "none",
                 "--catalog", str(catalog), "-q"]) == 0
    return root, catalog, scenes


def test_index_prints_a_summary(indexed, capsys) -> None:
    root, catalog, _ = indexed
    assert main(["index", str(root), "--model", "resnet50", "--weights", "none",
                 "--catalog", str(catalog)]) == 0
    out = capsys.readouterr()
    assert "0 new, 0 changed, 0 removed" in out.out
    assert "photos/s" in out.out


def test_index_piped_counts_an_unreadable_file_once(tmp_path: Path, capsys) -> None:
    """Into a log (stderr not a terminal): a few plain progress lines, no bars or carriage
    returns; the summary's new photos leave out the file that could not be read."""
    root = tmp_path / "photos"
    synthetic.write_library(root, 2, n_variants=1, seed=3)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a photo" * 20)
    assert main(["index", str(root), "--weights", "none", "--catalog",
                 str(tmp_path / "c.sqlite")]) == 0
    out = capsys.readouterr()
    assert "4 photos (4 embedded" in out.out and ": 4 new," in out.out
    assert "1 problems" in out.out
    assert "\r" not in out.err and "%|" not in out.err
    lines = out.err.splitlines()
    assert 2 <= len(lines) <= 12 and lines[0] == "Found 5 photos"


def test_similar_json_ranks_the_scene_first(indexed, capsys) -> None:
    root, catalog, scenes = indexed
    _scene, paths = sorted(scenes.items())[1]
    assert main(["similar", str(root), str(paths[0]), "-k", "3", "--json",
                 "--model", "resnet50", "--weights", "none", "--catalog", str(catalog)]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3
    assert Path(rows[0]["path"]) in set(paths[1:])  # a variant of the same scene first
    assert all(Path(r["path"]).is_absolute() for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)


def test_status_json(indexed, capsys) -> None:
    root, catalog, scenes = indexed
    assert main(["status", str(root), "--json", "--model", "resnet50", "--weights", "none",
                 "--catalog", str(catalog)]) == 0
    state = json.loads(capsys.readouterr().out)
    n = sum(len(p) for p in scenes.values())
    assert state["photos"] == n and state["embedded"] == n and state["problems"] == []


@pytest.mark.parametrize("argv", [
    ["index", "/no/such/folder", "--model", "resnet50", "--weights", "none"],
    ["status", "{root}", "--catalog", "{tmp}/missing.sqlite"],
    ["similar", "{root}", "/no/such/photo.jpg", "--catalog", "{catalog}", "--model", "resnet50",
     "--weights", "none"],
    ["similar", "{root}", "{text}", "--catalog", "{catalog}", "--model", "resnet50",
     "--weights", "none"],
])
def test_user_errors_give_one_line_and_exit_non_zero(indexed, tmp_path, argv) -> None:
    root, catalog, _ = indexed
    text = tmp_path / "note.jpg"
    text.write_text("not a photo")
    argv = [a.format(root=root, catalog=catalog, tmp=tmp_path, text=text) for a in argv]
    proc = subprocess.run([sys.executable, "-m", "cli", *argv], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("lookalike: ")
