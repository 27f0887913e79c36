"""Regions of a photo in the GUI: select one and find it, matched boxes, heat maps."""

from gui.regions.overlay import Box, HeatOverlay, RegionOverlay
from gui.regions.selection import RegionSelector

__all__ = ["Box", "HeatOverlay", "RegionOverlay", "RegionSelector"]
