"""Canonical copies of the small blocks that several method folders need.

Method folders cannot import this module (a Hub folder must be self-contained), so each one carries a copy
marked `# Copied from videotext.modeling.shared_blocks.<name>` (optionally `with Old->New` renames), and
`utils/check_hub_code.py` fails CI when a copy drifts from the block here. (Whole sibling files are shared the same
way from `modeling/shared_files/`, see that script.)
"""

import copy
import dataclasses
import inspect
import math
import os
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from transformers import AutoConfig, BaseVideoProcessor, GenerationMixin, PretrainedConfig
from transformers.image_utils import PILImageResampling
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


def _decode_min_work(reader, indices) -> np.ndarray:
    """Exact frames at `indices` (any order, repeats) from a decord reader -> uint8 (T, H, W, 3), with the least
    decoding: each frame from its preceding keyframe, one forward pass per GOP, skipped frames never converted."""
    keyframes = np.sort(np.asarray(reader.get_key_indices(), dtype=np.int64))
    unique, inverse = np.unique(np.asarray(indices, dtype=np.int64), return_inverse=True)
    if len(unique) and (unique[0] < 0 or unique[-1] >= len(reader)):
        raise IndexError(f"frame indices must lie in [0, {len(reader) - 1}]")
    decoded, pos = [], 0  # pos: the frame the next `reader.next()` returns (a fresh reader stands at 0)
    for target in unique.tolist():
        at = int(np.searchsorted(keyframes, target, side="right")) - 1
        key = int(keyframes[at]) if at >= 0 else 0
        if not key <= pos <= target:  # past the target or in an earlier GOP: restart at the target's keyframe
            reader.seek(key)
            pos = key
        if target > pos:
            reader.skip_frames(target - pos)
        frame = reader.next().asnumpy()
        if frame.shape[-1] != 3:  # decord 0.6 keeps ffmpeg's padded row stride for some narrow widths (8, 16, 24 px)
            height, width = frame.shape[:2]
            frame = frame.reshape(height, -1)[:, : width * 3].reshape(height, width, 3)
        decoded.append(frame)
        pos = target + 1
    return np.stack(decoded)[inverse.reshape(-1)]  # (T, H, W, 3)


def decode_video_frames(path, sample_indices_fn=None) -> tuple[np.ndarray, VideoMetadata]:
    """Decode the frames `sample_indices_fn(metadata=...)` picks (all without it) -> (uint8 (T, H, W, 3), metadata).

    An image file (jpg, png, ...) is a one-frame video. Errors are one-line `ValueError`s naming the file."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"video file not found: {path}")
    if not os.path.isfile(path):
        raise ValueError(f"not a video file (a folder?): {path}")
    if os.path.getsize(path) == 0:
        raise ValueError(f"video file is empty (0 bytes): {path}")
    if os.path.splitext(path)[1].lower() in (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"):
        from PIL import Image

        try:
            with Image.open(path) as image:
                frames = np.asarray(image.convert("RGB"))[None]  # (1, H, W, 3)
        except Exception as err:
            raise ValueError(f"cannot decode image {path}: {str(err).splitlines()[0]}") from err
        metadata = VideoMetadata(total_num_frames=1, fps=None, duration=None, video_backend="pil")
        indices = np.asarray(sample_indices_fn(metadata=metadata)) if sample_indices_fn is not None else np.arange(1)
        frames = frames[np.zeros(len(indices), dtype=np.int64)]
        metadata.frames_indices, metadata.height, metadata.width = indices, frames.shape[1], frames.shape[2]
        return frames, metadata
    try:
        import decord
    except ImportError as err:  # decord is a package dependency, not a Hub-code one
        raise ImportError(f"decoding {path} needs decord (`pip install decord`), or pass decoded frames") from err

    def reason(err: Exception) -> str:  # decord's message without its "[time] file.cc:line: [path]" prefix
        text = (str(err).strip().splitlines() or [type(err).__name__])[0]
        return text.rsplit("] ", 1)[-1][:200]

    try:
        reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
        total = len(reader)
        fps = float(reader.get_avg_fps() or 0.0)
    except Exception as err:  # decord raises its own DECORDError for bad containers and streams
        raise ValueError(f"cannot decode video {path} (no video stream, truncated, or not a video): {reason(err)}") from err
    try:
        if total < 1:
            raise ValueError(f"video {path} has no frames")
        metadata = VideoMetadata(
            total_num_frames=total, fps=fps or None, duration=total / fps if fps else None, video_backend="decord"
        )
        indices = np.asarray(sample_indices_fn(metadata=metadata)) if sample_indices_fn else np.arange(total)
        try:
            frames = _decode_min_work(reader, indices)
        except Exception as err:
            raise ValueError(f"cannot decode frames {indices.tolist()} of video {path}: {reason(err)}") from err
    finally:  # free the native reader now: one left to the garbage collector keeps decoding in the background
        reader.__del__()
        reader._handle = None
    metadata.frames_indices = indices
    metadata.height, metadata.width = frames.shape[1], frames.shape[2]
    return frames, metadata


def split_video_batch(videos) -> list:
    """One video or a batch -> a list of videos, each a path, a frame array / tensor, or a list of frames.

    A list whose first item is a PIL image or an (H, W, C) array is the frames of ONE video; any other list is a batch.
    """
    if isinstance(videos, (str, os.PathLike)):
        return [videos]
    if isinstance(videos, (np.ndarray, torch.Tensor)):
        if videos.ndim == 4:
            return [videos]
        if videos.ndim == 5:
            return list(videos)
        raise ValueError(f"a video array must be (T, H, W, 3) or (B, T, H, W, 3), got shape {tuple(videos.shape)}")
    if isinstance(videos, (list, tuple)):
        if len(videos) == 0:
            raise ValueError("no video given")
        first = videos[0]
        if hasattr(first, "convert") or (isinstance(first, (np.ndarray, torch.Tensor)) and first.ndim == 3):
            return [list(videos)]
        return list(videos)
    raise ValueError(f"unsupported video input of type {type(videos).__name__}")


def video_to_frames(video) -> np.ndarray:
    """A decoded video (array / tensor, or a list of PIL / array frames) -> a contiguous numpy (T, H, W, C).

    Pixel values must be 0..255 (uint8, or floats on that scale): floats outside it, or all within 0..1 (frames
    already rescaled, which would be rescaled again into a black clip), are refused."""
    if isinstance(video, (list, tuple)):
        if len(video) == 0:
            raise ValueError("a video has no frames")
        video = np.stack([np.asarray(f.convert("RGB")) if hasattr(f, "convert") else np.asarray(f) for f in video])
    elif isinstance(video, torch.Tensor):
        video = video.cpu().numpy()
    frames = np.asarray(video)
    if frames.ndim != 4 or frames.shape[-1] not in (1, 3) or frames.shape[0] == 0:
        raise ValueError(f"video frames must be (T, H, W, 3) with T >= 1, got shape {frames.shape}")
    if frames.dtype.kind == "f":
        low, high = float(frames.min()), float(frames.max())
        if not (np.isfinite(low) and np.isfinite(high)) or low < 0 or high > 255:
            raise ValueError(f"float video frames must hold 0..255 pixel values, got values in [{low}, {high}]")
        if 0 < high <= 1:
            raise ValueError(
                f"float video frames hold values in [{low}, {high}]: they look rescaled to 0..1; pass 0..255 values "
                "(e.g. uint8), which the processor rescales itself"
            )
    elif frames.dtype.kind not in "ub":
        raise ValueError(f"video frames must be uint8 (or floats in 0..255), got dtype {frames.dtype}")
    elif frames.dtype.kind == "u" and frames.dtype != np.uint8 and int(frames.max()) > 255:
        raise ValueError(f"video frames must hold 0..255 pixel values, got a maximum of {int(frames.max())}")
    return np.ascontiguousarray(frames)


def text_batch(text, owner: str) -> list[str]:
    """`text` (a string or a list of strings) as a non-empty list of strings; a one-line error naming `owner`."""
    texts = [text] if isinstance(text, str) else list(text)
    if not texts:
        raise ValueError(f"{owner}: `text` is an empty list; pass at least one string")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise ValueError(f"{owner}: `text` must be a string or a list of strings (item {bad} is "
                         f"{type(texts[bad]).__name__})")  # fmt: skip
    return texts


class DecordVideoProcessor(BaseVideoProcessor):
    """`BaseVideoProcessor` plumbing for models that take a fixed `num_frames` per clip (TimeSformer).

    - Paths are decoded with decord (`decode_video_frames`; transformers' default tries torchcodec only), and only the
      sampled frames are read. One batch may mix paths, uint8 arrays / tensors `(T, H, W, 3)` and lists of PIL frames.
    - Sampling: `num_frames` segment centres (`segment_centre_indices`), the same for decoded and in-memory videos.
      `fps=` is refused: a duration-dependent frame count cannot go through TimeSformer, whose divided attention
      reshapes by `config.num_frames`. A method with another sampling scheme overrides `sample_frames` only.
    - Subclasses set the image settings: `size` (`{"shortest_edge"}` + `crop_size` with `do_center_crop`, or
      `{"height", "width"}` for a direct resize), `image_mean` / `image_std`.
    """

    resample = PILImageResampling.BILINEAR
    do_resize = True
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = True
    do_sample_frames = True
    num_frames = 8
    model_input_names = ["pixel_values_videos"]

    def sample_frames(self, metadata: VideoMetadata, num_frames: int | None = None, fps=None, **kwargs) -> np.ndarray:
        """Segment-centre indices of `num_frames` frames (default `self.num_frames`)."""
        if fps is not None:
            raise ValueError(f"{type(self).__name__} samples a fixed `num_frames` per clip; `fps` is not supported")
        num_frames = num_frames if num_frames is not None else self.num_frames
        return segment_centre_indices(int(metadata.total_num_frames), int(num_frames))

    def fetch_videos(self, video_url_or_urls, sample_indices_fn=None):
        """Decode local video files with decord."""
        if isinstance(video_url_or_urls, (list, tuple)):
            decoded = [decode_video_frames(p, sample_indices_fn) for p in video_url_or_urls]
            return [d[0] for d in decoded], [d[1] for d in decoded]
        return decode_video_frames(video_url_or_urls, sample_indices_fn)

    def _decode_and_sample_videos(self, videos, video_metadata=None, do_sample_frames=None, sample_indices_fn=None):
        """Per-video handling, so one batch may mix paths and in-memory videos."""
        sample_indices_fn = sample_indices_fn if do_sample_frames else None
        given = video_metadata if isinstance(video_metadata, (list, tuple)) else [video_metadata]
        out_videos, out_metadata = [], []
        for i, video in enumerate(split_video_batch(videos)):
            if isinstance(video, (str, os.PathLike)):
                frames, metadata = self.fetch_videos(video, sample_indices_fn)
            else:
                frames = video_to_frames(video)
                meta = given[i] if i < len(given) else None
                fps = meta.get("fps") if isinstance(meta, dict) else getattr(meta, "fps", None)
                metadata = VideoMetadata(
                    total_num_frames=frames.shape[0],
                    fps=fps,
                    duration=frames.shape[0] / fps if fps else None,
                    height=frames.shape[1],
                    width=frames.shape[2],
                )
                if sample_indices_fn is not None:
                    metadata.frames_indices = np.asarray(sample_indices_fn(metadata=metadata))
                    frames = frames[metadata.frames_indices]
            out_videos.append(frames)
            out_metadata.append(metadata)
        return out_videos, out_metadata


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


def _check_positive_int(config, name: str, allow_none: bool = False) -> None:
    """Raise a ValueError naming `name` unless `config.<name>` is an int >= 1 (or None with `allow_none`)."""
    value = getattr(config, name)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive int, got {value!r}")


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


def _check_choice(config, name: str, choices) -> None:
    """Raise a ValueError naming `name` unless `config.<name>` is one of `choices`."""
    value = getattr(config, name)
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}, got {value!r}")


def _check_bool(config, name: str) -> None:
    """Raise a ValueError naming `name` unless `config.<name>` is a bool."""
    value = getattr(config, name)
    if not isinstance(value, bool):
        raise ValueError(f"`{name}` must be a bool, got {value!r}")


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


def generation_setup(generation_config, default_config, generate_kwargs: dict) -> tuple[Any, dict]:
    """(a copy of `generation_config`, else of `default_config`, updated with the generation knobs among
    `generate_kwargs`; the remaining model kwargs). A missing `pad_token_id` falls back to the (first) EOS id."""
    config = copy.deepcopy(generation_config if generation_config is not None else default_config)
    model_kwargs = config.update(**generate_kwargs)  # generation knobs go into the copy, the rest to the model
    if config.pad_token_id is None and config.eos_token_id is not None:
        eos = config.eos_token_id
        config.pad_token_id = eos[0] if isinstance(eos, (list, tuple)) else eos
    return config, model_kwargs


def pad_sequences(
    sequences: list[list[int]], pad_id: int, side: str, fill: int | None = None
) -> tuple[list[list[int]], list[list[int]]]:
    """Pad token-id lists to one length on `side` ("left" | "right") with `pad_id` (or `fill`, e.g. -100 for labels);
    returns (ids, attention mask)."""
    length = max((len(s) for s in sequences), default=0)
    ids, mask = [], []
    for seq in sequences:
        extra = length - len(seq)
        pad = [pad_id if fill is None else fill] * extra
        ids.append(pad + seq if side == "left" else seq + pad)
        mask.append([0] * extra + [1] * len(seq) if side == "left" else [1] * len(seq) + [0] * extra)
    return ids, mask


def pad_token_id(tokenizer) -> int:
    """The tokenizer's pad id, else its EOS id (GPT-2 has no pad token; padded positions are masked anyway), else 0."""
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    if tokenizer.eos_token_id is not None:
        return tokenizer.eos_token_id
    return 0


def clean_batch_decode(tokenizer, sequences, skip_special_tokens: bool = True, **kwargs) -> list[str]:
    """Generated ids -> clean texts: text after the first EOS dropped, special tokens skipped, whitespace collapsed."""
    if isinstance(sequences, torch.Tensor):
        sequences = sequences.tolist()
    eos = tokenizer.eos_token_id
    if skip_special_tokens and eos is not None:
        sequences = [list(seq[: list(seq).index(eos)]) if eos in seq else list(seq) for seq in sequences]
    texts = tokenizer.batch_decode(sequences, skip_special_tokens=skip_special_tokens, **kwargs)
    return [" ".join(t.split()) for t in texts]
