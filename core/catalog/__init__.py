"""The catalog: one SQLite database per library (photos, problems, embeddings, labels, maps).

:mod:`~core.catalog.database` holds :class:`Catalog`; :mod:`~core.catalog.vectors` its vector
reads, :mod:`~core.catalog.schema` the migrations, :mod:`~core.catalog.faults` the translation
of SQLite failures into plain errors and :mod:`~core.catalog.rebuild` the recovery of a damaged
catalog; :mod:`~core.catalog.ownership` tells Lookalike's catalogs from other files.
"""

from core.catalog.database import Catalog, Photo, PhotoMeta, Problem
from core.catalog.ownership import NotACatalog

__all__ = ["Catalog", "NotACatalog", "Photo", "PhotoMeta", "Problem"]
