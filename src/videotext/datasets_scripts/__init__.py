"""Dataset builders: official raw files -> `datasets.DatasetDict` (schema in docs/DESIGN.md, helpers in `common`).

```python
from videotext.datasets_scripts import build_dataset, load_prepared
dd = build_dataset("msrvtt", "/data/msrvtt", split_protocol="1k-A-9k")
dd = load_prepared("prepared_dir_or_synthetic_folder")
```

Builders are imported lazily (this module imports neither `datasets` nor the synthetic generator).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

from .common import DatasetFormatError, get_build_report, split_files_arg

__all__ = [
    "BUILDERS",
    "DatasetFormatError",
    "build_dataset",
    "cli_prepare",
    "get_build_report",
    "load_prepared",
    "push_dataset_to_hub",
]


class _LazyBuilder:
    """A builder function imported on first call: `BUILDERS["msrvtt"](data_dir, ...)`."""

    def __init__(self, target: str):
        self.target = target

    def resolve(self):
        module, func = self.target.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), func)

    def __call__(self, data_dir, **kwargs):
        return self.resolve()(data_dir, **kwargs)

    def __repr__(self) -> str:
        return f"<builder {self.target}>"


BUILDERS: dict[str, _LazyBuilder] = {
    "msrvtt": _LazyBuilder("msrvtt:build_msrvtt"),
    "msvd": _LazyBuilder("msvd:build_msvd"),
    "vatex": _LazyBuilder("vatex:build_vatex"),
    "webvid": _LazyBuilder("webvid:build_webvid"),
    "cc3m": _LazyBuilder("cc3m:build_cc3m"),
    "folder": _LazyBuilder("folder:build_folder"),
    "v2c": _LazyBuilder("v2c:build_v2c"),
    "synthetic": _LazyBuilder("synthetic_builder:build_synthetic"),
    "svad": _LazyBuilder("svad:build_svad"),
    "youku": _LazyBuilder("youku:build_youku"),
    "lsmdc": _LazyBuilder("lsmdc:build_lsmdc"),
    "activitynet": _LazyBuilder("activitynet:build_activitynet"),
}
_ALIASES = {"youku-mplug": "youku", "youku_mplug": "youku", "activitynet-captions": "activitynet", "anet": "activitynet",
            "msr-vtt": "msrvtt", "msr_vtt": "msrvtt", "youtube2text": "msvd", "gcc": "cc3m", "videofolder": "folder"}


def _canonical(name: str) -> str:
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in BUILDERS:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(BUILDERS)}")
    return key


def build_dataset(
    name: str,
    data_dir: str | os.PathLike,
    *,
    video_dir: str | os.PathLike | None = None,
    split_protocol: str | None = None,
    split_files: dict[str, str] | None = None,
    strict: bool = False,
    allow_pickle: bool = False,
    expert_features_dir: str | os.PathLike | None = None,
    **kwargs: Any,
):
    """Build dataset `name` (see `BUILDERS`) from its raw files -> `datasets.DatasetDict`.

    Missing videos and empty captions are skipped, counted and logged (`get_build_report(dd)`); `strict=True`
    raises `DatasetFormatError` instead. Unreadable files/fields always raise `DatasetFormatError`. Pickle files of
    the public releases are read as plain data only unless `allow_pickle` (full unpickling can run code).
    `expert_features_dir` (MMT's `mult_h5` folder) adds the `expert_features_path` column (TransDCS).
    """
    from .common import pickle_files_allowed

    with pickle_files_allowed(allow_pickle):
        dd = BUILDERS[_canonical(name)](
            data_dir, video_dir=video_dir, split_protocol=split_protocol, split_files=split_files, strict=strict,
            **kwargs,
        )  # fmt: skip
    return attach_expert_features(dd, expert_features_dir) if expert_features_dir is not None else dd


def mmt_h5_path(root: str | os.PathLike, video_id: str) -> Path:
    """MMT's sharded per-video HDF5 file: `root/{v[0]}/{v[1]}/{v[2]}/{v}.h5` (`vid_feat_files/mult_h5`)."""
    return Path(root).joinpath(*video_id[:3], f"{video_id}.h5")


def attach_expert_features(dd, expert_features_dir: str | os.PathLike):
    """Add the `expert_features_path` column (TransDCS): each clip's MMT HDF5 file under `expert_features_dir`, or
    None when it has none (counted and logged; the processor then treats every expert as missing)."""
    from .common import logger

    root = Path(expert_features_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"--expert-features-dir {root} is not a folder")
    out = {}
    for split, ds in dd.items():
        paths = [mmt_h5_path(root, vid) for vid in ds["video_id"]]
        paths = [str(p.resolve()) if p.is_file() else None for p in paths]
        missing = sum(p is None for p in paths)
        if missing:
            logger.warning("%s: %d of %d clips have no expert feature file under %s", split, missing, len(paths), root)
        if "expert_features_path" in ds.column_names:
            ds = ds.remove_columns("expert_features_path")
        out[split] = ds.add_column("expert_features_path", paths)
    return type(dd)(out)


def load_prepared(path: str | os.PathLike, *, check_paths: bool = True):
    """A `DatasetDict` from a folder written by `videotext prepare` (`save_to_disk`), or built on the fly from a raw
    synthetic benchmark folder (`videotext synth`, detected by its `synthetic_annotations.json`).

    With `check_paths`, a warning is logged when the first `video_path` of a split does not exist (a prepared dataset
    stores absolute paths: moving the raw videos breaks it; re-run `videotext prepare`)."""
    import datasets

    folder = Path(path)
    if not folder.exists():
        raise FileNotFoundError(f"dataset {folder} does not exist")
    if (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file():
        dd = datasets.load_from_disk(str(folder))
        if isinstance(dd, datasets.Dataset):
            dd = datasets.DatasetDict({str(dd.split or "train"): dd})
    elif (folder / "synthetic_annotations.json").is_file():
        dd = build_dataset("synthetic", folder)
    else:
        raise FileNotFoundError(
            f"{folder} is neither a prepared dataset (no dataset_dict.json: run `videotext prepare DATASET "
            f"--data-dir RAW --out {folder}`) nor a synthetic benchmark folder (no synthetic_annotations.json: "
            "run `videotext synth --out DIR`)"
        )
    if check_paths:
        from .common import logger

        for split, ds in dd.items():
            if "video_path" in ds.column_names and len(ds) and not os.path.exists(ds[0]["video_path"]):
                logger.warning(
                    "%s: split %s: video %s does not exist (videos moved? re-run `videotext prepare`)",
                    folder,
                    split,
                    ds[0]["video_path"],
                )
    return dd


def push_dataset_to_hub(
    dd, repo_id: str, *, upload_videos: bool = True, private: bool | None = None, batch: int = 2000
):
    """Publish a built `DatasetDict` to the Hub dataset repo `repo_id`.

    What is published: the rows as parquet (`DatasetDict.push_to_hub`), with `video_path` rewritten relative to the
    repo (`videos/<path relative to the videos' common folder>`), and — with `upload_videos` — the referenced video
    files themselves under `videos/` (commits of `batch` files). Videos stay files (no `Video` feature: it needs
    torchcodec); a consumer downloads the repo (`huggingface_hub.snapshot_download(repo_id, repo_type="dataset")`)
    and joins `video_path` to the snapshot folder. Without `upload_videos` only the parquet rows are published and
    their `video_path`s point to files the consumer must obtain from the original source."""
    from huggingface_hub import CommitOperationAdd, HfApi

    paths = sorted({p for ds in dd.values() for p in ds["video_path"]})
    if not paths:
        raise ValueError("nothing to publish: the dataset has no rows")
    root = os.path.commonpath([os.path.dirname(p) for p in paths])

    def relative(example):
        example["video_path"] = "videos/" + Path(os.path.relpath(example["video_path"], root)).as_posix()
        return example

    published = dd.map(relative, desc="relative video paths")
    published.push_to_hub(repo_id, private=private)
    if upload_videos:
        api = HfApi()
        for i in range(0, len(paths), batch):
            chunk = paths[i : i + batch]
            ops = [
                CommitOperationAdd(
                    path_in_repo="videos/" + Path(os.path.relpath(p, root)).as_posix(), path_or_fileobj=p
                )
                for p in chunk
            ]
            api.create_commit(
                repo_id=repo_id,
                repo_type="dataset",
                operations=ops,
                commit_message=f"videos {i + 1}-{i + len(chunk)} of {len(paths)}",
            )
    return published


def cli_prepare(args) -> int:
    """`videotext prepare DATASET --data-dir RAW --out DIR [--split-protocol P] [--split-file NAME=PATH ...]
    [--video-dir V] [--push-to-hub REPO]`."""
    from .common import format_report

    try:
        dd = build_dataset(
            args.dataset,
            args.data_dir,
            video_dir=args.video_dir,
            split_protocol=args.split_protocol,
            split_files=split_files_arg(args.split_file) or None,
            allow_pickle=getattr(args, "allow_pickle", False),
            **({"expert_features_dir": args.expert_features_dir} if getattr(args, "expert_features_dir", None) else {}),
        )
    except (DatasetFormatError, FileNotFoundError, ValueError) as e:
        print(f"videotext prepare {args.dataset}: error: {e}", file=sys.stderr)
        return 1
    for split, ds in dd.items():
        num_captions = sum(len(c) for c in ds["captions"])
        print(f"{split}: {len(ds)} clips, {num_captions} captions")
    report = get_build_report(dd) or {}
    lines = format_report(report)
    print("\n".join(lines) if lines else "skipped 0 clips")
    dd.save_to_disk(args.out)
    print(f"saved to {args.out} (load with datasets.load_from_disk or videotext.datasets_scripts.load_prepared)")
    if args.push_to_hub:
        from videotext.hub_cards import hub_error_message, push_dataset_card
        from videotext.hub_cards.export import hub_errors

        try:  # the card (schema, source, licence, counts, skipped clips), then the rows and the videos
            push_dataset_card(dd, args.push_to_hub, builder=report.get("builder") or _canonical(args.dataset))
        except hub_errors() as e:
            print(
                f"videotext prepare {args.dataset}: error: publishing {args.push_to_hub} failed: "
                f"{hub_error_message(e)} (the dataset is saved in {args.out})",
                file=sys.stderr,
            )
            return 1
        print(f"published {args.push_to_hub}: card, parquet rows + videos/ (video_path relative to the repo)")
    return 0
