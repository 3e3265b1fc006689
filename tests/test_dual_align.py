"""Dual-alignment retriever: config, model, losses, processor, POS tagger, backbone loading, Trainer, visualisation."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest
import torch

from videotext.modeling.dual_align import (
    DualAlignConfig,
    DualAlignModel,
    DualAlignProcessor,
    DualAlignVideoProcessor,
)
from videotext.modeling.dual_align.modeling_dual_align import symmetric_infonce, timesformer_config_from_vit
from videotext.modeling.dual_align.processing_dual_align import remove_words
from videotext.modeling.dual_align.video_processing_dual_align import segment_centre_indices
from videotext.training.tokenizer import train_caption_tokenizers

CAPTIONS = [
    "a red ball moves left then grows",
    "a blue square spins on the table",
    "the green circle jumps twice",
    "a man is playing a guitar",
    "moving quickly",
]
NOUNS = [["ball"], ["square", "table"], ["circle"], ["man", "guitar"], []]
VERBS = [["moves", "grows"], ["spins"], ["jumps"], ["playing"], ["moving"]]


def tiny_config(**kwargs) -> DualAlignConfig:
    values = dict(
        vision_config=dict(
            hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, image_size=32,
            patch_size=8,
        ),
        text_config=dict(dim=32, n_layers=2, n_heads=2, hidden_dim=37, vocab_size=300, dropout=0.0,
                         attention_dropout=0.0),
        num_frames=4, projection_dim=16, fusion_num_layers=3, fusion_num_heads=2, fusion_hidden_size=32,
        fusion_intermediate_size=37, fusion_dropout=0.0,
    )  # fmt: skip
    values.update(kwargs)
    return DualAlignConfig(**values)


@pytest.fixture(scope="module")
def tokenizer():
    _, encoder_tok = train_caption_tokenizers(CAPTIONS * 3, vocab_size=300)
    return encoder_tok


@pytest.fixture(scope="module")
def processor(tokenizer):
    video_processor = DualAlignVideoProcessor(size={"height": 32, "width": 32}, num_frames=4)
    return DualAlignProcessor(video_processor=video_processor, tokenizer=tokenizer)


def random_videos(n: int, frames: int = 6, size: int = 40, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (frames, size, size, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def batch(processor):
    return processor(videos=random_videos(4), text=CAPTIONS[:4], nouns=NOUNS[:4], verbs=VERBS[:4])


def make_model(**kwargs) -> DualAlignModel:
    torch.manual_seed(0)
    return DualAlignModel(tiny_config(**kwargs)).eval()


# --------------------------------------------------------------------------------------------------- config
def test_config_defaults_and_round_trip(tmp_path):
    cfg = DualAlignConfig()
    assert cfg.projection_dim == 256 and cfg.temperature == 0.05 and cfg.fusion_num_layers >= 3
    assert cfg.vision_config.model_type == "timesformer" and cfg.text_config.model_type == "distilbert"
    assert cfg.mask_mode == "remove" and cfg.use_global_loss and cfg.use_noun_loss and cfg.use_verb_loss
    # no decoder: the generate-related lookups return the text encoder config and never raise
    assert cfg.get_text_config() is cfg.text_config
    assert cfg.get_text_config(decoder=True) is cfg.text_config
    cfg = tiny_config(use_verb_loss=False, noun_loss_weight=0.5)
    assert cfg.vision_config.num_frames == 4
    cfg.save_pretrained(tmp_path)
    loaded = DualAlignConfig.from_pretrained(tmp_path)
    assert loaded.to_dict() == cfg.to_dict()
    assert loaded.use_verb_loss is False and loaded.noun_loss_weight == 0.5 and loaded.temperature == 0.05


@pytest.mark.parametrize(
    "field, value",
    [
        ("projection_dim", 0),
        ("temperature", 0.0),
        ("fusion_num_heads", 5),
        ("fusion_dropout", 1.5),
        ("mask_mode", "blank"),
        ("fusion_pooling", "max"),
        ("noun_loss_weight", -1.0),
        ("use_noun_loss", "yes"),
    ],
)
def test_config_validation_names_field(field, value):
    with pytest.raises(ValueError, match=field):
        tiny_config(**{field: value})


def test_config_needs_one_loss():
    with pytest.raises(ValueError, match="use_global_loss"):
        tiny_config(use_global_loss=False, use_noun_loss=False, use_verb_loss=False)


# --------------------------------------------------------------------------------------------------- model
def test_forward_shapes_and_features(batch):
    model = make_model()
    with torch.no_grad():
        out = model(**batch, output_attentions=True)
    assert out.logits_per_text.shape == (4, 4)
    torch.testing.assert_close(out.logits_per_text, out.logits_per_video.t())
    assert out.text_embeds.shape == out.video_embeds.shape == (4, 16)
    video = model.get_video_features(batch["pixel_values_videos"])
    text = model.get_text_features(batch["input_ids"], batch["attention_mask"])
    torch.testing.assert_close(video.norm(dim=-1), torch.ones(4))
    torch.testing.assert_close(text.norm(dim=-1), torch.ones(4))
    torch.testing.assert_close(video, out.video_embeds)
    torch.testing.assert_close(out.logits_per_text, model.logit_scale.exp() * text @ video.t())
    for name in ("loss", "loss_global", "loss_noun", "loss_verb"):
        assert torch.isfinite(getattr(out, name)), name
    torch.testing.assert_close(out.loss, out.loss_global + out.loss_noun + out.loss_verb)
    # cross-attention of the query tokens over the video patch tokens (frames * patches), one per fusion layer
    assert len(out.fusion_attentions) == 3
    query_len = batch["noun_query_input_ids"].shape[1]
    assert out.fusion_attentions[0].shape == (4, 2, query_len, 4 * 16)
    torch.testing.assert_close(out.fusion_attentions[2].sum(-1), torch.ones(4, 2, query_len))
    assert out.noun_video_embeds.shape == out.verb_text_embeds.shape == (4, 16)
    assert model.can_generate() is False


def test_loss_switches(batch):
    out = make_model(use_noun_loss=False)(**batch)
    assert out.loss_noun is None and out.loss_verb is not None
    torch.testing.assert_close(out.loss, out.loss_global + out.loss_verb)
    out = make_model(use_global_loss=False, use_verb_loss=False, noun_loss_weight=2.0)(**batch)
    assert out.loss_global is None and out.loss_verb is None
    torch.testing.assert_close(out.loss, 2.0 * out.loss_noun)
    out = make_model()(**batch, return_loss=False)
    assert out.loss is None and out.noun_video_embeds is None  # fine-grained branch not run at retrieval time
    # captions only (no noun/verb inputs): the fine-grained terms are skipped, the global one is computed
    out = make_model()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                       pixel_values_videos=batch["pixel_values_videos"])  # fmt: skip
    assert out.loss_noun is None and torch.isfinite(out.loss)


def test_rows_without_nouns_are_masked(processor):
    videos = random_videos(2, seed=1)
    # first caption has nouns, second none; verbs: none in the batch at all
    inputs = processor(videos=videos, text=["a ball moves", "moving quickly"], nouns=[["ball"], []], verbs=[[], []])
    assert inputs["noun_valid"].tolist() == [True, False]
    assert inputs["verb_valid"].tolist() == [False, False]
    model = make_model().train()
    out = model(**inputs)
    assert torch.isfinite(out.loss) and torch.isfinite(out.loss_noun)
    assert out.loss_verb.item() == 0.0  # no row has a verb: the term is 0, not NaN
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    # the masked row does not influence L2: changing its removed-word target leaves the loss unchanged
    inputs2 = dict(inputs)
    inputs2["noun_target_input_ids"] = inputs["noun_target_input_ids"].clone()
    inputs2["noun_target_input_ids"][1, 1] = 7
    with torch.no_grad():
        model.eval()
        torch.testing.assert_close(model(**inputs).loss_noun, model(**inputs2).loss_noun)


def test_shared_removed_words_are_not_negatives(processor):
    # rows 0 and 2 both lose "ball": with the default rule each is left out of the other's denominator
    texts, nouns = ["a ball moves", "a cube spins", "a ball spins"], [["ball"], ["cube"], ["ball"]]
    inputs = processor(
        videos=random_videos(3, seed=2), text=texts, nouns=nouns, verbs=[["moves"], ["spins"], ["spins"]]
    )
    with torch.no_grad():
        model = make_model()
        out = model(**inputs)
        as_negatives = make_model(shared_targets_as_negatives=True)(**inputs)
    scale = model.logit_scale.exp()
    logits = scale * out.noun_text_embeds @ out.noun_video_embeds.t()  # (words, fused videos)
    torch.testing.assert_close(as_negatives.loss_noun, symmetric_infonce(logits))
    shared = torch.tensor([[False, False, True], [False, False, False], [True, False, False]])
    expected = symmetric_infonce(logits.masked_fill(shared, torch.finfo(logits.dtype).min))
    torch.testing.assert_close(out.loss_noun, expected)
    assert not torch.allclose(out.loss_noun, as_negatives.loss_noun)
    # verbs: rows 1 and 2 share "spins"
    vlogits = scale * out.verb_text_embeds @ out.verb_video_embeds.t()
    vshared = torch.tensor([[False, False, False], [False, False, True], [False, True, False]])
    torch.testing.assert_close(out.loss_verb, symmetric_infonce(vlogits.masked_fill(vshared, -1e9)))


def _two_process_worker(rank: int, folder: str) -> None:
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=2)
    try:
        full = torch.load(f"{folder}/batch.pt")
        half = {k: v[2 * rank : 2 * rank + 2] for k, v in full.items()}  # this process's 2 rows of 4
        out = make_model()(**half)
        out.loss.backward()  # the gathered terms must backpropagate into the local rows
        losses = torch.stack([out.loss_global, out.loss_noun, out.loss_verb]).detach()
        torch.save(losses, f"{folder}/losses_{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_losses_gather_negatives_across_processes(tmp_path, processor):
    # 2 processes x 2 rows give the same L1 / L2 / L3 as one process with all 4 rows (shared nouns included)
    texts = ["a ball moves", "a cube spins", "a ball spins", "a man jumps"]
    nouns, verbs = [["ball"], ["cube"], ["ball"], ["man"]], [["moves"], ["spins"], ["spins"], ["jumps"]]
    full = processor(videos=random_videos(4, seed=3), text=texts, nouns=nouns, verbs=verbs)
    full = {k: v for k, v in full.items() if isinstance(v, torch.Tensor)}
    torch.save(full, tmp_path / "batch.pt")
    with torch.no_grad():
        out = make_model()(**full)
    expected = torch.stack([out.loss_global, out.loss_noun, out.loss_verb])
    torch.multiprocessing.spawn(_two_process_worker, args=(str(tmp_path),), nprocs=2, join=True)
    for rank in range(2):
        torch.testing.assert_close(torch.load(tmp_path / f"losses_{rank}.pt"), expected, rtol=1e-4, atol=1e-5)


def test_training_steps_lower_loss(batch):
    model = make_model(learnable_temperature=True).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(6):
        loss = model(**batch).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0], losses
    assert model.logit_scale.requires_grad


def test_save_and_reload(tmp_path, batch):
    model = make_model()
    model.save_pretrained(tmp_path)
    reloaded = DualAlignModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(
            reloaded(**batch).logits_per_text, model(**batch).logits_per_text, rtol=1e-5, atol=1e-5
        )


def test_wrong_frame_count_is_explained(batch):
    with pytest.raises(ValueError, match="num_frames"):
        make_model().get_video_features(batch["pixel_values_videos"][:, :3])


# --------------------------------------------------------------------------------------------------- processor
def test_remove_words():
    query, removed = remove_words("A Dog chases another dog, near the dog-house.", ["dog"])
    assert query == "A chases another, near the dog-house."  # case-insensitive, repeated, word boundaries
    assert removed == ["Dog"]
    query, removed = remove_words("a man plays a tennis ball game with a ball", ["ball", "tennis ball", "man"])
    assert query == "a plays a game with a" and removed == ["man", "tennis ball", "ball"]
    query, removed = remove_words("the cat sleeps", ["cat"], mask_token="[MASK]")
    assert query == "the [MASK] sleeps" and removed == ["cat"]
    query, removed = remove_words("the cat sleeps", ["dog"])
    assert query == "the cat sleeps" and removed == []
    assert remove_words("kids play football", ["kid"])[1] == []  # whole words only


def test_processor_builds_query_and_target(processor, tokenizer):
    out = processor(text=CAPTIONS, nouns=NOUNS, verbs=VERBS)
    assert set(out.keys()) == {
        "input_ids", "attention_mask",
        "noun_query_input_ids", "noun_query_attention_mask", "noun_target_input_ids", "noun_target_attention_mask",
        "noun_valid", "verb_query_input_ids", "verb_query_attention_mask", "verb_target_input_ids",
        "verb_target_attention_mask", "verb_valid",
    }  # fmt: skip
    queries = processor.batch_decode(out["noun_query_input_ids"], skip_special_tokens=True)
    targets = processor.batch_decode(out["noun_target_input_ids"], skip_special_tokens=True)
    assert "guitar" not in queries[3] and "man" not in queries[3].split() and "playing" in queries[3]
    assert targets[3] == "man guitar"
    assert "ball" not in queries[0] and targets[0] == "ball"
    assert out["noun_valid"].tolist() == [True, True, True, True, False]
    verb_queries = processor.batch_decode(out["verb_query_input_ids"], skip_special_tokens=True)
    assert "moves" not in verb_queries[0] and "grows" not in verb_queries[0] and "ball" in verb_queries[0]
    assert out["input_ids"][0, 0].item() == tokenizer.cls_token_id
    # mask mode keeps the sentence length with [MASK] tokens
    masked = DualAlignProcessor(processor.video_processor, tokenizer, mask_mode="mask")
    out = masked(text=CAPTIONS[3], nouns=NOUNS[3])
    tokens = tokenizer.convert_ids_to_tokens(out["noun_query_input_ids"][0])
    assert tokens.count("[MASK]") == 2 and "guitar" not in tokens


def test_processor_with_user_tagger(processor):
    def tagger(caption):
        words = caption.split()
        return [w for w in words if w in {"ball", "circle"}], [w for w in words if w.endswith("s")]

    out = processor(text=CAPTIONS[:3], tagger=tagger)
    assert out["noun_valid"].tolist() == [True, False, True]
    queries = processor.batch_decode(out["verb_query_input_ids"], skip_special_tokens=True)
    assert "moves" not in queries[0] and "grows" not in queries[0]
    with pytest.raises(ValueError, match="tagger"):
        processor(text=CAPTIONS[:1], tagger="spacy")


def test_pos_tagger_missing_spacy_message(monkeypatch):
    from videotext.pos_tagging import PosTaggerUnavailableError, get_pos_tagger, resolve_pos_tagger

    monkeypatch.setitem(sys.modules, "spacy", None)  # import spacy -> ImportError, whether or not it is installed
    with pytest.raises(PosTaggerUnavailableError) as info:
        get_pos_tagger()
    message = str(info.value)
    assert "pip install spacy" in message and "python -m spacy download en_core_web_sm" in message
    assert "nouns=" in message
    assert isinstance(info.value, ImportError)
    with pytest.raises(ValueError, match="unknown POS tagger"):
        get_pos_tagger("nltk")

    def my_tagger(caption):
        return ["ball"], ["moves"]

    assert resolve_pos_tagger(my_tagger) is my_tagger


def test_segment_centre_sampling():
    assert segment_centre_indices(16, 4).tolist() == [2, 6, 10, 14]
    assert segment_centre_indices(2, 4).tolist() == [0, 0, 1, 1]  # short clip: padded by repetition
    assert segment_centre_indices(1, 3).tolist() == [0, 0, 0]


def test_video_processor_inputs(tmp_path):
    from PIL import Image

    from videotext.processing.video_writer import write_video

    vp = DualAlignVideoProcessor(size={"height": 32, "width": 32}, num_frames=4)
    rng = np.random.default_rng(0)
    # real mp4 files of other sizes (one shorter than num_frames)
    path_a = write_video(tmp_path / "a.mp4", rng.integers(0, 256, (10, 48, 64, 3), dtype=np.uint8), fps=8)
    path_b = write_video(tmp_path / "b.mp4", rng.integers(0, 256, (2, 40, 30, 3), dtype=np.uint8), fps=8)
    out = vp([path_a, path_b], return_tensors="pt", return_metadata=True)
    assert out["pixel_values_videos"].shape == (2, 4, 3, 32, 32)
    assert out["video_metadata"][0].frames_indices.tolist() == [1, 3, 6, 8]
    assert out["video_metadata"][1].frames_indices.tolist() == [0, 0, 1, 1]
    single = vp(str(path_a), return_tensors="pt")["pixel_values_videos"]
    torch.testing.assert_close(single[0], out["pixel_values_videos"][0])
    # arrays and PIL frame lists give the same result for the same frames
    frames = rng.integers(0, 256, (4, 36, 36, 3), dtype=np.uint8)
    from_array = vp(frames, return_tensors="pt")["pixel_values_videos"]
    from_pil = vp([Image.fromarray(f) for f in frames], return_tensors="pt")["pixel_values_videos"]
    assert from_array.shape == (1, 4, 3, 32, 32)
    torch.testing.assert_close(from_array, from_pil)
    assert float(from_array.min()) >= -1.0 - 1e-6 and float(from_array.max()) <= 1.0 + 1e-6
    with pytest.raises(ValueError, match="missing.mp4"):
        vp(str(tmp_path / "missing.mp4"))


# --------------------------------------------------------------------------------------------------- backbones
def test_from_pretrained_backbones_vit(tmp_path):
    from transformers import DistilBertConfig, DistilBertModel, ViTConfig, ViTModel

    torch.manual_seed(0)
    vit = ViTModel(
        ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, image_size=32,
                  patch_size=8),
        add_pooling_layer=False,
    ).eval()  # fmt: skip
    vit.save_pretrained(tmp_path / "vit")
    bert = DistilBertModel(DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=37, vocab_size=300)).eval()
    bert.save_pretrained(tmp_path / "bert")

    model = DualAlignModel.from_pretrained_backbones(
        vision=str(tmp_path / "vit"), text=str(tmp_path / "bert"), num_frames=4, projection_dim=16,
        fusion_num_heads=2, fusion_hidden_size=32, fusion_intermediate_size=37,
    ).eval()  # fmt: skip
    tsf = model.vision_model
    assert tsf.config.num_frames == 4 and tsf.config.layer_norm_eps == vit.config.layer_norm_eps
    vit_state = vit.state_dict()
    for i in range(2):
        layer = tsf.encoder.layer[i]
        q, k, v = (vit_state[f"layers.{i}.attention.{n}_proj.weight"] for n in "qkv")
        torch.testing.assert_close(layer.attention.attention.qkv.weight, torch.cat([q, k, v]), rtol=0, atol=0)
        torch.testing.assert_close(layer.temporal_attention.attention.qkv.weight, torch.cat([q, k, v]), rtol=0, atol=0)
        torch.testing.assert_close(
            layer.attention.output.dense.weight, vit_state[f"layers.{i}.attention.o_proj.weight"]
        )
        torch.testing.assert_close(layer.intermediate.dense.weight, vit_state[f"layers.{i}.mlp.fc1.weight"])
        torch.testing.assert_close(layer.output.dense.weight, vit_state[f"layers.{i}.mlp.fc2.weight"])
        torch.testing.assert_close(layer.layernorm_before.weight, vit_state[f"layers.{i}.layernorm_before.weight"])
        torch.testing.assert_close(layer.temporal_layernorm.weight, vit_state[f"layers.{i}.layernorm_before.weight"])
        assert layer.temporal_dense.weight.abs().sum() == 0 and layer.temporal_dense.bias.abs().sum() == 0
    torch.testing.assert_close(tsf.embeddings.position_embeddings, vit.embeddings.position_embeddings)
    torch.testing.assert_close(tsf.embeddings.cls_token, vit.embeddings.cls_token)
    assert tsf.embeddings.time_embeddings.abs().sum() == 0
    for name, param in bert.state_dict().items():
        torch.testing.assert_close(model.text_model.state_dict()[name], param)

    # zero temporal projection: on a static video every frame's tokens are exactly the ViT image tokens
    image = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        vit_tokens = vit(pixel_values=image).last_hidden_state  # (1, 1 + 16, 32)
        tsf_tokens = tsf(pixel_values=image.unsqueeze(1).repeat(1, 4, 1, 1, 1)).last_hidden_state  # (1, 1 + 16*4, 32)
    torch.testing.assert_close(tsf_tokens[:, 0], vit_tokens[:, 0], rtol=1e-4, atol=1e-5)
    patches = tsf_tokens[:, 1:].reshape(1, 16, 4, 32)  # patch-major, frame-minor
    for t in range(4):
        torch.testing.assert_close(patches[:, :, t], vit_tokens[:, 1:], rtol=1e-4, atol=1e-5)


def test_from_pretrained_backbones_timesformer(tmp_path):
    from transformers import DistilBertConfig, DistilBertModel, TimesformerModel, ViTConfig

    torch.manual_seed(0)
    vit_config = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                           image_size=32, patch_size=8)  # fmt: skip
    tsf = TimesformerModel(timesformer_config_from_vit(vit_config, num_frames=4)).eval()
    tsf.save_pretrained(tmp_path / "tsf")
    DistilBertModel(DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=37, vocab_size=300)).save_pretrained(
        tmp_path / "bert"
    )
    kwargs = dict(projection_dim=16, fusion_num_heads=2, fusion_hidden_size=32, fusion_intermediate_size=37)
    model = DualAlignModel.from_pretrained_backbones(str(tmp_path / "tsf"), str(tmp_path / "bert"), **kwargs)
    for name, param in tsf.state_dict().items():
        torch.testing.assert_close(model.vision_model.state_dict()[name], param, rtol=0, atol=0)
    # a different frame count interpolates the time embeddings
    model = DualAlignModel.from_pretrained_backbones(
        str(tmp_path / "tsf"), str(tmp_path / "bert"), num_frames=2, **kwargs
    )
    assert model.vision_model.embeddings.time_embeddings.shape == (1, 2, 32)
    assert model.get_video_features(torch.randn(1, 2, 3, 32, 32)).shape == (1, 16)


# --------------------------------------------------------------------------------------------------- Trainer
def test_trainer_runs(tmp_path, processor):
    from transformers import Trainer, TrainingArguments

    videos = random_videos(4, seed=3)
    rows = [{"video": v, "caption": c, "nouns": n, "verbs": vb}
            for v, c, n, vb in zip(videos, CAPTIONS, NOUNS, VERBS)]  # fmt: skip

    def collate(examples):
        return processor(
            videos=[e["video"] for e in examples],
            text=[e["caption"] for e in examples],
            nouns=[e["nouns"] for e in examples],
            verbs=[e["verbs"] for e in examples],
        )

    args = TrainingArguments(
        output_dir=str(tmp_path), per_device_train_batch_size=2, max_steps=2, learning_rate=1e-3, use_cpu=True,
        remove_unused_columns=False, report_to=[], logging_steps=1, save_strategy="no", dataloader_num_workers=0,
    )  # fmt: skip
    trainer = Trainer(model=make_model().train(), args=args, train_dataset=rows, data_collator=collate)
    assert trainer.can_return_loss
    result = trainer.train()
    assert np.isfinite(result.training_loss)


# --------------------------------------------------------------------------------------------------- visualisation
def test_plot_word_attention(tmp_path, processor):
    from videotext.visualization import plot_word_attention

    model = make_model()
    video = random_videos(1, frames=8, seed=5)[0]
    result = plot_word_attention(
        model, processor, video, "a man is playing a guitar", "guitar", tmp_path / "attn.png", dpi=40
    )
    data = (tmp_path / "attn.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (3 * 100, 100)  # 3 panels of 2.5 in x 40 dpi
    assert result.layer == 2  # the third fusion layer, as in the paper
    assert result.attention.shape[1:] == (4, 4, 4)  # (frames, h, w)
    np.testing.assert_allclose(result.attention.sum(axis=(1, 2, 3)), 1.0, rtol=1e-4)
    np.testing.assert_allclose(result.heatmap.sum(), 1.0, rtol=1e-4)
    assert "guitar" not in result.query_text and "playing" in result.query_text
    assert result.frame_indices == [0, 2, 3]


def test_word_attention_gradcam_matches_autograd(tmp_path, processor):
    from videotext.visualization import plot_word_attention

    model = make_model()
    video = random_videos(1, frames=8, seed=6)[0]
    caption, word = "a man is playing a guitar", "playing"
    result = plot_word_attention(model, processor, video, caption, word, tmp_path / "cam.png", kind="verb", dpi=40)
    plain = plot_word_attention(
        model, processor, video, caption, word, tmp_path / "attn.png", kind="verb", method="attention", dpi=40
    )
    assert result.method == "gradcam" and plain.method == "attention"
    # reference: Grad-CAM of s(x_v, y_v) w.r.t. the third layer's cross-attention, [CLS] query row
    inputs = processor(videos=[video], text=[caption], verbs=[[word]], return_tensors="pt")
    tokens, _ = model.get_video_tokens(inputs["pixel_values_videos"])
    x, y, attentions = model.get_word_alignment(
        "verb", tokens, inputs["verb_query_input_ids"], inputs["verb_query_attention_mask"],
        inputs["verb_target_input_ids"], inputs["verb_target_attention_mask"], output_attentions=True,
    )  # fmt: skip
    score = (x * y).sum()
    grad = torch.autograd.grad(score, attentions[2])[0]
    cam = (attentions[2] * grad).clamp(min=0)[0].mean(dim=0)[0].detach()  # (Lv,) patch-major, frame-minor
    cam = cam.reshape(4, 4, 4).permute(2, 0, 1)  # (frames, h, w)
    assert float(cam.sum()) > 0
    np.testing.assert_allclose(result.heatmap, (cam / cam.sum()).numpy(), rtol=1e-4, atol=1e-7)
    assert result.score == pytest.approx(score.item(), abs=1e-5)
    assert (result.heatmap >= 0).all() and not np.allclose(result.heatmap, plain.heatmap)
    np.testing.assert_allclose(result.attention, plain.attention, rtol=1e-5)  # same forward pass
    with pytest.raises(ValueError, match="method"):
        plot_word_attention(model, processor, video, caption, word, tmp_path / "x.png", method="saliency")
    with pytest.raises(ValueError, match="kind"):
        model.get_word_alignment("adjective", tokens, *(inputs[f"verb_{k}"] for k in ("query_input_ids",
            "query_attention_mask", "target_input_ids", "target_attention_mask")))  # fmt: skip


def test_gradient_checkpointing_and_tuple_output(batch):
    model = make_model().train()
    model.gradient_checkpointing_enable()  # also hooks both towers' input embeddings (TimeSformer's returns a tuple)
    out = model(**batch, return_dict=False)
    assert isinstance(out, tuple) and torch.isfinite(out[0])
    out[0].backward()
    assert model.fusion.layers[0].cross_attention.q_proj.weight.grad is not None
