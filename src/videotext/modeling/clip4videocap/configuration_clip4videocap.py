"""CLIP4VideoCap configuration.

CLIP4VideoCap: "Rethinking CLIP for Video Captioning with Multiscale Temporal Fusion and Commonsense Knowledge"
(Mahmud, Liang, Qing, Marculescu). CLIP image encoder per frame, multi-scale temporal fusion, a Vis2Text module
distilled to the CLIP text encoder, intention / effect / attribute sub-decoders and an LLM caption decoder.

This file is part of the Hub code of the method: it imports only the standard library and transformers' public API.
"""

from __future__ import annotations

import math

from transformers import AutoConfig, PretrainedConfig

FUSION_TYPES = ("lstm", "transformer", "conv1d")
TRAIN_STAGES = ("clip", "caption")
ASPECTS = ("intention", "effect", "attribute")
# the sub-decoder default when `commonsense_config` is None: a 2-layer GPT-2 (the paper gives no size)
_DEFAULT_COMMONSENSE = {"model_type": "gpt2", "n_layer": 2, "n_embd": 512, "n_head": 8}


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


class Clip4VideoCapConfig(PretrainedConfig):
    r"""
    Configuration of [`Clip4VideoCapForConditionalGeneration`].

    Pipeline: CLIP vision tower per frame -> `visual_projection` = frame features v_i (Eq. 1) -> multi-scale temporal
    fusion F -> f_i (Eq. 2) -> Vis2Text vt_i (Eqs. 3-4), distilled with L1 to the CLIP text tower's caption feature
    (Eqs. 5-6) -> intention / effect / attribute sub-decoders on [f ; vt] -> caption decoder (causal LM) with the
    prefix [f ; vt ; aspect features] (Eq. 7 losses, Eq. 8 total).

    Sub-configs:
        vision_config: the CLIP vision tower (`CLIPVisionConfig`, model_type "clip_vision_model").
        clip_text_config: the CLIP text tower of Eq. 5 (`CLIPTextConfig`, model_type "clip_text_model"); needed in
            training only.
        text_config: the caption decoder, any transformers causal LM (GPT-2 by default).
        commonsense_config: each sub-decoder, a causal LM config (default: GPT-2, 2 layers, width 512); its vocabulary
            and special-token ids always follow `text_config` (the sub-decoders share the caption tokenizer).

    Args:
        num_frames: frames per clip given to the CLIP image encoder (Eq. 1; 12, CLIP4Clip's count).
        projection_dim: width of CLIP's joint image-text space = width of v_i, f_i and vt_i (512 for ViT-B/16).
        logit_scale_init_value: initial log of CLIP's contrastive logit scale (2.6592 = log(1 / 0.07), as CLIP).
        fusion_type: fusion block on each temporal scale, "lstm" | "transformer" | "conv1d" (Table 4; LSTM best).
        fusion_num_scales: temporal scales fused (Table 4: 1 or 3; 3 by default). Scale s sees the sequence squeezed
            by `fusion_squeeze_factor ** s`.
        fusion_squeeze_factor: temporal down-sampling between consecutive scales (2).
        fusion_num_layers: layers of the fusion block on each scale (1).
        fusion_num_heads: attention heads of the "transformer" fusion block (8).
        fusion_kernel_size: temporal kernel of the "conv1d" fusion block (odd; 3).
        fusion_dropout: dropout inside the fusion blocks (0.1).
        vis2text_intermediate_size: output width of F_1 in Eq. 3 (None = `projection_dim`).
        vis2text_final_activation: apply sigma_2 (ReLU) after F_2 as Eq. 3 writes it (True).
        distillation_loss_weight: weight of the L1 distillation loss of Eq. 6 in Eq. 8 (Table 3: 0 / 1 / 5 / 10 / 20;
            10 by default). 0 drops the loss (the "w/o CLIP txt" row).
        caption_loss_weight: alpha_1 of Eq. 7 (1.0).
        intention_loss_weight: alpha_2 of Eq. 7 (1.0).
        effect_loss_weight: alpha_3 of Eq. 7 (1.0).
        attribute_loss_weight: alpha_4 of Eq. 7 (1.0).
        use_intention: build the intention sub-decoder (Table 5).
        use_effect: build the effect sub-decoder (Table 5).
        use_attribute: build the attribute sub-decoder (Table 5).
        num_commonsense_queries: learnable queries per sub-decoder; their output states are the aspect features given
            to the caption decoder (4).
        use_clip_text_model: build the CLIP text tower (False in an inference folder saved without it).
        freeze_clip_text_model: the CLIP text tower, its projection and the logit scale start frozen (the paper's
            frozen pretrained teacher); a recipe that first trains the teacher sets False.
        save_clip_text_model: `save_pretrained` keeps the CLIP text tower (False: inference folders drop it).
        train_stage: "caption" (Eq. 8) or "clip" (CLIP's symmetric InfoNCE between the mean fused video feature and
            the caption feature: trains a teacher where no pretrained CLIP exists).
        initializer_range: std of the normal init of the new layers (0.02).
    """

    model_type = "clip4videocap"
    sub_configs = {
        "vision_config": AutoConfig,
        "clip_text_config": AutoConfig,
        "text_config": AutoConfig,
        "commonsense_config": AutoConfig,
    }

    def __init__(
        self,
        vision_config: dict | PretrainedConfig | None = None,
        clip_text_config: dict | PretrainedConfig | None = None,
        text_config: dict | PretrainedConfig | None = None,
        commonsense_config: dict | PretrainedConfig | None = None,
        num_frames: int = 12,
        projection_dim: int = 512,
        logit_scale_init_value: float = 2.6592,
        fusion_type: str = "lstm",
        fusion_num_scales: int = 3,
        fusion_squeeze_factor: int = 2,
        fusion_num_layers: int = 1,
        fusion_num_heads: int = 8,
        fusion_kernel_size: int = 3,
        fusion_dropout: float = 0.1,
        vis2text_intermediate_size: int | None = None,
        vis2text_final_activation: bool = True,
        distillation_loss_weight: float = 10.0,
        caption_loss_weight: float = 1.0,
        intention_loss_weight: float = 1.0,
        effect_loss_weight: float = 1.0,
        attribute_loss_weight: float = 1.0,
        use_intention: bool = True,
        use_effect: bool = True,
        use_attribute: bool = True,
        num_commonsense_queries: int = 4,
        use_clip_text_model: bool = True,
        freeze_clip_text_model: bool = True,
        save_clip_text_model: bool = False,
        train_stage: str = "caption",
        initializer_range: float = 0.02,
        **kwargs,
    ):
        self.vision_config = _to_sub_config(vision_config, "clip_vision_model", "vision_config")
        if isinstance(clip_text_config, dict) and "vocab_size" in clip_text_config:
            # a small trained vocabulary: CLIP's default start / end ids (49406 / 49407) would lie outside it
            clip_text_config = {"bos_token_id": None, "eos_token_id": 2, **clip_text_config}
        self.clip_text_config = _to_sub_config(clip_text_config, "clip_text_model", "clip_text_config")
        self.text_config = _to_sub_config(text_config, "gpt2", "text_config")
        if commonsense_config is None:
            commonsense_config = dict(_DEFAULT_COMMONSENSE)
        self.commonsense_config = _to_sub_config(commonsense_config, "gpt2", "commonsense_config")
        self.num_frames = num_frames
        self.projection_dim = projection_dim
        self.logit_scale_init_value = logit_scale_init_value
        self.fusion_type = fusion_type
        self.fusion_num_scales = fusion_num_scales
        self.fusion_squeeze_factor = fusion_squeeze_factor
        self.fusion_num_layers = fusion_num_layers
        self.fusion_num_heads = fusion_num_heads
        self.fusion_kernel_size = fusion_kernel_size
        self.fusion_dropout = fusion_dropout
        self.vis2text_intermediate_size = vis2text_intermediate_size
        self.vis2text_final_activation = vis2text_final_activation
        self.distillation_loss_weight = distillation_loss_weight
        self.caption_loss_weight = caption_loss_weight
        self.intention_loss_weight = intention_loss_weight
        self.effect_loss_weight = effect_loss_weight
        self.attribute_loss_weight = attribute_loss_weight
        self.use_intention = use_intention
        self.use_effect = use_effect
        self.use_attribute = use_attribute
        self.num_commonsense_queries = num_commonsense_queries
        self.use_clip_text_model = use_clip_text_model
        self.freeze_clip_text_model = freeze_clip_text_model
        self.save_clip_text_model = save_clip_text_model
        self.train_stage = train_stage
        self.initializer_range = initializer_range
        self._validate()
        self._sync_sub_configs()
        super().__init__(**kwargs)

    def _validate(self) -> None:
        for name in ("num_frames", "projection_dim", "fusion_num_scales", "fusion_squeeze_factor", "fusion_num_layers",
                     "fusion_num_heads", "fusion_kernel_size", "num_commonsense_queries"):  # fmt: skip
            _check_positive_int(self, name)
        _check_positive_int(self, "vis2text_intermediate_size", allow_none=True)
        _check_choice(self, "fusion_type", FUSION_TYPES)
        _check_choice(self, "train_stage", TRAIN_STAGES)
        _check_finite_float(self, "logit_scale_init_value")
        _check_finite_float(self, "initializer_range", low=0.0, low_open=True)
        _check_finite_float(self, "fusion_dropout", low=0.0, high=1.0, high_open=True)
        for name in ("distillation_loss_weight", "caption_loss_weight", *(f"{a}_loss_weight" for a in ASPECTS)):
            _check_finite_float(self, name, low=0.0)
        for name in ("vis2text_final_activation", "use_clip_text_model", "freeze_clip_text_model",
                     "save_clip_text_model", *(f"use_{a}" for a in ASPECTS)):  # fmt: skip
            _check_bool(self, name)
        if self.fusion_kernel_size % 2 == 0:
            raise ValueError(f"`fusion_kernel_size` must be odd (same-length Conv1D), got {self.fusion_kernel_size}")
        if self.fusion_type == "transformer" and self.projection_dim % self.fusion_num_heads != 0:
            raise ValueError(
                f"`fusion_num_heads` ({self.fusion_num_heads}) must divide `projection_dim` ({self.projection_dim})"
            )
        if self.fusion_squeeze_factor == 1 and self.fusion_num_scales > 1:
            raise ValueError("`fusion_squeeze_factor` must be >= 2 when `fusion_num_scales` > 1 (scales would repeat)")
        if self.train_stage == "clip" and not self.use_clip_text_model:
            raise ValueError("`train_stage='clip'` needs `use_clip_text_model=True` (the CLIP text tower)")

    def _sync_sub_configs(self) -> None:
        """The sub-decoders read the caption tokenizer's ids; CLIP text special ids outside a small trained vocabulary
        fall back to CLIP's legacy arg-max pooling id (the model pools at the last real token itself)."""
        for key in ("vocab_size", "bos_token_id", "eos_token_id", "pad_token_id"):
            value = getattr(self.text_config, key, None)
            if value is not None:
                setattr(self.commonsense_config, key, value)
        text = self.clip_text_config
        for key in ("bos_token_id", "eos_token_id"):
            value = getattr(text, key, None)
            if isinstance(value, int) and value >= text.vocab_size:
                setattr(text, key, 2 if key == "eos_token_id" else None)

    @property
    def aspects(self) -> tuple[str, ...]:
        """The commonsense aspects whose sub-decoders are built (Table 5)."""
        return tuple(a for a in ASPECTS if getattr(self, f"use_{a}"))


__all__ = ["Clip4VideoCapConfig"]
