"""`transformers.Trainer` trains a tiny MFFCL with the package's dataset and collator (no Accelerate loop)."""

from __future__ import annotations

import math

import pytest
import torch


@pytest.fixture(scope="module")
def train_split(tmp_path_factory):
    from videotext.datasets_scripts import load_prepared
    from videotext.datasets_scripts.synthetic import generate_synthetic

    out = tmp_path_factory.mktemp("synthetic") / "synthetic-12"
    generate_synthetic(out, num_videos=12, seed=1, size=32, num_frames=8, fps=8, workers=1, progress=False)
    return load_prepared(str(out))["train"]


def test_trainer_trains_tiny_mffcl(train_split, tmp_path):
    from transformers import Trainer, TrainingArguments

    from videotext.training import load_recipe
    from videotext.training.data import CaptioningCollator, FrameCache, VideoTextDataset
    from videotext.training.model_factory import build_model_and_processor

    torch.manual_seed(0)
    recipe = load_recipe("mffcl-synthetic-tiny", ["data.num_frames=4", "tokenizer.vocab_size=200"])
    captions = [c for caps in train_split["captions"] for c in caps]
    model, processor = build_model_and_processor(recipe, train_captions=captions)
    model.config.train_stage = "both"  # caption loss (Eq. 2) + contrastive loss (Eq. 3)

    dataset = VideoTextDataset(train_split, num_frames=4, train=True, seed=0, cache=FrameCache(8))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = TrainingArguments(
        output_dir=str(tmp_path / "trainer"),
        max_steps=3,
        per_device_train_batch_size=4,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        remove_unused_columns=False,  # the collator decodes and tokenizes; the dataset has no model columns
        use_cpu=True,
        report_to=[],
        dataloader_num_workers=0,
        disable_tqdm=True,
    )
    trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=CaptioningCollator(processor))
    result = trainer.train()
    assert result.global_step == 3
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert losses and all(math.isfinite(x) for x in losses)
    changed = [n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())]
    assert any(n.startswith("language_model.") for n in changed)
    assert any(n.startswith("vision_model.") for n in changed)
    assert any(n.startswith("text_encoder.") for n in changed)


def test_batched_fetch_matches_per_clip_items(train_split):
    import numpy as np

    from videotext.training.data import FrameCache, VideoTextDataset

    dataset = VideoTextDataset(train_split, num_frames=4, train=True, seed=3, cache=FrameCache(8))
    indices = [5, 0, 2, 2]
    batched, single = dataset.__getitems__(indices), [dataset[i] for i in indices]
    assert [b["index"] for b in batched] == indices
    for b, s in zip(batched, single):
        assert b.keys() == s.keys() and b["text"] == s["text"] and b["video_id"] == s["video_id"]
        assert b["nouns"] == s["nouns"] and b["verbs"] == s["verbs"]
        np.testing.assert_array_equal(b["video"], s["video"])
