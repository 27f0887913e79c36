"""The cluster map: a seeded 2-D UMAP of the library (:mod:`~core.map.layout`), stored in the
catalog (:mod:`~core.map.store`), computed in a child process for the app
(:mod:`~core.map.engine`), clustered (:mod:`~core.map.clusters`) and drawn to PNG
(:mod:`~core.map.render`)."""

from core.map.layout import (
    MapParams,
    MapPoints,
    MapResult,
    compute_map,
    initial_layout,
    is_current,
    load_map,
    map_model_path,
    map_points,
    pca_layout,
    warm_up,
)

__all__ = ["MapParams", "MapPoints", "MapResult", "compute_map", "initial_layout", "is_current",
           "load_map", "map_model_path", "map_points", "pca_layout", "warm_up"]
