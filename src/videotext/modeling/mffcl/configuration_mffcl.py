"""MFFCL configuration.

MFFCL: "Multimodal Feature Fusion Video Description Model Integrating Attention Mechanism and Contrastive
Learning" (TimeSformer video encoder, FFN + learnable-query Transformer mapper, GPT-2 prefix decoder, video-text
contrastive loss against a BERT text encoder).

This file is part of the Hub code of the method: it imports only the standard library and transformers' public API.
"""

from __future__ import annotations

import math

from transformers import AutoConfig, PretrainedConfig

_MAPPING_TYPES = ("transformer", "ffn")
_TRAIN_STAGES = ("contrastive", "caption", "both")


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


class MffclConfig(PretrainedConfig):
    r"""
    Configuration of [`MffclForConditionalGeneration`].

    Pipeline: TimeSformer CLS -> FFN -> `num_video_tokens` tokens (Eq. 1) ⊕ `num_query_tokens` learnable queries ->
    Transformer-encoder mapper -> query outputs = prefix of the causal LM (GPT-2), trained with the caption loss
    (Eq. 2); a video-text contrastive loss aligns the TimeSformer CLS with the BERT CLS (Eq. 3).

    Sub-configs:
        vision_config: the video encoder, a `TimesformerConfig` (model_type "timesformer"); its `num_frames` always
            equals `num_frames` below (TimeSformer's divided attention reshapes by `config.num_frames`).
        text_config: the causal-LM decoder (GPT-2 by default, any transformers causal LM works). Named `text_config`
            so that `get_text_config(decoder=True)` and `generate` find it.
        text_encoder_config: the BERT-family text encoder of the contrastive loss ("bert" by default). The name is
            not one that `get_text_config()` searches, so it never shadows the decoder.

    Args:
        num_frames: frames per clip fed to TimeSformer; `None` keeps `vision_config.num_frames` (8 for
            TimeSformer-base K400). Sets `vision_config.num_frames` (its time embeddings follow it).
        num_video_tokens: L, the number of tokens the FFN maps the TimeSformer CLS to (Eq. 1; ClipCap default 10).
        num_query_tokens: r, the learnable query vectors = prefix length in the "transformer" mapping (Eq. 2 prefix;
            paper ablation 10 / 30 / 50, default 10).
        mapping_type: "transformer" (paper: [p_1..p_L ; q_1..q_r] through a Transformer encoder, keep the r query
            outputs) or "ffn" (ablation, Table V: no queries and no encoder; the L video tokens of Eq. 1 go through a
            token-wise FFN with GELU and the L outputs are the prefix, so the prefix length is then
            `num_video_tokens`).
        mapper_hidden_size: width of the mapper (Eq. 1 token size H); `None` = the decoder hidden size (the paper
            uses 768 for both). A linear projection to the decoder width is added when they differ.
        mapper_num_layers: Transformer-encoder layers of the mapper (ClipCap-style mapper: 8).
        mapper_num_heads: attention heads of the mapper (8).
        mapper_mlp_ratio: feed-forward width of the mapper layers (and of the "ffn" mapping) / mapper width (2.0).
        mapper_dropout: dropout inside the mapper (0.0).
        use_contrastive: build the BERT text encoder and allow the contrastive loss of Eq. 3 (ablation Table IV).
        contrastive_temperature: tau of Eq. 3 (0.07); initial value when `learnable_temperature`.
        learnable_temperature: learn tau (ALPRO-style: init `contrastive_temperature`, clamped to [0.001, 0.5]).
        contrastive_dim: size of the space where Eq. 3 compares CLS vectors. `None` = compare the raw CLS vectors
            (paper: 768 on both sides; needs equal hidden sizes). An int adds a linear projection on each side.
        normalize_contrastive_embeds: L2-normalise both embeddings before Eq. 3 (cosine similarity, as in ALPRO/CLIP;
            the paper writes a plain dot product, set False for it).
        contrastive_loss_weight: weight of the Eq. 3 loss when `train_stage="both"` (1.0).
        train_stage: which losses `forward` computes: "contrastive" (Eq. 3 only; the decoder is not run),
            "caption" (Eq. 2 only) or "both" (Eq. 2 + weight * Eq. 3). The paper trains "contrastive" then "caption".
        initializer_range: std of the normal init of the mapper / projections / queries (0.02).
    """

    model_type = "mffcl"
    sub_configs = {"vision_config": AutoConfig, "text_config": AutoConfig, "text_encoder_config": AutoConfig}

    def __init__(
        self,
        vision_config: dict | PretrainedConfig | None = None,
        text_config: dict | PretrainedConfig | None = None,
        text_encoder_config: dict | PretrainedConfig | None = None,
        num_frames: int | None = None,
        num_video_tokens: int = 10,
        num_query_tokens: int = 10,
        mapping_type: str = "transformer",
        mapper_hidden_size: int | None = None,
        mapper_num_layers: int = 8,
        mapper_num_heads: int = 8,
        mapper_mlp_ratio: float = 2.0,
        mapper_dropout: float = 0.0,
        use_contrastive: bool = True,
        contrastive_temperature: float = 0.07,
        learnable_temperature: bool = False,
        contrastive_dim: int | None = None,
        normalize_contrastive_embeds: bool = True,
        contrastive_loss_weight: float = 1.0,
        train_stage: str = "caption",
        initializer_range: float = 0.02,
        **kwargs,
    ):
        self.vision_config = _to_sub_config(vision_config, "timesformer", "vision_config")
        self.text_config = _to_sub_config(text_config, "gpt2", "text_config")
        self.text_encoder_config = _to_sub_config(text_encoder_config, "bert", "text_encoder_config")
        if not hasattr(self.vision_config, "num_frames"):
            raise ValueError(
                f"`vision_config` must describe a video encoder with `num_frames` (TimeSformer), "
                f"got model_type {self.vision_config.model_type!r}"
            )
        if num_frames is None:
            num_frames = self.vision_config.num_frames
        self.num_frames = num_frames
        self.num_video_tokens = num_video_tokens
        self.num_query_tokens = num_query_tokens
        self.mapping_type = mapping_type
        self.mapper_hidden_size = mapper_hidden_size
        self.mapper_num_layers = mapper_num_layers
        self.mapper_num_heads = mapper_num_heads
        self.mapper_mlp_ratio = mapper_mlp_ratio
        self.mapper_dropout = mapper_dropout
        self.use_contrastive = use_contrastive
        self.contrastive_temperature = contrastive_temperature
        self.learnable_temperature = learnable_temperature
        self.contrastive_dim = contrastive_dim
        self.normalize_contrastive_embeds = normalize_contrastive_embeds
        self.contrastive_loss_weight = contrastive_loss_weight
        self.train_stage = train_stage
        self.initializer_range = initializer_range
        self._validate()
        # TimeSformer's divided space-time attention reshapes with `config.num_frames`: keep the two in sync.
        self.vision_config.num_frames = self.num_frames
        super().__init__(**kwargs)

    def _validate(self) -> None:
        for name in ("num_frames", "num_video_tokens", "num_query_tokens", "mapper_num_layers", "mapper_num_heads"):
            _check_positive_int(self, name)
        for name in ("mapper_hidden_size", "contrastive_dim"):
            _check_positive_int(self, name, allow_none=True)
        _check_choice(self, "mapping_type", _MAPPING_TYPES)
        _check_choice(self, "train_stage", _TRAIN_STAGES)
        for name in ("mapper_mlp_ratio", "contrastive_temperature", "initializer_range"):
            _check_finite_float(self, name, low=0.0, low_open=True)
        _check_finite_float(self, "mapper_dropout", low=0.0, high=1.0, high_open=True)
        _check_finite_float(self, "contrastive_loss_weight", low=0.0)
        for name in ("use_contrastive", "learnable_temperature", "normalize_contrastive_embeds"):
            _check_bool(self, name)
        if self.train_stage in ("contrastive", "both") and not self.use_contrastive:
            raise ValueError(f"`train_stage={self.train_stage!r}` needs `use_contrastive=True` (Eq. 3 loss)")
        mapper_width = self.mapper_hidden_size or self.text_config.hidden_size
        if self.mapping_type == "transformer" and mapper_width % self.mapper_num_heads != 0:
            raise ValueError(
                f"`mapper_num_heads` ({self.mapper_num_heads}) must divide the mapper width ({mapper_width}; "
                "`mapper_hidden_size` or the decoder hidden size)"
            )
        if (
            self.use_contrastive
            and self.contrastive_dim is None
            and self.vision_config.hidden_size != self.text_encoder_config.hidden_size
        ):
            raise ValueError(
                f"`contrastive_dim` is None (compare raw CLS vectors) but the video hidden size "
                f"({self.vision_config.hidden_size}) differs from the text-encoder hidden size "
                f"({self.text_encoder_config.hidden_size}); set `contrastive_dim` to add projections"
            )

    @property
    def prefix_length(self) -> int:
        """Number of prefix vectors given to the decoder: r (transformer mapping) or L (ffn mapping)."""
        return self.num_query_tokens if self.mapping_type == "transformer" else self.num_video_tokens


__all__ = ["MffclConfig"]
