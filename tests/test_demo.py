"""`videotext demo` end to end, with every method's tiny recipe cut down to a few steps."""

import json

from videotext.cli import main
from videotext.training.methods import TRAINING_METHODS


def test_demo_runs_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIDEOTEXT_CACHE", str(tmp_path / "cache"))
    tiny = ["train.max_steps=3", "train.batch_size=4", "eval.limit=4", "data.num_frames=4",
            "data.cache_frames_per_clip=8", "tokenizer.vocab_size=200", "data.synthetic.size=32",
            "data.synthetic.num_frames=8"]  # fmt: skip
    args = ["demo", "--out", str(tmp_path / "demo"), "--num-videos", "24"]
    for item in tiny:
        args += ["--set", item]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "baseline: most frequent training caption" in out and "query:" in out
    summary = json.loads((tmp_path / "demo" / "demo_metrics.json").read_text())["methods"]
    assert set(summary) == {name for name, tm in TRAINING_METHODS.items() if tm.tiny_recipe}
    for name, shown in summary.items():
        assert (tmp_path / "demo" / name / "config.json").is_file()
        if shown["task"] == "captioning":
            assert "CIDEr" in shown["metrics"] and "synthetic_facts" in shown["metrics"]
        else:
            assert "t2v_R@1" in shown["metrics"]
            top1, searched = shown["search_other_sizes_top1"]
            assert searched == len(list((tmp_path / "demo" / "other_sizes").glob("*.mp4"))) > 0
            assert 0 <= top1 <= searched
            assert (tmp_path / "demo" / f"index_{name}" / "embeddings.npy").is_file()
