"""VATEX builder (English captions).

Annotation files (in `data_dir` or a sub-folder; any version suffix `v*` is accepted):
`vatex_training_v1.0.json` -> train, `vatex_validation_v1.0.json` -> validation,
`vatex_public_test_english_v1.1.json` -> test. Each is a JSON list of `{"videoID", "enCap": [10 strings], "chCap"}`.
`vatex_private_test_without_annotations.json` has no captions: it is skipped and the build report says so.

Videos (no official download): `<videoID>.mp4` (or .webm/.avi/.mkv) in `--video-dir`, `data_dir/videos`,
`data_dir/<split folder>` or `data_dir`. By default these files are the already cut 10 s clips, so
`start`/`end` are null. With `full_videos=True` the folder holds the full YouTube videos `<youtubeId>.mp4`; the
clip bounds are then parsed from the id (`Ptf_2VRj-V0_000122_000132` -> `Ptf_2VRj-V0`, 122.0, 132.0; split from
the right because YouTube ids contain `_`).

`split_protocol`: `official` (default). The HGR retrieval split (validation halved) is not built here; pass the
halves with `split_files={"validation": ..., "test": ...}` (lists of videoIDs from the validation file) to build it.
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
    format_error,
    get_split_file,
    read_id_list,
    read_json,
)

FILE_PATTERNS = {
    "train": "vatex_training_v*.json",
    "validation": "vatex_validation_v*.json",
    "test": "vatex_public_test_english_v*.json",
}
PRIVATE_TEST_PATTERN = "vatex_private_test_without_annotations*.json"
VIDEO_SUBDIRS = ("videos", "train", "val", "validation", "test", "public_test")


def _glob(data_dir: Path, pattern: str) -> Path | None:
    for depth in ("", "*/", "*/*/"):
        hits = sorted(data_dir.glob(depth + pattern))
        if hits:
            return hits[-1]  # the latest version when several are present
    return None


def parse_clip_id(video_id: str, *, file: str | os.PathLike = "vatex") -> tuple[str, float, float]:
    """`"Ptf_2VRj-V0_000122_000132"` -> (`"Ptf_2VRj-V0"`, 122.0, 132.0)."""
    parts = video_id.rsplit("_", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        raise format_error(file, f'"videoID" {video_id!r} is not "<youtubeId>_<start>_<end>"')
    return parts[0], float(int(parts[1])), float(int(parts[2]))


def _read_file(path: Path, split: str, report: BuildReport, full_videos: bool) -> list[dict[str, Any]]:
    data = read_json(path)
    if not isinstance(data, list):
        raise format_error(path, f"expected a JSON list of videos, got {type(data).__name__}")
    rows: list[dict[str, Any]] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise format_error(path, f"entry {i} is not an object")
        vid = item.get("videoID")
        if not isinstance(vid, str) or not vid:
            raise format_error(path, f'entry {i} has no "videoID"')
        if "enCap" not in item:
            raise format_error(path, f'entry {i} ("{vid}") has no "enCap"')
        caps = item["enCap"]
        if isinstance(caps, str):
            caps = [caps]
        if not isinstance(caps, list):
            raise format_error(path, f'entry {i} ("{vid}"): "enCap" is {type(caps).__name__}, expected a list')
        start = end = None
        if full_videos:
            _, start, end = parse_clip_id(vid, file=path)
        row = {"video_id": vid, "start": start, "end": end}
        row["captions"] = clean_captions(caps, vid, split, report, file=path, field_name="enCap")
        add_row(rows, row, split, report, file=path)
    return rows


def build_vatex(
    data_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    split_protocol: str | None = None,
    split_files: dict[str, str] | None = None,
    strict: bool = False,
    full_videos: bool = False,
):
    """VATEX -> `DatasetDict` (train / validation / public test). See the module doc."""
    data_dir = check_data_dir(data_dir)
    check_protocol(split_protocol, (None, "official"), "vatex")
    check_split_files(split_files, ("validation", "val", "test"), "vatex")
    report = BuildReport("vatex", split_protocol or "official", strict)

    splits: dict[str, list[dict[str, Any]]] = {}
    files: list[Path] = []
    for split, pattern in FILE_PATTERNS.items():
        path = _glob(data_dir, pattern)
        if path is not None:
            files.append(path)
            splits[split] = _read_file(path, split, report, full_videos)
    if not files:
        raise FileNotFoundError(f"no VATEX annotation JSON in {data_dir}: expected {', '.join(FILE_PATTERNS.values())}")
    private = _glob(data_dir, PRIVATE_TEST_PATTERN)
    if private is not None:
        report.note(f"{private.name} has no captions (private test): skipped", warn=True)

    val_list, test_list = get_split_file(split_files, "validation", "val"), get_split_file(split_files, "test")
    if val_list is not None or test_list is not None:
        pool = {r["video_id"]: r for s in ("validation", "test") for r in splits.get(s, [])}
        for split, path in (("validation", val_list), ("test", test_list)):
            if path is None:
                continue
            rows = []
            for vid in read_id_list(path):
                if vid in pool:
                    rows.append(dict(pool[vid]))
                else:
                    report.skip("no caption in the VATEX files", split, vid, file=path)
            splits[split] = rows
            report.note(f"{split}: the {len(rows)} videos listed in {path.name}")

    dirs = candidate_dirs(data_dir, video_dir, *VIDEO_SUBDIRS)
    finder = VideoFinder()

    def locate(row):
        stem = parse_clip_id(row["video_id"])[0] if full_videos else row["video_id"]
        return finder.find(stem, dirs)

    splits = attach_videos(splits, report, locate, file=" + ".join(p.name for p in files))
    return assemble(splits, report)
