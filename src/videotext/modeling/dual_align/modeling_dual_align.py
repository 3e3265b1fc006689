"""Dual-alignment video-text retriever (global + fine-grained noun/verb alignment).

Paper: Che & Guo, "Cross-Modal Video Retrieval Model Based on Video-Text Dual Alignment".

- Towers: TimeSformer video encoder (`vision_model`) and DistilBERT text encoder (`text_model`), both built with
  `AutoModel.from_config`.
- Global alignment (Eqs. 1, 3, 4): the TimeSformer patch tokens (all frames; the video [CLS] is left out) are
  linearly projected to `projection_dim` and mean-pooled (v_bar); the text [CLS] is projected (t_bar); cosine
  similarity / tau, symmetric InfoNCE (L1). Retrieval uses these global embeddings only.
- Fine-grained alignment (Eqs. 2, 5, 6): the caption with its nouns (L2) or verbs (L3) removed goes through the
  same text encoder; its token sequence is the query Q of a multimodal encoder (`fusion`: a stack of pre-norm
  cross-attention + FFN blocks, Eq. 2) whose keys/values are linear maps of the video patch tokens. The pooled
  output ([CLS] position by default) is projected (x_n / x_v) and contrasted with the text-encoder embedding of the
  removed words (y_n / y_v; the removed words are encoded by the SAME text encoder as their own short text, [CLS]
  pooled by default), each side with its own linear projection. One multimodal encoder is shared by the noun and
  verb branches (the paper describes a single multimodal encoder); projections are per branch.
- Losses: each InfoNCE is symmetric (mean of both directions, as MCQ/Frozen) over the batch gathered from all
  processes. Rows whose caption has no noun (verb) are excluded from L2 (L3) through `noun_valid` / `verb_valid`;
  with no valid row anywhere the term is an exact 0 (no NaN). L = w1 L1 + w2 L2 + w3 L3 (Eq. 7), each switchable.
- Video encoder initialisation (`from_pretrained_backbones`): from an ImageNet-21k ViT as in the TimeSformer paper
  (spatial weights copied, temporal attention = copy of the spatial one with a zero `temporal_dense`, zero time
  embeddings), or directly from a TimeSformer checkpoint.

References:
    TencentARC/MCQ (BridgeFormer: question tokens cross-attend to video patches, answer = erased phrase);
    m-bain/frozen-in-time (tau = 0.05, 256-d projections); facebookresearch/TimeSformer (ViT initialisation).

This file is part of the Hub code of the method: stdlib, torch, transformers public API and siblings only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from transformers import AutoConfig, AutoModel, PreTrainedModel
from transformers.activations import ACT2FN
from transformers.utils import ModelOutput, logging

from .configuration_dual_align import DualAlignConfig

logger = logging.get_logger(__name__)


# Copied from videotext.modeling.shared_blocks.all_gather_with_grad
def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` from every process along dim 0; gradients flow back to this process's slice only."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    gathered = [torch.zeros_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, tensor.contiguous())
    # all_gather returns tensors without autograd history: put the local one back so its gradient is kept.
    gathered[dist.get_rank()] = tensor
    return torch.cat(gathered, dim=0)


# Copied from videotext.modeling.shared_blocks.symmetric_infonce
def symmetric_infonce(logits_per_text: torch.Tensor, positive_index: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of text->video and video->text cross-entropy over a (num_texts, num_videos) logit matrix.

    `positive_index[i]` is the column of text i's positive (default: the diagonal of a square matrix).
    """
    if positive_index is None:
        positive_index = torch.arange(logits_per_text.shape[0], device=logits_per_text.device)
    loss_t2v = F.cross_entropy(logits_per_text, positive_index)
    loss_v2t = F.cross_entropy(logits_per_text.t(), positive_index)
    return (loss_t2v + loss_v2t) / 2


_MAX_LOGIT_SCALE = math.log(100.0)  # tau >= 0.01 when the temperature is learnable


@dataclass
class DualAlignFusionOutput(ModelOutput):
    """
    Output of the multimodal (cross-attention) encoder of Eq. 2.

    Args:
        last_hidden_state (`torch.FloatTensor` of shape `(batch_size, query_length, fusion_hidden_size)`):
            Fused query tokens after the last block and the final layer norm.
        pooler_output (`torch.FloatTensor` of shape `(batch_size, fusion_hidden_size)`):
            `config.fusion_pooling` of `last_hidden_state` (the [CLS] position or the masked mean).
        attentions (`tuple(torch.FloatTensor)`, one per block, each `(batch_size, num_heads, query_length,
            num_video_tokens)`): cross-attention probabilities of the query tokens over the video patch tokens
            (token order of TimeSformer: patch-major, frame-minor), when `output_attentions=True`.
    """

    last_hidden_state: torch.FloatTensor | None = None
    pooler_output: torch.FloatTensor | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None


@dataclass
class DualAlignOutput(ModelOutput):
    """
    Output of [`DualAlignModel.forward`].

    Args:
        loss (`torch.FloatTensor` of shape `()`): Eq. 7, the weighted sum of the enabled terms that could be computed.
        loss_global (`torch.FloatTensor` of shape `()`): L1 (Eq. 4).
        loss_noun (`torch.FloatTensor` of shape `()`): L2 (Eq. 5); 0 when no row has a noun.
        loss_verb (`torch.FloatTensor` of shape `()`): L3 (Eq. 6); 0 when no row has a verb.
        logits_per_text (`torch.FloatTensor` of shape `(text_batch_size, video_batch_size)`):
            `logit_scale` x cosine similarity of the global text and video embeddings (Eq. 1 / tau).
        logits_per_video (`torch.FloatTensor` of shape `(video_batch_size, text_batch_size)`): the transpose.
        text_embeds (`torch.FloatTensor` of shape `(text_batch_size, projection_dim)`): normalised t_bar.
        video_embeds (`torch.FloatTensor` of shape `(video_batch_size, projection_dim)`): normalised v_bar.
        noun_video_embeds / noun_text_embeds (`(batch_size, projection_dim)`): normalised x_n / y_n of Eq. 5.
        verb_video_embeds / verb_text_embeds (`(batch_size, projection_dim)`): normalised x_v / y_v of Eq. 6.
        fusion_attentions (`tuple(torch.FloatTensor)`): per-block cross-attention of the first fine-grained branch
            that ran (nouns, else verbs), when `output_attentions=True`.
        noun_fusion_attentions / verb_fusion_attentions (`tuple(torch.FloatTensor)`): per branch, the same.
        text_model_output (`BaseModelOutput`): output of the text encoder on `input_ids`.
        vision_model_output (`BaseModelOutput`): output of TimeSformer.
    """

    loss: torch.FloatTensor | None = None
    loss_global: torch.FloatTensor | None = None
    loss_noun: torch.FloatTensor | None = None
    loss_verb: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None
    logits_per_video: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    video_embeds: torch.FloatTensor | None = None
    noun_video_embeds: torch.FloatTensor | None = None
    noun_text_embeds: torch.FloatTensor | None = None
    verb_video_embeds: torch.FloatTensor | None = None
    verb_text_embeds: torch.FloatTensor | None = None
    fusion_attentions: tuple[torch.FloatTensor, ...] | None = None
    noun_fusion_attentions: tuple[torch.FloatTensor, ...] | None = None
    verb_fusion_attentions: tuple[torch.FloatTensor, ...] | None = None
    text_model_output: ModelOutput | None = None
    vision_model_output: ModelOutput | None = None

    def to_tuple(self) -> tuple:
        return tuple(
            self[k].to_tuple() if k in ("text_model_output", "vision_model_output") else self[k] for k in self.keys()
        )


class DualAlignCrossAttention(nn.Module):
    """Multi-head cross-attention of Eq. 2: Q from the (noun/verb-removed) text tokens, K and V from the video tokens."""

    def __init__(self, config: DualAlignConfig):
        super().__init__()
        hidden = config.fusion_hidden_size
        self.num_heads = config.fusion_num_heads
        self.head_dim = hidden // self.num_heads
        self.scale = self.head_dim**-0.5  # 1 / sqrt(d_k)
        video_dim = config.vision_config.hidden_size
        self.q_proj = nn.Linear(hidden, hidden)
        self.k_proj = nn.Linear(video_dim, hidden)
        self.v_proj = nn.Linear(video_dim, hidden)
        self.o_proj = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(config.fusion_dropout)

    def forward(self, hidden_states: torch.Tensor, video_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch_size, query_length, _ = hidden_states.shape
        video_length = video_states.shape[1]
        query = self.q_proj(hidden_states).view(batch_size, query_length, self.num_heads, self.head_dim).transpose(1, 2)
        key = self.k_proj(video_states).view(batch_size, video_length, self.num_heads, self.head_dim).transpose(1, 2)
        value = self.v_proj(video_states).view(batch_size, video_length, self.num_heads, self.head_dim).transpose(1, 2)
        scores = torch.matmul(query, key.transpose(-1, -2)) * self.scale  # (B, heads, Lq, Lv)
        probs = scores.softmax(dim=-1, dtype=torch.float32).to(query.dtype)  # Softmax(QK^T / sqrt(d_k)), Eq. 2
        context = torch.matmul(self.dropout(probs), value)  # (B, heads, Lq, head_dim)
        context = context.transpose(1, 2).reshape(batch_size, query_length, -1)  # (B, Lq, hidden)
        return self.o_proj(context), probs


class DualAlignFusionLayer(nn.Module):
    """One pre-norm block of the multimodal encoder: x + CrossAttn(LN(x), video); x + FFN(LN(x))."""

    def __init__(self, config: DualAlignConfig):
        super().__init__()
        hidden = config.fusion_hidden_size
        self.cross_attention_layernorm = nn.LayerNorm(hidden)
        self.cross_attention = DualAlignCrossAttention(config)
        self.mlp_layernorm = nn.LayerNorm(hidden)
        self.fc1 = nn.Linear(hidden, config.fusion_intermediate_size)
        self.act = ACT2FN["gelu"]
        self.fc2 = nn.Linear(config.fusion_intermediate_size, hidden)
        self.dropout = nn.Dropout(config.fusion_dropout)

    def forward(self, hidden_states: torch.Tensor, video_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        attn_output, attn_probs = self.cross_attention(self.cross_attention_layernorm(hidden_states), video_states)
        hidden_states = hidden_states + self.dropout(attn_output)
        mlp_output = self.fc2(self.dropout(self.act(self.fc1(self.mlp_layernorm(hidden_states)))))
        hidden_states = hidden_states + self.dropout(mlp_output)
        return hidden_states, attn_probs


class DualAlignFusionEncoder(nn.Module):
    """The multimodal encoder of Fig. 2: text tokens (mapped to `fusion_hidden_size`) attend to the video tokens."""

    def __init__(self, config: DualAlignConfig):
        super().__init__()
        self.pooling = config.fusion_pooling
        self.input_projection = nn.Linear(config.text_config.hidden_size, config.fusion_hidden_size)
        self.layers = nn.ModuleList([DualAlignFusionLayer(config) for _ in range(config.fusion_num_layers)])
        self.layernorm = nn.LayerNorm(config.fusion_hidden_size)

    def forward(
        self,
        query_states: torch.Tensor,
        query_attention_mask: torch.Tensor | None,
        video_states: torch.Tensor,
        output_attentions: bool = False,
    ) -> DualAlignFusionOutput:
        hidden_states = self.input_projection(query_states)  # (B, Lq, fusion_hidden)
        attentions = () if output_attentions else None
        for layer in self.layers:
            hidden_states, probs = layer(hidden_states, video_states)
            if output_attentions:
                attentions = attentions + (probs,)
        hidden_states = self.layernorm(hidden_states)
        pooled = _pool(hidden_states, query_attention_mask, self.pooling)
        return DualAlignFusionOutput(last_hidden_state=hidden_states, pooler_output=pooled, attentions=attentions)


def _text_keys(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """One int64 fingerprint per row of token ids (padding ignored): equal texts get equal keys. (B, L) -> (B,)"""
    ids = input_ids.long() + 1  # 0 is kept for padding
    if attention_mask is not None:
        ids = ids * attention_mask.long()
    # a polynomial hash modulo a 31-bit prime: ids < 2**20 and weights < 2**31 keep each row's sum inside int64
    prime, modulus = 1_000_003, 2_147_483_647
    weights = [pow(prime, j, modulus) for j in range(ids.shape[1])]
    return (ids * torch.tensor(weights, dtype=torch.long, device=ids.device)).sum(dim=1)


def _pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """[CLS] (first position) or masked mean over the sequence: (B, L, D) -> (B, D)."""
    if pooling == "cls":
        return hidden_states[:, 0]
    if attention_mask is None:
        return hidden_states.mean(dim=1)
    mask = attention_mask.to(hidden_states.dtype).unsqueeze(-1)  # (B, L, 1)
    return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class DualAlignPreTrainedModel(PreTrainedModel):
    config_class = DualAlignConfig
    base_model_prefix = "dual_align"
    main_input_name = "input_ids"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["DualAlignFusionLayer"]

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, DualAlignModel):
            scale = module.logit_scale
            if not getattr(scale, "_is_hf_initialized", False):
                with torch.no_grad():
                    scale.fill_(math.log(1.0 / self.config.temperature))


class DualAlignModel(DualAlignPreTrainedModel):
    """TimeSformer + DistilBERT dual-alignment retriever with a `CLIPModel`-like API."""

    # Contrastive losses: Trainer must neither pass `num_items_in_batch` nor skip its gradient-accumulation scaling.
    accepts_loss_kwargs = False

    def __init__(self, config: DualAlignConfig):
        super().__init__(config)
        self.vision_model = AutoModel.from_config(config.vision_config)
        self.text_model = AutoModel.from_config(config.text_config)
        video_dim = config.vision_config.hidden_size
        text_dim = config.text_config.hidden_size
        proj = config.projection_dim
        # Global alignment (Eqs. 1, 4)
        self.video_projection = nn.Linear(video_dim, proj)
        self.text_projection = nn.Linear(text_dim, proj)
        # Fine-grained alignment (Eqs. 2, 5, 6): one multimodal encoder, separate projections per branch and side
        self.fusion = DualAlignFusionEncoder(config)
        self.noun_video_projection = nn.Linear(config.fusion_hidden_size, proj)
        self.noun_text_projection = nn.Linear(text_dim, proj)
        self.verb_video_projection = nn.Linear(config.fusion_hidden_size, proj)
        self.verb_text_projection = nn.Linear(text_dim, proj)
        self.logit_scale = nn.Parameter(
            torch.tensor(math.log(1.0 / config.temperature)), requires_grad=config.learnable_temperature
        )
        self.post_init()

    # ----------------------------------------------------------------------------------------------- helpers
    def get_input_embeddings(self) -> nn.Module:
        return self.text_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.text_model.set_input_embeddings(value)

    def enable_input_require_grads(self) -> None:
        """Make the outputs of both towers' input embeddings require grad (gradient checkpointing / adapters).

        The generic version fails on TimeSformer, whose patch embedding returns a tuple.
        """

        def make_output_require_grad(module, inputs, output):
            (output[0] if isinstance(output, tuple) else output).requires_grad_(True)

        embeddings = (self.text_model.get_input_embeddings(), self.vision_model.get_input_embeddings())
        self._require_grads_hooks = [e.register_forward_hook(make_output_require_grad) for e in embeddings]
        self._require_grads_hook = self._require_grads_hooks[0]

    def _logit_scale(self) -> torch.Tensor:
        return self.logit_scale.clamp(max=_MAX_LOGIT_SCALE).exp()

    def _check_video(self, pixel_values_videos: torch.Tensor) -> None:
        vcfg = self.config.vision_config
        if pixel_values_videos.ndim != 5:
            raise ValueError(
                f"`pixel_values_videos` must be (batch, frames, 3, height, width), got shape "
                f"{tuple(pixel_values_videos.shape)}"
            )
        num_frames, height, width = pixel_values_videos.shape[1], *pixel_values_videos.shape[-2:]
        if num_frames != vcfg.num_frames:
            raise ValueError(
                f"`pixel_values_videos` has {num_frames} frames but the model was configured with "
                f"`num_frames={vcfg.num_frames}` (TimeSformer needs exactly that many)"
            )
        if height != vcfg.image_size or width != vcfg.image_size:
            raise ValueError(
                f"`pixel_values_videos` frames are {height}x{width} but TimeSformer expects "
                f"{vcfg.image_size}x{vcfg.image_size} (`vision_config.image_size`)"
            )

    def get_video_tokens(self, pixel_values_videos: torch.Tensor, output_attentions: bool = False):
        """Run TimeSformer; return (patch tokens `(B, frames * patches, hidden)` without the [CLS], full output)."""
        self._check_video(pixel_values_videos)
        pixel_values_videos = pixel_values_videos.to(self.vision_model.dtype)
        outputs = self.vision_model(pixel_values=pixel_values_videos, output_attentions=output_attentions)
        return outputs.last_hidden_state[:, 1:], outputs

    def _text_embeds(self, input_ids, attention_mask):
        outputs = self.text_model(input_ids=input_ids, attention_mask=attention_mask)
        cls = outputs.last_hidden_state[:, 0]  # t_cls
        return F.normalize(self.text_projection(cls), dim=-1), outputs

    def _video_embeds(self, video_tokens: torch.Tensor) -> torch.Tensor:
        # Eq. 1 inputs: project every video token to the shared space, then mean-pool over frames and patches.
        return F.normalize(self.video_projection(video_tokens).mean(dim=1), dim=-1)

    # ----------------------------------------------------------------------------------------------- public API
    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Normalised global text embeddings t_bar, `(batch_size, projection_dim)`."""
        return self._text_embeds(input_ids, attention_mask)[0]

    def get_video_features(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """Normalised global video embeddings v_bar (mean-pooled projected tokens), `(batch_size, projection_dim)`."""
        video_tokens, _ = self.get_video_tokens(pixel_values_videos)
        return self._video_embeds(video_tokens)

    def get_fusion_outputs(
        self,
        query_input_ids: torch.Tensor,
        query_attention_mask: torch.Tensor | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        video_tokens: torch.Tensor | None = None,
        output_attentions: bool = False,
    ) -> DualAlignFusionOutput:
        """Run the multimodal encoder (Eq. 2): the query caption's text-encoder tokens attend to the video tokens.

        Give either `pixel_values_videos` or precomputed `video_tokens` (from `get_video_tokens`).
        """
        if video_tokens is None:
            if pixel_values_videos is None:
                raise ValueError("get_fusion_outputs: pass `pixel_values_videos` or `video_tokens`")
            video_tokens, _ = self.get_video_tokens(pixel_values_videos)
        query_states = self.text_model(input_ids=query_input_ids, attention_mask=query_attention_mask).last_hidden_state
        return self.fusion(query_states, query_attention_mask, video_tokens, output_attentions=output_attentions)

    def get_word_alignment(
        self,
        kind: str,
        video_tokens: torch.Tensor,
        query_input_ids: torch.Tensor,
        query_attention_mask: torch.Tensor | None,
        target_input_ids: torch.Tensor,
        target_attention_mask: torch.Tensor | None,
        output_attentions: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """One fine-grained branch (Eq. 5 for kind="noun", Eq. 6 for "verb") for the processor's `<kind>_*` inputs.

        Returns the normalised fused-video side x `(B, projection_dim)`, the normalised removed-word side y
        `(B, projection_dim)` (their dot product is the s(x, y) the loss contrasts) and, with
        `output_attentions`, the fusion cross-attention of every layer `(B, heads, query_len, video_tokens)`.
        """
        if kind not in ("noun", "verb"):
            raise ValueError(f"`kind` must be 'noun' or 'verb', got {kind!r}")
        fused = self.get_fusion_outputs(
            query_input_ids, query_attention_mask, video_tokens=video_tokens, output_attentions=output_attentions
        )
        video_side = getattr(self, f"{kind}_video_projection")(fused.pooler_output)  # x_n / x_v
        target = self.text_model(input_ids=target_input_ids, attention_mask=target_attention_mask).last_hidden_state
        pooled = _pool(target, target_attention_mask, self.config.target_pooling)
        text_side = getattr(self, f"{kind}_text_projection")(pooled)
        return F.normalize(video_side, dim=-1), F.normalize(text_side, dim=-1), fused.attentions

    def _masked_infonce(self, video_side, text_side, valid, logit_scale, target_keys=None) -> torch.Tensor:
        """Eqs. 5/6 over the rows that have a removed word, gathered across processes; exact 0 if there is none.

        Unless `shared_targets_as_negatives`, a column whose removed words equal the row's (same `target_keys`)
        leaves the denominator: it is the same target, not a negative.
        """
        if valid is None:
            valid = torch.ones(video_side.shape[0], dtype=torch.bool, device=video_side.device)
        video_side = all_gather_with_grad(video_side)
        text_side = all_gather_with_grad(text_side)
        valid = all_gather_with_grad(valid.to(video_side.dtype).reshape(-1)) > 0.5
        if not bool(valid.any()):
            return (video_side.sum() + text_side.sum()) * 0.0
        logits = logit_scale * text_side[valid] @ video_side[valid].t()  # (words, fused videos)
        if target_keys is not None and not self.config.shared_targets_as_negatives:
            keys = all_gather_with_grad(target_keys)[valid]
            shared = (keys[:, None] == keys[None, :]) & ~torch.eye(len(keys), dtype=torch.bool, device=keys.device)
            logits = logits.masked_fill(shared, torch.finfo(logits.dtype).min)
        return symmetric_infonce(logits)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        noun_query_input_ids: torch.LongTensor | None = None,
        noun_query_attention_mask: torch.Tensor | None = None,
        noun_target_input_ids: torch.LongTensor | None = None,
        noun_target_attention_mask: torch.Tensor | None = None,
        noun_valid: torch.Tensor | None = None,
        verb_query_input_ids: torch.LongTensor | None = None,
        verb_query_attention_mask: torch.Tensor | None = None,
        verb_target_input_ids: torch.LongTensor | None = None,
        verb_target_attention_mask: torch.Tensor | None = None,
        verb_valid: torch.Tensor | None = None,
        return_loss: bool = True,
        output_attentions: bool = False,
        return_dict: bool | None = None,
    ) -> DualAlignOutput | tuple:
        r"""
        Args:
            input_ids / attention_mask (`(batch_size, seq_len)`): the full captions; caption i describes video i.
            pixel_values_videos (`(batch_size, num_frames, 3, height, width)`): the videos.
            noun_query_input_ids / noun_query_attention_mask: the captions with their nouns removed (Eq. 5 query).
            noun_target_input_ids / noun_target_attention_mask: the removed nouns as their own short text.
            noun_valid (`(batch_size,)` bool): rows whose caption has at least one noun; others are left out of L2.
            verb_*: the same for verbs (Eq. 6).
            return_loss: compute the enabled loss terms (default True, so `Trainer` knows the model returns a loss).
            output_attentions: also return the multimodal-encoder cross-attention probabilities.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        if input_ids is None or pixel_values_videos is None:
            raise ValueError("DualAlignModel.forward needs `input_ids` and `pixel_values_videos`")

        video_tokens, vision_outputs = self.get_video_tokens(pixel_values_videos)
        video_embeds = self._video_embeds(video_tokens)  # v_bar
        text_embeds, text_outputs = self._text_embeds(input_ids, attention_mask)  # t_bar
        logit_scale = self._logit_scale()
        logits_per_text = logit_scale * text_embeds @ video_embeds.t()  # s(v, t) / tau, Eq. 1
        logits_per_video = logits_per_text.t()

        cfg = self.config
        branches = {}
        for kind, enabled, inputs in (
            ("noun", cfg.use_noun_loss, (noun_query_input_ids, noun_query_attention_mask, noun_target_input_ids,
                                         noun_target_attention_mask, noun_valid)),
            ("verb", cfg.use_verb_loss, (verb_query_input_ids, verb_query_attention_mask, verb_target_input_ids,
                                         verb_target_attention_mask, verb_valid)),
        ):  # fmt: skip
            query_ids, query_mask, target_ids, target_mask, valid = inputs
            wanted = (return_loss and enabled) or output_attentions
            if not wanted:
                continue
            if query_ids is None or target_ids is None:
                if return_loss and enabled:
                    logger.warning_once(
                        f"use_{kind}_loss=True but no `{kind}_query_input_ids` / `{kind}_target_input_ids` were "
                        f"given: the {kind} term (Eq. {5 if kind == 'noun' else 6}) is skipped. Pass `{kind}s=` to "
                        f"the processor, or set `use_{kind}_loss=False`."
                    )
                continue
            branches[kind] = (
                *self.get_word_alignment(
                    kind, video_tokens, query_ids, query_mask, target_ids, target_mask, output_attentions
                ),
                valid,
            )

        loss = loss_global = loss_noun = loss_verb = None
        if return_loss:
            terms = []
            if cfg.use_global_loss:
                all_text = all_gather_with_grad(text_embeds)
                all_video = all_gather_with_grad(video_embeds)
                loss_global = symmetric_infonce(logit_scale * all_text @ all_video.t())  # L1, Eq. 4
                terms.append(cfg.global_loss_weight * loss_global)
            if cfg.use_noun_loss and "noun" in branches:
                video_side, text_side, _, valid = branches["noun"]
                keys = _text_keys(noun_target_input_ids, noun_target_attention_mask)
                loss_noun = self._masked_infonce(video_side, text_side, valid, logit_scale, keys)  # L2, Eq. 5
                terms.append(cfg.noun_loss_weight * loss_noun)
            if cfg.use_verb_loss and "verb" in branches:
                video_side, text_side, _, valid = branches["verb"]
                keys = _text_keys(verb_target_input_ids, verb_target_attention_mask)
                loss_verb = self._masked_infonce(video_side, text_side, valid, logit_scale, keys)  # L3, Eq. 6
                terms.append(cfg.verb_loss_weight * loss_verb)
            if terms:
                loss = torch.stack(terms).sum()  # Eq. 7

        noun = branches.get("noun", (None, None, None, None))
        verb = branches.get("verb", (None, None, None, None))
        output = DualAlignOutput(
            loss=loss,
            loss_global=loss_global,
            loss_noun=loss_noun,
            loss_verb=loss_verb,
            logits_per_text=logits_per_text,
            logits_per_video=logits_per_video,
            text_embeds=text_embeds,
            video_embeds=video_embeds,
            noun_video_embeds=noun[0],
            noun_text_embeds=noun[1],
            verb_video_embeds=verb[0],
            verb_text_embeds=verb[1],
            fusion_attentions=noun[2] if noun[2] is not None else verb[2],
            noun_fusion_attentions=noun[2],
            verb_fusion_attentions=verb[2],
            text_model_output=text_outputs,
            vision_model_output=vision_outputs,
        )
        return output if return_dict else output.to_tuple()

    # ----------------------------------------------------------------------------------------------- loading
    @classmethod
    def from_pretrained_backbones(
        cls,
        vision: str = "google/vit-base-patch16-224-in21k",
        text: str | None = "distilbert-base-uncased",
        text_encoder: str | None = None,
        **config_kwargs,
    ) -> DualAlignModel:
        """Build the model with pretrained towers (Hub ids or local folders).

        Args:
            vision: a ViT checkpoint (`model_type == "vit"`, e.g. the paper's ImageNet-21k
                `google/vit-base-patch16-224-in21k`) -> TimeSformer initialised the TimeSformer-paper way (see
                `vit_to_timesformer_state_dict`); or a TimeSformer checkpoint (e.g.
                `facebook/timesformer-base-finetuned-k400`) loaded directly (its time embeddings are resized with
                nearest interpolation when `num_frames` differs, as TimeSformer does at run time).
            text: the text encoder checkpoint (DistilBERT, `distilbert-base-uncased`).
            text_encoder: alias of `text` (this model has a single text tower, an encoder).
            config_kwargs: other `DualAlignConfig` fields (`num_frames`, `projection_dim`, loss switches, ...).
        """
        text = text_encoder if text_encoder is not None else text
        if text is None:
            raise ValueError("from_pretrained_backbones: `text` (the text encoder checkpoint) is required")
        vision_source = AutoConfig.from_pretrained(vision)
        num_frames = config_kwargs.get("num_frames")
        if vision_source.model_type == "vit":
            vit = AutoModel.from_pretrained(vision)
            vision_config = timesformer_config_from_vit(vit.config, num_frames=num_frames or 8)
            vision_state = vit_to_timesformer_state_dict(vit.state_dict(), vision_config)
        elif vision_source.model_type == "timesformer":
            timesformer = AutoModel.from_pretrained(vision)
            vision_config = timesformer.config
            vision_state = timesformer.state_dict()
            if num_frames is not None:
                vision_state = resize_time_embeddings(vision_state, num_frames)
        else:
            raise ValueError(
                f"from_pretrained_backbones: `vision` must be a ViT or TimeSformer checkpoint, got model_type "
                f"{vision_source.model_type!r} for {vision!r}"
            )
        text_model = AutoModel.from_pretrained(text)
        config = cls.config_class(vision_config=vision_config.to_dict(), text_config=text_model.config, **config_kwargs)
        model = cls(config)
        missing, unexpected = model.vision_model.load_state_dict(vision_state, strict=False)
        if missing or unexpected:
            raise ValueError(f"vision weights from {vision!r} do not fit: missing {missing}, unexpected {unexpected}")
        model.text_model.load_state_dict(text_model.state_dict())
        return model


# Copied from videotext.modeling.shared_blocks.resize_time_embeddings
def resize_time_embeddings(state_dict_or_tensor, num_frames: int, key: str = "embeddings.time_embeddings"):
    """TimeSformer time embeddings `(1, T_old, D)` resized to `(1, num_frames, D)` by NEAREST interpolation.

    Nearest is what `TimesformerEmbeddings.forward` (and the original TimeSformer code) does at run time when the clip
    length differs from the checkpoint's, so a model built with the resized table embeds a `num_frames` clip exactly
    as the unresized checkpoint would. Takes the tensor or a state dict (a new dict is returned with `key` resized;
    a state dict without `key`, e.g. "space_only" attention, is returned as is).
    """
    if isinstance(state_dict_or_tensor, dict):
        if key not in state_dict_or_tensor:
            return state_dict_or_tensor
        return {**state_dict_or_tensor, key: resize_time_embeddings(state_dict_or_tensor[key], num_frames)}
    time_embed = state_dict_or_tensor
    if time_embed.shape[1] == num_frames:
        return time_embed
    resized = torch.nn.functional.interpolate(time_embed.transpose(1, 2), size=num_frames, mode="nearest")  # (1, D, T)
    return resized.transpose(1, 2).contiguous()  # (1, T, D)


def timesformer_config_from_vit(vit_config, num_frames: int = 8):
    """A divided space-time `TimesformerConfig` with the shape of a ViT config (image size, patch, widths, eps)."""
    values = {
        name: getattr(vit_config, name)
        for name in (
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "hidden_act",
            "hidden_dropout_prob",
            "attention_probs_dropout_prob",
            "initializer_range",
            "layer_norm_eps",
            "image_size",
            "patch_size",
            "num_channels",
            "qkv_bias",
        )
        if hasattr(vit_config, name)
    }
    return AutoConfig.for_model("timesformer", num_frames=num_frames, attention_type="divided_space_time", **values)


def _find(state: dict, *names: str) -> torch.Tensor | None:
    for name in names:
        if name in state:
            return state[name]
    return None


def vit_to_timesformer_state_dict(vit_state: dict, timesformer_config) -> dict:
    """Map a ViT (`ViTModel`) state dict onto a divided space-time TimeSformer (`TimesformerModel`).

    TimeSformer-paper initialisation, per block `encoder.layer.{i}` (ViT names of transformers 5 / legacy 4.x):

    | TimeSformer                                   | ViT                                                        |
    |-----------------------------------------------|------------------------------------------------------------|
    | attention.attention.qkv (fused q, k, v)       | layers.{i}.attention.{q,k,v}_proj  / attention.attention.{query,key,value} |
    | attention.output.dense                        | layers.{i}.attention.o_proj        / attention.output.dense |
    | layernorm_before, layernorm_after             | layernorm_before, layernorm_after                          |
    | intermediate.dense, output.dense              | mlp.fc1, mlp.fc2                   / intermediate.dense, output.dense |
    | temporal_attention.* (same as spatial)        | copy of the spatial attention                              |
    | temporal_layernorm                            | copy of layernorm_before                                   |
    | temporal_dense                                | zeros (each block starts as the image model)               |

    Embeddings: patch projection, [CLS], position embeddings and the final layer norm are copied; time embeddings are
    zero. With a zero `temporal_dense`, a static video gives every frame exactly the ViT image tokens.
    """
    cfg = timesformer_config
    out: dict[str, torch.Tensor] = {}
    for name in (
        "embeddings.cls_token",
        "embeddings.position_embeddings",
        "embeddings.patch_embeddings.projection.weight",
        "embeddings.patch_embeddings.projection.bias",
        "layernorm.weight",
        "layernorm.bias",
    ):
        out[name] = vit_state[name].clone()
    out["embeddings.time_embeddings"] = torch.zeros(1, cfg.num_frames, cfg.hidden_size)
    for i in range(cfg.num_hidden_layers):
        new, old = f"layers.{i}.", f"encoder.layer.{i}."
        tgt = f"encoder.layer.{i}."
        params = {}
        for suffix in ("weight", "bias"):
            q = _find(vit_state, f"{new}attention.q_proj.{suffix}", f"{old}attention.attention.query.{suffix}")
            k = _find(vit_state, f"{new}attention.k_proj.{suffix}", f"{old}attention.attention.key.{suffix}")
            v = _find(vit_state, f"{new}attention.v_proj.{suffix}", f"{old}attention.attention.value.{suffix}")
            if q is not None:
                params[f"attention.qkv.{suffix}"] = torch.cat([q, k, v], dim=0)
            params[f"output.dense.{suffix}"] = _find(
                vit_state, f"{new}attention.o_proj.{suffix}", f"{old}attention.output.dense.{suffix}"
            )
            for block in ("layernorm_before", "layernorm_after"):
                out[f"{tgt}{block}.{suffix}"] = _find(
                    vit_state, f"{new}{block}.{suffix}", f"{old}{block}.{suffix}"
                ).clone()
            out[f"{tgt}intermediate.dense.{suffix}"] = _find(
                vit_state, f"{new}mlp.fc1.{suffix}", f"{old}intermediate.dense.{suffix}"
            ).clone()
            out[f"{tgt}output.dense.{suffix}"] = _find(
                vit_state, f"{new}mlp.fc2.{suffix}", f"{old}output.dense.{suffix}"
            ).clone()
            out[f"{tgt}temporal_layernorm.{suffix}"] = out[f"{tgt}layernorm_before.{suffix}"].clone()
        for name, tensor in params.items():
            if tensor is None:
                raise ValueError(f"ViT state dict has no weights for block {i} ({name})")
            out[f"{tgt}attention.{name}"] = tensor.clone()
            out[f"{tgt}temporal_attention.{name}"] = tensor.clone()
        out[f"{tgt}temporal_dense.weight"] = torch.zeros(cfg.hidden_size, cfg.hidden_size)
        out[f"{tgt}temporal_dense.bias"] = torch.zeros(cfg.hidden_size)
    return out


__all__ = [
    "DualAlignFusionOutput",
    "DualAlignModel",
    "DualAlignOutput",
    "DualAlignPreTrainedModel",
    "timesformer_config_from_vit",
    "vit_to_timesformer_state_dict",
]
