"""MFFCL video processor: decode (decord), sample `num_frames` frames, resize, crop, normalise for TimeSformer.

Normalisation: the TimeSformer K400/K600 checkpoints were trained with the SlowFast data pipeline (mean 0.45,
std 0.225 per channel), which is also what their Hub `preprocessor_config.json` (a `VideoMAEImageProcessor`)
declares; transformers' own `TimesformerVideoProcessor` defaults to ImageNet 0.485/0.229 instead, a known mismatch.
We use 0.45 / 0.225.

Decoding, frame sampling (uniform segment centres, the "uniform" test-time sampling of Frozen-in-Time / CLIP4Clip;
short clips repeat frames) and input handling are the shared `DecordVideoProcessor`; this file sets the image
settings only.

Hub code: imports only stdlib, numpy, torch and transformers' public API; decord is imported inside a function.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from transformers import BaseVideoProcessor
from transformers.image_utils import PILImageResampling
from transformers.video_utils import VideoMetadata

TIMESFORMER_MEAN = [0.45, 0.45, 0.45]
TIMESFORMER_STD = [0.225, 0.225, 0.225]


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


# Copied from videotext.modeling.shared_blocks.DecordVideoProcessor
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


class MffclVideoProcessor(DecordVideoProcessor):
    """Video processor of MFFCL: `videos` -> `pixel_values_videos` float `(B, num_frames, 3, 224, 224)`.

    Class defaults: shortest edge 224 then centre crop 224 (TimeSformer-base), bilinear, rescale 1/255, normalise with
    mean 0.45 / std 0.225, `num_frames=8` segment-centre frames (`do_sample_frames=True`).
    """

    image_mean = TIMESFORMER_MEAN
    image_std = TIMESFORMER_STD
    size = {"shortest_edge": 224}
    default_to_square = False
    crop_size = {"height": 224, "width": 224}
    do_center_crop = True


__all__ = ["MffclVideoProcessor", "segment_centre_indices"]
