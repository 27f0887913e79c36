"""The map engine's numba cache: code compiled without ``cache=True`` (as most of umap's)
is kept in Lookalike's cache folder and loaded, not compiled, by the next process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from core.map import numba_cache

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = textwrap.dedent("""
    import sys
    from pathlib import Path
    from core.map import numba_cache
    numba_cache.enable(Path(sys.argv[1]))
    sys.path.insert(0, sys.argv[2])
    import jitted  # decorated @numba.njit with no cache argument, like umap's code
    jitted.total(3)
    stats = jitted.total.stats
    print(sum(stats.cache_hits.values()), sum(stats.cache_misses.values()))
""")


def test_a_second_process_loads_what_the_first_compiled(tmp_path: Path) -> None:
    module_dir = tmp_path / "src"
    module_dir.mkdir()
    (module_dir / "jitted.py").write_text(
        "import numba\n\n\n@numba.njit\ndef total(n):\n    return sum(range(n))\n")
    cache = tmp_path / "numba"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def hits_and_misses() -> tuple[int, int]:
        out = subprocess.run([sys.executable, "-c", PROGRAM, str(cache), str(module_dir)],
                             capture_output=True, text=True, env=env, timeout=120, check=True)
        hits, misses = out.stdout.split()
        return int(hits), int(misses)

    assert not numba_cache.is_filled(cache)
    assert hits_and_misses() == (0, 1)  # compiled, and written
    assert numba_cache.is_filled(cache)  # into our folder, not beside the source
    assert not list(module_dir.rglob("*.nbi"))
    assert hits_and_misses() == (1, 0)  # the next process loads it
