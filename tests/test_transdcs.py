"""TransDCS specifics: masking inside the span-based dynamic convolution, every shortcut form / placement / count,
the similarity renormalised over available modalities, the max-margin loss, the weight-free experts, expert files.
The shared suite (tests/test_methods.py) covers forward/backward, save/load, Hub export, Trainer, train + eval."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from videotext.modeling.transdcs import TransDcsConfig, TransDcsModel, TransDcsVideoProcessor
from videotext.modeling.transdcs.expert_extraction_transdcs import log_mel_features, motion_features
from videotext.modeling.transdcs.modeling_transdcs import window_mask

TEXT = {"model_type": "bert", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
        "intermediate_size": 64, "vocab_size": 50, "max_position_embeddings": 32}  # fmt: skip
DIMS = [6, 5, 4]


def tiny(**kwargs) -> TransDcsModel:
    torch.manual_seed(0)
    settings = dict(text_config=TEXT, experts=["rgb", "s3d", "audio"], expert_dims=DIMS, hidden_size=32,
                    num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, projection_dim=8,
                    conv_kernel_size=3)  # fmt: skip
    config = TransDcsConfig(**{**settings, **kwargs})
    return TransDcsModel(config).eval()


def batch(seed: int = 0, steps: int = 6):
    gen = torch.Generator().manual_seed(seed)
    features = torch.randn(3, len(DIMS), steps, max(DIMS), generator=gen)
    mask = torch.ones(3, len(DIMS), steps, dtype=torch.long)
    mask[0, 0, 4:] = 0  # padding at the end of video 0's first expert
    mask[1, 1, 2:] = 0
    mask[2, 2] = 0  # video 2 has no audio expert
    ids = torch.randint(1, 50, (3, 7), generator=gen)
    return features, mask, ids, torch.ones_like(ids)


# ---------------------------------------------------------------------------------------- masking invariance
@pytest.mark.parametrize("within", [True, False])
@pytest.mark.parametrize("form", ["identity", "sdc"])
def test_masked_positions_change_no_output(within, form):
    model = tiny(conv_within_modality=within, shortcut_form=form)
    features, mask, _, _ = batch()
    noisy = features.clone()
    noisy[mask == 0] = torch.randn(int((mask == 0).sum()), max(DIMS)) * 100.0  # any value at a masked position
    with torch.no_grad():
        before, available, hidden, token_mask = model.get_video_outputs(features, mask)
        after, _, hidden_after, _ = model.get_video_outputs(noisy, mask)
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)
    valid = token_mask.bool()
    torch.testing.assert_close(hidden_after[valid], hidden[valid], rtol=0, atol=1e-5)  # every valid token too
    assert available[2, 2] == 0 and available[:2].all()
    # a valid position does matter (the invariance is not a dead model)
    changed = features.clone()
    changed[0, 0, 1] += 5.0
    with torch.no_grad():
        assert not torch.allclose(model.get_video_outputs(changed, mask)[0], before, atol=1e-4)


def test_conv_windows_exclude_padding_and_other_modalities():
    mask = torch.tensor([[1, 1, 0, 1, 1, 1]])
    segments = torch.tensor([0, 0, 0, 1, 1, 1])
    windows = window_mask(mask, segments, 3)  # (1, 6, 3): slots left / centre / right
    assert windows[0, 1].tolist() == [True, True, False]  # its right neighbour is padding
    assert windows[0, 3].tolist() == [False, True, True]  # its left neighbour is another modality (and padding)
    assert windows[0, 2].tolist() == [False, False, False]  # a padded token has no window at all
    assert window_mask(mask, None, 3)[0, 3].tolist() == [False, True, True]


def test_missing_modality_never_enters_the_similarity():
    model = tiny()
    features, mask, ids, attention = batch()
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=attention, expert_features=features, expert_mask=mask)
        text, weights = model.get_text_outputs(ids, attention)
        video, available, _, _ = model.get_video_outputs(features, mask)
    cos = torch.einsum("tmp,vmp->tvm", text, video)
    expected = torch.zeros(3, 3)
    for t, v in itertools.product(range(3), range(3)):
        present = available[v].bool()
        w = weights[t][present] / weights[t][present].sum()  # renormalised over the modalities video v has
        expected[t, v] = (w * cos[t, v][present]).sum()
    torch.testing.assert_close(out.logits_per_text, expected, rtol=1e-5, atol=1e-6)
    # the flat features score the same, even L2-normalised (what an index stores)
    flat_t, flat_v = out.text_embeds, out.video_embeds
    unit = model.score_embeddings(torch.nn.functional.normalize(flat_t, dim=-1),
                                  torch.nn.functional.normalize(flat_v, dim=-1))  # fmt: skip
    torch.testing.assert_close(unit, expected, rtol=1e-5, atol=1e-6)
    assert flat_v[2].reshape(len(DIMS), -1)[2].abs().sum() == 0  # the missing block is zero, and weighs nothing


def test_ignored_expert_is_treated_as_missing():
    model = tiny(ignored_experts=["s3d"])
    features, mask, _, _ = batch()
    noisy = features.clone()
    noisy[:, 1] = torch.randn_like(noisy[:, 1]) * 10
    with torch.no_grad():
        a, available, _, _ = model.get_video_outputs(features, mask)
        b, _, _, _ = model.get_video_outputs(noisy, mask)
    assert (available[:, 1] == 0).all()
    torch.testing.assert_close(a[:, [0, 2]], b[:, [0, 2]], rtol=0, atol=1e-6)


# ------------------------------------------------------------------------------------------ shortcut variants
@pytest.mark.parametrize(
    "form,placement,count",
    [(f, p, n) for f in ("identity", "linear", "activation", "sdc") for p in ("pre", "post") for n in (1, 2)]
    + [("identity", "post", 0)],
)
def test_every_shortcut_variant_builds_and_trains(form, placement, count):
    model = tiny(shortcut_form=form, shortcut_placement=placement, num_augmented_shortcuts=count).train()
    assert all(len(layer.attention.shortcuts) == count == len(layer.ffn.shortcuts) for layer in model.layers)
    features, mask, ids, attention = batch()
    loss = model(input_ids=ids, attention_mask=attention, expert_features=features, expert_mask=mask,
                 return_loss=True).loss  # fmt: skip
    loss.backward()
    assert torch.isfinite(loss)
    if form in ("linear", "sdc") and count:
        grad = next(p.grad for n, p in model.named_parameters() if ".shortcuts.0." in n)
        assert grad is not None and grad.abs().sum() > 0


@pytest.mark.parametrize("kwargs", [{"use_mcsa": False}, {"use_residual": False}, {"conv_head_ratio": 4},
                                    {"output_activation": "tanh"}])  # fmt: skip
def test_table_5_to_7_variants(kwargs):
    model = tiny(**kwargs)
    features, mask, ids, attention = batch()
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=attention, expert_features=features, expert_mask=mask)
    assert out.logits_per_text.shape == (3, 3) and torch.isfinite(out.logits_per_text).all()
    attention_block = model.layers[0].attention.body
    if kwargs.get("use_mcsa") is False:
        assert attention_block.conv is None and attention_block.sa_heads == 4
    elif "conv_head_ratio" in kwargs:
        assert (attention_block.sa_heads, attention_block.conv_heads) == (1, 3)
    else:
        assert (attention_block.sa_heads, attention_block.conv_heads) == (2, 2)


def test_augmented_identity_shortcut_is_added_after_the_norm():
    """`post` with the identity form: sublayer(Z) = LN(Z + body(Z)) + N * Z (Eq. 6 with F = identity)."""
    model = tiny(num_augmented_shortcuts=2)
    sub = model.layers[0].ffn
    z = torch.randn(2, 5, 32)
    ones = torch.ones(2, 5, dtype=torch.bool)
    windows = window_mask(ones, None, 3)
    with torch.no_grad():
        expected = sub.norm(z + sub.body(z, ones, windows)) + 2 * z
        torch.testing.assert_close(sub(z, ones, windows), expected)


# ------------------------------------------------------------------------------------------------------ loss
def test_max_margin_loss_values():
    model = tiny(margin=0.1)
    sim = torch.tensor([[0.9, 0.2], [0.85, 0.3]])
    # t2v: text0 (0.2 - 0.9 + 0.1 < 0) 0, text1 (0.85 - 0.3 + 0.1) 0.65; v2t: video0 (0.85 - 0.9 + 0.1) 0.05,
    # video1 (0.2 - 0.3 + 0.1) 0 -> mean of 4 terms
    assert model.max_margin_loss(sim).item() == pytest.approx((0.65 + 0.05) / 4)


def test_loss_falls():
    model = tiny().train()
    features, mask, ids, attention = batch()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(12):
        loss = model(input_ids=ids, attention_mask=attention, expert_features=features, expert_mask=mask,
                     return_loss=True).loss  # fmt: skip
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses


# --------------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize("field,value", [("shortcut_form", "circulant"), ("shortcut_placement", "realformer"),
                                         ("num_augmented_shortcuts", -1), ("margin", float("nan")),
                                         ("conv_kernel_size", 4), ("conv_head_ratio", 3), ("expert_dims", [6, 5]),
                                         ("ignored_experts", ["face"]), ("hidden_dropout_prob", 1.0)])  # fmt: skip
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        tiny(**{field: value})


def test_paper_defaults():
    config = TransDcsConfig()
    assert (config.num_hidden_layers, config.num_attention_heads, config.hidden_dropout_prob) == (6, 8, 0.2)
    assert (config.output_activation, config.use_mcsa, config.shortcut_form) == ("mish", True, "identity")
    assert (config.num_augmented_shortcuts, config.shortcut_placement, config.margin) == (1, "post", 0.05)


# ---------------------------------------------------------------------------------------------------- experts
def _moving_square(direction: int) -> np.ndarray:
    frames = np.zeros((8, 32, 32, 3), np.uint8)
    for t in range(8):
        x = 12 + direction * 2 * t
        frames[t, 12:20, x : x + 6] = 255
    return frames


def test_motion_expert_tells_left_from_right():
    left, right = motion_features(_moving_square(-1)), motion_features(_moving_square(1))
    assert (left[:, 1] < 0).all() and (right[:, 1] > 0).all()  # the centroid's x change (column 1)


def test_log_mel_peaks_at_the_tone():
    rate = 16000
    t = np.arange(rate * 2) / rate
    low, high = log_mel_features(np.sin(2 * np.pi * 300 * t), rate), log_mel_features(np.sin(2 * np.pi * 3000 * t), rate)
    assert low.shape == (2, 64)
    assert int(low[0].argmax()) < int(high[0].argmax())
    assert log_mel_features(np.zeros(0), rate) is None


def test_pack_masks_missing_and_checks_dims():
    vp = TransDcsVideoProcessor(experts=[{"name": "rgb", "kind": "precomputed", "dim": 3},
                                         {"name": "s3d", "kind": "precomputed", "dim": 2}], max_expert_tokens=4)  # fmt: skip
    out = vp(expert_features=[{"rgb": np.ones((10, 3))}, {"rgb": np.full((1, 3), np.nan), "s3d": np.ones((2, 2))}])
    assert out["expert_features"].shape == (2, 2, 4, 3)
    assert out["expert_mask"].tolist() == [[[1, 1, 1, 1], [0, 0, 0, 0]], [[0, 0, 0, 0], [1, 1, 0, 0]]]
    with pytest.raises(ValueError, match="s3d"):
        vp(expert_features=[{"s3d": np.ones((2, 5))}])


def test_processor_extracts_the_same_features_after_a_round_trip(tmp_path, synthetic_dir):
    from pathlib import Path

    video = str(sorted(Path(synthetic_dir).rglob("*.mp4"))[0])
    vp = TransDcsVideoProcessor(num_frames=6)
    vp.save_pretrained(tmp_path)
    (saved,) = tmp_path.glob("*.json")
    assert json.loads(saved.read_text())["experts"] == vp.experts
    again = TransDcsVideoProcessor.from_pretrained(tmp_path)
    a, b = vp(videos=[video]), again(videos=[video])
    torch.testing.assert_close(a["expert_features"], b["expert_features"])
    names = vp.expert_names
    assert a["expert_mask"][0, names.index("audio")].sum() == 0  # the synthetic mp4s have no audio track
    assert a["expert_mask"][0, names.index("appearance")].sum() == 6


def test_extract_experts_resumes_and_reports_bad_videos(tmp_path, synthetic_dir):
    from pathlib import Path

    from videotext.experts import extract_experts, read_expert_file

    videos = sorted(Path(synthetic_dir).rglob("*.mp4"))[:2]
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    rows = [{"video_id": p.stem, "video_path": str(p)} for p in videos] + [{"video_id": "bad", "video_path": str(bad)}]
    first = extract_experts(rows, tmp_path / "out", num_frames=4, progress=False)
    assert (first["num_computed"], first["num_failed"]) == (2, 1)
    assert first["failed"][0]["video_path"] == str(bad)
    again = extract_experts(rows, tmp_path / "out", num_frames=4, progress=False)
    assert again["num_computed"] == 0 and again["num_failed"] == 1
    # resuming with other settings would mix two kinds of features in one folder: refused, naming the setting
    with pytest.raises(ValueError, match="other num_frames"):
        extract_experts(rows, tmp_path / "out", num_frames=8, progress=False)
    features = read_expert_file(tmp_path / "out" / first["clips"][0]["file"])
    assert features["appearance"].shape[0] == 4 and "audio" not in features


def test_eval_seeds_and_index_search_on_raw_videos(tmp_path, synthetic_dir, capsys):
    """A saved model evaluates, indexes and searches raw mp4s (its processor extracts the experts); `--seeds` reports
    every run and their mean."""
    from pathlib import Path

    from videotext.cli import main
    from videotext.datasets_scripts import load_prepared
    from videotext.modeling.transdcs import TransDcsProcessor
    from videotext.training.tokenizer import train_caption_tokenizers

    captions = [c for caps in load_prepared(synthetic_dir)["train"]["captions"] for c in caps]
    _, tokenizer = train_caption_tokenizers(captions, vocab_size=120)
    torch.manual_seed(0)
    config = TransDcsConfig(text_config={**TEXT, "vocab_size": len(tokenizer)}, hidden_size=32, num_hidden_layers=1,
                            num_attention_heads=4, intermediate_size=64, projection_dim=8, conv_kernel_size=3,
                            num_frames=4)  # fmt: skip
    folder = tmp_path / "model"
    TransDcsModel(config).save_pretrained(folder)
    TransDcsProcessor(video_processor=TransDcsVideoProcessor(num_frames=4), tokenizer=tokenizer).save_pretrained(folder)

    assert main(["eval", str(folder), "--dataset", synthetic_dir, "--out", str(tmp_path / "one.json")]) == 0
    assert main(["eval", str(folder), "--dataset", synthetic_dir, "--out", str(tmp_path / "mean.json"),
                 "--seeds", str(folder)]) == 0  # fmt: skip
    one, mean = json.loads((tmp_path / "one.json").read_text()), json.loads((tmp_path / "mean.json").read_text())
    assert [run["model"] for run in mean["runs"]] == [str(folder)] * 2
    assert mean["metrics"]["t2v_R@1"] == pytest.approx(one["metrics"]["t2v_R@1"])

    videos = tmp_path / "mp4s"
    videos.mkdir()
    for path in sorted(Path(synthetic_dir).rglob("*.mp4"))[:3]:
        (videos / path.name).symlink_to(path)
    assert main(["index", str(folder), "--videos", str(videos), "--out", str(tmp_path / "index")]) == 0
    capsys.readouterr()
    assert main(["search", str(tmp_path / "index"), "a", "red", "circle", "-k", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and all(line.split()[-1].endswith(".mp4") for line in lines)


def test_mean_metrics_over_seeds():
    from videotext.inference import mean_metrics

    assert mean_metrics([{"t2v_R@1": 10.0, "x": {"a": 1}}, {"t2v_R@1": 20.0, "x": {"a": 3}}]) == {
        "t2v_R@1": 15.0, "x": {"a": 2.0}}  # fmt: skip
