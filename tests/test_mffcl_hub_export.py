"""MFFCL Hub export: save model + processor with auto_map, reload with trust_remote_code in a process where
`videotext` cannot be imported, and check that it captions a real mp4 exactly like the in-process model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import videotext
from videotext.modeling.mffcl import MffclConfig, MffclForConditionalGeneration, MffclProcessor, MffclVideoProcessor
from videotext.processing.video_writer import write_video
from videotext.training.tokenizer import train_caption_tokenizers

HUB_FILES = {"configuration_mffcl.py", "modeling_mffcl.py", "processing_mffcl.py", "video_processing_mffcl.py"}
SRC_DIR = str(Path(videotext.__file__).resolve().parents[1])  # .../src (put on sys.path by the editable install)

REMOTE_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    src = os.path.realpath(sys.argv[1])
    sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) != src]
    try:
        import videotext  # noqa: F401
        videotext_importable = True
    except ImportError:
        videotext_importable = False

    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model_dir, video_path, expected_path = sys.argv[2], sys.argv[3], sys.argv[4]
    torch.set_num_threads(int(sys.argv[5]))  # same reduction order as the parent process
    model = AutoModelForImageTextToText.from_pretrained(model_dir, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(model_dir, trust_remote_code=True)
    expected = torch.load(expected_path)
    inputs = processor(videos=[video_path], text=["a red ball moves left"], return_labels=True)
    with torch.no_grad():
        logits = model(**inputs).logits
        ids = model.generate(inputs["pixel_values_videos"], max_new_tokens=6, do_sample=False)
    print(json.dumps({
        "videotext_importable": videotext_importable,
        "model_class": type(model).__name__,
        "model_module": type(model).__module__,
        "processor_class": type(processor).__name__,
        "video_processor_class": type(processor.video_processor).__name__,
        "pixel_values_equal": bool(torch.equal(inputs["pixel_values_videos"], expected["pixel_values_videos"])),
        "logits_equal": bool(torch.equal(logits, expected["logits"])),
        "logits_max_diff": float((logits - expected["logits"]).abs().max()),
        "ids_equal": bool(torch.equal(ids, expected["ids"])),
        "caption": processor.batch_decode(ids)[0],
        "expected_caption": expected["caption"],
    }))
    """
)


@pytest.fixture
def auto_classes():
    """Register the classes for auto_map export, and undo it so other tests save without code."""
    classes = (
        (MffclConfig, "AutoConfig"),
        (MffclForConditionalGeneration, "AutoModelForImageTextToText"),
        (MffclProcessor, "AutoProcessor"),
        (MffclVideoProcessor, "AutoVideoProcessor"),
    )
    previous = [cls.__dict__.get("_auto_class") for cls, _ in classes]
    for cls, auto_class in classes:
        cls.register_for_auto_class(auto_class)
    yield
    for (cls, _), value in zip(classes, previous):
        if value is None:
            if "_auto_class" in cls.__dict__:
                delattr(cls, "_auto_class")
        else:
            cls._auto_class = value


def test_import_registers_auto_classes():
    from transformers import AutoConfig, AutoModelForImageTextToText

    config = AutoConfig.for_model(
        "mffcl", vision_config={"hidden_size": 32, "num_attention_heads": 2}, text_encoder_config={"hidden_size": 32}
    )
    assert isinstance(config, MffclConfig)
    assert AutoModelForImageTextToText._model_mapping[MffclConfig] is MffclForConditionalGeneration


def test_hub_export_loads_without_videotext(tmp_path, auto_classes):
    decoder_tok, encoder_tok = train_caption_tokenizers(
        ["a red ball moves left", "a blue square grows then shrinks"], vocab_size=100
    )
    config = MffclConfig(
        vision_config=dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
            image_size=32,
            patch_size=8,
        ),
        text_config=dict(
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_positions=64,
            vocab_size=len(decoder_tok),
            bos_token_id=decoder_tok.bos_token_id,
            eos_token_id=decoder_tok.eos_token_id,
            pad_token_id=decoder_tok.pad_token_id,
        ),
        text_encoder_config=dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
            vocab_size=len(encoder_tok),
        ),
        num_frames=4,
        mapper_num_layers=2,
        mapper_num_heads=2,
        train_stage="both",
    )
    torch.manual_seed(0)
    model = MffclForConditionalGeneration(config).eval()
    video_processor = MffclVideoProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, num_frames=4
    )
    processor = MffclProcessor(
        video_processor=video_processor, tokenizer=decoder_tok, text_encoder_tokenizer=encoder_tok
    )

    export_dir = tmp_path / "export"
    model.save_pretrained(export_dir)
    processor.save_pretrained(export_dir)
    saved = {p.name for p in export_dir.iterdir()}
    assert HUB_FILES <= saved, saved
    assert not any(name.startswith("__init__") for name in saved)
    auto_map = json.loads((export_dir / "config.json").read_text())["auto_map"]
    assert auto_map["AutoConfig"] == "configuration_mffcl.MffclConfig"
    assert auto_map["AutoModelForImageTextToText"] == "modeling_mffcl.MffclForConditionalGeneration"
    processor_config = json.loads((export_dir / "processor_config.json").read_text())
    assert processor_config["auto_map"]["AutoProcessor"] == "processing_mffcl.MffclProcessor"
    assert processor_config["video_processor"]["auto_map"]["AutoVideoProcessor"] == (
        "video_processing_mffcl.MffclVideoProcessor"
    )
    for name in HUB_FILES:  # the Hub rule: no package imports, no parent-relative imports
        code = (export_dir / name).read_text()
        assert "videotext" not in code.replace("videotext.modeling.shared_blocks", ""), name
        assert "from .." not in code, name

    rng = np.random.default_rng(0)
    video_path = write_video(tmp_path / "clip.mp4", rng.integers(0, 255, (10, 40, 56, 3), dtype=np.uint8), fps=8)
    inputs = processor(videos=[video_path], text=["a red ball moves left"], return_labels=True)
    # Reference = the same files loaded in this process through videotext's local classes (CPU float results can
    # depend on the memory alignment of freshly built vs. loaded weights, ~1e-8; loaded vs. loaded is bit-exact).
    reloaded = MffclForConditionalGeneration.from_pretrained(export_dir).eval()
    with torch.no_grad():
        logits = reloaded(**inputs).logits
        ids = reloaded.generate(inputs["pixel_values_videos"], max_new_tokens=6, do_sample=False)
        torch.testing.assert_close(model(**inputs).logits, logits, rtol=1e-5, atol=1e-6)
        assert torch.equal(model.generate(inputs["pixel_values_videos"], max_new_tokens=6, do_sample=False), ids)
    expected_path = tmp_path / "expected.pt"
    caption = processor.batch_decode(ids)[0]
    torch.save(
        {"pixel_values_videos": inputs["pixel_values_videos"], "logits": logits, "ids": ids, "caption": caption},
        expected_path,
    )

    script = tmp_path / "load_remote.py"
    script.write_text(REMOTE_SCRIPT)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["HF_MODULES_CACHE"] = str(tmp_path / "hf_modules")
    env["HF_HUB_OFFLINE"] = "1"
    result = subprocess.run(
        [
            sys.executable,
            "-I",
            str(script),
            SRC_DIR,
            str(export_dir),
            str(video_path),
            str(expected_path),
            str(torch.get_num_threads()),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["videotext_importable"] is False
    assert report["model_class"] == "MffclForConditionalGeneration"
    assert report["model_module"].startswith("transformers_modules.")
    assert report["processor_class"] == "MffclProcessor"
    assert report["video_processor_class"] == "MffclVideoProcessor"
    assert report["pixel_values_equal"]
    assert report["logits_equal"], json.dumps(report)
    assert report["ids_equal"]
    assert report["caption"] == report["expected_caption"]
