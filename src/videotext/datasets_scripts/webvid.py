"""WebVid-2M / WebVid-10M builder (`m-bain/webvid`).

Metadata: `results_{2M,10M}_{train,val}.csv` in `data_dir`, `data_dir/metadata` or another sub-folder, with the
columns `videoid, contentUrl, duration, page_dir, name`; the caption is `name`. When both the 2M and the 10M files
are present pick one with `split_protocol="2M"` or `"10M"`.

Videos: `videos/{page_dir}/{videoid}.mp4` (the `download.py` / frozen-in-time layout) under `data_dir`, or under
`--video-dir` (which then is the `videos` folder itself). `start`/`end` are null (the previews are whole files).
A `videoid` that appears several times in a CSV (re-crawled rows) becomes ONE row whose `captions` keep every
`name` in file order; the build report counts these.
"""

from __future__ import annotations

import os
import re
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
    format_error,
    read_csv,
)

_NAME = re.compile(r"^results_(?P<subset>[^_]+)_(?P<split>train|val)\.csv$")


def _find_csvs(data_dir: Path, subset: str | None) -> dict[str, Path]:
    found: dict[str, dict[str, Path]] = {}
    for depth in ("", "*/", "*/*/"):
        for path in sorted(data_dir.glob(depth + "results_*_*.csv")):
            m = _NAME.match(path.name)
            if m:
                found.setdefault(m["subset"], {}).setdefault(m["split"], path)
    if not found:
        raise FileNotFoundError(f"no WebVid metadata in {data_dir}: expected results_2M_train.csv / results_2M_val.csv")
    if subset is None:
        if len(found) > 1:
            raise ValueError(
                f"webvid: several subsets in {data_dir} ({sorted(found)}); choose one with --split-protocol"
            )
        subset = next(iter(found))
    if subset not in found:
        raise FileNotFoundError(f"webvid: no results_{subset}_{{train,val}}.csv in {data_dir} (found {sorted(found)})")
    return found[subset]


def build_webvid(
    data_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    split_protocol: str | None = None,
    split_files: dict[str, str] | None = None,
    strict: bool = False,
):
    """WebVid -> `DatasetDict` with train / validation. See the module doc."""
    data_dir = check_data_dir(data_dir)
    check_split_files(split_files, (), "webvid")
    csvs = _find_csvs(data_dir, split_protocol)
    report = BuildReport("webvid", split_protocol, strict)
    videos_root = Path(video_dir) if video_dir is not None else data_dir / "videos"

    splits: dict[str, list[dict[str, Any]]] = {}
    for key, split in (("train", "train"), ("val", "validation")):
        path = csvs.get(key)
        if path is None:
            continue
        by_id: dict[str, dict[str, Any]] = {}
        duplicates = 0
        for k, rec in enumerate(read_csv(path, ["videoid", "page_dir", "name"])):
            vid, page_dir = (rec.get("videoid") or "").strip(), (rec.get("page_dir") or "").strip()
            if not vid:
                raise format_error(path, f'row {k + 2} has no "videoid"')
            if not page_dir:
                raise format_error(path, f'row {k + 2} ("{vid}") has no "page_dir"')
            if vid in by_id:
                duplicates += 1
                by_id[vid]["_names"].append(rec.get("name"))
            else:
                by_id[vid] = {
                    "video_id": vid,
                    "start": None,
                    "end": None,
                    "_page": page_dir,
                    "_names": [rec.get("name")],
                }
        rows: list[dict[str, Any]] = []
        for vid, row in by_id.items():
            row["captions"] = clean_captions(row.pop("_names"), vid, split, report, file=path, field_name="name")
            add_row(rows, row, split, report, file=path)
        if duplicates:
            report.note(
                f"{path.name}: {duplicates} repeated videoid rows merged (their captions kept in order)", warn=True
            )
        splits[split] = rows

    finder = VideoFinder()
    splits = attach_videos(
        splits,
        report,
        lambda row: finder.find(row["video_id"], [videos_root / row["_page"]]),
        file=" + ".join(p.name for p in csvs.values()),
    )
    return assemble(splits, report)
