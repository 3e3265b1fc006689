"""`videotext-captioning`: a transformers custom pipeline that captions videos with an exported videotext captioner.

    from transformers import pipeline

    pipe = pipeline(model="path/or/repo", trust_remote_code=True)
    pipe("clip.mp4")                                   # [{"generated_text": "a red circle moves left"}]
    pipe("clip.mp4", num_beams=3, max_new_tokens=20)   # generation kwargs go to `model.generate`
    pipe(["a.mp4", "b.mp4"])                           # one list of results per video
    pipe(frames)                                       # a uint8 (T, H, W, 3) array is one video

Inputs: a video path, a uint8 `(T, H, W, 3)` array / tensor, or a list of those (a batch: one result list per video).
Every keyword that is not a pipeline parameter is a generation parameter (`max_new_tokens`, `num_beams`,
`do_sample`, `top_p`, `num_return_sequences`, `generation_config`, ...; without a length, at most 40 new tokens
unless the model's generation config sets one); `video_kwargs={...}` goes to the video processor (e.g.
`{"num_frames": 8}`). The model's processor decodes the files (decord) and turns them into
`pixel_values_videos`; `model.generate` writes the caption tokens and `processor.batch_decode` the text.

Hub code: imports only the standard library, torch and transformers (the folder's `config.json` names this file in
`custom_pipelines`).
"""

from __future__ import annotations

import os

import torch
from transformers import GenerationConfig, Pipeline

__all__ = ["VideoCaptioningPipeline"]

# a caption's token budget (the processors' `max_length`), unless the model's generation config sets one
DEFAULT_MAX_NEW_TOKENS = 40


def _floats_to(inputs: dict, dtype: torch.dtype) -> dict:
    """Floating tensors in `dtype` (a model loaded in half precision takes half-precision pixels)."""
    return {k: v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v for k, v in inputs.items()}


class VideoCaptioningPipeline(Pipeline):
    """Video path / uint8 frames -> `[{"generated_text": caption}]` (one entry per returned sequence)."""

    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False
    _pipeline_calls_generate = True
    _default_generation_config = GenerationConfig(max_new_tokens=DEFAULT_MAX_NEW_TOKENS)
    videotext_task = "captioning"

    def __call__(self, videos, **kwargs):
        """Caption one video (path or uint8 `(T, H, W, 3)` array) or a list of them; see the module docstring."""
        if isinstance(videos, tuple):
            videos = list(videos)
        return super().__call__(videos, **kwargs)

    def _sanitize_parameters(self, video_kwargs=None, generate_kwargs=None, **generate_params):
        preprocess_params = {"video_kwargs": dict(video_kwargs)} if video_kwargs else {}
        forward_params = {}
        if generate_kwargs or generate_params:
            forward_params["generate_kwargs"] = {**(generate_kwargs or {}), **generate_params}
        return preprocess_params, forward_params, {}

    def preprocess(self, video, video_kwargs=None):
        if isinstance(video, os.PathLike):
            video = os.fspath(video)
        inputs = self.processor(videos=[video], return_tensors="pt", **(video_kwargs or {}))
        # every tensor the processor returns: a method whose processor adds a prompt (SVAD-VLM) generates from it
        return {k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)}

    def _forward(self, model_inputs, generate_kwargs=None):
        generate_kwargs = dict(generate_kwargs or {})
        if hasattr(self, "_prepare_generate_kwargs"):  # init-time generation parameters + the pipeline's defaults
            generate_kwargs = self._prepare_generate_kwargs(generate_kwargs)
        else:  # older transformers: the same, by hand
            generate_kwargs = {**getattr(self, "_generate_kwargs", {}), **generate_kwargs}
            config = generate_kwargs.get("generation_config") or self.model.generation_config
            set_by_config = {"max_new_tokens", "max_length"} & set(config.to_diff_dict())
            if not set_by_config and not {"max_new_tokens", "max_length"} & set(generate_kwargs):
                generate_kwargs["max_new_tokens"] = DEFAULT_MAX_NEW_TOKENS
        generate_kwargs.pop("return_dict_in_generate", None)
        output = self.model.generate(**_floats_to(model_inputs, self.model.dtype), **generate_kwargs)
        sequences = output if isinstance(output, torch.Tensor) else output.sequences
        return {"sequences": sequences}

    def postprocess(self, model_outputs):
        texts = self.processor.batch_decode(model_outputs["sequences"], skip_special_tokens=True)
        return [{"generated_text": text} for text in texts]
