"""TransDCS data: LSMDC and ActivityNet Captions builders on fixtures in the official formats, MMT's HDF5 expert
files (and `expert_features_path` through `--expert-features-dir`), the CE pickle opt-in, the input loader."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from videotext.datasets_scripts import DatasetFormatError, build_dataset
from videotext.experts import load_expert_input, read_ce_pickle, read_expert_file, read_mmt_h5


def _touch_videos(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"\0")


def test_lsmdc_groups_sentences_per_clip_and_finds_movie_folders(tmp_path):
    clips = ["1006_Slumdog_Millionaire_01.25.49.077-01.25.54.718", "3001_21_JUMP_STREET_00.00.34.001-00.00.37.126"]
    line = "{}\t00.00.01.000\t00.00.03.000\t00.00.01.000\t00.00.03.000\t{}\n"
    (tmp_path / "LSMDC16_annos_training.csv").write_text(
        line.format(clips[0], "SOMEONE walks in.") + line.format(clips[0], "He sits.") + line.format(clips[1], "")
    )
    (tmp_path / "LSMDC16_challenge_1000_publictect.csv").write_text(line.format(clips[1], "A car drives by."))
    _touch_videos(tmp_path / "videos" / "1006_Slumdog_Millionaire", [f"{clips[0]}.avi"])
    _touch_videos(tmp_path / "videos" / "3001_21_JUMP_STREET", [f"{clips[1]}.avi"])
    dd = build_dataset("lsmdc", tmp_path)
    assert dd["train"]["captions"] == [["SOMEONE walks in.", "He sits."]]  # clip 1's empty sentence: skipped
    assert dd["test"]["captions"] == [["A car drives by."]] and dd["test"][0]["start"] is None
    assert dd["test"][0]["video_path"].endswith(f"3001_21_JUMP_STREET/{clips[1]}.avi")

    (tmp_path / "LSMDC16_annos_training.csv").write_text("only\tthree\tfields\n")
    with pytest.raises(DatasetFormatError, match="LSMDC16_annos_training.csv.*line 1"):
        build_dataset("lsmdc", tmp_path)


def test_activitynet_val1_paragraphs(tmp_path):
    train = {"v_aaa": {"duration": 10.0, "timestamps": [[5, 9], [0, 4]], "sentences": ["Then he sits.", "A man walks."]}}
    val_1 = {"v_bbb": {"duration": 8.0, "timestamps": [[0, 8]], "sentences": [" A dog runs. "]},
             "v_ccc": {"duration": 8.0, "timestamps": [[0, 8]], "sentences": ["No video for me."]}}  # fmt: skip
    (tmp_path / "train.json").write_text(json.dumps(train))
    (tmp_path / "val_1.json").write_text(json.dumps(val_1))
    _touch_videos(tmp_path / "videos", ["v_aaa.mp4", "bbb.mkv"])  # both naming schemes
    dd = build_dataset("activitynet", tmp_path)
    assert dd["train"]["captions"] == [["A man walks. Then he sits."]]  # joined in timestamp order
    assert dd["test"]["video_id"] == ["v_bbb"] and dd["test"]["captions"] == [["A dog runs."]]
    assert set(dd) == {"train", "test"}

    (tmp_path / "val_1.json").write_text(json.dumps({"v_bbb": {"sentences": ["a", "b"], "timestamps": [[0, 1]]}}))
    with pytest.raises(DatasetFormatError, match="val_1.json.*timestamps"):
        build_dataset("activitynet", tmp_path)


def _write_mmt_h5(path, features: dict):
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f["raw_captions.0"] = np.array([b"a", b"dog"])
        for name, value in features.items():
            f[f"features.{name}"] = value


def test_mmt_h5_reader_and_expert_features_dir(tmp_path):
    vid = "v_bbb"
    h5 = tmp_path / "mult_h5" / "v" / "_" / "b" / f"{vid}.h5"
    nan = np.full((1, 4), np.nan, np.float32)
    _write_mmt_h5(h5, {"s3d": np.ones((5, 3), np.float32), "face": nan, "ocr": np.zeros((0, 2), np.float32)})
    feats = read_mmt_h5(h5)
    assert feats["s3d"].shape == (5, 3) and feats["face"] is None and feats["ocr"] is None  # MMT's missing signals
    assert read_expert_file(h5).keys() == feats.keys()

    (tmp_path / "train.json").write_text(json.dumps({"v_aaa": {"timestamps": [[0, 1]], "sentences": ["x."]}}))
    (tmp_path / "val_1.json").write_text(json.dumps({vid: {"timestamps": [[0, 1]], "sentences": ["y."]}}))
    _touch_videos(tmp_path / "videos", ["v_aaa.mp4", "v_bbb.mp4"])
    dd = build_dataset("activitynet", tmp_path, expert_features_dir=tmp_path / "mult_h5")
    assert dd["test"][0]["expert_features_path"] == str(h5.resolve())
    assert dd["train"][0]["expert_features_path"] is None  # no file: None, logged
    loaded = load_expert_input(dd["test"][0], load_frames=None)
    assert loaded["expert_features"]["s3d"].shape == (5, 3)
    assert load_expert_input(dd["train"][0], None) == {"videos": dd["train"][0]["video_path"], "clip_bounds": (None, None)}


def test_ce_pickle_needs_the_explicit_flag(tmp_path):
    path = tmp_path / "densenet161-avg.pickle"
    path.write_bytes(pickle.dumps({"video1": [1.0, 2.0]}))
    with pytest.raises(ValueError, match="execute code"):
        read_ce_pickle(path)
    assert read_ce_pickle(path, allow_pickle=True)["video1"].tolist() == [1.0, 2.0]


def test_cli_refuses_ce_pickles_without_allow_pickle(tmp_path):
    from videotext.cli import main

    path = tmp_path / "audio.pickle"
    path.write_bytes(pickle.dumps({"clip": np.ones(3, np.float32)}))
    _touch_videos(tmp_path / "videos", ["clip.mp4"])
    args = ["extract-experts", "--videos", str(tmp_path / "videos"), "--out", str(tmp_path / "out"),
            "--ce-pickle", f"audio={path}"]  # fmt: skip
    with pytest.raises(SystemExit, match="execute code"):
        main(args)
    assert main([*args, "--allow-pickle"]) == 0
    (entry,) = json.loads((tmp_path / "out" / "manifest.json").read_text())["clips"]
    assert read_expert_file(tmp_path / "out" / entry["file"])["audio"].shape == (1, 3)
