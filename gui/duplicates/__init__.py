"""The Duplicates view: groups, a synchronised side-by-side compare, pick/reject keys."""

from gui.duplicates.view import DuplicatesView

__all__ = ["DuplicatesView"]
