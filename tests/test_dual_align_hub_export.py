"""Hub export of the dual-alignment retriever: save with `register_for_auto_class`, then load with
`trust_remote_code=True` in a fresh Python where `videotext` cannot be imported, and compare embeddings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

from videotext.modeling.dual_align import DualAlignConfig, DualAlignModel, DualAlignProcessor, DualAlignVideoProcessor
from videotext.processing.video_writer import write_video
from videotext.training.tokenizer import train_caption_tokenizers

SRC = str(Path(__file__).resolve().parents[1] / "src")
CAPTION = "a red ball moves left then grows"

CHILD = textwrap.dedent(
    """
    import json, sys
    src = sys.argv[1]
    # drop the checkout's src folder (and the editable-install hook that points at it) from the path
    sys.path = [p for p in sys.path if not p.startswith(src)]
    for name in [m for m in sys.meta_path if "editable" in type(m).__module__.lower()]:
        sys.meta_path.remove(name)
    try:
        import videotext  # noqa: F401
        importable = True
    except ImportError:
        importable = False
    assert not importable, "videotext must not be importable here"

    import torch
    from transformers import AutoModel, AutoProcessor

    folder, video, caption, out = sys.argv[2:6]
    model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    inputs = processor(videos=[video], text=[caption], return_tensors="pt")
    with torch.no_grad():
        video_embeds = model.get_video_features(inputs["pixel_values_videos"])
        text_embeds = model.get_text_features(inputs["input_ids"], inputs["attention_mask"])
    json.dump(
        {
            "model_class": type(model).__module__ + "." + type(model).__name__,
            "processor_class": type(processor).__name__,
            "video_processor_class": type(processor.video_processor).__name__,
            "video": video_embeds.tolist(),
            "text": text_embeds.tolist(),
            "pixel_sum": float(inputs["pixel_values_videos"].sum()),
        },
        open(out, "w"),
    )
    """
)


def test_hub_export_loads_without_videotext(tmp_path):
    _, tokenizer = train_caption_tokenizers([CAPTION, "a blue square spins on the table"], vocab_size=200)
    config = DualAlignConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                           image_size=32, patch_size=8),
        text_config=dict(dim=32, n_layers=2, n_heads=2, hidden_dim=37, vocab_size=len(tokenizer)),
        num_frames=4, projection_dim=16, fusion_num_layers=3, fusion_num_heads=2, fusion_hidden_size=32,
        fusion_intermediate_size=37,
    )  # fmt: skip
    torch.manual_seed(0)
    model = DualAlignModel(config).eval()
    processor = DualAlignProcessor(
        video_processor=DualAlignVideoProcessor(size={"height": 32, "width": 32}, num_frames=4), tokenizer=tokenizer
    )
    classes = (DualAlignConfig, DualAlignModel, DualAlignProcessor, DualAlignVideoProcessor)
    saved_auto = [c._auto_class for c in classes]
    try:
        DualAlignConfig.register_for_auto_class("AutoConfig")
        DualAlignModel.register_for_auto_class("AutoModel")
        DualAlignProcessor.register_for_auto_class("AutoProcessor")
        DualAlignVideoProcessor.register_for_auto_class("AutoVideoProcessor")
        export = tmp_path / "export"
        model.save_pretrained(export)
        processor.save_pretrained(export)
    finally:
        for cls, auto in zip(classes, saved_auto):
            cls._auto_class = auto

    files = {p.name for p in export.iterdir()}
    assert {
        "configuration_dual_align.py", "modeling_dual_align.py", "processing_dual_align.py",
        "video_processing_dual_align.py", "config.json", "processor_config.json",
    } <= files  # fmt: skip
    auto_map = json.loads((export / "config.json").read_text())["auto_map"]
    assert auto_map["AutoConfig"] == "configuration_dual_align.DualAlignConfig"
    assert auto_map["AutoModel"] == "modeling_dual_align.DualAlignModel"

    rng = np.random.default_rng(0)
    video = write_video(tmp_path / "clip.mp4", rng.integers(0, 256, (12, 40, 56, 3), dtype=np.uint8), fps=8)
    inputs = processor(videos=[video], text=[CAPTION])
    with torch.no_grad():
        video_embeds = model.get_video_features(inputs["pixel_values_videos"])
        text_embeds = model.get_text_features(inputs["input_ids"], inputs["attention_mask"])

    out = tmp_path / "child.json"
    env = dict(os.environ, HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1", PYTHONPATH="")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, SRC, str(export), video, CAPTION, str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    child = json.loads(out.read_text())
    assert child["model_class"].startswith("transformers_modules.")
    assert child["processor_class"] == "DualAlignProcessor"
    assert child["video_processor_class"] == "DualAlignVideoProcessor"
    np.testing.assert_allclose(child["pixel_sum"], float(inputs["pixel_values_videos"].sum()), rtol=1e-5)
    np.testing.assert_allclose(np.array(child["video"]), video_embeds.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.array(child["text"]), text_embeds.numpy(), atol=1e-5)
