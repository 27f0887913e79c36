"""The photo grid: model, delegate, thumbnail cache, view and the library view around it."""

from gui.grid.cache import ThumbnailCache
from gui.grid.delegate import ThumbnailDelegate
from gui.grid.library_view import LibraryView
from gui.grid.model import Roles, ThumbnailModel
from gui.grid.view import GridView

__all__ = ["GridView", "LibraryView", "Roles", "ThumbnailCache", "ThumbnailDelegate",
           "ThumbnailModel"]
