"""A corpus of bad and unusual inputs, generated here, driven through every method's processor and every command.

Each input gives one of: `ok`, a counted `skip` (reported at the end and stored in the index / dataset / run
metadata) or a one-line `error` naming the file. `EXPECTED` is the table; the tests check every cell.
"""

import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from method_testers import TESTERS

from videotext.cli import main
from videotext.modeling import METHODS

# input -> what decoding it gives
DECODABLE = ["good.mp4", "one_frame.mp4", "big_4k.mp4", "vfr.mp4", "rotated.mp4", "clip.webm", "clip.avi",
             "clip.mkv", "ünï cödé name.mp4", "image.png"]  # fmt: skip
UNDECODABLE = ["zero_byte.mp4", "truncated.mp4", "text.mp4", "audio_only.mp4"]
NOT_VIDEOS = ["folder.mp4", "notes.txt"]  # a folder named like a video; a text file without a video extension
# input kind x command -> outcome (`videotext index` indexes video files only; images and others are counted as
# ignored; `prepare` skips missing and empty files, `train` skips undecodable clips with data.on_bad_video=skip)
EXPECTED = {
    "decodable video": {"processor": "ok", "caption": "ok", "index": "ok", "prepare": "ok", "train": "ok",
                        "eval": "ok"},  # fmt: skip
    "image": {"processor": "ok", "caption": "ok", "index": "skip (ignored)", "prepare": "ok", "train": "ok",
              "eval": "ok"},  # fmt: skip
    "zero-byte": {"processor": "error", "caption": "error", "index": "skip", "prepare": "skip", "train": "-",
                  "eval": "-"},  # fmt: skip
    "undecodable": {"processor": "error", "caption": "error", "index": "skip", "prepare": "ok", "train": "skip",
                    "eval": "error"},  # fmt: skip
    "folder named .mp4": {"processor": "error", "caption": "error", "index": "skip (ignored)", "prepare": "skip",
                          "train": "-", "eval": "-"},  # fmt: skip
    "vanishes mid-run": {"processor": "error", "caption": "error", "index": "skip", "prepare": "skip",
                         "train": "skip", "eval": "error"},  # fmt: skip
}


def _ffmpeg(*args: str) -> None:
    import imageio_ffmpeg

    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", *args], check=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from PIL import Image

    from videotext.processing import write_video

    folder = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    write_video(folder / "good.mp4", rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8), fps=8)
    write_video(folder / "one_frame.mp4", rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8), fps=8)
    write_video(folder / "ünï cödé name.mp4", rng.integers(0, 256, (6, 24, 40, 3), dtype=np.uint8), fps=8)
    src = "testsrc=size=48x32:rate=8"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=3840x2160:rate=2", "-t", "1", "-c:v", "libx264", "-preset",
            "ultrafast", "-pix_fmt", "yuv420p", str(folder / "big_4k.mp4"))  # fmt: skip
    _ffmpeg("-f", "lavfi", "-i", src, "-t", "2", "-vf", "setpts='if(lt(N,8),N*0.125,1+(N-8)*0.5)/TB'",
            "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(folder / "vfr.mp4"))  # fmt: skip
    _ffmpeg("-display_rotation", "90", "-f", "lavfi", "-i", src, "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p",
            str(folder / "rotated.mp4"))  # fmt: skip
    _ffmpeg("-f", "lavfi", "-i", src, "-t", "1", "-c:v", "libvpx", str(folder / "clip.webm"))
    _ffmpeg("-f", "lavfi", "-i", src, "-t", "1", "-c:v", "mpeg4", str(folder / "clip.avi"))
    _ffmpeg("-f", "lavfi", "-i", src, "-t", "1", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(folder / "clip.mkv"))
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", str(folder / "audio_only.mp4"))
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / "image.png")
    (folder / "zero_byte.mp4").write_bytes(b"")
    good = (folder / "good.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(good[: len(good) // 3])
    (folder / "text.mp4").write_text("this is not a video")
    (folder / "folder.mp4").mkdir()
    (folder / "notes.txt").write_text("not a video either")
    return folder


def _kind(name: str) -> str:
    if name == "image.png":
        return "image"
    if name == "zero_byte.mp4":
        return "zero-byte"
    return "decodable video" if name in DECODABLE else "undecodable" if name in UNDECODABLE else "folder named .mp4"


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    task_of = {name: method.task for name, method in METHODS.items()}
    captioner = next(name for name in sorted(TESTERS) if task_of.get(name) == "captioning")
    retriever = next(name for name in sorted(TESTERS) if task_of.get(name) == "retrieval")
    return {"captioning": TESTERS[captioner].save_untrained(root / "captioner"),
            "retrieval": TESTERS[retriever].save_untrained(root / "retriever")}  # fmt: skip


def _error_lines(err: str) -> list[str]:
    assert "Traceback" not in err
    return [line for line in err.replace("\r", "\n").splitlines() if line.startswith(("videotext ", "error: "))]


@pytest.mark.parametrize("model_type", sorted(TESTERS))
def test_every_processor_decodes_good_inputs_and_names_bad_ones(model_type, corpus):
    from videotext.training.model_factory import build_model_and_processor

    _, processor = build_model_and_processor(TESTERS[model_type].recipe(), train_captions=["a red box"] * 4)
    for name in [*DECODABLE, *UNDECODABLE, "folder.mp4"]:
        path = str(corpus / name)
        expected = EXPECTED[_kind(name)]["processor"]
        if expected == "ok":
            (video,) = [v for v in processor(videos=[path], return_tensors="pt").values() if v.is_floating_point()]
            assert video.shape[0] == 1 and torch.isfinite(video).all(), name
        else:
            with pytest.raises(ValueError) as info:
                processor(videos=[path], return_tensors="pt")
            assert name in str(info.value) and len(str(info.value).splitlines()) == 1, (name, str(info.value))


def test_caption_prints_decodable_files_and_one_line_per_bad_file(models, corpus, capsys):
    names = [*DECODABLE, *UNDECODABLE, "folder.mp4", "vanished.mp4"]
    code = main(["caption", models["captioning"], *[str(corpus / n) for n in names], "--max-new-tokens", "3"])
    out, err = capsys.readouterr()
    assert code == 1
    assert [line.split("\t")[0] for line in out.strip().splitlines()] == [str(corpus / n) for n in DECODABLE]
    errors = _error_lines(err)
    assert len(errors) == len(UNDECODABLE) + 2
    for name, line in zip([*UNDECODABLE, "folder.mp4", "vanished.mp4"], errors):
        assert name in line, (name, line)


def test_index_skips_counts_and_stores_every_bad_file_then_search_works(models, corpus, tmp_path, monkeypatch,
                                                                       capsys):  # fmt: skip
    from videotext import video_index

    folder = tmp_path / "collection"
    shutil.copytree(corpus, folder)
    shutil.copy(corpus / "good.mp4", folder / "vanishing.mp4")
    real = video_index.collect_videos

    def collect_then_delete(*args, **kwargs):  # the file disappears after the collection was listed
        rows, ignored = real(*args, **kwargs)
        (folder / "vanishing.mp4").unlink()
        return rows, ignored

    monkeypatch.setattr(video_index, "collect_videos", collect_then_delete)
    out = tmp_path / "index"
    assert main(["index", models["retrieval"], "--videos", str(folder), "--out", str(out)]) == 0
    meta = json.loads((out / "index.json").read_text())
    videos = [n for n in DECODABLE if n != "image.png"]
    assert meta["num_videos"] == len(videos)
    assert sorted(s["video_path"].rsplit("/", 1)[-1] for s in meta["skipped"]) == sorted([*UNDECODABLE, "vanishing.mp4"])
    assert sorted(f.rsplit("/", 1)[-1] for f in meta["ignored_files"]) == ["folder.mp4", "image.png", "notes.txt"]
    printed = capsys.readouterr().out
    assert f"indexed {len(videos)} of {len(videos) + 5} videos" in printed
    assert main(["search", str(out), "a red box", "-k", "3"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 3


def _folder_dataset(corpus, root):
    """A `prepare folder` input naming every corpus entry, a file that does not exist, and a split each."""
    shutil.copytree(corpus, root)
    names = [*DECODABLE, *UNDECODABLE, "folder.mp4", "missing.mp4"]
    lines = ["file_name,caption,split"] + [f'"{n}",a red box moves,{"test" if i % 4 == 0 else "train"}'
                                           for i, n in enumerate(names)]  # fmt: skip
    (root / "captions.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return names


def test_prepare_counts_missing_and_empty_files_train_skips_and_eval_names_undecodable_clips(models, corpus, tmp_path,
                                                                                            capsys):  # fmt: skip
    from videotext.datasets_scripts import load_prepared
    from videotext.training import train

    names = _folder_dataset(corpus, tmp_path / "raw")
    assert main(["prepare", "folder", "--data-dir", str(tmp_path / "raw"), "--out", str(tmp_path / "ds")]) == 0
    printed = capsys.readouterr().out
    kept = {r["video_path"].rsplit("/", 1)[-1] for split in load_prepared(str(tmp_path / "ds")).values() for r in split}
    assert kept == set(names) - {"zero_byte.mp4", "folder.mp4", "missing.mp4"}
    assert "skipped 1 clips with empty video file (0 bytes)" in printed and "skipped 2 clips with no video file" in printed

    tester = TESTERS[sorted(t for t in TESTERS if METHODS[t].task == "captioning")[0]]
    overrides = [*tester.cli_overrides(), f"data.path={tmp_path / 'ds'}", "train.max_steps=1",
                 "eval.at_end=false", "data.cache_frames=true"]  # fmt: skip
    train(tester.recipe()["_name"], tmp_path / "run", overrides)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    train_names = {r["video_path"].rsplit("/", 1)[-1] for r in load_prepared(str(tmp_path / "ds"))["train"]}
    bad_in_train = sorted(train_names & set(UNDECODABLE))
    assert bad_in_train and sorted(
        next(n for n in bad_in_train if n in message) for message in metrics["skipped_videos"]
    ) == bad_in_train
    # eval scores a benchmark split or nothing: the undecodable test clip is named
    capsys.readouterr()
    assert main(["eval", models["captioning"], "--dataset", str(tmp_path / "ds"), "--max-new-tokens", "3"]) == 1
    errors = _error_lines(capsys.readouterr().err)
    assert len(errors) == 1 and "text.mp4" in errors[0]
