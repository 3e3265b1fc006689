"""Expert feature extractors of TransDCS: raw video (frames + audio track) -> one `(T_m, D_m)` sequence per expert.

MMT never released its extraction code (gabeur/mmt #5, #15), so the experts are computed here. Two families:

- weight-free experts (no pretrained weights needed; they carry real signal about what changes in a clip):
  - `appearance`: per sampled frame, the foreground object's colour, moments and shape cues (fill of its bounding
    box, aspect, skewness; foreground = pixels unlike the frame's border colour), a `grid x grid` colour layout (mean
    RGB per cell) and a `bins`-bin histogram per channel -> `12 + 3 * grid**2 + 3 * bins` dims, one token per frame
    (the RGB expert's role).
  - `motion`: per pair of consecutive frames, the change of the foreground's moments (mass, centroid, spread) and a
    `grid x grid` map of the signed and absolute frame difference -> `10 + 2 * grid**2` dims (the S3D expert's
    role: what moves where, grows, fades).
  - `scene`: per group of `scene_group` frames, mean / std RGB, a 2 x 2 layout and a `bins`-bin grey histogram ->
    `6 + 12 + bins` dims (the DenseNet scene expert's role: a coarse, slowly varying description).
  - `audio`: log-mel energies of the file's audio track (`n_mels` bands, 25 ms window, 10 ms hop) averaged per
    `audio_window` seconds (the VGGish expert's role). A clip without an audio track has no `audio` expert: the
    modality is masked, never zero-filled.
- transformers backbones (the paper-scale path): a spec with a `backbone` (Hub id or local folder) computes its
  `appearance` / `motion` / `scene` / `audio` expert with a pretrained image, video or audio model instead; see
  `backbone_experts_transdcs`. Weight-free and backbone experts mix freely in one list.
- `precomputed`: a feature read from a file (MMT's HDF5, a safetensors file of `videotext extract-experts`); raw
  video cannot produce it (missing when only a video is given).

An expert spec is a dict: `{"name": str, "kind": one of EXPERT_KINDS, "dim": int (precomputed; filled in from the
backbone config for a backbone spec), "backbone": id or folder (backbone experts only), options}`.

This file is part of the Hub code of the method: stdlib, numpy, torch and transformers public API only; decord is
imported inside the functions that decode (a user who passes frame arrays does not need it).
"""

from __future__ import annotations

import math
import os

import numpy as np

from .backbone_experts_transdcs import is_backbone_spec, resolve_backbone_spec

EXPERT_KINDS = ("appearance", "motion", "scene", "audio", "precomputed")
WEIGHT_FREE_EXPERTS = (
    {"name": "appearance", "kind": "appearance", "grid": 4, "bins": 8},
    {"name": "motion", "kind": "motion", "grid": 4},
    {"name": "scene", "kind": "scene", "bins": 8, "scene_group": 4},
    {"name": "audio", "kind": "audio", "n_mels": 64, "audio_window": 1.0},
)


def expert_dim(spec: dict) -> int:
    """Feature width of an expert spec."""
    kind = spec.get("kind")
    if is_backbone_spec(spec):
        return int(resolve_backbone_spec(spec)["dim"]) if spec.get("dim") is None else int(spec["dim"])
    if kind == "appearance":
        return 12 + 3 * int(spec.get("grid", 4)) ** 2 + 3 * int(spec.get("bins", 8))
    if kind == "motion":
        return 10 + 2 * int(spec.get("grid", 4)) ** 2
    if kind == "scene":
        return 18 + int(spec.get("bins", 8))
    if kind == "audio":
        return int(spec.get("n_mels", 64))
    if kind == "precomputed":
        if not isinstance(spec.get("dim"), int) or spec["dim"] < 1:
            raise ValueError(f"expert {spec.get('name')!r}: a precomputed expert needs a positive int `dim`")
        return int(spec["dim"])
    raise ValueError(f"expert {spec.get('name')!r}: `kind` must be one of {EXPERT_KINDS}, got {kind!r}")


def validate_experts(experts) -> list[dict]:
    """A checked copy of a list of expert specs (unique names, known kinds)."""
    if not isinstance(experts, (list, tuple)) or not experts:
        raise ValueError("`experts` must be a non-empty list of expert specs")
    out, seen = [], set()
    for i, spec in enumerate(experts):
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not spec["name"]:
            raise ValueError(f"`experts[{i}]` must be a dict with a `name`, got {spec!r}")
        if spec["name"] in seen:
            raise ValueError(f"`experts[{i}]`: duplicate expert name {spec['name']!r}")
        seen.add(spec["name"])
        spec = resolve_backbone_spec(spec) if is_backbone_spec(spec) else dict(spec)
        expert_dim(spec)
        out.append(spec)
    return out


# ------------------------------------------------------------------------------------------- frame experts
def _grid_means(images: np.ndarray, grid: int) -> np.ndarray:
    """(T, H, W, C) float -> (T, grid, grid, C) cell means (cells split as evenly as the size allows)."""
    h, w = images.shape[1:3]
    if h < grid or w < grid:
        raise ValueError(f"frames of {h}x{w} px are smaller than the {grid}x{grid} expert grid")
    rows = np.array([len(r) for r in np.array_split(np.arange(h), grid)])
    cols = np.array([len(c) for c in np.array_split(np.arange(w), grid)])
    sums = np.add.reduceat(np.add.reduceat(images, np.cumsum(rows) - rows, axis=1), np.cumsum(cols) - cols, axis=2)
    return (sums / (rows[:, None, None] * cols[None, :, None])).astype(np.float32)


def _histograms(values: np.ndarray, bins: int) -> np.ndarray:
    """(T, N) values in [0, 1] -> (T, bins) normalised histograms."""
    t, n = values.shape
    idx = np.minimum((values * bins).astype(np.int64), bins - 1) + bins * np.arange(t)[:, None]  # one bincount
    return (np.bincount(idx.reshape(-1), minlength=t * bins).reshape(t, bins) / max(1, n)).astype(np.float32)


def foreground_mask(images: np.ndarray, threshold: float = 0.12) -> np.ndarray:
    """(T, H, W, 3) float in [0, 1] -> (T, H, W) float {0, 1}: pixels whose colour differs from the frame's border
    colour (per-channel median of the outermost rows / columns) by more than `threshold` (max over channels)."""
    border = np.concatenate([images[:, 0], images[:, -1], images[:, :, 0], images[:, :, -1]], axis=1)  # (T, N, 3)
    background = np.median(border, axis=1)[:, None, None, :]  # (T, 1, 1, 3)
    return (np.abs(images - background).max(axis=-1) > threshold).astype(np.float32)


def _object_descriptor(images: np.ndarray, fg: np.ndarray) -> np.ndarray:
    """(T, 12) per frame: foreground mean colour (3), mass, centroid, spread (5), fill ratio of its bounding box,
    bounding-box aspect, vertical / horizontal skewness (shape cues: a square fills its box, a triangle is skewed)."""
    t, h, w = fg.shape
    moments = _moments(fg)  # (T, 5)
    mass = fg.sum(axis=(1, 2))
    colour = (images * fg[..., None]).sum(axis=(1, 2)) / np.maximum(mass, 1.0)[:, None]
    rows, cols = fg.any(axis=2), fg.any(axis=1)  # (T, H), (T, W)
    height = np.maximum(rows.sum(axis=1), 1).astype(np.float32)
    width = np.maximum(cols.sum(axis=1), 1).astype(np.float32)
    fill = mass / (height * width)
    aspect = np.log(height / width)
    ys = (np.arange(h, dtype=np.float32) + 0.5) / h
    xs = (np.arange(w, dtype=np.float32) + 0.5) / w
    m = np.maximum(mass, 1.0)
    cx, cy, sx, sy = moments[:, 1], moments[:, 2], moments[:, 3] + 1e-3, moments[:, 4] + 1e-3
    skew_y = (fg.sum(axis=2) * (ys[None] - cy[:, None]) ** 3).sum(axis=1) / m / sy**3
    skew_x = (fg.sum(axis=1) * (xs[None] - cx[:, None]) ** 3).sum(axis=1) / m / sx**3
    return np.concatenate([colour, moments, np.stack([fill, aspect, skew_y, skew_x], axis=1)], axis=1)


def appearance_features(frames: np.ndarray, grid: int = 4, bins: int = 8) -> np.ndarray:
    """uint8 (T, H, W, 3) -> (T, 12 + 3 * grid**2 + 3 * bins) per frame: the foreground object's colour, moments and
    shape cues (foreground = unlike the border colour), a colour layout and per-channel histograms."""
    images = frames.astype(np.float32) / 255.0
    t = images.shape[0]
    obj = _object_descriptor(images, foreground_mask(images))
    layout = _grid_means(images, grid).reshape(t, -1)  # (T, grid * grid * 3)
    hists = [_histograms(images[..., ch].reshape(t, -1), bins) for ch in range(3)]
    return np.concatenate([obj, layout, *hists], axis=1).astype(np.float32)


def _moments(fg: np.ndarray) -> np.ndarray:
    """(T, H, W) foreground weights -> (T, 5): mass, centroid x / y, spread x / y (coordinates in [0, 1])."""
    t, h, w = fg.shape
    ys = (np.arange(h, dtype=np.float32) + 0.5) / h
    xs = (np.arange(w, dtype=np.float32) + 0.5) / w
    mass = fg.sum(axis=(1, 2)) + 1e-6
    cx = (fg.sum(axis=1) * xs).sum(axis=1) / mass
    cy = (fg.sum(axis=2) * ys).sum(axis=1) / mass
    sx = np.sqrt(np.maximum((fg.sum(axis=1) * xs**2).sum(axis=1) / mass - cx**2, 0.0))
    sy = np.sqrt(np.maximum((fg.sum(axis=2) * ys**2).sum(axis=1) / mass - cy**2, 0.0))
    return np.stack([mass / (h * w), cx, cy, sx, sy], axis=1).astype(np.float32)


def motion_features(frames: np.ndarray, grid: int = 4) -> np.ndarray:
    """uint8 (T, H, W, 3) -> (max(T - 1, 1), 10 + 2 * grid**2): foreground-moment changes and frame differences."""
    if frames.shape[0] == 1:
        frames = np.concatenate([frames, frames])
    images = frames.astype(np.float32) / 255.0
    gray = images.mean(axis=-1)  # (T, H, W)
    moments = _moments(foreground_mask(images))  # (T, 5)
    delta = (moments[1:] - moments[:-1]) * 10.0  # per-step changes are small: bring them to the scale of the rest
    diff = gray[1:] - gray[:-1]  # (T - 1, H, W)
    signed = _grid_means(diff[..., None], grid).reshape(diff.shape[0], -1)
    absolute = _grid_means(np.abs(diff)[..., None], grid).reshape(diff.shape[0], -1)
    return np.concatenate([delta, moments[1:], signed, absolute], axis=1).astype(np.float32)


def scene_features(frames: np.ndarray, bins: int = 8, scene_group: int = 4) -> np.ndarray:
    """uint8 (T, H, W, 3) -> (ceil(T / scene_group), 18 + bins): coarse statistics per group of frames."""
    images = frames.astype(np.float32) / 255.0
    rows = []
    for start in range(0, images.shape[0], max(1, int(scene_group))):
        group = images[start : start + scene_group]
        flat = group.reshape(-1, 3)
        layout = _grid_means(group.mean(axis=0, keepdims=True), 2).reshape(-1)
        hist = _histograms(group.mean(axis=-1).reshape(1, -1), bins)[0]
        rows.append(np.concatenate([flat.mean(axis=0), flat.std(axis=0), layout, hist]))
    return np.stack(rows).astype(np.float32)


# ------------------------------------------------------------------------------------------------- audio
def _mel_filterbank(sample_rate: int, n_fft: int, n_mels: int) -> np.ndarray:
    """(n_mels, n_fft // 2 + 1) triangular HTK-mel filters."""

    def hz_to_mel(hz):
        return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)

    def mel_to_hz(mel):
        return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)

    freqs = np.linspace(0.0, sample_rate / 2.0, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2.0), n_mels + 2))
    bank = np.zeros((n_mels, freqs.size), np.float32)
    for m in range(n_mels):
        left, centre, right = edges[m], edges[m + 1], edges[m + 2]
        up = (freqs - left) / max(centre - left, 1e-6)
        down = (right - freqs) / max(right - centre, 1e-6)
        bank[m] = np.maximum(0.0, np.minimum(up, down))
    return bank


def log_mel_features(
    waveform: np.ndarray, sample_rate: int, n_mels: int = 64, audio_window: float = 1.0
) -> np.ndarray | None:
    """Mono float waveform -> (num_windows, n_mels) log-mel energies averaged per `audio_window` seconds; None when
    the waveform is empty."""
    wave = np.asarray(waveform, dtype=np.float32).reshape(-1)
    if wave.size == 0:
        return None
    win, hop = int(round(0.025 * sample_rate)), int(round(0.010 * sample_rate))
    n_fft = 1 << max(1, (win - 1).bit_length())
    if wave.size < win:
        wave = np.pad(wave, (0, win - wave.size))
    count = 1 + (wave.size - win) // hop
    index = np.arange(win)[None, :] + hop * np.arange(count)[:, None]
    spectrum = np.abs(np.fft.rfft(wave[index] * np.hanning(win).astype(np.float32), n=n_fft)) ** 2
    mel = np.log(spectrum @ _mel_filterbank(sample_rate, n_fft, n_mels).T + 1e-6)  # (count, n_mels)
    per_window = max(1, int(round(audio_window / 0.010)))
    groups = [mel[i : i + per_window].mean(axis=0) for i in range(0, count, per_window)]
    return np.stack(groups).astype(np.float32)


def read_audio(path, sample_rate: int, start: float | None = None, end: float | None = None) -> np.ndarray | None:
    """The mono audio track of a file as float32 at `sample_rate` (None when the file has no audio track)."""
    try:
        import decord
    except ImportError as err:
        raise ImportError(f"reading the audio of {path} needs decord (`pip install decord`)") from err
    try:
        reader = decord.AudioReader(os.fspath(path), ctx=decord.cpu(0), sample_rate=sample_rate, mono=True)
        wave = reader[:].asnumpy().reshape(-1)
    except Exception:  # decord raises when the container has no audio stream
        return None
    if start is not None or end is not None:
        lo = int(max(0.0, float(start or 0.0)) * sample_rate)
        hi = int(float(end) * sample_rate) if end is not None else wave.size
        wave = wave[lo:hi]
    return wave if wave.size else None


# ------------------------------------------------------------------------------------------------ dispatch
def compute_expert(spec: dict, frames: np.ndarray, audio: np.ndarray | None, sample_rate: int) -> np.ndarray | None:
    """One expert's `(T_m, D_m)` float32 sequence from uint8 frames `(T, H, W, 3)` and an optional mono waveform;
    None when the clip cannot provide it (no audio track, a precomputed expert)."""
    kind = spec["kind"]
    if kind == "appearance":
        return appearance_features(frames, int(spec.get("grid", 4)), int(spec.get("bins", 8)))
    if kind == "motion":
        return motion_features(frames, int(spec.get("grid", 4)))
    if kind == "scene":
        return scene_features(frames, int(spec.get("bins", 8)), int(spec.get("scene_group", 4)))
    if kind == "audio":
        if audio is None:
            return None
        return log_mel_features(audio, sample_rate, int(spec.get("n_mels", 64)), float(spec.get("audio_window", 1.0)))
    return None  # precomputed: only from a feature file


def needs_audio(experts) -> bool:
    return any(spec["kind"] == "audio" for spec in experts)


def clip_time_bounds(frames_total: int, fps: float | None, start, end) -> tuple[int, int]:
    """First and one-past-last frame index of a clip `[start, end]` seconds (the whole file when both are None)."""
    if (start is None and end is None) or not fps:
        return 0, frames_total
    lo = int(math.floor(float(start or 0.0) * fps))
    hi = int(math.ceil(float(end) * fps)) if end is not None else frames_total
    lo, hi = min(max(lo, 0), frames_total - 1), min(max(hi, 1), frames_total)
    return lo, max(hi, lo + 1)


__all__ = [
    "EXPERT_KINDS",
    "WEIGHT_FREE_EXPERTS",
    "appearance_features",
    "compute_expert",
    "expert_dim",
    "log_mel_features",
    "motion_features",
    "read_audio",
    "scene_features",
    "validate_experts",
]
