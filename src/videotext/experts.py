"""Expert features for TransDCS-style models: extraction from raw video, feature-file readers, the dataset step.

- `extract_experts(rows, out_dir, experts, num_frames)`: one safetensors file per clip (`{expert name: (T, D)}`,
  missing experts left out) plus `manifest.json`; resumable (existing files are kept), progress bar, videos that
  fail to decode are counted and listed in the manifest. `videotext extract-experts` is the command.
- Readers: safetensors files of the above, MMT's per-video HDF5 files (`features.<expert>` datasets, a missing expert
  is an empty array or a NaN first value; needs h5py), and CE's per-expert pickles (`video_id -> array` dicts; a
  pickle can execute code when loaded, so only with an explicit `allow_pickle=True`).
- `load_expert_input(row, load_frames)`: the training table's input loader: the clip's `expert_features_path` when
  the dataset has it, else the video file itself (the processor extracts the experts).
- `prepare_expert_dataset(dataset, recipe)`: the training table's data step: extracts every split's experts into a
  cache folder once and adds the `expert_features_path` column.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "apply_extractor_flags",
    "extract_experts",
    "load_expert_input",
    "parse_extractor_flag",
    "prepare_expert_dataset",
    "read_ce_pickle",
    "read_expert_file",
    "read_expert_specs",
    "read_mmt_h5",
]


# ---------------------------------------------------------------------------------------------------- readers
def read_mmt_h5(path: str | os.PathLike, experts: Sequence[str] | None = None) -> dict[str, np.ndarray | None]:
    """MMT's per-video HDF5 file -> `{expert: (T, D) float32 or None}` (None: MMT's missing-expert signals, an
    empty array or a NaN first value). `experts` limits the names read (default: every `features.<name>`)."""
    try:
        import h5py
    except ImportError as err:
        raise ImportError(f"reading {path} needs h5py (`pip install h5py`)") from err
    out: dict[str, np.ndarray | None] = {}
    try:
        with h5py.File(path, "r") as f:
            names = experts or sorted(k.split(".", 1)[1] for k in f.keys() if k.startswith("features."))
            for name in names:
                key = f"features.{name}"
                if key not in f:
                    out[name] = None
                    continue
                value = np.asarray(f[key][()], dtype=np.float32)
                if value.ndim == 1:
                    value = value[None]
                out[name] = None if value.size == 0 or not np.isfinite(value.reshape(-1)[0]) else value
    except OSError as err:
        raise ValueError(f"cannot read MMT feature file {path}: {err}") from err
    return out


def read_ce_pickle(path: str | os.PathLike, allow_pickle: bool = False) -> dict[str, np.ndarray]:
    """One CE per-expert pickle (`video_id -> array`). Loading a pickle can execute arbitrary code: refused unless
    `allow_pickle=True` (only for files you trust)."""
    if not allow_pickle:
        raise ValueError(f"{path} is a pickle, which can execute code when loaded; pass allow_pickle=True "
                         "(--allow-pickle) only for files you trust")  # fmt: skip
    import pickle

    with open(path, "rb") as f:
        data = pickle.load(f)  # noqa: S301  (explicit opt-in above)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a dict video_id -> features, got {type(data).__name__}")
    return {str(k): np.asarray(v, dtype=np.float32) for k, v in data.items()}


def read_expert_file(path: str | os.PathLike) -> dict[str, np.ndarray | None]:
    """A clip's expert features from a `.safetensors` (videotext) or `.h5` / `.hdf5` (MMT) file."""
    path = str(path)
    if path.endswith(".safetensors"):
        from safetensors.numpy import load_file

        try:
            return dict(load_file(path))
        except Exception as err:  # safetensors raises its own error types
            raise ValueError(f"cannot read expert feature file {path}: {err}") from err
    if path.endswith((".h5", ".hdf5")):
        return read_mmt_h5(path)
    raise ValueError(f"expert feature file {path}: expected .safetensors, .h5 or .hdf5")


def load_expert_input(row: dict, load_frames) -> dict[str, Any]:
    """Input loader of the training table: precomputed experts when the row names a file, else the video file and
    its clip bounds (the processor extracts the experts; `load_frames` is unused: experts need the file's audio)."""
    path = row.get("expert_features_path")
    if path:
        return {"expert_features": read_expert_file(path)}
    return {"videos": row["video_path"], "clip_bounds": (row.get("start"), row.get("end"))}


# ------------------------------------------------------------------------------------------------- extraction
def _clip_file_name(row: dict) -> str:
    key = json.dumps([str(Path(row["video_path"]).resolve()), row.get("start"), row.get("end")])
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(row.get("video_id") or "clip"))[:80]
    return f"{stem}-{hashlib.sha1(key.encode()).hexdigest()[:10]}.safetensors"


def extractor_key(experts: Sequence[dict], num_frames: int, weights: dict | None = None) -> str:
    """Short hash of an extractor configuration (the cache folder of its features); `weights` are the backbone
    experts' weights hashes (a local backbone folder retrained in place gets a new folder)."""
    blob = {"experts": list(experts), "num_frames": int(num_frames), "version": 2}
    if weights:
        blob["weights"] = weights
    blob = json.dumps(blob, sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:12]


def _extract_one(job) -> tuple[str, str | None]:
    """Worker: compute one clip's experts into its file; (file name, error message or None)."""
    processor, row, target = job
    try:
        features = processor.extract(row["video_path"], row.get("start"), row.get("end"))
    except (ValueError, OSError) as err:
        return target.name, str(err).splitlines()[0][:300]
    from safetensors.numpy import save_file

    tmp = target.with_suffix(".tmp")
    save_file({k: np.ascontiguousarray(v) for k, v in features.items() if v is not None}, str(tmp))
    tmp.rename(target)  # atomic: an interrupted run never leaves a half-written file
    return target.name, None


def extract_experts(rows: Sequence[dict], out_dir: str | os.PathLike, experts: Sequence[dict] | None = None,
                    num_frames: int = 16, progress: bool = True, desc: str = "extracting experts",
                    workers: int | None = None) -> dict:  # fmt: skip
    """Compute the experts of every clip (`video_path`, optional `start` / `end`, `video_id`) into `out_dir`, in
    `workers` processes (default: every core; 1 = this process).

    Returns the manifest (also written to `out_dir/manifest.json`): the extractor settings, one entry per clip with
    its file (None when it failed), and `failed` (clips whose video could not be decoded, with the reason)."""
    from tqdm.auto import tqdm

    from videotext.modeling.transdcs import TransDcsVideoProcessor

    processor = TransDcsVideoProcessor(experts=list(experts) if experts else None, num_frames=num_frames)
    weights = processor.backbone_weights()  # loads the backbones (once per process): their hashes go in the manifest
    out = Path(out_dir)
    previous = out / "manifest.json"
    if previous.is_file():  # resume only with the same extractors: other settings would mix two feature kinds
        old = json.loads(previous.read_text())
        before = {"experts": old.get("experts"), "num_frames": old.get("num_frames"),
                  "backbone weights": old.get("weights") or {}}  # fmt: skip
        now = {"experts": processor.experts, "num_frames": num_frames, "backbone weights": weights}
        differ = [k for k in now if before[k] != now[k]]
        if differ:
            raise ValueError(f"{out} holds experts extracted with other {' and '.join(differ)}; use a new --out "
                             "(or delete the folder) to extract with these settings")  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    targets = [out / _clip_file_name(row) for row in rows]
    todo = [(processor, row, target) for row, target in zip(rows, targets) if not target.exists()]
    errors: dict[str, str] = {}
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo) // 50 + 1))
    if weights:
        workers = 1  # a backbone runs its own threads / GPU; forked copies would each hold the model
    bar = tqdm(total=len(todo), desc=desc, unit="clip", disable=not progress)
    if workers == 1:
        results = map(_extract_one, todo)
    else:
        import multiprocessing as mp

        # fork: workers need no re-import of the caller (a script without a __main__ guard works); numpy-only work
        pool = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn").Pool(workers)
        results = pool.imap_unordered(_extract_one, todo, chunksize=16)
    for name, error in results:
        if error is not None:
            errors[name] = error
        bar.update(1)
    bar.close()
    if workers > 1:
        pool.close()
        pool.join()
    entries, failed = [], []
    for row, target in zip(rows, targets):
        entry = {"video_id": row.get("video_id"), "video_path": row["video_path"], "start": row.get("start"),
                 "end": row.get("end"), "file": target.name}  # fmt: skip
        if target.name in errors or not target.exists():
            failed.append({**entry, "file": None, "error": errors.get(target.name, "not written")})
            entry = {**entry, "file": None}
        entries.append(entry)
    manifest = {"experts": processor.experts, "num_frames": num_frames, "weights": weights, "num_clips": len(entries),
                "num_computed": len(todo) - len(errors), "num_failed": len(failed), "clips": entries,
                "failed": failed}  # fmt: skip
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out / "manifest.json")
    return manifest


def _processor_settings(recipe: dict) -> tuple[list[dict] | None, int]:
    proc = recipe.get("processor") or {}
    return proc.get("experts"), int(proc.get("num_frames") or recipe["data"]["num_frames"])


def prepare_expert_dataset(dataset, recipe: dict, progress: bool = True):
    """Data step of the training table: every split without an `expert_features_path` column gets one, its experts
    extracted once into `$VIDEOTEXT_CACHE/experts/<extractor hash>/` (a rerun reuses the files). Clips whose
    video fails to decode are dropped from the split and reported."""
    import datasets

    from videotext.modeling.transdcs import TransDcsVideoProcessor

    experts, num_frames = _processor_settings(recipe)
    if any(spec.get("kind") == "precomputed" for spec in experts or []):
        return dataset  # precomputed experts come with the dataset (expert_features_path)
    processor = TransDcsVideoProcessor(experts=experts, num_frames=num_frames)
    specs = processor.experts
    root = Path(os.environ.get("VIDEOTEXT_CACHE", "~/.cache/videotext")).expanduser()
    cache = root / "experts" / extractor_key(specs, num_frames, processor.backbone_weights())
    out = {}
    for name, split in dataset.items():
        if "expert_features_path" in split.column_names and all(split["expert_features_path"]):
            out[name] = split
            continue
        rows = [{k: split[i].get(k) for k in ("video_id", "video_path", "start", "end")} for i in range(len(split))]
        manifest = extract_experts(rows, cache, specs, num_frames, progress=progress, desc=f"experts ({name})")
        if manifest["num_failed"]:
            print(f"warning: {manifest['num_failed']} clips of split {name!r} failed to decode and are skipped "
                  f"(first: {manifest['failed'][0]['video_path']}: {manifest['failed'][0]['error']})")  # fmt: skip
        paths = [str(cache / e["file"]) if e["file"] else None for e in manifest["clips"]]
        if "expert_features_path" in split.column_names:
            split = split.remove_columns("expert_features_path")
        split = split.add_column("expert_features_path", paths)
        keep = [i for i, p in enumerate(paths) if p]
        out[name] = split.select(keep) if len(keep) < len(paths) else split
    return datasets.DatasetDict(out)


# ---------------------------------------------------------------------------------------------------- command
def _rows_for(source: str, split: str) -> list[dict]:
    from videotext.inference import VIDEO_EXTENSIONS

    path = Path(source)
    if path.is_dir() and not (path / "dataset_dict.json").exists() and not (path / "synthetic_annotations.json").exists():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
        if not files:
            raise SystemExit(f"videotext extract-experts: no video files ({', '.join(VIDEO_EXTENSIONS)}) under {source}")
        return [{"video_id": p.stem, "video_path": str(p.resolve()), "start": None, "end": None} for p in files]
    from videotext.datasets_scripts import load_prepared

    dataset = load_prepared(source)
    splits = list(dataset) if split == "all" else [split]
    missing = [s for s in splits if s not in dataset]
    if missing:
        raise SystemExit(f"videotext extract-experts: split {missing[0]!r} not in {source} (has {list(dataset)})")
    return [{"video_id": r["video_id"], "video_path": r["video_path"], "start": r.get("start"), "end": r.get("end")}
            for s in splits for r in dataset[s]]  # fmt: skip


def convert_ce_pickles(rows: Sequence[dict], pickles: dict[str, str], out_dir, allow_pickle: bool = False) -> dict:
    """CE's per-expert pickles (`{expert name: path}`, each `video_id -> array`) -> one safetensors per clip in
    `out_dir` (the `extract_experts` layout and manifest); clips absent from a pickle miss that expert."""
    from safetensors.numpy import save_file

    tables = {name: read_ce_pickle(path, allow_pickle=allow_pickle) for name, path in pickles.items()}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for row in rows:
        target = out / _clip_file_name(row)
        found = {n: t[row["video_id"]] for n, t in tables.items() if row.get("video_id") in t}
        found = {n: np.ascontiguousarray(v[None] if v.ndim == 1 else v) for n, v in found.items()}
        save_file(found, str(target))
        entries.append({"video_id": row.get("video_id"), "video_path": row["video_path"], "start": row.get("start"),
                        "end": row.get("end"), "file": target.name, "experts": sorted(found)})  # fmt: skip
    manifest = {"source": {n: str(p) for n, p in pickles.items()}, "num_clips": len(entries), "num_computed":
                len(entries), "num_failed": 0, "clips": entries, "failed": []}  # fmt: skip
    tmp = out / ".manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1))
    os.replace(tmp, out / "manifest.json")
    return manifest


def read_expert_specs(source: str) -> list[dict]:
    """Expert specs from JSON text, a JSON / YAML file holding a list of specs or `{experts: [...]}`, or a recipe
    (a file or a shipped recipe's name: its `processor.experts`)."""
    import yaml

    from videotext.training.recipes import list_recipes

    path = Path(source)
    if not path.is_file() and source.removesuffix(".yaml") in list_recipes():
        from videotext.training.recipes import find_recipe

        path = find_recipe(source)
    try:
        data = yaml.safe_load(path.read_text()) if path.is_file() else json.loads(source)
    except (yaml.YAMLError, json.JSONDecodeError) as err:
        raise SystemExit(f"videotext extract-experts: --experts {source}: not a JSON / YAML list of expert specs "
                         f"({str(err).splitlines()[0]})") from err  # fmt: skip
    if isinstance(data, dict):
        data = (data.get("processor") or {}).get("experts") if "processor" in data else data.get("experts")
    if not isinstance(data, list) or not all(isinstance(spec, dict) for spec in data):
        raise SystemExit(f"videotext extract-experts: --experts {source}: expected a list of expert specs "
                         "(dicts with name and kind), a {experts: [...]} mapping or a recipe with processor.experts")
    return data


def parse_extractor_flag(item: str) -> dict:
    """`NAME=SOURCE[,key=value...]` -> a backbone expert spec (`kind` defaults to NAME when NAME is a kind; values
    are YAML scalars, so `num_clips=4` is an int). `NAME=weight-free` is the built-in weight-free expert of that
    kind."""
    import yaml

    from videotext.modeling.transdcs.expert_extraction_transdcs import EXPERT_KINDS, WEIGHT_FREE_EXPERTS

    name, sep, rest = item.partition("=")
    source, *options = rest.split(",")
    if not sep or not name or not source:
        raise SystemExit(f"videotext extract-experts: --extractor {item!r}: expected NAME=MODEL_ID_OR_FOLDER[,key=value]")
    spec: dict = {"name": name}
    for option in options:
        key, eq, value = option.partition("=")
        if not eq or not key:
            raise SystemExit(f"videotext extract-experts: --extractor {item!r}: option {option!r} is not key=value")
        spec[key] = yaml.safe_load(value)
    spec.setdefault("kind", name if name in EXPERT_KINDS else None)
    if spec["kind"] is None:
        raise SystemExit(f"videotext extract-experts: --extractor {item!r}: {name!r} is not a kind "
                         f"({', '.join(EXPERT_KINDS[:4])}); add kind=...")  # fmt: skip
    if source == "weight-free":
        base = next((dict(e) for e in WEIGHT_FREE_EXPERTS if e["kind"] == spec["kind"]), None)
        if base is None:
            raise SystemExit(f"videotext extract-experts: --extractor {item!r}: no weight-free {spec['kind']} expert")
        return {**base, **spec}
    return {**spec, "backbone": source}


def apply_extractor_flags(experts: list[dict] | None, flags: Sequence[str]) -> list[dict]:
    """`--extractor` flags over a list of specs (default: the weight-free experts): a flag replaces the expert of
    its name in place, or is appended."""
    from videotext.modeling.transdcs.expert_extraction_transdcs import WEIGHT_FREE_EXPERTS

    out = [dict(e) for e in (experts if experts is not None else WEIGHT_FREE_EXPERTS)]
    for item in flags:
        spec = parse_extractor_flag(item)
        names = [e["name"] for e in out]
        if spec["name"] in names:
            out[names.index(spec["name"])] = spec
        else:
            out.append(spec)
    return out


def cli_extract_experts(args) -> int:
    if args.ce_pickle:
        if not args.allow_pickle:
            raise SystemExit("videotext extract-experts: --ce-pickle reads pickle files, which can execute code when "
                             "loaded; add --allow-pickle only for files you trust")  # fmt: skip
        pickles = dict(item.split("=", 1) for item in args.ce_pickle)
        manifest = convert_ce_pickles(_rows_for(args.videos, args.split), pickles, args.out, allow_pickle=True)
        print(f"extract-experts: {manifest['num_clips']} clips from CE pickles {sorted(pickles)} -> {args.out}")
        return 0
    experts = None
    num_frames = args.num_frames
    if args.model:  # the extractors a trained model was trained with (its processor config)
        from transformers import AutoProcessor

        video_processor = AutoProcessor.from_pretrained(args.model).video_processor
        experts, num_frames = video_processor.experts, num_frames or video_processor.num_frames
    elif args.experts:
        experts = read_expert_specs(args.experts)
    if getattr(args, "extractor", None):
        experts = apply_extractor_flags(experts, args.extractor)
    rows = _rows_for(args.videos, args.split)
    manifest = extract_experts(rows, args.out, experts, num_frames or 16)
    print(f"extract-experts: {manifest['num_clips']} clips, {manifest['num_computed']} computed, "
          f"{manifest['num_clips'] - manifest['num_computed'] - manifest['num_failed']} already there, "
          f"{manifest['num_failed']} failed -> {args.out}/manifest.json")  # fmt: skip
    for bad in manifest["failed"][:10]:
        print(f"  failed: {bad['video_path']}: {bad['error']}")
    return 1 if manifest["num_failed"] else 0
