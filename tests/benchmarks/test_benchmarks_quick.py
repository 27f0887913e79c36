"""The benchmarks run in quick mode: they work and print their figures."""

from __future__ import annotations

import re

import pytest

import benchmarks.search


def test_search_benchmark_quick(capsys: pytest.CaptureFixture[str]) -> None:
    assert benchmarks.search.main(["--quick"]) == 0
    out = capsys.readouterr().out
    number = r"\s*\d[\d,]*(\.\d+)?\s*"
    for name in ("exact", "annoy"):
        rows = [line for line in out.splitlines() if re.match(rf"\|{number}\| {name}\s*\|", line)]
        assert len(rows) == 1, out
        cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
        build_s, median_ms, recall = float(cells[2]), float(cells[6]), float(cells[10])
        assert build_s >= 0 and median_ms > 0 and 0.0 <= recall <= 1.0


def test_map_benchmark_quick(capsys: pytest.CaptureFixture[str]) -> None:
    import benchmarks.map

    assert benchmarks.map.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "numba compile" in out
    rows = [line for line in out.splitlines() if re.match(r"\|\s*1,000 \| seeded\s*\|", line)]
    assert len(rows) == 1, out
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    umap_s, n_clusters, peak_mb, kept = float(cells[3]), int(cells[5]), cells[8], float(cells[9])
    assert umap_s > 0 and n_clusters >= 1 and float(peak_mb) >= 0
    assert kept >= 0.9  # the map keeps synthetic clusters together
