"""SVAD-VLM's data and evaluation steps: the SVAD clip-level and Youku-mPLUG builders (fixtures in
tests/fixtures/), `videotext keywords`, `videotext stats`, the LLM judge (parsing, malformed answers counted, a tiny
local causal LM as the judge) and `videotext eval --references description` with the keyword fill-in measure."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def _videos(root: Path, names: list[str], frames: int = 24) -> None:
    from videotext.processing.video_writer import write_video

    rng = np.random.default_rng(0)
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        write_video(path, rng.integers(0, 256, (frames, 16, 16, 3), dtype=np.uint8), fps=8)


# ------------------------------------------------------------------------------------------------ builders
def test_svad_builder_reads_the_documented_csv(tmp_path):
    from videotext.datasets_scripts import build_dataset, get_build_report

    data = tmp_path / "svad"
    shutil.copytree(FIXTURES / "svad", data)
    _videos(data, ["clips/ad1.mp4", "clips/ad2.mp4"])  # ad3 is missing: skipped and counted
    dd = build_dataset("svad", data)
    assert sorted(dd) == ["test", "train", "validation"] and len(dd["test"]) == 0
    first = dd["train"][0]
    assert first["captions"] == [first["description"]] and (first["start"], first["end"]) == (0.0, 1.0)
    assert first["keywords"][:3] == ["woman", "blue", "top"] and "face cream" in first["keywords"]
    assert dd["train"][1]["keywords"] == []
    val = dd["validation"][0]
    assert val["keywords"] == ["man", "coffee", "white", "yellow", "button"] and val["data_source"] == "auxiliary"
    assert val["start"] is None
    assert get_build_report(dd["train"])["skipped_counts"]["no video file"] == {"test": 1}


def test_svad_builder_errors_name_the_file_and_field(tmp_path):
    from videotext.datasets_scripts import DatasetFormatError, build_dataset

    (tmp_path / "svad_annotations.jsonl").write_text(json.dumps({"clip_id": "a", "video_path": "a.mp4"}) + "\n")
    with pytest.raises(DatasetFormatError, match=r"svad_annotations\.jsonl.*split"):
        build_dataset("svad", tmp_path)
    (tmp_path / "svad_annotations.jsonl").write_text(
        json.dumps({"clip_id": "a", "video_path": "a.mp4", "split": "train", "data_source": "extra"}) + "\n"
    )
    with pytest.raises(DatasetFormatError, match="data_source"):
        build_dataset("svad", tmp_path)


def test_synthetic_folder_is_an_svad_fixture(synthetic_dir):
    from videotext.datasets_scripts import build_dataset

    dd = build_dataset("svad", synthetic_dir)
    assert sum(len(d) for d in dd.values()) == 12
    row = dd["train"][0]
    assert row["captions"] == [row["description"]] and row["keywords"] and row["data_source"] in ("primary",
                                                                                                    "auxiliary")  # fmt: skip


def test_youku_builder_parses_official_caption_csvs(tmp_path):
    from videotext.datasets_scripts import build_dataset, get_build_report

    data = tmp_path / "youku"
    shutil.copytree(FIXTURES / "youku", data)
    _videos(data, [f"videos/caption/{n}.mp4" for n in ("a1", "a2", "b1", "b2", "c1", "c2")], frames=8)
    dd = build_dataset("youku-mplug", data)
    assert [r["video_id"] for r in dd["train"]] == ["a1", "a2"]  # missing.mp4 skipped
    assert dd["train"][0]["captions"] == ["穿白色球服的女生高高跳起，接住了球。"]
    assert dd["validation"]["captions"] == [["一只小狗在草地上奔跑", "小狗在草地上跑"]]  # b2's empty list skipped
    assert dd["test"]["video_id"] == ["c2"] and set(dd["train"]["data_source"]) == {"auxiliary"}
    report = get_build_report(dd["train"])
    assert report["skipped_counts"]["no video file"] == {"train": 1} and report["num_skipped"] == 3
    (data / "captioning_val.csv").write_text('video_id:FILE,golden_caption\nvideos/caption/b1.mp4,"[unclosed"\n')
    from videotext.datasets_scripts import DatasetFormatError

    with pytest.raises(DatasetFormatError, match=r"captioning_val\.csv.*golden_caption"):
        build_dataset("youku", data)


# ------------------------------------------------------------------------------------------------ keywords, stats
def test_heuristic_keywords_leave_out_template_and_function_words():
    from videotext.text_stats import extract_keywords, template_words

    texts = [
        "A small red circle starts on a plain gray background. It moves to the left.",
        "A large blue star starts on a plain white background. It spins in place.",
        "A small green square starts on a plain black background. It grows in size.",
    ]
    template = template_words(texts, 0.5)
    assert {"starts", "plain", "background"} <= template and "red" not in template
    assert extract_keywords(texts[0], template) == ["red", "circle", "gray", "moves", "left"]


def test_keywords_command_heuristic_and_llm(synthetic_dir, tmp_path, tiny_lm):
    from videotext.cli import main
    from videotext.datasets_scripts import load_prepared

    assert main(["keywords", synthetic_dir, "--out", str(tmp_path / "kw")]) == 0
    dd = load_prepared(tmp_path / "kw")
    for row in dd["train"]:
        assert row["keywords"] and all(k in row["description"].lower() for k in row["keywords"])
        assert not {"starts", "plain", "the", "during"} & set(row["keywords"])
    # any local causal LM: its answer is kept where it names words of the description, else the heuristic is used
    assert main(["keywords", synthetic_dir, "--out", str(tmp_path / "kw_lm"), "--model", tiny_lm]) == 0
    assert all(row["keywords"] for row in load_prepared(tmp_path / "kw_lm")["train"])


def test_stats_command_writes_tables_and_figures(synthetic_dir, tmp_path):
    from videotext.cli import main

    out = tmp_path / "stats"
    assert main(["stats", synthetic_dir, "--out", str(out)]) == 0
    stats = json.loads((out / "stats.json").read_text())
    table1, table3 = stats["table1"], stats["table3"]
    assert table1["clips"] == 12 and table1["mean_duration_s"] == pytest.approx(1.0)
    assert table1["words_per_second"] == pytest.approx(table1["words_per_annotation"] / 1.0, rel=1e-6)
    assert 0 < table3["%Noun"] < 100 and set(table3["average_unique_ngrams"]) == {"1-gram", "2-gram", "3-gram",
                                                                                   "4-gram"}  # fmt: skip
    for name in ("fig2_histograms.png", "fig4_type_annotation.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unique_ngrams_count_ngrams_of_one_annotation_only():
    from videotext.text_stats import dataset_stats

    rows = [
        {"video_path": "a", "start": 0.0, "end": 2.0, "captions": ["x"], "description": "a red ball rolls"},
        {"video_path": "b", "start": 0.0, "end": 2.0, "captions": ["y"], "description": "a red cube rolls"},
    ]
    stats = dataset_stats(rows)
    assert stats["table3"]["average_unique_ngrams"]["1-gram"] == 1.0  # "ball", "cube"
    assert stats["table3"]["average_unique_ngrams"]["2-gram"] == 2.0  # "red ball", "ball rolls" / the cube's
    assert stats["series"]["type_annotation_curve"][-1] == (2, 2)
    assert stats["table1"]["words_per_second"] == 2.0


# ------------------------------------------------------------------------------------------------ LLM judge
@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> str:
    """A tiny random GPT-2 with a trained WordPiece tokenizer, saved as a local folder (a stand-in judge / LLM)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from videotext.training.tokenizer import train_caption_tokenizers

    tok, _ = train_caption_tokenizers(["score 3 the prediction is good", "{'score': 4}"] * 10, vocab_size=60)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=1, n_head=2, n_positions=1024,
                        eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id, pad_token_id=tok.pad_token_id)  # fmt: skip
    path = tmp_path_factory.mktemp("tiny_lm")
    GPT2LMHeadModel(config).save_pretrained(path)
    tok.save_pretrained(path)
    return str(path)


@pytest.mark.parametrize(
    "answer, score",
    [("{'score': 4}", 4.0), ('{"score": 2.5}', 2.5), ("Score: 3", 3.0), ("I would give it 5/5.", 5.0), (" 1 ", 1.0),
     ("{'score': 7}", None), ("great description!", None), ("", None), (None, None)],
)  # fmt: skip
def test_parse_score(answer, score):
    from videotext.evaluation.llm_judge import parse_score

    assert parse_score(answer) == score


def test_judge_scores_count_malformed_answers():
    from videotext.evaluation.llm_judge import CRITERIA, llm_judge_scores

    answers = iter(["{'score': 4}", "{'score': 2}", "no idea", "{'score': 5}"] * 2)

    def scripted(prompt: str) -> str:
        assert "Reference description: ref" in prompt and "Predicted description:" in prompt
        return next(answers)

    scores = llm_judge_scores({"a": "pred a", "b": "pred b"}, {"a": ["ref a"], "b": "ref b"}, scripted)
    assert scores["judge"] == "scripted" and scores["num_clips"] == 2
    assert scores["correctness"] == 4.0 and scores["detail"] == 2.0 and scores["context"] == 5.0
    assert scores["temporal"] is None and scores["malformed"] == {c: (2 if c == "temporal" else 0) for c in CRITERIA}
    assert scores["mean"] == pytest.approx((4 + 2 + 5) / 3)


def test_local_lm_judge_never_crashes_on_its_answers(tiny_lm):
    from videotext.evaluation.llm_judge import LocalCausalLMJudge, llm_judge_scores

    judge = LocalCausalLMJudge(tiny_lm, max_new_tokens=4, device="cpu")
    scores = llm_judge_scores(["a red ball"], [["a red ball rolls"]], judge)
    assert scores["judge"] == tiny_lm and scores["num_clips"] == 1
    assert all(scores["malformed"][c] + (scores[c] is not None) == 1 for c in scores["malformed"])
