"""Tests for videotext.evaluation: coco-caption metrics, retrieval metrics, local `evaluate` modules."""

from __future__ import annotations

import gc
import os
import random
import statistics
import time

import numpy as np
import pytest

from videotext.evaluation import caption_metrics, java_available, metric_path, retrieval_metrics

needs_java = pytest.mark.skipif(not java_available(), reason="pycocoevalcap needs Java")

CAPTION_KEYS = ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr"]
RETRIEVAL_SUFFIXES = ["R@1", "R@5", "R@10", "R@50", "MdR", "MnR"]

VOCAB = (
    "a the man woman dog cat is are running cooking playing guitar on in stage kitchen park red car drives "
    "fast Slowly People talk about , . ! 's -"
).split()


# ----------------------------------------------------------------------------------------------------------------
# captioning
# ----------------------------------------------------------------------------------------------------------------


def _random_sentence(rng: random.Random, lo: int = 3, hi: int = 12) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(rng.randint(lo, hi)))


def _random_caption_set(seed: int) -> tuple[dict[str, str], dict[str, list[str]]]:
    rng = random.Random(seed)
    n = rng.randint(20, 50)
    ids = [f"video{rng.randint(0, 10**6)}_{i}" for i in range(n)]
    refs = {vid: [_random_sentence(rng) for _ in range(rng.randint(1, 5))] for vid in ids}
    preds = {vid: _random_sentence(rng, 1, 14) for vid in ids}
    # a prediction copied from a reference, and an empty one (allowed, scores 0)
    preds[ids[0]] = refs[ids[0]][0]
    preds[ids[1]] = ""
    return preds, refs


def _pycocoevalcap_direct(preds: dict[str, str], refs: dict[str, list[str]], meteor: bool = True) -> dict[str, float]:
    """Reference: the coco-caption protocol written out with pycocoevalcap, independently of the package."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    gts = {k: [{"caption": c} for c in v] for k, v in refs.items()}
    res = {k: [{"caption": preds[k]}] for k in refs}
    tok = PTBTokenizer()
    gts, res = tok.tokenize(gts), tok.tokenize(res)
    out = {}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    out.update({f"BLEU-{i + 1}": b for i, b in enumerate(bleu)})
    if meteor:
        scorer = Meteor()
        out["METEOR"], _ = scorer.compute_score(gts, res)
        scorer.__del__()  # stop its JVM now
        del scorer
        gc.collect()
    out["ROUGE-L"], _ = Rouge().compute_score(gts, res)
    out["CIDEr"], _ = Cider().compute_score(gts, res)
    return {k: float(v) for k, v in out.items()}


NO_METEOR = ["BLEU", "ROUGE-L", "CIDEr"]  # METEOR's JVM takes 5-20 s to start: only one test runs it


def _assert_caption_equal(ours, direct, keys):
    assert list(ours) == keys
    for key in keys:
        assert isinstance(ours[key], float)
        assert ours[key] == pytest.approx(direct[key], rel=0, abs=1e-12), key
    assert all(0.0 <= ours[k] <= 1.0 for k in keys if k != "CIDEr")


@needs_java
def test_caption_metrics_equal_pycocoevalcap_all_keys_and_closes_jvm(monkeypatch):
    import pycocoevalcap.meteor.meteor as meteor_mod

    created = []
    original = meteor_mod.Meteor

    class _Recording(original):
        def __init__(self):
            super().__init__()
            created.append(self)

    preds, refs = _random_caption_set(0)
    with monkeypatch.context() as m:
        m.setattr(meteor_mod, "Meteor", _Recording)
        ours = caption_metrics(preds, refs)
    assert len(created) == 1
    assert created[0].meteor_p.poll() is not None, "METEOR JVM still running after caption_metrics returned"
    _assert_caption_equal(ours, _pycocoevalcap_direct(preds, refs), CAPTION_KEYS)


@needs_java
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_caption_metrics_equal_pycocoevalcap(seed):
    preds, refs = _random_caption_set(seed)
    ours = caption_metrics(preds, refs, metrics=NO_METEOR)
    keys = [k for k in CAPTION_KEYS if k != "METEOR"]
    _assert_caption_equal(ours, _pycocoevalcap_direct(preds, refs, meteor=False), keys)


@needs_java
def test_caption_metrics_perfect_predictions_and_subset(monkeypatch):
    rng = random.Random(7)
    refs = {f"v{i}": [_random_sentence(rng, 6, 12)] for i in range(25)}
    preds = {k: v[0] for k, v in refs.items()}

    # the subset skips METEOR: its JVM must not even start
    import pycocoevalcap.meteor.meteor as meteor_mod

    class _NoMeteor:
        def __init__(self):
            raise AssertionError("METEOR should not run")

    with monkeypatch.context() as m:
        m.setattr(meteor_mod, "Meteor", _NoMeteor)
        subset = caption_metrics(preds, refs, metrics=["CIDEr", "BLEU"])
    assert list(subset) == ["BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "CIDEr"]
    assert subset["BLEU-4"] == pytest.approx(1.0, abs=1e-6)
    assert subset["BLEU-1"] == pytest.approx(1.0, abs=1e-6)
    assert subset["CIDEr"] > 5.0  # identical captions: CIDEr-D = 10 for distinct random sentences

    full = caption_metrics(preds, refs, metrics="ROUGE-L")
    assert full == {"ROUGE-L": pytest.approx(1.0)}


@needs_java
def test_caption_line_breaks_do_not_misalign():
    refs = {"a": ["a man is cooking"], "b": ["a dog runs in the park"], "c": ["people talk on stage"]}
    clean = {"a": "a man is cooking", "b": "a dog runs in the park", "c": "people talk on stage"}
    broken = {"a": "a man\ris cooking", "b": "a dog runs\u2028in the park", "c": "people talk on stage"}
    assert caption_metrics(broken, refs, metrics="BLEU") == caption_metrics(clean, refs, metrics="BLEU")


def test_caption_metrics_validation():
    refs = {"a": ["x y"], "b": ["z"]}
    with pytest.raises(ValueError, match="'b'"):
        caption_metrics({"a": "x"}, refs)
    with pytest.raises(ValueError, match="ids without references: 'c'"):
        caption_metrics({"a": "x", "b": "y", "c": "z"}, refs)
    with pytest.raises(ValueError, match="'b'.*empty"):
        caption_metrics({"a": "x", "b": "y"}, {"a": ["x"], "b": []})
    with pytest.raises(ValueError, match="'a'.*string"):
        caption_metrics({"a": 3, "b": "y"}, refs)
    with pytest.raises(ValueError, match="'a'.*list of strings"):
        caption_metrics({"a": "x", "b": "y"}, {"a": "x y", "b": ["z"]})
    with pytest.raises(ValueError, match="'b'.*strings only"):
        caption_metrics({"a": "x", "b": "y"}, {"a": ["x"], "b": [None]})
    with pytest.raises(ValueError, match="unknown caption metric"):
        caption_metrics({"a": "x", "b": "y"}, refs, metrics=["SPICE"])


def test_caption_metrics_without_java(monkeypatch, tmp_path):
    import pycocoevalcap.tokenizer.ptbtokenizer as ptb

    def _boom(*args, **kwargs):
        raise AssertionError("pycocoevalcap must not be called without Java")

    monkeypatch.setattr(ptb.PTBTokenizer, "tokenize", _boom)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no `java`
    assert not java_available()
    with pytest.raises(RuntimeError, match="needs Java.*java not found on PATH.*install a JRE"):
        caption_metrics({"a": "a man"}, {"a": ["a man is cooking"]})


# ----------------------------------------------------------------------------------------------------------------
# retrieval
# ----------------------------------------------------------------------------------------------------------------


def _brute_t2v_ranks(sim: list[list[float]], t2v: list[int]) -> list[int]:
    ranks = []
    for i, row in enumerate(sim):
        g = t2v[i]
        above = sum(1 for j, s in enumerate(row) if j != g and s >= row[g])
        ranks.append(1 + above)
    return ranks


def _brute_v2t_ranks_clip4clip(sim, t2v, n_videos):
    ranks = []
    for j in range(n_videos):
        best = {}
        for t, row in enumerate(sim):
            k = t2v[t]
            best[k] = row[j] if k not in best else max(best[k], row[j])
        ranks.append(1 + sum(1 for k in range(n_videos) if k != j and best[k] >= best[j]))
    return ranks


def _brute_v2t_ranks_min_text(sim, t2v, n_videos):
    ranks = []
    for j in range(n_videos):
        col = [row[j] for row in sim]
        own = [t for t in range(len(sim)) if t2v[t] == j]
        per_caption = []
        for t in own:
            above = sum(1 for u in range(len(sim)) if u != t and col[u] > col[t])
            tied_other = sum(1 for u in range(len(sim)) if t2v[u] != j and col[u] == col[t])
            per_caption.append(1 + above + tied_other)
        ranks.append(min(per_caption))
    return ranks


def _brute_summary(ranks, prefix):
    out = {f"{prefix}R@{k}": 100.0 * sum(r <= k for r in ranks) / len(ranks) for k in (1, 5, 10, 50)}
    out[f"{prefix}MdR"] = float(statistics.median(ranks))
    out[f"{prefix}MnR"] = sum(ranks) / len(ranks)
    return out


def _brute_metrics(sim, t2v, protocol="clip4clip"):
    sim_l = np.asarray(sim, dtype=np.float64).tolist()
    t2v_l = [int(v) for v in t2v]
    n_videos = len(sim_l[0])
    v2t = _brute_v2t_ranks_clip4clip if protocol == "clip4clip" else _brute_v2t_ranks_min_text
    out = _brute_summary(_brute_t2v_ranks(sim_l, t2v_l), "t2v_")
    out.update(_brute_summary(v2t(sim_l, t2v_l, n_videos), "v2t_"))
    return out


def _random_retrieval_case(seed: int, integer: bool):
    rng = np.random.default_rng(seed)
    n_videos = int(rng.integers(5, 70))
    caps = rng.integers(1, 6, size=n_videos)  # 1-5 captions per video
    t2v = np.repeat(np.arange(n_videos), caps)
    if seed % 2:  # both texts grouped by video (fast path) and shuffled
        rng.shuffle(t2v)
    if integer:
        sim = rng.integers(-3, 4, size=(t2v.size, n_videos))  # many ties
    else:
        sim = rng.normal(size=(t2v.size, n_videos)).astype(np.float32)
    return sim, t2v


def _assert_metrics_equal(ours, expected):
    assert set(expected) <= set(ours)
    for key, value in expected.items():
        assert ours[key] == pytest.approx(value, rel=0, abs=1e-9), key


@pytest.mark.parametrize("protocol", ["clip4clip", "min_text_rank"])
@pytest.mark.parametrize("integer", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_retrieval_matches_brute_force(seed, integer, protocol):
    sim, t2v = _random_retrieval_case(seed, integer)
    ours = retrieval_metrics(sim, t2v, v2t_protocol=protocol)
    assert list(ours) == [f"{d}_{s}" for d in ("t2v", "v2t") for s in RETRIEVAL_SUFFIXES]
    assert all(isinstance(v, float) for v in ours.values())
    _assert_metrics_equal(ours, _brute_metrics(sim, t2v, protocol))


def test_retrieval_accepts_torch_and_lists():
    torch = pytest.importorskip("torch")
    sim, t2v = _random_retrieval_case(11, integer=False)
    expected = retrieval_metrics(sim, t2v)
    assert retrieval_metrics(torch.from_numpy(sim), torch.from_numpy(t2v)) == expected
    assert retrieval_metrics(sim.tolist(), t2v.tolist()) == expected
    half = torch.from_numpy(sim).to(torch.bfloat16)
    assert retrieval_metrics(half, t2v) == retrieval_metrics(half.float().numpy(), t2v)


def test_retrieval_identity():
    out = retrieval_metrics(np.eye(30), np.arange(30))
    for d in ("t2v", "v2t"):
        assert out[f"{d}_R@1"] == 100.0 and out[f"{d}_MdR"] == 1.0 and out[f"{d}_MnR"] == 1.0
    # multi-caption "identity": every caption scores 1 with its own video only
    t2v = np.array([0, 0, 1, 2, 2, 2, 3])
    sim = np.zeros((7, 4))
    sim[np.arange(7), t2v] = 1.0
    out = retrieval_metrics(sim, t2v)
    assert out["t2v_R@1"] == 100.0 and out["v2t_R@1"] == 100.0 and out["v2t_MdR"] == 1.0
    # min_text_rank: own captions tied at the top do not push each other down
    assert retrieval_metrics(sim, t2v, v2t_protocol="min_text_rank")["v2t_R@1"] == 100.0


def test_retrieval_constant_similarity_is_worst_case():
    out = retrieval_metrics(np.zeros((6, 6)), np.arange(6))
    assert out["t2v_R@1"] == 0.0 and out["t2v_MdR"] == 6.0 and out["v2t_MnR"] == 6.0


def test_retrieval_hand_computed():
    # texts 0,1 -> video 0; text 2 -> video 1; text 3 -> video 2
    sim = np.array(
        [
            [0.9, 0.5, 0.1],
            [0.3, 0.4, 0.2],
            [0.2, 0.8, 0.8],  # tie with video 2: pessimistic rank 2
            [0.7, 0.1, 0.6],
        ]
    )
    t2v = [0, 0, 1, 2]
    out = retrieval_metrics(sim, t2v)
    # t2v ranks [1, 2, 2, 2]
    assert out["t2v_R@1"] == 25.0 and out["t2v_R@5"] == 100.0
    assert out["t2v_MdR"] == 2.0 and out["t2v_MnR"] == 1.75
    # v2t (best caption per video): col0 own 0.9 vs {0.2, 0.7} -> 1; col1 own 0.8 vs {0.5, 0.1} -> 1;
    # col2 own 0.6 vs {0.2, 0.8} -> 2
    assert out["v2t_R@1"] == pytest.approx(200 / 3) and out["v2t_R@5"] == 100.0
    assert out["v2t_MdR"] == 1.0 and out["v2t_MnR"] == pytest.approx(4 / 3)


def test_retrieval_v2t_protocols_differ_on_multi_caption():
    # video 0 owns three captions that all beat video 1's only caption on video 1's column
    sim = np.array([[1.0, 0.9], [1.0, 0.8], [1.0, 0.7], [0.0, 0.5]])
    t2v = [0, 0, 0, 1]
    clip4clip = retrieval_metrics(sim, t2v)
    min_text = retrieval_metrics(sim, t2v, v2t_protocol="min_text_rank")
    assert clip4clip["v2t_MnR"] == 1.5  # ranks [1, 2]: among videos
    assert min_text["v2t_MnR"] == 2.5  # ranks [1, 4]: among texts
    assert clip4clip["v2t_R@1"] == min_text["v2t_R@1"] == 50.0
    assert {k: v for k, v in clip4clip.items() if k.startswith("t2v")} == {
        k: v for k, v in min_text.items() if k.startswith("t2v")
    }


def test_retrieval_dsl():
    # video 0 is a "hub" that every text scores highest; DSL's column softmax removes it
    sim = np.zeros((3, 3))
    sim[:, 0] = 10.0
    sim[1, 1] = sim[2, 2] = 9.0
    t2v = [0, 1, 2]
    plain = retrieval_metrics(sim, t2v)
    assert not any(k.startswith("dsl_") for k in plain)
    with_dsl = retrieval_metrics(sim, t2v, dsl=True)
    assert {k: v for k, v in with_dsl.items() if not k.startswith("dsl_")} == plain
    assert set(with_dsl) == set(plain) | {f"dsl_{k}" for k in plain}
    assert plain["t2v_R@1"] == pytest.approx(100 / 3)
    assert with_dsl["dsl_t2v_R@1"] == 100.0
    assert with_dsl["dsl_t2v_R@1"] != with_dsl["t2v_R@1"]


@pytest.mark.parametrize("seed", range(3))
def test_retrieval_dsl_matches_brute_force(seed):
    torch = pytest.importorskip("torch")
    sim, t2v = _random_retrieval_case(100 + seed, integer=False)
    temperature = 0.5
    s = torch.from_numpy(sim.astype(np.float64))
    t2v_mat = (s * torch.softmax(s / temperature, dim=0) * len(s)).numpy()  # DRL/TS2-Net style, incl. len()
    v2t_mat = (s.T * torch.softmax(s.T / temperature, dim=0)).T.numpy()
    ours = retrieval_metrics(sim, t2v, dsl=True, dsl_temperature=temperature)
    expected_t2v = _brute_summary(_brute_t2v_ranks(t2v_mat.tolist(), t2v.tolist()), "dsl_t2v_")
    expected_v2t = _brute_summary(_brute_v2t_ranks_clip4clip(v2t_mat.tolist(), t2v.tolist(), sim.shape[1]), "dsl_v2t_")
    _assert_metrics_equal(ours, {**expected_t2v, **expected_v2t})


def test_retrieval_validation():
    sim = np.random.default_rng(0).normal(size=(4, 3))
    with pytest.raises(ValueError, match="text_to_video"):
        retrieval_metrics(sim, [0, 1, 2])
    with pytest.raises(ValueError, match="similarity"):
        retrieval_metrics(sim[0], [0])
    with pytest.raises(ValueError, match=r"video index\(es\) 2 "):
        retrieval_metrics(sim, [0, 1, 1, 0])
    with pytest.raises(ValueError, match=r"text_to_video\[3\] = 3"):
        retrieval_metrics(sim, [0, 1, 2, 3])
    with pytest.raises(ValueError, match="text_to_video.*integer"):
        retrieval_metrics(sim, [0.5, 1, 2, 0])
    bad = sim.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="similarity contains NaN"):
        retrieval_metrics(bad, [0, 1, 2, 0])
    with pytest.raises(ValueError, match="v2t_protocol"):
        retrieval_metrics(sim, [0, 1, 2, 0], v2t_protocol="mean")


def test_retrieval_large_is_fast():
    rng = np.random.default_rng(0)
    sim = rng.normal(size=(10_000, 1_000)).astype(np.float32)
    t2v = np.repeat(np.arange(1_000), 10)
    start = time.perf_counter()
    out = retrieval_metrics(sim, t2v, dsl=True)
    elapsed = time.perf_counter() - start
    assert elapsed < 20.0, elapsed  # ~1 s on one core
    assert 0.0 <= out["t2v_R@1"] <= 100.0 and 1.0 <= out["dsl_v2t_MnR"] <= 1000.0


# ----------------------------------------------------------------------------------------------------------------
# `evaluate` modules
# ----------------------------------------------------------------------------------------------------------------


def test_metric_path():
    for name in ("caption", "retrieval"):
        path = metric_path(name)
        assert os.path.isfile(os.path.join(path, f"videotext_{name}.py"))
    with pytest.raises(ValueError, match="unknown metric"):
        metric_path("bleu")


@pytest.fixture()
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def test_evaluate_retrieval_module_offline(offline):
    import evaluate

    metric = evaluate.load(metric_path("retrieval"))
    sim, t2v = _random_retrieval_case(5, integer=True)
    assert metric.compute(similarity=sim, text_to_video=t2v) == retrieval_metrics(sim, t2v)
    sim, t2v = _random_retrieval_case(6, integer=False)
    sim = sim.astype(np.float64)
    out = metric.compute(similarity=sim, text_to_video=t2v, dsl=True)
    assert out == retrieval_metrics(sim, t2v, dsl=True)
    assert "dsl_t2v_R@1" in out


@needs_java
def test_evaluate_caption_module_offline(offline):
    import evaluate

    metric = evaluate.load(metric_path("caption"))
    preds, refs = _random_caption_set(3)
    ids = list(preds)
    predictions, references = [preds[k] for k in ids], [refs[k] for k in ids]
    # METEOR skipped for speed (its equality is covered above); the default call returns all CAPTION_KEYS
    out = metric.compute(predictions=predictions, references=references, metrics=NO_METEOR)
    assert out == caption_metrics(preds, refs, metrics=NO_METEOR)
    assert list(out) == [k for k in CAPTION_KEYS if k != "METEOR"]
