"""Property tests (hypothesis): processors, caption cleaning and tokenization, CSV / JSONL readers, retrieval
metrics. Each property holds for every input hypothesis draws, not only for the examples written elsewhere."""

import csv
import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from method_testers import TESTERS

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
WORDS = ["a", "red", "blue", "circle", "square", "moves", "left", "grows", "then", "stops", "small", "big"]


@pytest.fixture(scope="module", params=sorted(TESTERS))
def processor(request):
    from videotext.training.model_factory import build_model_and_processor

    torch.manual_seed(0)
    captions = [" ".join(WORDS[i:] + WORDS[:i]) for i in range(len(WORDS))]
    return build_model_and_processor(TESTERS[request.param].recipe(), train_captions=captions)[1]


videos = st.integers(1, 6).flatmap(
    lambda t: st.tuples(st.integers(8, 40), st.integers(8, 40)).flatmap(
        lambda hw: arrays(np.uint8, (t, hw[0], hw[1], 3), elements=st.integers(0, 255))
    )
)


def _video_input(processor, video) -> torch.Tensor:
    """The method's one float video input (`pixel_values_videos`, or TransDCS's `expert_features`)."""
    (tensor,) = [v for v in processor(videos=[video], return_tensors="pt").values() if v.is_floating_point()]
    return tensor


@SETTINGS
@given(video=videos)
def test_processor_takes_any_uint8_clip_and_equal_float_values(processor, video):
    pixels = _video_input(processor, video)
    reference = _video_input(processor, np.zeros((4, 16, 16, 3), np.uint8))
    assert pixels.shape == reference.shape and torch.isfinite(pixels).all()
    assume(video.max() > 1)  # floats all within 0..1 are refused as already rescaled (tested below)
    # the same values as floats give the same input, up to the resize's uint8 rounding and clamping of bicubic
    # overshoot (a scale mix-up, e.g. floats read as 0..1, would move every value by whole units)
    difference = (_video_input(processor, video.astype(np.float32)) - pixels).abs()
    assert difference.mean() < 0.02 and difference.max() < 1.0


@SETTINGS
@given(video=arrays(np.float32, (2, 12, 12, 3), elements=st.floats(0, 1, width=32)))
def test_processor_refuses_frames_already_rescaled_to_0_1(processor, video):
    assume(video.max() > 0)
    with pytest.raises(ValueError, match="0..1"):
        processor(videos=[video], return_tensors="pt")


@SETTINGS
@given(words=st.lists(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8), min_size=1, max_size=5))
def test_captions_tokenize_and_decode_back(processor, words):
    texts = [" ".join(w) for w in words]
    encoded = processor(text=texts, return_tensors="pt")
    assert encoded["input_ids"].shape[0] == len(texts)
    rows = [ids[mask.bool()].tolist() for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"])]
    assert processor.batch_decode(rows, skip_special_tokens=True) == texts


@SETTINGS
@given(captions=st.lists(st.one_of(st.none(), st.text(max_size=20)), max_size=8))
def test_clean_captions_keeps_order_drops_and_counts_only_blank_ones(captions):
    from videotext.datasets_scripts.common import BuildReport, clean_captions

    report = BuildReport("property", None, False)
    cleaned = clean_captions(captions, "clip", "train", report, file="f.csv")
    assert cleaned == [c.strip() for c in captions if c is not None and c.strip()]
    assert all(c == c.strip() and c for c in cleaned)
    skipped = sum(report.to_dict().get("skipped_counts", {}).get('an empty "caption"', {}).values())
    assert skipped == len(captions) - len(cleaned)


cells = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=12)


@SETTINGS
@given(rows=st.lists(st.tuples(cells, cells), min_size=1, max_size=6))
def test_csv_reader_returns_exactly_the_rows_written(tmp_path, rows):
    from videotext.datasets_scripts.common import read_csv

    path = tmp_path / "captions.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, quoting=csv.QUOTE_ALL)  # quoting: cells may hold commas, quotes and newlines
        writer.writerow(["video", "caption"])
        writer.writerows(rows)
    assert [(r["video"], r["caption"]) for r in read_csv(path, ["video", "caption"])] == rows


@SETTINGS
@given(objects=st.lists(st.dictionaries(st.text(max_size=6), st.one_of(st.text(max_size=10), st.integers(),
                                                                        st.lists(st.text(max_size=5), max_size=3))),
                        max_size=6))  # fmt: skip
def test_jsonl_reader_round_trips(tmp_path, objects):
    from videotext.datasets_scripts.common import read_jsonl

    path = tmp_path / "captions.jsonl"
    path.write_text("\n".join(json.dumps(o, ensure_ascii=False) for o in objects) + "\n", encoding="utf-8")
    assert read_jsonl(path) == objects


@st.composite
def retrieval_cases(draw):
    num_videos = draw(st.integers(1, 12))
    per_video = draw(st.lists(st.integers(1, 3), min_size=num_videos, max_size=num_videos))
    text_to_video = np.repeat(np.arange(num_videos), per_video)
    sim = draw(arrays(np.float64, (len(text_to_video), num_videos), elements=st.floats(-1, 1, width=32)))
    return sim, text_to_video


@SETTINGS
@given(case=retrieval_cases(), seed=st.integers(0, 2**16))
def test_retrieval_metrics_are_bounded_monotone_and_permutation_invariant(case, seed):
    from videotext.evaluation import retrieval_metrics

    sim, t2v = case
    metrics = retrieval_metrics(sim, t2v)
    for side in ("t2v", "v2t"):
        recalls = [metrics[f"{side}_R@{k}"] for k in (1, 5, 10, 50)]
        assert all(0 <= r <= 100 for r in recalls) and recalls == sorted(recalls)
        assert 1 <= metrics[f"{side}_MdR"] <= sim.shape[1 if side == "t2v" else 0]
    rng = np.random.default_rng(seed)
    videos, texts = rng.permutation(sim.shape[1]), rng.permutation(sim.shape[0])
    inverse = np.argsort(videos)
    permuted = retrieval_metrics(sim[texts][:, videos], inverse[t2v[texts]])
    assert permuted == pytest.approx(metrics)


@SETTINGS
@given(num_videos=st.integers(1, 20))
def test_a_perfect_similarity_ranks_every_match_first(num_videos):
    from videotext.evaluation import retrieval_metrics

    metrics = retrieval_metrics(np.eye(num_videos), np.arange(num_videos))
    assert metrics["t2v_R@1"] == metrics["v2t_R@1"] == 100.0 and metrics["t2v_MdR"] == metrics["v2t_MdR"] == 1.0
