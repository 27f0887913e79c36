"""Duplicates, bursts and culling: groups of near-identical photos with the kind of each pair,
a best pick per group with its reasons, and the user's pick/reject decisions.

:mod:`~core.duplicates.finder` is the job; :mod:`~core.duplicates.graph` the neighbour graph
and capped components, :mod:`~core.duplicates.kinds` the pair checks,
:mod:`~core.duplicates.pixels` signatures and quality, :mod:`~core.duplicates.pick` the best
pick, :mod:`~core.duplicates.store` the decisions, :mod:`~core.duplicates.export` the files
other tools read.
"""

from core.duplicates.finder import GROUP_CAP, Group, Pair, Report, find_groups
from core.duplicates.kinds import (
           BURST,
           EDIT,
           EXACT,
           KINDS,
           REENCODE,
           SCENE,
           Thresholds,
           thresholds_for,
)
from core.duplicates.store import PICK, REJECT, decide, decisions, group_key

__all__ = ["BURST", "EDIT", "EXACT", "GROUP_CAP", "KINDS", "PICK", "REENCODE", "REJECT", "SCENE",
           "Group", "Pair", "Report", "Thresholds", "decide", "decisions", "find_groups",
           "group_key", "thresholds_for"]
