"""Dual-alignment video-text retriever configuration.

Paper: Che & Guo, "Cross-Modal Video Retrieval Model Based on Video-Text Dual Alignment" (TimeSformer video
encoder + DistilBERT text encoder; global InfoNCE on mean-pooled video tokens vs text [CLS], Eqs. 1, 3, 4;
fine-grained alignment of the noun-/verb-removed caption cross-attending to the video tokens, contrasted with the
text embedding of the removed words, Eqs. 2, 5, 6; L = L1 + L2 + L3, Eq. 7).

This file is part of the Hub code of the method: it imports only the standard library and transformers' public API.
"""

from __future__ import annotations

import math

from transformers import AutoConfig, PretrainedConfig

_MASK_MODES = ("remove", "mask")
_POOLINGS = ("cls", "mean")


# Copied from videotext.modeling.shared_blocks._check_positive_int
def _check_positive_int(config, name: str, allow_none: bool = False) -> None:
    """Raise a ValueError naming `name` unless `config.<name>` is an int >= 1 (or None with `allow_none`)."""
    value = getattr(config, name)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int, got {value!r}")


# Copied from videotext.modeling.shared_blocks._check_finite_float
def _check_finite_float(
    config, name: str, low: float | None = None, high: float | None = None, low_open=False, high_open=False
) -> None:
    """Raise a ValueError naming `name` unless `config.<name>` is a finite int / float within [low, high] (an
    `*_open` end excludes its bound, a None end is unbounded). nan and +-inf are always rejected."""
    value = getattr(config, name)
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        left = "(" if low is None or low_open else "["
        right = ")" if high is None or high_open else "]"
        bounds = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        raise ValueError(f"`{name}` must be a finite number in {bounds}, got {value!r}")


# Copied from videotext.modeling.shared_blocks._check_choice
def _check_choice(config, name: str, choices) -> None:
    """Raise a ValueError naming `name` unless `config.<name>` is one of `choices`."""
    value = getattr(config, name)
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}, got {value!r}")


# Copied from videotext.modeling.shared_blocks._check_bool
def _check_bool(config, name: str) -> None:
    """Raise a ValueError naming `name` unless `config.<name>` is a bool."""
    value = getattr(config, name)
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be a bool, got {value!r}")


# Copied from videotext.modeling.shared_blocks._to_sub_config
def _to_sub_config(value, default_model_type: str, field: str) -> PretrainedConfig:
    """Turn `None` / a dict / a config into a config instance of a built-in transformers model type."""
    if isinstance(value, PretrainedConfig):
        return value
    if value is None:
        return AutoConfig.for_model(default_model_type)
    if isinstance(value, dict):
        value = dict(value)
        model_type = value.pop("model_type", default_model_type)
        value.pop("transformers_version", None)
        try:
            return AutoConfig.for_model(model_type, **value)
        except ValueError as err:
            raise ValueError(f"`{field}`: unknown model_type {model_type!r} ({err})") from err
    raise ValueError(f"`{field}` must be a dict, a PretrainedConfig or None, got {type(value).__name__}")


class DualAlignConfig(PretrainedConfig):
    r"""
    Configuration of [`DualAlignModel`].

    Sub-configs:
        vision_config: the video encoder, a `TimesformerConfig` (model_type "timesformer"); its `num_frames` always
            equals `num_frames` below (TimeSformer's divided attention reshapes by `config.num_frames`).
        text_config: the text encoder, DistilBERT by default (model_type "distilbert"; any BERT-family encoder whose
            first output token is [CLS] works). This model has no decoder: `get_text_config()` (with any arguments)
            returns this encoder config, which is what `resize_token_embeddings` / weight init need.

    Args:
        projection_dim: size of the shared space of every linear projection (paper: 256; Eqs. 1, 4, 5, 6).
        temperature: tau of the InfoNCE losses (Eqs. 3-6). The paper leaves it unspecified; 0.05 as in Frozen / MCQ
            (the closest released designs); initial value when `learnable_temperature`.
        learnable_temperature: learn tau as a log-scale (CLIP-style, clamped to tau >= 0.01); the paper treats tau as
            a fixed hyper-parameter (Eq. 3), so False by default.
        fusion_num_layers: blocks of the multimodal (cross-attention + FFN) encoder of Eq. 2. The paper visualises
            "the third layer of the multimodal encoder", so it has >= 3 layers: default 3.
        fusion_num_heads: attention heads of the Eq. 2 cross-attention (8, the head count the paper states for its
            text Transformer).
        fusion_hidden_size: width of the multimodal encoder (Q, K, V of Eq. 2 are linear maps into it; 768 = the
            width of TimeSformer-base / DistilBERT).
        fusion_intermediate_size: FFN width of the multimodal encoder blocks (3072 = 4 x 768).
        fusion_dropout: dropout on the Eq. 2 attention probabilities and the block residuals (0.1).
        fusion_pooling: how the multimodal encoder output becomes one vector x_n / x_v of Eqs. 5-6: "cls" (the
            output at the query's [CLS] position, default) or "mean" (masked mean over the query tokens).
        target_pooling: how the text-encoder output of the removed words becomes y_n / y_v of Eqs. 5-6: "cls"
            (default, like the global text embedding of Eq. 4) or "mean" (masked mean over word tokens).
        use_global_loss: compute L1 (Eq. 4), the global video-text InfoNCE.
        use_noun_loss: compute L2 (Eq. 5), the noun-removed fine-grained InfoNCE.
        use_verb_loss: compute L3 (Eq. 6), the verb-removed fine-grained InfoNCE.
        global_loss_weight: weight of L1 in Eq. 7 (1.0).
        noun_loss_weight: weight of L2 in Eq. 7 (1.0).
        verb_loss_weight: weight of L3 in Eq. 7 (1.0).
        shared_targets_as_negatives: in Eqs. 5/6 also count as negatives the batch rows whose removed words are the
            very same text as the positive's (e.g. two captions that both lose "man"). False (default) leaves those
            columns out of the denominator: the same noun cannot be both the pair and a negative.
        num_frames: frames per clip fed to TimeSformer (M in Sec. III-B-1); `None` keeps `vision_config.num_frames`
            (8 for TimeSformer-base). Sets `vision_config.num_frames`.
        mask_mode: how the processor builds the Eq. 5/6 query caption: "remove" (the removed words are deleted, as
            the paper describes "the sentence with deleted verbs and nouns"; default) or "mask" (each removed word is
            replaced by the tokenizer's [MASK], as MCQ does). Stored here so the processor and model agree.
        initializer_range: std of the normal init of the projections and the multimodal encoder (0.02).
    """

    model_type = "dual_align"
    sub_configs = {"vision_config": AutoConfig, "text_config": AutoConfig}
    # `temperature` is also a generation parameter name: declaring it as a field tells `save_pretrained` that it is a
    # model setting (tau of Eqs. 3-6), not a misplaced sampling temperature.
    temperature: float = 0.05

    def __init__(
        self,
        vision_config: dict | PretrainedConfig | None = None,
        text_config: dict | PretrainedConfig | None = None,
        projection_dim: int = 256,
        temperature: float = 0.05,
        learnable_temperature: bool = False,
        fusion_num_layers: int = 3,
        fusion_num_heads: int = 8,
        fusion_hidden_size: int = 768,
        fusion_intermediate_size: int = 3072,
        fusion_dropout: float = 0.1,
        fusion_pooling: str = "cls",
        target_pooling: str = "cls",
        use_global_loss: bool = True,
        use_noun_loss: bool = True,
        use_verb_loss: bool = True,
        global_loss_weight: float = 1.0,
        noun_loss_weight: float = 1.0,
        verb_loss_weight: float = 1.0,
        shared_targets_as_negatives: bool = False,
        num_frames: int | None = None,
        mask_mode: str = "remove",
        initializer_range: float = 0.02,
        **kwargs,
    ):
        self.vision_config = _to_sub_config(vision_config, "timesformer", "vision_config")
        self.text_config = _to_sub_config(text_config, "distilbert", "text_config")
        if not hasattr(self.vision_config, "num_frames"):
            raise ValueError(
                f"`vision_config` must describe a video encoder with `num_frames` (TimeSformer), "
                f"got model_type {self.vision_config.model_type!r}"
            )
        if num_frames is None:
            num_frames = self.vision_config.num_frames
        self.projection_dim = projection_dim
        self.temperature = temperature
        self.learnable_temperature = learnable_temperature
        self.fusion_num_layers = fusion_num_layers
        self.fusion_num_heads = fusion_num_heads
        self.fusion_hidden_size = fusion_hidden_size
        self.fusion_intermediate_size = fusion_intermediate_size
        self.fusion_dropout = fusion_dropout
        self.fusion_pooling = fusion_pooling
        self.target_pooling = target_pooling
        self.use_global_loss = use_global_loss
        self.use_noun_loss = use_noun_loss
        self.use_verb_loss = use_verb_loss
        self.global_loss_weight = global_loss_weight
        self.noun_loss_weight = noun_loss_weight
        self.verb_loss_weight = verb_loss_weight
        self.shared_targets_as_negatives = shared_targets_as_negatives
        self.num_frames = num_frames
        self.mask_mode = mask_mode
        self.initializer_range = initializer_range
        self._validate()
        # TimeSformer's divided space-time attention reshapes with `config.num_frames`: keep the two in sync.
        self.vision_config.num_frames = self.num_frames
        super().__init__(**kwargs)

    def _validate(self) -> None:
        for name in (
            "projection_dim",
            "fusion_num_layers",
            "fusion_num_heads",
            "fusion_hidden_size",
            "fusion_intermediate_size",
            "num_frames",
        ):
            _check_positive_int(self, name)
        for name in ("global_loss_weight", "noun_loss_weight", "verb_loss_weight"):
            _check_finite_float(self, name, low=0.0)
        _check_finite_float(self, "temperature", low=0.0, high=1.0, low_open=True)
        _check_finite_float(self, "fusion_dropout", low=0.0, high=1.0, high_open=True)
        _check_finite_float(self, "initializer_range", low=0.0, low_open=True)
        for name in (
            "learnable_temperature",
            "use_global_loss",
            "use_noun_loss",
            "use_verb_loss",
            "shared_targets_as_negatives",
        ):
            _check_bool(self, name)
        for name, choices in (("fusion_pooling", _POOLINGS), ("target_pooling", _POOLINGS), ("mask_mode", _MASK_MODES)):
            _check_choice(self, name, choices)
        if self.fusion_hidden_size % self.fusion_num_heads != 0:
            raise ValueError(
                f"`fusion_num_heads` ({self.fusion_num_heads}) must divide `fusion_hidden_size` "
                f"({self.fusion_hidden_size})"
            )
        if not (self.use_global_loss or self.use_noun_loss or self.use_verb_loss):
            raise ValueError(
                "`use_global_loss`, `use_noun_loss`, `use_verb_loss`: at least one loss term (Eq. 7) must be on"
            )

    def get_text_config(self, decoder=None, encoder=None) -> PretrainedConfig:
        """The only text tower is the encoder in `text_config`: return it whatever end is asked for."""
        return self.text_config


__all__ = ["DualAlignConfig"]
