"""Canonical copies of the small blocks that several method folders need.

Method folders cannot import this module (a Hub folder must be self-contained), so each one carries a copy
marked `# Copied from videotext.modeling.shared_blocks.<name>` (optionally `with Old->New` renames), and
`utils/check_hub_code.py` fails CI when a copy drifts from the block here.
"""

import dataclasses
import inspect
import os
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from transformers import AutoConfig, GenerationMixin, PretrainedConfig
from transformers.video_utils import VideoMetadata


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` from every process along dim 0; gradients flow back to this process's slice only."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    gathered = [torch.zeros_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, tensor.contiguous())
    # all_gather returns tensors without autograd history: put the local one back so its gradient is kept.
    gathered[dist.get_rank()] = tensor
    return torch.cat(gathered, dim=0)


def symmetric_infonce(logits_per_text: torch.Tensor, positive_index: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of text->video and video->text cross-entropy over a (num_texts, num_videos) logit matrix.

    `positive_index[i]` is the column of text i's positive (default: the diagonal of a square matrix).
    """
    if positive_index is None:
        positive_index = torch.arange(logits_per_text.shape[0], device=logits_per_text.device)
    loss_t2v = F.cross_entropy(logits_per_text, positive_index)
    loss_v2t = F.cross_entropy(logits_per_text.t(), positive_index)
    return (loss_t2v + loss_v2t) / 2


def segment_centre_indices(num_total: int, num_frames: int) -> np.ndarray:
    """Centre frame of each of `num_frames` equal segments of a `num_total`-frame clip.

    Clips shorter than `num_frames` repeat frames in order (2 frames -> 0, 0, 1, 1), so every video yields exactly
    `num_frames` frames.
    """
    if num_total < 1:
        raise ValueError(f"cannot sample frames from a clip with {num_total} frames")
    idx = np.floor((np.arange(num_frames) + 0.5) * num_total / num_frames).astype(np.int64)
    return np.minimum(idx, num_total - 1)


def decode_video_frames(path, sample_indices_fn=None) -> tuple[np.ndarray, VideoMetadata]:
    """Decode the frames `sample_indices_fn(metadata=...)` picks (all without it) -> (uint8 (T, H, W, 3), metadata)."""
    try:
        import decord
    except ImportError as err:  # decord is a package dependency, not a Hub-code one
        raise ImportError(f"decoding {path} needs decord (`pip install decord`), or pass decoded frames") from err
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"video file not found: {path}")
    try:
        reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
        total = len(reader)
        fps = float(reader.get_avg_fps() or 0.0)
    except Exception as err:  # decord raises its own DECORDError for bad containers and streams
        raise ValueError(f"cannot decode video {path}: {err}") from err
    if total < 1:
        raise ValueError(f"video {path} has no frames")
    metadata = VideoMetadata(
        total_num_frames=total, fps=fps or None, duration=total / fps if fps else None, video_backend="decord"
    )
    indices = np.asarray(sample_indices_fn(metadata=metadata)) if sample_indices_fn is not None else np.arange(total)
    try:
        try:
            frames = reader.get_batch([int(i) for i in indices]).asnumpy()  # (T, H, W, 3) uint8
        except Exception as err:
            if "must exactly match" not in str(err):
                raise
            # decord 0.6 keeps ffmpeg's padded row stride for some narrow widths (8, 16, 24, 48 px, ...):
            # read frame by frame and drop the padding bytes at the end of each row.
            frames = []
            for i in indices:
                frame = reader[int(i)].asnumpy()
                height, width = frame.shape[:2]
                frames.append(frame.reshape(height, -1)[:, : width * 3].reshape(height, width, 3))
            frames = np.stack(frames)
    except Exception as err:
        raise ValueError(f"cannot decode frames {indices.tolist()} of video {path}: {err}") from err
    metadata.frames_indices = indices
    metadata.height, metadata.width = frames.shape[1], frames.shape[2]
    return frames, metadata


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


def generation_cache_name() -> str:
    """The name transformers' generation gives the decoder cache: `cache` from 5.24 on, `past_key_values` before."""
    params = inspect.signature(GenerationMixin.prepare_inputs_for_generation).parameters
    return "cache" if "cache" in params else "past_key_values"


def with_cache_field(output_fields: type, name: str) -> type:
    """The ModelOutput dataclass `output_fields` plus a last field for the decoder cache, named as the installed
    transformers reads it (`generation_cache_name()`): 5.24 renames `past_key_values=` to `cache=` in every output's
    `__init__`, and 5.23 reads only `past_key_values`, so no one fixed field name constructs and generates on both."""
    field = (generation_cache_name(), Any, dataclasses.field(default=None))
    output_cls = dataclasses.make_dataclass(name, [field], bases=(output_fields,))
    output_cls.__module__, output_cls.__doc__ = output_fields.__module__, output_fields.__doc__
    return output_cls
