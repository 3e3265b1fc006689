"""SVAD-VLM's paper-specific parts (the shared suite in test_methods.py covers the rest): the GMHRA global token
(Eqs. 4-5), the dual visual alignment chosen by data_source (Eq. 11 / Eq. 7), the target-only loss (Eq. 9) and its
weights (Eq. 10), the keyword fill-in prompts and labels (Section 4.2), generation from a prompt, the mixed-data
step and the keyword fill-in measure."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from videotext.modeling.svad_vlm import (
    SvadVlmConfig,
    SvadVlmForConditionalGeneration,
    SvadVlmProcessor,
    SvadVlmVideoProcessor,
)

TEXTS = [
    "a small red circle starts on a plain gray background . it moves to the left .",
    "a large blue square starts on a plain white background . it grows in size .",
    "a small green star moves up then fades out of view .",
]
KEYWORDS = [["small", "red", "circle", "gray", "left"], ["large", "blue", "square", "white", "grows"], ["nothing"]]


@pytest.fixture(scope="module")
def tokenizer():
    from videotext.training.tokenizer import train_caption_tokenizers

    return train_caption_tokenizers(TEXTS * 5 + ["describe the video fill in the blank :"], vocab_size=120)[0]


def make_config(tokenizer, **kwargs) -> SvadVlmConfig:
    defaults = dict(
        vision_config=dict(model_type="vit", image_size=16, patch_size=8, hidden_size=32, num_hidden_layers=3,
                           num_attention_heads=2, intermediate_size=64),
        qformer_config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64),
        text_config=dict(model_type="gpt2", n_embd=32, n_layer=2, n_head=2, n_positions=96, vocab_size=len(tokenizer),
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id),
        num_frames=3, num_query_tokens=4, gmhra_dropout=0.0, num_gmhra_layers=2,
    )  # fmt: skip
    defaults.update(kwargs)
    return SvadVlmConfig(**defaults)


@pytest.fixture(scope="module")
def model(tokenizer):
    torch.manual_seed(0)
    return SvadVlmForConditionalGeneration(make_config(tokenizer, num_gmhra_layers=2)).eval()


@pytest.fixture(scope="module")
def processor(tokenizer):
    return SvadVlmProcessor(SvadVlmVideoProcessor(size={"height": 16, "width": 16}, num_frames=3), tokenizer)


@pytest.fixture(scope="module")
def videos():
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (6, 20, 20, 3), dtype=np.uint8) for _ in range(3)]


def _perturb_gmhra(model):
    """A trained-looking GMHRA: the zero-initialised output layers get weights."""
    model = copy.deepcopy(model)
    torch.manual_seed(1)
    for block in model.gmhra.blocks:
        torch.nn.init.normal_(block.attn.out_proj.weight, std=0.2)
        torch.nn.init.normal_(block.mlp[-1].weight, std=0.2)
    return model


# ---------------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "field, value",
    [("gmhra_layers", [2, 1]), ("gmhra_layers", [3]), ("num_gmhra_layers", 4), ("gmhra_dpe_kernel", 2),
     ("keyword_loss_weight", float("nan")), ("num_query_tokens", 0), ("use_dual_alignment", "yes")],
)  # fmt: skip
def test_config_rejects_bad_values_naming_the_field(tokenizer, field, value):
    with pytest.raises(ValueError, match=field):
        make_config(tokenizer, **{field: value})


def test_config_defaults_follow_the_paper(tokenizer):
    config = make_config(tokenizer)
    assert (config.keyword_loss_weight, config.description_loss_weight) == (5.0, 2.0)  # Table 6, λk:λd = 5:2
    assert config.use_dual_alignment and config.qformer_config.encoder_hidden_size == 32
    assert make_config(tokenizer, gmhra_layers=[0, 2]).gmhra_layer_indices == [0, 2]
    assert make_config(tokenizer, num_gmhra_layers=2).gmhra_layer_indices == [1, 2]  # the last K blocks


# ------------------------------------------------------------------------------------------------------ GMHRA
def test_z_vis_is_global_token_then_every_frame_token(model, processor, videos):
    pixels = processor(videos=videos[:2])["pixel_values_videos"]
    with torch.no_grad():
        z = model.get_visual_features(pixels)
    frames, tokens = 3, 1 + (16 // 8) ** 2
    assert z.shape == (2, 1 + frames * tokens, 32)
    # zero-initialised aggregators: a fresh model's global token is the learnt z_gmhra,0 for every clip
    torch.testing.assert_close(z[0, 0], z[1, 0])


def test_global_token_aggregates_all_frames_and_frames_stay_separate(model, processor, videos):
    model = _perturb_gmhra(model).float()
    pixels = processor(videos=videos[:1])["pixel_values_videos"]
    changed = pixels.clone()
    changed[:, 2] = torch.randn_like(changed[:, 2])  # only the last frame differs
    with torch.no_grad():
        z, z2 = model.get_visual_features(pixels), model.get_visual_features(changed)
    tokens = 1 + 4
    assert not torch.allclose(z[:, 0], z2[:, 0])  # the global token sees the last frame (Eq. 4)
    # the ViT encodes each frame on its own (Eq. 3): the other frames' tokens do not move
    torch.testing.assert_close(z[:, 1 : 1 + 2 * tokens], z2[:, 1 : 1 + 2 * tokens])
    assert not torch.allclose(z[:, 1 + 2 * tokens :], z2[:, 1 + 2 * tokens :])


def test_gmhra_reads_the_configured_blocks(tokenizer, processor, videos):
    torch.manual_seed(0)
    model = _perturb_gmhra(SvadVlmForConditionalGeneration(make_config(tokenizer, gmhra_layers=[0])).eval())
    pixels = processor(videos=videos[:1])["pixel_values_videos"]
    with torch.no_grad():
        before = model.get_visual_features(pixels)[:, 0]
        for name, param in model.vision_model.named_parameters():
            if ".2." in f".{name}":  # the last block, after j_0 = 0
                torch.nn.init.normal_(param)
        after = model.get_visual_features(pixels)[:, 0]
    torch.testing.assert_close(before, after)  # the global token only reads block 0's output


# ------------------------------------------------------------------------------------------ dual alignment
def test_projection_is_chosen_by_data_source(model, processor, videos):
    pixels = processor(videos=videos[:2])["pixel_values_videos"]
    with torch.no_grad():
        primary, _ = model.get_query_embeds(pixels, torch.tensor([0, 0]))
        mixed, _ = model.get_query_embeds(pixels, torch.tensor([0, 1]))
        default, _ = model.get_query_embeds(pixels)  # inference: the primary projection
    assert len(model.visual_alignment.projections) == 2
    torch.testing.assert_close(default, primary)
    torch.testing.assert_close(mixed[0], primary[0])
    assert not torch.allclose(mixed[1], primary[1])


def test_auxiliary_samples_train_only_the_auxiliary_projection(model, processor, videos):
    batch = processor(videos=videos[:2], text=TEXTS[:2], keywords=KEYWORDS[:2], data_source=["auxiliary"] * 2,
                      return_labels=True)  # fmt: skip
    model = copy.deepcopy(model).train()
    model(**batch).loss.backward()
    primary, auxiliary = model.visual_alignment.projections
    assert primary.weight.grad is None or not primary.weight.grad.any()
    assert auxiliary.weight.grad.abs().sum() > 0


def test_single_projection_switch(tokenizer, processor, videos):
    model = SvadVlmForConditionalGeneration(make_config(tokenizer, use_dual_alignment=False)).eval()
    pixels = processor(videos=videos[:2])["pixel_values_videos"]
    assert len(model.visual_alignment.projections) == 1
    with torch.no_grad():
        a, _ = model.get_query_embeds(pixels, torch.tensor([0, 1]))
        b, _ = model.get_query_embeds(pixels, torch.tensor([1, 0]))
    torch.testing.assert_close(a, b)  # Eq. 7: one projection whatever the source


# ------------------------------------------------------------------------------------------------ processor
def test_description_labels_cover_only_the_target(processor, tokenizer):
    batch = processor(text=TEXTS[:2], return_labels=True)
    prompt_len = len(tokenizer(processor.description_prompt, add_special_tokens=False)["input_ids"])
    for row in range(2):
        ids, labels, mask = batch["input_ids"][row], batch["labels"][row], batch["attention_mask"][row]
        assert (labels[:prompt_len] == -100).all()
        target = labels[labels != -100]
        assert tokenizer.decode(target[:-1]) == tokenizer.decode(tokenizer(TEXTS[row])["input_ids"])
        assert target[-1] == tokenizer.eos_token_id
        torch.testing.assert_close(ids[labels != -100], target)
        assert (labels[mask == 0] == -100).all()


def test_keyword_prompt_blanks_one_keyword_and_targets_it(processor, tokenizer):
    batch = processor(text=TEXTS, keywords=KEYWORDS, sample_seed=[0, 1, 2], return_labels=True)
    for row in range(2):
        labels = batch["keyword_labels"][row]
        keyword = tokenizer.decode(labels[labels != -100][:-1])
        assert keyword in KEYWORDS[row]
        prompt = tokenizer.decode(batch["keyword_input_ids"][row][labels == -100], skip_special_tokens=False)
        assert processor.blank in prompt and f" {keyword} " not in f" {prompt.split('[PAD]')[0]} "
    assert (batch["keyword_labels"][2] == -100).all()  # no keyword of sample 3 is in its text


def test_keyword_choice_follows_the_sample_seed(processor):
    def chosen(seed):
        b = processor(text=TEXTS[:1], keywords=KEYWORDS[:1], sample_seed=[seed], return_labels=True)
        return tuple(b["keyword_labels"][0][b["keyword_labels"][0] != -100].tolist())

    assert chosen(3) == chosen(3)
    assert len({chosen(seed) for seed in range(20)}) >= 3  # every epoch may blank another keyword
    unseeded = processor(text=TEXTS[:1], keywords=KEYWORDS[:1], return_labels=True)
    assert torch.equal(unseeded["keyword_labels"], processor(text=TEXTS[:1], keywords=KEYWORDS[:1],
                                                             return_labels=True)["keyword_labels"])  # fmt: skip
    assert processor.keyword_prompt_for("a red ball", "red") == f"Fill in the blank: a {processor.blank} ball"
    with pytest.raises(ValueError, match="data_source"):
        processor(text=TEXTS[:1], data_source=["tertiary"], return_labels=True)


def test_chat_template_wraps_the_prompt(tokenizer, processor):
    chat_tok = copy.deepcopy(tokenizer)
    chat_tok.chat_template = "{% for m in messages %}user : {{ m['content'] }} assistant :{% endfor %}"
    chat = SvadVlmProcessor(processor.video_processor, chat_tok)
    ids = chat(text=["describe the video"])["input_ids"][0]
    assert chat_tok.decode(ids).startswith("user : describe the video assistant")


# ------------------------------------------------------------------------------------------------ losses
def test_loss_is_weighted_target_only_cross_entropy(model, processor, videos):
    batch = processor(videos=videos, text=TEXTS, keywords=KEYWORDS, return_labels=True)
    with torch.no_grad():
        out = model(**batch)
    queries = model.config.num_query_tokens

    def manual(logits, labels):
        logits = logits[:, queries - 1 : -1]  # position n_q - 1 + i predicts token i
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))

    torch.testing.assert_close(out.description_loss, manual(out.logits, batch["labels"]))
    torch.testing.assert_close(out.keyword_loss, manual(out.keyword_logits, batch["keyword_labels"]))
    torch.testing.assert_close(out.loss, 2.0 * out.description_loss + 5.0 * out.keyword_loss)  # Eq. 10

    # the "no PKG" objective: Ld alone
    model_d = copy.deepcopy(model)
    model_d.config.use_keyword_loss = False
    with torch.no_grad():
        only_d = model_d(**batch)
    assert only_d.keyword_loss is None
    torch.testing.assert_close(only_d.loss, 2.0 * out.description_loss)


def test_auxiliary_task_switches(model, processor, videos):
    batch = processor(videos=videos[:2], text=TEXTS[:2], keywords=KEYWORDS[:2], data_source=["primary", "auxiliary"],
                      return_labels=True)  # fmt: skip
    model = copy.deepcopy(model)
    model.config.auxiliary_keyword_task = False
    with torch.no_grad():
        out = model(**batch)
        alone = model(**{k: v[:1] for k, v in batch.items()})
    torch.testing.assert_close(out.keyword_loss, alone.keyword_loss)  # the auxiliary sample is left out of Lk


def test_loss_falls(tokenizer, processor, videos):
    torch.manual_seed(0)
    model = SvadVlmForConditionalGeneration(make_config(tokenizer)).train()
    batch = processor(videos=videos, text=TEXTS, keywords=KEYWORDS, data_source=["primary", "auxiliary", "primary"],
                      return_labels=True)  # fmt: skip
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


# ------------------------------------------------------------------------------------------------ generation
def test_generate_with_prompts_matches_one_by_one(model, processor, videos):
    prompts = ["describe the video", processor.keyword_prompt_for(TEXTS[0], "red")]
    batch = processor(videos=videos[:2], text=prompts)
    assert batch["attention_mask"][0, 0] == 0  # left padded
    together = model.generate(**batch, max_new_tokens=4, do_sample=False)
    for row in range(2):
        alone = model.generate(**processor(videos=videos[row : row + 1], text=prompts[row : row + 1]),
                               max_new_tokens=4, do_sample=False)  # fmt: skip
        assert together[row, : alone.shape[1]].tolist() == alone[0].tolist()


def test_generate_default_prompt_is_the_description_prompt(model, processor, videos, tokenizer):
    default = processor(videos=videos[:1])
    assert tokenizer.decode(default["input_ids"][0]) == tokenizer.decode(
        tokenizer(processor.description_prompt)["input_ids"]
    )
    explicit = processor(videos=videos[:1], text="describe the video")
    a = model.generate(**default, max_new_tokens=3, do_sample=False)
    b = model.generate(**explicit, max_new_tokens=3, do_sample=False)
    assert a.shape[0] == b.shape[0] == 1


# ------------------------------------------------------------------------------------------------ data, eval
def test_description_and_captions_mix():
    import datasets

    from videotext.training.data import with_targets

    split = datasets.Dataset.from_dict({
        "video_id": ["v0", "v1"], "video_path": ["a.mp4", "b.mp4"], "captions": [["c0", "c0b"], ["c1"]],
        "nouns": [[["c"], ["c"]], [["c"]]], "description": ["d0", ""], "keywords": [["k"], []],
    })  # fmt: skip
    mixed = with_targets(split, "description+captions")
    assert mixed["captions"] == [["d0"], ["c0", "c0b"], ["c1"]]  # v1 has no description: auxiliary only
    assert mixed["data_source"] == ["primary", "auxiliary", "auxiliary"]
    assert "nouns" not in mixed.column_names
    assert with_targets(split, "description")["captions"] == [["d0"]]
    with pytest.raises(ValueError, match="data.targets"):
        with_targets(split, "summaries")


def test_keyword_fill_blanks_only_unrepeated_visual_words():
    from videotext.evaluation.keyword_fill import keyword_blanks, summarize_keyword_fill

    rows = [
        {"video_id": "v0", "description": "a red star turns from red to blue", "keywords": ["red", "star", "blue"]},
        {"video_id": "v1", "description": "it moves to the left", "keywords": ["moves"]},
    ]
    blanks = keyword_blanks(rows, visual_words={"red", "star", "blue", "left"})
    assert blanks[0][1] in ("star", "blue") and blanks[1] is None  # "red" is repeated, "moves" is not visual
    assert summarize_keyword_fill([("v0", "star", "star", True)], 2) == {"accuracy": 1.0, "num_clips": 1,
                                                                          "skipped": 1}  # fmt: skip


def test_synthetic_keywords_are_content_words():
    from videotext.datasets_scripts.synthetic import VISUAL_KEYWORDS, build_specs

    for spec in build_specs(20, 0, 32, 8):
        words = spec["description"].lower()
        assert spec["shape"] in spec["keywords"] and spec["colour"] in spec["keywords"]
        assert not {"that", "starts", "plain", "the", "half", "clip", "frame"} & set(spec["keywords"])
        assert all(k in words for k in spec["keywords"])
        assert {spec["size"], spec["shape"]} <= VISUAL_KEYWORDS


def test_gradient_checkpointing_and_lora_on_the_language_model(model, processor, videos):
    from videotext.training.lora import apply_lora

    batch = processor(videos=videos, text=TEXTS, keywords=KEYWORDS, return_labels=True)
    plain = copy.deepcopy(model).train()
    checkpointed = copy.deepcopy(model).train()
    checkpointed.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    torch.manual_seed(0)  # the same dropout masks (checkpointing replays the RNG state)
    a = plain(**batch).loss
    torch.manual_seed(0)
    b = checkpointed(**batch).loss
    a.backward()
    b.backward()
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(plain.query_tokens.grad, checkpointed.query_tokens.grad)

    lora = apply_lora(copy.deepcopy(model).train(), prefix="language_model", r=4, alpha=8, dropout=0.0,
                      include_lm_head=False, modules_to_save=[], train_non_llm=True)  # fmt: skip
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert any("lora_" in n for n in trainable)
    assert not any(n.startswith("language_model") and "lora_" not in n for n in trainable)  # the LLM stays frozen
    lora(**batch).loss.backward()


def test_caption_command_takes_a_prompt(model, processor, tmp_path, capsys):
    from videotext.cli import main
    from videotext.processing.video_writer import write_video

    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    clip = write_video(tmp_path / "clip.mp4", np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3), np.uint8))
    prompt = processor.keyword_prompt_for(TEXTS[0], "red")
    assert main(["caption", str(tmp_path / "model"), str(clip), "--prompt", prompt, "--max-new-tokens", "3"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"{clip}\t")
    # the same words as generating from that prompt directly
    from videotext.processing import load_video

    frames = load_video(clip, num_frames=3).frames
    ids = model.generate(**processor(videos=[frames], text=[prompt]), max_new_tokens=3, do_sample=False)
    assert printed.strip().split("\t", 1)[-1] == processor.batch_decode(ids)[0]


def test_keyword_only_step_skips_the_description_pass(model, processor, videos):
    batch = processor(videos=videos, text=TEXTS, keywords=KEYWORDS, return_labels=True)
    keyword_only = copy.deepcopy(model)
    keyword_only.config.use_description_loss = False
    with torch.no_grad():
        full, alone = model(**batch), keyword_only(**batch)
    assert alone.logits is None and alone.description_loss is None
    torch.testing.assert_close(alone.keyword_loss, full.keyword_loss)
    torch.testing.assert_close(alone.loss, 5.0 * full.keyword_loss)


def test_from_pretrained_backbones_loads_local_folders(tokenizer, tmp_path):
    from transformers import Blip2QFormerConfig, Blip2QFormerModel, GPT2Config, GPT2LMHeadModel, ViTConfig, ViTModel

    torch.manual_seed(0)
    vit = ViTModel(ViTConfig(image_size=16, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=64), add_pooling_layer=False)  # fmt: skip
    lm = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=2, n_positions=64))
    qformer = Blip2QFormerModel(Blip2QFormerConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                   intermediate_size=64, encoder_hidden_size=32))  # fmt: skip
    for name, module in (("vit", vit), ("lm", lm), ("qformer", qformer)):
        module.save_pretrained(tmp_path / name)
    model = SvadVlmForConditionalGeneration.from_pretrained_backbones(
        vision=str(tmp_path / "vit"), text=str(tmp_path / "lm"), qformer=str(tmp_path / "qformer"),
        num_frames=2, num_gmhra_layers=1, num_query_tokens=4,
    )  # fmt: skip
    for mine, theirs in ((model.vision_model, vit), (model.language_model, lm), (model.qformer, qformer)):
        for (name, a), b in zip(mine.state_dict().items(), theirs.state_dict().values()):
            assert torch.equal(a, b), name
    assert model.config.text_config.n_embd == 32 and len(model.visual_alignment.projections) == 2
