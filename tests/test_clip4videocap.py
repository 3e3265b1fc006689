"""CLIP4VideoCap, paper-specific parts on tiny configs: every Table 4 fusion cell, the multi-scale squeeze / expand,
Vis2Text L1 distillation (Eqs. 3-6), the commonsense sub-decoder switches (Table 5, Eq. 7), the inference folder
without the CLIP text tower, `generate(return_commonsense=True)`, pretrained construction from local folders, the
teacher ("clip") stage and config validation. The shared suite (tests/test_methods.py) covers the rest."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from videotext.modeling.clip4videocap import (
    Clip4VideoCapConfig,
    Clip4VideoCapForConditionalGeneration,
    Clip4VideoCapProcessor,
    Clip4VideoCapVideoProcessor,
)
from videotext.modeling.clip4videocap.modeling_clip4videocap import MultiScaleTemporalFusion
from videotext.training.tokenizer import train_caption_tokenizers

CAPTIONS = ["a red ball moves left then grows", "a blue square shrinks", "a green circle moves right",
            "the yellow triangle spins then stops"]  # fmt: skip
INTENTIONS = [["to reach the left side", "to look bigger"], ["to take less space"], ["to reach the right side"],
              ["to turn around", "to stop"]]  # fmt: skip
EFFECTS = [["the ball ends up larger"], ["the square ends up smaller"], ["the circle ends up right"], ["it stops"]]
ATTRIBUTES = [["red", "small", "round"], ["blue", "big", "square"], ["green", "small", "round"], ["yellow"]]
NUM_FRAMES, SIZE, DIM = 4, 32, 32


@pytest.fixture(scope="module")
def tokenizers():
    # "; " joins a clip's annotations: the vocabulary needs it (a caption-only vocabulary maps it to [UNK])
    texts = CAPTIONS + ["; ".join(clip) for group in (INTENTIONS, EFFECTS, ATTRIBUTES) for clip in group]
    return train_caption_tokenizers(texts, vocab_size=150)


@pytest.fixture(scope="module")
def processor(tokenizers):
    dec, enc = tokenizers
    video_processor = Clip4VideoCapVideoProcessor(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE},
                                                  num_frames=NUM_FRAMES)  # fmt: skip
    return Clip4VideoCapProcessor(video_processor=video_processor, tokenizer=dec, text_encoder_tokenizer=enc,
                                  max_length=12, commonsense_max_length=10)  # fmt: skip


def tiny_config(tokenizers, **overrides) -> Clip4VideoCapConfig:
    dec, enc = tokenizers
    ids = dict(vocab_size=len(dec), bos_token_id=dec.bos_token_id, eos_token_id=dec.eos_token_id,
               pad_token_id=dec.pad_token_id)  # fmt: skip
    kwargs = dict(
        vision_config=dict(model_type="clip_vision_model", hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                           intermediate_size=37, image_size=SIZE, patch_size=16),
        clip_text_config=dict(model_type="clip_text_model", hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=37, vocab_size=len(enc), max_position_embeddings=32,
                              pad_token_id=enc.pad_token_id),
        text_config=dict(model_type="gpt2", n_embd=32, n_layer=1, n_head=2, n_positions=64, **ids),
        commonsense_config=dict(model_type="gpt2", n_embd=24, n_layer=1, n_head=2, n_positions=64),
        num_frames=NUM_FRAMES, projection_dim=DIM, fusion_num_heads=2, num_commonsense_queries=2, fusion_dropout=0.0,
    )  # fmt: skip
    kwargs.update(overrides)
    return Clip4VideoCapConfig(**kwargs)


def tiny_model(tokenizers, seed: int = 0, **overrides) -> Clip4VideoCapForConditionalGeneration:
    torch.manual_seed(seed)
    return Clip4VideoCapForConditionalGeneration(tiny_config(tokenizers, **overrides)).eval()


@pytest.fixture(scope="module")
def batch(processor):
    torch.manual_seed(0)
    videos = [torch.randint(0, 256, (NUM_FRAMES, SIZE, SIZE, 3), dtype=torch.uint8).numpy() for _ in CAPTIONS]
    return dict(processor(videos=videos, text=CAPTIONS, intention=INTENTIONS, effect=EFFECTS, attribute=ATTRIBUTES,
                          return_labels=True))  # fmt: skip


# ------------------------------------------------------------------------------------------ Table 4: fusion cells
@pytest.mark.parametrize("fusion_type", ["lstm", "transformer", "conv1d"])
@pytest.mark.parametrize("num_scales", [1, 3])
def test_every_table4_fusion_cell_builds_trains_and_sees_frame_order(tokenizers, batch, fusion_type, num_scales):
    model = tiny_model(tokenizers, fusion_type=fusion_type, fusion_num_scales=num_scales).train()
    assert len(model.temporal_fusion.blocks) == num_scales
    out = model(**batch)
    assert out.fused_features.shape == (len(CAPTIONS), NUM_FRAMES, DIM)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    for block in model.temporal_fusion.blocks:  # every scale is trained (a length-1 LSTM step has no W_hh gradient)
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in block.parameters())
    # reversing the frames must change the fused feature of the first step (the fusion sees order)
    model.eval()
    with torch.no_grad():
        frames = torch.randn(2, NUM_FRAMES, DIM)
        fused = model.temporal_fusion(frames)
        fused_rev = model.temporal_fusion(frames.flip(1))
    assert not torch.allclose(fused[:, 0], fused_rev[:, -1], atol=1e-5)


def test_multiscale_squeeze_and_expand():
    config = Clip4VideoCapConfig(projection_dim=8, fusion_num_heads=2, num_frames=8, fusion_squeeze_factor=2)
    fusion = MultiScaleTemporalFusion(config)
    x = torch.arange(8, dtype=torch.float).view(1, 8, 1).expand(1, 8, 8)
    squeezed = fusion.squeeze(x)
    assert squeezed.shape == (1, 4, 8) and torch.equal(squeezed[0, :, 0], torch.tensor([0.5, 2.5, 4.5, 6.5]))
    odd = fusion.squeeze(x[:, :7])  # a last partial window averages what it holds
    assert odd.shape == (1, 4, 8) and odd[0, -1, 0] == 6.0
    expanded = fusion.expand(squeezed, 8)
    assert torch.equal(expanded[0, :, 0], torch.tensor([0.5, 0.5, 2.5, 2.5, 4.5, 4.5, 6.5, 6.5]))
    assert fusion.expand(torch.ones(1, 1, 3), 5).shape == (1, 5, 3)


# ------------------------------------------------------------------------------------ Eqs. 3-6: Vis2Text + L1
def test_distillation_is_l1_to_the_frozen_clip_text_feature(tokenizers, batch):
    model = tiny_model(tokenizers).train()
    out = model(**batch)
    target = model.get_caption_features(batch["text_encoder_input_ids"], batch["text_encoder_attention_mask"])
    expected = (out.vis2text_features - target.unsqueeze(1)).abs().mean()
    torch.testing.assert_close(out.distillation_loss, expected)
    assert (out.vis2text_features >= 0).all()  # sigma_2 of Eq. 3
    terms = 10.0 * out.distillation_loss + out.caption_loss + out.intention_loss + out.effect_loss + out.attribute_loss
    torch.testing.assert_close(out.loss, terms)  # Eq. 8 with the default weights
    out.loss.backward()
    assert all(not p.requires_grad and p.grad is None for p in model.text_encoder.parameters())  # frozen teacher
    assert model.vis2text.fc1.weight.grad.abs().sum() > 0


def test_distillation_weight_zero_drops_the_term_and_weights_scale(tokenizers, batch):
    off = tiny_model(tokenizers, distillation_loss_weight=0.0)(**batch)
    assert off.distillation_loss is None
    heavy = tiny_model(tokenizers, distillation_loss_weight=20.0, caption_loss_weight=2.0)(**batch)
    terms = (20.0 * heavy.distillation_loss + 2.0 * heavy.caption_loss + heavy.intention_loss + heavy.effect_loss
             + heavy.attribute_loss)  # fmt: skip
    torch.testing.assert_close(heavy.loss, terms)


def test_vis2text_without_final_relu(tokenizers, batch):
    out = tiny_model(tokenizers, vis2text_final_activation=False)(**batch)
    assert (out.vis2text_features < 0).any()


# ------------------------------------------------------------------------------- Table 5: sub-decoder switches
def test_sub_decoder_switches(tokenizers, batch):
    full = tiny_model(tokenizers)
    out = full(**batch)
    assert set(full.commonsense_decoders) == {"intention", "effect", "attribute"}
    assert out.prefix.shape[1] == 2 * NUM_FRAMES + 3 * 2
    only = tiny_model(tokenizers, use_effect=False, use_attribute=False)
    out_only = only(**batch)
    assert set(only.commonsense_decoders) == {"intention"} and out_only.prefix.shape[1] == 2 * NUM_FRAMES + 2
    assert out_only.effect_loss is None and out_only.attribute_loss is None and out_only.intention_loss is not None
    none = tiny_model(tokenizers, use_intention=False, use_effect=False, use_attribute=False)
    assert not none.has_commonsense and none.commonsense_projection is None
    out_none = none(**batch)
    assert out_none.prefix.shape[1] == 2 * NUM_FRAMES and out_none.intention_loss is None
    assert not any(k.startswith("commonsense") for k in none.state_dict())


def test_aspect_features_do_not_depend_on_the_aspect_text(tokenizers, batch):
    """The query states that feed the caption decoder are the same with teacher forcing and at inference."""
    model = tiny_model(tokenizers)
    with torch.no_grad():
        trained = model(**batch).commonsense_features
        grounded = model.encode_video(batch["pixel_values_videos"])["grounded"]
        for aspect, features in trained.items():
            torch.testing.assert_close(model.commonsense_decoders[aspect](grounded)[0], features)


def test_processor_joins_aspects_and_masks_padding(processor, batch):
    eos = processor.tokenizer.eos_token_id
    ids, labels = batch["intention_input_ids"], batch["intention_labels"]
    assert ids.shape == labels.shape == batch["intention_attention_mask"].shape
    assert processor.tokenizer.decode(ids[0][batch["intention_attention_mask"][0].bool()][:-1]) == (
        "to reach the left side ; to look bigger"
    )
    assert all(int(row[row != -100][-1]) == eos for row in labels)
    assert (labels[batch["intention_attention_mask"] == 0] == -100).all()
    with pytest.raises(ValueError, match="intention"):
        processor(text=["a"], intention=[[1, 2]], return_labels=True)


def test_loss_falls(tokenizers, batch):
    model = tiny_model(tokenizers).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=3e-3)
    losses = []
    for _ in range(8):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.9 * losses[0] and losses[-1] == min(losses), losses


# --------------------------------------------------------------------------- the teacher stage ("clip")
def test_clip_stage_trains_the_towers_contrastively(tokenizers, batch):
    model = tiny_model(tokenizers, train_stage="clip", freeze_clip_text_model=False).train()
    out = model(**batch)
    assert out.logits is None and out.logits_per_text.shape == (4, 4)
    scale = model.logit_scale.exp()
    torch.testing.assert_close(out.logits_per_text, scale * out.text_embeds @ out.video_embeds.T)
    out.loss.backward()
    for part in (model.text_encoder, model.vision_model, model.temporal_fusion):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in part.parameters())
    assert model.logit_scale.grad is not None
    with pytest.raises(ValueError, match="text_encoder_input_ids"):
        model(pixel_values_videos=batch["pixel_values_videos"])


# ------------------------------------------------------------------ inference folder without the CLIP text tower
def test_folder_without_clip_text_tower_still_captions(tokenizers, processor, batch, tmp_path):
    model = tiny_model(tokenizers)
    model.save_pretrained(tmp_path / "slim")
    weights = load_file(tmp_path / "slim" / "model.safetensors")
    assert not any(k.startswith(("text_encoder.", "text_projection", "logit_scale")) for k in weights)
    assert model.text_encoder is not None and model.config.use_clip_text_model  # the live model is untouched
    reloaded = Clip4VideoCapForConditionalGeneration.from_pretrained(tmp_path / "slim").eval()
    assert reloaded.text_encoder is None and not reloaded.config.use_clip_text_model
    pixels = batch["pixel_values_videos"][:2]
    assert torch.equal(reloaded.generate(pixels, max_new_tokens=5), model.generate(pixels, max_new_tokens=5))
    for aspect, sub in reloaded.commonsense_decoders.items():  # the sub-decoders' tied output heads came back
        torch.testing.assert_close(
            sub.decoder.lm_head.weight, model.commonsense_decoders[aspect].decoder.lm_head.weight
        )
    cs, cs_reloaded = (m.generate(pixels, max_new_tokens=3, return_commonsense=True) for m in (model, reloaded))
    assert all(torch.equal(getattr(cs, a), getattr(cs_reloaded, a)) for a in ("intention", "effect", "attribute"))
    out = reloaded(**batch)  # training inputs: the distillation term is skipped, the rest is computed
    assert out.distillation_loss is None and torch.isfinite(out.loss)
    with pytest.raises(ValueError, match="text tower"):
        reloaded.get_caption_features(batch["text_encoder_input_ids"])

    model.save_pretrained(tmp_path / "full", save_clip_text_model=True)
    assert any(k.startswith("text_encoder.") for k in load_file(tmp_path / "full" / "model.safetensors"))
    assert Clip4VideoCapForConditionalGeneration.from_pretrained(tmp_path / "full").text_encoder is not None


# ----------------------------------------------------------------------------------- generation + commonsense
def test_generate_returns_commonsense_texts(tokenizers, processor, batch):
    model = tiny_model(tokenizers)
    pixels = batch["pixel_values_videos"][:2]
    plain = model.generate(pixels, max_new_tokens=5)
    out = model.generate(pixels, max_new_tokens=5, return_commonsense=True, commonsense_max_new_tokens=4)
    assert torch.equal(out.sequences, plain)
    for aspect in ("intention", "effect", "attribute"):
        ids = getattr(out, aspect)
        assert ids.shape[0] == 2 and 1 <= ids.shape[1] <= 4
    texts = processor.decode_commonsense(out)
    assert len(texts) == 2 and all(set(t) == {"intention", "effect", "attribute"} for t in texts)
    assert processor.batch_decode(out) == processor.batch_decode(plain)
    partial = tiny_model(tokenizers, use_effect=False).generate(pixels, max_new_tokens=3, return_commonsense=True)
    assert partial.effect is None and set(processor.decode_commonsense(partial)[0]) == {"intention", "attribute"}


# ------------------------------------------------------------------------------------- pretrained construction
def test_from_pretrained_backbones_offline(tokenizers, tmp_path):
    from transformers import CLIPConfig, CLIPModel, GPT2Config, GPT2LMHeadModel

    dec, enc = tokenizers
    torch.manual_seed(1)
    clip = CLIPModel(CLIPConfig(
        text_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                         vocab_size=len(enc), max_position_embeddings=32, bos_token_id=None, eos_token_id=2),
        vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=37,
                           image_size=SIZE, patch_size=16),
        projection_dim=24, logit_scale_init_value=3.0,
    ))  # fmt: skip
    clip.save_pretrained(tmp_path / "clip")
    gpt2 = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=1, n_head=2, vocab_size=len(dec), n_positions=64,
                                      eos_token_id=dec.eos_token_id, bos_token_id=dec.bos_token_id))  # fmt: skip
    gpt2.save_pretrained(tmp_path / "gpt2")
    model = Clip4VideoCapForConditionalGeneration.from_pretrained_backbones(
        vision=str(tmp_path / "clip"), text=str(tmp_path / "gpt2"), text_encoder=str(tmp_path / "clip"),
        num_frames=NUM_FRAMES, fusion_num_heads=2, commonsense_config=dict(n_embd=24, n_layer=1, n_head=2),
    )  # fmt: skip
    assert model.config.projection_dim == 24
    for mine, theirs in ((model.vision_model, clip.vision_model), (model.text_encoder, clip.text_model),
                         (model.visual_projection, clip.visual_projection),
                         (model.text_projection, clip.text_projection), (model.language_model, gpt2)):  # fmt: skip
        for key, value in theirs.state_dict().items():
            assert torch.equal(mine.state_dict()[key], value), key
    assert math.isclose(model.logit_scale.item(), 3.0, rel_tol=1e-6)
    assert not model.text_encoder.embeddings.token_embedding.weight.requires_grad  # the frozen teacher
    assert model.config.commonsense_config.vocab_size == len(dec)
    ids = model.generate(torch.randn(1, NUM_FRAMES, 3, SIZE, SIZE), max_new_tokens=3)
    assert ids.shape[0] == 1
    slim = Clip4VideoCapForConditionalGeneration.from_pretrained_backbones(
        vision=str(tmp_path / "clip"), text=str(tmp_path / "gpt2"), text_encoder=None, num_frames=NUM_FRAMES,
        fusion_num_heads=2, commonsense_config=dict(n_embd=24, n_layer=1, n_head=2),
    )  # fmt: skip
    assert slim.text_encoder is None


# ------------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("field", "value"),
    [("fusion_type", "gru"), ("fusion_num_scales", 0), ("distillation_loss_weight", float("nan")),
     ("intention_loss_weight", -1.0), ("use_effect", "yes"), ("fusion_kernel_size", 4), ("train_stage", "both"),
     ("num_commonsense_queries", 0)],
)  # fmt: skip
def test_config_rejects_bad_values_naming_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        Clip4VideoCapConfig(projection_dim=32, fusion_num_heads=2, **{field: value})


def test_config_round_trip_and_sub_decoder_vocab_follows_the_decoder(tokenizers, tmp_path):
    config = tiny_config(tokenizers, fusion_type="conv1d", fusion_num_scales=1, use_attribute=False)
    config.save_pretrained(tmp_path)
    again = Clip4VideoCapConfig.from_pretrained(tmp_path)
    assert again.fusion_type == "conv1d" and again.aspects == ("intention", "effect")
    assert again.commonsense_config.vocab_size == again.text_config.vocab_size
    assert again.commonsense_config.eos_token_id == tokenizers[0].eos_token_id


def test_evaluation_reports_commonsense_texts_and_scores(tokenizers, processor, synthetic_dir):
    from videotext.datasets_scripts import load_prepared
    from videotext.inference import evaluate_captioner
    from videotext.training.data import make_frame_loader

    split = load_prepared(synthetic_dir)["test"]
    metrics = evaluate_captioner(tiny_model(tokenizers), processor, split, load_frames=make_frame_loader(NUM_FRAMES),
                                 batch_size=2, max_new_tokens=3)  # fmt: skip
    assert set(metrics["commonsense_examples"]) == set(split["video_id"])
    assert all(set(t) == {"intention", "effect", "attribute"} for t in metrics["commonsense_examples"].values())
    for aspect in ("intention", "effect", "attribute"):
        assert 0.0 <= metrics["commonsense"][aspect]["BLEU-4"] <= 1.0 and metrics["commonsense"][aspect]["CIDEr"] >= 0
    without = evaluate_captioner(tiny_model(tokenizers, use_intention=False, use_effect=False, use_attribute=False),
                                 processor, split, load_frames=make_frame_loader(NUM_FRAMES), max_new_tokens=3)  # fmt: skip
    assert "commonsense" not in without and "commonsense_examples" not in without
