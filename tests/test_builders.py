"""Dataset builders: tiny fixtures in each official raw format (+ a few real video files), errors, the CLI."""

from __future__ import annotations

import csv
import json
import logging
import pickle
import shutil
import subprocess
import zlib
from pathlib import Path

import datasets
import pytest

from videotext.datasets_scripts import (
    BUILDERS,
    DatasetFormatError,
    build_dataset,
    get_build_report,
    load_prepared,
)

# ------------------------------------------------------------------------------------------------------ media


def _ffmpeg(out: Path, codec: str) -> Path:
    import imageio_ffmpeg

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "lavfi", "-i"]
    cmd += ["testsrc=size=32x32:rate=4", "-frames:v", "4", "-pix_fmt", "yuv420p", "-c:v", codec, str(out)]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """One tiny real file per kind; fixtures copy them under the official names."""
    from PIL import Image

    d = tmp_path_factory.mktemp("media")
    png = d / "img.png"
    Image.new("RGB", (16, 16), (200, 30, 30)).save(png)
    return {"mp4": _ffmpeg(d / "clip.mp4", "libx264"), "avi": _ffmpeg(d / "clip.avi", "mpeg4"), "png": png}


def _put(src: Path, dst: Path) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def _write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))
    return path


def _check_rows(dd):
    for ds in dd.values():
        assert ds.features["video_path"] == datasets.Value("string")
        assert ds.features["start"] == datasets.Value("float64")
        for row in ds:
            assert Path(row["video_path"]).is_absolute() and Path(row["video_path"]).is_file()
            assert row["captions"] and all(c.strip() for c in row["captions"])


# ---------------------------------------------------------------------------------------------------- MSR-VTT
# 12 videos: video0-5 train, video6-7 validate, video8-11 test; 3 captions each, sen_id = 3 * N + k.
MSR_SPLIT = {**{i: "train" for i in range(6)}, 6: "validate", 7: "validate", **{i: "test" for i in range(8, 12)}}


def _msr_caption(n: int, k: int) -> str:
    return f"caption {k} of clip {n}"


def _make_msrvtt(root: Path, media, n_videos: int = 12) -> Path:
    videos, sentences = {"tv": [], "test": []}, {"tv": [], "test": []}
    for n in range(n_videos):
        part = "test" if MSR_SPLIT[n] == "test" else "tv"
        videos[part].append(
            {"category": 1, "url": "u", "video_id": f"video{n}", "start time": 1.0, "end time": 2.0}
            | {"split": MSR_SPLIT[n], "id": n}
        )
        for k in range(3):
            sentences[part].append({"sen_id": 3 * n + k, "video_id": f"video{n}", "caption": _msr_caption(n, k)})
        folder = "TestVideo" if part == "test" else "TrainValVideo"
        _put(media["mp4"], root / folder / f"video{n}.mp4")
    _write_json(
        root / "train_val_videodatainfo.json", {"info": {}, "videos": videos["tv"], "sentences": sentences["tv"]}
    )
    _write_json(
        root / "test_videodatainfo.json", {"info": {}, "videos": videos["test"], "sentences": sentences["test"]}
    )
    return root


def _write_lines(path: Path, lines) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))  # CE lists may lack the trailing newline
    return path


def test_registry_lists_every_builder():
    assert set(BUILDERS) >= {"msrvtt", "msvd", "vatex", "webvid", "cc3m", "folder", "synthetic"}
    with pytest.raises(ValueError, match="unknown dataset"):
        build_dataset("nope", ".")


def test_msrvtt_full(tmp_path, media):
    root = _make_msrvtt(tmp_path / "msrvtt", media)
    dd = build_dataset("msrvtt", root)
    assert {k: len(v) for k, v in dd.items()} == {"train": 6, "validation": 2, "test": 4}
    _check_rows(dd)
    row = dd["test"][0]
    assert row["video_id"] == "video8" and row["captions"] == [_msr_caption(8, k) for k in range(3)]
    assert row["start"] is None and row["end"] is None
    assert row["video_path"].endswith("TestVideo/video8.mp4")
    assert get_build_report(dd)["num_skipped"] == 0
    assert set(dd["train"].column_names) == {"video_id", "video_path", "start", "end", "captions"}


def test_msrvtt_merged_json_and_flat_video_dir(tmp_path, media):
    root = _make_msrvtt(tmp_path / "msrvtt", media)
    tv = json.loads((root / "train_val_videodatainfo.json").read_text())
    te = json.loads((root / "test_videodatainfo.json").read_text())
    data = tmp_path / "clip4clip"
    _write_json(
        data / "msrvtt_data" / "MSRVTT_data.json",
        {"videos": tv["videos"] + te["videos"]} | {"sentences": tv["sentences"] + te["sentences"]},
    )
    flat = tmp_path / "flat"
    for p in root.glob("*/*.mp4"):
        _put(p, flat / p.name)
    dd = build_dataset("msrvtt", data, video_dir=flat)
    assert {k: len(v) for k, v in dd.items()} == {"train": 6, "validation": 2, "test": 4}
    assert all(Path(p).parent == flat.resolve() for p in dd["train"]["video_path"])


def test_msrvtt_1k_a_from_clip4clip_csv(tmp_path, media):
    root = _make_msrvtt(tmp_path / "msrvtt", media)
    with open(root / "MSRVTT_JSFUSION_test.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["key", "vid_key", "video_id", "sentence"])
        w.writerow(["ret0", "msr9", "video9", _msr_caption(9, 2)])
        w.writerow(["ret1", "msr11", "video11", "a sentence that is not in the json"])
    dd9 = build_dataset("msrvtt", root, split_protocol="1k-A-9k")  # auto-detected in data_dir
    assert set(dd9) == {"train", "test"}
    assert dd9["test"]["video_id"] == ["video9", "video11"]
    assert dd9["test"]["captions"] == [[_msr_caption(9, 2)], ["a sentence that is not in the json"]]
    assert len(dd9["train"]) == 10 and not {"video9", "video11"} & set(dd9["train"]["video_id"])
    assert all(len(c) == 3 for c in dd9["train"]["captions"])
    dd7 = build_dataset("msrvtt", root, split_protocol="1k-A-7k")
    assert dd7["train"]["video_id"] == [f"video{n}" for n in range(8)]
    assert dd7["test"]["captions"] == dd9["test"]["captions"]
    _check_rows(dd7)
    # CLIP4Clip's train CSVs by path
    train7 = _write_lines(tmp_path / "lists" / "MSRVTT_train.7k.csv", ["video_id", "video0", "video1", "video7"])
    dd = build_dataset("msrvtt", root, split_protocol="1k-A-7k", split_files={"train": str(train7)})
    assert dd["train"]["video_id"] == ["video0", "video1", "video7"]


def test_msrvtt_1k_a_from_ce_lists(tmp_path, media):
    root = _make_msrvtt(tmp_path / "msrvtt", media)
    lists = tmp_path / "structured-symlinks"
    test_list = _write_lines(lists / "val_list_jsfusion.txt", ["video9", "video11"])
    train_list = _write_lines(lists / "train_list_jsfusion.txt", [f"video{n}" for n in range(12) if n not in (9, 11)])
    files = {"test": str(test_list), "train": str(train_list)}
    dd = build_dataset("msrvtt", root, split_protocol="1k-A-9k", split_files=files)
    assert dd["test"]["captions"] == [[_msr_caption(9, 0)], [_msr_caption(11, 0)]]  # no index pkl: first caption
    assert "first caption" in " ".join(get_build_report(dd)["notes"])
    assert len(dd["train"]) == 10
    with open(lists / "jsfusion_val_caption_idx.pkl", "wb") as f:  # found next to the test list
        pickle.dump({"video9": 2, "video11": 1}, f)
    dd = build_dataset("msrvtt", root, split_protocol="1k-A-9k", split_files=files)
    assert dd["test"]["captions"] == [[_msr_caption(9, 2)], [_msr_caption(11, 1)]]
    with open(lists / "jsfusion_val_caption_idx.pkl", "wb") as f:
        pickle.dump({"video9": 7}, f)
    with pytest.raises(DatasetFormatError, match=r"jsfusion_val_caption_idx\.pkl.*video9"):
        build_dataset("msrvtt", root, split_protocol="1k-A-9k", split_files=files)


def test_msrvtt_1k_b(tmp_path, media):
    root = _make_msrvtt(tmp_path / "msrvtt", media)
    _write_lines(
        root / "high-quality" / "structured-symlinks" / "train_list_miech.txt", [f"video{n}" for n in range(8)]
    )
    _write_lines(root / "high-quality" / "structured-symlinks" / "test_list_miech.txt", ["video10", "video8"])
    dd = build_dataset("msrvtt", root, split_protocol="1k-B")
    assert dd["test"]["video_id"] == ["video10", "video8"]
    assert dd["test"]["captions"] == [[_msr_caption(10, 0)], [_msr_caption(8, 0)]]
    assert len(dd["train"]) == 8 and all(len(c) == 3 for c in dd["train"]["captions"])
    with pytest.raises(FileNotFoundError, match="test_list_miech"):
        build_dataset("msrvtt", _make_msrvtt(tmp_path / "other", media), split_protocol="1k-B")
    with pytest.raises(ValueError, match="unknown split protocol"):
        build_dataset("msrvtt", root, split_protocol="1k-C")


def test_msrvtt_missing_field_names_file_and_field(tmp_path, media):
    root = _make_msrvtt(tmp_path / "msrvtt", media)
    path = root / "train_val_videodatainfo.json"
    data = json.loads(path.read_text())
    del data["sentences"][17]["caption"]  # sen_id 17
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetFormatError, match='train_val_videodatainfo.json: sentence 17 has no "caption"'):
        build_dataset("msrvtt", root)
    data["sentences"][17]["caption"] = "ok"
    data["videos"][2]["split"] = "holdout"
    path.write_text(json.dumps(data))
    with pytest.raises(DatasetFormatError, match=r'train_val_videodatainfo.json: video 2 \("video2"\) has "split"'):
        build_dataset("msrvtt", root)
    path.write_text("{not json")
    with pytest.raises(DatasetFormatError, match="train_val_videodatainfo.json: not valid JSON"):
        build_dataset("msrvtt", root)


def test_missing_video_is_counted_or_raised(tmp_path, media, caplog):
    root = _make_msrvtt(tmp_path / "msrvtt", media)
    (root / "TrainValVideo" / "video3.mp4").unlink()
    (root / "TestVideo" / "video9.mp4").unlink()
    with caplog.at_level(logging.WARNING, logger="videotext.datasets"):
        dd = build_dataset("msrvtt", root)
    assert len(dd["train"]) == 5 and len(dd["test"]) == 3
    report = get_build_report(dd)
    assert report["skipped_counts"]["no video file"] == {"train": 1, "test": 1}
    assert report["skipped_first_ids"]["no video file"] == ["video3", "video9"]
    assert "skipped 2 clips with no video file" in caplog.text and "video3" in caplog.text
    with pytest.raises(DatasetFormatError, match="video3: no video file"):
        build_dataset("msrvtt", root, strict=True)


def test_empty_caption_is_counted_or_raised(tmp_path, media):
    root = _make_msrvtt(tmp_path / "msrvtt", media)
    path = root / "train_val_videodatainfo.json"
    data = json.loads(path.read_text())
    data["sentences"][4]["caption"] = "  "  # video1, sentence 4
    path.write_text(json.dumps(data))
    dd = build_dataset("msrvtt", root)
    assert dd["train"][1]["captions"] == [_msr_caption(1, 0), _msr_caption(1, 2)]
    assert get_build_report(dd)["skipped_first_ids"]['an empty "caption"'] == ["video1 (sentence 4)"]
    with pytest.raises(DatasetFormatError, match=r"train_val_videodatainfo.json.*video1 \(sentence 4\)"):
        build_dataset("msrvtt", root, strict=True)


# ------------------------------------------------------------------------------------------------------- MSVD
MSVD_CLIPS = ["-4wsuPCjDBc_5_15", "abc_1_2", "x_y_3_9"]


def _msvd_videos(root: Path, media):
    for clip in MSVD_CLIPS:
        _put(media["avi"], root / "YouTubeClips" / f"{clip}.avi")


def test_msvd_txt_and_lists(tmp_path, media):
    root = tmp_path / "msvd"
    _msvd_videos(root, media)
    lines = ["# MSVD descriptions", "# another comment", ""]
    lines += [f"{MSVD_CLIPS[0]} a man plays a guitar", f"{MSVD_CLIPS[0]} someone plays music"]
    lines += [f"{MSVD_CLIPS[1]} a cat sleeps", f"{MSVD_CLIPS[2]} a dog runs fast", f"{MSVD_CLIPS[2]} a dog runs"]
    _write_lines(root / "AllVideoDescriptions.txt", lines)
    for split, clip in zip(("train", "val", "test"), MSVD_CLIPS):
        _write_lines(root / f"{split}_list.txt", [clip])
    dd = build_dataset("msvd", root)
    assert {k: len(v) for k, v in dd.items()} == {"train": 1, "validation": 1, "test": 1}
    assert dd["train"][0]["captions"] == ["a man plays a guitar", "someone plays music"]
    assert dd["test"][0]["captions"] == ["a dog runs fast", "a dog runs"]  # all captions kept
    assert dd["test"][0]["video_path"].endswith(f"YouTubeClips/{MSVD_CLIPS[2]}.avi")
    _check_rows(dd)


def test_msvd_csv_and_youtube_mapping(tmp_path, media):
    root = tmp_path / "msvd"
    _msvd_videos(root, media)
    header = ["VideoID", "Start", "End", "WorkerID", "Source", "AnnotationTime", "Language", "Description"]
    with open(root / "video_corpus.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerow(["-4wsuPCjDBc", "5", "15", "1", "clean", "10", "English", "a man plays a guitar"])
        w.writerow(["-4wsuPCjDBc", "5", "15", "2", "clean", "10", "French", "un homme joue"])
        w.writerow(["abc", "1", "2", "3", "unverified", "10", "English", "a cat sleeps"])
        w.writerow(["x_y", "3", "9", "4", "clean", "10", "English", "a dog runs"])
    # vidN convention: vid1 -> train, vid1201 -> validation, vid1301 -> test
    _write_lines(
        root / "youtube_mapping.txt", [f"{MSVD_CLIPS[0]} vid1", f"{MSVD_CLIPS[1]} vid1201", f"{MSVD_CLIPS[2]} vid1301"]
    )
    dd = build_dataset("msvd", root)
    assert dd["train"]["captions"] == [["a man plays a guitar"]]
    assert dd["validation"]["video_id"] == ["abc_1_2"] and dd["test"]["video_id"] == ["x_y_3_9"]
    _check_rows(dd)


def test_msvd_raw_captions_pkl_and_split_file_by_path(tmp_path, media):
    root = tmp_path / "msvd"
    _msvd_videos(root, media)
    with open(root / "raw-captions.pkl", "wb") as f:
        pickle.dump({c: [["a", "clip", str(i)], ["another", "one"]] for i, c in enumerate(MSVD_CLIPS)}, f)
    test_list = _write_lines(tmp_path / "lists" / "my_test.txt", MSVD_CLIPS[1:])
    dd = build_dataset("msvd", root, split_files={"test": str(test_list)})
    assert set(dd) == {"test"} and dd["test"]["captions"][0] == ["a clip 1", "another one"]
    assert "1 annotated clips are in no split list" in get_build_report(dd)["notes"][0]


class _TouchesAFile:
    """A crafted pickle: unpickling it creates `marker` (stands for any code an attacker would run)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_crafted_pickles_never_run_without_allow_pickle(tmp_path, media, capsys):
    from videotext.cli import main

    root = tmp_path / "msvd"
    _msvd_videos(root, media)
    marker = tmp_path / "code_ran"
    with open(root / "raw-captions.pkl", "wb") as f:
        pickle.dump({c: [_TouchesAFile(marker)] for c in MSVD_CLIPS}, f)
    assert main(["prepare", "msvd", "--data-dir", str(root), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert not marker.exists()
    assert "raw-captions.pkl" in err and "--allow-pickle" in err and len(err.strip().splitlines()) == 1
    # MSR-VTT's caption index found three folders down: same rule
    msr = _make_msrvtt(tmp_path / "msrvtt", media)
    lists = msr / "a" / "b"
    test_list = _write_lines(lists / "val_list_jsfusion.txt", ["video9", "video11"])
    with open(lists / "jsfusion_val_caption_idx.pkl", "wb") as f:
        pickle.dump({"video9": _TouchesAFile(marker)}, f)
    with pytest.raises(DatasetFormatError, match=r"jsfusion_val_caption_idx\.pkl.*--allow-pickle"):
        build_dataset("msrvtt", msr, split_protocol="1k-A-9k", split_files={"test": str(test_list)})
    assert not marker.exists()


def test_allow_pickle_reads_pickles_of_python_objects(tmp_path, media):
    import numpy as np

    root = tmp_path / "msvd"
    _msvd_videos(root, media)
    with open(root / "raw-captions.pkl", "wb") as f:  # numpy strings need a class lookup: not plain data
        pickle.dump({c: [np.str_(f"a clip {i}")] for i, c in enumerate(MSVD_CLIPS)}, f)
    files = {"test": str(_write_lines(tmp_path / "lists" / "test.txt", MSVD_CLIPS))}
    with pytest.raises(DatasetFormatError, match="--allow-pickle"):
        build_dataset("msvd", root, split_files=files)
    dd = build_dataset("msvd", root, split_files=files, allow_pickle=True)
    assert dd["test"]["captions"] == [[f"a clip {i}"] for i in range(len(MSVD_CLIPS))]


# ------------------------------------------------------------------------------------------------------ VATEX


def test_vatex(tmp_path, media):
    root = tmp_path / "vatex"
    ids = {"train": "Ptf_2VRj-V0_000122_000132", "validation": "abc_000001_000011", "test": "q-q_000003_000013"}
    names = {
        "train": "vatex_training_v1.0.json",
        "validation": "vatex_validation_v1.0.json",
        "test": "vatex_public_test_english_v1.1.json",
    }
    for split, vid in ids.items():
        caps = [f"{split} caption {k}" for k in range(10)]
        _write_json(root / "annotations" / names[split], [{"videoID": vid, "enCap": caps, "chCap": ["中文"] * 10}])
        _put(media["mp4"], root / "videos" / f"{vid}.mp4")
    _write_json(root / "annotations" / "vatex_private_test_without_annotations.json", [{"videoID": "zz_000000_000010"}])
    dd = build_dataset("vatex", root)
    assert {k: len(v) for k, v in dd.items()} == {"train": 1, "validation": 1, "test": 1}
    assert len(dd["train"][0]["captions"]) == 10 and dd["train"][0]["start"] is None
    assert any("private test" in n for n in get_build_report(dd)["notes"])
    _check_rows(dd)
    # full YouTube videos: bounds from the id (split from the right: ids contain "_")
    full = tmp_path / "full"
    _put(media["mp4"], full / "Ptf_2VRj-V0.mp4")
    dd = build_dataset("vatex", root, video_dir=full, full_videos=True)
    assert len(dd["train"]) == 1 and (dd["train"][0]["start"], dd["train"][0]["end"]) == (122.0, 132.0)
    assert get_build_report(dd)["skipped_counts"]["no video file"] == {"validation": 1, "test": 1}
    bad = json.loads((root / "annotations" / names["train"]).read_text())
    del bad[0]["enCap"]
    _write_json(root / "annotations" / names["train"], bad)
    with pytest.raises(
        DatasetFormatError, match=r'vatex_training_v1.0.json: entry 0 \("Ptf_2VRj-V0_000122_000132"\) has no "enCap"'
    ):
        build_dataset("vatex", root)


# ----------------------------------------------------------------------------------------------------- WebVid


def test_webvid(tmp_path, media):
    root = tmp_path / "webvid"
    rows = {
        "train": [("1066674784", "1066651_1066700", "Aerial view of a city"), ("5", "000001_000050", "Sea, waves")],
        "val": [
            ("7", "000001_000050", "A red ball"),
            ("7", "000001_000050", "A red ball, updated"),
            ("8", "p", "gone"),
        ],
    }
    for split, recs in rows.items():
        path = root / "metadata" / f"results_2M_{split}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["videoid", "contentUrl", "duration", "page_dir", "name"])
            for vid, page, name in recs:
                w.writerow([vid, f"https://x/{vid}.mp4", "PT00H00M11S", page, name])
                if vid != "8":
                    _put(media["mp4"], root / "videos" / page / f"{vid}.mp4")
    dd = build_dataset("webvid", root)
    assert dd["train"]["captions"] == [["Aerial view of a city"], ["Sea, waves"]]
    assert dd["validation"]["captions"] == [["A red ball", "A red ball, updated"]]  # repeated videoid merged
    assert dd["train"][0]["video_path"].endswith("videos/1066651_1066700/1066674784.mp4")
    report = get_build_report(dd)
    assert report["skipped_first_ids"]["no video file"] == ["8"]
    _check_rows(dd)


# ------------------------------------------------------------------------------------------------------- CC3M


def test_cc3m_images(tmp_path, media):
    root = tmp_path / "cc3m"
    train = [("a dog on a beach", "http://img/1.jpg"), ("a red car", "http://img/2.jpg"), ("missing", "http://img/3")]
    val = [("a tree", "http://img/v.jpg")]
    _write_lines(root / "Train_GCC-training.tsv", [f"{c}\t{u}" for c, u in train])
    _write_lines(root / "Validation_GCC-1.1.0-Validation.tsv", [f"{c}\t{u}" for c, u in val])

    def key(url):
        return str(zlib.crc32(url.encode()) & 0xFFFFFFFF)

    _put(media["png"], root / "training" / f"{key(train[0][1])}.png")
    _put(media["png"], root / "training" / key(train[1][1]))  # no extension
    _put(media["png"], root / "validation" / f"{key(val[0][1])}.png")
    dd = build_dataset("cc3m", root)
    assert dd["train"]["captions"] == [["a dog on a beach"], ["a red car"]]
    assert dd["train"]["video_id"] == [key(train[0][1]), key(train[1][1])]
    assert dd["validation"][0]["video_path"].endswith(".png")
    assert get_build_report(dd)["skipped_counts"]["no video file"] == {"train": 1}
    _check_rows(dd)
    (root / "Train_GCC-training.tsv").write_text("only a caption\n")
    with pytest.raises(DatasetFormatError, match="Train_GCC-training.tsv: line 1 has 1 fields"):
        build_dataset("cc3m", root)


# ----------------------------------------------------------------------------------------------------- folder


def test_folder_csv(tmp_path, media):
    root = tmp_path / "mine"
    _put(media["mp4"], root / "a.mp4")
    _put(media["mp4"], root / "sub" / "b.mkv")
    with open(root / "captions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file_name", "caption", "split"])
        w.writerows([["a.mp4", "first", "train"], ["a.mp4", "second", "train"], ["sub/b.mkv", "third", "val"]])
    dd = build_dataset("folder", root)
    assert dd["train"]["captions"] == [["first", "second"]] and dd["train"]["video_id"] == ["a"]
    assert dd["validation"]["video_id"] == ["sub/b"]
    _check_rows(dd)
    with open(root / "captions.csv", "a", newline="") as f:
        csv.writer(f).writerow(["a.mp4", "x", "holdout"])
    with pytest.raises(DatasetFormatError, match='captions.csv: row 5: "split"'):
        build_dataset("folder", root)


def test_folder_csv_never_loses_rows_silently(tmp_path, media, capsys):
    from videotext.cli import main

    root = tmp_path / "mine"
    _put(media["mp4"], root / "a.mp4")
    _put(media["mp4"], root / "b.mp4")
    header = "file_name,caption,split\n"
    cases = {  # file content -> what the one-line error names
        header + 'a.mp4,"an unterminated quote,train\nb.mp4,bee,test\n': "captions.csv: line 2: malformed CSV",
        header + "a.mp4,one,train,surplus\n": "captions.csv: line 2 has 4 fields, the header 3",
        header + "a.mp4,one,train\na.mp4,one,test\n": "clip a.mp4 is in splits test and train",
    }
    for content, named in cases.items():
        (root / "captions.csv").write_text(content)
        assert main(["prepare", "folder", "--data-dir", str(root), "--out", str(tmp_path / "out")]) == 1
        err = capsys.readouterr().err.strip()
        assert named in err and len(err.splitlines()) == 1, err
    (root / "captions.csv").write_bytes(header.encode() + b"a.mp4,caf\xe9,train\n")
    with pytest.raises(DatasetFormatError, match=r"captions.csv: line 2 is not valid UTF-8"):
        build_dataset("folder", root)


def test_folder_files_with_one_stem_stay_two_clips(tmp_path, media):
    root = tmp_path / "mine"
    _put(media["mp4"], root / "a.mp4")
    _put(media["mp4"], root / "a.webm")  # the builder looks files up; it does not decode them
    (root / "captions.csv").write_text("file_name,caption,split\na.mp4,one,test\na.webm,two,test\n")
    dd = build_dataset("folder", root)
    assert dd["test"]["video_id"] == ["a.mp4", "a.webm"] and dd["test"]["captions"] == [["one"], ["two"]]


def test_folder_jsonl_bounds_and_split_file(tmp_path, media):
    root = tmp_path / "mine"
    _put(media["mp4"], root / "a.mp4")
    _put(media["mp4"], root / "b.mp4")
    lines = [
        {"video": "a", "captions": ["one", "two"], "start": 0.5, "end": 1.5},
        {"video": "a", "caption": "whole clip"},
        {"file_name": "b.mp4", "caption": "bee"},
    ]
    _write_lines(root / "captions.jsonl", [json.dumps(x) for x in lines])
    dd = build_dataset("folder", root)
    assert set(dd) == {"train"} and len(dd["train"]) == 3
    clip = dd["train"][0]
    assert (clip["video_id"], clip["start"], clip["end"], clip["captions"]) == ("a_0.5_1.5", 0.5, 1.5, ["one", "two"])
    assert "every clip is in 'train'" in get_build_report(dd)["notes"][0]
    test_list = _write_lines(tmp_path / "test.txt", ["b.mp4"])
    dd = build_dataset("folder", root, split_files={"test": str(test_list)})
    assert dd["test"]["video_id"] == ["b"] and len(dd["train"]) == 2
    _write_lines(root / "captions.jsonl", [json.dumps({"video": "a"})])
    with pytest.raises(DatasetFormatError, match='captions.jsonl: line 1 has no "caption" or "captions"'):
        build_dataset("folder", root)


# -------------------------------------------------------------------------------------------------------- CLI


def test_cli_prepare_and_load_prepared(tmp_path, media, capsys):
    from videotext.cli import main

    root = _make_msrvtt(tmp_path / "msrvtt", media)
    (root / "TestVideo" / "video11.mp4").unlink()
    out = tmp_path / "prepared"
    assert main(["prepare", "msrvtt", "--data-dir", str(root), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "train: 6 clips, 18 captions" in printed and "skipped 1 clips with no video file" in printed
    dd = datasets.load_from_disk(str(out))
    assert {k: len(v) for k, v in dd.items()} == {"train": 6, "validation": 2, "test": 3}
    assert get_build_report(dd["test"])["num_skipped"] == 1
    assert load_prepared(out)["test"]["video_id"] == dd["test"]["video_id"]
    with pytest.raises(FileNotFoundError, match="neither a prepared dataset"):
        load_prepared(root)
    # protocol + split file by path
    test_list = _write_lines(tmp_path / "val_list_jsfusion.txt", ["video9"])
    out2 = tmp_path / "prepared_1k"
    argv = ["prepare", "msrvtt", "--data-dir", str(root), "--out", str(out2), "--split-protocol", "1k-A-9k"]
    assert main(argv + ["--split-file", f"test={test_list}"]) == 0
    assert datasets.load_from_disk(str(out2))["test"]["captions"] == [[_msr_caption(9, 0)]]
    # a format error is reported, not a traceback
    assert main(["prepare", "msrvtt", "--data-dir", str(tmp_path / "prepared"), "--out", str(tmp_path / "x")]) == 1
    assert "no MSR-VTT annotation JSON" in capsys.readouterr().err


def test_push_to_hub_rewrites_paths_and_uploads_videos(tmp_path, media, monkeypatch):
    import huggingface_hub

    from videotext.datasets_scripts import push_dataset_to_hub

    root = _make_msrvtt(tmp_path / "msrvtt", media)
    dd = build_dataset("msrvtt", root)
    pushed, commits = {}, []
    monkeypatch.setattr(datasets.DatasetDict, "push_to_hub", lambda self, repo, **kw: pushed.update(repo=repo, dd=self))
    monkeypatch.setattr(huggingface_hub.HfApi, "create_commit", lambda self, **kw: commits.append(kw))
    push_dataset_to_hub(dd, "me/msrvtt", batch=5)
    assert pushed["repo"] == "me/msrvtt"
    assert pushed["dd"]["test"][0]["video_path"] == "videos/TestVideo/video8.mp4"
    uploaded = [op.path_in_repo for c in commits for op in c["operations"]]
    assert len(commits) == 3 and len(uploaded) == 12 and "videos/TrainValVideo/video0.mp4" in uploaded


# -------------------------------------------------------------------------------------------------- synthetic


def test_synthetic_builder_side_annotations(tmp_path, media):
    root = _make_msrvtt(tmp_path / "synth", media)
    sentences = {str(3 * n + k): {"nouns": [f"n{n}"], "verbs": [f"v{k}"]} for n in range(12) for k in range(3)}
    videos = {
        f"video{n}": {
            "description": f"d{n}",
            "keywords": ["k"],
            "intention": ["i"],
            "effect": ["e"],
            "attribute": ["a"],
        }
        for n in range(12)
    }
    _write_json(root / "synthetic_annotations.json", {"sentences": sentences, "videos": videos})
    dd = load_prepared(root)  # raw synthetic folder: auto-detected and built
    row = dd["train"][2]
    assert row["nouns"] == [["n2"]] * 3 and row["verbs"] == [["v0"], ["v1"], ["v2"]]
    assert row["description"] == "d2" and row["keywords"] == ["k"] and row["effect"] == ["e"]
    assert dd["train"].features["nouns"] == datasets.List(datasets.List(datasets.Value("string")))
    dd = build_dataset(
        "synthetic",
        root,
        split_protocol="1k-B",
        split_files={
            "train": str(_write_lines(tmp_path / "tr.txt", ["video0"])),
            "test": str(_write_lines(tmp_path / "te.txt", ["video9"])),
        },
    )
    assert dd["test"][0]["verbs"] == [["v0"]]  # the first caption's annotations only
    del sentences["5"]
    _write_json(root / "synthetic_annotations.json", {"sentences": sentences, "videos": videos})
    with pytest.raises(DatasetFormatError, match="synthetic_annotations.json.*sentence 5"):
        build_dataset("synthetic", root)


def test_synthetic_end_to_end(tmp_path):
    """The generator's output through `prepare msrvtt` and `prepare synthetic`; every video decodes with decord."""
    import decord

    from videotext.cli import main
    from videotext.datasets_scripts.synthetic import generate_synthetic  # written by another engineer

    raw = tmp_path / "raw"
    generate_synthetic(raw, num_videos=50, seed=1, workers=1, progress=False)
    out = tmp_path / "prepared"
    assert main(["prepare", "msrvtt", "--data-dir", str(raw), "--out", str(out)]) == 0
    dd = datasets.load_from_disk(str(out))
    expected: dict[str, list[str]] = {}
    for name in ("train_val_videodatainfo.json", "test_videodatainfo.json"):
        for s in json.loads((raw / name).read_text())["sentences"]:
            expected.setdefault(s["video_id"], []).append(s["caption"])
    assert sum(len(ds) for ds in dd.values()) == len(expected) == 50
    assert get_build_report(dd)["num_skipped"] == 0
    for ds in dd.values():
        for row in ds:
            assert row["captions"] == [c.strip() for c in expected[row["video_id"]]]
            vr = decord.VideoReader(row["video_path"])
            assert len(vr) > 0 and vr[0].asnumpy().ndim == 3
    out_s = tmp_path / "prepared_synth"
    assert main(["prepare", "synthetic", "--data-dir", str(raw), "--out", str(out_s)]) == 0
    ds = datasets.load_from_disk(str(out_s))["train"]
    assert {"nouns", "verbs", "description", "keywords", "intention", "effect", "attribute"} <= set(ds.column_names)
    assert set(ds["data_source"]) <= {"primary", "auxiliary"}
    side = json.loads((raw / "synthetic_annotations.json").read_text())
    assert ds[0]["description"] == side["videos"][ds[0]["video_id"]]["description"]
    assert all(len(row["nouns"]) == len(row["captions"]) == len(row["verbs"]) for row in ds)
    assert load_prepared(raw)["train"]["video_id"] == ds["video_id"]
