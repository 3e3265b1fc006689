"""SVAD-VLM configuration.

SVAD-VLM: "Spatiotemporal Fine-grained Video Description for Short Videos" (a ViT frame encoder with Global
Multi-Head Relation Aggregators, a BLIP-2 Q-Former, dual visual alignment into an LLM, trained on fine-grained
descriptions plus a prompt-guided keyword fill-in task).

This file is part of the Hub code of the method: it imports only the standard library and transformers' public API.
"""

from __future__ import annotations

import math

from transformers import AutoConfig, PretrainedConfig

DATA_SOURCES = ("primary", "auxiliary")  # data_source value -> index of its projection in Eq. 11


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


class SvadVlmConfig(PretrainedConfig):
    r"""
    Configuration of [`SvadVlmForConditionalGeneration`].

    Pipeline: each frame through the ViT (Eqs. 2-3); a global token aggregates all frames' tokens after K chosen ViT
    blocks (GMHRA, Eq. 4); Z_vis = [global; frame tokens] (Eq. 5) -> Q-Former with `num_query_tokens` learnable
    queries (Eq. 6) -> a linear alignment into the LLM embedding space, one per data source (Eq. 11, or one shared,
    Eq. 7) -> LLM(cat(queries, prompt embeddings)) (Eq. 8), trained with L = λd·Ld + λk·Lk (Eqs. 9-10).

    Sub-configs:
        vision_config: the frame encoder, a ViT (`ViTConfig` by default; any transformers ViT-like encoder whose
            output is [CLS; square patch grid] works).
        qformer_config: BLIP-2's Q-Former (`Blip2QFormerConfig`); its `encoder_hidden_size` is set to the vision
            width.
        text_config: the causal LM (any transformers causal LM; LLaMA-family by default, Baichuan-13B in the paper).

    Args:
        num_frames: frames per clip (8, VideoChat's count; any count works, each frame is encoded on its own).
        gmhra_layers: 0-based indices of the ViT blocks B_{j_0} < ... < B_{j_{K-1}} after which a GMHRA runs
            (Eq. 4). `None` = the last `num_gmhra_layers` blocks.
        num_gmhra_layers: K when `gmhra_layers` is None (4, UniFormerV2's choice for ViT-B).
        gmhra_num_heads: attention heads of each GMHRA (`None` = the ViT's).
        gmhra_mlp_ratio: feed-forward width of a GMHRA / vision width (4.0).
        gmhra_dropout: dropout in the GMHRA feed-forward (0.5, VideoChat's value; the paper gives none).
        gmhra_dpe_kernel: kernel of the depthwise 3-D convolution position encoding added to the patch tokens before
            each GMHRA (UniFormerV2's DPE; 3). 0 turns it off.
        use_frame_position_embeddings: add a learnable embedding per frame index to the frame tokens of Z_vis
            (Video-LLaMA's frame position embedding; not in Eq. 5, which leaves frame order to the GMHRA token).
            Needs `num_frames` frames at most.
        num_query_tokens: n_q, the Q-Former's learnable queries (Eq. 6; BLIP-2's 32).
        use_dual_alignment: two projections, chosen per sample by its `data_source` (Eq. 11); False = one shared
            projection (Eq. 7, the ablation of Table 7).
        description_loss_weight: λd of Eq. 10.
        keyword_loss_weight: λk of Eq. 10. Table 6 (λk:λd) is best at 5:2, the defaults.
        use_description_loss / use_keyword_loss: compute Ld / Lk (the training objectives; `use_keyword_loss=False`
            is the "no PKG" row of Table 5 and λk:λd = 0:1 of Table 6).
        auxiliary_description_task / auxiliary_keyword_task: auxiliary-data samples take part in Ld / Lk (the
            "Task" columns of Table 7).
        initializer_range: std of the normal init of the GMHRA, queries and alignment layers (0.02).
    """

    model_type = "svad_vlm"
    sub_configs = {"vision_config": AutoConfig, "qformer_config": AutoConfig, "text_config": AutoConfig}

    def __init__(
        self,
        vision_config: dict | PretrainedConfig | None = None,
        qformer_config: dict | PretrainedConfig | None = None,
        text_config: dict | PretrainedConfig | None = None,
        num_frames: int = 8,
        gmhra_layers: list[int] | None = None,
        num_gmhra_layers: int = 4,
        gmhra_num_heads: int | None = None,
        gmhra_mlp_ratio: float = 4.0,
        gmhra_dropout: float = 0.5,
        gmhra_dpe_kernel: int = 3,
        use_frame_position_embeddings: bool = True,
        num_query_tokens: int = 32,
        use_dual_alignment: bool = True,
        description_loss_weight: float = 2.0,
        keyword_loss_weight: float = 5.0,
        use_description_loss: bool = True,
        use_keyword_loss: bool = True,
        auxiliary_description_task: bool = True,
        auxiliary_keyword_task: bool = True,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        self.vision_config = _to_sub_config(vision_config, "vit", "vision_config")
        self.qformer_config = _to_sub_config(qformer_config, "blip_2_qformer", "qformer_config")
        self.text_config = _to_sub_config(text_config, "llama", "text_config")
        self.num_frames = num_frames
        self.gmhra_layers = list(gmhra_layers) if isinstance(gmhra_layers, (list, tuple)) else gmhra_layers
        self.num_gmhra_layers = num_gmhra_layers
        self.gmhra_num_heads = gmhra_num_heads
        self.gmhra_mlp_ratio = gmhra_mlp_ratio
        self.gmhra_dropout = gmhra_dropout
        self.gmhra_dpe_kernel = gmhra_dpe_kernel
        self.use_frame_position_embeddings = use_frame_position_embeddings
        self.num_query_tokens = num_query_tokens
        self.use_dual_alignment = use_dual_alignment
        self.description_loss_weight = description_loss_weight
        self.keyword_loss_weight = keyword_loss_weight
        self.use_description_loss = use_description_loss
        self.use_keyword_loss = use_keyword_loss
        self.auxiliary_description_task = auxiliary_description_task
        self.auxiliary_keyword_task = auxiliary_keyword_task
        self.initializer_range = initializer_range
        self._validate()
        # the Q-Former cross-attends to Z_vis: its key / value width is the vision width
        self.qformer_config.encoder_hidden_size = self.vision_config.hidden_size
        super().__init__(**kwargs)

    def _validate(self) -> None:
        for name in ("num_frames", "num_gmhra_layers", "num_query_tokens"):
            _check_positive_int(self, name)
        _check_positive_int(self, "gmhra_num_heads", allow_none=True)
        for name in ("gmhra_mlp_ratio", "initializer_range"):
            _check_finite_float(self, name, low=0.0, low_open=True)
        _check_finite_float(self, "gmhra_dropout", low=0.0, high=1.0, high_open=True)
        for name in ("description_loss_weight", "keyword_loss_weight"):
            _check_finite_float(self, name, low=0.0)
        for name in ("use_frame_position_embeddings", "use_dual_alignment", "use_description_loss",
                     "use_keyword_loss", "auxiliary_description_task", "auxiliary_keyword_task"):  # fmt: skip
            _check_bool(self, name)
        k = self.gmhra_dpe_kernel
        if isinstance(k, bool) or not isinstance(k, int) or k < 0 or (k and k % 2 == 0):
            raise ValueError(f"`gmhra_dpe_kernel` must be 0 or an odd positive int, got {k!r}")
        if not (self.use_description_loss or self.use_keyword_loss):
            raise ValueError("`use_description_loss` and `use_keyword_loss` are both False: no loss to train")
        depth = self.vision_config.num_hidden_layers
        layers = self.gmhra_layers
        if layers is not None:
            if (
                not isinstance(layers, list)
                or not layers
                or not all(isinstance(j, int) and not isinstance(j, bool) for j in layers)
            ):
                raise ValueError(f"`gmhra_layers` must be a non-empty list of ints or None, got {layers!r}")
            if sorted(set(layers)) != layers or layers[0] < 0 or layers[-1] >= depth:
                raise ValueError(f"`gmhra_layers` must be increasing block indices in [0, {depth}), got {layers}")
        elif self.num_gmhra_layers > depth:
            raise ValueError(f"`num_gmhra_layers` ({self.num_gmhra_layers}) exceeds the ViT depth ({depth})")
        heads = self.gmhra_num_heads or self.vision_config.num_attention_heads
        if self.vision_config.hidden_size % heads:
            raise ValueError(
                f"`gmhra_num_heads` ({heads}) must divide the vision width ({self.vision_config.hidden_size})"
            )

    @property
    def gmhra_layer_indices(self) -> list[int]:
        """The ViT blocks followed by a GMHRA (Eq. 4)."""
        if self.gmhra_layers is not None:
            return list(self.gmhra_layers)
        depth = self.vision_config.num_hidden_layers
        return list(range(depth - self.num_gmhra_layers, depth))


__all__ = ["DATA_SOURCES", "SvadVlmConfig"]
