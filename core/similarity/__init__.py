"""Learning the user's similarity: judgements (:mod:`~core.similarity.judgements`), triplets
from judgements and labels (:mod:`~core.similarity.triplets`), a projection trained with the
triplet or the same/different loss (:mod:`~core.similarity.training`, torch), stored and
applied to the library (:mod:`~core.similarity.learnt`, :mod:`~core.similarity.search`), and
fine-tuning the backbone (:mod:`~core.similarity.finetune`).

Only the torch-free judgement store is imported here.
"""

from core.similarity.judgements import (
    SOURCE_FEEDBACK,
    SOURCE_USER,
    Judgement,
    JudgementCounts,
    JudgementStore,
)

__all__ = ["SOURCE_FEEDBACK", "SOURCE_USER", "Judgement", "JudgementCounts", "JudgementStore"]
