"""TransDCS configuration.

Paper: Liu, Cai & Zhang, "Improving Transformer with Dynamic Convolution and Shortcut for Video-Text Retrieval"
(TransDCS): an MMT-style multimodal transformer over expert features whose attention is Multi-head
Conv-Self-Attention (self-attention heads + span-based dynamic convolution heads, Eqs. 2-4) with augmented shortcuts
around the attention and the FFN (Eqs. 5-8); BERT text side with per-modality gated embedding units and
text-predicted modality weights; bidirectional max-margin ranking loss.

This file is part of the Hub code of the method: it imports only the standard library, transformers' public API and
its siblings.
"""

from __future__ import annotations

import math

from transformers import AutoConfig, PretrainedConfig

from .expert_extraction_transdcs import WEIGHT_FREE_EXPERTS, expert_dim

SHORTCUT_FORMS = ("identity", "linear", "activation", "sdc")
SHORTCUT_PLACEMENTS = ("pre", "post")
OUTPUT_ACTIVATIONS = ("mish", "tanh", "gelu", "relu", "none")
ACTIVATIONS = ("gelu", "relu", "mish", "tanh", "silu")


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


class TransDcsConfig(PretrainedConfig):
    r"""
    Configuration of [`TransDcsModel`].

    Sub-config:
        text_config: the text encoder, BERT by default (model_type "bert"; any BERT-family encoder whose first output
            token is [CLS]). This model has no decoder: `get_text_config()` returns this encoder config.

    Args:
        experts: names of the expert modalities, in the order of the processor's `expert_features` axis 1 (up to 7 in
            the paper: motion, RGB, scene, face, OCR, speech, audio). Default: the weight-free experts the processor
            computes from raw video (appearance, motion, scene, audio).
        expert_dims: feature width D_m of each expert (its reduction layer maps D_m -> `hidden_size`).
        ignored_experts: experts treated as missing for every video (the "one expert removed" ablation; the input
            layout stays the same).
        hidden_size: width of the video transformer (MMT: 512).
        num_hidden_layers: TransDCS layers (Sec. 5.1: 6, against MMT's 4).
        num_attention_heads: heads of MCSA, self-attention and convolution heads together (Sec. 4 / 5.1: 8).
        intermediate_size: FFN width (MMT's video BERT: 3072).
        text_dropout: when set, the text encoder's hidden and attention dropout (Sec. 5.1: 0.2 for BERT, against 0.1);
            None keeps `text_config`'s own.
        hidden_act: FFN activation ("gelu" as BERT).
        hidden_dropout_prob: dropout on embeddings and block outputs (Sec. 5.1: 0.2, against 0.1 in MMT).
        attention_probs_dropout_prob: dropout on attention probabilities and convolution kernels (0.2).
        layer_norm_eps: LayerNorm epsilon (BERT: 1e-12).
        max_temporal_positions: temporal embeddings; the aggregated token is position 0, feature t is t + 1, clamped
            to the last one (MMT: 32).
        use_mcsa: Multi-head Conv-Self-Attention (Eq. 4). False = plain multi-head self-attention (the MMT baseline
            of Table 2 / Table 5).
        conv_head_ratio: share of MCSA heads that stay self-attention heads: `num_attention_heads / conv_head_ratio`
            SA heads, the rest span-based dynamic convolution heads (Sec. 4: 4 + 4 of 8, ConvBERT's ratio 2).
        conv_kernel_size: kernel size of the depthwise-separable key convolution and of the dynamic convolution
            (Sec. 4: "the same kernel size"; ConvBERT's 9).
        conv_within_modality: the convolution windows only span tokens of the same modality (the sequence
            concatenates modalities; a window that crossed a boundary would mix unrelated neighbours). Padding and
            missing-modality positions are always excluded from the windows.
        use_residual: the original identity shortcut of each sub-layer (Eq. 5); False is Table 7's "w/o shortcut".
        num_augmented_shortcuts: N of Eqs. 6 and 8, augmented shortcuts per sub-layer (MCSA and FFN). The paper's best
            "2" of Table 7 is one around MCSA plus one around the FFN: default 1.
        shortcut_form: F of Eq. 7: "identity" (Z, the paper's choice, Table 8), "linear" (sigma(W Z), Eq. 7),
            "activation" (Act(Z)) or "sdc" (a span-based dynamic convolution of Z).
        shortcut_activation: sigma of the "linear" / "activation" forms ("gelu", Eq. 7's example).
        shortcut_placement: where the augmented shortcuts join a post-LN sub-layer: "post" (after its residual
            LayerNorm, LN(Z + MCSA(Z)) + sum F_i(Z); the paper's best, Table 9) or "pre" (inside it,
            LN(Z + MCSA(Z) + sum F_i(Z))).
        output_activation: non-linearity of the per-modality video output layer (Sec. 5.1: Mish; Table 5: Tanh).
        projection_dim: width of the joint embedding space of each modality.
        text_gating_batchnorm: BatchNorm inside the gated embedding units' context gating (MMT's `gbn`).
        margin: margin of the bidirectional max-margin ranking loss (MMT: 0.05).
        num_frames: frames the processor samples per clip for the frame experts.
        initializer_range: std of the normal init of the new layers (0.02).
    """

    model_type = "transdcs"
    sub_configs = {"text_config": AutoConfig}

    def __init__(
        self,
        text_config: dict | PretrainedConfig | None = None,
        experts: list[str] | None = None,
        expert_dims: list[int] | None = None,
        ignored_experts: list[str] | None = None,
        hidden_size: int = 512,
        num_hidden_layers: int = 6,
        num_attention_heads: int = 8,
        intermediate_size: int = 3072,
        text_dropout: float | None = None,
        hidden_act: str = "gelu",
        hidden_dropout_prob: float = 0.2,
        attention_probs_dropout_prob: float = 0.2,
        layer_norm_eps: float = 1e-12,
        max_temporal_positions: int = 32,
        use_mcsa: bool = True,
        conv_head_ratio: int = 2,
        conv_kernel_size: int = 9,
        conv_within_modality: bool = True,
        use_residual: bool = True,
        num_augmented_shortcuts: int = 1,
        shortcut_form: str = "identity",
        shortcut_activation: str = "gelu",
        shortcut_placement: str = "post",
        output_activation: str = "mish",
        projection_dim: int = 512,
        text_gating_batchnorm: bool = True,
        margin: float = 0.05,
        num_frames: int = 16,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        self.text_config = _to_sub_config(text_config, "bert", "text_config")
        self.text_dropout = text_dropout
        if text_dropout is not None:
            _check_finite_float(self, "text_dropout", low=0.0, high=1.0, high_open=True)
            for name in ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout"):
                if hasattr(self.text_config, name):
                    setattr(self.text_config, name, float(text_dropout))
        if experts is None:
            experts = [spec["name"] for spec in WEIGHT_FREE_EXPERTS]
            if expert_dims is None:
                expert_dims = [expert_dim(spec) for spec in WEIGHT_FREE_EXPERTS]
        self.experts = list(experts) if isinstance(experts, (list, tuple)) else experts
        self.expert_dims = list(expert_dims) if isinstance(expert_dims, (list, tuple)) else expert_dims
        self.ignored_experts = list(ignored_experts or [])
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.hidden_act = hidden_act
        self.hidden_dropout_prob = hidden_dropout_prob
        self.attention_probs_dropout_prob = attention_probs_dropout_prob
        self.layer_norm_eps = layer_norm_eps
        self.max_temporal_positions = max_temporal_positions
        self.use_mcsa = use_mcsa
        self.conv_head_ratio = conv_head_ratio
        self.conv_kernel_size = conv_kernel_size
        self.conv_within_modality = conv_within_modality
        self.use_residual = use_residual
        self.num_augmented_shortcuts = num_augmented_shortcuts
        self.shortcut_form = shortcut_form
        self.shortcut_activation = shortcut_activation
        self.shortcut_placement = shortcut_placement
        self.output_activation = output_activation
        self.projection_dim = projection_dim
        self.text_gating_batchnorm = text_gating_batchnorm
        self.margin = margin
        self.num_frames = num_frames
        self.initializer_range = initializer_range
        self._validate()
        super().__init__(**kwargs)

    def _validate(self) -> None:
        if not isinstance(self.experts, list) or not self.experts or not all(isinstance(e, str) for e in self.experts):
            raise ValueError(f"`experts` must be a non-empty list of expert names, got {self.experts!r}")
        if len(set(self.experts)) != len(self.experts):
            raise ValueError(f"`experts` has duplicate names: {self.experts}")
        dims = self.expert_dims
        if not isinstance(dims, list) or len(dims) != len(self.experts):
            raise ValueError(f"`expert_dims` must list one width per expert ({len(self.experts)}), got {dims!r}")
        if any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
            raise ValueError(f"`expert_dims` must be positive ints, got {dims!r}")
        unknown = [e for e in self.ignored_experts if e not in self.experts]
        if unknown or len(self.ignored_experts) >= len(self.experts):
            raise ValueError(f"`ignored_experts` must name some (not all) of {self.experts}, got {self.ignored_experts}")
        for name in ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
                     "max_temporal_positions", "conv_head_ratio", "conv_kernel_size",
                     "projection_dim", "num_frames"):  # fmt: skip
            _check_positive_int(self, name)
        if isinstance(self.num_augmented_shortcuts, bool) or not isinstance(self.num_augmented_shortcuts, int) or (
            self.num_augmented_shortcuts < 0
        ):
            raise ValueError(f"`num_augmented_shortcuts` must be an int >= 0, got {self.num_augmented_shortcuts!r}")
        for name in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            _check_finite_float(self, name, low=0.0, high=1.0, high_open=True)
        _check_finite_float(self, "layer_norm_eps", low=0.0, low_open=True)
        _check_finite_float(self, "margin", low=0.0)
        _check_finite_float(self, "initializer_range", low=0.0, low_open=True)
        for name in ("use_mcsa", "conv_within_modality", "use_residual", "text_gating_batchnorm"):
            _check_bool(self, name)
        for name, choices in (("shortcut_form", SHORTCUT_FORMS), ("shortcut_placement", SHORTCUT_PLACEMENTS),
                              ("output_activation", OUTPUT_ACTIVATIONS), ("shortcut_activation", ACTIVATIONS),
                              ("hidden_act", ACTIVATIONS)):  # fmt: skip
            _check_choice(self, name, choices)
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"`num_attention_heads` ({self.num_attention_heads}) must divide `hidden_size` "
                             f"({self.hidden_size})")  # fmt: skip
        if self.use_mcsa and (self.num_attention_heads % self.conv_head_ratio or self.conv_head_ratio < 2):
            raise ValueError(f"`conv_head_ratio` ({self.conv_head_ratio}) must be >= 2 and divide "
                             f"`num_attention_heads` ({self.num_attention_heads}) when `use_mcsa`")  # fmt: skip
        if self.conv_kernel_size % 2 == 0:
            raise ValueError(f"`conv_kernel_size` must be odd (a window centred on each token), got "
                             f"{self.conv_kernel_size}")  # fmt: skip

    @property
    def num_modalities(self) -> int:
        return len(self.experts)

    def get_text_config(self, decoder=None, encoder=None) -> PretrainedConfig:
        """The only text tower is the encoder in `text_config`: return it whatever end is asked for."""
        return self.text_config


__all__ = ["TransDcsConfig"]
