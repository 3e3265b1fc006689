"""MFFCL: config, model (losses, mapping ablations, generation, LoRA, backbones) and processor, on tiny configs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from videotext.modeling.mffcl import MffclConfig, MffclForConditionalGeneration, MffclProcessor, MffclVideoProcessor
from videotext.processing.video_writer import write_video
from videotext.training.tokenizer import train_caption_tokenizers

CAPTIONS = [
    "a red ball moves left then grows",
    "a blue square shrinks",
    "a green circle moves right",
    "the yellow triangle spins then stops",
]
NUM_FRAMES = 4
SIZE = 32


@pytest.fixture(scope="module")
def tokenizers():
    return train_caption_tokenizers(CAPTIONS, vocab_size=120)


@pytest.fixture(scope="module")
def processor(tokenizers):
    dec, enc = tokenizers
    video_processor = MffclVideoProcessor(
        size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE}, num_frames=NUM_FRAMES
    )
    return MffclProcessor(video_processor=video_processor, tokenizer=dec, text_encoder_tokenizer=enc, max_length=12)


def tiny_config(tokenizers, **overrides) -> MffclConfig:
    dec, enc = tokenizers
    kwargs = dict(
        vision_config=dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
            image_size=SIZE,
            patch_size=8,
        ),
        text_config=dict(
            n_embd=32,
            n_layer=2,
            n_head=2,
            n_positions=64,
            vocab_size=len(dec),
            bos_token_id=dec.bos_token_id,
            eos_token_id=dec.eos_token_id,
            pad_token_id=dec.pad_token_id,
        ),
        text_encoder_config=dict(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=37,
            vocab_size=len(enc),
            max_position_embeddings=64,
        ),
        num_frames=NUM_FRAMES,
        num_video_tokens=4,
        num_query_tokens=10,
        mapper_num_layers=2,
        mapper_num_heads=2,
    )
    kwargs.update(overrides)
    return MffclConfig(**kwargs)


def tiny_model(tokenizers, seed: int = 0, **overrides) -> MffclForConditionalGeneration:
    torch.manual_seed(seed)
    return MffclForConditionalGeneration(tiny_config(tokenizers, **overrides)).eval()


@pytest.fixture(scope="module")
def batch(processor):
    rng = np.random.default_rng(0)
    videos = [rng.integers(0, 255, (6, 40, 48, 3), dtype=np.uint8) for _ in range(2)]
    return processor(videos=videos, text=CAPTIONS[:2], return_labels=True)


# --------------------------------------------------------------------------------------------------------- config
def test_config_defaults_and_text_config_lookup(tokenizers):
    config = MffclConfig()
    assert config.vision_config.model_type == "timesformer"
    assert config.text_config.model_type == "gpt2"
    assert config.text_encoder_config.model_type == "bert"
    assert (config.num_query_tokens, config.contrastive_temperature, config.mapping_type) == (10, 0.07, "transformer")
    assert config.num_frames == config.vision_config.num_frames == 8
    tiny = tiny_config(tokenizers)
    assert tiny.vision_config.num_frames == NUM_FRAMES
    assert tiny.get_text_config(decoder=True) is tiny.text_config
    assert tiny.get_text_config() is tiny.text_config


@pytest.mark.parametrize(
    "field,value",
    [
        ("mapping_type", "mlp"),
        ("train_stage", "pretrain"),
        ("num_query_tokens", 0),
        ("num_video_tokens", -1),
        ("contrastive_temperature", 0.0),
        ("mapper_dropout", 1.5),
        ("mapper_num_heads", 3),
        ("contrastive_dim", 0),
        ("learnable_temperature", "yes"),
    ],
)
def test_config_validation_names_field(tokenizers, field, value):
    with pytest.raises(ValueError, match=field):
        tiny_config(tokenizers, **{field: value})


def test_config_validation_cross_field(tokenizers):
    with pytest.raises(ValueError, match="use_contrastive"):
        tiny_config(tokenizers, use_contrastive=False, train_stage="both")
    with pytest.raises(ValueError, match="contrastive_dim"):
        tiny_config(tokenizers, text_encoder_config=dict(hidden_size=48, num_attention_heads=2))
    tiny_config(tokenizers, text_encoder_config=dict(hidden_size=48, num_attention_heads=2), contrastive_dim=16)


def test_config_round_trip(tokenizers, tmp_path):
    config = tiny_config(tokenizers, mapping_type="ffn", learnable_temperature=True, contrastive_dim=16)
    config.save_pretrained(tmp_path)
    loaded = MffclConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == config.to_dict()
    assert loaded.vision_config.num_frames == NUM_FRAMES


# ---------------------------------------------------------------------------------------------------------- model
def test_forward_shapes(tokenizers, batch):
    model = tiny_model(tokenizers, train_stage="both")
    out = model(**batch)
    batch_size, seq_len = batch["input_ids"].shape
    assert out.prefix.shape == (batch_size, 10, 32)
    assert out.logits.shape == (batch_size, 10 + seq_len, len(tokenizers[0]))
    assert out.video_embeds.shape == out.text_embeds.shape == (batch_size, 32)
    assert out.logits_per_text.shape == (batch_size, batch_size)
    assert torch.isfinite(out.loss)


def test_train_stages(tokenizers, batch):
    model = tiny_model(tokenizers, train_stage="contrastive")
    out = model(**batch)
    assert out.caption_loss is None and out.logits is None and out.contrastive_loss is not None
    assert torch.equal(out.loss, out.contrastive_loss)

    model.config.train_stage = "caption"
    out = model(**batch)
    assert out.contrastive_loss is None and out.caption_loss is not None
    assert torch.equal(out.loss, out.caption_loss)

    model.config.train_stage = "both"
    model.config.contrastive_loss_weight = 0.5
    out = model(**batch)
    torch.testing.assert_close(out.loss, out.caption_loss + 0.5 * out.contrastive_loss)

    with pytest.raises(ValueError, match="text_encoder_input_ids"):
        model.config.train_stage = "contrastive"
        model(pixel_values_videos=batch["pixel_values_videos"])


def test_caption_loss_ignores_prefix_and_padding(tokenizers, batch):
    model = tiny_model(tokenizers)
    labels = batch["labels"]
    assert (labels == -100).any(), "the batch must contain padding"
    base = model(**batch).caption_loss
    changed = dict(batch)
    # change the decoder tokens where labels are -100 (padding): right padding + causal mask -> same loss
    changed["input_ids"] = batch["input_ids"].masked_fill(labels == -100, 9)
    torch.testing.assert_close(model(**changed).caption_loss, base)
    # the caption loss is the mean over caption tokens only (prefix positions never count)
    out = model(**batch)
    prefix_len = out.prefix.shape[1]
    logits = out.logits[:, prefix_len - 1 : -1]
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1))
    torch.testing.assert_close(out.caption_loss, expected)


def test_mapping_ablation_and_prefix_length(tokenizers, batch):
    ffn = tiny_model(tokenizers, mapping_type="ffn", num_video_tokens=6)
    assert ffn.mapper.query_tokens is None and ffn.mapper.encoder is None
    assert ffn(**batch).prefix.shape[1] == 6
    for r in (10, 30):
        model = tiny_model(tokenizers, num_query_tokens=r)
        assert model.mapper.query_tokens.shape == (r, 32)
        assert model(**batch).prefix.shape[1] == r == model.prefix_length


def test_contrastive_off_has_no_text_encoder(tokenizers, batch):
    model = tiny_model(tokenizers, use_contrastive=False)
    assert model.text_encoder is None
    out = model(**batch)
    assert out.contrastive_loss is None and out.caption_loss is not None


def test_temperature_fixed_vs_learnable(tokenizers, batch):
    fixed = tiny_model(tokenizers, train_stage="contrastive")
    assert "temperature" not in dict(fixed.named_parameters())
    assert float(fixed.temperature) == pytest.approx(0.07)

    learnable = tiny_model(tokenizers, train_stage="contrastive", learnable_temperature=True).train()
    assert learnable.temperature.item() == pytest.approx(0.07)
    learnable(**batch).loss.backward()
    assert learnable.temperature.grad is not None and learnable.temperature.grad.abs() > 0


def test_contrastive_projection(tokenizers, batch):
    model = tiny_model(tokenizers, train_stage="both", contrastive_dim=16)
    out = model(**batch)
    assert out.video_embeds.shape == (2, 16)
    torch.testing.assert_close(out.video_embeds.norm(dim=-1), torch.ones(2))


def test_loss_falls_on_repeated_batch(tokenizers, batch):
    model = tiny_model(tokenizers, train_stage="both").train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(12):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.7 * losses[0], losses


def test_save_load_round_trip(tokenizers, batch, tmp_path):
    model = tiny_model(tokenizers, learnable_temperature=True, train_stage="both")
    model.save_pretrained(tmp_path)
    loaded = MffclForConditionalGeneration.from_pretrained(tmp_path).eval()
    saved_state, loaded_state = model.state_dict(), loaded.state_dict()
    assert saved_state.keys() == loaded_state.keys()
    assert all(torch.equal(saved_state[k], loaded_state[k]) for k in saved_state)
    with torch.no_grad():
        a, b = model(**batch), loaded(**batch)
    # identical weights; CPU kernels may round differently for freshly built vs. loaded tensors (~1e-8)
    torch.testing.assert_close(a.logits, b.logits, rtol=0, atol=1e-6)
    torch.testing.assert_close(a.loss, b.loss, rtol=0, atol=1e-6)
    assert torch.equal(
        model.generate(batch["pixel_values_videos"], max_new_tokens=5),
        loaded.generate(batch["pixel_values_videos"], max_new_tokens=5),
    )
    assert loaded.generation_config.eos_token_id == tokenizers[0].eos_token_id


# ----------------------------------------------------------------------------------------------------- generation
def test_generate_greedy_cache_equals_no_cache(tokenizers, batch):
    model = tiny_model(tokenizers, seed=1)
    pixel_values = batch["pixel_values_videos"]
    cached = model.generate(pixel_values, max_new_tokens=6, do_sample=False)
    uncached = model.generate(pixel_values, max_new_tokens=6, do_sample=False, use_cache=False)
    assert cached.shape[0] == 2 and cached.shape[1] <= 6
    assert torch.equal(cached, uncached)
    # a text prompt after the prefix: only new tokens come back
    prompt = model.generate(pixel_values, input_ids=batch["input_ids"][:, :2], max_new_tokens=3)
    assert prompt.shape[1] <= 3



def test_forward_cache_round_trip_under_installed_transformers_name(tokenizers, batch):
    """Regression (transformers 5.24 renamed the cache to `cache`): the output carries the decoder cache under the
    name the installed generation reads, and feeding it back one token at a time equals the full forward."""
    from videotext.modeling.mffcl.modeling_mffcl import CACHE_NAME
    from videotext.modeling.shared_blocks import generation_cache_name

    assert CACHE_NAME == generation_cache_name()
    model = tiny_model(tokenizers, seed=2)
    pixel_values, ids, mask = batch["pixel_values_videos"], batch["input_ids"], batch["attention_mask"]
    with torch.no_grad():
        full = model(pixel_values_videos=pixel_values, input_ids=ids, attention_mask=mask, use_cache=False)
        first = model(pixel_values_videos=pixel_values, input_ids=ids[:, :-1], attention_mask=mask[:, :-1], use_cache=True)
        cache = first[CACHE_NAME]
        assert cache is not None and cache.get_seq_length() == first.logits.shape[1]
        prefix_mask = torch.ones(mask.shape[0], full.logits.shape[1] - ids.shape[1], dtype=mask.dtype)
        full_mask = torch.cat([prefix_mask, mask], dim=1)  # (B, P + S): prefix, then the caption's mask
        step = model(input_ids=ids[:, -1:], attention_mask=full_mask, use_cache=True, **{CACHE_NAME: cache})
    torch.testing.assert_close(step.logits[:, -1], full.logits[:, -1], atol=1e-5, rtol=1e-4)
    assert step[CACHE_NAME].get_seq_length() == full.logits.shape[1]
def test_generate_beam_and_nucleus(tokenizers, batch):
    model = tiny_model(tokenizers, seed=2)
    pixel_values = batch["pixel_values_videos"]
    beams = model.generate(pixel_values, max_new_tokens=5, num_beams=3, num_return_sequences=2)
    assert beams.shape[0] == 4
    torch.manual_seed(0)
    sampled = model.generate(pixel_values, max_new_tokens=5, do_sample=True, top_p=0.9)
    assert sampled.shape[0] == 2


def test_generate_without_pad_token_falls_back_to_eos(tokenizers, batch):
    model = tiny_model(tokenizers)
    model.generation_config.pad_token_id = None
    out = model.generate(batch["pixel_values_videos"], max_new_tokens=4, num_beams=2)
    assert out.shape[0] == 2


def test_lora_on_language_model_then_generate(tokenizers, batch):
    from peft import LoraConfig, get_peft_model

    model = tiny_model(tokenizers, seed=3)
    targets = [
        name
        for name, module in model.named_modules()
        if name.startswith("language_model.") and name.rsplit(".", 1)[-1] in ("c_attn", "c_proj", "c_fc")
    ]
    assert targets
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=targets, fan_in_fan_out=True))
    lora_names = [n for n, _ in peft_model.named_parameters() if "lora_" in n]
    assert lora_names and all(".language_model." in n for n in lora_names)
    out = peft_model.generate(pixel_values_videos=batch["pixel_values_videos"], max_new_tokens=4)
    assert out.shape[0] == 2
    loss = peft_model(**batch).loss
    loss.backward()


# ------------------------------------------------------------------------------------------------------ backbones
def test_from_pretrained_backbones_offline(tokenizers, tmp_path):
    from transformers import BertConfig, BertModel, GPT2Config, GPT2LMHeadModel, TimesformerConfig, TimesformerModel

    dec, enc = tokenizers
    torch.manual_seed(0)
    vision = TimesformerModel(
        TimesformerConfig(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
            image_size=SIZE, patch_size=8, num_frames=8,
        )
    )  # fmt: skip
    text = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=64, vocab_size=len(dec)))
    text_encoder = BertModel(
        BertConfig(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, vocab_size=len(enc)
        )
    )
    for name, backbone in (("vision", vision), ("text", text), ("text_encoder", text_encoder)):
        backbone.save_pretrained(tmp_path / name)

    model = MffclForConditionalGeneration.from_pretrained_backbones(
        vision=str(tmp_path / "vision"),
        text=str(tmp_path / "text"),
        text_encoder=str(tmp_path / "text_encoder"),
        num_frames=NUM_FRAMES,
        num_query_tokens=5,
        mapper_num_layers=2,
        mapper_num_heads=2,
    )
    assert model.config.num_frames == model.config.vision_config.num_frames == NUM_FRAMES
    assert model.config.num_query_tokens == 5

    vision_state = vision.state_dict()
    for key, value in model.vision_model.state_dict().items():
        if key == "embeddings.time_embeddings":
            assert value.shape == (1, NUM_FRAMES, 32)
            # nearest interpolation 8 -> 4 keeps frames 0, 2, 4, 6
            assert torch.equal(value, vision_state[key][:, ::2])
        else:
            assert torch.equal(value, vision_state[key]), key
    for key, value in model.language_model.state_dict().items():
        assert torch.equal(value, text.state_dict()[key]), key
    for key, value in model.text_encoder.state_dict().items():
        assert torch.equal(value, text_encoder.state_dict()[key]), key
    out = model(pixel_values_videos=torch.randn(1, NUM_FRAMES, 3, SIZE, SIZE), input_ids=torch.tensor([[7, 8]]))
    assert out.logits.shape == (1, 5 + 2, len(dec))


# ------------------------------------------------------------------------------------------------------ processor
def test_processor_decodes_real_mp4(processor, tmp_path):
    rng = np.random.default_rng(1)
    path_a = write_video(tmp_path / "a.mp4", rng.integers(0, 255, (3, 48, 64, 3), dtype=np.uint8), fps=8)  # short
    path_b = write_video(tmp_path / "b.mp4", rng.integers(0, 255, (11, 36, 36, 3), dtype=np.uint8), fps=8)
    out = processor(videos=[path_a, path_b])
    assert out["pixel_values_videos"].shape == (2, NUM_FRAMES, 3, SIZE, SIZE)
    assert out["pixel_values_videos"].dtype == torch.float32
    # a mixed batch: path + uint8 array + list of PIL frames
    from PIL import Image

    frames = rng.integers(0, 255, (5, 40, 40, 3), dtype=np.uint8)
    mixed = processor(videos=[path_a, frames, [Image.fromarray(f) for f in frames]])
    assert mixed["pixel_values_videos"].shape == (3, NUM_FRAMES, 3, SIZE, SIZE)
    torch.testing.assert_close(mixed["pixel_values_videos"][1], mixed["pixel_values_videos"][2])


def test_video_processor_sampling_and_normalisation():
    from videotext.modeling.mffcl.video_processing_mffcl import segment_centre_indices

    assert segment_centre_indices(16, 4).tolist() == [2, 6, 10, 14]
    assert segment_centre_indices(2, 4).tolist() == [0, 0, 1, 1]  # short clip: frames repeat
    vp = MffclVideoProcessor()
    assert list(vp.image_mean) == [0.45] * 3 and list(vp.image_std) == [0.225] * 3
    assert vp.num_frames == 8 and vp.do_sample_frames


def test_processor_labels_and_decode(processor, tokenizers):
    dec, enc = tokenizers
    out = processor(text=CAPTIONS[:2], return_labels=True)
    ids, mask, labels = out["input_ids"], out["attention_mask"], out["labels"]
    assert torch.equal(labels == -100, mask == 0)
    last = mask.sum(1) - 1
    assert (ids[torch.arange(2), last] == dec.eos_token_id).all()
    assert (out["text_encoder_input_ids"][:, 0] == enc.cls_token_id).all()
    assert out["text_encoder_attention_mask"].shape == out["text_encoder_input_ids"].shape
    assert processor.batch_decode(ids) == CAPTIONS[:2]
    assert processor.decode(ids[1]) == CAPTIONS[1]
    # a prompt (no labels) is left padded
    prompt = processor(text=["a red", "a blue square shrinks"])
    assert prompt["attention_mask"][0, 0] == 0 and "labels" not in prompt


def test_processor_save_load_round_trip(processor, tmp_path):
    processor.save_pretrained(tmp_path)
    loaded = MffclProcessor.from_pretrained(tmp_path)
    assert isinstance(loaded.video_processor, MffclVideoProcessor)
    assert loaded.video_processor.num_frames == NUM_FRAMES and loaded.max_length == processor.max_length
    a = processor(text=CAPTIONS, return_labels=True)
    b = loaded(text=CAPTIONS, return_labels=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
