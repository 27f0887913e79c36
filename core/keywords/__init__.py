"""Keywords from the classifier: each photo's top ImageNet classes, found in the same forward
pass as its embedding (:mod:`~core.keywords.store`), rolled up to everyday words through
WordNet (:mod:`~core.keywords.vocabulary`), searched, and exported as CSV or XMP
(:mod:`~core.keywords.export`)."""

from core.keywords.store import (
    MIN_SCORE,
    PhotoKeywords,
    keyword_details,
    keyword_photo_count,
    library_keywords,
    photo_keywords,
    search_keywords,
)
from core.keywords.vocabulary import Vocabulary, vocabulary

__all__ = [
    "MIN_SCORE",
    "PhotoKeywords",
    "Vocabulary",
    "keyword_details",
    "keyword_photo_count",
    "library_keywords",
    "photo_keywords",
    "search_keywords",
    "vocabulary",
]
