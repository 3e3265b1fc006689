"""Decoding worker processes (`--num-workers`, `data.num_workers`): the same results, in the same order, with the same
skipped clips as decoding in the process itself."""

import json
import math

import numpy as np
import pytest
from method_testers import TESTERS

from videotext import video_index
from videotext.cli import main


def _clip(path, value: int, frames: int = 6):
    from videotext.processing import write_video

    video = np.full((frames, 32, 32, 3), value, np.uint8)
    video[:, 8:20, 4 + value % 12 : 16 + value % 12] = (255 - value, value, 90)
    return write_video(path, video, fps=8)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Seven clips with two unreadable files between them (sorted order: clip0 clip1 clip2 empty clip3 ... text)."""
    root = tmp_path_factory.mktemp("videos")
    for i in range(7):
        _clip(root / f"clip{i}.mp4", 30 * i)
    (root / "clip2b.mp4").write_bytes(b"")
    (root / "clip5b.mp4").write_text("not a video")
    (root / "notes.txt").write_text("ignored")
    return root


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {t: TESTERS[t].save_untrained(root / t) for t in ("mffcl", "dual_align")}


def test_caption_a_folder_with_workers_matches_in_process(models, folder, capsys):
    runs = {}
    for workers in ("0", "2"):
        code = main(["caption", models["mffcl"], str(folder), "--batch-size", "2", "--num-workers", workers,
                     "--max-new-tokens", "4"])  # fmt: skip
        out, err = capsys.readouterr()
        errors = [line for line in err.replace("\r", "\n").splitlines() if line.startswith("error: ")]
        runs[workers] = (code, out.splitlines(), errors)
    assert runs["0"] == runs["2"]
    code, lines, errors = runs["2"]
    assert code == 1  # some files could not be read
    assert [line.split("\t")[0].rsplit("/", 1)[-1] for line in lines] == [f"clip{i}.mp4" for i in range(7)]
    assert len(errors) == 2 and "clip2b.mp4" in errors[0] and "clip5b.mp4" in errors[1]


def test_index_with_workers_across_shards_matches_in_process(models, folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(video_index, "SHARD_SIZE", 4)  # 9 videos: 3 shards; batches of 3 never cross a shard
    for workers in ("0", "2"):
        assert main(["index", models["dual_align"], "--videos", str(folder), "--out", str(tmp_path / workers),
                     "--batch-size", "3", "--num-workers", workers]) == 0  # fmt: skip
    capsys.readouterr()
    metas = [json.loads((tmp_path / w / "index.json").read_text()) for w in ("0", "2")]
    assert metas[0]["num_videos"] == metas[1]["num_videos"] == 7 and metas[1]["num_skipped"] == 2
    assert metas[0]["skipped"] == metas[1]["skipped"]
    assert {s["video_path"].rsplit("/", 1)[-1] for s in metas[1]["skipped"]} == {"clip2b.mp4", "clip5b.mp4"}
    rows = [json.loads((tmp_path / w / "videos.json").read_text()) for w in ("0", "2")]
    assert rows[0] == rows[1] and [r["video_id"] for r in rows[1]] == [f"clip{i}" for i in range(7)]
    np.testing.assert_allclose(np.load(tmp_path / "2" / "embeddings.npy"), np.load(tmp_path / "0" / "embeddings.npy"),
                               atol=1e-6)  # fmt: skip


def test_negative_worker_count_is_refused(models, folder, capsys):
    with pytest.raises(SystemExit):
        main(["caption", models["mffcl"], str(folder), "--num-workers", "-1"])
    assert "--num-workers: must be 0 or more" in capsys.readouterr().err


@pytest.mark.parametrize("cache_frames", ["true", "false"])
def test_training_with_loader_workers_sees_the_same_batches(synthetic_dir, tmp_path, cache_frames):
    """`data.num_workers: 2` through the trainer: the same losses step by step as loading in the process (the
    clips' frames and captions are seeded per epoch and clip, not per worker)."""
    from videotext.training import train

    losses = {}
    for workers in (0, 2):
        out = tmp_path / str(workers)
        overrides = TESTERS["dual_align"].cli_overrides(f"data.path={synthetic_dir}", f"data.num_workers={workers}",
                                                        f"data.cache_frames={cache_frames}", "eval.at_end=false",
                                                        "train.max_steps=3")  # fmt: skip
        train("dual-align-synthetic-tiny", out, overrides)
        rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
        losses[workers] = [r["loss"] for r in rows if r.get("event") == "train"]
    assert len(losses[2]) == 3 and all(math.isfinite(x) for x in losses[2])
    np.testing.assert_allclose(losses[2], losses[0], rtol=1e-5)


def test_an_error_in_a_worker_is_raised_with_its_own_message(models, folder):
    from videotext.inference import default_frame_loader, iter_clip_batches, load_model_and_processor

    model, _ = load_model_and_processor(models["dual_align"], device="cpu")

    def processor(**kwargs):
        raise ValueError("processor: bad frames in clip3.mp4")

    rows = [{"video_path": str(folder / f"clip{i}.mp4")} for i in range(4)]
    batches = iter_clip_batches(model, processor, rows, [range(0, 2), range(2, 4)], load_frames=default_frame_loader(2),
                                num_workers=2)  # fmt: skip
    with pytest.raises(ValueError, match=r"^processor: bad frames in clip3\.mp4$"):
        next(batches)
