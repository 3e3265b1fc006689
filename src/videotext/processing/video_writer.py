"""Write uint8 RGB frames to a video file with the ffmpeg binary shipped by `imageio-ffmpeg`.

Frames are piped to ffmpeg as raw ``rgb24``; the container follows the file extension
(``.mp4``, ``.webm``, ``.avi``, ``.mkv``, ``.mov``). Output is bit-exact for the same input and
arguments (``-threads 1``, ``-bitexact``), so generated datasets are reproducible byte for byte.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

SUPPORTED_CODECS = ("libx264", "mpeg4", "libvpx-vp9")


def _ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def _codec_args(codec: str, ext: str) -> list[str]:
    if codec == "libx264":
        # yuv420p is what every player and decord expect; crf 18 is visually lossless for flat shapes.
        return ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", "-crf", "18", "-threads", "1"]
    if codec == "mpeg4":
        return ["-c:v", "mpeg4", "-pix_fmt", "yuv420p", "-q:v", "2", "-threads", "1"]
    if codec == "libvpx-vp9":
        return ["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-b:v", "0", "-crf", "30", "-deadline", "realtime",
                "-cpu-used", "8", "-row-mt", "0", "-threads", "1"]  # fmt: skip
    raise ValueError(f"codec must be one of {SUPPORTED_CODECS}, got {codec!r}")


def write_video(path: str | os.PathLike, frames, fps: float = 8, codec: str = "libx264", gop: int | None = None) -> str:
    """Encode ``frames`` (uint8 array or sequence of arrays, shape ``(T, H, W, 3)``, RGB) to ``path``.

    Args:
        path: output file; its extension chooses the container (``.mp4``, ``.webm``, ``.avi``, ...).
            A ``.webm`` path with the default codec is written with ``libvpx-vp9`` instead.
        frames: the frames, uint8 RGB. Odd heights/widths are padded by one edge pixel for yuv420p.
        fps: frame rate written in the container.
        codec: ``"libx264"`` (H.264, yuv420p), ``"mpeg4"`` (MPEG-4 Part 2) or ``"libvpx-vp9"`` (VP9).
        gop: keyframe interval in frames (ffmpeg ``-g``, with scene-cut keyframes off so every GOP has exactly
            this length); ``None`` keeps the encoder's default.

    Returns:
        The path written, as a string.

    Raises:
        ValueError: for bad frames, codec, or when ffmpeg fails (its stderr tail is in the message).
    """
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".webm" and codec == "libx264":
        codec = "libvpx-vp9"
    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.shape[0] == 0:
        raise ValueError(f"frames must have shape (T, H, W, 3) with T > 0, got {arr.shape} for {path}")
    if arr.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {arr.dtype} for {path}")
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps} for {path}")
    if gop is not None and (isinstance(gop, bool) or int(gop) != gop or gop < 1):
        raise ValueError(f"gop must be a positive integer, got {gop!r} for {path}")
    gop_args = [] if gop is None else ["-g", str(int(gop)), "-keyint_min", str(int(gop)), "-sc_threshold", "0"]
    t, h, w, _ = arr.shape
    if h % 2 or w % 2:  # 4:2:0 chroma subsampling needs even sizes
        arr = np.pad(arr, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        t, h, w, _ = arr.shape
    arr = np.ascontiguousarray(arr)
    path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        _ffmpeg_exe(), "-y", "-loglevel", "error", "-nostdin",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", f"{fps}", "-i", "pipe:0",
        "-an", *_codec_args(codec, ext), *gop_args, "-fflags", "+bitexact", "-flags:v", "+bitexact",
        "-map_metadata", "-1", str(path),
    ]  # fmt: skip
    proc = subprocess.run(cmd, input=arr.tobytes(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace")[-800:]
        raise ValueError(f"ffmpeg failed to write {path} (codec {codec}): {tail}")
    return str(path)
