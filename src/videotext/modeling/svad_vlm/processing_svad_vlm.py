"""SVAD-VLM processor: video processor + the LLM's tokenizer; builds both tasks' prompts and labels.

- Inference: `processor(videos=...)` adds the description prompt ("Describe the video."); `text=` (or `prompt=`)
  replaces it with any prompt, e.g. a keyword prompt from `keyword_prompt_for(description, keyword)`. Prompts are
  left padded (the model moves the padding in front of the visual queries).
- Training (`return_labels=True`, `text` = the targets): the description task (`input_ids` = prompt + target + EOS,
  `labels` -100 on the prompt and padding, Eq. 9) and, given each sample's `keywords`, the prompt-guided keyword task
  (Section 4.2): one keyword found in the target is replaced by the blank, the prompt is the blanked text in the
  keyword template, the target is the keyword (`keyword_input_ids` / `keyword_attention_mask` / `keyword_labels`;
  a sample without a usable keyword has all -100 labels). `data_source` ("primary" / "auxiliary") becomes
  `data_source_ids` (the projection of Eq. 11).
- A tokenizer with a chat template gets every prompt wrapped as one user turn with the generation prompt.

Which keyword is blanked: `sample_seed[i]` seeds the choice (training gives a fresh seed per clip and epoch);
without it the choice is a fixed function of the text, so a call is reproducible.

Hub code: imports only stdlib, torch and transformers' public API.
"""

from __future__ import annotations

import random
import re
import zlib

import torch
from transformers import BatchFeature, ProcessorMixin

DATA_SOURCES = ("primary", "auxiliary")
DEFAULT_DESCRIPTION_PROMPT = "Describe the video."
DEFAULT_KEYWORD_PROMPT = "Fill in the blank: {text}"


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


def _as_list(value, batch: int, name: str) -> list:
    if value is None or isinstance(value, str):
        return [value] * batch
    value = list(value)
    if len(value) != batch:
        raise ValueError(f"`{name}` has {len(value)} entries for a batch of {batch}")
    return value


def find_keyword(text: str, keyword: str) -> list[tuple[int, int]]:
    """(start, end) of every whole-word, case-insensitive occurrence of `keyword` in `text`."""
    pattern = r"(?<![\w-])" + re.escape(keyword.strip()) + r"(?![\w-])"
    return [m.span() for m in re.finditer(pattern, text, flags=re.IGNORECASE)] if keyword.strip() else []


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


class SvadVlmProcessor(ProcessorMixin):
    r"""
    Processor of SVAD-VLM.

    Args:
        video_processor ([`SvadVlmVideoProcessor`]): clips -> `pixel_values_videos`.
        tokenizer: the causal LM's tokenizer (no special tokens are added; EOS ends every training target; a chat
            template, when it has one, wraps the prompts).
        description_prompt (`str`): P_d, the description task's prompt (paper: "Describe the video").
        keyword_prompt (`str`): P_k template; `{text}` is the description with one keyword replaced by the blank.
        blank (`str`, optional): the placeholder (default: the tokenizer's mask token, else "___").
        max_length (`int`, defaults to 96): token budget of a target (EOS included).
        max_prompt_length (`int`, defaults to 128): token budget of a prompt (kept from its end).
    """

    def __init__(self, video_processor=None, tokenizer=None, description_prompt: str = DEFAULT_DESCRIPTION_PROMPT,
                 keyword_prompt: str = DEFAULT_KEYWORD_PROMPT, blank: str | None = None, max_length: int = 96,
                 max_prompt_length: int = 128, **kwargs):  # fmt: skip
        if tokenizer is None:
            raise ValueError("SvadVlmProcessor needs `tokenizer` (the LLM's tokenizer)")
        if video_processor is None:
            from .video_processing_svad_vlm import SvadVlmVideoProcessor

            video_processor = SvadVlmVideoProcessor()
        if "{text}" not in keyword_prompt:
            raise ValueError(f"`keyword_prompt` must contain '{{text}}', got {keyword_prompt!r}")
        for name, value in (("max_length", max_length), ("max_prompt_length", max_prompt_length)):
            if not isinstance(value, int) or value < 2:
                raise ValueError(f"`{name}` must be an int >= 2, got {value!r}")
        self.description_prompt = description_prompt
        self.keyword_prompt = keyword_prompt
        self.blank = blank or getattr(tokenizer, "mask_token", None) or "___"
        self.max_length = max_length
        self.max_prompt_length = max_prompt_length
        super().__init__(video_processor, tokenizer, **kwargs)

    # ------------------------------------------------------------------------------------------------ prompts
    def keyword_prompt_for(self, text: str, keyword: str, occurrence: int = 0) -> str:
        """The keyword task's prompt: `text` with the `occurrence`-th whole-word match of `keyword` blanked."""
        spans = find_keyword(text, keyword)
        if not spans:
            raise ValueError(f"keyword {keyword!r} does not occur in {text!r}")
        start, end = spans[occurrence % len(spans)]
        return self.keyword_prompt.format(text=f"{text[:start]}{self.blank}{text[end:]}")

    def _prompt_ids(self, prompt: str) -> list[int]:
        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            prompt = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)  # fmt: skip
        return tok(prompt, add_special_tokens=False)["input_ids"][-self.max_prompt_length :]

    def _target_ids(self, texts: list[str], max_length: int) -> list[list[int]]:
        eos = self.tokenizer.eos_token_id
        if eos is None:
            raise ValueError("the tokenizer has no eos_token; training targets must end with one")
        ids = self.tokenizer([t.strip() for t in texts], add_special_tokens=False)["input_ids"] if texts else []
        return [seq[: max_length - 1] + [eos] for seq in ids]

    def _supervised(self, prompts: list[list[int]], targets: list[list[int] | None]) -> dict[str, list]:
        """Right-padded prompt + target rows, labels -100 on the prompt, padding and rows without a target."""
        rows = [p + (t or []) for p, t in zip(prompts, targets)]
        labels = [[-100] * len(p) + (t or []) for p, t in zip(prompts, targets)]
        ids, mask = pad_sequences(rows, pad_token_id(self.tokenizer), "right")
        labels, _ = pad_sequences(labels, pad_token_id(self.tokenizer), "right", fill=-100)
        return {"ids": ids, "mask": mask, "labels": labels}

    def _keyword_task(self, text: str, keywords, seed) -> tuple[str, str] | None:
        """(keyword prompt, keyword as written) for one sample, or None when no keyword occurs in `text`."""
        usable = [k for k in dict.fromkeys(keywords or []) if isinstance(k, str) and find_keyword(text, k)]
        if not usable:
            return None
        rng = random.Random(int(seed) if seed is not None else zlib.crc32(text.encode("utf-8")))
        keyword = usable[rng.randrange(len(usable))]
        spans = find_keyword(text, keyword)
        occurrence = rng.randrange(len(spans))
        start, end = spans[occurrence]
        return self.keyword_prompt_for(text, keyword, occurrence), text[start:end]

    # ------------------------------------------------------------------------------------------------ call
    def __call__(
        self,
        videos=None,
        text: str | list[str] | None = None,
        prompt: str | list[str] | None = None,
        keywords: list[list[str]] | None = None,
        data_source: str | list[str] | None = None,
        sample_seed: list[int] | None = None,
        return_labels: bool = False,
        max_length: int | None = None,
        return_tensors: str | None = "pt",
        **video_kwargs,
    ) -> BatchFeature:
        """Turn clips and prompts / targets into model inputs.

        Args:
            videos: a path, a uint8 `(T, H, W, 3)` array, a list of PIL frames, or a list of those (one per clip).
            text: with `return_labels=False` the prompt(s) (default: the description prompt); with
                `return_labels=True` the targets (descriptions or captions).
            prompt: the description task's prompt(s) when training (default `description_prompt`); at inference an
                alias of `text`.
            keywords: per sample, the keywords of its target (the keyword task; training only).
            data_source: per sample "primary" / "auxiliary" -> `data_source_ids`.
            sample_seed: per sample, the seed of the blanked keyword's choice.
            max_length: token budget of a target (EOS included); default `self.max_length`.
            return_tensors: "pt" (default) or None for lists.
            **video_kwargs: passed to the video processor (e.g. `num_frames=4`).
        """
        data = {}
        batch = None
        if videos is not None:
            data["pixel_values_videos"] = self.video_processor(videos, return_tensors=return_tensors, **video_kwargs)[
                "pixel_values_videos"
            ]
            batch = len(data["pixel_values_videos"])
        if text is not None and not isinstance(text, str):
            text = text_batch(text, "SvadVlmProcessor")
            batch = len(text) if batch is None else batch
        if return_labels:
            if text is None:
                raise ValueError("`return_labels=True` needs the targets as `text`")
            targets = _as_list(text, batch or 1, "text")
            batch = len(targets)
            prompts = [self._prompt_ids(p or self.description_prompt) for p in _as_list(prompt, batch, "prompt")]
            desc = self._supervised(prompts, self._target_ids(targets, max_length or self.max_length))
            data.update(input_ids=desc["ids"], attention_mask=desc["mask"], labels=desc["labels"])
            if keywords is not None:
                seeds = _as_list(sample_seed, batch, "sample_seed")
                tasks = [self._keyword_task(t, k, s) for t, k, s in zip(targets, _as_list(keywords, batch,
                                                                                         "keywords"), seeds)]  # fmt: skip
                k_prompts = [self._prompt_ids(task[0] if task else self.keyword_prompt.format(text=t))
                             for task, t in zip(tasks, targets)]  # fmt: skip
                k_targets = self._target_ids([task[1] if task else "" for task in tasks], self.max_length)
                k_targets = [ids if task else None for ids, task in zip(k_targets, tasks)]
                kw = self._supervised(k_prompts, k_targets)
                data.update(keyword_input_ids=kw["ids"], keyword_attention_mask=kw["mask"], keyword_labels=kw["labels"])
        else:
            given = text if text is not None else prompt
            prompts = _as_list(given, batch or (1 if given is None or isinstance(given, str) else len(given)), "text")
            ids, mask = pad_sequences([self._prompt_ids(p or self.description_prompt) for p in prompts], pad_token_id(self.tokenizer), "left")
            data.update(input_ids=ids, attention_mask=mask)
            batch = len(prompts)
        if data_source is not None:
            sources = _as_list(data_source, batch, "data_source")
            unknown = sorted({s for s in sources if s not in DATA_SOURCES})
            if unknown:
                raise ValueError(f"`data_source` must be one of {DATA_SOURCES}, got {unknown}")
            data["data_source_ids"] = [DATA_SOURCES.index(s) for s in sources]
        if return_tensors == "pt":
            for key, value in data.items():
                if key != "pixel_values_videos":
                    data[key] = torch.tensor(value, dtype=torch.long)
        return BatchFeature(data=data, tensor_type=return_tensors if videos is None else None)

    # ------------------------------------------------------------------------------------------------ decoding
    def batch_decode(self, sequences, skip_special_tokens: bool = True, **kwargs) -> list[str]:
        """Generated ids -> clean texts (text after the first EOS dropped, special tokens skipped, stripped)."""
        return clean_batch_decode(self.tokenizer, sequences, skip_special_tokens, **kwargs)

    def decode(self, token_ids, skip_special_tokens: bool = True, **kwargs) -> str:
        if isinstance(token_ids, torch.Tensor):
            token_ids = token_ids.tolist()
        return self.batch_decode([token_ids], skip_special_tokens=skip_special_tokens, **kwargs)[0]

    @property
    def model_input_names(self) -> list[str]:
        return ["pixel_values_videos", "input_ids", "attention_mask", "labels", "keyword_input_ids",
                "keyword_attention_mask", "keyword_labels", "data_source_ids"]  # fmt: skip


__all__ = ["SvadVlmProcessor", "find_keyword"]
