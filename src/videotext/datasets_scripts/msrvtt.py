"""MSR-VTT builder (official JSON annotations, videos `TrainValVideo/videoN.mp4`, `TestVideo/videoN.mp4`).

Annotations (searched in `data_dir` and two levels of sub-folders): `train_val_videodatainfo.json` +
`test_videodatainfo.json` (official), else the merged `videodatainfo_2017.json`, else CLIP4Clip's `MSRVTT_data.json`.
Videos: `--video-dir` (flat, or with the official sub-folders), else `data_dir/TrainValVideo`, `data_dir/TestVideo`,
`data_dir/videos/all` (frozen-in-time), `data_dir/videos`, `data_dir`; extensions .mp4/.webm/.avi/.mkv.

The clip files are already cut, so `start`/`end` are null (the JSON's "start time"/"end time" are positions in the
source YouTube video). Captions keep the JSON's order.

Split protocols (`split_protocol`):

* `full` (default): official split — `train` / `validate` -> `validation` / `test` (6,513 / 497 / 2,990), all
  captions per video.
* `1k-A-9k`, `1k-A-7k` (JSFusion, Yu et al. 2018): `test` = 1,000 videos with **one** caption each, from
  CLIP4Clip `MSRVTT_JSFUSION_test.csv` (its `sentence` column) or CE `val_list_jsfusion.txt` (caption index from
  `jsfusion_val_caption_idx.pkl` when present, else the first caption). `train` = the 9k (CE
  `train_list_jsfusion.txt` / `MSRVTT_train.9k.csv`, else every annotated video not in the test list) or the 7k
  (`MSRVTT_train.7k.csv`, else official train + validate). No validation split.
* `1k-B` (Miech et al., MoEE): CE `train_list_miech.txt` (6,656) / `test_list_miech.txt` (1,000); the test rows
  keep the **first** caption of each video.

Split files are found in `data_dir` (up to three levels deep, e.g. frozen-in-time's
`high-quality/structured-symlinks/`) or passed by path: `split_files={"test": ..., "train": ...,
"caption_idx": ...}` (CLI: `--split-file test=PATH`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .common import (
    BuildReport,
    DatasetFormatError,
    VideoFinder,
    add_row,
    assemble,
    attach_videos,
    candidate_dirs,
    check_data_dir,
    check_protocol,
    check_split_files,
    find_file,
    format_error,
    get_split_file,
    read_csv,
    read_id_list,
    read_json,
    read_pickle,
)

PROTOCOLS = ("full", "1k-A-9k", "1k-A-7k", "1k-B")
SPLIT_FILE_NAMES = ("train", "test", "caption_idx")
VIDEO_SUBDIRS = ("TrainValVideo", "TestVideo", "videos/all", "videos")
_OFFICIAL_SPLITS = {"train": "train", "validate": "validation", "val": "validation", "test": "test"}


class _Annotations:
    """Videos and captions merged from one or more official-schema JSON files."""

    def __init__(self):
        self.files: list[Path] = []
        self.order: list[str] = []  # video ids, first-seen order
        self.split: dict[str, str | None] = {}  # vid -> official split (normalized) or None
        self.split_where: dict[str, tuple[Path, int]] = {}
        self.captions: dict[str, list[tuple[Any, str]]] = {}  # vid -> [(sen_id, caption)] in file order

    def _see(self, vid: str) -> None:
        if vid not in self.split:
            self.split[vid] = None
            self.order.append(vid)
            self.captions.setdefault(vid, [])

    def read(self, path: Path) -> None:
        data = read_json(path)
        self.files.append(path)
        if not isinstance(data, dict):
            raise format_error(path, 'top level is not an object with "videos" and "sentences"')
        videos, sentences = data.get("videos"), data.get("sentences")
        if not isinstance(sentences, list):
            raise format_error(path, 'has no "sentences" list')
        if videos is not None and not isinstance(videos, list):
            raise format_error(path, '"videos" is not a list')
        for i, video in enumerate(videos or []):
            if not isinstance(video, dict):
                raise format_error(path, f"video {i} is not an object")
            vid = video.get("video_id")
            if not isinstance(vid, str) or not vid:
                raise format_error(path, f'video {i} has no "video_id"')
            self._see(vid)
            split = video.get("split")
            if split is not None:
                if not isinstance(split, str) or split.strip().lower() not in _OFFICIAL_SPLITS:
                    raise format_error(
                        path, f'video {i} ("{vid}") has "split" = {split!r}, expected "train", "validate" or "test"'
                    )
                self.split[vid] = _OFFICIAL_SPLITS[split.strip().lower()]
                self.split_where[vid] = (path, i)
        for j, sentence in enumerate(sentences):
            if not isinstance(sentence, dict):
                raise format_error(path, f"sentence {j} is not an object")
            sen_id = sentence.get("sen_id")
            label = f"sentence {sen_id}" if sen_id is not None else f"sentence #{j}"
            vid = sentence.get("video_id")
            if not isinstance(vid, str) or not vid:
                raise format_error(path, f'{label} has no "video_id"')
            if "caption" not in sentence:
                raise format_error(path, f'{label} has no "caption"')
            caption = sentence["caption"]
            if caption is not None and not isinstance(caption, str):
                raise format_error(path, f'{label} has a "caption" of type {type(caption).__name__}')
            self._see(vid)
            self.captions[vid].append((sen_id, caption or ""))

    def file_name(self) -> str:
        return " + ".join(p.name for p in self.files)

    def official_split(self, vid: str) -> str:
        split = self.split.get(vid)
        if split is None:
            raise DatasetFormatError(f'{self.file_name()}: video "{vid}" has no "split" (needed by this protocol)')
        return split


def find_annotation_files(data_dir: Path) -> list[Path]:
    official = [find_file(data_dir, [n]) for n in ("train_val_videodatainfo.json", "test_videodatainfo.json")]
    official = [p for p in official if p is not None]
    if official:
        return official
    for name in ("videodatainfo_2017.json", "MSRVTT_data.json"):
        path = find_file(data_dir, [name])
        if path is not None:
            return [path]
    raise FileNotFoundError(
        f"no MSR-VTT annotation JSON in {data_dir}: expected train_val_videodatainfo.json and/or "
        "test_videodatainfo.json, videodatainfo_2017.json or MSRVTT_data.json"
    )


def _clean(pairs: list[tuple[Any, str]], vid: str, split: str, report: BuildReport, file) -> list[tuple[Any, str]]:
    out = []
    for i, (sen_id, caption) in enumerate(pairs):
        caption = (caption or "").strip()
        if not caption:
            label = f"sentence {sen_id}" if sen_id is not None else f"caption {i}"
            report.skip('an empty "caption"', split, f"{vid} ({label})", file=file)
            continue
        out.append((sen_id, caption))
    return out


def _row(vid: str, pairs: list[tuple[Any, str]]) -> dict[str, Any]:
    return {
        "video_id": vid,
        "start": None,
        "end": None,
        "captions": [c for _, c in pairs],
        "_sen_ids": [s for s, _ in pairs],
    }


def _auto_split_file(data_dir: Path, split_files, key: str, names: list[str]) -> Path | None:
    path = get_split_file(split_files, key)
    if path is None and names:
        path = find_file(data_dir, names, depth=3)
    return path


def _test_rows_1k(ann: _Annotations, data_dir: Path, split_files, protocol: str, report: BuildReport):
    """Rows of a 1k test split (one caption per video)."""
    names = ["MSRVTT_JSFUSION_test.csv", "val_list_jsfusion.txt"] if protocol.startswith("1k-A") else []
    names = names or ["test_list_miech.txt"]
    test_file = _auto_split_file(data_dir, split_files, "test", names)
    if test_file is None:
        raise FileNotFoundError(
            f"MSR-VTT {protocol}: no test list found in {data_dir}; pass it with --split-file test=PATH "
            f"({' or '.join(names)})"
        )
    rows: list[dict[str, Any]] = []
    if test_file.suffix.lower() == ".csv":
        for k, rec in enumerate(read_csv(test_file, ["video_id", "sentence"])):
            vid = (rec.get("video_id") or "").strip()
            if not vid:
                raise format_error(test_file, f'row {k + 1} has no "video_id"')
            caption = (rec.get("sentence") or "").strip()
            sen_id = next((s for s, c in ann.captions.get(vid, []) if (c or "").strip() == caption), None)
            pairs = _clean([(sen_id, caption)], vid, "test", report, test_file)
            add_row(rows, _row(vid, pairs), "test", report, file=test_file)
        report.note(f"test: 1 caption per video from the 'sentence' column of {test_file.name}")
        return rows, test_file
    ids = read_id_list(test_file)
    caption_idx: dict | None = None
    idx_file = get_split_file(split_files, "caption_idx")
    if idx_file is None and protocol.startswith("1k-A"):
        near = test_file.parent / "jsfusion_val_caption_idx.pkl"
        idx_file = near if near.is_file() else find_file(data_dir, ["jsfusion_val_caption_idx.pkl"], depth=3)
    if idx_file is not None:
        caption_idx = read_pickle(idx_file)
        if not isinstance(caption_idx, dict):
            raise format_error(idx_file, f"expected a dict video_id -> caption index, got {type(caption_idx).__name__}")
    missing_idx = 0
    for vid in ids:
        pairs = ann.captions.get(vid)
        if not pairs:
            report.skip("no caption in the annotation JSON", "test", vid, file=ann.file_name())
            continue
        index = 0
        if caption_idx is not None:
            if vid in caption_idx:
                index = caption_idx[vid]
                if not isinstance(index, int) or not 0 <= index < len(pairs):
                    raise format_error(idx_file, f'"{vid}": caption index {index!r} is not in 0..{len(pairs) - 1}')
            else:
                missing_idx += 1
        chosen = _clean([pairs[index]], vid, "test", report, ann.file_name())
        add_row(rows, _row(vid, chosen), "test", report, file=test_file)
    if caption_idx is not None:
        report.note(f"test: 1 caption per video chosen by {idx_file.name}")
        if missing_idx:
            report.note(f"{missing_idx} test videos are absent from {idx_file.name}: first caption used", warn=True)
    else:
        report.note(f"test: the first caption of each video listed in {test_file.name}")
    return rows, test_file


def load_msrvtt_rows(
    data_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    split_protocol: str | None = None,
    split_files: dict[str, str] | None = None,
    strict: bool = False,
    builder: str = "msrvtt",
) -> tuple[dict[str, list[dict[str, Any]]], BuildReport, _Annotations]:
    """Rows per split with `video_path` filled and an internal `_sen_ids` list (sentence id per caption)."""
    data_dir = check_data_dir(data_dir)
    protocol = split_protocol or "full"
    check_protocol(protocol, PROTOCOLS, builder)
    check_split_files(split_files, SPLIT_FILE_NAMES, builder)
    report = BuildReport(builder, protocol, strict)
    ann = _Annotations()
    for path in find_annotation_files(data_dir):
        ann.read(path)
    ann_name = ann.file_name()
    splits: dict[str, list[dict[str, Any]]] = {}

    if protocol == "full":
        for split in ("train", "validation", "test"):
            splits[split] = []
        for vid in ann.order:
            split = ann.official_split(vid)
            pairs = _clean(ann.captions[vid], vid, split, report, ann_name)
            add_row(splits[split], _row(vid, pairs), split, report, file=ann_name)
    else:
        test_rows, test_file = _test_rows_1k(ann, data_dir, split_files, protocol, report)
        test_ids = {r["video_id"] for r in test_rows}
        train_names = {
            "1k-A-9k": ["train_list_jsfusion.txt", "MSRVTT_train.9k.csv"],
            "1k-A-7k": ["MSRVTT_train.7k.csv"],
            "1k-B": ["train_list_miech.txt"],
        }[protocol]
        train_file = _auto_split_file(data_dir, split_files, "train", train_names)
        if train_file is not None:
            train_ids = read_id_list(train_file)
            report.note(f"train: {len(train_ids)} videos listed in {train_file.name}")
        elif protocol == "1k-A-9k":
            train_ids = [vid for vid in ann.order if vid not in test_ids]
            report.note(f"train: every annotated video not in {test_file.name} ({len(train_ids)} videos)")
        elif protocol == "1k-A-7k":
            train_ids = [vid for vid in ann.order if ann.official_split(vid) in ("train", "validation")]
            report.note(f"train: official train + validate ({len(train_ids)} videos)")
        else:
            raise FileNotFoundError(
                f"MSR-VTT 1k-B: no train_list_miech.txt in {data_dir}; pass it with --split-file train=PATH"
            )
        overlap = [vid for vid in train_ids if vid in test_ids]
        if overlap:
            report.note(f"{len(overlap)} train videos are also test videos: first {', '.join(overlap[:5])}", warn=True)
        train_rows: list[dict[str, Any]] = []
        for vid in train_ids:
            pairs = ann.captions.get(vid)
            if not pairs:
                report.skip("no caption in the annotation JSON", "train", vid, file=ann_name)
                continue
            add_row(
                train_rows, _row(vid, _clean(pairs, vid, "train", report, ann_name)), "train", report, file=ann_name
            )
        splits = {"train": train_rows, "test": test_rows}

    dirs = candidate_dirs(data_dir, video_dir, *VIDEO_SUBDIRS)
    finder = VideoFinder()
    splits = attach_videos(splits, report, lambda row: finder.find(row["video_id"], dirs), file=ann_name)
    return splits, report, ann


def build_msrvtt(
    data_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    split_protocol: str | None = None,
    split_files: dict[str, str] | None = None,
    strict: bool = False,
):
    """MSR-VTT -> `DatasetDict` (`full`: train/validation/test; 1k protocols: train/test). See the module doc."""
    splits, report, _ = load_msrvtt_rows(
        data_dir, video_dir=video_dir, split_protocol=split_protocol, split_files=split_files, strict=strict
    )
    return assemble(splits, report)
