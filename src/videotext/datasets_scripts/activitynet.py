"""ActivityNet Captions builder, paragraph-to-video retrieval ('val1' protocol of CE / MMT / CLIP4Clip).

Annotation files (`captions.zip` of the dense-captioning release): `train.json`, `val_1.json`, `val_2.json`, each a
dict `"v_<youtubeId>" -> {"duration", "timestamps": [[start, end], ...], "sentences": [...]}`. Each video is ONE
row whose single caption is the paragraph of its sentences joined in timestamp order (the query of the protocol);
the target is the whole video (`start` / `end` null).

Protocols (`--split-protocol`): `val1` (default): train = `train.json`, test = `val_1.json` (4,917 videos);
`val2`: test = `val_2.json`. `*_ids.json` lists, when present, restrict a split to their ids.

Videos: ActivityNet v1.3 files named `v_<id>.<ext>` or `<id>.<ext>` (CLIP4Clip strips the `v_`) under `data_dir`,
`data_dir/videos` or `--video-dir`. MMT's expert features: `--expert-features-dir DIR`.
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
    check_data_dir,
    check_split_files,
    clean_captions,
    find_file,
    format_error,
    get_split_file,
    read_json,
)

PROTOCOLS = {"val1": {"train": "train.json", "test": "val_1.json"}, "val2": {"train": "train.json", "test": "val_2.json"}}
ID_LISTS = {"train.json": "train_ids.json", "val_1.json": "val_ids.json", "val_2.json": "val_ids.json"}


def paragraph(record: dict, video_id: str, path) -> str:
    """The video's sentences joined with spaces, ordered by their start time (ties keep the file order)."""
    sentences, stamps = record.get("sentences"), record.get("timestamps")
    if not isinstance(sentences, list):
        raise format_error(path, f'{video_id}: "sentences" must be a list')
    if stamps is not None and (not isinstance(stamps, list) or len(stamps) != len(sentences)):
        raise format_error(path, f'{video_id}: "timestamps" must list one [start, end] per sentence')
    order = range(len(sentences))
    if stamps:
        try:
            order = sorted(order, key=lambda i: float(stamps[i][0]))
        except (TypeError, ValueError, IndexError) as err:
            raise format_error(path, f'{video_id}: bad "timestamps" entry ({err})') from err
    parts = [str(sentences[i]).strip() for i in order if isinstance(sentences[i], str) and sentences[i].strip()]
    return " ".join(parts)


def build_activitynet(
    data_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    split_protocol: str | None = None,
    split_files: dict[str, str] | None = None,
    strict: bool = False,
):
    """ActivityNet Captions paragraphs -> `DatasetDict` (train / test). See the module doc."""
    data_dir = check_data_dir(data_dir)
    protocol = split_protocol or "val1"
    if protocol not in PROTOCOLS:
        raise ValueError(f"activitynet: unknown split protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
    check_split_files(split_files, ("train", "test"), "activitynet")
    report = BuildReport("activitynet", protocol, strict)
    splits: dict[str, list[dict[str, Any]]] = {}
    used = []
    for split, name in PROTOCOLS[protocol].items():
        path = get_split_file(split_files, split) or find_file(data_dir, [name])
        if path is None:
            raise FileNotFoundError(f"activitynet: no {name} in {data_dir} (pass it with --split-file {split}=PATH)")
        used.append(path.name)
        data = read_json(path)
        if not isinstance(data, dict):
            raise format_error(path, 'expected a dict "v_<id>" -> {"duration", "timestamps", "sentences"}')
        ids_path = find_file(data_dir, [ID_LISTS.get(path.name, "")]) if split == "train" else None
        keep = set(read_json(ids_path)) if ids_path is not None else None
        rows: list[dict[str, Any]] = []
        for video_id, record in data.items():
            if keep is not None and video_id not in keep:
                continue
            if not isinstance(record, dict):
                raise format_error(path, f"{video_id}: expected an object, got {type(record).__name__}")
            captions = clean_captions([paragraph(record, video_id, path)], video_id, split, report, file=path,
                                      field_name="sentences")  # fmt: skip
            add_row(rows, {"video_id": video_id, "start": None, "end": None, "captions": captions}, split, report,
                    file=path)  # fmt: skip
        splits[split] = rows
    roots = [Path(video_dir)] if video_dir is not None else [data_dir / "videos", data_dir]
    finder = VideoFinder()

    def locate(row):
        vid = row["video_id"]
        return finder.find(vid, roots) or (finder.find(vid[2:], roots) if vid.startswith("v_") else None)

    splits = attach_videos(splits, report, locate, file=" + ".join(used))
    return assemble(splits, report)
