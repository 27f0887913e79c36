"""Regions of photos (issue 16): descriptors pooled from the feature map of the pass that
embeds a photo over an R-MAC-style grid of squares (:mod:`~core.regions.grid`), reduced by a
whitened PCA learned on the library (:mod:`~core.regions.pca`), stored with their boxes
(:mod:`~core.regions.store`, written by :mod:`~core.regions.describe`), and searched by a
region of any image (:mod:`~core.regions.search`)."""

from core.regions.describe import RegionWriter, describe
from core.regions.grid import Box, check_box, grid_cells, iou
from core.regions.pca import RegionReduction, fit_reduction
from core.regions.search import RegionSearch, query_descriptors, region_vectors
from core.regions.store import load_reduction, missing_regions, photo_regions, region_count

__all__ = ["Box", "RegionReduction", "RegionSearch", "RegionWriter", "check_box", "describe",
           "fit_reduction", "grid_cells", "iou", "load_reduction", "missing_regions",
           "photo_regions", "query_descriptors", "region_count", "region_vectors"]
