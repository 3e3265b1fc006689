"""Builder for users' own data: a folder of videos plus a captions file.

`data_dir` holds the videos (any sub-folders) and ONE of:

* `captions.csv` — header with `video` or `file_name` (path relative to the folder, or a file stem) and `caption`;
  one row per caption, several rows per video allowed; optional `split`, `start`, `end` (seconds);
* `captions.jsonl` — one object per line with `file_name` or `video`, and `caption` (string) or `captions` (list);
  optional `split`, `start`, `end`.

(`metadata.csv` / `metadata.jsonl`, the names of the Hugging Face `videofolder` loader, are accepted too.)

Rows with the same video, bounds and split are merged into one clip whose captions keep the file order.
`split` values: train / val / validation / dev / test. Without a `split` column every clip goes to `train`, unless
`split_files={"train"|"validation"|"test": PATH}` (CLI `--split-file test=PATH`) list video names (one per line,
file names or stems): listed videos go to that split and the others to `train` — or, when a `train` list is given
too, they are skipped and counted. `video_id` is the path without extension (plus `_<start>_<end>` for clips with
bounds); videos are looked up in `--video-dir` first, then in `data_dir`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .common import (
    VIDEO_EXTENSIONS,
    BuildReport,
    add_row,
    assemble,
    attach_videos,
    check_data_dir,
    check_protocol,
    check_split_files,
    clean_captions,
    format_error,
    get_split_file,
    normalize_split,
    parse_float,
    read_csv,
    read_id_list,
    read_jsonl,
)

CAPTION_FILES = ("captions.csv", "captions.jsonl", "metadata.csv", "metadata.jsonl")


def _records(path: Path) -> list[tuple[int, dict[str, Any], list[Any]]]:
    """(line/row number, record, captions) for each entry."""
    out = []
    if path.suffix == ".csv":
        for k, rec in enumerate(read_csv(path, [("video", "file_name"), "caption"])):
            out.append((k + 2, rec, [rec.get("caption")]))
        return out
    for k, rec in enumerate(read_jsonl(path)):
        if "captions" in rec:
            caps = rec["captions"]
            if isinstance(caps, str):
                caps = [caps]
            if not isinstance(caps, list):
                raise format_error(path, f'line {k + 1}: "captions" is {type(caps).__name__}, expected a list')
        elif "caption" in rec:
            caps = [rec["caption"]]
        else:
            raise format_error(path, f'line {k + 1} has no "caption" or "captions"')
        out.append((k + 1, rec, caps))
    return out


def _name_key(name: str) -> str:
    p = Path(name)
    return p.with_suffix("").as_posix() if p.suffix.lower() in VIDEO_EXTENSIONS else p.as_posix()


def _locate(name: str, roots: list[Path]) -> str | None:
    for root in roots:
        path = root / name
        if path.is_file():
            return str(path.resolve())
        if not Path(name).suffix:
            for ext in VIDEO_EXTENSIONS:
                if (root / f"{name}{ext}").is_file():
                    return str((root / f"{name}{ext}").resolve())
    return None


def _check_clip_identity(clips: dict[tuple, dict[str, Any]], path: Path) -> None:
    """Distinct files keep distinct ids (`a.mp4` and `a.webm` -> ids `a.mp4`, `a.webm`); one clip (file and bounds)
    in two splits is a train/test leak and an error."""
    names_of: dict[str, set[str]] = {}
    for (name, *_), clip in clips.items():
        names_of.setdefault(clip["video_id"], set()).add(name)
    for clip in clips.values():
        if len(names_of[clip["video_id"]]) > 1:
            stem = _name_key(clip["_name"])
            clip["video_id"] = Path(clip["_name"]).as_posix() + clip["video_id"][len(stem) :]
    splits_of: dict[tuple, list[str]] = {}
    for (name, start, end, split) in clips:
        splits_of.setdefault((name, start, end), []).append(split)
    for (name, start, end), splits in splits_of.items():
        if len(splits) > 1:
            bounds = "" if start is None and end is None else f" ({start}-{end} s)"
            raise format_error(path, f"clip {name}{bounds} is in splits {' and '.join(sorted(splits))}; a clip "
                               "belongs to one split")  # fmt: skip


def build_folder(
    data_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    split_protocol: str | None = None,
    split_files: dict[str, str] | None = None,
    strict: bool = False,
    captions_file: str | os.PathLike | None = None,
):
    """Folder of videos + captions CSV/JSONL -> `DatasetDict`. See the module doc."""
    data_dir = check_data_dir(data_dir)
    check_protocol(split_protocol, (None,), "folder")
    check_split_files(split_files, ("train", "val", "validation", "test"), "folder")
    if captions_file is not None:
        path = Path(captions_file)
    else:
        path = next((data_dir / n for n in CAPTION_FILES if (data_dir / n).is_file()), None)
        if path is None:
            raise FileNotFoundError(f"no captions file in {data_dir}: expected {' or '.join(CAPTION_FILES)}")
    report = BuildReport("folder", None, strict)

    records = _records(path)
    has_split = any((rec.get("split") or "") != "" for _, rec, _ in records)
    split_of: dict[str, str] = {}
    train_listed = False
    for split, keys in (("train", ("train",)), ("validation", ("validation", "val")), ("test", ("test",))):
        listed = get_split_file(split_files, *keys)
        if listed is None:
            continue
        if has_split:
            raise ValueError(f"folder: {path.name} has a 'split' column and split files were given; use one")
        train_listed |= split == "train"
        for name in read_id_list(listed):
            split_of[_name_key(name)] = split

    clips: dict[tuple, dict[str, Any]] = {}
    for num, rec, caps in records:
        name = rec.get("file_name") or rec.get("video")
        if not isinstance(name, str) or not name.strip():
            raise format_error(
                path, f'{"row" if path.suffix == ".csv" else "line"} {num} has no "video" or "file_name"'
            )
        name = name.strip()
        where = f"{'row' if path.suffix == '.csv' else 'line'} {num}"
        start = parse_float(rec.get("start"), file=path, field_name="start", where=where)
        end = parse_float(rec.get("end"), file=path, field_name="end", where=where)
        if start is not None and end is not None and end <= start:
            raise format_error(path, f'{where}: "end" ({end}) is not after "start" ({start})')
        key_name = _name_key(name)
        if has_split:
            split = normalize_split(rec.get("split") or "train", file=path, field_name=f'{where}: "split"')
        elif split_files:
            split = split_of.get(key_name) or split_of.get(Path(key_name).name)
            if split is None:
                if train_listed:
                    report.skip("no split (absent from the split files)", "train", key_name, file=path)
                    continue
                split = "train"
        else:
            split = "train"
        key = (name, start, end, split)
        if key not in clips:
            vid = key_name
            if start is not None or end is not None:
                vid += f"_{'' if start is None else f'{start:g}'}_{'' if end is None else f'{end:g}'}"
            clips[key] = {"video_id": vid, "start": start, "end": end, "_name": name, "_split": split, "_caps": []}
        clips[key]["_caps"] += list(caps)
    if not has_split and not split_files:
        report.note(f"{path.name} has no 'split' column: every clip is in 'train'", warn=True)
    _check_clip_identity(clips, path)

    splits: dict[str, list[dict[str, Any]]] = {}
    for clip in clips.values():
        split = clip.pop("_split")
        clip["captions"] = clean_captions(clip.pop("_caps"), clip["video_id"], split, report, file=path)
        add_row(splits.setdefault(split, []), clip, split, report, file=path)

    roots = ([Path(video_dir)] if video_dir is not None else []) + [data_dir]
    splits = attach_videos(splits, report, lambda row: _locate(row["_name"], roots), file=path)
    return assemble(splits, report)
