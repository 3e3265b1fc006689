"""CLIP4VideoCap processor: video processor + caption-decoder tokenizer + CLIP text tokenizer.

`processor(videos=..., text=..., intention=..., effect=..., attribute=..., return_labels=True)` gives every training
input of [`Clip4VideoCapForConditionalGeneration`]: `pixel_values_videos`; the decoder `input_ids` /
`attention_mask` / `labels` (caption + EOS, -100 on padding; Eq. 7 L_cap); the CLIP text tower's
`text_encoder_input_ids` / `text_encoder_attention_mask` (Eq. 5); and per commonsense aspect
`<aspect>_input_ids` / `<aspect>_attention_mask` / `<aspect>_labels` (Eq. 7 L_int / L_eff / L_att). A clip's
aspect annotations (V2C gives several) are joined with "; " into one target, as HybridNet joins V2C's raw strings.
Tokenization never happens inside the model.

Hub code: imports only stdlib, torch and transformers' public API, and its sibling video processor.
"""

from __future__ import annotations

import torch
from transformers import BatchFeature, ProcessorMixin

ASPECTS = ("intention", "effect", "attribute")


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


def _join_aspect(value, name: str) -> str:
    """One clip's aspect annotation(s) -> one target text."""
    if isinstance(value, str):
        return value.strip()
    if value is None:
        return ""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"`{name}` must hold one string or a list of strings per clip, got {value!r}")
    return "; ".join(v.strip() for v in value if v and v.strip())


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


class Clip4VideoCapProcessor(ProcessorMixin):
    r"""
    Processor of CLIP4VideoCap.

    Args:
        video_processor ([`Clip4VideoCapVideoProcessor`]): clips -> `pixel_values_videos`.
        tokenizer: tokenizer of the caption decoder and of the commonsense sub-decoders (no special tokens are added;
            EOS ends every training target).
        text_encoder_tokenizer (optional): tokenizer of the CLIP text tower (Eq. 5; adds its own start / end tokens).
            Defaults to `tokenizer`. Saved in the `text_encoder_tokenizer/` subfolder.
        max_length (`int`, defaults to 40): token budget of a caption (EOS included) for both tokenizers (CLIP's text
            tower takes at most 77).
        commonsense_max_length (`int`, defaults to 32): token budget of an aspect target (EOS included).
    """

    def __init__(self, video_processor=None, tokenizer=None, text_encoder_tokenizer=None, max_length: int = 40,
                 commonsense_max_length: int = 32, **kwargs):  # fmt: skip
        if tokenizer is None:
            raise ValueError("Clip4VideoCapProcessor needs `tokenizer` (the decoder tokenizer)")
        if video_processor is None:
            from .video_processing_clip4videocap import Clip4VideoCapVideoProcessor

            video_processor = Clip4VideoCapVideoProcessor()
        if text_encoder_tokenizer is None:
            text_encoder_tokenizer = tokenizer
        for name, value in (("max_length", max_length), ("commonsense_max_length", commonsense_max_length)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 2:
                raise ValueError(f"`{name}` must be an int >= 2, got {value!r}")
        self.max_length = max_length
        self.commonsense_max_length = commonsense_max_length
        super().__init__(video_processor, tokenizer, text_encoder_tokenizer, **kwargs)

    def _targets(self, texts: list[str], max_length: int) -> dict[str, list[list[int]]]:
        """Right-padded decoder targets: ids + EOS, mask, labels (-100 on padding)."""
        eos = self.tokenizer.eos_token_id
        if eos is None:
            raise ValueError("the decoder tokenizer has no eos_token; training targets must end with one")
        token_lists = self.tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []
        token_lists = [ids[: max_length - 1] + [eos] for ids in token_lists]
        ids, mask = pad_sequences(token_lists, pad_token_id(self.tokenizer), side="right")
        labels = [[tok if m else -100 for tok, m in zip(row, row_mask)] for row, row_mask in zip(ids, mask)]
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    def __call__(
        self,
        videos=None,
        text: str | list[str] | None = None,
        intention=None,
        effect=None,
        attribute=None,
        return_labels: bool = False,
        max_length: int | None = None,
        return_tensors: str | None = "pt",
        **video_kwargs,
    ) -> BatchFeature:
        """Turn clips, captions and commonsense annotations into model inputs.

        Args:
            videos: a path, a uint8 `(T, H, W, 3)` array, a list of PIL frames, or a list of those (one per clip).
            text: caption(s). With `return_labels=False` they are generation prompts (left padded); with
                `return_labels=True` they are training targets (right padded, EOS appended, `labels`, plus the CLIP
                text tower's `text_encoder_input_ids` / `text_encoder_attention_mask`).
            intention / effect / attribute: per clip a string or a list of strings (V2C annotations, joined with
                "; "); with `return_labels=True` they become `<aspect>_input_ids` / `_attention_mask` / `_labels`.
            max_length: token budget per caption (EOS included); defaults to `self.max_length`.
            return_tensors: "pt" (default) or None for lists.
            **video_kwargs: passed to the video processor (e.g. `num_frames=4`, `size=...`).
        """
        if videos is None and text is None:
            raise ValueError("Clip4VideoCapProcessor needs `videos`, `text` or both")
        max_length = max_length or self.max_length
        data = {}
        if videos is not None:
            video_inputs = self.video_processor(videos, return_tensors=return_tensors, **video_kwargs)
            data["pixel_values_videos"] = video_inputs["pixel_values_videos"]
        if text is not None:
            texts = text_batch(text, "Clip4VideoCapProcessor")
            stripped = [t.strip() for t in texts]
            if return_labels:
                data.update(self._targets(stripped, max_length))
                enc = self.text_encoder_tokenizer(
                    stripped, truncation=True, max_length=min(max_length, 77), add_special_tokens=True
                )["input_ids"]
                enc_ids, enc_mask = pad_sequences(enc, pad_token_id(self.text_encoder_tokenizer), side="right")
                data.update(text_encoder_input_ids=enc_ids, text_encoder_attention_mask=enc_mask)
            else:
                token_lists = self.tokenizer(stripped, add_special_tokens=False)["input_ids"] if texts else []
                ids, mask = pad_sequences([t[:max_length] for t in token_lists], pad_token_id(self.tokenizer), side="left")
                data.update(input_ids=ids, attention_mask=mask)
        for name, values in (("intention", intention), ("effect", effect), ("attribute", attribute)):
            if values is None or not return_labels:
                continue
            values = [values] if isinstance(values, str) else list(values)
            targets = self._targets([_join_aspect(v, name) for v in values], self.commonsense_max_length)
            data.update({f"{name}_{key}": value for key, value in targets.items()})
        if return_tensors == "pt":
            for key in list(data):
                if key != "pixel_values_videos":
                    data[key] = torch.tensor(data[key], dtype=torch.long)
        return BatchFeature(data=data, tensor_type=return_tensors if videos is None else None)

    def batch_decode(self, sequences, skip_special_tokens: bool = True, **kwargs) -> list[str]:
        """Generated ids (or `generate(..., return_commonsense=True)`'s output: its captions) -> clean texts (text
        after the first EOS dropped, special tokens skipped, whitespace collapsed)."""
        sequences = getattr(sequences, "sequences", sequences)
        return clean_batch_decode(self.tokenizer, sequences, skip_special_tokens, **kwargs)

    def decode(self, token_ids, skip_special_tokens: bool = True, **kwargs) -> str:
        if isinstance(token_ids, torch.Tensor):
            token_ids = token_ids.tolist()
        return self.batch_decode([token_ids], skip_special_tokens=skip_special_tokens, **kwargs)[0]

    def decode_commonsense(self, outputs) -> list[dict[str, str]]:
        """`generate(..., return_commonsense=True)`'s output -> per clip `{"intention": ..., "effect": ...,
        "attribute": ...}` (the aspects the model has sub-decoders for)."""
        per_aspect = {
            a: self.batch_decode(getattr(outputs, a)) for a in ASPECTS if getattr(outputs, a, None) is not None
        }
        count = len(next(iter(per_aspect.values()))) if per_aspect else 0
        return [{a: texts[i] for a, texts in per_aspect.items()} for i in range(count)]

    @property
    def model_input_names(self) -> list[str]:
        names = ["pixel_values_videos", "input_ids", "attention_mask", "labels", "text_encoder_input_ids",
                 "text_encoder_attention_mask"]  # fmt: skip
        return names + [f"{a}_{k}" for a in ASPECTS for k in ("input_ids", "attention_mask", "labels")]


__all__ = ["Clip4VideoCapProcessor"]
