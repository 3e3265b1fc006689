"""The training-side method table: objectives, the dataset's columns, the input-loader hook and weighted sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datasets import Dataset

from videotext.modeling import METHODS
from videotext.training import RecipeError, load_recipe
from videotext.training.data import SourceWeightedSampler, VideoTextDataset, build_train_dataloader
from videotext.training.methods import TRAINING_METHODS, training_method
from videotext.training.stages import apply_objective


def test_every_registered_method_has_a_training_entry_with_a_tiny_recipe():
    assert set(TRAINING_METHODS) == set(METHODS)
    for name, entry in TRAINING_METHODS.items():
        assert entry.tiny_recipe and load_recipe(entry.tiny_recipe)["method"] == name


def test_objectives_resolve_in_any_term_order_and_unknown_ones_name_the_field():
    dual = training_method("dual_align")
    assert dual.resolve_objective("verb+global") == "global+verb"
    assert dual.objectives["global+verb"] == {"use_global_loss": True, "use_noun_loss": False, "use_verb_loss": True}
    assert dual.resolve_objective(None) == "global+noun+verb"
    with pytest.raises(RecipeError, match=r"train.stages\[0\].objective"):
        load_recipe("dual-align-synthetic-tiny", ["train.stages.0.objective=caption"])
    with pytest.raises(RecipeError, match="lora.enabled"):
        load_recipe("dual-align-synthetic-tiny", ["lora.enabled=true"])  # no LLM decoder in the table


def test_apply_objective_validates_through_the_config():
    config = METHODS["mffcl"].config_cls()
    method = training_method("mffcl")
    apply_objective(config, method, {"name": "s", "objective": "caption", "config": {"contrastive_loss_weight": 0.5}})
    assert config.train_stage == "caption" and config.contrastive_loss_weight == 0.5
    with pytest.raises(ValueError, match="contrastive_loss_weight"):
        apply_objective(config, method, {"name": "s", "objective": "both", "config": {"contrastive_loss_weight": -1}})
    assert config.contrastive_loss_weight == 0.5  # a rejected value leaves the live config as it was


def _split(num: int = 6) -> Dataset:
    rows = {
        "video_id": [f"v{i}" for i in range(num)],
        "video_path": [f"/nowhere/v{i}.mp4" for i in range(num)],
        "captions": [["", f"caption {i} a", f"caption {i} b"] for i in range(num)],  # an empty first caption
        "nouns": [[["x"], [f"noun{i}a"], [f"noun{i}b"]] for i in range(num)],
        "description": [f"description {i}" for i in range(num)],
        "data_source": ["primary" if i < 2 else "auxiliary" for i in range(num)],
    }
    return Dataset.from_dict(rows)


def _fake_frames(row: dict, load_frames) -> dict:
    # the input-loader hook: a method that reads something other than decoded frames
    return {"features": np.full((2, 3), int(row["video_id"][1:]), np.float32)}


def test_items_carry_every_column_per_caption_ones_indexed_by_the_sampled_caption():
    dataset = VideoTextDataset(_split(), num_frames=2, train=True, seed=0, load_inputs=_fake_frames)
    for epoch in range(3):
        dataset.set_epoch(epoch)
        for index in range(len(dataset)):
            item = dataset[index]
            assert item["text"].startswith(f"caption {index}")  # never the empty caption
            suffix = item["text"][-1]
            assert item["nouns"] == [f"noun{index}{suffix}"]  # same position as the caption in the source
            assert item["description"] == f"description {index}"
            assert item["data_source"] in ("primary", "auxiliary")
            np.testing.assert_array_equal(item["inputs"]["features"], np.full((2, 3), index, np.float32))


def test_source_weights_set_each_sources_share():
    sources = ["primary"] * 100 + ["auxiliary"] * 900
    sampler = SourceWeightedSampler(sources, {"primary": 5, "auxiliary": 2}, seed=0)
    drawn = [sources[i] for epoch in range(5) for i in (sampler.set_epoch(epoch) or list(sampler))]
    share = drawn.count("primary") / len(drawn)
    assert abs(share - 5 / 7) < 0.03  # 5:2, although primary clips are a tenth of the set
    sampler.set_epoch(1)
    first = list(sampler)
    sampler.set_epoch(1)
    assert list(sampler) == first  # a resumed epoch draws the same clips
    with pytest.raises(ValueError, match="auxiliary"):
        SourceWeightedSampler(sources, {"primary": 1}, seed=0)


def test_train_dataloader_uses_the_weighted_sampler():
    dataset = VideoTextDataset(_split(), num_frames=2, train=True, seed=0, load_inputs=_fake_frames)

    def collate(items):
        return torch.tensor([it["index"] for it in items])

    loader = build_train_dataloader(dataset, 3, collate, seed=0, source_weights={"primary": 1, "auxiliary": 0})
    seen = torch.cat(list(loader)).tolist()
    assert len(seen) == 6 and set(seen) <= {0, 1}  # auxiliary weight 0: primary clips only
    plain = torch.cat(list(build_train_dataloader(dataset, 3, collate, seed=0))).tolist()
    assert sorted(plain) == list(range(6))  # without weights: a shuffle of every clip


def test_a_trained_vocabulary_spells_the_methods_prompts_as_whole_words():
    from videotext.training.model_factory import build_tokenizers

    captions = ["a red circle moves left", "a blue square grows"] * 3
    recipe = load_recipe("svad-vlm-synthetic-tiny")
    tokenizer = build_tokenizers(recipe, captions)["tokenizer"]
    # "describe", "video", "fill", "blank" and ":" are in no caption: before, each prompt came out letter by letter
    assert tokenizer.tokenize("Describe the video.") == ["describe", "the", "video", "."]
    assert tokenizer.tokenize("Fill in the blank: a red circle") == ["fill", "in", "the", "blank", ":", "a", "red",
                                                                     "circle"]  # fmt: skip
    custom = load_recipe("svad-vlm-synthetic-tiny", ["processor.description_prompt=Summarise this clip"])
    assert build_tokenizers(custom, captions)["tokenizer"].tokenize("summarise this clip") == ["summarise", "this",
                                                                                               "clip"]  # fmt: skip
    # the template's `{text}` placeholder is not a word of the prompt
    assert "text" not in tokenizer.get_vocab() and "{" not in tokenizer.get_vocab()
