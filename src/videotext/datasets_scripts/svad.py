"""SVAD-style clip-level builder (Short Video Advertisement Description; SVAD itself is not public).

Documented format (one record per clip; docs/dataset_formats: SVAD has no public release, so this is the adapter a
user fills): `svad_annotations.jsonl` (one JSON object a line), `svad_annotations.json` (a list of objects) or
`svad_annotations.csv` (header row) in `--data-dir` or a sub-folder. Fields:

| field | required | meaning |
|---|---|---|
| `clip_id` | yes | unique clip id (e.g. `<video>_<shot>`) |
| `video_path` | yes | video file, absolute or relative to `--video-dir` (default `--data-dir`) |
| `start`, `end` | no | clip bounds in seconds inside the file (empty / null = the whole file) |
| `description` | yes | the fine-grained description (becomes the clip's one caption) |
| `keywords` | no | its keywords: a JSON list, or in CSV a `|`-separated string (`videotext keywords` fills them) |
| `data_source` | no | `primary` (default) or `auxiliary` |
| `split` | yes | `train`, `val`/`validation` or `test` |

`videotext synth` writes `svad_annotations.jsonl` in this format, so a synthetic folder is a fixture.
"""

from __future__ import annotations

import json
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
    normalize_split,
    parse_float,
    read_csv,
    read_json,
    read_jsonl,
)

FILES = ("svad_annotations.jsonl", "svad_annotations.json", "svad_annotations.csv")
DATA_SOURCES = ("primary", "auxiliary")


def _records(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".jsonl":
        return read_jsonl(path)
    if path.suffix == ".csv":
        return read_csv(path, ["clip_id", "video_path", "description", "split"])
    data = read_json(path)
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise format_error(path, "must hold a JSON list of clip objects")
    return data


def _keywords(value, path: Path, where: str) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                raise format_error(path, f"{where}: keywords is not a JSON list ({err.msg})") from err
        else:
            value = text.split("|")
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise format_error(path, f"{where}: keywords must be a list of strings")
    return [k.strip() for k in value if k.strip()]


def build_svad(
    data_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    split_protocol: str | None = None,
    split_files: dict[str, str] | None = None,
    strict: bool = False,
):
    """SVAD-style annotations -> `DatasetDict` (captions = [description], description, keywords, data_source)."""
    data_dir = check_data_dir(data_dir)
    check_split_files(split_files, (), "svad")
    path = find_file(data_dir, FILES)
    if path is None:
        raise FileNotFoundError(f"no SVAD annotations in {data_dir}: expected one of {', '.join(FILES)}")
    report = BuildReport("svad", split_protocol, strict)
    root = Path(video_dir) if video_dir is not None else path.parent
    splits: dict[str, list[dict[str, Any]]] = {}
    seen: set[str] = set()
    for k, rec in enumerate(_records(path)):
        where = f"record {k + 1}"
        for field in ("clip_id", "video_path", "split"):
            if rec.get(field) in (None, ""):
                raise format_error(path, f'{where} has no "{field}"')
        clip_id = str(rec["clip_id"]).strip()
        if clip_id in seen:
            raise format_error(path, f'{where}: clip_id "{clip_id}" is repeated')
        seen.add(clip_id)
        split = normalize_split(rec["split"], file=path, field_name=f"{where} split")
        source = (rec.get("data_source") or "primary").strip()
        if source not in DATA_SOURCES:
            raise format_error(path, f'{where}: data_source "{source}" is not one of {DATA_SOURCES}')
        description = rec.get("description")
        row = {
            "video_id": clip_id,
            "_file": str(rec["video_path"]).strip(),
            "start": parse_float(rec.get("start"), file=path, field_name="start", where=where),
            "end": parse_float(rec.get("end"), file=path, field_name="end", where=where),
            "captions": clean_captions([description], clip_id, split, report, file=path, field_name="description"),
            "description": (description or "").strip() if isinstance(description, str) else description,
            "keywords": _keywords(rec.get("keywords"), path, where),
            "data_source": source,
        }
        add_row(splits.setdefault(split, []), row, split, report, file=path)

    def locate(row):
        candidate = Path(row.pop("_file"))
        candidate = candidate if candidate.is_absolute() else root / candidate
        return str(candidate) if candidate.is_file() else None

    splits = attach_videos(splits, report, locate, file=path.name)
    return assemble(splits, report, extra_columns=("description", "keywords", "data_source"))
