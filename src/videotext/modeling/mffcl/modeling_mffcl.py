"""MFFCL: TimeSformer + contrastive learning + GPT-2 prefix captioning.

Paper: "Multimodal Feature Fusion Video Description Model Integrating Attention Mechanism and Contrastive Learning"
(MFFCL). The model:

1. TimeSformer encodes the clip; its CLS vector is the video representation.
2. Eq. 1: an FFN (one linear layer, as ClipCap's mapper) maps CLS to L video tokens p_1..p_L.
3. The L tokens are concatenated with r learnable query vectors q_1..q_r and go through a Transformer encoder (the
   "mapping network", a ClipCap-style pre-LN encoder without positional embeddings: the learnable queries act as
   positions); only the r query outputs are kept and given to the causal LM (GPT-2) as a prefix.
4. Eq. 2: caption loss = next-token cross entropy over the caption tokens only (prefix and padding are -100).
5. Eq. 3: symmetric InfoNCE between the TimeSformer CLS and the BERT CLS with temperature tau = 0.07; negatives are
   gathered from every process.

Ablations are config switches: `mapping_type="ffn"` (no queries, no encoder: the L tokens pass through a token-wise
FFN and are the prefix), `num_query_tokens` (10 / 30 / 50), `use_contrastive`.

Generation follows BLIP-2: `generate()` computes the prefix once and calls `self.language_model.generate(
inputs_embeds=...)`, so greedy / beam / nucleus sampling and the KV cache come from transformers.

References:
    - ClipCap, https://github.com/rmokady/CLIP_prefix_caption (mapping network)
    - ALPRO, https://github.com/salesforce/ALPRO (TimeSformer + BERT video-text contrastive loss, clamped tau)

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
from transformers import AutoModel, AutoModelForCausalLM, GenerationMixin, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_mffcl import MffclConfig

# ALPRO clamps the learnable temperature to this range.
_TEMPERATURE_MIN, _TEMPERATURE_MAX = 0.001, 0.5


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


@dataclass
class _MffclOutputFields(ModelOutput):
    r"""
    Output of [`MffclForConditionalGeneration.forward`].

    Args:
        loss (`torch.FloatTensor` of shape `()`): sum of the losses of the configured `train_stage` that could be
            computed from the given inputs (caption loss + `contrastive_loss_weight` * contrastive loss).
        caption_loss (`torch.FloatTensor` of shape `()`): Eq. 2, mean next-token cross entropy over caption tokens.
        contrastive_loss (`torch.FloatTensor` of shape `()`): Eq. 3, symmetric InfoNCE (negatives from all processes).
        logits (`torch.FloatTensor` of shape `(batch_size, prefix_length + sequence_length, vocab_size)`): decoder
            logits over the whole input (prefix positions included; position `prefix_length - 1` predicts the first
            caption token). `None` in the "contrastive" stage, where the decoder is not run.
        video_embeds (`torch.FloatTensor` of shape `(batch_size, dim)`): video embedding of Eq. 3 (TimeSformer CLS,
            projected / normalised as configured).
        text_embeds (`torch.FloatTensor` of shape `(batch_size, dim)`): text embedding of Eq. 3 (text-encoder CLS).
        logits_per_text (`torch.FloatTensor` of shape `(num_texts, num_videos)`): similarities / tau over the
            gathered batch.
        prefix (`torch.FloatTensor` of shape `(batch_size, prefix_length, decoder_hidden_size)`): the visual prompt.
        vision_last_hidden_state (`torch.FloatTensor` of shape `(batch_size, 1 + frames * patches, vision_hidden)`).
        cache / past_key_values (`Cache`): the decoder's cache, when `use_cache=True`, under `CACHE_NAME` (`cache`
            from transformers 5.24 on, `past_key_values` before; 5.24 also answers `.past_key_values`).
    """

    loss: torch.FloatTensor | None = None
    caption_loss: torch.FloatTensor | None = None
    contrastive_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    video_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None
    prefix: torch.FloatTensor | None = None
    vision_last_hidden_state: torch.FloatTensor | None = None


MffclOutput = with_cache_field(_MffclOutputFields, "MffclOutput")


class MffclMapper(nn.Module):
    """Eq. 1 FFN + mapping network: TimeSformer CLS `(B, D_v)` -> prefix `(B, prefix_length, D_lm)`."""

    def __init__(self, config: MffclConfig):
        super().__init__()
        self.mapping_type = config.mapping_type
        self.num_video_tokens = config.num_video_tokens
        lm_width = config.text_config.hidden_size
        width = config.mapper_hidden_size or lm_width
        self.width = width
        ffn_width = int(round(width * config.mapper_mlp_ratio))
        # Eq. 1: one fully connected layer maps CLS to L tokens of width H.
        self.video_to_tokens = nn.Linear(config.vision_config.hidden_size, config.num_video_tokens * width)
        if self.mapping_type == "transformer":
            self.query_tokens = nn.Parameter(torch.zeros(config.num_query_tokens, width))
            layer = nn.TransformerEncoderLayer(
                d_model=width,
                nhead=config.mapper_num_heads,
                dim_feedforward=ffn_width,
                dropout=config.mapper_dropout,
                activation="gelu",
                batch_first=True,
                norm_first=True,
            )
            self.encoder = nn.TransformerEncoder(layer, config.mapper_num_layers, enable_nested_tensor=False)
            self.ffn = None
        else:
            # Ablation (Table V): no queries and no attention; a token-wise FFN with GELU on the L video tokens.
            self.query_tokens = None
            self.encoder = None
            self.ffn = nn.Sequential(
                nn.Linear(width, ffn_width), nn.GELU(), nn.Dropout(config.mapper_dropout), nn.Linear(ffn_width, width)
            )
        self.output_projection = nn.Linear(width, lm_width) if width != lm_width else nn.Identity()

    def forward(self, video_cls: torch.Tensor) -> torch.Tensor:
        batch_size = video_cls.shape[0]
        video_tokens = self.video_to_tokens(video_cls).view(batch_size, self.num_video_tokens, self.width)  # (B, L, H)
        if self.mapping_type == "transformer":
            queries = self.query_tokens.unsqueeze(0).expand(batch_size, -1, -1)  # (B, r, H)
            hidden = self.encoder(torch.cat([video_tokens, queries], dim=1))  # (B, L + r, H)
            prefix = hidden[:, self.num_video_tokens :]  # (B, r, H): only the query outputs are the prompt
        else:
            prefix = self.ffn(video_tokens)  # (B, L, H)
        return self.output_projection(prefix)  # (B, prefix_length, D_lm)


class MffclPreTrainedModel(PreTrainedModel):
    config_class = MffclConfig
    config: MffclConfig
    base_model_prefix = "mffcl"
    main_input_name = "pixel_values_videos"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["TransformerEncoderLayer"]
    _supports_sdpa = True
    _supports_attention_backend = True
    # forward computes the mean loss itself (it does not take `num_items_in_batch`): let Trainer scale it.
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module):
        """Initialise MFFCL's own modules only; the backbones (sub-`PreTrainedModel`s) initialise themselves."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.MultiheadAttention):
            nn.init.normal_(module.in_proj_weight, mean=0.0, std=std)
            nn.init.zeros_(module.in_proj_bias)
        elif isinstance(module, MffclMapper) and module.query_tokens is not None:
            nn.init.normal_(module.query_tokens, mean=0.0, std=std)
        elif isinstance(module, MffclForConditionalGeneration) and isinstance(module.temperature, nn.Parameter):
            nn.init.constant_(module.temperature, self.config.contrastive_temperature)


class MffclForConditionalGeneration(MffclPreTrainedModel, GenerationMixin):
    """MFFCL video captioner (TimeSformer -> mapper -> GPT-2 prefix) with the video-text contrastive loss.

    Submodules: `vision_model` (TimeSformer), `mapper` (Eq. 1 + mapping network), `language_model` (causal LM; LoRA
    targets live under this prefix), `text_encoder` (BERT, only when `use_contrastive`), `video_projection` /
    `text_projection` (only when `contrastive_dim` is set).

    In distributed training the tower a stage does not use gets no gradient (the decoder in "contrastive", the text
    encoder in "caption"): freeze it or use `find_unused_parameters=True`.
    """

    def __init__(self, config: MffclConfig):
        super().__init__(config)
        self.vision_model = AutoModel.from_config(config.vision_config)
        self.mapper = MffclMapper(config)
        self.language_model = AutoModelForCausalLM.from_config(config.text_config)
        if config.use_contrastive:
            self.text_encoder = _text_encoder_from_config(config.text_encoder_config)
            if config.contrastive_dim is not None:
                self.video_projection = nn.Linear(config.vision_config.hidden_size, config.contrastive_dim)
                self.text_projection = nn.Linear(config.text_encoder_config.hidden_size, config.contrastive_dim)
            else:
                self.video_projection = nn.Identity()
                self.text_projection = nn.Identity()
            if config.learnable_temperature:
                self.temperature = nn.Parameter(torch.tensor(float(config.contrastive_temperature)))
            else:
                self.register_buffer(
                    "temperature", torch.tensor(float(config.contrastive_temperature)), persistent=False
                )
        else:
            self.text_encoder = None
            self.video_projection = self.text_projection = None
            self.temperature = None
        self.post_init()

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
    def prefix_length(self) -> int:
        return self.config.prefix_length

    # ------------------------------------------------------------------------------------------------- features
    def _encode_video(self, pixel_values_videos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(B, T, 3, H, W)` -> (CLS `(B, D_v)`, last hidden state `(B, 1 + T * N, D_v)`)."""
        if pixel_values_videos.ndim != 5:
            raise ValueError(
                f"`pixel_values_videos` must have shape (batch, frames, 3, height, width), got {tuple(pixel_values_videos.shape)}"
            )
        if pixel_values_videos.shape[1] != self.config.num_frames:
            raise ValueError(
                f"`pixel_values_videos` has {pixel_values_videos.shape[1]} frames but the model was built for "
                f"num_frames={self.config.num_frames} (TimeSformer reshapes by it); resample the clip"
            )
        dtype = next(self.vision_model.parameters()).dtype
        hidden = self.vision_model(pixel_values=pixel_values_videos.to(dtype)).last_hidden_state  # (B, 1+T*N, D_v)
        return hidden[:, 0], hidden

    def get_prefix(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """Visual prompt `(B, prefix_length, D_lm)` for the decoder (Eq. 1 + mapping network)."""
        video_cls, _ = self._encode_video(pixel_values_videos)
        return self.mapper(video_cls)

    def _video_embeds(self, video_cls: torch.Tensor) -> torch.Tensor:
        embeds = self.video_projection(video_cls)
        return F.normalize(embeds, dim=-1) if self.config.normalize_contrastive_embeds else embeds

    def _text_embeds(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        hidden = self.text_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        embeds = self.text_projection(hidden[:, 0])  # CLS
        return F.normalize(embeds, dim=-1) if self.config.normalize_contrastive_embeds else embeds

    def get_video_features(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """Video embedding of Eq. 3, `(B, dim)`."""
        self._require_contrastive("get_video_features")
        return self._video_embeds(self._encode_video(pixel_values_videos)[0])

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Text embedding of Eq. 3 from text-encoder ids (`text_encoder_input_ids` of the processor), `(B, dim)`."""
        self._require_contrastive("get_text_features")
        return self._text_embeds(input_ids, attention_mask)

    def _require_contrastive(self, what: str) -> None:
        if self.text_encoder is None:
            raise ValueError(f"{what} needs the text encoder: the model was built with `use_contrastive=False`")

    def _current_temperature(self) -> torch.Tensor:
        if isinstance(self.temperature, nn.Parameter) and self.training:
            with torch.no_grad():
                self.temperature.clamp_(_TEMPERATURE_MIN, _TEMPERATURE_MAX)
        return self.temperature

    def _merge_prefix(
        self,
        prefix: torch.Tensor,
        input_ids: torch.Tensor | None,
        inputs_embeds: torch.Tensor | None,
        attention_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
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

    # -------------------------------------------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        text_encoder_input_ids: torch.LongTensor | None = None,
        text_encoder_attention_mask: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.FloatTensor | None = None,
        use_cache: bool | None = None,
        position_ids: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        return_dict: bool | None = None,
        past_key_values=None,
        **kwargs,
    ) -> MffclOutput | tuple:
        r"""
        Args:
            input_ids (`(batch, seq)`): decoder caption ids from the processor (EOS appended when training).
            pixel_values_videos (`(batch, frames, 3, height, width)`): the clips.
            attention_mask (`(batch, seq)`): decoder mask of `input_ids` (the prefix is always attended).
            labels (`(batch, seq)`): caption targets aligned with `input_ids`, -100 on padding (Eq. 2). Prefix
                positions are ignored automatically.
            text_encoder_input_ids / text_encoder_attention_mask (`(batch, seq_enc)`): the caption for the text
                encoder of Eq. 3 (the processor's `return_labels=True` output).
            cache, use_cache, position_ids, logits_to_keep: passed to the decoder. When `cache` already holds
                tokens, no prefix is prepended (the prefix is in the cache).
            past_key_values: the name transformers < 5.24 gives `cache` (either is accepted).

        Losses follow `config.train_stage`: "contrastive" computes Eq. 3 only and does not run the decoder;
        "caption" computes Eq. 2 when `labels` are given; "both" sums what the inputs allow.
        """
        return_dict = return_dict if return_dict is not None else True
        cache = cache if cache is not None else past_key_values
        stage = self.config.train_stage
        want_caption = stage in ("caption", "both")
        want_contrastive = stage in ("contrastive", "both") and self.text_encoder is not None

        video_cls = vision_hidden = None
        if pixel_values_videos is not None:
            video_cls, vision_hidden = self._encode_video(pixel_values_videos)  # (B, D_v), (B, 1+T*N, D_v)

        # ---- Eq. 3: video-text contrastive loss
        contrastive_loss = video_embeds = text_embeds = logits_per_text = None
        if want_contrastive and text_encoder_input_ids is not None:
            if video_cls is None:
                raise ValueError("the contrastive loss needs `pixel_values_videos`")
            video_embeds = self._video_embeds(video_cls)  # (B, d)
            text_embeds = self._text_embeds(text_encoder_input_ids, text_encoder_attention_mask)  # (B, d)
            all_video = all_gather_with_grad(video_embeds)  # (world * B, d)
            all_text = all_gather_with_grad(text_embeds)  # (world * B, d)
            logits_per_text = all_text @ all_video.t() / self._current_temperature()  # (world * B, world * B)
            contrastive_loss = symmetric_infonce(logits_per_text.float())
        elif stage == "contrastive":
            raise ValueError(
                "train_stage='contrastive' needs `text_encoder_input_ids` (processor(..., return_labels=True))"
            )

        # ---- decoder with the visual prefix (Eq. 2)
        logits = prefix = None
        caption_loss = None
        lm_past = None
        if stage != "contrastive":
            past_len = 0
            if cache is not None and hasattr(cache, "get_seq_length"):
                past_len = cache.get_seq_length()
            if video_cls is not None and past_len == 0:
                prefix = self.mapper(video_cls)  # (B, P, D_lm)
                embeds, mask = self._merge_prefix(prefix, input_ids, inputs_embeds, attention_mask)
                prefix_len = prefix.shape[1]
            else:
                if inputs_embeds is None and input_ids is None:
                    raise ValueError("forward needs `pixel_values_videos`, `input_ids` or `inputs_embeds`")
                embeds = inputs_embeds if inputs_embeds is not None else self.get_input_embeddings()(input_ids)
                mask = attention_mask
                prefix_len = 0
            need_all_logits = want_caption and labels is not None
            lm_kwargs = {k: kwargs[k] for k in ("output_attentions", "output_hidden_states") if k in kwargs}
            lm_out = self.language_model(
                inputs_embeds=embeds,
                attention_mask=mask,
                position_ids=position_ids,
                use_cache=use_cache,
                logits_to_keep=0 if need_all_logits else logits_to_keep,
                return_dict=True,
                **{CACHE_NAME: cache},
                **lm_kwargs,
            )
            logits, lm_past = lm_out.logits, getattr(lm_out, CACHE_NAME, None)  # (B, P + S, V)
            if need_all_logits:
                if prefix_len:
                    ignore = torch.full((labels.shape[0], prefix_len), -100, dtype=labels.dtype, device=labels.device)
                    full_labels = torch.cat([ignore, labels], dim=1)  # (B, P + S)
                else:
                    full_labels = labels
                # next-token prediction: position i predicts token i + 1 (Eq. 2)
                shift_logits = logits[:, :-1].float()
                shift_labels = full_labels[:, 1:].to(logits.device)
                caption_loss = F.cross_entropy(
                    shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1), ignore_index=-100
                )

        loss = None
        if caption_loss is not None:
            loss = caption_loss
        if contrastive_loss is not None:
            weighted = (
                contrastive_loss if stage == "contrastive" else self.config.contrastive_loss_weight * contrastive_loss
            )
            loss = weighted if loss is None else loss + weighted

        output = MffclOutput(
            loss=loss,
            caption_loss=caption_loss,
            contrastive_loss=contrastive_loss,
            logits=logits,
            video_embeds=video_embeds,
            text_embeds=text_embeds,
            logits_per_text=logits_per_text,
            prefix=prefix,
            vision_last_hidden_state=vision_hidden,
            **{CACHE_NAME: lm_past},
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
        **generate_kwargs,
    ) -> torch.LongTensor:
        """Caption clips (BLIP-2 pattern: prefix computed once, then `language_model.generate(inputs_embeds=...)`).

        Args:
            pixel_values_videos (`(batch, frames, 3, height, width)`): the clips.
            input_ids / attention_mask (`(batch, seq)`, optional): a text prompt placed after the visual prefix
                (left-pad a batch of prompts of different lengths).
            generation_config: defaults to `self.generation_config` (saved as `generation_config.json`); a missing
                `pad_token_id` falls back to `eos_token_id`.
            **generate_kwargs: anything `GenerationMixin.generate` takes (`max_new_tokens`, `num_beams`,
                `do_sample`, `top_p`, `use_cache`, ...).

        Returns:
            `torch.LongTensor` `(batch * num_return_sequences, new_tokens)`: only the generated tokens (neither the
            prefix nor the prompt), ready for `processor.batch_decode`.
        """
        # `labels` / text-encoder inputs may arrive from an evaluation batch: they are not generation inputs.
        for name in ("labels", "text_encoder_input_ids", "text_encoder_attention_mask"):
            generate_kwargs.pop(name, None)
        prefix = self.get_prefix(pixel_values_videos)  # (B, P, D_lm)
        embeds, mask = self._merge_prefix(prefix, input_ids, None, attention_mask)
        generation_config, model_kwargs = generation_setup(generation_config, self.generation_config, generate_kwargs)
        return self.language_model.generate(
            inputs_embeds=embeds, attention_mask=mask, generation_config=generation_config, **model_kwargs
        )

    # ------------------------------------------------------------------------------------------------ backbones
    @classmethod
    def from_pretrained_backbones(
        cls,
        vision: str = "facebook/timesformer-base-finetuned-k400",
        text: str = "gpt2",
        text_encoder: str | None = "bert-base-uncased",
        **config_kwargs,
    ) -> MffclForConditionalGeneration:
        """Build MFFCL from pretrained backbones (Hub ids or local folders) with fresh mapper / projections.

        `config_kwargs` are `MffclConfig` fields (e.g. `num_frames`, `num_query_tokens`). When `num_frames` differs
        from the checkpoint's, TimeSformer's time embeddings are resized with nearest interpolation (what
        `TimesformerEmbeddings` does at run time) and `vision_config.num_frames` is set to it. `text_encoder=None`
        (or `use_contrastive=False`) builds the model without the contrastive text encoder.
        """
        hub_kwargs = {
            k: config_kwargs.pop(k)
            for k in ("revision", "cache_dir", "token", "local_files_only")
            if k in config_kwargs
        }
        vision_model = AutoModel.from_pretrained(vision, **hub_kwargs)
        language_model = AutoModelForCausalLM.from_pretrained(text, **hub_kwargs)
        use_contrastive = config_kwargs.get("use_contrastive", text_encoder is not None)
        config_kwargs["use_contrastive"] = use_contrastive
        text_encoder_model = AutoModel.from_pretrained(text_encoder, **hub_kwargs) if use_contrastive else None

        vision_config = copy.deepcopy(vision_model.config)
        config = MffclConfig(
            vision_config=vision_config,
            text_config=copy.deepcopy(language_model.config),
            text_encoder_config=copy.deepcopy(text_encoder_model.config) if text_encoder_model is not None else None,
            **config_kwargs,
        )
        model = cls(config)


        vision_state = resize_time_embeddings(vision_model.state_dict(), config.num_frames)
        _load_backbone(model.vision_model, vision_state, vision)
        _load_backbone(model.language_model, language_model.state_dict(), text)
        if text_encoder_model is not None:
            _load_backbone(model.text_encoder, text_encoder_model.state_dict(), text_encoder)
        model.generation_config.bos_token_id = language_model.generation_config.bos_token_id
        model.generation_config.eos_token_id = language_model.generation_config.eos_token_id
        model.generation_config.pad_token_id = language_model.generation_config.pad_token_id
        return model


def _text_encoder_from_config(config) -> PreTrainedModel:
    """Text encoder without its pooler when the family has one (the CLS hidden state is used, Eq. 3)."""
    try:
        return AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_config(config)


def _load_backbone(module: nn.Module, state_dict: dict, source: str) -> None:
    """Copy pretrained weights into a tower; every weight of the tower must be found (poolers may be extra)."""
    result = module.load_state_dict(state_dict, strict=False)
    if result.missing_keys:
        raise ValueError(f"backbone {source!r} lacks weights for {result.missing_keys[:5]} ...")
    unexpected = [k for k in result.unexpected_keys if not k.startswith("pooler.")]
    if unexpected:
        raise ValueError(f"backbone {source!r} has weights the model does not use: {unexpected[:5]} ...")


__all__ = ["MffclForConditionalGeneration", "MffclOutput", "MffclPreTrainedModel"]
