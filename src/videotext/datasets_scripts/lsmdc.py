"""LSMDC 2016 builder (movie description; the retrieval protocol of CE / MMT / CLIP4Clip).

Annotation files (tab-separated, no header, 6 fields: `CLIP_ID, START_ALIGNED, END_ALIGNED, START_EXTRACTED,
END_EXTRACTED, SENTENCE`): `LSMDC16_annos_training.csv` -> train, `LSMDC16_annos_val.csv` -> validation and the
1,000-clip retrieval test `LSMDC16_challenge_1000_publictect.csv` (the official spelling) -> test. A CLIP_ID that
appears on several lines becomes ONE row whose captions keep every sentence in file order.

Videos: one file per clip, `<movie>/<CLIP_ID>.avi` (movie = the CLIP_ID without its `_<start>-<end>` suffix) under
`data_dir`, `data_dir/videos` or `--video-dir`; a flat folder of clips works too. The files are the cut clips, so
`start` / `end` are null. With `expert_features_dir` (MMT's `vid_feat_files/mult_h5` folder) each row also gets its
`expert_features_path` (`{v[0]}/{v[1]}/{v[2]}/{v}.h5`, MMT's sharding by the first three characters).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

from .common import (
    BuildReport,
    VideoFinder,
    add_row,
    assemble,
    attach_videos,
    check_data_dir,
    check_split_files,
    clean_captions,
    find_file,
    format_error,
    get_split_file,
)

FILES = {
    "train": ("LSMDC16_annos_training.csv",),
    "validation": ("LSMDC16_annos_val.csv",),
    "test": ("LSMDC16_challenge_1000_publictect.csv", "LSMDC16_challenge_1000_publictest.csv"),
}


def movie_of(clip_id: str) -> str:
    """`1006_Slumdog_Millionaire_01.25.49.077-01.25.54.718` -> `1006_Slumdog_Millionaire`."""
    head, _, tail = clip_id.rpartition("_")
    return head if head and "-" in tail else clip_id


def read_lsmdc_csv(path: Path) -> list[tuple[str, str]]:
    """(clip id, sentence) per line of an LSMDC annotation file; a line without 6 tab-separated fields is a
    `DatasetFormatError` naming the file and the line."""
    out = []
    with open(path, encoding="utf-8", newline="") as f:
        for k, fields in enumerate(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if not fields or not "".join(fields).strip():
                continue
            if len(fields) < 6:
                raise format_error(path, f"line {k} has {len(fields)} tab-separated fields, expected 6 "
                                         "(CLIP_ID, START/END ALIGNED, START/END EXTRACTED, SENTENCE)")  # fmt: skip
            out.append((fields[0].strip(), "\t".join(fields[5:]).strip()))
    return out


def build_lsmdc(
    data_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    split_protocol: str | None = None,
    split_files: dict[str, str] | None = None,
    strict: bool = False,
):
    """LSMDC -> `DatasetDict` (train / validation / test). See the module doc."""
    data_dir = check_data_dir(data_dir)
    check_split_files(split_files, tuple(FILES), "lsmdc")
    if split_protocol not in (None, "retrieval"):
        raise ValueError(f"lsmdc: unknown split protocol {split_protocol!r} (only 'retrieval')")
    report = BuildReport("lsmdc", split_protocol, strict)
    splits: dict[str, list[dict[str, Any]]] = {}
    used = []
    for split, names in FILES.items():
        path = get_split_file(split_files, split) or find_file(data_dir, names)
        if path is None:
            if split == "test":
                raise FileNotFoundError(f"lsmdc: no {names[0]} in {data_dir} (pass it with --split-file test=PATH)")
            continue
        used.append(path.name)
        by_id: dict[str, list[str]] = {}
        for clip_id, sentence in read_lsmdc_csv(path):
            by_id.setdefault(clip_id, []).append(sentence)
        rows: list[dict[str, Any]] = []
        for clip_id, sentences in by_id.items():
            captions = clean_captions(sentences, clip_id, split, report, file=path, field_name="SENTENCE")
            add_row(rows, {"video_id": clip_id, "start": None, "end": None, "captions": captions}, split, report,
                    file=path)  # fmt: skip
        splits[split] = rows
    roots = [Path(video_dir)] if video_dir is not None else [data_dir / "videos", data_dir / "avi", data_dir]
    finder = VideoFinder()
    splits = attach_videos(splits, report,
                           lambda row: finder.find(row["video_id"], [r / movie_of(row["video_id"]) for r in roots] + roots),
                           file=" + ".join(used))  # fmt: skip
    return assemble(splits, report)
