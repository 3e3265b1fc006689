"""The user-facing inference commands: caption, eval, index, search (on tiny trained Hub folders)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from videotext.cli import main
from videotext.evaluation import flat_metrics

TINY = [
    "train.batch_size=4",
    "train.cpu_processes=1",
    "eval.limit=4",
    "eval.batch_size=4",
    "eval.generate.max_new_tokens=6",
    "data.cache_frames_per_clip=8",
    "data.num_frames=4",
    "tokenizer.vocab_size=200",
    "train.checkpoint_every=1000",
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from videotext.datasets_scripts.synthetic import generate_synthetic
    from videotext.training import train

    root = tmp_path_factory.mktemp("inference")
    data = root / "synth"
    generate_synthetic(data, num_videos=24, seed=3, size=32, num_frames=8, fps=8, workers=1, progress=False)
    small = [*TINY, f"data.path={data}", "data.max_train_clips=8"]
    train("mffcl-synthetic-tiny", root / "mffcl", [*small, "train.stages.0.max_steps=1", "train.stages.1.max_steps=2"])
    train("dual-align-synthetic-tiny", root / "dual", [*small, "train.max_steps=2"])
    return root


def _write(path: Path, height: int, width: int, frames: int) -> str:
    from videotext.processing import write_video

    video = np.zeros((frames, height, width, 3), np.uint8)
    video[:, height // 4 : height // 2, width // 4 : width // 2] = (255, 40, 40)
    return write_video(path, video, fps=8)


def test_caption_prints_one_line_per_video_and_names_bad_files(workdir, tmp_path, capsys):
    videos = [_write(tmp_path / "a.mp4", 72, 96, 20), _write(tmp_path / "b.mp4", 40, 56, 5)]
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    code = main(["caption", str(workdir / "mffcl"), *videos, str(broken), "--max-new-tokens", "5"])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert code == 1  # one file failed
    assert [line.split("\t")[0] for line in lines] == videos
    assert all(len(line.split("\t")) == 2 for line in lines)
    assert str(broken) in err


def test_caption_nucleus_sampling_is_seeded(workdir, tmp_path, capsys):
    video = _write(tmp_path / "c.mp4", 48, 64, 12)
    args = ["caption", str(workdir / "mffcl"), video, "--top-p", "0.9", "--seed", "7", "--max-new-tokens", "6"]
    main(args)
    first = capsys.readouterr().out
    main(args)
    assert capsys.readouterr().out == first


def test_eval_captioner_writes_the_metrics_json(workdir, tmp_path):
    from videotext.datasets_scripts import load_prepared
    from videotext.inference import evaluate_captioner, load_model_and_processor

    out = tmp_path / "eval.json"
    main(["eval", str(workdir / "mffcl"), "--dataset", str(workdir / "synth"), "--out", str(out),
          "--max-new-tokens", "6"])  # fmt: skip
    report = json.loads(out.read_text())
    assert set(report["metrics"]) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr",
                                      "synthetic_facts"}  # fmt: skip
    facts = report["metrics"]["synthetic_facts"]  # a synthetic split: what the captions get right, by fact
    assert facts["num_clips"] == report["num_clips"]
    assert all(0.0 <= facts[k] <= 1.0 for k in ("shape", "colour", "size", "first_event", "second_event",
                                                "events_in_order"))  # fmt: skip
    test = load_prepared(str(workdir / "synth"))["test"]
    assert report["num_clips"] == len(test)
    model, processor = load_model_and_processor(str(workdir / "mffcl"), device="cpu")
    direct = evaluate_captioner(model, processor, test, max_new_tokens=6)
    assert flat_metrics(direct) == pytest.approx(flat_metrics(report["metrics"]))


def test_eval_retriever_both_protocols(workdir, tmp_path):
    for protocol in ("first-caption", "all-captions"):
        out = tmp_path / f"{protocol}.json"
        main(["eval", str(workdir / "dual"), "--dataset", str(workdir / "synth"), "--out", str(out),
              "--protocol", protocol, "--dsl"])  # fmt: skip
        metrics = json.loads(out.read_text())["metrics"]
        assert {"t2v_R@1", "t2v_MdR", "v2t_R@10", "dsl_t2v_R@1"} <= set(metrics)
        assert 0 <= metrics["t2v_R@1"] <= 100


def test_index_and_search_rank_by_cosine(workdir, tmp_path, capsys):
    from videotext.datasets_scripts import load_prepared
    from videotext.inference import embed_texts, embed_video_rows, load_model_and_processor, search_index

    index = tmp_path / "index"
    assert main(["index", str(workdir / "dual"), "--videos", str(workdir / "synth"), "--out", str(index),
                 "--batch-size", "2"]) == 0  # fmt: skip
    meta = json.loads((index / "index.json").read_text())
    test = load_prepared(str(workdir / "synth"))["test"]
    assert meta["num_videos"] == len(test) and meta["model_type"] == "dual_align"
    embeddings = np.load(index / "embeddings.npy")
    assert embeddings.shape == (len(test), meta["embedding_dim"])

    model, processor = load_model_and_processor(str(workdir / "dual"), device="cpu")
    rows = [test[i] for i in range(len(test))]
    np.testing.assert_allclose(embeddings, embed_video_rows(model, processor, rows), atol=1e-5)
    query = test[0]["captions"][0]
    expected = np.argsort(-(embeddings @ embed_texts(model, processor, [query])[0]), kind="stable")[:3]
    hits = search_index(str(index), query, k=3, model=model, processor=processor)
    assert [h["video_id"] for h, _ in hits] == [test[int(i)]["video_id"] for i in expected]

    capsys.readouterr()
    main(["search", str(index), query, "-k", "2"])
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 2 and printed[0].split()[-1] == hits[0][0]["video_path"]


def test_index_of_a_video_folder_resumes(workdir, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    for i, (h, w, n) in enumerate([(72, 96, 20), (40, 56, 5), (64, 64, 9)]):
        _write(folder / f"v{i}.mp4", h, w, n)
    index = tmp_path / "index"
    args = ["index", str(workdir / "dual"), "--videos", str(folder), "--out", str(index), "--batch-size", "1"]
    main(args)  # one shard here
    shard = index / "shards" / "00000.npz"
    first = np.load(index / "embeddings.npy")
    stamp = shard.stat().st_mtime_ns
    os.remove(index / "embeddings.npy")
    main(args)  # the existing shard is reused, not recomputed
    assert shard.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(np.load(index / "embeddings.npy"), first)
    assert json.loads((index / "index.json").read_text())["num_videos"] == 3


def test_index_refuses_a_captioner(workdir, tmp_path):
    with pytest.raises(SystemExit, match="captioner"):
        main(["index", str(workdir / "mffcl"), "--videos", str(workdir / "synth"), "--out", str(tmp_path / "i")])
