"""Builder for the synthetic benchmark written by `videotext synth` (layout in docs/DESIGN.md).

It is the MSR-VTT builder (official JSON files, `TrainValVideo/` and `TestVideo/`; any MSR-VTT split protocol,
default `full`) plus the side annotations of `synthetic_annotations.json`:

* `"sentences": {"<sen_id>": {"nouns": [...], "verbs": [...]}}` -> `nouns` / `verbs` columns, one list per caption
  in the same order as `captions`;
* `"videos": {"videoN": {"description", "keywords", "intention", "effect", "attribute"[, "data_source"]}}` ->
  the columns of the same names;
* `data_source` (`primary` / `auxiliary`) from `svad_annotations.jsonl` (`clip_id` -> `data_source`) or from a
  `"data_source"` key of the `"videos"` entries, when either is present.

A caption whose sentence id is absent from `"sentences"`, or a video absent from `"videos"`, is a
`DatasetFormatError` naming `synthetic_annotations.json` and the id: the generator writes both for every clip.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .common import assemble, check_data_dir, format_error, read_json, read_jsonl
from .msrvtt import load_msrvtt_rows

ANNOTATIONS_FILE = "synthetic_annotations.json"
SVAD_FILE = "svad_annotations.jsonl"
VIDEO_FIELDS = {"description": str, "keywords": list, "intention": list, "effect": list, "attribute": list}


def _string_list(value: Any, path: Path, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise format_error(path, f"{where} is not a list of strings")
    return list(value)


def build_synthetic(
    data_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    split_protocol: str | None = None,
    split_files: dict[str, str] | None = None,
    strict: bool = False,
):
    """Synthetic benchmark folder -> `DatasetDict` with the MSR-VTT columns plus nouns/verbs/description/keywords/
    intention/effect/attribute."""
    data_dir = check_data_dir(data_dir)
    path = data_dir / ANNOTATIONS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{data_dir} has no {ANNOTATIONS_FILE}: not a synthetic benchmark folder (videotext synth)"
        )
    splits, report, _ = load_msrvtt_rows(
        data_dir,
        video_dir=video_dir,
        split_protocol=split_protocol,
        split_files=split_files,
        strict=strict,
        builder="synthetic",
    )
    ann = read_json(path)
    if not isinstance(ann, dict):
        raise format_error(path, 'top level is not an object with "sentences" and "videos"')
    sentences, videos = ann.get("sentences"), ann.get("videos")
    if not isinstance(sentences, dict):
        raise format_error(path, 'has no "sentences" object')
    if not isinstance(videos, dict):
        raise format_error(path, 'has no "videos" object')
    sources: dict[str, str] = {}
    svad_path = data_dir / SVAD_FILE
    if svad_path.is_file():
        for k, rec in enumerate(read_jsonl(svad_path)):
            if "clip_id" not in rec or "data_source" not in rec:
                raise format_error(svad_path, f'line {k + 1} has no "clip_id" or "data_source"')
            sources[str(rec["clip_id"])] = rec["data_source"]
    for vid, video in videos.items():
        if isinstance(video, dict) and "data_source" in video:
            sources[vid] = video["data_source"]
    has_source = bool(sources)

    for rows in splits.values():
        for row in rows:
            vid = row["video_id"]
            nouns, verbs = [], []
            for sen_id in row.pop("_sen_ids"):
                entry = sentences.get(str(sen_id)) if sen_id is not None else None
                if not isinstance(entry, dict):
                    raise format_error(path, f'"sentences" has no entry for sentence {sen_id} of {vid}')
                for key, out in (("nouns", nouns), ("verbs", verbs)):
                    if key not in entry:
                        raise format_error(path, f'sentence {sen_id} has no "{key}"')
                    out.append(_string_list(entry[key], path, f'sentence {sen_id} "{key}"'))
            row["nouns"], row["verbs"] = nouns, verbs
            video = videos.get(vid)
            if not isinstance(video, dict):
                raise format_error(path, f'"videos" has no entry for {vid}')
            for key, kind in VIDEO_FIELDS.items():
                if key not in video:
                    raise format_error(path, f'video {vid} has no "{key}"')
                if kind is str:
                    if not isinstance(video[key], str):
                        raise format_error(path, f'video {vid} "{key}" is not a string')
                    row[key] = video[key]
                else:
                    row[key] = _string_list(video[key], path, f'video {vid} "{key}"')
            if has_source:
                if vid not in sources:
                    raise format_error(svad_path, f'no "data_source" for {vid}')
                row["data_source"] = sources[vid]
    extra = ["nouns", "verbs", *VIDEO_FIELDS] + (["data_source"] if has_source else [])
    return assemble(splits, report, extra_columns=extra)
