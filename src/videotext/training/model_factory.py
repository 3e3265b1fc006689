"""Build a method's model, processor and tokenizers from a recipe.

Two ways, chosen by `model.pretrained`:

- tiny / from scratch (`pretrained: false`): the recipe's `vision_config` / `text_config` /
  `text_encoder_config` dicts (transformers sub-configs with a `model_type`) and `config` kwargs go into the
  method's config; vocab sizes and special-token ids come from the tokenizer;
- paper scale (`pretrained: true`): `<Model>.from_pretrained_backbones(vision=..., text=..., text_encoder=...,
  **config)` with the recipe's `backbones` (Hub ids or local folders).

Tokenizers are either trained on the training captions (`tokenizer.train: true`, with
`videotext.training.tokenizer.train_caption_tokenizers`: one WordPiece vocabulary for the decoder and the
BERT-style encoder) or loaded with `AutoTokenizer.from_pretrained` (`tokenizer.name`, default: the backbones'
ids). A GPT-2 tokenizer has no pad token: its EOS is used. The decoder's generation config gets bos/eos/pad from
the tokenizer.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

__all__ = ["MethodSpec", "build_model_and_processor", "build_processor", "build_tokenizers", "method_spec"]


class MethodSpec:
    """Where a method's classes live and which Auto class its model registers with (from the method table)."""

    def __init__(self, method: str):
        from videotext.modeling import method_for_config

        entry = method_for_config(method)
        self.method = method
        self.entry = entry
        self.config_cls = entry.config_cls
        self.auto_class = entry.auto_class
        self.model_cls = entry.model_cls
        self.processor_cls = entry.processor_cls
        self.video_processor_cls = entry.video_processor_cls
        self.is_captioner = entry.task == "captioning"


def method_spec(method: str) -> MethodSpec:
    return MethodSpec(method)


def _set_pad(tokenizer) -> None:
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        else:
            tokenizer.add_special_tokens({"pad_token": "[PAD]"})


def build_tokenizers(recipe: dict, train_captions: list[str] | None = None):
    """(decoder tokenizer | None, encoder tokenizer | None) for the recipe's method."""
    tok_cfg = recipe["tokenizer"]
    backbones = recipe["model"].get("backbones") or {}
    method = recipe["method"]
    if tok_cfg["train"]:
        if not train_captions:
            raise ValueError("tokenizer.train is true but there are no training captions to train it on")
        from .tokenizer import train_caption_tokenizers

        decoder_tok, encoder_tok = train_caption_tokenizers(train_captions, vocab_size=tok_cfg["vocab_size"])
    else:
        from transformers import AutoTokenizer

        if method == "mffcl":
            dec_name = tok_cfg.get("name") or backbones.get("text")
            enc_name = tok_cfg.get("text_encoder_name") or backbones.get("text_encoder")
        else:
            dec_name = None
            enc_name = tok_cfg.get("text_encoder_name") or tok_cfg.get("name") or backbones.get("text")
        decoder_tok = AutoTokenizer.from_pretrained(dec_name) if dec_name else None
        encoder_tok = AutoTokenizer.from_pretrained(enc_name) if enc_name else None
        if decoder_tok is not None:
            _set_pad(decoder_tok)
    if method == "dual_align":
        return None, encoder_tok
    return decoder_tok, encoder_tok


def _token_ids(tokenizer) -> dict[str, int]:
    ids = {}
    for name in ("bos", "eos", "pad"):
        value = getattr(tokenizer, f"{name}_token_id", None)
        if value is not None:
            ids[f"{name}_token_id"] = int(value)
    return ids


def _vision_size(config) -> int | None:
    vision = getattr(config, "vision_config", None)
    return getattr(vision, "image_size", None)


def build_processor(spec: MethodSpec, recipe: dict, decoder_tok, encoder_tok, image_size: int | None):
    """Instantiate `<Method>Processor(video_processor=<Method>VideoProcessor(...), tokenizer(s))`."""
    vp_kwargs = copy.deepcopy(recipe.get("processor") or {})
    vp_kwargs.setdefault("num_frames", recipe["data"]["num_frames"])
    if image_size and "size" not in vp_kwargs:
        # match the encoder's input size: shortest edge + centre crop, or a direct resize
        if "shortest_edge" in (getattr(spec.video_processor_cls, "size", None) or {}):
            vp_kwargs["size"] = {"shortest_edge": int(image_size)}
            vp_kwargs.setdefault("crop_size", {"height": int(image_size), "width": int(image_size)})
        else:
            vp_kwargs["size"] = {"height": int(image_size), "width": int(image_size)}
    vp_sig = inspect.signature(spec.video_processor_cls.__init__).parameters
    if "num_frames" not in vp_sig and not any(p.kind == p.VAR_KEYWORD for p in vp_sig.values()):
        vp_kwargs.pop("num_frames")
    video_processor = spec.video_processor_cls(**vp_kwargs)

    params = [p for p in inspect.signature(spec.processor_cls.__init__).parameters if p != "self"]
    kwargs: dict[str, Any] = {}
    for name in params:
        if name == "video_processor":
            kwargs[name] = video_processor
        elif "tokenizer" in name and ("encoder" in name or "bert" in name):
            kwargs[name] = encoder_tok
        elif name == "tokenizer":
            kwargs[name] = decoder_tok if spec.is_captioner else encoder_tok
    return spec.processor_cls(**kwargs)


def _sub(cfg: dict, **extra) -> dict:
    out = copy.deepcopy(cfg or {})
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def build_model_and_processor(recipe: dict, train_captions: list[str] | None = None, processor=None):
    """(model, processor) for a recipe. `processor` (e.g. reloaded on resume) skips the tokenizer step."""
    spec = method_spec(recipe["method"])
    m = recipe["model"]
    num_frames = recipe["data"]["num_frames"]
    config_kwargs = copy.deepcopy(m.get("config") or {})
    config_kwargs.setdefault("num_frames", num_frames)

    if m.get("init_from"):
        model = spec.model_cls.from_pretrained(m["init_from"])
        if processor is None:
            processor = spec.processor_cls.from_pretrained(m["init_from"])
        return model, processor

    if processor is not None:
        decoder_tok = getattr(processor, "tokenizer", None) if spec.is_captioner else None
        encoder_tok = _find_encoder_tokenizer(processor, spec)
    else:
        decoder_tok, encoder_tok = build_tokenizers(recipe, train_captions)

    if m["pretrained"]:
        backbones = dict(m["backbones"])
        if not spec.is_captioner:
            backbones.pop("text_encoder", None)
        model = spec.model_cls.from_pretrained_backbones(**backbones, **config_kwargs)
        # a Hub tokenizer may have grown (pad token added): keep the embeddings in step
        if decoder_tok is not None and hasattr(model, "language_model"):
            if len(decoder_tok) > model.language_model.get_input_embeddings().num_embeddings:
                model.language_model.resize_token_embeddings(len(decoder_tok))
    else:
        if spec.is_captioner:
            config = spec.config_cls(
                vision_config=_sub(m["vision_config"]),
                text_config=_sub(m["text_config"], vocab_size=len(decoder_tok), **_token_ids(decoder_tok)),
                text_encoder_config=_sub(
                    m["text_encoder_config"], vocab_size=len(encoder_tok), pad_token_id=encoder_tok.pad_token_id
                ),
                **config_kwargs,
            )
        else:
            config = spec.config_cls(
                vision_config=_sub(m["vision_config"]),
                text_config=_sub(m["text_config"], vocab_size=len(encoder_tok), pad_token_id=encoder_tok.pad_token_id),
                **config_kwargs,
            )
        model = spec.model_cls(config)

    if spec.is_captioner and decoder_tok is not None:
        ids = _token_ids(decoder_tok)
        gen = model.generation_config
        for key, value in ids.items():
            setattr(gen, key, value)
            setattr(model.config.text_config, key, value)
            if hasattr(model, "language_model"):
                setattr(model.language_model.config, key, value)
                lm_gen = getattr(model.language_model, "generation_config", None)
                if lm_gen is not None:
                    setattr(lm_gen, key, value)

    if processor is None:
        processor = build_processor(spec, recipe, decoder_tok, encoder_tok, _vision_size(model.config))
    return model, processor


def _find_encoder_tokenizer(processor, spec: MethodSpec):
    for name in dir(processor):
        if "tokenizer" in name and ("encoder" in name or "bert" in name):
            tok = getattr(processor, name, None)
            if tok is not None and hasattr(tok, "pad_token_id"):
                return tok
    return None if spec.is_captioner else getattr(processor, "tokenizer", None)
