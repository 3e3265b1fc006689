"""Frame-index sampling shared by every data pipeline (uniform, random-per-segment, fixed fps)."""

from __future__ import annotations

import math

import numpy as np

SAMPLING_MODES = ("uniform", "random", "fps")


def _as_generator(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, np.random.RandomState):
        return np.random.default_rng(rng.randint(0, 2**31 - 1))
    return np.random.default_rng(rng)  # None, int seed or SeedSequence


def _segment_centres(first: int, count: int, num_frames: int) -> np.ndarray:
    """Index of the centre of each of ``num_frames`` equal segments of ``count`` frames starting at ``first``."""
    seg = count / num_frames
    idx = first + np.floor((np.arange(num_frames) + 0.5) * seg).astype(np.int64)
    return np.minimum(idx, first + count - 1)


def sample_frame_indices(
    num_total: int,
    num_frames: int | None,
    sampling: str = "uniform",
    *,
    video_fps: float | None = None,
    fps: float | None = None,
    first: int = 0,
    last: int | None = None,
    rng=None,
) -> np.ndarray:
    """Choose frame indices of a video for a model input.

    The candidate range is the inclusive frame range ``[first, last]`` (``last`` defaults to
    ``num_total - 1``). It is cut into ``num_frames`` equal segments and:

    - ``"uniform"``: the centre frame of every segment (deterministic; evaluation).
    - ``"random"``: one frame drawn uniformly inside every segment (TSN-style; training).
      ``rng`` is a ``numpy.random.Generator``, an int seed, or ``None`` (fresh entropy).
    - ``"fps"``: one frame every ``video_fps / fps`` frames from ``first`` (needs both rates).
      When ``num_frames`` is given the result is resampled to exactly ``num_frames`` with the
      segment-centre rule (subsampled when longer, padded by repetition when shorter); with
      ``num_frames=None`` every fps frame is returned (variable length).

    Short clips are padded by repetition: when the range holds fewer frames than ``num_frames``,
    segments are shorter than one frame and several segment centres fall on the same frame, so
    indices repeat in temporal order (e.g. 3 frames, 6 requested -> ``[0, 0, 1, 1, 2, 2]``).
    The output always has ``num_frames`` entries (except ``"fps"`` with ``num_frames=None``), is
    non-decreasing, and lies in ``[first, last]``.

    Returns:
        ``np.ndarray`` of ``int64`` frame indices into the file.

    Raises:
        ValueError: empty video or range, unknown mode, missing rates for ``"fps"``, bad counts.
    """
    if sampling not in SAMPLING_MODES:
        raise ValueError(f"sampling must be one of {SAMPLING_MODES}, got {sampling!r}")
    num_total = int(num_total)
    if num_total <= 0:
        raise ValueError(f"the video has no frames (num_total={num_total})")
    if num_frames is not None and int(num_frames) <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    if num_frames is None and sampling != "fps":
        raise ValueError(f"num_frames is required for sampling={sampling!r}")
    first = int(first)
    last = num_total - 1 if last is None else int(last)
    if not 0 <= first <= last < num_total:
        raise ValueError(f"frame range [{first}, {last}] is empty or outside the video's {num_total} frames")
    count = last - first + 1

    if sampling == "uniform":
        return _segment_centres(first, count, int(num_frames))

    if sampling == "random":
        n = int(num_frames)
        gen = _as_generator(rng)
        bounds = np.floor(np.arange(n + 1) * (count / n)).astype(np.int64)
        lo = bounds[:-1]
        hi = np.maximum(bounds[1:], lo + 1)  # exclusive; a segment shorter than a frame keeps its start frame
        idx = first + gen.integers(lo, hi)
        return np.minimum(idx, last).astype(np.int64)

    # "fps"
    if video_fps is None or fps is None or video_fps <= 0 or fps <= 0:
        raise ValueError(f"sampling='fps' needs positive video_fps and fps, got video_fps={video_fps}, fps={fps}")
    step = float(video_fps) / float(fps)
    n_fps = max(1, math.floor((count - 1) / step + 1e-9) + 1)
    idx = first + np.floor(np.arange(n_fps) * step + 1e-9).astype(np.int64)
    idx = np.minimum(idx, last)
    if num_frames is None or len(idx) == int(num_frames):
        return idx.astype(np.int64)
    pick = _segment_centres(0, len(idx), int(num_frames))
    return idx[pick].astype(np.int64)
