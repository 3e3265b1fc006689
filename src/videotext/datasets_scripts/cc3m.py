"""Conceptual Captions 3M builder (images used as static videos).

Metadata: `Train_GCC-training.tsv` -> train and `Validation_GCC-1.1.0-Validation.tsv` -> validation, in `data_dir` or
a sub-folder: tab-separated, no header, `caption \\t url`. Images (ViLBERT / frozen-in-time download layout):
`training/<crc32(url) & 0xffffffff>` and `validation/<...>`, with or without an image extension, under `data_dir` or
`--video-dir`. `video_id` is that crc32 number as a string; `video_path` is the image file (the video loader treats
an image as a one-frame video); `start`/`end` are null. URLs whose image was not downloaded (common: many links are
dead) are skipped and counted like missing videos.
"""

from __future__ import annotations

import csv
import os
import zlib
from pathlib import Path
from typing import Any

from .common import (
    IMAGE_EXTENSIONS,
    BuildReport,
    VideoFinder,
    add_row,
    assemble,
    attach_videos,
    check_data_dir,
    check_protocol,
    check_split_files,
    clean_captions,
    find_file,
    format_error,
)

FILES = {
    "train": ("Train_GCC-training.tsv", "training"),
    "validation": ("Validation_GCC-1.1.0-Validation.tsv", "validation"),
}


def url_key(url: str) -> str:
    """File name stem of a CC3M image: `str(zlib.crc32(url) & 0xffffffff)`."""
    return str(zlib.crc32(url.encode("utf-8")) & 0xFFFFFFFF)


def _read_tsv(path: Path, split: str, report: BuildReport) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    seen: dict[str, dict[str, Any]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for lineno, fields in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue
            if len(fields) != 2:
                raise format_error(path, f"line {lineno} has {len(fields)} fields, expected 2 (caption, url)")
            caption, url = fields[0], fields[1].strip()
            if not url:
                raise format_error(path, f'line {lineno} has an empty "url"')
            key = url_key(url)
            caps = clean_captions([caption], key, split, report, file=path)
            if key in seen:  # the same URL twice: one image, several captions
                seen[key]["captions"] += caps
                continue
            row = {"video_id": key, "start": None, "end": None, "captions": caps}
            if add_row(rows, row, split, report, file=path):
                seen[key] = row
    return rows


def build_cc3m(
    data_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    split_protocol: str | None = None,
    split_files: dict[str, str] | None = None,
    strict: bool = False,
):
    """CC3M -> `DatasetDict` with train / validation (image rows). See the module doc."""
    data_dir = check_data_dir(data_dir)
    check_protocol(split_protocol, (None,), "cc3m")
    check_split_files(split_files, (), "cc3m")
    report = BuildReport("cc3m", None, strict)
    image_root = Path(video_dir) if video_dir is not None else data_dir

    splits: dict[str, list[dict[str, Any]]] = {}
    folders: dict[str, list[Path]] = {}
    files = []
    for split, (name, folder) in FILES.items():
        path = find_file(data_dir, [name])
        if path is None:
            continue
        files.append(path)
        splits[split] = _read_tsv(path, split, report)
        folders[split] = [image_root / folder, path.parent / folder]
    if not files:
        raise FileNotFoundError(f"no CC3M TSV in {data_dir}: expected {FILES['train'][0]} or {FILES['validation'][0]}")

    finder = VideoFinder(IMAGE_EXTENSIONS, allow_no_extension=True)
    out: dict[str, list[dict[str, Any]]] = {}
    for split, rows in splits.items():
        dirs = folders[split]
        out.update(
            attach_videos(
                {split: rows},
                report,
                lambda row, dirs=dirs: finder.find(row["video_id"], dirs),
                file=files[0].name,
                desc="checking image files",
            )
        )
    return assemble(out, report)
