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
