"""Pluggable part-of-speech taggers that fill `nouns` / `verbs` for raw captions (dual-alignment Eqs. 5-6).

A tagger is any callable `caption -> (nouns, verbs)` (two lists of words / phrases found in the caption). The
processor (`DualAlignProcessor(..., tagger=...)`) accepts any such callable; this module supplies the default one,
built on spaCy when the user has it installed. spaCy is an optional dependency (`pip install videotext[pos]`):
datasets that ship `nouns` / `verbs` columns (e.g. the synthetic set) never need it.

Example:
    >>> from videotext.pos_tagging import get_pos_tagger
    >>> tagger = get_pos_tagger()            # spaCy en_core_web_sm
    >>> tagger("a man is playing a guitar")
    (['man', 'guitar'], ['playing'])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

PosTagger = Callable[[str], tuple[Sequence[str], Sequence[str]]]

_INSTALL_HINT = (
    "Install it with `pip install spacy && python -m spacy download {model}` (or `pip install videotext[pos]`), "
    "or pass the `nouns=` / `verbs=` annotations from your dataset to the processor, or give `tagger=` any "
    "callable caption -> (nouns, verbs)."
)


class PosTaggerUnavailableError(ImportError):
    """The requested tagger backend (spaCy or its language model) is not installed."""


class SpacyPosTagger:
    """Nouns = tokens tagged NOUN / PROPN, verbs = tokens tagged VERB (auxiliaries such as "is" are left out)."""

    def __init__(self, model: str = "en_core_web_sm"):
        try:
            import spacy
        except ImportError as err:
            raise PosTaggerUnavailableError(
                "The default POS tagger needs spaCy, which is not installed. " + _INSTALL_HINT.format(model=model)
            ) from err
        try:
            self.nlp = spacy.load(model, disable=["ner", "parser", "lemmatizer"])
        except OSError as err:
            raise PosTaggerUnavailableError(
                f"spaCy is installed but its model {model!r} is not. " + _INSTALL_HINT.format(model=model)
            ) from err
        self.model = model

    def __call__(self, caption: str) -> tuple[list[str], list[str]]:
        doc = self.nlp(caption)
        nouns = [tok.text for tok in doc if tok.pos_ in ("NOUN", "PROPN")]
        verbs = [tok.text for tok in doc if tok.pos_ == "VERB"]
        return nouns, verbs


def get_pos_tagger(name: str = "spacy", model: str = "en_core_web_sm") -> PosTagger:
    """Return the tagger `name` ("spacy"). Raises `PosTaggerUnavailableError` (an ImportError) with the install
    command when spaCy or its model is missing."""
    if name != "spacy":
        raise ValueError(
            f"unknown POS tagger {name!r}; available: 'spacy', or pass any callable caption -> (nouns, verbs)"
        )
    return SpacyPosTagger(model)


def resolve_pos_tagger(tagger: str | PosTagger | None) -> PosTagger | None:
    """None -> None, a name -> `get_pos_tagger(name)`, a callable -> itself (checked to be callable)."""
    if tagger is None:
        return None
    if isinstance(tagger, str):
        return get_pos_tagger(tagger)
    if not callable(tagger):
        raise ValueError(
            f"`tagger` must be a name or a callable caption -> (nouns, verbs), got {type(tagger).__name__}"
        )
    return tagger


__all__ = ["PosTagger", "PosTaggerUnavailableError", "SpacyPosTagger", "get_pos_tagger", "resolve_pos_tagger"]
