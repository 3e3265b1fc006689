"""V2C builder (`videotext prepare v2c`): a fixture in the official caption-file format, splits from v2c_info.json or
the MSR-VTT numbers, the commonsense columns, format errors naming the file and field, and the synthetic V2C file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from videotext.datasets_scripts import DatasetFormatError, build_dataset, get_build_report


def _entry(caption: str, intention: list[str], effect: list[str], attribute: list[str]) -> dict:
    def pairs(texts):
        return [[t, ["<sos>", *t.split(), "<eos>"]] for t in texts]

    return {"final_caption": ["<sos>", *caption.split(), "<eos>"], "intention": pairs(intention),
            "effect": pairs(effect), "attribute": pairs(attribute)}  # fmt: skip


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory) -> Path:
    from videotext.processing.video_writer import write_video

    frames = np.random.default_rng(0).integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    return write_video(tmp_path_factory.mktemp("v2c_media") / "clip.mp4", frames, fps=8)


def make_v2c(root: Path, clip_file: Path, with_info: bool = True) -> Path:
    captions = {
        "video1": [_entry("a man is running", ["to win the race"], ["gets tired"], ["athletic"]),
                   _entry("a person runs fast", ["to win the race", "to get fit"], ["sweats"], ["athletic"])],
        "video6600": [_entry("a woman cooks food", ["to eat"], ["gets full"], ["hungry"])],
        "video7020": [_entry("a cat plays", ["to have fun"], ["gets tired"], ["playful"])],
        "video9000": [_entry("a dog barks", ["to warn"], ["scares someone"], ["loud"])],
    }  # fmt: skip
    root.mkdir(parents=True, exist_ok=True)
    (root / "V2C_MSR-VTT_caption.json").write_text(json.dumps(captions))
    if with_info:
        info = {"ix_to_word": {}, "word_to_ix": {}, "videos": {"train": [1, 6600], "val": [], "test": [7020, 9000]}}
        (root / "v2c_info.json").write_text(json.dumps(info))
    for vid, folder in (("video1", "TrainValVideo"), ("video6600", "TrainValVideo"), ("video7020", "TestVideo")):
        (root / folder).mkdir(exist_ok=True)
        shutil.copyfile(clip_file, root / folder / f"{vid}.mp4")  # video9000 has no file
    return root


def test_v2c_official_format(tmp_path, clip_file):
    dd = build_dataset("v2c", make_v2c(tmp_path / "v2c", clip_file))
    assert {k: len(v) for k, v in dd.items()} == {"train": 2, "validation": 0, "test": 1}
    first = dd["train"][0]
    assert first["video_id"] == "video1" and first["captions"] == ["a man is running", "a person runs fast"]
    assert first["intention"] == ["to win the race", "to get fit"]  # de-duplicated, in order
    assert first["effect"] == ["gets tired", "sweats"] and first["attribute"] == ["athletic"]
    assert Path(first["video_path"]).is_file()
    report = get_build_report(dd["test"])
    assert report["skipped_counts"] == {"no video file": {"test": 1}}


def test_v2c_without_info_uses_msrvtt_numbers(tmp_path, clip_file):
    dd = build_dataset("v2c", make_v2c(tmp_path / "v2c", clip_file, with_info=False))
    assert dd["train"]["video_id"] == ["video1"] and dd["validation"]["video_id"] == ["video6600"]
    assert "official MSR-VTT split" in " ".join(get_build_report(dd["train"])["notes"])


def test_v2c_errors_name_file_and_field(tmp_path, clip_file):
    root = make_v2c(tmp_path / "v2c", clip_file)
    data = json.loads((root / "V2C_MSR-VTT_caption.json").read_text())
    del data["video1"][1]["effect"]
    (root / "V2C_MSR-VTT_caption.json").write_text(json.dumps(data))
    with pytest.raises(DatasetFormatError, match=r'V2C_MSR-VTT_caption\.json.*video1\[1\] has no "effect"'):
        build_dataset("v2c", root)
    with pytest.raises(FileNotFoundError, match="train_cvpr_humanRank"):
        build_dataset("v2c", root, split_protocol="human")


def test_cli_prepare_v2c(tmp_path, clip_file, capsys):
    from videotext.cli import main

    root = make_v2c(tmp_path / "v2c", clip_file)
    assert main(["prepare", "v2c", "--data-dir", str(root), "--out", str(tmp_path / "out")]) == 0
    assert "train: 2 clips, 3 captions" in capsys.readouterr().out


def test_v2c_reads_the_synthetic_sets_v2c_file(synthetic_dir):
    v2c = build_dataset("v2c", synthetic_dir)
    synthetic = build_dataset("synthetic", synthetic_dir)
    assert sorted(v2c["test"]["video_id"]) == sorted(synthetic["test"]["video_id"])
    by_id = {row["video_id"]: row for row in synthetic["test"]}
    for row in v2c["test"]:
        assert row["intention"] == by_id[row["video_id"]]["intention"]
        assert row["attribute"] == by_id[row["video_id"]]["attribute"]
