"""Builder for V2C (Video2Commonsense, Fang et al., EMNLP 2020): MSR-VTT clips with intention / effect / attribute
annotations per caption (format notes: shared/reference/dataset_formats.md §6).

Official files (from `V2C_annotations.zip`), anywhere under `--data-dir`:

* `V2C_MSR-VTT_caption.json` (the raw V2C set; `--split-protocol human` reads the human re-verified
  `train_cvpr_humanRank_V2C_caption.json` instead): `{"videoN": [entry, ...]}`, one entry per caption, each
  `{"final_caption": ["<sos>", tokens..., "<eos>"], "intention": [[raw, tokens], ...], "effect": [...],
  "attribute": [...]}`;
* `v2c_info.json` (optional): `"videos": {"train": [N, ...], "val": [...], "test": [...]}` with MSR-VTT numeric ids.
  Without it the splits come from MSR-VTT's annotation JSON when it is in the folder, else from the official
  MSR-VTT numbering (train video0-6512, validation -7009, test the rest); the report says which.

Videos are MSR-VTT's `videoN.mp4`, looked up in `--video-dir`, then `TrainValVideo/`, `TestVideo/`, `videos/` and
`--data-dir` itself. Rows: `captions` = the final captions (tokens joined, `<sos>`/`<eos>` dropped); `intention`,
`effect`, `attribute` = the clip's raw commonsense strings (`[0]` of each pair), de-duplicated in order.
"""

from __future__ import annotations

import os
import re
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
    read_json,
)
from .msrvtt import _Annotations, find_annotation_files

CAPTION_FILES = {"raw": "V2C_MSR-VTT_caption.json", "human": "train_cvpr_humanRank_V2C_caption.json"}
INFO_FILE = "v2c_info.json"
ASPECTS = ("intention", "effect", "attribute")
VIDEO_SUBDIRS = ("TrainValVideo", "TestVideo", "videos")
_SPLIT_NAMES = {"train": "train", "val": "validation", "validate": "validation", "test": "test"}
_MARKERS = {"<sos>", "<eos>", "<pad>", "<unk>"}


def _tokens_text(tokens: Any, path, where: str) -> str:
    if isinstance(tokens, str):
        return tokens
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise format_error(path, f"{where} is not a token list")
    return " ".join(t for t in tokens if t not in _MARKERS)


def _aspect_texts(value: Any, path, where: str) -> list[str]:
    """`[[raw, tokens], ...]` (or plain strings) -> the raw strings."""
    if not isinstance(value, list):
        raise format_error(path, f"{where} is not a list of [raw_string, token_list] pairs")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, list) and item and isinstance(item[0], str):
            out.append(item[0])
        elif isinstance(item, list) and len(item) > 1:
            out.append(_tokens_text(item[1], path, f"{where}[{i}][1]"))
        else:
            raise format_error(path, f"{where}[{i}] is not a [raw_string, token_list] pair")
    return [t.strip() for t in out if t and t.strip()]


def _video_number(vid: str) -> int | None:
    match = re.fullmatch(r"video(\d+)", vid)
    return int(match.group(1)) if match else None


def _official_split(number: int | None) -> str:
    if number is None or number < 6513:
        return "train"
    return "validation" if number < 7010 else "test"


def _info_splits(path) -> dict[str, str]:
    info = read_json(path)
    videos = info.get("videos") if isinstance(info, dict) else None
    if not isinstance(videos, dict):
        raise format_error(path, 'has no "videos" object with "train" / "val" / "test" id lists')
    out = {}
    for name, ids in videos.items():
        split = _SPLIT_NAMES.get(str(name).lower())
        if split is None:
            raise format_error(path, f'"videos" has an unknown split {name!r} (expected train / val / test)')
        if not isinstance(ids, list):
            raise format_error(path, f'"videos"."{name}" is not a list of MSR-VTT ids')
        for vid in ids:
            out[f"video{int(vid)}" if isinstance(vid, int) or str(vid).isdigit() else str(vid)] = split
    return out


def _msrvtt_splits(data_dir, report: BuildReport) -> dict[str, str]:
    """Splits from MSR-VTT's official annotation JSON when it is in the folder, else {} (split by video number)."""
    try:
        files = find_annotation_files(data_dir)
    except FileNotFoundError:
        report.note(f"no {INFO_FILE}: official MSR-VTT split by video number")
        return {}
    ann = _Annotations()
    for path in files:
        ann.read(path)
    report.note(f"no {INFO_FILE}: splits from {ann.file_name()}")
    return {vid: split for vid, split in ann.split.items() if split is not None}


def build_v2c(
    data_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    split_protocol: str | None = None,
    split_files: dict[str, str] | None = None,
    strict: bool = False,
):
    """V2C raw files -> `DatasetDict` (train / validation / test) with `intention` / `effect` / `attribute`."""
    data_dir = check_data_dir(data_dir)
    protocol = split_protocol or "raw"
    check_protocol(protocol, tuple(CAPTION_FILES), "v2c")
    check_split_files(split_files, (), "v2c")
    path = find_file(data_dir, [CAPTION_FILES[protocol]])
    if path is None:
        raise FileNotFoundError(f"V2C: no {CAPTION_FILES[protocol]} in {data_dir} (from V2C_annotations.zip)")
    report = BuildReport("v2c", protocol, strict)
    data = read_json(path)
    if not isinstance(data, dict):
        raise format_error(path, 'top level is not an object {"videoN": [entry, ...]}')
    info_path = find_file(data_dir, [INFO_FILE])
    if info_path is not None:
        assigned = _info_splits(info_path)
    else:
        assigned = _msrvtt_splits(data_dir, report)

    splits: dict[str, list[dict[str, Any]]] = {"train": [], "validation": [], "test": []}
    for vid, entries in data.items():
        if not isinstance(entries, list):
            raise format_error(path, f"{vid} is not a list of caption entries")
        split = assigned.get(vid) if assigned else _official_split(_video_number(vid))
        if split is None:
            report.skip(f"no split in {INFO_FILE}", "train", vid, file=info_path)
            continue
        captions, aspects = [], {a: [] for a in ASPECTS}
        for k, entry in enumerate(entries):
            if not isinstance(entry, dict) or "final_caption" not in entry:
                raise format_error(path, f'{vid}[{k}] has no "final_caption"')
            captions.append(_tokens_text(entry["final_caption"], path, f'{vid}[{k}] "final_caption"'))
            for aspect in ASPECTS:
                if aspect not in entry:
                    raise format_error(path, f'{vid}[{k}] has no "{aspect}"')
                for text in _aspect_texts(entry[aspect], path, f'{vid}[{k}] "{aspect}"'):
                    if text not in aspects[aspect]:
                        aspects[aspect].append(text)
        row = {"video_id": vid, "start": None, "end": None,
               "captions": clean_captions(captions, vid, split, report, file=path, field_name="final_caption"),
               **aspects}  # fmt: skip
        add_row(splits[split], row, split, report, file=path)

    dirs = candidate_dirs(data_dir, video_dir, *VIDEO_SUBDIRS)
    finder = VideoFinder()
    splits = attach_videos(splits, report, lambda row: finder.find(row["video_id"], dirs), file=path)
    return assemble(splits, report, extra_columns=ASPECTS)
