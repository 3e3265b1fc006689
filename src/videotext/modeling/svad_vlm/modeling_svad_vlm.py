"""SVAD-VLM: ViT + GMHRA frame encoder, BLIP-2 Q-Former, dual visual alignment, causal LM.

Paper: "Spatiotemporal Fine-grained Video Description for Short Videos" (SVAD-VLM). The model:

1. Eqs. 1-3: every frame goes through the ViT on its own ([CLS; patches] + spatial positions, L blocks).
2. Eq. 4: after K chosen blocks B_{j_h}, a Global Multi-Head Relation Aggregator updates one global token by
   cross-attending to all T frames' tokens of that block (UniFormerV2 / VideoChat: a depthwise 3-D convolution
   position encoding on the patch grid first; attention output and MLP end zero-initialised, so training starts
   from the plain global token).
3. Eq. 5: Z_vis = [global token; frame tokens of the last block].
4. Eq. 6: BLIP-2's Q-Former (`Blip2QFormerModel` from transformers) turns n_q learnable queries into Q.
5. Eq. 11 (Eq. 7 when `use_dual_alignment=False`): Q_i = W_i Q + b_i, i = the sample's data source (primary /
   auxiliary); inference uses the primary projection.
6. Eq. 8: the LLM reads cat(Q_i, Emb(prompt), Emb(target)); Eq. 9: next-token loss on the target tokens only; two
   tasks share the visual queries: the description (prompt "Describe the video") and prompt-guided keyword
   generation (the description with one keyword blanked; target = the keyword); Eq. 10: L = λd·Ld + λk·Lk.

Generation follows BLIP-2: `generate()` builds cat(queries, prompt embeddings) once and calls
`self.language_model.generate(inputs_embeds=...)`.

References: OpenGVLab/UniFormerV2 and Ask-Anything/video_chat (GMHRA), salesforce/LAVIS BLIP-2 (Q-Former, queries ->
linear -> LLM), DAMO-NLP-SG/Video-LLaMA (a projection per branch).

Hub code: imports only stdlib, torch, transformers' public API and siblings.
"""

from __future__ import annotations

import copy
import dataclasses
import inspect
import math
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from transformers import AutoModel, AutoModelForCausalLM, Blip2QFormerModel, GenerationMixin, PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_svad_vlm import DATA_SOURCES, SvadVlmConfig


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
class _SvadVlmOutputFields(ModelOutput):
    r"""
    Output of [`SvadVlmForConditionalGeneration.forward`].

    Args:
        loss (`torch.FloatTensor` of shape `()`): Eq. 10, λd·Ld + λk·Lk over the terms the inputs allow.
        description_loss (`torch.FloatTensor` of shape `()`): Ld of Eq. 9, mean cross entropy over target tokens.
        keyword_loss (`torch.FloatTensor` of shape `()`): Lk of Eq. 9 (the blanked keyword's tokens).
        logits (`torch.FloatTensor` of shape `(batch, num_query_tokens + seq, vocab)`): LLM logits of the
            description / prompt pass (query positions included); None in a keyword-only training step.
        keyword_logits (`torch.FloatTensor` of shape `(batch, num_query_tokens + keyword_seq, vocab)`): the keyword pass.
        query_embeds (`torch.FloatTensor` of shape `(batch, num_query_tokens, llm_hidden)`): aligned queries (Eq. 11).
        visual_features (`torch.FloatTensor` of shape `(batch, 1 + frames * tokens, vision_hidden)`): Z_vis (Eq. 5).
        cache / past_key_values (`Cache`): the LLM's cache when `use_cache=True` (named as the installed
            transformers reads it).
    """

    loss: torch.FloatTensor | None = None
    description_loss: torch.FloatTensor | None = None
    keyword_loss: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    keyword_logits: torch.FloatTensor | None = None
    query_embeds: torch.FloatTensor | None = None
    visual_features: torch.FloatTensor | None = None


SvadVlmOutput = with_cache_field(_SvadVlmOutputFields, "SvadVlmOutput")


class SvadVlmGmhraBlock(nn.Module):
    """One Global Multi-Head Relation Aggregator (Eq. 4): the global token cross-attends to every frame's tokens.

    UniFormerV2's global block: x = x + Attn(LN(x), LN(DPE(y))); x = x + MLP(LN(x)); the attention output projection
    and the MLP's last layer start at zero (VideoChat), so a fresh block passes the global token through unchanged.
    """

    def __init__(self, width: int, num_heads: int, mlp_ratio: float, dropout: float, dpe_kernel: int):
        super().__init__()
        # depthwise 3-D convolution over (time, height, width): the dynamic position encoding of UniFormerV2
        self.dpe = nn.Conv3d(width, width, dpe_kernel, padding=dpe_kernel // 2, groups=width) if dpe_kernel else None
        self.norm_query = nn.LayerNorm(width)
        self.norm_memory = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, num_heads, batch_first=True)
        self.norm_mlp = nn.LayerNorm(width)
        hidden = int(round(width * mlp_ratio))
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Dropout(dropout), nn.Linear(hidden, width))
        self.attn.out_proj._zero_init = self.mlp[-1]._zero_init = True  # read by `_init_weights`

    def forward(self, global_token: torch.Tensor, frame_tokens: torch.Tensor) -> torch.Tensor:
        """`global_token (B, 1, D)`, `frame_tokens (B, T, 1 + M, D)` ([CLS; square patch grid]) -> `(B, 1, D)`."""
        batch, frames, tokens, width = frame_tokens.shape
        if self.dpe is not None:
            side = math.isqrt(tokens - 1)
            if side * side != tokens - 1:
                raise ValueError(f"GMHRA position encoding needs a square patch grid, got {tokens - 1} patch tokens")
            patches = (
                frame_tokens[:, :, 1:].reshape(batch, frames, side, side, width).permute(0, 4, 1, 2, 3)
            )  # (B, D, T, h, w)
            patches = patches + self.dpe(patches)
            patches = patches.permute(0, 2, 3, 4, 1).reshape(batch, frames, tokens - 1, width)  # (B, T, M, D)
            frame_tokens = torch.cat([frame_tokens[:, :, :1], patches], dim=2)  # (B, T, 1 + M, D)
        memory = self.norm_memory(frame_tokens.reshape(batch, frames * tokens, width))  # (B, T * (1 + M), D)
        query = self.norm_query(global_token)
        global_token = global_token + self.attn(query, memory, memory, need_weights=False)[0]
        return global_token + self.mlp(self.norm_mlp(global_token))


class SvadVlmGlobalAggregator(nn.Module):
    """The global token z_gmhra,0 and the K GMHRA blocks (Eq. 4); builds Z_vis (Eq. 5)."""

    def __init__(self, config: SvadVlmConfig):
        super().__init__()
        vision = config.vision_config
        width = vision.hidden_size
        self.layers = config.gmhra_layer_indices
        heads = config.gmhra_num_heads or vision.num_attention_heads
        self.global_token = nn.Parameter(torch.zeros(1, 1, width))
        self.blocks = nn.ModuleList(
            SvadVlmGmhraBlock(width, heads, config.gmhra_mlp_ratio, config.gmhra_dropout, config.gmhra_dpe_kernel)
            for _ in self.layers
        )
        self.norm = nn.LayerNorm(width)
        self.frame_position_embeddings = (
            nn.Parameter(torch.zeros(1, config.num_frames, 1, width)) if config.use_frame_position_embeddings else None
        )

    def forward(self, hidden_states: tuple[torch.Tensor, ...], last_hidden: torch.Tensor, batch: int) -> torch.Tensor:
        """ViT hidden states per block (`hidden_states[j + 1]` = output of block j, `(B * T, 1 + M, D)`) and the
        final (normed) block output -> Z_vis `(B, 1 + T * (1 + M), D)`."""
        frames_tokens = last_hidden.shape[1]
        global_token = self.global_token.expand(batch, -1, -1)  # (B, 1, D)
        for block, j in zip(self.blocks, self.layers):
            layer_out = hidden_states[j + 1]
            global_token = block(global_token, layer_out.reshape(batch, -1, frames_tokens, layer_out.shape[-1]))
        frames = last_hidden.reshape(batch, -1, frames_tokens, last_hidden.shape[-1])  # (B, T, 1 + M, D)
        if self.frame_position_embeddings is not None:
            if frames.shape[1] > self.frame_position_embeddings.shape[1]:
                raise ValueError(
                    f"{frames.shape[1]} frames but the frame position embeddings hold "
                    f"{self.frame_position_embeddings.shape[1]} (config.num_frames)"
                )
            frames = frames + self.frame_position_embeddings[:, : frames.shape[1]]
        return torch.cat([self.norm(global_token), frames.flatten(1, 2)], dim=1)  # (B, 1 + T * (1 + M), D)


class SvadVlmVisualAlignment(nn.Module):
    """Dual visual alignment (Eq. 11): one linear map per data source (primary, auxiliary); with
    `use_dual_alignment=False` one shared map (Eq. 7)."""

    def __init__(self, config: SvadVlmConfig):
        super().__init__()
        count = len(DATA_SOURCES) if config.use_dual_alignment else 1
        self.projections = nn.ModuleList(
            nn.Linear(config.qformer_config.hidden_size, config.text_config.hidden_size) for _ in range(count)
        )

    def forward(self, queries: torch.Tensor, data_source_ids: torch.Tensor | None = None) -> torch.Tensor:
        """`queries (B, n_q, D_q)`, `data_source_ids (B,)` (0 primary, 1 auxiliary; None = all primary) ->
        `(B, n_q, D_lm)`."""
        if len(self.projections) == 1 or data_source_ids is None:
            return self.projections[0](queries)
        ids = data_source_ids.to(queries.device).long()
        if int(ids.min()) < 0 or int(ids.max()) >= len(self.projections):
            raise ValueError(f"`data_source_ids` must be in [0, {len(self.projections)}), got {ids.tolist()}")
        out = torch.stack([proj(queries) for proj in self.projections], dim=1)  # (B, sources, n_q, D_lm)
        return out[torch.arange(queries.shape[0], device=queries.device), ids]  # (B, n_q, D_lm)


class SvadVlmPreTrainedModel(PreTrainedModel):
    config_class = SvadVlmConfig
    config: SvadVlmConfig
    base_model_prefix = "svad_vlm"
    main_input_name = "pixel_values_videos"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["SvadVlmGmhraBlock"]
    _supports_sdpa = True
    _supports_attention_backend = True
    # forward computes the mean losses itself (it does not take `num_items_in_batch`): let Trainer scale them
    accepts_loss_kwargs = False

    @torch.no_grad()
    def _init_weights(self, module):
        """Initialise SVAD-VLM's own modules; the towers (sub-`PreTrainedModel`s) initialise themselves."""
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            if getattr(module, "_zero_init", False):  # a fresh GMHRA block passes the global token through
                nn.init.zeros_(module.weight)
            else:
                nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Conv3d):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.MultiheadAttention):
            nn.init.normal_(module.in_proj_weight, mean=0.0, std=std)
            nn.init.zeros_(module.in_proj_bias)
        elif isinstance(module, SvadVlmGlobalAggregator):
            nn.init.normal_(module.global_token, mean=0.0, std=std)
            if module.frame_position_embeddings is not None:
                nn.init.normal_(module.frame_position_embeddings, mean=0.0, std=std)
        elif isinstance(module, SvadVlmForConditionalGeneration):
            nn.init.normal_(module.query_tokens, mean=0.0, std=std)


class SvadVlmForConditionalGeneration(SvadVlmPreTrainedModel, GenerationMixin):
    """SVAD-VLM fine-grained video describer.

    Submodules: `vision_model` (ViT, per frame), `gmhra` (global token + GMHRA blocks, Eqs. 4-5), `query_tokens` +
    `qformer` (BLIP-2 Q-Former, Eq. 6), `visual_alignment` (Eq. 11 / Eq. 7), `language_model` (the causal LM; LoRA
    targets live under this prefix).
    """

    def __init__(self, config: SvadVlmConfig):
        super().__init__(config)
        self.vision_model = _vision_from_config(config.vision_config)
        self.gmhra = SvadVlmGlobalAggregator(config)
        self.query_tokens = nn.Parameter(torch.zeros(1, config.num_query_tokens, config.qformer_config.hidden_size))
        self.qformer = Blip2QFormerModel(config.qformer_config)
        self.visual_alignment = SvadVlmVisualAlignment(config)
        self.language_model = AutoModelForCausalLM.from_config(config.text_config)
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

    # ------------------------------------------------------------------------------------------------- features
    def get_visual_features(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """Z_vis of Eq. 5, `(B, 1 + T * (1 + M), D_v)`: the GMHRA global token, then every frame's tokens."""
        if pixel_values_videos.ndim != 5:
            raise ValueError(
                "`pixel_values_videos` must have shape (batch, frames, 3, height, width), "
                f"got {tuple(pixel_values_videos.shape)}"
            )
        batch = pixel_values_videos.shape[0]
        dtype = next(self.vision_model.parameters()).dtype
        out = self.vision_model(pixel_values=pixel_values_videos.flatten(0, 1).to(dtype), output_hidden_states=True)
        return self.gmhra(out.hidden_states, out.last_hidden_state, batch)  # frames of one clip stay together

    def get_query_embeds(
        self, pixel_values_videos: torch.Tensor, data_source_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(aligned queries `(B, n_q, D_lm)` (Eqs. 6, 11), Z_vis). `data_source_ids` None = primary projection."""
        visual = self.get_visual_features(pixel_values_videos)
        queries = self.query_tokens.expand(visual.shape[0], -1, -1)  # (B, n_q, D_q)
        memory_mask = torch.ones(visual.shape[:2], dtype=torch.long, device=visual.device)
        q = self.qformer(query_embeds=queries, encoder_hidden_states=visual, encoder_attention_mask=memory_mask)
        return self.visual_alignment(q.last_hidden_state, data_source_ids), visual

    def _merge(
        self, queries: torch.Tensor, input_ids: torch.Tensor | None, attention_mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """cat(Q, Emb(text)) `(B, n_q + S, D)` and its mask (Eq. 8)."""
        query_mask = torch.ones(queries.shape[:2], dtype=torch.long, device=queries.device)
        if input_ids is None:
            return queries, query_mask
        embeds = self.get_input_embeddings()(input_ids)  # (B, S, D)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        embeds = torch.cat([queries.to(embeds.dtype), embeds], dim=1)  # (B, n_q + S, D)
        return embeds, torch.cat([query_mask, attention_mask.to(query_mask.dtype)], dim=1)

    def _task_loss(self, logits: torch.Tensor, labels: torch.Tensor, keep: torch.Tensor | None) -> torch.Tensor | None:
        """Eq. 9: mean next-token cross entropy over the target tokens of the samples in `keep` (None: all); None
        when no target token is left."""
        labels = labels.to(logits.device)
        if keep is not None:
            labels = labels.masked_fill(~keep.to(labels.device)[:, None], -100)
        prefix = logits.shape[1] - labels.shape[1]  # query positions carry no target
        full = F.pad(labels, (prefix, 0), value=-100)  # (B, n_q + S)
        shift_labels = full[:, 1:]
        if not bool((shift_labels != -100).any()):
            return None
        shift_logits = logits[:, :-1].float()
        return F.cross_entropy(shift_logits.reshape(-1, shift_logits.shape[-1]), shift_labels.reshape(-1))

    def _keep(self, data_source_ids: torch.Tensor | None, auxiliary_allowed: bool) -> torch.Tensor | None:
        """Samples a task trains on: auxiliary-data samples only when the config lets them (Table 7)."""
        if auxiliary_allowed or data_source_ids is None:
            return None
        return data_source_ids != DATA_SOURCES.index("auxiliary")

    # -------------------------------------------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        pixel_values_videos: torch.FloatTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        keyword_input_ids: torch.LongTensor | None = None,
        keyword_attention_mask: torch.LongTensor | None = None,
        keyword_labels: torch.LongTensor | None = None,
        data_source_ids: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.FloatTensor | None = None,
        use_cache: bool | None = None,
        position_ids: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        return_dict: bool | None = None,
        past_key_values=None,
        **kwargs,
    ) -> SvadVlmOutput | tuple:
        r"""
        Args:
            input_ids / attention_mask (`(batch, seq)`): the description task: prompt ids, then (training) the
                target ids + EOS, from the processor.
            pixel_values_videos (`(batch, frames, 3, height, width)`): the clips.
            labels (`(batch, seq)`): aligned with `input_ids`, -100 on the prompt and padding (Eq. 9).
            keyword_input_ids / keyword_attention_mask / keyword_labels (`(batch, seq_k)`): the keyword task (blanked
                description prompt, then the keyword + EOS); rows without a keyword are all -100.
            data_source_ids (`(batch,)`): 0 primary, 1 auxiliary: which alignment projection (Eq. 11) each sample
                uses. None = primary for all.
            cache, use_cache, position_ids, logits_to_keep, inputs_embeds: passed to the LLM; with a non-empty
                cache or `inputs_embeds`, the queries are not prepended again.
            past_key_values: the name transformers < 5.24 gives `cache`.

        Loss (Eq. 10): `description_loss_weight` * Ld (when `use_description_loss` and `labels`) +
        `keyword_loss_weight` * Lk (when `use_keyword_loss` and `keyword_labels`).
        """
        return_dict = return_dict if return_dict is not None else True
        cache = cache if cache is not None else past_key_values
        past_len = cache.get_seq_length() if cache is not None and hasattr(cache, "get_seq_length") else 0
        lm_kwargs = {k: kwargs[k] for k in ("output_attentions", "output_hidden_states") if k in kwargs}
        queries = visual = None
        if pixel_values_videos is not None and past_len == 0 and inputs_embeds is None:
            queries, visual = self.get_query_embeds(pixel_values_videos, data_source_ids)  # (B, n_q, D_lm)
            embeds, mask = self._merge(queries, input_ids, attention_mask)
        else:
            if inputs_embeds is None and input_ids is None:
                raise ValueError("forward needs `pixel_values_videos`, `input_ids` or `inputs_embeds`")
            embeds = inputs_embeds if inputs_embeds is not None else self.get_input_embeddings()(input_ids)
            mask = attention_mask

        config = self.config
        want_description = labels is not None and config.use_description_loss
        want_keyword = keyword_labels is not None and config.use_keyword_loss
        out = logits = None
        description_loss = keyword_loss = keyword_logits = None
        if want_description or not (labels is not None and want_keyword):  # a keyword-only step skips this pass
            out = self.language_model(
                inputs_embeds=embeds, attention_mask=mask, position_ids=position_ids, use_cache=use_cache,
                logits_to_keep=0 if want_description else logits_to_keep, return_dict=True,
                **{CACHE_NAME: cache}, **lm_kwargs,
            )  # fmt: skip
            logits = out.logits  # (B, n_q + S, V)
        if want_description:
            description_loss = self._task_loss(
                logits, labels, self._keep(data_source_ids, config.auxiliary_description_task)
            )
        if want_keyword:
            if queries is None:
                raise ValueError("the keyword loss needs `pixel_values_videos`")
            k_embeds, k_mask = self._merge(queries, keyword_input_ids, keyword_attention_mask)
            keyword_logits = self.language_model(inputs_embeds=k_embeds, attention_mask=k_mask, return_dict=True).logits
            keyword_loss = self._task_loss(
                keyword_logits, keyword_labels, self._keep(data_source_ids, config.auxiliary_keyword_task)
            )

        terms = [(config.description_loss_weight, description_loss), (config.keyword_loss_weight, keyword_loss)]
        terms = [weight * value for weight, value in terms if value is not None]
        loss = sum(terms[1:], terms[0]) if terms else None
        output = SvadVlmOutput(
            loss=loss,
            description_loss=description_loss,
            keyword_loss=keyword_loss,
            logits=logits,
            keyword_logits=keyword_logits,
            query_embeds=queries,
            visual_features=visual,
            **{CACHE_NAME: getattr(out, CACHE_NAME, None) if out is not None else None},
        )
        return output if return_dict else output.to_tuple()

    # ----------------------------------------------------------------------------------------------- generation
    @torch.no_grad()
    def generate(
        self,
        pixel_values_videos: torch.FloatTensor,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.LongTensor | None = None,
        data_source_ids: torch.LongTensor | None = None,
        generation_config=None,
        **generate_kwargs,
    ) -> torch.LongTensor:
        """Describe clips, or answer a prompt about them (Eq. 8: the LLM continues cat(Q, Emb(prompt))).

        Args:
            pixel_values_videos (`(batch, frames, 3, height, width)`): the clips.
            input_ids / attention_mask (`(batch, seq)`, optional): the prompt (the processor's default is the
                description prompt; a keyword prompt asks for a blank's word). Left padding is moved in front of the
                queries, so every row ends with its prompt.
            data_source_ids (`(batch,)`, optional): the alignment projection; None = primary (the paper's inference).
            generation_config: defaults to `self.generation_config`; a missing `pad_token_id` falls back to EOS.
            **generate_kwargs: anything `GenerationMixin.generate` takes.

        Returns:
            `torch.LongTensor` `(batch * num_return_sequences, new_tokens)`: the generated tokens only.
        """
        for name in ("labels", "keyword_input_ids", "keyword_attention_mask", "keyword_labels"):
            generate_kwargs.pop(name, None)
        queries, _ = self.get_query_embeds(pixel_values_videos, data_source_ids)
        embeds, mask = self._merge(queries, input_ids, attention_mask)
        # stable sort of the mask: padding (0) first, the queries and prompt tokens (1) keep their order
        order = torch.sort(mask, dim=1, stable=True).indices  # (B, n_q + S)
        embeds = embeds.gather(1, order[..., None].expand(-1, -1, embeds.shape[-1]))
        mask = mask.gather(1, order)
        generation_config, model_kwargs = generation_setup(generation_config, self.generation_config, generate_kwargs)
        return self.language_model.generate(
            inputs_embeds=embeds, attention_mask=mask, generation_config=generation_config, **model_kwargs
        )

    # ------------------------------------------------------------------------------------------------ backbones
    @classmethod
    def from_pretrained_backbones(
        cls,
        vision: str = "google/vit-base-patch16-224-in21k",
        text: str = "baichuan-inc/Baichuan-13B-Base",
        qformer: str | None = None,
        **config_kwargs,
    ) -> SvadVlmForConditionalGeneration:
        """Build SVAD-VLM from pretrained backbones (Hub ids or local folders): the ViT, the causal LM and, when
        given, a Q-Former (a BLIP-2 checkpoint folder whose `qformer.*` weights, or a `Blip2QFormerModel` folder);
        the GMHRA blocks, queries and alignment layers start fresh. `config_kwargs` are `SvadVlmConfig` fields; hub
        options (`revision`, `cache_dir`, `token`, `local_files_only`, `trust_remote_code`) go to every load."""
        hub = {k: config_kwargs.pop(k) for k in ("revision", "cache_dir", "token", "local_files_only",
                                                   "trust_remote_code") if k in config_kwargs}  # fmt: skip
        vision_model = _vision_from_pretrained(vision, hub)
        language_model = AutoModelForCausalLM.from_pretrained(text, **hub)
        qformer_model = Blip2QFormerModel.from_pretrained(qformer, **hub) if qformer else None
        if qformer_model is not None:
            config_kwargs["qformer_config"] = copy.deepcopy(qformer_model.config)
        config = SvadVlmConfig(
            vision_config=copy.deepcopy(vision_model.config),
            text_config=copy.deepcopy(language_model.config),
            **config_kwargs,
        )
        model = cls(config)
        _load_backbone(model.vision_model, vision_model.state_dict(), vision)
        _load_backbone(model.language_model, language_model.state_dict(), text)
        if qformer_model is not None:
            _load_backbone(model.qformer, qformer_model.state_dict(), qformer)
        for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
            setattr(model.generation_config, key, getattr(language_model.generation_config, key, None))
        return model


def _vision_from_config(config) -> PreTrainedModel:
    """The frame encoder without its pooler when the family has one (Z_vis uses the token sequence)."""
    try:
        return AutoModel.from_config(config, add_pooling_layer=False)
    except TypeError:
        return AutoModel.from_config(config)


def _vision_from_pretrained(source: str, hub: dict) -> PreTrainedModel:
    try:
        return AutoModel.from_pretrained(source, add_pooling_layer=False, **hub)
    except TypeError:
        return AutoModel.from_pretrained(source, **hub)


def _load_backbone(module: nn.Module, state_dict: dict, source: str) -> None:
    """Copy pretrained weights into a tower; every weight of the tower must be found (poolers may be extra)."""
    result = module.load_state_dict(state_dict, strict=False)
    if result.missing_keys:
        raise ValueError(f"backbone {source!r} lacks weights for {result.missing_keys[:5]} ...")
    unexpected = [k for k in result.unexpected_keys if not k.startswith("pooler.")]
    if unexpected:
        raise ValueError(f"backbone {source!r} has weights the model does not use: {unexpected[:5]} ...")


__all__ = ["SvadVlmForConditionalGeneration", "SvadVlmOutput", "SvadVlmPreTrainedModel"]
