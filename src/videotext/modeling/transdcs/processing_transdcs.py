"""Processor of TransDCS: videos or expert feature dicts -> `expert_features` / `expert_mask`, captions -> BERT
inputs.

This file is part of the Hub code of the method: stdlib, torch and transformers public API, plus its siblings.
"""

from __future__ import annotations

from transformers import BatchFeature, ProcessorMixin

from .video_processing_transdcs import TransDcsVideoProcessor  # noqa: F401  (copied with the processor)


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


class TransDcsProcessor(ProcessorMixin):
    r"""
    Wraps a [`TransDcsVideoProcessor`] (expert features from raw video or feature files) and a BERT-family
    tokenizer.

    `processor(videos=..., text=...)` gives `expert_features`, `expert_mask`, `input_ids`, `attention_mask`;
    `processor(expert_features=[{name: (T, D) array}, ...], text=...)` packs precomputed features instead.
    """

    def __init__(self, video_processor=None, tokenizer=None, max_length: int | None = None, **kwargs):
        # default: the video processor's `max_text_length` (so a recipe's `processor:` section sets it), else 32
        max_length = max_length if max_length is not None else getattr(video_processor, "max_text_length", None) or 32
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"`max_length` must be an int >= 2, got {max_length!r}")
        self.max_length = max_length  # MMT: 30 words, 100 for ActivityNet paragraphs
        super().__init__(video_processor, tokenizer, **kwargs)

    @property
    def model_input_names(self) -> list[str]:
        return ["input_ids", "attention_mask", "expert_features", "expert_mask"]

    def __call__(self, videos=None, text: str | list[str] | None = None, expert_features=None, clip_bounds=None,
                 return_tensors: str | None = "pt", max_length: int | None = None, padding: bool | str = "longest",
                 **kwargs) -> BatchFeature:  # fmt: skip
        """
        Args:
            videos: one video or a list (paths, uint8 `(T, H, W, 3)` arrays, lists of PIL frames).
            text: one caption or a list (caption i belongs to video i when both are given).
            expert_features: instead of `videos`, one `{expert name: (T_m, D_m) array or None}` dict per video.
            clip_bounds: per video `(start, end)` seconds of the file (None: the whole file).
            return_tensors: "pt" (default) or None.
            max_length: maximum tokens per text (default: the processor's `max_length`).
            padding: tokenizer padding ("longest" by default).
        """
        if videos is None and text is None and expert_features is None:
            raise ValueError("TransDcsProcessor needs `videos`, `expert_features`, `text`, or some of them")
        data: dict = {}
        if videos is not None or expert_features is not None:
            data.update(self.video_processor(videos, expert_features=expert_features, clip_bounds=clip_bounds,
                                             return_tensors=return_tensors, **kwargs))  # fmt: skip
        if text is not None:
            captions = text_batch(text, "TransDcsProcessor")
            data.update(self.tokenizer(captions, padding=padding, truncation=True,
                                       max_length=max_length or self.max_length,
                                       return_token_type_ids=False, return_tensors=return_tensors))  # fmt: skip
        return BatchFeature(data=data, tensor_type=return_tensors)


__all__ = ["TransDcsProcessor"]
