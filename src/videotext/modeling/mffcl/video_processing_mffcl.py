"""MFFCL video processor: decode (decord), sample `num_frames` frames, resize, crop, normalise for TimeSformer.

Normalisation: the TimeSformer K400/K600 checkpoints were trained with the SlowFast data pipeline (mean 0.45,
std 0.225 per channel), which is also what their Hub `preprocessor_config.json` (a `VideoMAEImageProcessor`)
declares; transformers' own `TimesformerVideoProcessor` defaults to ImageNet 0.485/0.229 instead, a known mismatch.
We use 0.45 / 0.225.

Frame sampling: uniform segment centres (the clip is cut into `num_frames` equal segments and the middle frame of
each is taken, the "uniform" test-time sampling of Frozen-in-Time / CLIP4Clip). Clips shorter than `num_frames`
repeat frames, so every clip yields exactly `num_frames` frames and a batch stacks to `(B, T, 3, H, W)`.

Inputs: paths (decoded with decord, imported inside the decoding function so the Hub code loads without it),
uint8 `(T, H, W, 3)` numpy arrays / tensors, or lists of PIL frames.

Hub code: imports only stdlib, numpy, torch and transformers' public API.
"""

from __future__ import annotations

import os

import numpy as np
from transformers import BaseVideoProcessor
from transformers.image_utils import PILImageResampling
from transformers.video_utils import VideoMetadata, make_batched_videos

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


# Copied from videotext.modeling.shared_blocks.decode_video_frames
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


class MffclVideoProcessor(BaseVideoProcessor):
    """Video processor of MFFCL: `videos` -> `pixel_values_videos` float `(B, num_frames, 3, 224, 224)`.

    Class defaults: shortest edge 224 then centre crop 224 (TimeSformer-base), bilinear, rescale 1/255, normalise with
    mean 0.45 / std 0.225, `num_frames=8` segment-centre frames (`do_sample_frames=True`).
    """

    resample = PILImageResampling.BILINEAR
    image_mean = TIMESFORMER_MEAN
    image_std = TIMESFORMER_STD
    size = {"shortest_edge": 224}
    default_to_square = False
    crop_size = {"height": 224, "width": 224}
    do_resize = True
    do_center_crop = True
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    do_convert_rgb = True
    do_sample_frames = True
    num_frames = 8
    model_input_names = ["pixel_values_videos"]

    def sample_frames(self, metadata: VideoMetadata, num_frames: int | None = None, fps=None, **kwargs) -> np.ndarray:
        """Segment-centre indices; `fps` (frames per second) is converted to a frame count when given."""
        if fps is not None and num_frames is not None:
            raise ValueError("`num_frames` and `fps` are mutually exclusive")
        total = int(metadata.total_num_frames)
        if fps is not None:
            if not metadata.fps:
                raise ValueError("sampling by `fps` needs the video's fps in its metadata")
            num_frames = max(1, int(total / metadata.fps * fps))
        num_frames = num_frames if num_frames is not None else self.num_frames
        return segment_centre_indices(total, num_frames)

    def fetch_videos(self, video_url_or_urls, sample_indices_fn=None):
        """Decode local paths with decord (transformers' default tries torchcodec only)."""
        if isinstance(video_url_or_urls, (list, tuple)):
            decoded = [self.fetch_videos(v, sample_indices_fn=sample_indices_fn) for v in video_url_or_urls]
            return [d[0] for d in decoded], [d[1] for d in decoded]
        return decode_video_frames(str(video_url_or_urls), sample_indices_fn=sample_indices_fn)

    def _decode_and_sample_videos(self, videos, video_metadata=None, do_sample_frames=None, sample_indices_fn=None):
        """Per-video handling, so one batch may mix paths, arrays and PIL frame lists."""
        if isinstance(videos, (str, os.PathLike)):
            videos = [videos]
        if isinstance(videos, (list, tuple)) and any(isinstance(v, (str, os.PathLike)) for v in videos):
            items = list(videos)
        else:
            items = make_batched_videos(videos)
        if video_metadata is not None and not isinstance(video_metadata, (list, tuple)):
            video_metadata = [video_metadata]
        out_videos, out_metadata = [], []
        for i, video in enumerate(items):
            if isinstance(video, (str, os.PathLike)):
                frames, metadata = self.fetch_videos(video, sample_indices_fn if do_sample_frames else None)
            else:
                if isinstance(video, (list, tuple)):  # list of PIL / array frames
                    video = np.stack([np.asarray(frame) for frame in video])
                frames = video
                given = video_metadata[i] if video_metadata is not None and i < len(video_metadata) else None
                fps = given.get("fps") if isinstance(given, (dict, VideoMetadata)) else None
                metadata = VideoMetadata(
                    total_num_frames=len(frames), fps=fps, duration=len(frames) / fps if fps else None
                )
                if do_sample_frames and sample_indices_fn is not None:
                    indices = np.asarray(sample_indices_fn(metadata=metadata))
                    frames = frames[indices]
                    metadata.frames_indices = indices
            out_videos.append(frames)
            out_metadata.append(metadata)
        return out_videos, out_metadata


__all__ = ["MffclVideoProcessor", "segment_centre_indices"]
