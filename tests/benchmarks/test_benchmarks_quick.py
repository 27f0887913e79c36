"""The benchmarks run in quick mode: they work and print their figures."""

from __future__ import annotations

from pathlib import Path

import pytest

import benchmarks.search


def _table(out: str) -> list[dict[str, str]]:
    """The rows of the first Markdown table in `out`, as {column: cell}."""
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
            for line in lines[2:]]


def test_search_benchmark_quick(capsys: pytest.CaptureFixture[str]) -> None:
    assert benchmarks.search.main(["--quick"]) == 0
    rows = {row["index"]: row for row in _table(capsys.readouterr().out)}
    assert {"exact", "annoy"} <= set(rows)
    for row in rows.values():
        assert int(row["n"].replace(",", "")) == 2000
        assert float(row["build s"]) >= 0 and float(row["median ms"]) > 0
        assert 0.0 <= float(row["recall@10"]) <= 1.0
    assert float(rows["exact"]["recall@10"]) == 1.0


def test_memory_benchmark_quick(capsys: pytest.CaptureFixture[str]) -> None:
    import benchmarks.memory

    assert benchmarks.memory.main(["--quick"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 50 | mobilenet_v3_small")]
    assert len(rows) == 1, out
    cells = [float(cell) for cell in rows[0].strip("|").split("|")[2:]]
    seconds, *rss, peak = cells
    assert seconds > 0 and 100 < peak < 8000
    assert all(0 < value <= peak for value in rss)
    assert "50 embedded" in out


def test_heads_benchmark_quick(capsys: pytest.CaptureFixture[str]) -> None:
    import benchmarks.heads

    assert benchmarks.heads.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "train under 5 s, predict under 1 s" in out
    rows = {row["head"]: row for row in _table(out)}
    assert set(rows) == {"linear", "mlp"}
    for row in rows.values():
        assert row["train n"] == "1,000" and row["predict n"] == "5,000"
        assert float(row["train s"]) > 0 and float(row["predict s"]) > 0
        assert float(row["val accuracy"]) >= 0.8  # separable classes; chance is 0.1


def test_indexing_benchmark_quick(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import benchmarks.indexing

    assert benchmarks.indexing.main(["--quick", "--cache", str(tmp_path)]) == 0
    rows = _table(capsys.readouterr().out)
    assert [(row["model"], row["n"]) for row in rows] == [("mobilenet_v3_small", "4")]
    row = rows[0]
    d, c, p = float(row["D s"]), float(row["C s"]), float(row["P s"])
    assert d > 0 and c > 0 and p > 0
    assert float(row["D+C s"]) == pytest.approx(d + c, abs=0.02)
    assert float(row["P photos/s"]) == pytest.approx(4 / p, rel=0.1)
    assert len(list((tmp_path / "1mp-n4").glob("*.jpg"))) == 4


def test_map_benchmark_quick(capsys: pytest.CaptureFixture[str]) -> None:
    import benchmarks.map

    assert benchmarks.map.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "numba compile" in out
    rows = _table(out)
    assert [(r["photos"], r["umap"]) for r in rows] == [("1,000", "seeded")], out
    row = rows[0]
    assert float(row["UMAP s"]) > 0 and int(row["clusters"]) >= 1
    assert float(row["peak MB"]) >= 0
    assert float(row["neighbours kept"]) >= 0.9  # the map keeps synthetic clusters together


def test_app_benchmark_quick(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import benchmarks.app

    assert benchmarks.app.main(["--quick", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = _table(out)
    assert len(rows) == 1, out
    row = rows[0]
    assert row["photos"] == "2,000" and row["display"] == "offscreen"
    assert 0 < float(row["window shown s"]) <= float(row["usable s"])
    assert float(row["stall scroll ms"]) >= benchmarks.app.HEARTBEAT_MS * 0.5
    assert 100 < float(row["app peak RSS MB"]) <= float(row["with children MB"]) < 16_000
    assert "rows at the end: 2004" in out  # the 4 new photos were embedded and listed


def test_faces_benchmark_quick(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import benchmarks.faces

    assert benchmarks.faces.main(["--quick", "--cache", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = {row["run"]: row for row in _table(out)}
    assert set(rows) == {"in-process"}  # the pool runs in the full mode
    for row in rows.values():
        assert row["photos"] == "3" and float(row["photos/s"]) > 0
        found, pasted = map(int, row["faces found"].split("/"))
        assert pasted > 0 and found >= pasted * 0.8  # real faces, pasted large: found
    assert float(rows["in-process"]["CPU ms/photo"]) > 0
    assert "ms a face" in out
