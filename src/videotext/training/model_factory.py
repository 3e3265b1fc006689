"""Build a method's model, processor and tokenizers from a recipe, reading the method tables.

Two ways, chosen by `model.pretrained`:

- tiny / from scratch (`pretrained: false`): the recipe's sub-config dicts (`vision_config`, `text_config`, ...:
  transformers sub-configs with a `model_type`) and `config` kwargs go into the method's config; each tokenizer slot
  sets its sub-config's vocab size and special-token ids (decoder: bos/eos/pad, encoder: pad);
- paper scale (`pretrained: true`): `<Model>.from_pretrained_backbones(**backbones, **config)` with the recipe's
  `backbones` (Hub ids or local folders).

Tokenizers are either trained on the training captions (`tokenizer.train: true`,
`videotext.training.tokenizer.train_caption_tokenizers`: one WordPiece vocabulary for the decoder and the
BERT-style encoder) or loaded with `AutoTokenizer.from_pretrained` (`tokenizer.<slot's recipe_field>`, default: the
slot's backbone id). A decoder tokenizer without a pad token pads with its EOS. The generation config gets bos/eos/pad
from the decoder tokenizer.
"""

from __future__ import annotations

import copy
import re
from typing import Any

__all__ = ["build_model_and_processor", "build_processor", "build_tokenizers"]


def _set_pad(tokenizer) -> None:
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is not None:
            tokenizer.pad_token = tokenizer.eos_token
        else:
            tokenizer.add_special_tokens({"pad_token": "[PAD]"})


def build_tokenizers(recipe: dict, train_captions: list[str] | None = None) -> dict[str, Any]:
    """The method's tokenizers, by processor argument name (its table's tokenizer slots)."""
    from .methods import training_method

    method = training_method(recipe["method"])
    slots = method.tokenizers
    tok_cfg = recipe["tokenizer"]
    if tok_cfg["train"]:
        if not train_captions:
            raise ValueError("tokenizer.train is true but there are no training captions to train it on")
        from .tokenizer import train_caption_tokenizers

        # a prompt template's `{field}` placeholders are filled per sample: not words of the prompt
        prompts = [re.sub(r"\{[^{}]*\}", " ", str(recipe["processor"].get(arg, text)))
                   for arg, text in method.prompts.items()]  # fmt: skip
        decoder_tok, encoder_tok = train_caption_tokenizers(
            train_captions, vocab_size=tok_cfg["vocab_size"], required_texts=prompts
        )
        trained = {"decoder": decoder_tok, "encoder": encoder_tok}
        return {arg: trained[slot.kind] for arg, slot in slots.items()}

    from transformers import AutoTokenizer

    backbones = recipe["model"].get("backbones") or {}
    out = {}
    for arg, slot in slots.items():
        source = tok_cfg.get(slot.recipe_field) or backbones.get(slot.backbone)
        if not source:
            raise ValueError(
                f"tokenizer for `{arg}`: set tokenizer.{slot.recipe_field} or model.backbones.{slot.backbone}"
            )
        out[arg] = AutoTokenizer.from_pretrained(source)
        if slot.kind == "decoder":
            _set_pad(out[arg])
    return out


def _special_ids(tokenizer, kind: str) -> dict[str, int]:
    names = ("bos", "eos", "pad") if kind == "decoder" else ("pad",)
    ids = {}
    for name in names:
        value = getattr(tokenizer, f"{name}_token_id", None)
        if value is not None:
            ids[f"{name}_token_id"] = int(value)
    return ids


def _vision_size(config) -> int | None:
    vision = getattr(config, "vision_config", None)
    return getattr(vision, "image_size", None)


def build_processor(recipe: dict, tokenizers: dict[str, Any], image_size: int | None):
    """`<Method>Processor(video_processor=<Method>VideoProcessor(...), **tokenizers)`."""
    from videotext.modeling import METHODS

    entry = METHODS[recipe["method"]]
    vp_kwargs = copy.deepcopy(recipe.get("processor") or {})
    vp_kwargs.setdefault("num_frames", recipe["data"]["num_frames"])
    if image_size and "size" not in vp_kwargs:
        # match the encoder's input size: shortest edge + centre crop, or a direct resize
        if "shortest_edge" in (getattr(entry.video_processor_cls, "size", None) or {}):
            vp_kwargs["size"] = {"shortest_edge": int(image_size)}
            vp_kwargs.setdefault("crop_size", {"height": int(image_size), "width": int(image_size)})
        else:
            vp_kwargs["size"] = {"height": int(image_size), "width": int(image_size)}
    return entry.processor_cls(video_processor=entry.video_processor_cls(**vp_kwargs), **tokenizers)


def _sub(cfg: dict, **extra) -> dict:
    out = copy.deepcopy(cfg or {})
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def _set_generation_ids(model, ids: dict[str, int]) -> None:
    """bos/eos/pad of the decoder tokenizer into the generation configs (the model's and its LLM's)."""
    targets = [model.generation_config, model.config.get_text_config(decoder=True)]
    lm = getattr(model, "language_model", None)
    if lm is not None:
        targets += [lm.config, getattr(lm, "generation_config", None)]
    for target in targets:
        for key, value in ids.items():
            if target is not None:
                setattr(target, key, value)


def build_model_and_processor(recipe: dict, train_captions: list[str] | None = None, processor=None):
    """(model, processor) for a recipe. `processor` (e.g. reloaded on resume) skips the tokenizer step."""
    from videotext.modeling import METHODS

    from .methods import training_method

    entry, method = METHODS[recipe["method"]], training_method(recipe["method"])
    m = recipe["model"]
    config_kwargs = copy.deepcopy(m.get("config") or {})
    config_kwargs.setdefault("num_frames", recipe["data"]["num_frames"])

    if m.get("init_from"):
        model = entry.model_cls.from_pretrained(m["init_from"])
        if processor is None:
            processor = entry.processor_cls.from_pretrained(m["init_from"])
        _check_processor_fits(model, processor)
        return model, processor

    if processor is not None:
        tokenizers = {arg: getattr(processor, arg) for arg in method.tokenizers}
    else:
        tokenizers = build_tokenizers(recipe, train_captions)

    if m["pretrained"]:
        model = entry.model_cls.from_pretrained_backbones(**m["backbones"], **config_kwargs)
        # a Hub tokenizer may have grown (pad token added): keep the embeddings in step
        decoder_arg = method.slot_of_kind("decoder")
        lm = getattr(model, method.lora_prefix or "language_model", None)
        if decoder_arg and lm is not None and len(tokenizers[decoder_arg]) > lm.get_input_embeddings().num_embeddings:
            lm.resize_token_embeddings(len(tokenizers[decoder_arg]))
    else:
        sub_configs = {key: _sub(value) for key, value in m.items() if key.endswith("_config") and value}
        for arg, slot in method.tokenizers.items():
            tok = tokenizers[arg]
            sub_configs[slot.sub_config] = _sub(
                sub_configs.get(slot.sub_config), vocab_size=len(tok), **_special_ids(tok, slot.kind)
            )
        model = entry.model_cls(entry.config_cls(**sub_configs, **config_kwargs))

    decoder_arg = method.slot_of_kind("decoder")
    if decoder_arg is not None:
        _set_generation_ids(model, _special_ids(tokenizers[decoder_arg], "decoder"))

    if processor is None:
        processor = build_processor(recipe, tokenizers, _vision_size(model.config))
    _check_processor_fits(model, processor)
    return model, processor


def _check_processor_fits(model, processor) -> None:
    check = getattr(getattr(processor, "video_processor", None), "check_model_config", None)
    if callable(check):  # e.g. TransDCS: the extractors' feature widths must be the model's expert input widths
        check(model.config)
