"""Labels and what is learnt from them: the label store, heads trained on frozen embeddings
(:mod:`~core.labels.heads`, :mod:`~core.labels.training`), review queues
(:mod:`~core.labels.review`), export/import (:mod:`~core.labels.export`) and where a label
is in a photo: heat maps, best boxes, region aggregation (:mod:`~core.labels.localise`).

Only the torch-free store is imported here; the heads load torch when first used.
"""

from core.labels.store import (
    SOURCE_ACCEPTED,
    SOURCE_USER,
    Label,
    LabelError,
    LabelSet,
    LabelStore,
)

__all__ = ["SOURCE_ACCEPTED", "SOURCE_USER", "Label", "LabelError", "LabelSet", "LabelStore"]
