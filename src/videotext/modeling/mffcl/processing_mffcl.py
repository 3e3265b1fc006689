"""MFFCL processor: video processor + decoder tokenizer + text-encoder tokenizer.

`processor(videos=..., text=..., return_labels=True)` gives every training input of
[`MffclForConditionalGeneration`]: `pixel_values_videos`, the decoder `input_ids` / `attention_mask` / `labels`
(caption + EOS, -100 on padding) and the text-encoder `text_encoder_input_ids` / `text_encoder_attention_mask` of the
contrastive loss (Eq. 3). Tokenization never happens inside the model.

Hub code: imports only stdlib, torch and transformers' public API, and its sibling video processor.
"""

from __future__ import annotations

import torch
from transformers import BatchFeature, ProcessorMixin


# Copied from videotext.modeling.shared_blocks.pad_sequences
def pad_sequences(
    sequences: list[list[int]], pad_id: int, side: str, fill: int | None = None
) -> tuple[list[list[int]], list[list[int]]]:
    """Pad token-id lists to one length on `side` ("left" | "right") with `pad_id` (or `fill`, e.g. -100 for labels);
    returns (ids, attention mask)."""
    length = max((len(s) for s in sequences), default=0)
    ids, mask = [], []
    for seq in sequences:
        extra = length - len(seq)
        pad = [pad_id if fill is None else fill] * extra
        ids.append(pad + seq if side == "left" else seq + pad)
        mask.append([0] * extra + [1] * len(seq) if side == "left" else [1] * len(seq) + [0] * extra)
    return ids, mask


# Copied from videotext.modeling.shared_blocks.pad_token_id
def pad_token_id(tokenizer) -> int:
    """The tokenizer's pad id, else its EOS id (GPT-2 has no pad token; padded positions are masked anyway), else 0."""
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    if tokenizer.eos_token_id is not None:
        return tokenizer.eos_token_id
    return 0


# Copied from videotext.modeling.shared_blocks.clean_batch_decode
def clean_batch_decode(tokenizer, sequences, skip_special_tokens: bool = True, **kwargs) -> list[str]:
    """Generated ids -> clean texts: text after the first EOS dropped, special tokens skipped, whitespace collapsed."""
    if isinstance(sequences, torch.Tensor):
        sequences = sequences.tolist()
    eos = tokenizer.eos_token_id
    if skip_special_tokens and eos is not None:
        sequences = [list(seq[: list(seq).index(eos)]) if eos in seq else list(seq) for seq in sequences]
    texts = tokenizer.batch_decode(sequences, skip_special_tokens=skip_special_tokens, **kwargs)
    return [" ".join(t.split()) for t in texts]


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


class MffclProcessor(ProcessorMixin):
    r"""
    Processor of MFFCL.

    Args:
        video_processor ([`MffclVideoProcessor`]): clips -> `pixel_values_videos`.
        tokenizer: tokenizer of the causal-LM decoder (GPT-2 style; no special tokens are added, the EOS token ends
            every training caption).
        text_encoder_tokenizer (optional): BERT-family tokenizer of the contrastive text encoder (adds [CLS]/[SEP]).
            Defaults to `tokenizer` (for a decoder/encoder pair sharing one vocabulary). Saved in the
            `text_encoder_tokenizer/` subfolder.
        max_length (`int`, defaults to 40): default token budget of a caption (EOS included) for both tokenizers.
    """

    def __init__(
        self, video_processor=None, tokenizer=None, text_encoder_tokenizer=None, max_length: int = 40, **kwargs
    ):
        if tokenizer is None:
            raise ValueError("MffclProcessor needs `tokenizer` (the decoder tokenizer)")
        if video_processor is None:
            from .video_processing_mffcl import MffclVideoProcessor

            video_processor = MffclVideoProcessor()
        if text_encoder_tokenizer is None:
            text_encoder_tokenizer = tokenizer
        if not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f"`max_length` must be an int >= 2, got {max_length!r}")
        self.max_length = max_length
        super().__init__(video_processor, tokenizer, text_encoder_tokenizer, **kwargs)

    def __call__(
        self,
        videos=None,
        text: str | list[str] | None = None,
        return_labels: bool = False,
        max_length: int | None = None,
        return_tensors: str | None = "pt",
        **video_kwargs,
    ) -> BatchFeature:
        """Turn clips and/or captions into model inputs.

        Args:
            videos: a path, a uint8 `(T, H, W, 3)` array, a list of PIL frames, or a list of those (one per clip).
            text: caption(s). With `return_labels=False` they are generation prompts (left padded); with
                `return_labels=True` they are training targets (right padded, EOS appended, `labels` with -100 on
                padding, plus `text_encoder_input_ids` / `text_encoder_attention_mask`).
            max_length: token budget per caption (EOS included); defaults to `self.max_length`.
            return_tensors: "pt" (default) or None for lists.
            **video_kwargs: passed to the video processor (e.g. `num_frames=4`, `size=...`).
        """
        if videos is None and text is None:
            raise ValueError("MffclProcessor needs `videos`, `text` or both")
        max_length = max_length or self.max_length
        data = {}
        if videos is not None:
            video_inputs = self.video_processor(videos, return_tensors=return_tensors, **video_kwargs)
            data["pixel_values_videos"] = video_inputs["pixel_values_videos"]
        if text is not None:
            texts = text_batch(text, "MffclProcessor")
            stripped = [t.strip() for t in texts]
            token_lists = self.tokenizer(stripped, add_special_tokens=False)["input_ids"] if texts else []
            if return_labels:
                eos = self.tokenizer.eos_token_id
                if eos is None:
                    raise ValueError("the decoder tokenizer has no eos_token; training captions must end with one")
                token_lists = [ids[: max_length - 1] + [eos] for ids in token_lists]
                ids, mask = pad_sequences(token_lists, pad_token_id(self.tokenizer), side="right")
                labels = [[tok if m else -100 for tok, m in zip(row, row_mask)] for row, row_mask in zip(ids, mask)]
                enc = self.text_encoder_tokenizer(
                    stripped, truncation=True, max_length=max_length, add_special_tokens=True
                )["input_ids"]
                enc_ids, enc_mask = pad_sequences(enc, pad_token_id(self.text_encoder_tokenizer), side="right")
                data.update(
                    input_ids=ids,
                    attention_mask=mask,
                    labels=labels,
                    text_encoder_input_ids=enc_ids,
                    text_encoder_attention_mask=enc_mask,
                )
            else:
                ids, mask = pad_sequences([t[:max_length] for t in token_lists], pad_token_id(self.tokenizer), side="left")
                data.update(input_ids=ids, attention_mask=mask)
            if return_tensors == "pt":
                for key in (
                    "input_ids",
                    "attention_mask",
                    "labels",
                    "text_encoder_input_ids",
                    "text_encoder_attention_mask",
                ):
                    if key in data:
                        data[key] = torch.tensor(data[key], dtype=torch.long)
        return BatchFeature(data=data, tensor_type=return_tensors if videos is None else None)

    def batch_decode(self, sequences, skip_special_tokens: bool = True, **kwargs) -> list[str]:
        """Generated ids -> clean captions (text after the first EOS dropped, special tokens skipped, stripped)."""
        return clean_batch_decode(self.tokenizer, sequences, skip_special_tokens, **kwargs)

    def decode(self, token_ids, skip_special_tokens: bool = True, **kwargs) -> str:
        if isinstance(token_ids, torch.Tensor):
            token_ids = token_ids.tolist()
        return self.batch_decode([token_ids], skip_special_tokens=skip_special_tokens, **kwargs)[0]

    @property
    def model_input_names(self) -> list[str]:
        return [
            "pixel_values_videos",
            "input_ids",
            "attention_mask",
            "labels",
            "text_encoder_input_ids",
            "text_encoder_attention_mask",
        ]


__all__ = ["MffclProcessor"]
