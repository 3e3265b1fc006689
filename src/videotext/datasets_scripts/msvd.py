"""MSVD (YouTube2Text) builder.

Captions, the first found in `data_dir` (or a sub-folder):

* `AllVideoDescriptions.txt` — `<clipname> <description>`; the first space separates the clip name from the text;
  lines starting with `#` are comments;
* `video_corpus.csv` (multilingual MSR corpus) — rows with `Language == "English"`, clip name
  `VideoID_Start_End`, text in `Description`;
* CE / CLIP4Clip `raw-captions.pkl` — dict `clipname -> [token list or string, ...]` (tokens joined with spaces).

Splits (1,200 / 100 / 670 videos): `split_files={"train": ..., "val": ..., "test": ...}` (CLI `--split-file`), else
`train_list.txt` / `val_list.txt` / `test_list.txt` in `data_dir` (clip names, one per line), else the `vidN`
convention through `youtube_mapping.txt` (`<clipname> vidN`: vid1-1200 train, vid1201-1300 validation,
vid1301-1970 test). List entries written as `vidN` are mapped to clip names through `youtube_mapping.txt`.

Videos: `YouTubeClips/<clipname>.avi` (any of .avi/.mp4/.webm/.mkv) in `--video-dir` or `data_dir`.
All captions are kept (at test every caption is a query, CLIP4Clip's multi-sentence protocol). Clips are already
cut, so `start`/`end` are null. Annotated clips in no split list are counted in the build report's notes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .common import (
    BuildReport,
    VideoFinder,
    add_row,
    assemble,
    attach_videos,
    candidate_dirs,
    check_data_dir,
    check_protocol,
    check_split_files,
    clean_captions,
    find_file,
    format_error,
    get_split_file,
    read_csv,
    read_id_list,
    read_pickle,
)

CAPTION_FILES = ("AllVideoDescriptions.txt", "video_corpus.csv", "raw-captions.pkl")
VIDEO_SUBDIRS = ("YouTubeClips", "videos")
_VID_RANGES = (("train", 1, 1200), ("validation", 1201, 1300), ("test", 1301, 1970))


def _read_txt(path: Path) -> dict[str, list[str]]:
    captions: dict[str, list[str]] = {}
    with open(path, encoding="utf-8", errors="strict") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, _, text = line.strip().partition(" ")
            if not name:
                raise format_error(path, f"line {lineno} has no clip name")
            captions.setdefault(name, []).append(text)
    return captions


def _read_corpus_csv(path: Path) -> dict[str, list[str]]:
    captions: dict[str, list[str]] = {}
    rows = read_csv(path, ["VideoID", "Start", "End", "Language", "Description"])
    for k, row in enumerate(rows):
        if (row.get("Language") or "").strip().lower() != "english":
            continue
        vid, start, end = (row.get(c) or "" for c in ("VideoID", "Start", "End"))
        if not vid.strip() or not start.strip() or not end.strip():
            raise format_error(path, f'row {k + 2} has an empty "VideoID", "Start" or "End"')
        captions.setdefault(f"{vid.strip()}_{start.strip()}_{end.strip()}", []).append(row.get("Description") or "")
    return captions


def _read_pkl(path: Path) -> dict[str, list[str]]:
    data = read_pickle(path)
    if not isinstance(data, dict):
        raise format_error(path, f"expected a dict clipname -> captions, got {type(data).__name__}")
    captions: dict[str, list[str]] = {}
    for name, caps in data.items():
        if not isinstance(caps, (list, tuple)):
            raise format_error(path, f'"{name}": captions are {type(caps).__name__}, expected a list')
        out = []
        for i, cap in enumerate(caps):
            if isinstance(cap, (list, tuple)):
                cap = " ".join(str(t) for t in cap)
            elif not isinstance(cap, str):
                raise format_error(path, f'"{name}": caption {i} is {type(cap).__name__}, expected tokens or a string')
            out.append(cap)
        captions[str(name)] = out
    return captions


def _read_mapping(path: Path) -> dict[str, str]:
    """`youtube_mapping.txt` -> {vidN: clipname}."""
    mapping: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].startswith("vid"):
                raise format_error(path, f'line {lineno} is not "<clipname> vidN": {line.strip()!r}')
            mapping[parts[1]] = parts[0]
    return mapping


def build_msvd(
    data_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    split_protocol: str | None = None,
    split_files: dict[str, str] | None = None,
    strict: bool = False,
):
    """MSVD -> `DatasetDict` with train/validation/test. See the module doc."""
    data_dir = check_data_dir(data_dir)
    check_protocol(split_protocol, (None, "standard"), "msvd")
    check_split_files(split_files, ("train", "val", "validation", "test", "mapping"), "msvd")
    report = BuildReport("msvd", split_protocol or "standard", strict)

    cap_file = find_file(data_dir, CAPTION_FILES)
    if cap_file is None:
        raise FileNotFoundError(f"no MSVD captions in {data_dir}: expected one of {', '.join(CAPTION_FILES)}")
    reader = {".txt": _read_txt, ".csv": _read_corpus_csv, ".pkl": _read_pkl}[cap_file.suffix.lower()]
    captions = reader(cap_file)

    mapping_file = get_split_file(split_files, "mapping") or find_file(data_dir, ["youtube_mapping.txt"])
    mapping = _read_mapping(mapping_file) if mapping_file is not None else {}

    lists: dict[str, list[str]] = {}
    list_names = {"train": ("train",), "validation": ("val", "validation"), "test": ("test",)}
    lists_given = bool(set(split_files or {}) - {"mapping"})
    for split, keys in list_names.items():
        path = get_split_file(split_files, *keys)
        if path is None and not lists_given:
            path = find_file(data_dir, [f"{keys[0]}_list.txt"])
        if path is not None:
            lists[split] = read_id_list(path)
    if not lists:
        if not mapping:
            raise FileNotFoundError(
                f"no MSVD split lists in {data_dir}: expected train_list.txt/val_list.txt/test_list.txt, "
                "youtube_mapping.txt, or --split-file NAME=PATH"
            )
        for split, lo, hi in _VID_RANGES:
            lists[split] = [mapping[f"vid{n}"] for n in range(lo, hi + 1) if f"vid{n}" in mapping]
        report.note("splits from youtube_mapping.txt: vid1-1200 train, vid1201-1300 validation, vid1301-1970 test")

    splits: dict[str, list[dict[str, Any]]] = {}
    listed: set[str] = set()
    for split, names in lists.items():
        rows: list[dict[str, Any]] = []
        for name in names:
            if name not in captions and name in mapping:
                name = mapping[name]
            listed.add(name)
            if name not in captions:
                report.skip(f"no caption in {cap_file.name}", split, name, file=cap_file)
                continue
            caps = clean_captions(captions[name], name, split, report, file=cap_file, field_name="description")
            add_row(
                rows, {"video_id": name, "start": None, "end": None, "captions": caps}, split, report, file=cap_file
            )
        splits[split] = rows
    unlisted = [name for name in captions if name not in listed]
    if unlisted:
        report.note(f"{len(unlisted)} annotated clips are in no split list: first {', '.join(unlisted[:5])}", warn=True)

    dirs = candidate_dirs(data_dir, video_dir, *VIDEO_SUBDIRS)
    finder = VideoFinder()
    splits = attach_videos(splits, report, lambda row: finder.find(row["video_id"], dirs), file=cap_file)
    return assemble(splits, report)
