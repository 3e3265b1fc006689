"""TransDCS experts from transformers backbones (offline: tiny random CLIP vision, VideoMAE and AST models saved to a
temp folder first): shapes and widths from the backbone configs, determinism, the same numbers from the processor
on a raw file as from `extract-experts`, a missing audio track masked, mixed backbone + weight-free specs, one-line
width errors, the manifest's weights hashes refusing a resume, and a tiny train / eval / index run on them."""

from __future__ import annotations

import json
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from videotext.modeling.transdcs import TransDcsConfig, TransDcsVideoProcessor
from videotext.modeling.transdcs import backbone_experts_transdcs as backbones

WIDTHS = {"clip": 16, "videomae": 24, "ast": 20}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> dict[str, str]:
    """Tiny random backbones with their preprocessors, each in its own folder."""
    import transformers as tf

    root = tmp_path_factory.mktemp("backbones")
    small = dict(intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    crop = dict(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    torch.manual_seed(0)
    clip = tf.CLIPVisionConfig(hidden_size=WIDTHS["clip"], image_size=32, patch_size=16, **small)
    tf.CLIPVisionModel(clip).save_pretrained(root / "clip")
    tf.CLIPImageProcessor(**crop).save_pretrained(root / "clip")
    videomae = tf.VideoMAEConfig(hidden_size=WIDTHS["videomae"], image_size=32, patch_size=16, num_frames=4,
                                 tubelet_size=2, **small)  # fmt: skip
    tf.VideoMAEModel(videomae).save_pretrained(root / "videomae")
    tf.VideoMAEImageProcessor(**crop).save_pretrained(root / "videomae")
    ast = tf.ASTConfig(hidden_size=WIDTHS["ast"], num_mel_bins=16, max_length=48, patch_size=8, frequency_stride=8,
                       time_stride=8, **small)  # fmt: skip
    tf.ASTModel(ast).save_pretrained(root / "ast")
    tf.ASTFeatureExtractor(num_mel_bins=16, max_length=48).save_pretrained(root / "ast")
    backbones._LOADED.clear()
    return {name: str(root / name) for name in WIDTHS}


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, str]:
    """Two 16-frame 32 px mp4s of a moving square: `tone` has a 2 s 440 Hz audio track, `silent` none."""
    import imageio_ffmpeg

    from videotext.processing.video_writer import write_video

    root = tmp_path_factory.mktemp("videos")
    frames = np.zeros((16, 32, 32, 3), np.uint8)
    for t in range(16):
        frames[t, 10:20, t : t + 10] = (200, 40, 40)
    silent = write_video(root / "silent.mp4", frames, fps=8)
    rate = 16000
    samples = (0.5 * np.sin(2 * np.pi * 440 * np.arange(2 * rate) / rate) * 32767).astype("<i2")
    with wave.open(str(root / "tone.wav"), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.tobytes())
    tone = root / "sub" / "tone.mp4"
    tone.parent.mkdir()
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i", silent, "-i",
                    str(root / "tone.wav"), "-c:v", "copy", "-c:a", "aac", "-shortest", str(tone)], check=True)  # fmt: skip
    return {"silent": silent, "tone": str(tone)}


def specs(zoo) -> list[dict]:
    """Backbone appearance / motion / scene / audio plus the weight-free motion expert (a mixed list)."""
    return [
        {"name": "rgb", "kind": "appearance", "backbone": zoo["clip"], "output": "pooler"},
        {"name": "s3d", "kind": "motion", "backbone": zoo["videomae"], "num_clips": 2},
        {"name": "scene", "kind": "scene", "backbone": zoo["clip"], "output": "mean"},
        {"name": "vggish", "kind": "audio", "backbone": zoo["ast"], "audio_window": 0.5},
        {"name": "flow", "kind": "motion", "grid": 2},
    ]


def test_backbone_experts_shapes_widths_and_determinism(zoo, videos):
    vp = TransDcsVideoProcessor(experts=specs(zoo), num_frames=6)
    by_name = {spec["name"]: spec for spec in vp.experts}
    # widths and clip lengths come from the backbone configs, written into the resolved specs
    assert vp.expert_dims == [WIDTHS["clip"], WIDTHS["videomae"], WIDTHS["clip"], WIDTHS["ast"], 10 + 2 * 4]
    assert by_name["s3d"]["frames_per_clip"] == 4 and by_name["scene"]["num_frames"] == 1
    assert by_name["vggish"]["sample_rate"] == 16000
    assert backbones.load_backbone(by_name["rgb"]) is backbones.load_backbone(by_name["scene"])  # one CLIP in memory
    tone = vp.extract(videos["tone"])
    assert {k: v.shape for k, v in tone.items()} == {"rgb": (6, 16), "s3d": (2, 24), "scene": (1, 16),
                                                      "vggish": (4, 20), "flow": (5, 18)}  # fmt: skip
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in tone.values())
    assert not np.allclose(tone["rgb"][0], tone["rgb"][-1])  # the square moved between the first and last frame
    again = vp.extract(videos["tone"])
    for name, value in tone.items():
        np.testing.assert_array_equal(value, again[name])
    silent = vp(videos=[videos["silent"], videos["tone"]])
    vggish = vp.expert_names.index("vggish")
    assert silent["expert_mask"][0, vggish].sum() == 0 and silent["expert_mask"][1, vggish].sum() == 4
    assert silent["expert_features"][0, vggish].abs().sum() == 0  # masked, never filled


def test_appearance_is_the_backbone_output_on_the_sampled_frames(zoo, videos):
    from transformers import AutoImageProcessor, CLIPVisionModel

    vp = TransDcsVideoProcessor(experts=specs(zoo)[:1], num_frames=3)
    frames = vp._frames(videos["silent"], count=3)
    model = CLIPVisionModel.from_pretrained(zoo["clip"]).eval()
    pixels = AutoImageProcessor.from_pretrained(zoo["clip"])(images=list(frames), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        expected = model(pixel_values=pixels).pooler_output.numpy()
    np.testing.assert_allclose(vp.extract(videos["silent"])["rgb"], expected, rtol=1e-5, atol=1e-6)


def test_processor_round_trip_equals_extract_experts_and_manifest_guards_resume(zoo, videos, tmp_path):
    from videotext.experts import extract_experts, read_expert_file

    vp = TransDcsVideoProcessor(experts=specs(zoo), num_frames=4)
    vp.save_pretrained(tmp_path / "proc")
    reloaded = TransDcsVideoProcessor.from_pretrained(tmp_path / "proc")
    assert reloaded.experts == vp.experts  # backbone, output, frames, window, rate and width all saved
    rows = [{"video_id": name, "video_path": path} for name, path in sorted(videos.items())]
    manifest = extract_experts(rows, tmp_path / "out", reloaded.experts, num_frames=4, progress=False)
    assert manifest["num_failed"] == 0 and set(manifest["weights"]) == {"rgb", "s3d", "scene", "vggish"}
    assert manifest["weights"]["rgb"] == manifest["weights"]["scene"]  # one CLIP checkpoint
    for row, entry in zip(rows, manifest["clips"]):
        stored = read_expert_file(tmp_path / "out" / entry["file"])
        direct = reloaded.extract(row["video_path"])
        assert sorted(stored) == sorted(k for k, v in direct.items() if v is not None)
        for name, value in stored.items():
            np.testing.assert_array_equal(value, direct[name])
    backbones._LOADED.clear()  # as a new process: the same weights hash again, so the resume is accepted
    assert extract_experts(rows, tmp_path / "out", reloaded.experts, num_frames=4, progress=False)["num_computed"] == 0
    # another spec (another output) or other weights in the same folder: a resume is refused, naming the setting
    other = [dict(s, output="cls") if s["name"] == "rgb" else s for s in reloaded.experts]
    with pytest.raises(ValueError, match="other experts"):
        extract_experts(rows, tmp_path / "out", other, num_frames=4, progress=False)
    retrained = tmp_path / "clip-retrained"
    from transformers import CLIPImageProcessor, CLIPVisionModel

    model = CLIPVisionModel.from_pretrained(zoo["clip"])
    last = list(model.parameters())[-1]
    torch.nn.init.normal_(last)
    model.save_pretrained(retrained)
    CLIPImageProcessor.from_pretrained(zoo["clip"]).save_pretrained(retrained)
    first = [dict(s, backbone=str(retrained)) if s["name"] in ("rgb", "scene") else s for s in reloaded.experts]
    extract_experts(rows, tmp_path / "moved", first, num_frames=4, progress=False)
    last.data.fill_(2.0)
    model.save_pretrained(retrained)  # same folder, new weights: a new process would load these
    backbones._LOADED.clear()
    with pytest.raises(ValueError, match="other backbone weights"):
        extract_experts(rows, tmp_path / "moved", first, num_frames=4, progress=False)


def test_dual_encoder_projected_and_tower_outputs(tmp_path):
    """A CLIP dual encoder: "projected" is `get_image_features` (projection_dim wide), "pooler" / "cls" run its
    vision tower (the vision hidden size)."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    tower = dict(intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    torch.manual_seed(0)
    model = CLIPModel(CLIPConfig(text_config=dict(hidden_size=16, **tower), projection_dim=8,
                                 vision_config=dict(hidden_size=12, image_size=32, patch_size=16, **tower))).eval()  # fmt: skip
    model.save_pretrained(tmp_path / "clip")
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(tmp_path / "clip")
    vp = TransDcsVideoProcessor(experts=[{"name": o, "kind": "appearance", "backbone": str(tmp_path / "clip"),
                                          "output": o} for o in ("projected", "pooler", "cls")], num_frames=2)  # fmt: skip
    assert vp.expert_dims == [8, 12, 12]
    frames = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    out = vp.extract(frames)
    pixels = CLIPImageProcessor.from_pretrained(tmp_path / "clip")(images=list(frames), return_tensors="pt")
    with torch.no_grad():
        projected = model.get_image_features(**pixels).pooler_output.numpy()
    np.testing.assert_allclose(out["projected"], projected, rtol=1e-5, atol=1e-6)
    assert out["pooler"].shape == out["cls"].shape == (2, 12) and not np.allclose(out["pooler"], out["cls"])


def test_video_and_audio_dual_encoders(videos, tmp_path):
    """X-CLIP's `get_video_features` for motion (frames per clip from its vision config) and CLAP's
    `get_audio_features` for audio; CLAP's feature extractor draws random numbers, yet two runs give the same
    features."""
    import transformers as tf

    small = dict(intermediate_size=32, num_hidden_layers=1, num_attention_heads=2)
    text = dict(hidden_size=16, **small)
    torch.manual_seed(0)
    xclip = tf.XCLIPConfig(text_config=text, projection_dim=8, prompt_layers=1, prompt_attention_heads=2,
                           vision_config=dict(hidden_size=16, image_size=32, patch_size=16, num_frames=4,
                                              mit_hidden_size=8, mit_intermediate_size=16, mit_num_hidden_layers=1,
                                              mit_num_attention_heads=2, **small))  # fmt: skip
    tf.XCLIPModel(xclip).save_pretrained(tmp_path / "xclip")
    tf.VideoMAEImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        tmp_path / "xclip")  # fmt: skip
    audio = tf.ClapAudioConfig(depths=[1, 1], num_attention_heads=[2, 2], hidden_size=32, patch_embeds_hidden_size=16,
                               projection_dim=8, enable_fusion=True)  # fmt: skip
    tf.ClapModel(tf.ClapConfig(text_config=text, audio_config=audio.to_dict(), projection_dim=8)).save_pretrained(
        tmp_path / "clap")  # fmt: skip
    tf.ClapFeatureExtractor(max_length_s=2).save_pretrained(tmp_path / "clap")  # 2 s inputs: a faster test
    vp = TransDcsVideoProcessor(experts=[
        {"name": "motion", "kind": "motion", "backbone": str(tmp_path / "xclip"), "output": "projected", "num_clips": 2},
        {"name": "audio", "kind": "audio", "backbone": str(tmp_path / "clap"), "output": "projected"},
        {"name": "audio_tower", "kind": "audio", "backbone": str(tmp_path / "clap"), "output": "pooler"}])  # fmt: skip
    assert [s.get("frames_per_clip") for s in vp.experts] == [4, None, None] and vp.expert_dims == [8, 8, 32]
    assert vp.experts[1]["sample_rate"] == 48000
    first = vp.extract(videos["tone"])
    assert {k: v.shape for k, v in first.items()} == {"motion": (2, 8), "audio": (2, 8), "audio_tower": (2, 32)}
    np.random.seed(123)  # the global numpy state must not matter
    again = vp.extract(videos["tone"])
    for name, value in first.items():
        np.testing.assert_array_equal(value, again[name])


def test_audio_model_without_pooler_and_dtype(videos, tmp_path):
    """Wav2Vec2 has no pooler: "auto" averages its tokens, "pooler" is a one-line error; bfloat16 runs give float32
    features close to the float32 ones."""
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2Model

    torch.manual_seed(0)
    config = Wav2Vec2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                            conv_dim=(8, 8), conv_stride=(5, 4), conv_kernel=(10, 8), num_feat_extract_layers=2,
                            num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)  # fmt: skip
    Wav2Vec2Model(config).save_pretrained(tmp_path / "w2v")
    Wav2Vec2FeatureExtractor(sampling_rate=8000).save_pretrained(tmp_path / "w2v")
    spec = {"name": "audio", "kind": "audio", "backbone": str(tmp_path / "w2v"), "audio_window": 0.5}
    vp = TransDcsVideoProcessor(experts=[spec, {**spec, "name": "half", "dtype": "bfloat16", "device": "cpu"}])
    assert vp.experts[0]["sample_rate"] == 8000 and vp.expert_dims == [16, 16]
    out = vp.extract(videos["tone"])
    assert out["audio"].shape == (4, 16) and out["half"].dtype == np.float32
    np.testing.assert_allclose(out["half"], out["audio"], atol=0.1, rtol=0.1)
    assert vp.extract(videos["silent"])["audio"] is None
    with pytest.raises(ValueError, match="^expert 'audio': Wav2Vec2Model has no pooler_output; use output 'cls' or"):
        TransDcsVideoProcessor(experts=[{**spec, "output": "pooler"}]).extract(videos["tone"])


def test_width_mismatches_are_one_line_errors(zoo, tmp_path):
    wrong = [{"name": "rgb", "kind": "appearance", "backbone": zoo["clip"], "dim": 32}]
    frames = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match=r"expert 'rgb': the backbone .* gives 16-dim features but the spec says dim 32") as err:
        TransDcsVideoProcessor(experts=wrong).extract(frames)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="output 'projected' needs a dual-encoder"):
        TransDcsVideoProcessor(experts=[{**wrong[0], "dim": None, "output": "projected"}])
    with pytest.raises(ValueError, match="expert 'rgb': cannot load the backbone config"):
        TransDcsVideoProcessor(experts=[{**wrong[0], "dim": None, "backbone": str(tmp_path / "nowhere")}])
    vp = TransDcsVideoProcessor(experts=specs(zoo)[:2])
    config = TransDcsConfig(experts=["rgb", "s3d"], expert_dims=[16, 1024], hidden_size=32, num_attention_heads=4,
                            intermediate_size=64)  # fmt: skip
    with pytest.raises(ValueError, match=r"^expert 's3d': the processor's extractor gives 24-dim features but the model "
                       r"expects 1024 \(config.expert_dims\)$"):  # fmt: skip
        vp.check_model_config(config)


def test_extract_experts_cli_takes_extractor_flags_and_spec_files(zoo, videos, tmp_path, capsys):
    import yaml

    from videotext.cli import main

    folder = str(Path(videos["tone"]).parent)
    out = tmp_path / "flags"
    assert main(["extract-experts", "--videos", folder, "--out", str(out), "--num-frames", "4",
                 "--extractor", f"appearance={zoo['clip']},output=cls",
                 "--extractor", f"audio={zoo['ast']},audio_window=0.5"]) == 0  # fmt: skip
    manifest = json.loads((out / "manifest.json").read_text())
    kinds = {s["name"]: (s.get("backbone"), s.get("output")) for s in manifest["experts"]}
    assert kinds["appearance"] == (zoo["clip"], "cls") and kinds["motion"] == (None, None)  # mixed: motion weight-free
    assert sorted(manifest["weights"]) == ["appearance", "audio"]
    spec_file = tmp_path / "experts.yaml"
    spec_file.write_text(yaml.safe_dump({"processor": {"experts": specs(zoo)[:2]}}))
    assert main(["extract-experts", "--videos", folder, "--out", str(out), "--experts", str(spec_file)]) == 1
    assert "other experts" in capsys.readouterr().err
    from videotext.experts import read_expert_specs  # a shipped recipe's name gives its specs (not resolved: offline)

    paper = read_expert_specs("transdcs-msrvtt-1ka-backbones")
    assert [(s["name"], s["kind"]) for s in paper] == [("s3d", "motion"), ("vggish", "audio"), ("rgb", "appearance"),
                                                       ("scene", "scene")]  # fmt: skip
    assert all("/" in s["backbone"] for s in paper)  # Hub ids, downloaded by the user
    from videotext.training import load_recipe

    recipe = load_recipe("transdcs-msrvtt-1ka-backbones")
    assert recipe["model"]["config"]["experts"] == [s["name"] for s in paper]
    assert len(recipe["model"]["config"]["expert_dims"]) == len(paper)


def test_tiny_train_eval_index_search_on_backbone_experts(zoo, videos, synthetic_dir, tmp_path, capsys):
    """`videotext train` with backbone experts in the recipe (extracted once into the cache), then `eval`, `index`
    and `search` on raw mp4s: the saved processor loads the backbones and computes the same features."""
    import yaml
    from method_testers import TESTERS

    from videotext.cli import main

    experts = [{"name": "rgb", "kind": "appearance", "backbone": zoo["clip"]},
               {"name": "s3d", "kind": "motion", "backbone": zoo["videomae"], "num_clips": 1},
               {"name": "motion", "kind": "motion", "grid": 4}]  # fmt: skip
    flow = lambda value: yaml.safe_dump(value, default_flow_style=True).strip()  # noqa: E731
    out = tmp_path / "run"
    args = ["train", "transdcs-synthetic-tiny", "--output-dir", str(out)]
    for item in TESTERS["transdcs"].cli_overrides(f"data.path={synthetic_dir}", f"processor.experts={flow(experts)}",
                                                  "model.config.experts=[rgb, s3d, motion]",
                                                  "model.config.expert_dims=[16, 24, 42]"):  # fmt: skip
        args += ["--set", item]
    assert main(args) == 0
    saved = json.loads((out / "processor_config.json").read_text())
    assert saved["video_processor"]["experts"][0]["backbone"] == zoo["clip"]
    assert main(["eval", str(out), "--dataset", synthetic_dir, "--out", str(tmp_path / "eval.json")]) == 0
    assert 0 <= json.loads((tmp_path / "eval.json").read_text())["metrics"]["t2v_R@1"] <= 100
    assert main(["index", str(out), "--videos", str(Path(videos["tone"]).parent), "--out", str(tmp_path / "index")]) == 0
    capsys.readouterr()
    assert main(["search", str(tmp_path / "index"), "a", "red", "square", "-k", "1"]) == 0
    assert capsys.readouterr().out.strip().endswith("tone.mp4")
    # the Hub folder (no videotext in the child process) loads the backbones itself: same outputs on the raw clip
    import importlib.util
    import os

    from videotext.export import save_hub_folder
    from videotext.inference import load_model_and_processor

    spec = importlib.util.spec_from_file_location("check_compat", Path(__file__).parents[1] / "utils" / "check_compat.py")
    check_compat = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(check_compat)
    model, processor = load_model_and_processor(str(out), device="cpu")
    folder = save_hub_folder(model, processor, tmp_path / "hub")
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "hf_modules"), "HF_HUB_OFFLINE": "1"}
    summary, errors = check_compat.check_exported(model, processor, folder, videos["tone"], "a red square",
                                                  tmp_path / "exported.pt", env=env)  # fmt: skip
    assert not errors and not summary["videotext_in_modules"], errors
    # a recipe whose model widths disagree with its extractors stops before training, naming the expert
    bad = [a.replace("[16, 24, 42]", "[16, 512, 42]").replace(str(out), str(tmp_path / "bad")) for a in args]
    assert main(bad) != 0
    assert "expert 's3d': the processor's extractor gives 24-dim features but the model expects 512" in capsys.readouterr().err
