"""Indexing on a Ray cluster (the optional extra ``lookalike[cluster]``): the local pipeline's
decode and CNN run as Ray Data ``map_batches`` on the cluster's workers
(:mod:`~core.cluster.worker`), the driver writes the catalog (:mod:`~core.cluster.driver`).
Ray itself is imported only when a cluster is joined (:mod:`~core.cluster.connect`)."""

from core.cluster.connect import ClusterUnavailable, check_reachable, import_ray
from core.cluster.driver import RayOptions, embed_on_ray, index_on_ray

__all__ = ["ClusterUnavailable", "RayOptions", "check_reachable", "embed_on_ray", "import_ray",
           "index_on_ray"]
