"""The benchmarks run in quick mode: they work and print their figures."""

from __future__ import annotations

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
