"""Transformers-backbone expert extractors of TransDCS: the paper-scale path. The paper's experts (Sec. 3, after MMT)
are each "pre-processed by a pre-trained network in its domain" (S3D on Kinetics for motion, DenseNet-161 on Places365
for scene, VGGish for audio, ...); here that network is any transformers image, video or audio model.

A spec with a `backbone` (Hub id or local folder) computes its expert with a pretrained transformers model loaded
through the Auto classes, lazily and once per process (`local_files_only` when `HF_HUB_OFFLINE` is set):

- `appearance` (MMT's RGB expert): an image model (CLIP vision, ViT, ...) on each of `num_frames` sampled frames
  (default: the processor's `num_frames`) -> `(num_frames, D)`.
- `scene` (MMT's DenseNet scene expert): an image model on `num_frames` frames (default 1: the middle frame).
- `motion` (MMT's S3D expert): a video model (VideoMAE, TimeSformer, X-CLIP with `output: projected`) on `num_clips`
  consecutive clips of `frames_per_clip` frames (default: the backbone config's `num_frames`) -> `(num_clips, D)`.
- `audio` (MMT's VGGish expert): an audio model (AST, Wav2Vec2, CLAP) through its feature extractor on windows of
  `audio_window` seconds of the file's audio track at `sample_rate` (default: the feature extractor's) ->
  `(num_windows, D)`; None (a masked modality) when the file has no audio track.

`output` picks the vector per input: "pooler" (`pooler_output`), "cls" (the first token), "mean" (tokens, or the
spatial map of a convolutional model, averaged), "projected" (`get_image_features` / `get_video_features` /
`get_audio_features` of a dual-encoder such as CLIP, X-CLIP or CLAP) or "auto" (pooler when the model has one, else
mean). `dtype` ("float32", "float16", "bfloat16") and `device` ("auto": CUDA when available) set where it runs; the
features are float32 either way. The expert's width `dim` comes from the backbone config and is written into the spec
when it is resolved, so a saved processor knows its widths without loading the backbone; a stated `dim` that
disagrees with the backbone is a one-line error naming the expert and both widths.

This file is part of the Hub code of the method: stdlib, numpy, torch and transformers public API only.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import math
import os

import numpy as np
import torch

BACKBONE_KINDS = ("appearance", "motion", "scene", "audio")
BACKBONE_OUTPUTS = ("auto", "pooler", "cls", "mean", "projected")
BACKBONE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
_PROJECTED = {"appearance": "get_image_features", "scene": "get_image_features", "motion": "get_video_features",
              "audio": "get_audio_features"}  # fmt: skip
_LOADED: dict[tuple, _Backbone] = {}


def is_backbone_spec(spec: dict) -> bool:
    return spec.get("backbone") is not None


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0][:300]


@functools.lru_cache(maxsize=32)
def _backbone_config(source: str, name: str):
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, local_files_only=_offline())
    except Exception as err:  # OSError / ValueError / hub errors: one line naming the expert
        raise ValueError(f"expert {name!r}: cannot load the backbone config of {source!r}: {_first_line(err)}") from err


def _load_preprocessor(source: str, kind: str, name: str):
    """The backbone's own input pipeline: a video processor for motion, an image processor for frames, a feature
    extractor for audio."""
    from transformers import AutoFeatureExtractor, AutoImageProcessor

    local = _offline()
    try:
        if kind == "audio":
            return AutoFeatureExtractor.from_pretrained(source, local_files_only=local)
        if kind == "motion":
            try:  # the public name is a placeholder without torchvision; the module path is the real class
                from transformers.models.auto.video_processing_auto import AutoVideoProcessor

                return AutoVideoProcessor.from_pretrained(source, local_files_only=local)
            except (OSError, ValueError, ImportError):
                pass  # a video model whose folder only has an image processor (e.g. VideoMAEImageProcessor)
        return AutoImageProcessor.from_pretrained(source, local_files_only=local)
    except Exception as err:
        raise ValueError(f"expert {name!r}: cannot load the preprocessor of {source!r}: {_first_line(err)}") from err


def backbone_dim(config, kind: str, output: str, name: str = "?") -> int:
    """Feature width of a backbone's `output` read from its config (the tower's `hidden_size`, the last of
    `hidden_sizes` for a convolutional one, `projection_dim` for "projected")."""
    sub_config = "audio_config" if kind == "audio" else "vision_config"
    if output == "projected":
        dim = getattr(config, "projection_dim", None)
        if not isinstance(dim, int) or getattr(config, sub_config, None) is None:  # a lone tower has no projection
            raise ValueError(f"expert {name!r}: output 'projected' needs a dual-encoder backbone with `projection_dim` "
                             f"(CLIP, X-CLIP, CLAP), got model_type {config.model_type!r}")  # fmt: skip
        return dim
    tower = getattr(config, sub_config, None) or config
    dim = getattr(tower, "hidden_size", None)
    if not isinstance(dim, int):
        sizes = getattr(tower, "hidden_sizes", None)
        dim = sizes[-1] if sizes else None
    if not isinstance(dim, int):
        raise ValueError(f"expert {name!r}: cannot tell the feature width of model_type {config.model_type!r}")
    return dim


def _positive_int(spec: dict, key: str, allow_none: bool = False) -> None:
    value = spec.get(key)
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"expert {spec['name']!r}: `{key}` must be a positive int, got {value!r}")


def resolve_backbone_spec(spec: dict) -> dict:
    """A checked copy of a backbone spec with every default filled in (output, dtype, device, frames / window,
    sample rate, dim). The backbone config (and, for audio without `sample_rate`, its feature extractor config) is
    read only when a field is missing, so a saved spec resolves offline without the backbone."""
    spec = dict(spec)
    name, kind, source = spec["name"], spec.get("kind"), spec.get("backbone")
    if kind not in BACKBONE_KINDS:
        raise ValueError(f"expert {name!r}: a backbone expert's `kind` must be one of {BACKBONE_KINDS}, got {kind!r}")
    if not isinstance(source, str) or not source:
        raise ValueError(f"expert {name!r}: `backbone` must be a Hub model id or a local folder, got {source!r}")
    spec["backbone"] = os.fspath(source)
    spec.setdefault("output", "auto")
    spec.setdefault("dtype", "float32")
    spec.setdefault("device", "auto")
    if spec["output"] not in BACKBONE_OUTPUTS:
        raise ValueError(f"expert {name!r}: `output` must be one of {BACKBONE_OUTPUTS}, got {spec['output']!r}")
    if spec["dtype"] not in BACKBONE_DTYPES:
        raise ValueError(f"expert {name!r}: `dtype` must be one of {tuple(BACKBONE_DTYPES)}, got {spec['dtype']!r}")
    if not isinstance(spec["device"], str) or not spec["device"]:
        raise ValueError(f"expert {name!r}: `device` must be a string ('auto', 'cpu', 'cuda:0'), got {spec['device']!r}")
    config = None

    def cfg():
        nonlocal config
        config = config or _backbone_config(spec["backbone"], name)
        return config

    if kind in ("appearance", "scene"):
        spec.setdefault("num_frames", 1 if kind == "scene" else None)  # None: the processor's num_frames
        _positive_int(spec, "num_frames", allow_none=True)
    elif kind == "motion":
        spec.setdefault("num_clips", 4)
        if spec.get("frames_per_clip") is None:
            frames = getattr(cfg(), "num_frames", None) or getattr(getattr(cfg(), "vision_config", None), "num_frames", None)
            spec["frames_per_clip"] = int(frames or 16)
        _positive_int(spec, "num_clips")
        _positive_int(spec, "frames_per_clip")
    else:
        spec.setdefault("audio_window", 1.0)
        window = spec["audio_window"]
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not math.isfinite(window) or window <= 0:
            raise ValueError(f"expert {name!r}: `audio_window` must be a positive finite number of seconds, got {window!r}")
        if spec.get("sample_rate") is None:
            spec["sample_rate"] = int(_load_preprocessor(spec["backbone"], "audio", name).sampling_rate)
        _positive_int(spec, "sample_rate")
    if spec.get("dim") is None:
        spec["dim"] = backbone_dim(cfg(), kind, spec["output"], name)
    _positive_int(spec, "dim")
    return spec


def weights_hash(model: torch.nn.Module) -> str:
    """sha256 of the loaded parameters and buffers (names, dtypes, shapes, bytes): which weights made the features,
    whatever file format or Hub revision they came from."""
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        value = tensor.detach().to("cpu").contiguous().reshape(-1)  # a 0-dim tensor (logit_scale) has no byte view
        digest.update(value.view(torch.uint8).numpy().tobytes() if value.numel() else b"")
    return digest.hexdigest()[:16]


class _Backbone:
    """One loaded backbone + preprocessor (cached per process by `load_backbone`)."""

    def __init__(self, spec: dict):
        from transformers import AutoModel

        name, source = spec["name"], spec["backbone"]
        device = spec["device"] if spec["device"] != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
        self.dtype, self.device = BACKBONE_DTYPES[spec["dtype"]], torch.device(device)
        try:
            model = AutoModel.from_pretrained(source, local_files_only=_offline())
        except Exception as err:
            raise ValueError(f"expert {name!r}: cannot load the backbone {source!r}: {_first_line(err)}") from err
        self.weights_hash = weights_hash(model)
        self.model = model.to(device=self.device, dtype=self.dtype).eval()
        self.preprocessor = _load_preprocessor(source, spec["kind"], name)

    def _call(self, fn, inputs) -> object:
        accepted = inspect.signature(fn).parameters
        kwargs = {}
        for key, value in inputs.items():
            if key == "pixel_values_videos":
                key = "pixel_values"  # video processors name it for multimodal models; video encoders take pixel_values
            if key in accepted and isinstance(value, torch.Tensor):
                value = value.to(self.device)
                kwargs[key] = value.to(self.dtype) if value.is_floating_point() else value
        return fn(**kwargs)

    @torch.inference_mode()
    def embed(self, inputs, spec: dict) -> np.ndarray:
        """Preprocessed inputs of a batch -> (batch, dim) float32 vectors of the spec's `output`."""
        kind, output = spec["kind"], spec["output"]
        if output == "projected":
            result = self._call(getattr(self.model, _PROJECTED[kind]), inputs)
            vectors = result if isinstance(result, torch.Tensor) else result.pooler_output
        else:
            tower = getattr(self.model, "audio_model" if kind == "audio" else "vision_model", None)
            if kind == "motion" or not isinstance(tower, torch.nn.Module):
                tower = self.model  # a single-tower checkpoint (CLIPVisionModel, ViT, VideoMAE, AST, ...)
            out = self._call(tower.forward, inputs)
            pooled = getattr(out, "pooler_output", None)
            if output == "pooler" and pooled is None:
                raise ValueError(f"expert {spec['name']!r}: {type(tower).__name__} has no pooler_output; use output "
                                 "'cls' or 'mean'")  # fmt: skip
            if output in ("pooler", "auto") and pooled is not None:
                vectors = pooled.reshape(pooled.shape[0], -1)  # (B, C, 1, 1) of a conv net -> (B, C)
            elif output == "cls":
                vectors = out.last_hidden_state[:, 0]
            else:
                hidden = out.last_hidden_state
                vectors = hidden.mean(dim=(2, 3)) if hidden.ndim == 4 else hidden.mean(dim=1)  # conv map / tokens
        return vectors.float().cpu().numpy().astype(np.float32)


def load_backbone(spec: dict) -> _Backbone:
    """The loaded backbone of a resolved spec: once per process and (source, dtype, device, input family), so two
    experts on one checkpoint (e.g. appearance and scene) share it. Checks the spec's `dim` against the config."""
    family = {"audio": "audio", "motion": "video"}.get(spec["kind"], "image")
    key = (spec["backbone"], spec["dtype"], spec["device"], family)
    if key not in _LOADED:
        _LOADED[key] = _Backbone(spec)
    backbone = _LOADED[key]
    dim = backbone_dim(backbone.model.config, spec["kind"], spec["output"], spec["name"])
    if dim != spec["dim"]:
        raise ValueError(f"expert {spec['name']!r}: the backbone {spec['backbone']} gives {dim}-dim features but the "
                         f"spec says dim {spec['dim']}")  # fmt: skip
    return backbone


def _audio_windows(wave: np.ndarray, sample_rate: int, window: float) -> list[np.ndarray]:
    """Consecutive `window`-second pieces; a last partial piece is zero-padded to a full one when it holds at least
    half a window (or is the whole track), else dropped, so every piece has the same length (one batch, no padding
    mask to respect)."""
    size = max(1, int(round(window * sample_rate)))
    pieces = [wave[i : i + size] for i in range(0, wave.size, size)]
    if pieces and pieces[-1].size < size:
        if pieces[-1].size * 2 >= size or len(pieces) == 1:
            pieces[-1] = np.pad(pieces[-1], (0, size - pieces[-1].size))
        else:
            pieces.pop()
    return pieces


@contextlib.contextmanager
def _seeded_numpy(seed: int = 0):
    """numpy's global random state fixed inside, restored after: some preprocessors draw from it (CLAP's feature
    extractor marks a random short input as "longer", crops long ones at random), and features must be reproducible."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def backbone_expert(spec: dict, frames_for, audio_for, default_num_frames: int) -> np.ndarray | None:
    """One backbone expert's `(T_m, dim)` float32 sequence. `frames_for(count)` gives `count` uint8 frames
    `(count, H, W, 3)` sampled at segment centres of the clip; `audio_for(rate)` the mono track at `rate` (None
    without one)."""
    backbone = load_backbone(spec)
    kind, proc = spec["kind"], backbone.preprocessor
    if kind == "audio":
        wave = audio_for(spec["sample_rate"])
        if wave is None or wave.size == 0:
            return None  # no audio track: a missing modality, masked downstream
        pieces = _audio_windows(np.asarray(wave, np.float32), spec["sample_rate"], float(spec["audio_window"]))
        with _seeded_numpy():
            inputs = proc(pieces, sampling_rate=spec["sample_rate"], return_tensors="pt")
    elif kind == "motion":
        clips, per_clip = spec["num_clips"], spec["frames_per_clip"]
        frames = frames_for(clips * per_clip)
        videos = list(frames.reshape(clips, per_clip, *frames.shape[1:]))  # (clips, F, H, W, 3)
        from transformers import BaseVideoProcessor

        if isinstance(proc, BaseVideoProcessor):
            inputs = proc(videos=videos, return_tensors="pt")
        else:
            inputs = proc([list(v) for v in videos], return_tensors="pt")  # an image processor taking frame lists
    else:
        frames = frames_for(spec.get("num_frames") or default_num_frames)
        inputs = proc(images=list(frames), return_tensors="pt")
    features = backbone.embed(inputs, spec)
    if features.shape[1] != spec["dim"]:
        raise ValueError(f"expert {spec['name']!r}: the backbone {spec['backbone']} gave {features.shape[1]}-dim "
                         f"features but the spec says dim {spec['dim']}")  # fmt: skip
    return features


__all__ = [
    "BACKBONE_DTYPES",
    "BACKBONE_KINDS",
    "BACKBONE_OUTPUTS",
    "backbone_dim",
    "backbone_expert",
    "is_backbone_spec",
    "load_backbone",
    "resolve_backbone_spec",
    "weights_hash",
]
