"""Processor of the dual-alignment retriever: videos -> `pixel_values_videos`, captions -> text-encoder inputs, and,
for training, the noun-/verb-removed query captions and removed-word targets of Eqs. 5-6.

This file is part of the Hub code of the method: stdlib, torch and transformers public API, plus its sibling.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import torch
from transformers import BatchFeature, ProcessorMixin

from .video_processing_dual_align import DualAlignVideoProcessor  # noqa: F401  (copied with the processor)

_MASK_MODES = ("remove", "mask")


def _phrase_pattern(phrase: str) -> re.Pattern | None:
    words = phrase.split()
    if not words:
        return None
    body = r"\s+".join(re.escape(w) for w in words)  # multi-word phrases match across any whitespace
    # word boundaries; a hyphen counts as part of a word ("dog" does not match inside "dog-house")
    return re.compile(rf"(?<![\w-]){body}(?![\w-])", flags=re.IGNORECASE)


def remove_words(caption: str, words: Sequence[str], mask_token: str | None = None) -> tuple[str, list[str]]:
    """Remove every occurrence of each word / phrase in `words` from `caption` (word boundaries, case-insensitive).

    Longer phrases are removed first (so "tennis ball" wins over "ball"). With `mask_token`, each removed word is
    replaced by that token (one per word of the phrase) instead of being deleted.

    Returns:
        (query caption, removed surface forms in caption order without repeats, case-insensitive).
    """
    found: list[tuple[int, str]] = []
    query = caption
    unique = {w.strip().lower(): w.strip() for w in words if w and w.strip()}
    for phrase in sorted(unique.values(), key=lambda p: (-len(p.split()), -len(p))):
        pattern = _phrase_pattern(phrase)
        if pattern is None:
            continue
        for match in pattern.finditer(caption):
            found.append((match.start(), " ".join(match.group(0).split())))

        def replace(match: re.Match) -> str:
            return " ".join([mask_token] * len(match.group(0).split())) if mask_token else " "

        query = pattern.sub(replace, query)
    query = re.sub(r"\s+", " ", query).strip()
    query = re.sub(r"\s+([.,!?;:])", r"\1", query)
    removed, seen = [], set()
    for _, surface in sorted(found):
        if surface.lower() not in seen:
            seen.add(surface.lower())
            removed.append(surface)
    return query, removed


# Copied from videotext.modeling.shared_blocks.text_batch
def text_batch(text, owner: str) -> list[str]:
    """`text` (a string or a list of strings) as a non-empty list of strings; a one-line error naming `owner`."""
    texts = [text] if isinstance(text, str) else list(text)
    if not texts:
        raise ValueError(f"{owner}: `text` is an empty list; pass at least one string")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise ValueError(f"{owner}: `text` must be a string or a list of strings (item {bad} is "
                         f"{type(texts[bad]).__name__})")  # fmt: skip
    return texts


class DualAlignProcessor(ProcessorMixin):
    r"""
    Wraps a [`DualAlignVideoProcessor`] and a BERT-family tokenizer (DistilBERT's; [CLS] ... [SEP] wrapping).

    `processor(videos=..., text=...)` gives `pixel_values_videos`, `input_ids`, `attention_mask`. With `nouns=` /
    `verbs=` (per caption, a list of words or phrases, e.g. the dataset's `nouns` / `verbs` columns) it also gives,
    for each kind `k` in (noun, verb):

    - `k_query_input_ids`, `k_query_attention_mask`: the caption with the words removed (`mask_mode="remove"`) or
      replaced by the tokenizer's mask token (`mask_mode="mask"`), the Q side of Eq. 2;
    - `k_target_input_ids`, `k_target_attention_mask`: the removed words (surface forms, caption order, joined by a
      space) as their own short text, encoded by the same text encoder (y_n / y_v of Eqs. 5-6);
    - `k_valid` (bool): the caption contained at least one of the words; other rows are excluded from the loss.

    `tagger` (a callable caption -> (nouns, verbs)) fills `nouns` / `verbs` that are not given, e.g.
    `videotext.pos_tagging.get_pos_tagger()` (spaCy) or any user function.

    Args:
        video_processor: the video processor.
        tokenizer: the text-encoder tokenizer (needs a mask token when `mask_mode="mask"`).
        mask_mode: "remove" (default, the paper's "sentence with deleted verbs and nouns") or "mask" (MCQ style).
    """

    def __init__(self, video_processor=None, tokenizer=None, mask_mode: str = "remove", **kwargs):
        if mask_mode not in _MASK_MODES:
            raise ValueError(f"`mask_mode` must be one of {_MASK_MODES}, got {mask_mode!r}")
        self.mask_mode = mask_mode
        super().__init__(video_processor, tokenizer, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        names = ["input_ids", "attention_mask", "pixel_values_videos"]
        for kind in ("noun", "verb"):
            names += [f"{kind}_{side}_{key}" for side in ("query", "target") for key in ("input_ids", "attention_mask")]
            names.append(f"{kind}_valid")
        return names

    def _tokenize(self, texts: list[str], max_length: int, return_tensors, padding):
        return self.tokenizer(
            texts, padding=padding, truncation=True, max_length=max_length, return_tensors=return_tensors
        )

    def __call__(
        self,
        videos=None,
        text: str | list[str] | None = None,
        nouns: Sequence[Sequence[str]] | None = None,
        verbs: Sequence[Sequence[str]] | None = None,
        tagger: Callable[[str], tuple[Sequence[str], Sequence[str]]] | None = None,
        return_tensors: str | None = "pt",
        max_length: int = 32,
        padding: bool | str = "longest",
        **videos_kwargs,
    ) -> BatchFeature:
        """
        Args:
            videos: one video or a list (paths, uint8 `(T, H, W, 3)` arrays, lists of PIL frames).
            text: one caption or a list (caption i belongs to video i when both are given).
            nouns / verbs: per caption, the words or phrases to remove for the noun (Eq. 5) / verb (Eq. 6) branch.
            tagger: callable caption -> (nouns, verbs) used for whichever of `nouns` / `verbs` is None.
            return_tensors: "pt" (default) or None.
            max_length: maximum tokens per text (CLIP4Clip's `max_words` 32).
            padding: tokenizer padding ("longest" by default).
            videos_kwargs: passed to the video processor (`num_frames`, `size`, ...).
        """
        if videos is None and text is None:
            raise ValueError("DualAlignProcessor needs `videos`, `text`, or both")
        data: dict = {}
        if videos is not None:
            data.update(self.video_processor(videos, return_tensors=return_tensors, **videos_kwargs))
        if text is None:
            if nouns is not None or verbs is not None:
                raise ValueError("`nouns` / `verbs` need the captions in `text`")
            return BatchFeature(data=data, tensor_type=return_tensors)
        captions = text_batch(text, "DualAlignProcessor")
        single = isinstance(text, str)
        if single:
            nouns = [nouns] if nouns is not None and (not nouns or isinstance(nouns[0], str)) else nouns
            verbs = [verbs] if verbs is not None and (not verbs or isinstance(verbs[0], str)) else verbs
        data.update(self._tokenize(captions, max_length, return_tensors, padding))

        if tagger is not None and (nouns is None or verbs is None):
            if isinstance(tagger, str) or not callable(tagger):
                raise ValueError(
                    "`tagger` must be a callable caption -> (nouns, verbs), e.g. "
                    "`videotext.pos_tagging.get_pos_tagger('spacy')` or your own function"
                )
            tagged = [tagger(c) for c in captions]
            nouns = [list(t[0]) for t in tagged] if nouns is None else nouns
            verbs = [list(t[1]) for t in tagged] if verbs is None else verbs

        mask_token = None
        if self.mask_mode == "mask":
            mask_token = getattr(self.tokenizer, "mask_token", None)
            if not mask_token:
                raise ValueError("`mask_mode='mask'` needs a tokenizer with a mask token")
        for kind, words in (("noun", nouns), ("verb", verbs)):
            if words is None:
                continue
            if len(words) != len(captions):
                raise ValueError(f"`{kind}s` has {len(words)} entries for {len(captions)} captions")
            queries, targets, valid = [], [], []
            for caption, caption_words in zip(captions, words):
                if isinstance(caption_words, str):
                    caption_words = [caption_words]
                query, removed = remove_words(caption, list(caption_words or []), mask_token)
                if removed:
                    queries.append(query)
                    targets.append(" ".join(removed))
                else:  # nothing to remove: the row is masked out of the loss, the inputs are placeholders
                    queries.append(caption)
                    targets.append("")
                valid.append(bool(removed))
            query_enc = self._tokenize(queries, max_length, return_tensors, padding)
            target_enc = self._tokenize(targets, max_length, return_tensors, padding)
            data[f"{kind}_query_input_ids"] = query_enc["input_ids"]
            data[f"{kind}_query_attention_mask"] = query_enc["attention_mask"]
            data[f"{kind}_target_input_ids"] = target_enc["input_ids"]
            data[f"{kind}_target_attention_mask"] = target_enc["attention_mask"]
            data[f"{kind}_valid"] = torch.tensor(valid, dtype=torch.bool) if return_tensors == "pt" else valid
        return BatchFeature(data=data, tensor_type=return_tensors)


__all__ = ["DualAlignProcessor", "remove_words"]
