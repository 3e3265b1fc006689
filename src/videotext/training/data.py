"""Training data: a torch Dataset over a `DatasetDict` split, a frame cache, the sampler and one collator.

- Training draws ONE random caption per clip per visit (and its nouns/verbs when the dataset has them) and
  samples frames at random inside equal segments of the clip (TSN-style, `sampling="random"`); evaluation
  uses the segment centres (`sampling="uniform"`) and the first caption.
- Randomness comes from `numpy.random.default_rng([seed, epoch, index])`: the same clip gets the same frames
  and caption in the same epoch, whatever the worker or the process, so a resumed run sees the batches the
  interrupted one would have seen.
- Decoding an mp4 at every step dominates a CPU step. With `data.cache_frames: true` every clip is decoded
  once (`cache_frames_per_clip` segment-centre frames, default 4 x num_frames) and kept in memory as uint8;
  training then samples random-in-segment frames of the cached ones and evaluation takes their uniform
  subset. Meant for small sets (a 32 px, 32-frame clip is ~100 KB).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "FrameCache",
    "FrameLoader",
    "SourceWeightedSampler",
    "VideoTextCollator",
    "VideoTextDataset",
    "build_collator",
    "build_train_dataloader",
    "load_dataset_for_recipe",
    "synthetic_cache_dir",
    "with_targets",
]


# ------------------------------------------------------------------------------------------- dataset source
def synthetic_cache_dir(num_videos: int, seed: int, size: int, num_frames: int, fps: int) -> Path:
    """`$VIDEOTEXT_CACHE` (default `~/.cache/videotext`) / `synthetic-<n>-<seed>-<size>px-<frames>f-<fps>fps`."""
    root = Path(os.environ.get("VIDEOTEXT_CACHE", "~/.cache/videotext")).expanduser()
    return root / f"synthetic-{int(num_videos)}-{int(seed)}-{int(size)}px-{int(num_frames)}f-{int(fps)}fps"


def ensure_synthetic(synthetic: dict, workers: int | None = None, progress: bool = True) -> Path:
    """Generate the synthetic set into the cache folder unless it is there; return the folder."""
    n, seed, size = int(synthetic.get("num_videos", 120)), int(synthetic.get("seed", 0)), int(synthetic.get("size", 32))
    num_frames, fps = int(synthetic.get("num_frames", 16)), int(synthetic.get("fps", 8))
    target = synthetic_cache_dir(n, seed, size, num_frames, fps)
    if (target / "stats.json").is_file():
        return target
    from videotext.datasets_scripts.synthetic import generate_synthetic

    target.parent.mkdir(parents=True, exist_ok=True)
    # write into a sibling temp folder and rename, so an interrupted run never leaves a half set behind
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        generate_synthetic(
            tmp,
            num_videos=n,
            seed=seed,
            size=size,
            num_frames=num_frames,
            fps=fps,
            workers=workers if workers is not None else synthetic.get("workers"),  # None: every core
            progress=progress,
        )
        try:
            tmp.rename(target)
        except OSError:  # another process won the race
            if not (target / "stats.json").is_file():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_dataset_for_recipe(data_cfg: dict, progress: bool = True):
    """`DatasetDict` of a recipe's `data:` section (`path`, or the cached synthetic set when `path` is null)."""
    from videotext.datasets_scripts import load_prepared

    path = data_cfg.get("path")
    if isinstance(path, (list, tuple)):
        return _concatenate([load_dataset_for_recipe({**data_cfg, "path": p}, progress) for p in path])
    if path in (None, "", "synthetic"):
        path = ensure_synthetic(data_cfg.get("synthetic") or {}, progress=progress)
    path = Path(str(path)).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"data.path {path} does not exist (set it with --set data.path=DIR)")
    return load_prepared(str(path))


def _concatenate(dicts):
    """Several DatasetDicts (e.g. WebVid + CC3M, SVAD + Youku-mPLUG) -> one, split by split. A column some parts lack
    (`description`, `keywords`, `nouns`, ...) is kept, empty (null) in the parts without it."""
    import datasets

    out = {}
    for split in sorted(set().union(*(d.keys() for d in dicts))):
        parts = [d[split] for d in dicts if split in d]
        features = {}
        for part in parts:
            for name, feature in part.features.items():
                features.setdefault(name, feature)
        filled = []
        for part in parts:
            for name in features:
                if name not in part.column_names:
                    part = part.add_column(name, [None] * len(part), feature=features[name])
            filled.append(part.select_columns(list(features)))
        out[split] = datasets.concatenate_datasets(filled) if len(filled) > 1 else filled[0]
    return datasets.DatasetDict(out)


# ------------------------------------------------------------------------------------------------ targets
TARGETS = ("captions", "description", "description+captions")


def with_targets(split, targets: str = "captions"):
    """The clips of `split` with the texts a model learns or is scored on (`data.targets`):

    - "captions": the split as it is;
    - "description": one row per clip with a non-empty `description`, `captions = [description]`,
      `data_source = "primary"`;
    - "description+captions": those rows, then every clip again with its short captions as `auxiliary` rows (SVAD-VLM's
      mixed training: fine-grained descriptions as primary data, captions as auxiliary data; `data.source_weights`
      sets the mix).

    The per-caption `nouns` / `verbs` columns are dropped from a rewritten split (they describe the captions only).
    """
    import datasets

    if targets not in TARGETS:
        raise ValueError(f"data.targets must be one of {TARGETS}, got {targets!r}")
    if targets == "captions":
        return split
    if "description" not in split.column_names:
        raise ValueError(f"data.targets={targets!r} needs a `description` column (columns: {split.column_names})")
    from .methods import PER_CAPTION_COLUMNS

    split = split.remove_columns([c for c in PER_CAPTION_COLUMNS if c in split.column_names])
    described = split.filter(lambda row: bool(row["description"] and row["description"].strip()))
    if len(described) == 0:
        raise ValueError("data.targets: no clip has a non-empty description")

    def retarget(batch, as_description: bool):
        size = len(batch["captions"])
        if as_description:
            batch["captions"] = [[d.strip()] for d in batch["description"]]
        batch["data_source"] = ["primary" if as_description else "auxiliary"] * size
        return batch

    primary = described.map(retarget, batched=True, fn_kwargs={"as_description": True})
    if targets == "description":
        return primary
    return datasets.concatenate_datasets([primary, split.map(retarget, batched=True, fn_kwargs={"as_description": False})])


# ------------------------------------------------------------------------------------------------- frames
FrameLoader = Callable[[dict], np.ndarray]


def _clip_key(row: dict) -> tuple:
    return (row["video_path"], row.get("start"), row.get("end"))


class FrameCache:
    """Decoded uint8 frames per clip (`(path, start, end)` key), decoded on first use or all at once."""

    def __init__(self, frames_per_clip: int, size: int | None = None):
        self.frames_per_clip = int(frames_per_clip)
        self.size = size
        self._store: dict[tuple, np.ndarray] = {}
        self.failures: dict[tuple, str] = {}  # clips that could not be decoded -> the error (not retried)

    def __len__(self) -> int:
        return len(self._store)

    def nbytes(self) -> int:
        return int(sum(a.nbytes for a in self._store.values()))

    def get(self, row: dict) -> np.ndarray:
        from videotext.processing import VideoDecodeError, load_video

        key = _clip_key(row)
        if key in self.failures:
            raise VideoDecodeError(self.failures[key])
        frames = self._store.get(key)
        if frames is None:
            try:
                frames = load_video(
                    row["video_path"],
                    num_frames=self.frames_per_clip,
                    sampling="uniform",
                    start=row.get("start"),
                    end=row.get("end"),
                    size=self.size,
                ).frames
            except VideoDecodeError as err:
                self.failures[key] = str(err)
                raise
            self._store[key] = frames
        return frames

    def fill(self, rows, desc: str = "decoding frames", progress: bool = True) -> None:
        """Decode every clip now; clips that cannot be decoded are remembered in `failures` (the dataset's
        `on_bad_video` policy decides what a training step does with them)."""
        from tqdm.auto import tqdm

        from videotext.processing import VideoDecodeError

        for row in tqdm(rows, desc=desc, disable=not progress, leave=False):
            try:
                self.get(row)
            except VideoDecodeError:
                pass


def sample_frames(
    row: dict,
    num_frames: int,
    train: bool,
    rng: np.random.Generator | None,
    cache: FrameCache | None = None,
    size: int | None = None,
) -> np.ndarray:
    """`num_frames` uint8 frames `(T, H, W, 3)`: random-in-segment for training, segment centres otherwise."""
    from videotext.processing import load_video, sample_frame_indices

    sampling = "random" if train else "uniform"
    if cache is None:
        return load_video(
            row["video_path"],
            num_frames=num_frames,
            sampling=sampling,
            start=row.get("start"),
            end=row.get("end"),
            size=size,
            rng=rng,
        ).frames
    cached = cache.get(row)
    idx = sample_frame_indices(len(cached), num_frames, sampling, rng=rng)
    return cached[idx]


def make_frame_loader(num_frames: int, cache: FrameCache | None = None, size: int | None = None) -> FrameLoader:
    """`load_frames(row)` for `videotext.inference.evaluate_*`: uniform frames, from the cache when given."""

    def load(row: dict) -> np.ndarray:
        return sample_frames(row, num_frames, train=False, rng=None, cache=cache, size=size)

    return load


# ------------------------------------------------------------------------------------------------ dataset
InputLoader = Callable[[dict, Callable[[dict], np.ndarray]], dict[str, Any]]


class VideoTextDataset(torch.utils.data.Dataset):
    """One item per clip: `{"inputs": {processor inputs, default "videos": uint8 (T,H,W,3)}, "text": str,
    "video_id", "index", "sample_seed", <every other schema column present>}`.

    Per-caption columns (`nouns`, `verbs`) are indexed by the sampled caption; per-clip columns (`keywords`,
    `description`, `intention`, `data_source`, ...) pass as they are. `load_inputs(row, load_frames)` is the method's
    input loader (the training table's `input_loader`): the default returns the sampled frames as `videos`.
    """

    def __init__(
        self,
        split,
        num_frames: int,
        train: bool = True,
        seed: int = 0,
        cache: FrameCache | None = None,
        size: int | None = None,
        limit: int | None = None,
        load_inputs: InputLoader | None = None,
        on_bad_video: str = "skip",
    ):
        from .methods import load_frames_input

        if on_bad_video not in ("skip", "error"):
            raise ValueError(f"data.on_bad_video must be 'skip' or 'error', got {on_bad_video!r}")
        self.on_bad_video = on_bad_video
        if limit is not None and limit < len(split):
            split = split.select(range(int(limit)))
        if len(split) == 0:
            raise ValueError("the dataset split is empty")
        self.split = split
        self.num_frames = int(num_frames)
        self.train = train
        self.seed = int(seed)
        self.cache = cache
        self.size = size
        self.epoch = 0
        self.load_inputs = load_inputs or load_frames_input
        self._columns = set(split.column_names)
        for col in ("video_path", "captions"):
            if col not in self._columns:
                raise ValueError(f"dataset split has no {col!r} column (columns: {sorted(self._columns)})")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.split)

    def rows(self):
        return (self.split[i] for i in range(len(self.split)))

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self._readable_item(self.split[int(index)], int(index))

    def __getitems__(self, indices: list[int]) -> list[dict[str, Any]]:
        # the DataLoader's batched fetch: one Arrow read per batch instead of one per clip
        indices = [int(i) for i in indices]
        columns = self.split[indices]
        return [self._readable_item({k: v[j] for k, v in columns.items()}, i) for j, i in enumerate(indices)]

    def _readable_item(self, row: dict, index: int) -> dict[str, Any]:
        """The item, or with `on_bad_video="skip"` the next readable clip in its place, listing the skipped videos
        in `skipped_videos` (the collator passes them on and the training loop counts and reports them)."""
        from videotext.processing import VideoDecodeError

        skipped: list[str] = []
        for attempt in range(min(len(self), 16)):
            number = (index + attempt) % len(self)
            try:
                item = self._item(row if attempt == 0 else self.split[number], number)
            except VideoDecodeError as err:
                if self.on_bad_video == "error":
                    raise
                skipped.append(str(err).splitlines()[0])
                continue
            if skipped:
                item["skipped_videos"] = skipped
            return item
        raise VideoDecodeError(f"none of {len(skipped)} clips from index {index} on could be read; first: {skipped[0]}")

    def _item(self, row: dict, index: int) -> dict[str, Any]:
        from .methods import PER_CAPTION_COLUMNS

        rng = np.random.default_rng([self.seed, self.epoch, int(index)]) if self.train else None
        # positions of the non-empty captions: per-caption columns are indexed like the source captions
        usable = [i for i, c in enumerate(row["captions"]) if c and c.strip()]
        draw = int(rng.integers(max(1, len(usable)))) if self.train else 0  # one draw even without captions
        k = usable[draw] if usable else None

        def load_frames(r: dict) -> np.ndarray:
            return sample_frames(r, self.num_frames, self.train, rng, cache=self.cache, size=self.size)

        text = row["captions"][k] if k is not None else ""
        item = {"inputs": self.load_inputs(row, load_frames), "text": text, "index": index}
        item["video_id"] = row.get("video_id", str(index))
        # drawn after the frames, so the frames and captions other methods see are unchanged: a per-clip,
        # per-epoch seed for a processor's own random choices (SVAD-VLM's blanked keyword)
        item["sample_seed"] = int(rng.integers(2**31 - 1)) if rng is not None else int(index)
        for col in sorted(self._columns - {"video_id", "video_path", "captions", "start", "end"}):
            value = row[col]
            if col in PER_CAPTION_COLUMNS:
                value = list(value[k] or []) if value is not None and k is not None and k < len(value) else []
            item[col] = value
        return item


def build_train_dataloader(dataset: VideoTextDataset, batch_size: int, collator, seed: int, num_workers: int = 0,
                           source_weights: dict[str, float] | None = None):  # fmt: skip
    """The training DataLoader: a seeded shuffle, or with `source_weights` ({data_source: weight}) a weighted draw
    in which each source's share of the samples is proportional to its weight (e.g. SVAD-VLM's primary /
    auxiliary mix)."""
    if source_weights:
        if "data_source" not in dataset.split.column_names:
            raise ValueError("data.source_weights needs a `data_source` column in the training split")
        sampler = SourceWeightedSampler(dataset.split["data_source"], source_weights, seed)
    else:
        sampler = EpochShuffleSampler(len(dataset), seed)
    return torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, sampler=sampler, collate_fn=collator, num_workers=num_workers, drop_last=False
    )


class EpochShuffleSampler(torch.utils.data.Sampler):
    """A shuffle that depends on (seed, epoch) only: a run resumed mid-epoch (a fresh DataLoader) draws the same
    order as the uninterrupted run, whose stateful generator would otherwise have advanced once per epoch."""

    def __init__(self, num_items: int, seed: int = 0):
        self.num_items, self.seed, self.epoch = int(num_items), int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_items

    def __iter__(self):
        generator = torch.Generator()
        generator.manual_seed(self.seed * 1_000_003 + self.epoch)
        yield from torch.randperm(self.num_items, generator=generator).tolist()


class SourceWeightedSampler(torch.utils.data.Sampler):
    """`len(sources)` indices per epoch, drawn with replacement so that source `s` makes up
    `weights[s] / sum(weights)` of them; the draw depends on (seed, epoch) only, so a resumed run repeats it."""

    def __init__(self, sources: list[str], weights: dict[str, float], seed: int = 0):
        present = sorted(set(sources))
        missing = [s for s in present if s not in weights]
        if missing:
            raise ValueError(f"data.source_weights has no weight for data_source {missing} (has {sorted(weights)})")
        if any(not (float(w) >= 0) or float(w) == float("inf") for w in weights.values()):
            raise ValueError(f"data.source_weights must be finite and >= 0, got {weights}")
        counts = {s: sources.count(s) for s in present}
        per_item = torch.tensor([float(weights[s]) / counts[s] for s in sources], dtype=torch.float64)
        if per_item.sum() <= 0:
            raise ValueError("data.source_weights gives every present data_source weight 0")
        self.probabilities = per_item / per_item.sum()
        self.seed, self.epoch = int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.probabilities)

    def __iter__(self):
        generator = torch.Generator()
        generator.manual_seed(self.seed * 1_000_003 + self.epoch)
        yield from torch.multinomial(self.probabilities, len(self), replacement=True, generator=generator).tolist()


# ---------------------------------------------------------------------------------------------- collator
class VideoTextCollator:
    """One collator for every method: the items' processor inputs (`videos`, ...), their captions and the method's
    dataset columns go through `processor(...)` with the method's training kwargs (e.g. `return_labels=True`);
    the method's `model_kwargs` (e.g. `return_loss=True`) are added to the batch."""

    def __init__(self, processor, method, max_length: int | None = None):
        self.processor = processor
        self.method = method
        self.max_length = max_length

    def __call__(self, items: list[dict]) -> dict[str, Any]:
        kwargs: dict[str, Any] = {key: [it["inputs"][key] for it in items] for key in items[0]["inputs"]}
        for col in self.method.columns:
            if col in items[0]:
                kwargs[col] = [it[col] for it in items]
        if self.max_length:
            kwargs["max_length"] = self.max_length
        out = self.processor(
            text=[it["text"] for it in items], return_tensors="pt", **self.method.processor_kwargs, **kwargs
        )
        batch = {k: v for k, v in dict(out).items() if isinstance(v, torch.Tensor)}
        batch.update(self.method.model_kwargs)
        skipped = [message for it in items for message in it.get("skipped_videos", ())]
        if skipped:  # popped by the training loop before the forward pass
            batch["skipped_videos"] = skipped
        return batch


def build_collator(model_type: str, processor, **kwargs) -> VideoTextCollator:
    """The collator of a registered method (`videotext.training.methods`)."""
    from .methods import training_method

    return VideoTextCollator(processor, training_method(model_type), **kwargs)
