"""Video processor of TransDCS: raw videos (or precomputed feature files) -> padded expert features and masks.

`TransDcsVideoProcessor(experts=[...])` computes every expert (weight-free ones of `expert_extraction_transdcs`,
transformers backbones of `backbone_experts_transdcs`) from a video path (decord: segment-centre frames of the
clip, and its audio track) or a uint8 frame array (no audio: the audio expert is missing), and packs a batch into
`expert_features` `(B, M, T, D_max)` (zero padded) and `expert_mask` `(B, M, T)` (1 = a real feature step; a
missing expert is an all-zero row). Precomputed features (MMT's HDF5 files, `videotext extract-experts` output)
come in as `{expert name: (T_m, D_m) array or None}` dicts and are packed the same way. The list of expert specs (backbone ids / folders, outputs, frame counts and widths
included) is saved in `preprocessor_config.json`, so a trained model's folder computes the same features for a new
video; `check_model_config` refuses a model whose `expert_dims` differ, naming the expert and both widths.

This file is part of the Hub code of the method: stdlib, numpy, torch and transformers public API, plus its sibling;
decord is imported inside a function only.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from transformers import BaseVideoProcessor, BatchFeature
from transformers.video_utils import VideoMetadata

from .backbone_experts_transdcs import backbone_expert, is_backbone_spec, load_backbone
from .expert_extraction_transdcs import (
    WEIGHT_FREE_EXPERTS,
    clip_time_bounds,
    compute_expert,
    expert_dim,
    read_audio,
    validate_experts,
)


# Copied from videotext.modeling.shared_blocks.segment_centre_indices
def segment_centre_indices(num_total: int, num_frames: int) -> np.ndarray:
    """Centre frame of each of `num_frames` equal segments of a `num_total`-frame clip.

    Clips shorter than `num_frames` repeat frames in order (2 frames -> 0, 0, 1, 1), so every video yields exactly
    `num_frames` frames.
    """
    if num_total < 1:
        raise ValueError(f"cannot sample frames from a clip with {num_total} frames")
    idx = np.floor((np.arange(num_frames) + 0.5) * num_total / num_frames).astype(np.int64)
    return np.minimum(idx, num_total - 1)


# Copied from videotext.modeling.shared_blocks._decode_min_work
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


# Copied from videotext.modeling.shared_blocks.decode_video_frames
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


# Copied from videotext.modeling.shared_blocks.split_video_batch
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


# Copied from videotext.modeling.shared_blocks.video_to_frames
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


def evenly_subsample(features: np.ndarray, max_steps: int) -> np.ndarray:
    """At most `max_steps` rows of a `(T, D)` sequence, evenly spaced (segment centres), in order."""
    if features.shape[0] <= max_steps:
        return features
    return features[segment_centre_indices(features.shape[0], max_steps)]


class TransDcsVideoProcessor(BaseVideoProcessor):
    r"""
    Expert features for TransDCS from videos or feature files.

    Args:
        experts: expert specs (`{"name", "kind", ...}`, see `expert_extraction_transdcs`; with a `backbone`, a
            transformers model, see `backbone_experts_transdcs`), in the model's `config.experts` order. Default: the
            weight-free appearance, motion, scene and audio experts.
        num_frames: frames sampled per clip (segment centres) for the frame experts.
        max_expert_tokens: feature steps kept per expert (MMT: 30); longer sequences are subsampled evenly.
        audio_sample_rate: sample rate the audio track is decoded at.
        max_text_length: the caption token cap the processor uses by default (kept here so that one settings
            section configures the whole processor; MMT: 30, 100 for ActivityNet paragraphs).
    """

    model_input_names = ["expert_features", "expert_mask"]

    def __init__(self, experts: list[dict] | None = None, num_frames: int = 16, max_expert_tokens: int = 30,
                 audio_sample_rate: int = 16000, max_text_length: int = 32, **kwargs):  # fmt: skip
        for name, value in (("num_frames", num_frames), ("max_expert_tokens", max_expert_tokens),
                            ("audio_sample_rate", audio_sample_rate), ("max_text_length", max_text_length)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}")
        kwargs.pop("do_sample_frames", None)
        super().__init__(**kwargs)
        self.experts = validate_experts(list(experts) if experts is not None else [dict(e) for e in WEIGHT_FREE_EXPERTS])
        self.num_frames = num_frames
        self.max_expert_tokens = max_expert_tokens
        self.audio_sample_rate = audio_sample_rate
        self.max_text_length = max_text_length

    @property
    def expert_names(self) -> list[str]:
        return [spec["name"] for spec in self.experts]

    @property
    def expert_dims(self) -> list[int]:
        return [expert_dim(spec) for spec in self.experts]

    # ------------------------------------------------------------------------------------------- extraction
    def _frames(self, video, start=None, end=None, count: int | None = None) -> np.ndarray:
        return self._frames_by_count(video, start, end, [count or self.num_frames])[count or self.num_frames]

    def _frames_by_count(self, video, start, end, counts) -> dict[int, np.ndarray]:
        """`{count: (count, H, W, 3) uint8}`: `count` segment-centre frames of the clip for every count, decoded in
        one pass over the union of their indices."""
        picks: dict[int, np.ndarray] = {}

        def indices(total: int, lo: int = 0) -> np.ndarray:
            for count in counts:
                picks[count] = lo + segment_centre_indices(total, count)
            return np.unique(np.concatenate(list(picks.values())))  # sorted: one forward pass of the decoder

        if isinstance(video, (str, os.PathLike)):

            def file_indices(metadata: VideoMetadata) -> np.ndarray:
                lo, hi = clip_time_bounds(int(metadata.total_num_frames), metadata.fps, start, end)
                return indices(hi - lo, lo)

            frames, metadata = decode_video_frames(video, file_indices)
            union = np.asarray(metadata.frames_indices)
        else:
            frames = video_to_frames(video)
            union = indices(frames.shape[0])
            frames = frames[union]
        return {count: frames[np.searchsorted(union, pick)] for count, pick in picks.items()}

    def _frame_counts(self) -> list[int]:
        """Every frame count the experts sample (weight-free frame experts: `num_frames`; backbones: their own)."""
        counts = set()
        for spec in self.experts:
            if spec["kind"] in ("precomputed", "audio"):
                continue
            if not is_backbone_spec(spec):
                counts.add(self.num_frames)
            elif spec["kind"] == "motion":
                counts.add(spec["num_clips"] * spec["frames_per_clip"])
            else:
                counts.add(spec.get("num_frames") or self.num_frames)
        return sorted(counts)

    def extract(self, video, start: float | None = None, end: float | None = None) -> dict[str, np.ndarray | None]:
        """`{expert name: (T_m, D_m) float32 or None}` for one video (path or uint8 `(T, H, W, 3)` frames), clip
        `[start, end]` seconds of a file (whole file by default). None = the clip has no such expert (no audio
        track, a precomputed expert). The frames of every expert are decoded in one pass, the audio once per rate."""
        counts = self._frame_counts()
        frames = self._frames_by_count(video, start, end, counts) if counts else {}
        audio = {}

        def audio_for(rate: int) -> np.ndarray | None:
            if not isinstance(video, (str, os.PathLike)):
                return None  # decoded frames carry no audio track
            if rate not in audio:
                audio[rate] = read_audio(video, rate, start, end)
            return audio[rate]

        out = {}
        for spec in self.experts:
            if spec["kind"] == "precomputed":
                out[spec["name"]] = None
            elif is_backbone_spec(spec):
                out[spec["name"]] = backbone_expert(spec, frames.__getitem__, audio_for, self.num_frames)
            elif spec["kind"] == "audio":
                out[spec["name"]] = compute_expert(spec, None, audio_for(self.audio_sample_rate), self.audio_sample_rate)
            else:
                out[spec["name"]] = compute_expert(spec, frames[self.num_frames], None, self.audio_sample_rate)
        return out

    def backbone_weights(self) -> dict[str, str]:
        """`{expert name: weights hash}` of every backbone expert (loads the backbones): which weights made the
        features (the `extract-experts` manifest records it)."""
        return {spec["name"]: load_backbone(spec).weights_hash for spec in self.experts if is_backbone_spec(spec)}

    def check_model_config(self, config) -> None:
        """One-line ValueError unless this processor's experts are the model's (`config.experts`, same order) with
        the widths its reduction layers take (`config.expert_dims`)."""
        names, dims = self.expert_names, self.expert_dims
        if list(config.experts) != names:
            raise ValueError(f"the processor computes experts {names} but the model takes {list(config.experts)} "
                             "(config.experts, same order)")  # fmt: skip
        for name, have, want in zip(names, dims, config.expert_dims):
            if have != want:
                raise ValueError(f"expert {name!r}: the processor's extractor gives {have}-dim features but the "
                                 f"model expects {want} (config.expert_dims)")  # fmt: skip

    # ---------------------------------------------------------------------------------------------- packing
    def pack(self, per_video: list[dict], return_tensors: str | None = "pt") -> BatchFeature:
        """A batch of `{expert name: (T_m, D_m) array or None}` -> `expert_features` (B, M, T, D_max) and
        `expert_mask` (B, M, T); names absent from a dict are missing experts."""
        dims, names = self.expert_dims, self.expert_names
        sequences = []
        for i, features in enumerate(per_video):
            if not isinstance(features, dict):
                raise ValueError(f"expert_features[{i}] must be a dict {{expert name: (T, D) array}}, got "
                                 f"{type(features).__name__}")  # fmt: skip
            row = []
            for name, dim in zip(names, dims):
                value = features.get(name)
                if value is not None:
                    value = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value, np.float32)
                    if value.ndim == 1:
                        value = value[None]
                    if value.ndim != 2 or value.shape[1] != dim:
                        raise ValueError(f"expert {name!r} of video {i}: expected (T, {dim}) features, got shape "
                                         f"{value.shape}")  # fmt: skip
                    if value.shape[0] == 0 or not np.isfinite(value[0, 0]):  # MMT's missing-expert signals
                        value = None
                    else:
                        value = evenly_subsample(np.nan_to_num(value), self.max_expert_tokens)
                row.append(value)
            sequences.append(row)
        steps = max([1] + [v.shape[0] for row in sequences for v in row if v is not None])
        features = np.zeros((len(sequences), len(names), steps, max(dims)), np.float32)
        mask = np.zeros((len(sequences), len(names), steps), np.int64)
        for b, row in enumerate(sequences):
            for m, value in enumerate(row):
                if value is not None:
                    features[b, m, : value.shape[0], : value.shape[1]] = value
                    mask[b, m, : value.shape[0]] = 1
        return BatchFeature({"expert_features": features, "expert_mask": mask}, tensor_type=return_tensors)

    def __call__(self, videos=None, expert_features: list[dict] | None = None, clip_bounds=None,
                 return_tensors: str | None = "pt", **kwargs) -> BatchFeature:  # fmt: skip
        """
        Args:
            videos: one video or a list (paths, uint8 `(T, H, W, 3)` arrays / tensors, lists of PIL frames).
            expert_features: instead of videos, one `{expert name: (T_m, D_m) array}` dict per video.
            clip_bounds: per video `(start, end)` seconds (None: the whole file).
        """
        if (videos is None) == (expert_features is None):
            raise ValueError("TransDcsVideoProcessor needs exactly one of `videos` or `expert_features`")
        if kwargs:
            raise ValueError(f"TransDcsVideoProcessor got unexpected arguments {sorted(kwargs)}")
        if expert_features is None:
            videos = split_video_batch(videos)
            bounds = list(clip_bounds) if clip_bounds is not None else [(None, None)] * len(videos)
            if len(bounds) != len(videos):
                raise ValueError(f"`clip_bounds` has {len(bounds)} entries for {len(videos)} videos")
            expert_features = [self.extract(v, *(b or (None, None))) for v, b in zip(videos, bounds)]
        elif isinstance(expert_features, dict):
            expert_features = [expert_features]
        return self.pack(list(expert_features), return_tensors=return_tensors)

    def preprocess(self, videos=None, **kwargs) -> BatchFeature:
        return self(videos, **kwargs)


__all__ = ["TransDcsVideoProcessor", "evenly_subsample"]
