"""Youku-mPLUG captioning subset builder (`X-PLUG/Youku-mPLUG`, files from ModelScope `modelscope/Youku-AliceMind`).

Files: `captioning_train.csv`, `captioning_val.csv`, `captioning_test.csv` in `--data-dir` or a sub-folder, with the
columns `video_id:FILE` (a path relative to the video root, e.g. `videos/caption/<hash>.mp4`) and `golden_caption`.
Train rows hold one caption string; val / test rows a stringified Python list of reference captions
(`ast.literal_eval`, as the official `video_caption_dataset`); a plain string is taken as one caption. Rows with an
empty caption (the test split may have none) are skipped and counted. Videos: `video_id:FILE` joined to `--video-dir`
(default: the folder of the CSV files). Every row gets `data_source = "auxiliary"` (SVAD-VLM's auxiliary data).
"""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Any

from .common import (
    BuildReport,
    add_row,
    assemble,
    attach_videos,
    check_data_dir,
    check_split_files,
    clean_captions,
    find_file,
    format_error,
    read_csv,
)

SPLIT_FILES = {"train": "captioning_train.csv", "validation": "captioning_val.csv", "test": "captioning_test.csv"}
FILE_COLUMN, CAPTION_COLUMN = "video_id:FILE", "golden_caption"


def _captions(value: str | None, path: Path, where: str) -> list:
    text = (value or "").strip()
    if not text:
        return []
    if text.startswith("["):
        try:
            parsed = ast.literal_eval(text)
        except (ValueError, SyntaxError) as err:
            raise format_error(path, f"{where}: {CAPTION_COLUMN} is not a Python list literal ({err})") from err
        if not isinstance(parsed, list):
            raise format_error(path, f"{where}: {CAPTION_COLUMN} must be a list of strings")
        return parsed
    return [text]


def build_youku(
    data_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    split_protocol: str | None = None,
    split_files: dict[str, str] | None = None,
    strict: bool = False,
):
    """Youku-mPLUG captioning CSVs -> `DatasetDict` (train / validation / test, those present)."""
    data_dir = check_data_dir(data_dir)
    check_split_files(split_files, (), "youku")
    found = {split: find_file(data_dir, [name]) for split, name in SPLIT_FILES.items()}
    found = {split: path for split, path in found.items() if path is not None}
    if not found:
        raise FileNotFoundError(
            f"no Youku-mPLUG captioning CSV in {data_dir}: expected {', '.join(SPLIT_FILES.values())}"
        )
    report = BuildReport("youku", split_protocol, strict)
    splits: dict[str, list[dict[str, Any]]] = {}
    for split, path in found.items():
        root = Path(video_dir) if video_dir is not None else path.parent
        rows = splits.setdefault(split, [])
        for k, rec in enumerate(read_csv(path, [FILE_COLUMN, CAPTION_COLUMN])):
            where = f"row {k + 2}"
            rel = (rec.get(FILE_COLUMN) or "").strip()
            if not rel:
                raise format_error(path, f'{where} has no "{FILE_COLUMN}"')
            clip_id = Path(rel).stem
            captions = clean_captions(_captions(rec.get(CAPTION_COLUMN), path, where), clip_id, split, report,
                                      file=path, field_name=CAPTION_COLUMN)  # fmt: skip
            row = {"video_id": clip_id, "_file": str(root / rel), "start": None, "end": None, "captions": captions,
                   "data_source": "auxiliary"}  # fmt: skip
            add_row(rows, row, split, report, file=path)

    def locate(row):
        candidate = row.pop("_file")
        return candidate if os.path.isfile(candidate) else None

    splits = attach_videos(splits, report, locate, file=" + ".join(p.name for p in found.values()))
    return assemble(splits, report, extra_columns=("data_source",))
