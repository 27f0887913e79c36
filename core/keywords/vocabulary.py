"""What the ImageNet classes mean in everyday words.

``imagenet_words.json`` (generated once, committed) lists the 1000 ImageNet-1k classes in
the models' output order, each with its name and the everyday words it rolls up to through
WordNet 3.0's hypernyms (a malamute and a beagle are both a "dog", and a "mammal" and an
"animal"); ``anchors`` names the WordNet synset behind each word. It was generated from
Debian's ``wordnet-base`` (WordNet 3.0, the version ImageNet's synset ids refer to) and
timm's ImageNet synset list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).with_name("imagenet_words.json")


@dataclass(frozen=True)
class Vocabulary:
    """Class names, the everyday words, and which classes each word covers."""

    names: tuple[str, ...]  # class index -> ImageNet class name ("malamute")
    class_words: tuple[tuple[str, ...], ...]  # class index -> its everyday words
    words: tuple[str, ...]  # every everyday word, specific before general

    def classes_matching(self, query: str) -> list[int]:
        """Classes a search for ``query`` finds: those whose everyday word is ``query``
        (any breed for "dog"), or whose name contains it ("shepherd")."""
        text = query.strip().lower()
        if not text:
            return []
        found = [i for i, words in enumerate(self.class_words) if text in words]
        if found:
            return found
        return [i for i, name in enumerate(self.names) if text in name.lower()]

    def word_list(self) -> list[str]:
        """Everyday words that cover at least one class, for completion."""
        return list(self.words)


@cache
def vocabulary() -> Vocabulary:
    """The vocabulary shipped with Lookalike (read once)."""
    data = json.loads(DATA.read_text(encoding="utf-8"))
    names = tuple(str(c[0]) for c in data["classes"])
    class_words = tuple(tuple(str(w) for w in c[1]) for c in data["classes"])
    return Vocabulary(names, class_words, tuple(data["words"]))
