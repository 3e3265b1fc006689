"""Shared blocks (`videotext.modeling.shared_blocks`) and their copies in the method folders."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
import torch
from transformers import TimesformerConfig
from transformers.models.timesformer.modeling_timesformer import TimesformerEmbeddings

from videotext.modeling import METHODS, shared_blocks
from videotext.modeling.dual_align import DualAlignVideoProcessor, modeling_dual_align
from videotext.modeling.mffcl import MffclVideoProcessor, modeling_mffcl

RESIZERS = [shared_blocks.resize_time_embeddings, modeling_mffcl.resize_time_embeddings,
            modeling_dual_align.resize_time_embeddings]  # fmt: skip


# ------------------------------------------------------------------------------------------ time embeddings
@pytest.mark.parametrize("resize", RESIZERS)
@pytest.mark.parametrize("num_frames", [2, 3, 4, 12])
def test_resized_time_embeddings_match_timesformer_run_time(resize, num_frames):
    """A model built with the resized table embeds a clip exactly as the 8-frame checkpoint does at run time."""
    kwargs = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16, image_size=16,
                  patch_size=8)  # fmt: skip
    torch.manual_seed(0)
    checkpoint = TimesformerEmbeddings(TimesformerConfig(num_frames=8, **kwargs)).eval()
    with torch.no_grad():
        for param in checkpoint.parameters():
            param.normal_()
    resized = TimesformerEmbeddings(TimesformerConfig(num_frames=num_frames, **kwargs)).eval()
    resized.load_state_dict(resize(checkpoint.state_dict(), num_frames, key="time_embeddings"))
    pixel_values = torch.randn(2, num_frames, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(resized(pixel_values), checkpoint(pixel_values))  # run time: nearest interpolation


def test_resize_time_embeddings_tensor_and_passthrough():
    table = torch.arange(8.0).view(1, 8, 1).repeat(1, 1, 3)  # (1, T=8, D=3), row t holds t
    assert shared_blocks.resize_time_embeddings(table, 4)[0, :, 0].tolist() == [0, 2, 4, 6]
    assert shared_blocks.resize_time_embeddings(table, 16)[0, :, 0].tolist() == [t // 2 for t in range(16)]
    assert shared_blocks.resize_time_embeddings(table, 8) is table
    state = {"embeddings.cls_token": torch.zeros(1, 1, 3)}  # "space_only" attention: no time embeddings
    assert shared_blocks.resize_time_embeddings(state, 4) is state
    state["embeddings.time_embeddings"] = table
    out = shared_blocks.resize_time_embeddings(state, 2)
    assert out["embeddings.time_embeddings"].shape == (1, 2, 3) and state["embeddings.time_embeddings"] is table


# -------------------------------------------------------------------------------------------- validators
def _float_fields(config_cls) -> list[str]:
    params = inspect.signature(config_cls.__init__).parameters.values()
    return [p.name for p in params if "float" in str(p.annotation)]


FLOAT_FIELDS = [(m.config_cls, name) for m in METHODS.values() for name in _float_fields(m.config_cls)]


def test_float_fields_are_found():
    names = {(cls.__name__, name) for cls, name in FLOAT_FIELDS}
    assert ("MffclConfig", "contrastive_temperature") in names and ("DualAlignConfig", "temperature") in names
    assert len({n for n in names if n[0] == "MffclConfig"}) == 5 and len({n for n in names if n[0] == "DualAlignConfig"}) == 6
    assert {m.config_cls.__name__ for m in METHODS.values()} <= {cls for cls, _ in names}  # every method has some


@pytest.mark.parametrize("config_cls, field", FLOAT_FIELDS, ids=[f"{c.__name__}.{f}" for c, f in FLOAT_FIELDS])
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_rejected(config_cls, field, value):
    config_cls(**{field: getattr(config_cls(), field)})  # the default itself is valid
    with pytest.raises(ValueError, match=f"`{field}` must be a finite number"):
        config_cls(**{field: value})


def test_validators_name_the_field():
    class Cfg:
        n, m, ratio, flag, mode, dropout = 3, None, 0.5, True, "a", 1.0

    cfg = Cfg()
    shared_blocks._check_positive_int(cfg, "n")
    shared_blocks._check_positive_int(cfg, "m", allow_none=True)
    shared_blocks._check_finite_float(cfg, "ratio", low=0.0, high=1.0, low_open=True)
    shared_blocks._check_bool(cfg, "flag")
    shared_blocks._check_choice(cfg, "mode", ("a", "b"))
    with pytest.raises(ValueError, match=r"`m` must be a positive int, got None"):
        shared_blocks._check_positive_int(cfg, "m")
    with pytest.raises(ValueError, match=r"`dropout` must be a finite number in \[0.0, 1.0\), got 1.0"):
        shared_blocks._check_finite_float(cfg, "dropout", low=0.0, high=1.0, high_open=True)
    with pytest.raises(ValueError, match=r"`flag` must be a finite number in \(-inf, inf\), got True"):
        shared_blocks._check_finite_float(cfg, "flag")  # a bool is not a number here
    cfg.flag, cfg.mode = 1, "c"
    with pytest.raises(ValueError, match="`flag` must be a bool"):
        shared_blocks._check_bool(cfg, "flag")
    with pytest.raises(ValueError, match=r"`mode` must be one of \('a', 'b'\)"):
        shared_blocks._check_choice(cfg, "mode", ("a", "b"))


# ----------------------------------------------------------------------------------------- video processor
def test_split_video_batch():
    video = np.zeros((3, 8, 8, 3), np.uint8)
    assert len(shared_blocks.split_video_batch(video)) == 1
    assert len(shared_blocks.split_video_batch(np.stack([video, video]))) == 2
    assert len(shared_blocks.split_video_batch(["a.mp4", video])) == 2
    one = shared_blocks.split_video_batch(list(video))  # a list of (H, W, 3) frames is ONE video
    assert len(one) == 1 and len(one[0]) == 3
    for bad in ([], np.zeros((8, 8, 3)), 3):
        with pytest.raises(ValueError):
            shared_blocks.split_video_batch(bad)


@pytest.mark.parametrize("cls", [MffclVideoProcessor, DualAlignVideoProcessor])
def test_processors_share_sampling_and_inputs(cls):
    vp = cls(num_frames=4)
    frames = np.random.default_rng(0).integers(0, 256, (10, 40, 40, 3), dtype=np.uint8)
    out = vp(frames, return_tensors="pt", return_metadata=True, video_metadata=[{"fps": 5.0}])
    assert out["video_metadata"][0].frames_indices.tolist() == [1, 3, 6, 8]
    assert out["video_metadata"][0].fps == 5.0 and out["video_metadata"][0].duration == 2.0
    # a tensor and a list of (H, W, 3) frames are the same video
    torch.testing.assert_close(vp(torch.from_numpy(frames), return_tensors="pt")["pixel_values_videos"],
                               out["pixel_values_videos"])  # fmt: skip
    torch.testing.assert_close(vp(list(frames), return_tensors="pt")["pixel_values_videos"], out["pixel_values_videos"])
    with pytest.raises(ValueError, match="`fps` is not supported"):
        vp(frames, fps=2)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        vp(frames.transpose(0, 3, 1, 2))


def test_processors_differ_only_in_image_settings():
    frames = np.random.default_rng(1).integers(0, 256, (6, 36, 48, 3), dtype=np.uint8)
    mffcl = MffclVideoProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, num_frames=4)
    dual = DualAlignVideoProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, do_center_crop=True,
        default_to_square=False, image_mean=mffcl.image_mean, image_std=mffcl.image_std, num_frames=4,
    )  # fmt: skip
    torch.testing.assert_close(
        mffcl(frames, return_tensors="pt")["pixel_values_videos"],
        dual(frames, return_tensors="pt")["pixel_values_videos"],
    )
