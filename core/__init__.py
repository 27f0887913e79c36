"""Lookalike's engine: scan, decode, embed, catalog, search. No Qt here."""

import os

# Before torch (and its OpenMP runtime) is loaded by any core module: OpenMP threads that
# wait for work sleep instead of spinning. Indexing runs decoder threads beside the CNN's,
# and the app's UI thread beside both; spinning threads steal those cores. Measured on 2
# busy cores (benchmarks/README.md): the CNN alone runs 3-4x faster and the indexing
# pipeline uses half the CPU time. The user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
