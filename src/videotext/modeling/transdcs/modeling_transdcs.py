"""TransDCS: a multimodal expert transformer with Multi-head Conv-Self-Attention and augmented shortcuts.

Paper: Liu, Cai & Zhang, "Improving Transformer with Dynamic Convolution and Shortcut for Video-Text Retrieval".

- Video side (MMT, Gabeur et al. 2020): each expert m gives a `(T_m, D_m)` feature sequence with a mask. Each is
  reduced to `hidden_size` (Linear + L2 norm, MMT's ReduceDim); an aggregated token per modality is initialised with
  the max-pool of its valid features (MMT's `mxp`); modality and temporal embeddings are added. The sequence
  [AGG_1, feats_1, AGG_2, feats_2, ...] goes through `num_hidden_layers` TransDCS layers; the per-modality video
  embedding is the output at AGG_m, mapped by a per-modality output layer with Mish (Sec. 5.1).
- MCSA (Eqs. 2-4): `num_attention_heads / conv_head_ratio` self-attention heads (Eq. 1) and the other heads
  span-based dynamic convolution (SDC, Eqs. 2-3; ConvBERT): a depthwise-separable convolution of the input gives
  the span-aware keys K_s, the kernel is softmax(W_f (Q . K_s)) over the window, applied to a linear map of the
  input (LConv). SA and SDC share the query (Eq. 4); their outputs are concatenated. Unlike ConvBERT, padding and
  missing-modality tokens are masked INSIDE the convolution: their inputs are zeroed, they are left out of the
  depthwise key convolution and their kernel logits are -inf, so no value at a masked position reaches any output.
  With `conv_within_modality` a window also stops at the modality boundary.
- Augmented shortcuts (Eqs. 5-8): around MCSA and around the FFN, `num_augmented_shortcuts` extra paths F_i(Z)
  (identity, sigma(W Z), Act(Z) or SDC(Z)) next to the identity shortcut; placement "post" adds them after the
  sub-layer's residual LayerNorm (MMT's video BERT is post-LN), "pre" inside it.
- Text side (MMT): a BERT-family encoder ([CLS] output), one gated embedding unit per modality (Linear + context
  gating with BatchNorm + L2 norm) and text-predicted modality weights (Linear + softmax).
- Similarity: s(t, v) = sum_m w_m(t) a_m(v) cos(t_m, v_m) / sum_m w_m(t) a_m(v), a_m(v) = 1 when video v has
  modality m: the weights are renormalised over the modalities a video has, a missing one never enters as a zero.
- Loss: bidirectional max-margin ranking loss over the batch's similarity matrix (MMT, margin 0.05).

Flat features for indexes: `get_text_features` returns [w_1 t_1, ..., w_M t_M] and `get_video_features`
[a_1 v_1, ..., a_M v_M] (unit t_m, v_m). `score_embeddings` turns any two such (or globally rescaled) vectors back
into s(t, v) exactly: per-block inner products over per-block norm products.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_transdcs import TransDcsConfig

_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "mish": nn.Mish, "tanh": nn.Tanh, "silu": nn.SiLU}


def _activation(name: str) -> nn.Module:
    return nn.Identity() if name == "none" else _ACTIVATIONS[name]()


@dataclass
class TransDcsOutput(ModelOutput):
    """
    Args:
        loss: the bidirectional max-margin ranking loss (with `return_loss=True`).
        logits_per_text: `(num_texts, num_videos)` similarities s(t, v).
        logits_per_video: `(num_videos, num_texts)`, the transpose.
        text_embeds: `(num_texts, M * projection_dim)` flat text features (see `get_text_features`).
        video_embeds: `(num_videos, M * projection_dim)` flat video features (see `get_video_features`).
        modality_weights: `(num_texts, M)` text-predicted modality weights w_m.
        modality_available: `(num_videos, M)` 1 where the video has the modality.
    """

    loss: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None
    logits_per_video: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    video_embeds: torch.FloatTensor | None = None
    modality_weights: torch.FloatTensor | None = None
    modality_available: torch.FloatTensor | None = None


# ------------------------------------------------------------------------------------------- windows and masks
def sliding_windows(x: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """(B, L, C) -> (B, L, k, C): the k tokens centred on each position (zero outside the sequence)."""
    r = kernel_size // 2
    padded = F.pad(x, (0, 0, r, r))  # (B, L + 2r, C)
    return padded.unfold(1, kernel_size, 1).transpose(2, 3)  # (B, L, k, C)


def window_mask(mask: torch.Tensor, segments: torch.Tensor | None, kernel_size: int) -> torch.Tensor:
    """(B, L) token mask (+ (L,) segment ids) -> (B, L, k) bool: window slot j of token i holds a valid token (of
    the same segment when `segments` is given) and token i itself is valid."""
    valid = sliding_windows(mask.bool().unsqueeze(-1).float(), kernel_size).squeeze(-1) > 0  # (B, L, k)
    if segments is not None:
        seg = segments.float().view(1, -1, 1) + 1.0  # +1: the zero padding outside the sequence is no segment
        same = sliding_windows(seg, kernel_size).squeeze(-1) == seg.squeeze(-1).unsqueeze(-1)  # (1, L, k)
        valid = valid & same
    return valid & mask.bool().unsqueeze(-1)


class TransDcsSpanConv(nn.Module):
    """Span-based dynamic convolution (Eqs. 2-3) with masked windows.

    K_s = pointwise(depthwise_k(X)) over the valid window tokens; kernel = softmax(W_f (Q . K_s)) per head over the
    valid window slots; output_i = sum_j kernel_ij V_{i+j}, V = Linear(X).
    """

    def __init__(self, hidden_size: int, query_size: int, num_heads: int, head_dim: int, kernel_size: int,
                 dropout: float):  # fmt: skip
        super().__init__()
        self.num_heads, self.head_dim, self.kernel_size = num_heads, head_dim, kernel_size
        self.depthwise = nn.Parameter(torch.empty(hidden_size, kernel_size))
        nn.init.normal_(self.depthwise, std=0.02)
        self.pointwise = nn.Linear(hidden_size, query_size)
        self.kernel_layer = nn.Linear(query_size, num_heads * kernel_size)  # W_f of Eq. 2
        self.value = nn.Linear(hidden_size, num_heads * head_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor, query: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        batch, length, _ = hidden.shape
        valid = windows.to(hidden.dtype).unsqueeze(-1)  # (B, L, k, 1)
        span = (sliding_windows(hidden, self.kernel_size) * valid * self.depthwise.t()).sum(dim=2)  # (B, L, H)
        key_s = self.pointwise(span)  # (B, L, Q)
        logits = self.kernel_layer(query * key_s).view(batch, length, self.num_heads, self.kernel_size)
        logits = logits.masked_fill(~windows.unsqueeze(2), torch.finfo(logits.dtype).min)
        kernel = self.dropout(torch.softmax(logits, dim=-1) * windows.unsqueeze(2))  # (B, L, h, k)
        values = sliding_windows(self.value(hidden), self.kernel_size) * valid  # (B, L, k, h * d)
        values = values.view(batch, length, self.kernel_size, self.num_heads, self.head_dim)
        out = torch.einsum("blhk,blkhd->blhd", kernel, values)  # (B, L, h, d)
        return out.reshape(batch, length, self.num_heads * self.head_dim)


class TransDcsAttention(nn.Module):
    """MCSA (Eq. 4): Cat(SA(Q, K, V), SDC(Q, K_s, V)) then an output projection; plain multi-head self-attention
    when `use_mcsa` is False."""

    def __init__(self, config: TransDcsConfig):
        super().__init__()
        hidden, heads = config.hidden_size, config.num_attention_heads
        self.head_dim = hidden // heads
        self.sa_heads = heads // config.conv_head_ratio if config.use_mcsa else heads
        self.conv_heads = heads - self.sa_heads
        sa_width = self.sa_heads * self.head_dim
        self.query = nn.Linear(hidden, sa_width)
        self.key = nn.Linear(hidden, sa_width)
        self.value = nn.Linear(hidden, sa_width)
        self.conv = None
        if self.conv_heads:
            self.conv = TransDcsSpanConv(hidden, sa_width, self.conv_heads, self.head_dim, config.conv_kernel_size,
                                         config.attention_probs_dropout_prob)  # fmt: skip
        self.attn_dropout = nn.Dropout(config.attention_probs_dropout_prob)
        self.output = nn.Linear(hidden, hidden)
        self.output_dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        batch, length, _ = hidden.shape
        query = self.query(hidden)

        def heads(x):  # (B, L, h * d) -> (B, h, L, d)
            return x.view(batch, length, -1, self.head_dim).transpose(1, 2)

        scores = heads(query) @ heads(self.key(hidden)).transpose(-1, -2) / self.head_dim**0.5  # Eq. 1
        scores = scores.masked_fill(~mask.bool()[:, None, None, :], torch.finfo(scores.dtype).min)
        context = self.attn_dropout(torch.softmax(scores, dim=-1)) @ heads(self.value(hidden))  # (B, h, L, d)
        parts = [context.transpose(1, 2).reshape(batch, length, -1)]
        if self.conv is not None:
            parts.append(self.conv(hidden, query, windows))
        return self.output_dropout(self.output(torch.cat(parts, dim=-1)))


class TransDcsShortcut(nn.Module):
    """One augmented shortcut F(Z) of Eq. 7: identity, sigma(W Z), Act(Z) or SDC(Z)."""

    def __init__(self, config: TransDcsConfig):
        super().__init__()
        self.form = config.shortcut_form
        hidden = config.hidden_size
        if self.form == "linear":
            self.linear = nn.Linear(hidden, hidden)
        if self.form in ("linear", "activation"):
            self.act = _activation(config.shortcut_activation)
        if self.form == "sdc":
            heads = config.num_attention_heads
            self.query = nn.Linear(hidden, hidden)
            self.conv = TransDcsSpanConv(hidden, hidden, heads, hidden // heads, config.conv_kernel_size, 0.0)

    def forward(self, hidden: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        if self.form == "identity":
            return hidden
        if self.form == "linear":
            return self.act(self.linear(hidden))
        if self.form == "activation":
            return self.act(hidden)
        return self.conv(hidden, self.query(hidden), windows)


class TransDcsSublayer(nn.Module):
    """Residual wrapper of MCSA or the FFN with augmented shortcuts (Eqs. 6, 8), post-LN."""

    def __init__(self, config: TransDcsConfig, body: nn.Module):
        super().__init__()
        self.body = body
        self.shortcuts = nn.ModuleList(TransDcsShortcut(config) for _ in range(config.num_augmented_shortcuts))
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.use_residual = config.use_residual
        self.placement = config.shortcut_placement

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        out = self.body(hidden, mask, windows)
        if self.use_residual:
            out = out + hidden
        if not self.shortcuts:
            return self.norm(out)
        augmented = sum(shortcut(hidden, windows) for shortcut in self.shortcuts)
        if self.placement == "pre":
            return self.norm(out + augmented)
        return self.norm(out) + augmented


class TransDcsFeedForward(nn.Module):
    def __init__(self, config: TransDcsConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.act = _activation(config.hidden_act)
        self.output = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.output(self.act(self.dense(hidden))))


class TransDcsLayer(nn.Module):
    def __init__(self, config: TransDcsConfig):
        super().__init__()
        self.attention = TransDcsSublayer(config, TransDcsAttention(config))  # Eq. 6
        self.ffn = TransDcsSublayer(config, TransDcsFeedForward(config))  # Eq. 8

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        hidden = self.attention(hidden, mask, windows)
        # masked positions are reset so that nothing computed there can be read later, whatever the placement
        return self.ffn(hidden, mask, windows) * mask.unsqueeze(-1).to(hidden.dtype)


class TransDcsEmbeddings(nn.Module):
    """Expert features -> the token sequence [AGG_1, feats_1, ..., AGG_M, feats_M] with its mask and segment ids."""

    def __init__(self, config: TransDcsConfig):
        super().__init__()
        self.expert_dims = list(config.expert_dims)
        self.reduce = nn.ModuleList(nn.Linear(d, config.hidden_size) for d in config.expert_dims)
        self.modality_embeddings = nn.Embedding(config.num_modalities, config.hidden_size)
        self.temporal_embeddings = nn.Embedding(config.max_temporal_positions, config.hidden_size)
        self.agg_embedding = nn.Parameter(torch.zeros(config.hidden_size))
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.max_position = config.max_temporal_positions - 1

    def forward(self, expert_features: torch.Tensor, expert_mask: torch.Tensor):
        batch, modalities, steps, _ = expert_features.shape
        device = expert_features.device
        positions = torch.arange(steps + 1, device=device).clamp(max=self.max_position)  # AGG at 0
        tokens, masks = [], []
        for m, reduce in enumerate(self.reduce):
            feats = expert_features[:, m, :, : self.expert_dims[m]]  # (B, T, D_m)
            valid = expert_mask[:, m].bool()  # (B, T)
            feats = feats.masked_fill(~valid.unsqueeze(-1), 0.0)
            pooled = feats.masked_fill(~valid.unsqueeze(-1), torch.finfo(feats.dtype).min).amax(dim=1)  # max-pool
            present = valid.any(dim=1)  # (B,)
            pooled = torch.where(present.unsqueeze(-1), pooled, torch.zeros_like(pooled))
            seq = F.normalize(reduce(torch.cat([pooled.unsqueeze(1), feats], dim=1)), dim=-1)  # (B, T + 1, H)
            agg = torch.cat([self.agg_embedding.unsqueeze(0), self.agg_embedding.new_zeros(steps, seq.shape[-1])])
            seq = seq + self.temporal_embeddings(positions) + self.modality_embeddings.weight[m] + agg
            tokens.append(seq)
            masks.append(torch.cat([present.unsqueeze(1), valid], dim=1))
        hidden = torch.cat(tokens, dim=1)  # (B, M * (T + 1), H)
        mask = torch.cat(masks, dim=1)  # (B, M * (T + 1))
        hidden = self.dropout(self.norm(hidden)) * mask.unsqueeze(-1).to(hidden.dtype)
        segments = torch.arange(modalities, device=device).repeat_interleave(steps + 1)  # (M * (T + 1),)
        return hidden, mask, segments


class TransDcsGatedEmbeddingUnit(nn.Module):
    """MMT's text gated embedding unit: Linear, context gating x * sigmoid(BN(W x)), L2 norm."""

    def __init__(self, input_size: int, output_size: int, batchnorm: bool):
        super().__init__()
        self.fc = nn.Linear(input_size, output_size)
        self.gate = nn.Linear(output_size, output_size)
        self.norm = nn.BatchNorm1d(output_size) if batchnorm else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        return F.normalize(x * torch.sigmoid(self.norm(self.gate(x))), dim=-1)


# ------------------------------------------------------------------------------------------------- the model
class TransDcsPreTrainedModel(PreTrainedModel):
    config_class = TransDcsConfig
    base_model_prefix = "transdcs"
    main_input_name = "input_ids"
    input_modalities = ("video", "text")
    _no_split_modules = ["TransDcsLayer"]

    def _init_weights(self, module):
        super()._init_weights(module)
        std = self.config.initializer_range
        if isinstance(module, TransDcsSpanConv) and not getattr(module.depthwise, "_is_hf_initialized", False):
            with torch.no_grad():
                module.depthwise.normal_(0.0, std)
        if isinstance(module, TransDcsEmbeddings) and not getattr(module.agg_embedding, "_is_hf_initialized", False):
            with torch.no_grad():
                module.agg_embedding.normal_(0.0, std)


def score_embeddings(text_embeds: torch.Tensor, video_embeds: torch.Tensor, num_modalities: int) -> torch.Tensor:
    """s(t, v) from flat features: sum_m <t_m, v_m> / sum_m |t_m| |v_m| (blocks of `num_modalities`); invariant to
    rescaling either whole vector, so it also scores L2-normalised index vectors exactly. 0 where no modality
    is shared."""
    t = text_embeds.reshape(text_embeds.shape[0], num_modalities, -1)  # (T, M, P)
    v = video_embeds.reshape(video_embeds.shape[0], num_modalities, -1)  # (V, M, P)
    numerator = torch.einsum("tmp,vmp->tv", t, v)
    denominator = t.norm(dim=-1) @ v.norm(dim=-1).t()  # (T, V)
    return numerator / denominator.clamp(min=1e-8)


class TransDcsModel(TransDcsPreTrainedModel):
    """TransDCS video-text retriever with a `CLIPModel`-like API."""

    accepts_loss_kwargs = False

    def __init__(self, config: TransDcsConfig):
        super().__init__(config)
        self.embeddings = TransDcsEmbeddings(config)
        self.layers = nn.ModuleList(TransDcsLayer(config) for _ in range(config.num_hidden_layers))
        self.video_output = nn.ModuleList(
            nn.Sequential(nn.Linear(config.hidden_size, config.projection_dim), _activation(config.output_activation))
            for _ in range(config.num_modalities)
        )
        self.text_model = AutoModel.from_config(config.text_config)
        text_dim = config.text_config.hidden_size
        self.text_gates = nn.ModuleList(
            TransDcsGatedEmbeddingUnit(text_dim, config.projection_dim, config.text_gating_batchnorm)
            for _ in range(config.num_modalities)
        )
        self.modality_weights = nn.Linear(text_dim, config.num_modalities)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.text_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.text_model.set_input_embeddings(value)

    # --------------------------------------------------------------------------------------------- video side
    def _check_experts(self, expert_features: torch.Tensor, expert_mask: torch.Tensor | None) -> torch.Tensor:
        cfg = self.config
        if expert_features.ndim != 4 or expert_features.shape[1] != cfg.num_modalities:
            raise ValueError(f"`expert_features` must be (batch, {cfg.num_modalities} experts {cfg.experts}, steps, "
                             f"dim), got {tuple(expert_features.shape)}")  # fmt: skip
        if expert_features.shape[-1] < max(cfg.expert_dims):
            raise ValueError(f"`expert_features` last dim {expert_features.shape[-1]} < the widest expert "
                             f"({max(cfg.expert_dims)}, expert_dims {cfg.expert_dims})")  # fmt: skip
        if expert_mask is None:
            expert_mask = torch.ones(expert_features.shape[:3], dtype=torch.bool, device=expert_features.device)
        if expert_mask.shape != expert_features.shape[:3]:
            raise ValueError(f"`expert_mask` must be {tuple(expert_features.shape[:3])}, got {tuple(expert_mask.shape)}")
        if cfg.ignored_experts:
            keep = torch.tensor([e not in cfg.ignored_experts for e in cfg.experts], device=expert_mask.device)
            expert_mask = expert_mask.bool() & keep.view(1, -1, 1)
        return expert_mask

    def get_video_outputs(self, expert_features: torch.Tensor, expert_mask: torch.Tensor | None = None):
        """-> (per-modality unit video embeddings (B, M, P), availability a_m (B, M), last hidden states, mask)."""
        expert_mask = self._check_experts(expert_features, expert_mask)
        hidden, mask, segments = self.embeddings(expert_features.to(self.dtype), expert_mask)
        windows = window_mask(mask, segments if self.config.conv_within_modality else None,
                              self.config.conv_kernel_size)  # fmt: skip
        for layer in self.layers:
            hidden = layer(hidden, mask, windows)
        steps = expert_features.shape[2] + 1
        agg = hidden[:, ::steps]  # (B, M, H): the AGG positions
        video = torch.stack([head(agg[:, m]) for m, head in enumerate(self.video_output)], dim=1)  # (B, M, P)
        available = mask[:, ::steps].to(video.dtype)  # (B, M)
        return F.normalize(video, dim=-1), available, hidden, mask

    def get_video_features(self, expert_features: torch.Tensor, expert_mask: torch.Tensor | None = None):
        """Flat video features (B, M * P): [a_1 v_1, ..., a_M v_M] with unit v_m (zero blocks for missing experts)."""
        video, available, _, _ = self.get_video_outputs(expert_features, expert_mask)
        return (video * available.unsqueeze(-1)).flatten(1)

    # ---------------------------------------------------------------------------------------------- text side
    def get_text_outputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """-> (per-modality unit text embeddings (B, M, P), modality weights w (B, M))."""
        cls = self.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0]
        text = torch.stack([gate(cls) for gate in self.text_gates], dim=1)  # (B, M, P)
        return text, torch.softmax(self.modality_weights(cls), dim=-1)

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """Flat text features (B, M * P): [w_1 t_1, ..., w_M t_M] with unit t_m."""
        text, weights = self.get_text_outputs(input_ids, attention_mask)
        return (text * weights.unsqueeze(-1)).flatten(1)

    def score_embeddings(self, text_embeds: torch.Tensor, video_embeds: torch.Tensor) -> torch.Tensor:
        """(num_texts, num_videos) similarities s(t, v) from flat (possibly L2-normalised) features."""
        return score_embeddings(text_embeds, video_embeds, self.config.num_modalities)

    def max_margin_loss(self, similarity: torch.Tensor) -> torch.Tensor:
        """Bidirectional max-margin ranking loss; pair i is (text i, video i), the other batch items negatives."""
        positive = similarity.diagonal()
        off = ~torch.eye(similarity.shape[0], dtype=torch.bool, device=similarity.device)
        text_to_video = F.relu(self.config.margin + similarity - positive.unsqueeze(1))[off]
        video_to_text = F.relu(self.config.margin + similarity - positive.unsqueeze(0))[off]
        if text_to_video.numel() == 0:  # a batch of one pair has no negative
            return similarity.sum() * 0.0
        return torch.cat([text_to_video, video_to_text]).mean()

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        expert_features: torch.Tensor | None = None,
        expert_mask: torch.Tensor | None = None,
        return_loss: bool | None = None,
        return_dict: bool | None = None,
    ) -> TransDcsOutput | tuple:
        if input_ids is None or expert_features is None:
            raise ValueError("TransDcsModel.forward needs `input_ids` and `expert_features`")
        text, weights = self.get_text_outputs(input_ids, attention_mask)
        video, available, _, _ = self.get_video_outputs(expert_features, expert_mask)
        text_embeds = (text * weights.unsqueeze(-1)).flatten(1)
        video_embeds = (video * available.unsqueeze(-1)).flatten(1)
        logits_per_text = self.score_embeddings(text_embeds, video_embeds)
        loss = None
        if return_loss:
            if logits_per_text.shape[0] != logits_per_text.shape[1]:
                raise ValueError("return_loss needs one caption per video (text i belongs to video i)")
            loss = self.max_margin_loss(logits_per_text)
        out = TransDcsOutput(loss=loss, logits_per_text=logits_per_text, logits_per_video=logits_per_text.t(),
                             text_embeds=text_embeds, video_embeds=video_embeds, modality_weights=weights,
                             modality_available=available)  # fmt: skip
        return out if return_dict is not False else out.to_tuple()

    @classmethod
    def from_pretrained_backbones(cls, text: str = "bert-base-cased", text_encoder: str | None = None,
                                  vision: str | None = None, **config_kwargs) -> TransDcsModel:  # fmt: skip
        """The model with a pretrained text encoder (Hub id or local folder; MMT: `bert-base-cased`). The video side
        is trained from scratch on expert features (MMT); `vision` is accepted for the common signature and must be
        None (the experts' backbones belong to the processor / `videotext extract-experts`)."""
        if vision is not None:
            raise ValueError("TransDcsModel has no vision tower: set the expert extractors on the processor instead")
        text = text_encoder if text_encoder is not None else text
        text_model = AutoModel.from_pretrained(text)
        model = cls(cls.config_class(text_config=text_model.config.to_dict(), **config_kwargs))  # text_dropout applies
        model.text_model.load_state_dict(text_model.state_dict())
        return model


__all__ = ["TransDcsModel", "TransDcsOutput", "TransDcsPreTrainedModel", "score_embeddings"]
