"""CLIP4VideoCap: CLIP frames, multi-scale temporal fusion, Vis2Text distillation, commonsense sub-decoders, LLM decoder.

Paper: "CLIP4VideoCap: Rethinking CLIP for Video Captioning with Multiscale Temporal Fusion and Commonsense
Knowledge" (Mahmud et al.). The model:

1. Eq. 1: the CLIP image encoder E_I encodes each frame; its pooled output through CLIP's `visual_projection` is the
   frame feature v_i (CLIP's joint space, width `projection_dim`).
2. Eq. 2, Fig. 3: multi-scale temporal fusion F. Scale 0 fuses the n frame features; scale s > 0 squeezes the
   previous scale's output by `fusion_squeeze_factor` (average pooling over time) and fuses it again, so each scale
   sees a coarser temporal window. Each scale's block is an LSTM, a Transformer encoder (with frame positions) or a
   Conv1D stack, with a residual connection; every scale's output is expanded back to n steps (each step takes the
   value of the coarse step that covers it) and the scales are averaged: f_1..f_n.
3. Eqs. 3-4: Vis2Text vt_i = ReLU(F_2(ReLU(F_1(f_i)))) per fused feature.
4. Eqs. 5-6: T_CLIP = the CLIP text encoder E_T's feature of the ground-truth caption (pooled at the last real
   token, through CLIP's `text_projection`), computed without gradient; L_distill = mean |T_CLIP - vt_i| over the
   n features and the feature width (the caption feature is the target of every vt_i: the paper's n-indexed T_CLIP
   has no other reading that pairs frames with one caption). The text tower is needed in training only.
5. Commonsense sub-decoders (Eq. 7, Table 5): one per aspect (intention, effect, attribute), each a small causal LM
   (`commonsense_config`) whose input is [grounded features ; q learnable queries ; aspect text]. The grounded
   features are [f_i ; vt_i] projected to its width. It is trained with next-token cross entropy on the aspect text
   (V2C annotations, alpha_2..alpha_4).
   How the sub-decoders feed the caption decoder (the paper only says their outputs "enrich" the caption): the
   last-layer states at the q query positions are the aspect's features. Causal attention keeps them independent
   of the aspect text, so they are the same in training (teacher forcing) and at inference (no annotation), they
   carry what the sub-decoder learned to say about the aspect, and the caption loss back-propagates into the
   sub-decoders. Decoding the aspect text first and re-encoding it would cut that gradient and make training and
   inference differ.
6. Caption decoder: any causal LM (`text_config`) with the prefix [W_f f ; W_vt vt ; W_c aspect features]
   (2n + 3q vectors), next-token cross entropy on the caption (L_cap). Eq. 8: L = w_distill * L_distill +
   alpha_1 L_cap + alpha_2 L_int + alpha_3 L_eff + alpha_4 L_att.

`train_stage="clip"` computes CLIP's symmetric InfoNCE between the mean fused feature of a clip and its caption
feature (CLIP4Clip's mean-pooled temporal head). With pretrained CLIP towers it is not needed; without them (the tiny
CPU recipe) it trains the teacher that Eq. 6 then distils from.

Generation follows BLIP-2: `generate()` computes the prefix once and calls `self.language_model.generate(
inputs_embeds=...)` (greedy / beam / nucleus, KV cache). `generate(..., return_commonsense=True)` also decodes the
three commonsense texts greedily from the sub-decoders.

References: CLIP4Clip (https://github.com/ArrowLuo/CLIP4Clip, seqLSTM / seqTransf temporal heads), V2C
(https://github.com/jacobswan1/Video2Commonsense), ClipCap (prefix decoding).

Hub code: imports only stdlib, torch, transformers' public API and siblings.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoModelForCausalLM, GenerationConfig, GenerationMixin, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_clip4videocap import ASPECTS, Clip4VideoCapConfig


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


# Copied from videotext.modeling.shared_blocks.generation_cache_name
def generation_cache_name() -> str:
    """The name transformers' generation gives the decoder cache: `cache` from 5.24 on, `past_key_values` before."""
    params = inspect.signature(GenerationMixin.prepare_inputs_for_generation).parameters
    return "cache" if "cache" in params else "past_key_values"


# Copied from videotext.modeling.shared_blocks.with_cache_field
def with_cache_field(output_fields: type, name: str) -> type:
    """The ModelOutput dataclass `output_fields` plus a last field for the decoder cache, named as the installed
    transformers reads it (`generation_cache_name()`): 5.24 renames `past_key_values=` to `cache=` in every output's
    `__init__`, and 5.23 reads only `past_key_values`, so no one fixed field name constructs and generates on both."""
    field = (generation_cache_name(), Any, dataclasses.field(default=None))
    output_cls = dataclasses.make_dataclass(name, [field], bases=(output_fields,))
    output_cls.__module__, output_cls.__doc__ = output_fields.__module__, output_fields.__doc__
    return output_cls


# Copied from videotext.modeling.shared_blocks.generation_setup
def generation_setup(generation_config, default_config, generate_kwargs: dict) -> tuple[Any, dict]:
    """(a copy of `generation_config`, else of `default_config`, updated with the generation knobs among
    `generate_kwargs`; the remaining model kwargs). A missing `pad_token_id` falls back to the (first) EOS id."""
    config = copy.deepcopy(generation_config if generation_config is not None else default_config)
    model_kwargs = config.update(**generate_kwargs)  # generation knobs go into the copy, the rest to the model
    if config.pad_token_id is None and config.eos_token_id is not None:
        eos = config.eos_token_id
        config.pad_token_id = eos[0] if isinstance(eos, (list, tuple)) else eos
    return config, model_kwargs


CACHE_NAME = generation_cache_name()


@dataclass
class _Clip4VideoCapOutputFields(ModelOutput):
    r"""
    Output of [`Clip4VideoCapForConditionalGeneration.forward`].

    Args:
        loss (`torch.FloatTensor` of shape `()`): Eq. 8 (stage "caption": the weighted terms the inputs allow) or
            CLIP's InfoNCE (stage "clip").
        caption_loss (`torch.FloatTensor` of shape `()`): L_cap of Eq. 7, next-token cross entropy on the caption.
        distillation_loss (`torch.FloatTensor` of shape `()`): Eq. 6, mean L1 between T_CLIP and T_Vis2Text.
        intention_loss / effect_loss / attribute_loss (`torch.FloatTensor` of shape `()`): L_int / L_eff / L_att.
        contrastive_loss (`torch.FloatTensor` of shape `()`): stage "clip", symmetric InfoNCE (all processes).
        logits (`torch.FloatTensor` of shape `(batch_size, prefix_length + sequence_length, vocab_size)`): caption
            decoder logits (prefix positions included). `None` in stage "clip".
        logits_per_text (`torch.FloatTensor` of shape `(num_texts, num_videos)`): stage "clip" similarity logits.
        video_embeds / text_embeds (`torch.FloatTensor` of shape `(batch_size, projection_dim)`): stage "clip",
            normalised mean fused feature / caption feature.
        frame_features (`torch.FloatTensor` of shape `(batch_size, frames, projection_dim)`): v_i (Eq. 1).
        fused_features (`torch.FloatTensor` of shape `(batch_size, frames, projection_dim)`): f_i (Eq. 2).
        vis2text_features (`torch.FloatTensor` of shape `(batch_size, frames, projection_dim)`): vt_i (Eqs. 3-4).
        commonsense_features (`dict[str, torch.FloatTensor]`, each `(batch_size, queries, commonsense_width)`).
        prefix (`torch.FloatTensor` of shape `(batch_size, prefix_length, decoder_hidden_size)`).
        cache / past_key_values (`Cache`): the caption decoder's cache, under `CACHE_NAME`.
    """

    loss: torch.FloatTensor | None = None
    caption_loss: torch.FloatTensor | None = None
    distillation_loss: torch.FloatTensor | None = None
    intention_loss: torch.FloatTensor | None = None
    effect_loss: torch.FloatTensor | None = None
    attribute_loss: torch.FloatTensor | None = None
    contrastive_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None
    video_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    frame_features: torch.FloatTensor | None = None
    fused_features: torch.FloatTensor | None = None
    vis2text_features: torch.FloatTensor | None = None
    commonsense_features: dict | None = None
    prefix: torch.FloatTensor | None = None


Clip4VideoCapOutput = with_cache_field(_Clip4VideoCapOutputFields, "Clip4VideoCapOutput")


@dataclass
class Clip4VideoCapGenerationOutput(ModelOutput):
    r"""
    `generate(..., return_commonsense=True)`: the caption ids and, per aspect with a sub-decoder, its generated ids.

    Args:
        sequences (`torch.LongTensor` of shape `(batch_size * num_return_sequences, new_tokens)`): caption ids.
        intention / effect / attribute (`torch.LongTensor` of shape `(batch_size, new_tokens)`): greedy aspect ids
            (`None` for an aspect without a sub-decoder). `processor.decode_commonsense(output)` gives the texts.
    """

    sequences: torch.LongTensor | None = None
    intention: torch.LongTensor | None = None
    effect: torch.LongTensor | None = None
    attribute: torch.LongTensor | None = None


class TemporalFusionBlock(nn.Module):
    """The fusion block of one temporal scale (Fig. 3): LSTM | Transformer encoder | Conv1D, with a residual."""

    def __init__(self, config: Clip4VideoCapConfig):
        super().__init__()
        dim, self.kind = config.projection_dim, config.fusion_type
        if self.kind == "lstm":
            self.lstm = nn.LSTM(dim, dim, num_layers=config.fusion_num_layers, batch_first=True,
                                dropout=config.fusion_dropout if config.fusion_num_layers > 1 else 0.0)  # fmt: skip
        elif self.kind == "transformer":
            # frame positions: self-attention alone would not see the order of the frames
            self.position_embedding = nn.Embedding(config.num_frames, dim)
            layer = nn.TransformerEncoderLayer(dim, config.fusion_num_heads, dim_feedforward=4 * dim,
                                               dropout=config.fusion_dropout, activation="gelu", batch_first=True,
                                               norm_first=True)  # fmt: skip
            self.encoder = nn.TransformerEncoder(layer, config.fusion_num_layers, enable_nested_tensor=False)
        else:
            layers = []
            for _ in range(config.fusion_num_layers):
                layers += [nn.Conv1d(dim, dim, config.fusion_kernel_size, padding=config.fusion_kernel_size // 2),
                           nn.GELU(), nn.Dropout(config.fusion_dropout)]  # fmt: skip
            self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, m, D)
        if self.kind == "lstm":
            return x + self.lstm(x)[0]
        if self.kind == "transformer":
            positions = torch.arange(x.shape[1], device=x.device).clamp(max=self.position_embedding.num_embeddings - 1)
            return self.encoder(x + self.position_embedding(positions))
        return x + self.conv(x.transpose(1, 2)).transpose(1, 2)  # Conv1d runs on (B, D, m)


class MultiScaleTemporalFusion(nn.Module):
    """Eq. 2 / Fig. 3: squeeze -> fuse -> expand on `fusion_num_scales` scales, then average the scales."""

    def __init__(self, config: Clip4VideoCapConfig):
        super().__init__()
        self.factor = config.fusion_squeeze_factor
        self.blocks = nn.ModuleList(TemporalFusionBlock(config) for _ in range(config.fusion_num_scales))

    def squeeze(self, x: torch.Tensor) -> torch.Tensor:
        """(B, m, D) -> (B, ceil(m / factor), D) by temporal average pooling (a last partial window averages what
        it holds)."""
        if x.shape[1] == 1:
            return x
        pooled = F.avg_pool1d(x.transpose(1, 2), self.factor, self.factor, ceil_mode=True)  # (B, D, ceil(m/f))
        return pooled.transpose(1, 2)

    @staticmethod
    def expand(x: torch.Tensor, length: int) -> torch.Tensor:
        """(B, m, D) -> (B, length, D): step i takes coarse step floor(i * m / length), the one whose window holds it."""
        index = torch.div(torch.arange(length, device=x.device) * x.shape[1], length, rounding_mode="floor")
        return x.index_select(1, index)

    def forward(self, frame_features: torch.Tensor) -> torch.Tensor:  # (B, n, D) -> (B, n, D)
        n = frame_features.shape[1]
        x, scales = frame_features, []
        for s, block in enumerate(self.blocks):
            if s > 0:
                x = self.squeeze(x)  # (B, ceil(m / factor), D)
            x = block(x)
            scales.append(self.expand(x, n))  # (B, n, D)
        return torch.stack(scales, dim=0).mean(dim=0)


class Vis2Text(nn.Module):
    """Eqs. 3-4: vt_i = sigma_2(F_2(sigma_1(F_1(f_i)))) for every fused feature."""

    def __init__(self, config: Clip4VideoCapConfig):
        super().__init__()
        dim = config.projection_dim
        hidden = config.vis2text_intermediate_size or dim
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.final_activation = config.vis2text_final_activation

    def forward(self, fused: torch.Tensor) -> torch.Tensor:
        out = self.fc2(F.relu(self.fc1(fused)))
        return F.relu(out) if self.final_activation else out


class CommonsenseSubDecoder(nn.Module):
    """One aspect's sub-decoder: a causal LM over [grounded features ; queries ; aspect text] (module docstring, 5)."""

    def __init__(self, config: Clip4VideoCapConfig):
        super().__init__()
        width = config.commonsense_config.hidden_size
        self.input_projection = nn.Linear(2 * config.projection_dim, width)
        self.queries = nn.Parameter(torch.zeros(config.num_commonsense_queries, width))
        self.decoder = AutoModelForCausalLM.from_config(config.commonsense_config)

    def prefix(self, grounded: torch.Tensor) -> torch.Tensor:
        """(B, n, 2D) -> (B, n + q, width)."""
        queries = self.queries.unsqueeze(0).expand(grounded.shape[0], -1, -1)  # (B, q, width)
        return torch.cat([self.input_projection(grounded), queries.to(grounded.dtype)], dim=1)

    def forward(self, grounded: torch.Tensor, input_ids=None, attention_mask=None, labels=None):
        """-> (query features `(B, q, width)`, next-token loss on the aspect text or None)."""
        prefix = self.prefix(grounded)  # (B, n + q, W)
        embeds, mask = prefix, torch.ones(prefix.shape[:2], dtype=torch.long, device=prefix.device)
        if input_ids is not None:
            if attention_mask is None:
                attention_mask = torch.ones_like(input_ids)
            embeds = torch.cat([prefix, self.decoder.get_input_embeddings()(input_ids)], dim=1)  # (B, n + q + S, W)
            mask = torch.cat([mask, attention_mask.to(mask.dtype)], dim=1)
        out = self.decoder(inputs_embeds=embeds, attention_mask=mask, output_hidden_states=True, use_cache=False)
        num_queries = self.queries.shape[0]
        start = grounded.shape[1]
        features = out.hidden_states[-1][:, start : start + num_queries]  # (B, q, W): causal, text-independent
        loss = None
        if labels is not None:
            loss = _next_token_loss(out.logits, labels, prefix.shape[1])
        return features, loss


def _next_token_loss(logits: torch.Tensor, labels: torch.Tensor, prefix_len: int) -> torch.Tensor:
    """Mean cross entropy of position i predicting token i + 1 over the text labels (prefix positions ignored)."""
    ignore = torch.full((labels.shape[0], prefix_len), -100, dtype=labels.dtype, device=labels.device)
    full = torch.cat([ignore, labels], dim=1).to(logits.device)  # (B, P + S)
    shift_logits = logits[:, :-1].float()
    return F.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]), full[:, 1:].reshape(-1), ignore_index=-100)


class Clip4VideoCapPreTrainedModel(PreTrainedModel):
    config_class = Clip4VideoCapConfig
    config: Clip4VideoCapConfig
    base_model_prefix = "clip4videocap"
    main_input_name = "pixel_values_videos"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["TransformerEncoderLayer", "CommonsenseSubDecoder"]
    _supports_sdpa = True
    _supports_attention_backend = True
    # forward computes the mean loss itself (it does not take `num_items_in_batch`): let Trainer scale it.
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module):
        """Initialise CLIP4VideoCap's own modules only; the towers (sub-`PreTrainedModel`s) initialise themselves."""
        std = self.config.initializer_range
        if isinstance(module, (nn.Linear, nn.Conv1d)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.MultiheadAttention):
            nn.init.normal_(module.in_proj_weight, mean=0.0, std=std)
            nn.init.zeros_(module.in_proj_bias)
        elif isinstance(module, nn.LSTM):
            for name, param in module.named_parameters():
                nn.init.zeros_(param) if name.startswith("bias") else nn.init.normal_(param, mean=0.0, std=std)
        elif isinstance(module, CommonsenseSubDecoder):
            nn.init.normal_(module.queries, mean=0.0, std=std)
        elif isinstance(module, Clip4VideoCapForConditionalGeneration) and module.logit_scale is not None:
            nn.init.constant_(module.logit_scale, self.config.logit_scale_init_value)


class Clip4VideoCapForConditionalGeneration(Clip4VideoCapPreTrainedModel, GenerationMixin):
    """CLIP4VideoCap video captioner (see the module docstring for the pipeline and the equations).

    Submodules: `vision_model` (CLIP vision tower) + `visual_projection`, `temporal_fusion`, `vis2text`,
    `commonsense_decoders` (one `CommonsenseSubDecoder` per enabled aspect), `fused_projection` /
    `vis2text_projection` / `commonsense_projection` (prefix maps to the decoder width), `language_model` (the
    caption decoder; LoRA targets live under this prefix) and, when `use_clip_text_model`, `text_encoder` (CLIP text
    tower) + `text_projection` + `logit_scale` (frozen unless `freeze_clip_text_model=False`).

    `save_pretrained` leaves the CLIP text tower out unless `config.save_clip_text_model` (or
    `save_clip_text_model=True`): the saved config then says `use_clip_text_model=False` and the folder still captions.
    """

    _TEACHER = ("text_encoder.", "text_projection.", "logit_scale")

    def __init__(self, config: Clip4VideoCapConfig):
        super().__init__(config)
        dim, lm_width = config.projection_dim, config.text_config.hidden_size
        self.vision_model = AutoModel.from_config(config.vision_config)
        self.visual_projection = nn.Linear(config.vision_config.hidden_size, dim, bias=False)
        self.temporal_fusion = MultiScaleTemporalFusion(config)
        self.vis2text = Vis2Text(config)
        self.commonsense_decoders = nn.ModuleDict({a: CommonsenseSubDecoder(config) for a in config.aspects})
        self.fused_projection = nn.Linear(dim, lm_width)
        self.vis2text_projection = nn.Linear(dim, lm_width)
        self.commonsense_projection = (
            nn.Linear(config.commonsense_config.hidden_size, lm_width) if config.aspects else None
        )
        self.language_model = AutoModelForCausalLM.from_config(config.text_config)
        if config.use_clip_text_model:
            self.text_encoder = AutoModel.from_config(config.clip_text_config)
            self.text_projection = nn.Linear(config.clip_text_config.hidden_size, dim, bias=False)
            self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init_value)))
        else:
            self.text_encoder = self.text_projection = self.logit_scale = None
        self.post_init()
        if config.use_clip_text_model and config.freeze_clip_text_model:
            for param in self._teacher_parameters():
                param.requires_grad_(False)

    def post_init(self):
        super().post_init()
        # transformers gathers tied weights (GPT-2's lm_head = wte) from direct children only; the sub-decoders sit
        # deeper, and without their ties a reloaded folder would miss their output heads
        tied = getattr(self, "all_tied_weights_keys", None)
        if tied is not None:
            for aspect, sub in self.commonsense_decoders.items():
                prefix = f"commonsense_decoders.{aspect}.decoder"
                for target, source in (getattr(sub.decoder, "all_tied_weights_keys", None) or {}).items():
                    tied[f"{prefix}.{target}"] = f"{prefix}.{source}"

    def _teacher_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if n.startswith(self._TEACHER)]

    # ----------------------------------------------------------------------------------------------- embeddings
    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.language_model.get_output_embeddings()

    def set_output_embeddings(self, new_embeddings: nn.Module) -> None:
        self.language_model.set_output_embeddings(new_embeddings)

    @property
    def has_commonsense(self) -> bool:
        """Whether the model has sub-decoders (and `generate(..., return_commonsense=True)` returns texts)."""
        return len(self.commonsense_decoders) > 0

    # ------------------------------------------------------------------------------------------------- features
    def get_frame_features(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """Eq. 1: `(B, T, 3, H, W)` -> v `(B, T, projection_dim)` (CLIP image features of every frame)."""
        batch, frames = pixel_values_videos.shape[:2]
        pixels = pixel_values_videos.flatten(0, 1)  # (B * T, 3, H, W)
        pooled = self.vision_model(pixel_values=pixels).pooler_output  # (B * T, D_v)
        return self.visual_projection(pooled).view(batch, frames, -1)  # (B, T, D)

    def get_caption_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        """Eq. 5: T_CLIP `(B, projection_dim)`, the CLIP text tower's caption feature (pooled at the last real token,
        which is the end token for CLIP's tokenizer, then `text_projection`)."""
        if self.text_encoder is None:
            raise ValueError("the CLIP text tower was not saved with this model (use_clip_text_model=False)")
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        hidden = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, S, D_t)
        last = (attention_mask.sum(dim=1) - 1).clamp(min=0)  # (B,)
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]  # (B, D_t)
        return self.text_projection(pooled)

    def encode_video(self, pixel_values_videos: torch.Tensor) -> dict[str, Any]:
        """v (Eq. 1), f (Eq. 2), vt (Eqs. 3-4) and the grounded features [f ; vt] of the sub-decoders."""
        frame = self.get_frame_features(pixel_values_videos)  # (B, n, D)
        fused = self.temporal_fusion(frame)  # (B, n, D)
        vis2text = self.vis2text(fused)  # (B, n, D)
        return {"frame": frame, "fused": fused, "vis2text": vis2text, "grounded": torch.cat([fused, vis2text], -1)}

    def build_prefix(self, encoded: dict[str, Any], commonsense: dict[str, torch.Tensor]) -> torch.Tensor:
        """[W_f f ; W_vt vt ; W_c c_intention ; W_c c_effect ; W_c c_attribute] -> `(B, 2n + A q, D_lm)`."""
        parts = [self.fused_projection(encoded["fused"]), self.vis2text_projection(encoded["vis2text"])]
        parts += [self.commonsense_projection(commonsense[a]) for a in self.config.aspects]
        return torch.cat(parts, dim=1)

    def get_prefix(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """The caption decoder's visual prefix `(B, prefix_length, D_lm)` (what generation conditions on)."""
        encoded = self.encode_video(pixel_values_videos)
        commonsense = {a: self.commonsense_decoders[a](encoded["grounded"])[0] for a in self.config.aspects}
        return self.build_prefix(encoded, commonsense)

    def _merge_prefix(self, prefix, input_ids, inputs_embeds, attention_mask):
        """[prefix ; text] embeddings `(B, P + S, D)` and their attention mask `(B, P + S)`."""
        batch_size, prefix_len = prefix.shape[:2]
        if inputs_embeds is None and input_ids is not None:
            inputs_embeds = self.get_input_embeddings()(input_ids)  # (B, S, D)
        prefix_mask = torch.ones(batch_size, prefix_len, dtype=torch.long, device=prefix.device)
        if inputs_embeds is None:
            return prefix, prefix_mask
        if attention_mask is None:
            attention_mask = torch.ones(inputs_embeds.shape[:2], dtype=torch.long, device=inputs_embeds.device)
        embeds = torch.cat([prefix.to(inputs_embeds.dtype), inputs_embeds], dim=1)  # (B, P + S, D)
        mask = torch.cat([prefix_mask, attention_mask.to(prefix_mask.dtype)], dim=1)  # (B, P + S)
        return embeds, mask

    def _clip_loss(self, encoded, text_encoder_input_ids, text_encoder_attention_mask):
        """Stage "clip": symmetric InfoNCE between the normalised mean fused feature and the caption feature."""
        if text_encoder_input_ids is None:
            raise ValueError("train_stage='clip' needs `text_encoder_input_ids` (processor(..., return_labels=True))")
        video_embeds = F.normalize(encoded["fused"].mean(dim=1), dim=-1)  # (B, D)
        text_embeds = F.normalize(
            self.get_caption_features(text_encoder_input_ids, text_encoder_attention_mask), dim=-1
        )
        all_video, all_text = all_gather_with_grad(video_embeds), all_gather_with_grad(text_embeds)  # (world * B, D)
        logits_per_text = self.logit_scale.clamp(max=4.6052).exp() * all_text @ all_video.t()  # CLIP clamps at 100
        return symmetric_infonce(logits_per_text.float()), logits_per_text, video_embeds, text_embeds

    # -------------------------------------------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        text_encoder_input_ids: torch.LongTensor | None = None,
        text_encoder_attention_mask: torch.LongTensor | None = None,
        intention_input_ids: torch.LongTensor | None = None,
        intention_attention_mask: torch.LongTensor | None = None,
        intention_labels: torch.LongTensor | None = None,
        effect_input_ids: torch.LongTensor | None = None,
        effect_attention_mask: torch.LongTensor | None = None,
        effect_labels: torch.LongTensor | None = None,
        attribute_input_ids: torch.LongTensor | None = None,
        attribute_attention_mask: torch.LongTensor | None = None,
        attribute_labels: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.FloatTensor | None = None,
        use_cache: bool | None = None,
        position_ids: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        return_dict: bool | None = None,
        past_key_values=None,
        **kwargs,
    ) -> Clip4VideoCapOutput | tuple:
        r"""
        Args:
            input_ids / attention_mask / labels (`(batch, seq)`): the caption for the decoder (EOS appended when
                training), -100 on ignored label positions (L_cap of Eq. 7). Prefix positions are ignored automatically.
            pixel_values_videos (`(batch, frames, 3, height, width)`): the clips.
            text_encoder_input_ids / text_encoder_attention_mask (`(batch, seq_clip)`): the caption for the CLIP text
                tower (Eq. 5; the processor's `return_labels=True` output).
            <aspect>_input_ids / _attention_mask / _labels (`(batch, seq_aspect)`): V2C targets of the sub-decoders
                (L_int / L_eff / L_att of Eq. 7); an aspect without them adds no loss but still feeds the decoder.
            cache, use_cache, position_ids, logits_to_keep: passed to the caption decoder. When `cache` already holds
                tokens, no prefix is prepended (it is in the cache). `past_key_values`: the pre-5.24 name of `cache`.
        """
        return_dict = return_dict if return_dict is not None else True
        cache = cache if cache is not None else past_key_values
        cfg = self.config
        encoded = self.encode_video(pixel_values_videos) if pixel_values_videos is not None else None
        fields: dict[str, Any] = {}
        if encoded is not None:
            fields.update(frame_features=encoded["frame"], fused_features=encoded["fused"],
                          vis2text_features=encoded["vis2text"])  # fmt: skip

        if cfg.train_stage == "clip":
            if encoded is None:
                raise ValueError("train_stage='clip' needs `pixel_values_videos`")
            loss, logits_per_text, video_embeds, text_embeds = self._clip_loss(
                encoded, text_encoder_input_ids, text_encoder_attention_mask
            )
            output = Clip4VideoCapOutput(loss=loss, contrastive_loss=loss, logits_per_text=logits_per_text,
                                         video_embeds=video_embeds, text_embeds=text_embeds, **fields)  # fmt: skip
            return output if return_dict else output.to_tuple()

        # ---- Eqs. 5-6: L1 distillation of Vis2Text to the frozen CLIP text feature of the caption
        losses: dict[str, torch.Tensor] = {}
        if (encoded is not None and self.text_encoder is not None and text_encoder_input_ids is not None
                and cfg.distillation_loss_weight > 0):  # fmt: skip
            with torch.no_grad():
                target = self.get_caption_features(text_encoder_input_ids, text_encoder_attention_mask)  # (B, D)
            vis2text = encoded["vis2text"]
            losses["distillation"] = F.l1_loss(vis2text.float(), target.unsqueeze(1).expand_as(vis2text).float())

        # ---- sub-decoders (Eq. 7: L_int, L_eff, L_att)
        past_len = cache.get_seq_length() if cache is not None and hasattr(cache, "get_seq_length") else 0
        prefix = None
        if encoded is not None and past_len == 0:
            aspect_inputs = {
                "intention": (intention_input_ids, intention_attention_mask, intention_labels),
                "effect": (effect_input_ids, effect_attention_mask, effect_labels),
                "attribute": (attribute_input_ids, attribute_attention_mask, attribute_labels),
            }
            commonsense = {}
            for aspect in cfg.aspects:
                ids, mask, aspect_labels = aspect_inputs[aspect]
                commonsense[aspect], aspect_loss = self.commonsense_decoders[aspect](
                    encoded["grounded"], ids if aspect_labels is not None else None, mask, aspect_labels
                )
                if aspect_loss is not None:
                    losses[aspect] = aspect_loss
            fields["commonsense_features"] = commonsense
            prefix = self.build_prefix(encoded, commonsense)  # (B, P, D_lm)
            embeds, mask = self._merge_prefix(prefix, input_ids, inputs_embeds, attention_mask)
        else:
            if inputs_embeds is None and input_ids is None:
                raise ValueError("forward needs `pixel_values_videos`, `input_ids` or `inputs_embeds`")
            embeds = inputs_embeds if inputs_embeds is not None else self.get_input_embeddings()(input_ids)
            mask = attention_mask

        # ---- caption decoder (L_cap)
        lm_kwargs = {k: kwargs[k] for k in ("output_attentions", "output_hidden_states") if k in kwargs}
        lm_out = self.language_model(
            inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids, use_cache=use_cache,
            logits_to_keep=0 if labels is not None else logits_to_keep, return_dict=True, **{CACHE_NAME: cache},
            **lm_kwargs,
        )  # fmt: skip
        if labels is not None:
            losses["caption"] = _next_token_loss(lm_out.logits, labels, prefix.shape[1] if prefix is not None else 0)

        # ---- Eq. 8
        weights = {"distillation": cfg.distillation_loss_weight, "caption": cfg.caption_loss_weight,
                   **{a: getattr(cfg, f"{a}_loss_weight") for a in ASPECTS}}  # fmt: skip
        loss = sum(weights[k] * v for k, v in losses.items()) if losses else None
        output = Clip4VideoCapOutput(
            loss=loss,
            caption_loss=losses.get("caption"),
            distillation_loss=losses.get("distillation"),
            intention_loss=losses.get("intention"),
            effect_loss=losses.get("effect"),
            attribute_loss=losses.get("attribute"),
            logits=lm_out.logits,
            prefix=prefix,
            **fields,
            **{CACHE_NAME: getattr(lm_out, CACHE_NAME, None)},
        )
        return output if return_dict else output.to_tuple()

    # ----------------------------------------------------------------------------------------------- generation
    @torch.no_grad()
    def generate(
        self,
        pixel_values_videos: torch.FloatTensor,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        generation_config=None,
        return_commonsense: bool = False,
        commonsense_max_new_tokens: int = 20,
        **generate_kwargs,
    ):
        """Caption clips (BLIP-2 pattern: prefix computed once, then `language_model.generate(inputs_embeds=...)`).

        Args:
            pixel_values_videos (`(batch, frames, 3, height, width)`): the clips.
            input_ids / attention_mask (`(batch, seq)`, optional): a text prompt placed after the visual prefix.
            generation_config: defaults to `self.generation_config`; a missing `pad_token_id` falls back to EOS.
            return_commonsense: also decode the intention / effect / attribute texts (greedy, from the sub-decoders).
            commonsense_max_new_tokens: token budget of each commonsense text.
            **generate_kwargs: anything `GenerationMixin.generate` takes (`max_new_tokens`, `num_beams`,
                `do_sample`, `top_p`, `use_cache`, ...).

        Returns:
            `torch.LongTensor` `(batch * num_return_sequences, new_tokens)` (the generated caption tokens only), or with
            `return_commonsense=True` a [`Clip4VideoCapGenerationOutput`] (`processor.decode_commonsense(out)`).
        """
        for name in ["labels", "text_encoder_input_ids", "text_encoder_attention_mask",
                     *(f"{a}_{k}" for a in ASPECTS for k in ("input_ids", "attention_mask", "labels"))]:  # fmt: skip
            generate_kwargs.pop(name, None)  # training inputs from an evaluation batch are not generation inputs
        encoded = self.encode_video(pixel_values_videos)
        commonsense = {a: self.commonsense_decoders[a](encoded["grounded"])[0] for a in self.config.aspects}
        prefix = self.build_prefix(encoded, commonsense)  # (B, P, D_lm)
        embeds, mask = self._merge_prefix(prefix, input_ids, None, attention_mask)
        generation_config, model_kwargs = generation_setup(generation_config, self.generation_config, generate_kwargs)
        sequences = self.language_model.generate(
            inputs_embeds=embeds, attention_mask=mask, generation_config=generation_config, **model_kwargs
        )
        if not return_commonsense:
            return sequences
        greedy = GenerationConfig(max_new_tokens=commonsense_max_new_tokens, do_sample=False, num_beams=1,
                                  eos_token_id=generation_config.eos_token_id,
                                  pad_token_id=generation_config.pad_token_id)  # fmt: skip
        texts = {}
        for aspect in self.config.aspects:
            sub = self.commonsense_decoders[aspect]
            sub_prefix = sub.prefix(encoded["grounded"])  # (B, n + q, W)
            sub_mask = torch.ones(sub_prefix.shape[:2], dtype=torch.long, device=sub_prefix.device)
            texts[aspect] = sub.decoder.generate(inputs_embeds=sub_prefix, attention_mask=sub_mask,
                                                 generation_config=greedy)  # fmt: skip
        return Clip4VideoCapGenerationOutput(sequences=sequences, **texts)

    # ------------------------------------------------------------------------------------------------- saving
    def save_pretrained(self, save_directory, *args, save_clip_text_model: bool | None = None, **kwargs):
        """`PreTrainedModel.save_pretrained`, leaving the CLIP text tower (and its projection and logit scale) out
        unless `save_clip_text_model` (default `config.save_clip_text_model`): the saved config then has
        `use_clip_text_model=False`, and the folder captions without it."""
        keep = self.config.save_clip_text_model if save_clip_text_model is None else save_clip_text_model
        if keep or self.text_encoder is None:
            return super().save_pretrained(save_directory, *args, **kwargs)
        state_dict = kwargs.pop("state_dict", None) or self.state_dict()
        state_dict = {k: v for k, v in state_dict.items() if not k.startswith(self._TEACHER)}
        stage = self.config.train_stage
        # without the text tower only the caption stage can run
        self.config.use_clip_text_model, self.config.train_stage = False, "caption"
        try:
            return super().save_pretrained(save_directory, *args, state_dict=state_dict, **kwargs)
        finally:
            self.config.use_clip_text_model, self.config.train_stage = True, stage

    # ------------------------------------------------------------------------------------------------ backbones
    @classmethod
    def from_pretrained_backbones(
        cls,
        vision: str = "openai/clip-vit-base-patch16",
        text: str = "gpt2",
        text_encoder: str | None = "openai/clip-vit-base-patch16",
        **config_kwargs,
    ) -> Clip4VideoCapForConditionalGeneration:
        """Build CLIP4VideoCap from pretrained towers (Hub ids or local folders) with fresh fusion / Vis2Text /
        sub-decoders / prefix maps.

        `vision` and `text_encoder` name a full CLIP checkpoint (`CLIPModel`: its vision / text tower, projections and
        logit scale are taken; the same id for both loads it once) or a `CLIPVisionModelWithProjection` /
        `CLIPTextModelWithProjection`. `text` is any causal LM. `text_encoder=None` (or `use_clip_text_model=False`)
        builds the model without the CLIP text tower (no distillation). `config_kwargs` are `Clip4VideoCapConfig`
        fields; `projection_dim` comes from the CLIP checkpoint.
        """
        hub_kwargs = {k: config_kwargs.pop(k) for k in ("revision", "cache_dir", "token", "local_files_only")
                      if k in config_kwargs}  # fmt: skip
        use_text = config_kwargs.setdefault("use_clip_text_model", text_encoder is not None)
        loaded: dict[str, nn.Module] = {}

        def load(source: str) -> nn.Module:
            if source not in loaded:
                loaded[source] = AutoModel.from_pretrained(source, **hub_kwargs)
            return loaded[source]

        vision_tower, visual_projection = _clip_part(load(vision), "vision", vision)
        text_tower = text_projection = None
        if use_text:
            if text_encoder is None:
                raise ValueError("`use_clip_text_model=True` needs `text_encoder` (a CLIP checkpoint)")
            text_tower, text_projection = _clip_part(load(text_encoder), "text", text_encoder)
        language_model = AutoModelForCausalLM.from_pretrained(text, **hub_kwargs)
        config_kwargs.setdefault("projection_dim", visual_projection.out_features)
        config = Clip4VideoCapConfig(
            vision_config=copy.deepcopy(vision_tower.config),
            clip_text_config=copy.deepcopy(text_tower.config) if text_tower is not None else None,
            text_config=copy.deepcopy(language_model.config),
            **config_kwargs,
        )
        model = cls(config)
        _load_backbone(model.vision_model, vision_tower.state_dict(), vision)
        _load_backbone(model.visual_projection, visual_projection.state_dict(), vision)
        _load_backbone(model.language_model, language_model.state_dict(), text)
        if text_tower is not None:
            _load_backbone(model.text_encoder, text_tower.state_dict(), text_encoder)
            _load_backbone(model.text_projection, text_projection.state_dict(), text_encoder)
            clip = loaded[text_encoder]
            if getattr(clip, "logit_scale", None) is not None:
                with torch.no_grad():
                    model.logit_scale.copy_(clip.logit_scale.detach().reshape(()))
        for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
            setattr(model.generation_config, key, getattr(language_model.generation_config, key, None))
        return model


def _clip_part(model: nn.Module, side: str, source: str) -> tuple[nn.Module, nn.Linear]:
    """The `side` ("vision" / "text") tower and projection of a CLIPModel or a CLIP*ModelWithProjection."""
    tower_name, projection_name = (("vision_model", "visual_projection") if side == "vision"
                                   else ("text_model", "text_projection"))  # fmt: skip
    projection = getattr(model, projection_name, None)
    if projection is None:
        raise ValueError(f"{source!r} is not a CLIP checkpoint with a {projection_name} ({type(model).__name__})")
    tower = getattr(model, tower_name, None)
    if tower is None or not isinstance(tower, PreTrainedModel):  # *ModelWithProjection holds the layers itself
        tower = AutoModel.from_config(getattr(model.config, f"{side}_config", model.config))
        state = {k[len(tower_name) + 1 :]: v for k, v in model.state_dict().items() if k.startswith(f"{tower_name}.")}
        state = state or {k: v for k, v in model.state_dict().items() if not k.startswith(projection_name)}
        _load_backbone(tower, state, source)
    return tower, projection


def _load_backbone(module: nn.Module, state_dict: dict, source: str) -> None:
    """Copy pretrained weights into a tower; every weight of the tower must be found."""
    result = module.load_state_dict(state_dict, strict=False)
    if result.missing_keys:
        raise ValueError(f"backbone {source!r} lacks weights for {result.missing_keys[:5]} ...")
    if result.unexpected_keys:
        raise ValueError(f"backbone {source!r} has weights the model does not use: {result.unexpected_keys[:5]} ...")


__all__ = [
    "Clip4VideoCapForConditionalGeneration",
    "Clip4VideoCapGenerationOutput",
    "Clip4VideoCapOutput",
    "Clip4VideoCapPreTrainedModel",
]
