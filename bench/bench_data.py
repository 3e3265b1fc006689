"""`bench/run.py data`: for every registered method, its tiny recipe's training loader (the trainer's dataset,
sampler and collator) against a training step (forward + backward + optimizer) of its tiny model, with 0 and 2 loader
workers, frame cache on (the recipes' setting) and off (an mp4 decoded per clip per step).

Per configuration, over `steps` steps after one warm-up step: the median time waiting for the next batch, the median
step time, and the loader's share of a step (total wait / total wait + step). With workers the wait is what the workers
did not hide behind the step."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path


def _pieces(model_type: str, overrides: list[str]):
    """(recipe, model, processor, {frame cache on/off: training dataset}, training method) as the trainer builds them
    (one process; the cache filled once for the clips used)."""
    import torch

    from videotext.training import load_recipe
    from videotext.training.data import FrameCache, VideoTextDataset, load_dataset_for_recipe, with_targets
    from videotext.training.methods import training_method
    from videotext.training.model_factory import build_model_and_processor
    from videotext.training.stages import apply_objective

    tmethod = training_method(model_type)
    recipe = load_recipe(tmethod.tiny_recipe, overrides)
    data_cfg = recipe["data"]
    from datasets import DatasetDict

    split = load_dataset_for_recipe(data_cfg, progress=False)[data_cfg["train_split"]]
    if data_cfg["max_train_clips"] and data_cfg["max_train_clips"] < len(split):
        split = split.select(range(data_cfg["max_train_clips"]))
    if tmethod.prepare_dataset is not None:  # only the clips measured (TransDCS: their expert features)
        split = tmethod.prepare_dataset(DatasetDict({data_cfg["train_split"]: split}), recipe)[data_cfg["train_split"]]
    split = with_targets(split, data_cfg["targets"])
    torch.manual_seed(recipe["seed"])
    captions = [c for caps in split["captions"] for c in caps] if recipe["tokenizer"]["train"] else None
    model, processor = build_model_and_processor(recipe, train_captions=captions)
    stage = recipe["train"]["stages"][0]
    apply_objective(model.config, tmethod, {**stage, "objective": tmethod.resolve_objective(stage.get("objective"))})
    cache = FrameCache(data_cfg["cache_frames_per_clip"] or 4 * data_cfg["num_frames"], size=data_cfg["size"])
    cache.fill(split, progress=False)
    datasets = {on: VideoTextDataset(split, data_cfg["num_frames"], train=True, seed=recipe["seed"],
                                     cache=cache if on else None, size=data_cfg["size"],
                                     load_inputs=tmethod.input_loader) for on in (True, False)}  # fmt: skip
    return recipe, model, processor, datasets, tmethod


def _measure(recipe, model, processor, train_ds, tmethod, workers: int, steps: int) -> dict:
    import torch

    from videotext.training.data import VideoTextCollator, build_train_dataloader

    batch_size = recipe["train"]["batch_size"]
    loader = build_train_dataloader(train_ds, batch_size, VideoTextCollator(processor, tmethod), seed=recipe["seed"],
                                    num_workers=workers)  # fmt: skip
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def step(batch) -> float:
        batch.pop("skipped_videos", None)
        t0 = time.perf_counter()
        model(**batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    it = iter(loader)
    step(next(it))  # warm-up: worker start-up and first-call costs stay out of the medians
    waits, steps_s = [], []
    for _ in range(steps):
        t0 = time.perf_counter()
        batch = next(it)
        waits.append(time.perf_counter() - t0)
        steps_s.append(step(batch))
    del it
    return {
        "fetch_ms": 1000 * statistics.median(waits),
        "step_ms": 1000 * statistics.median(steps_s),
        "loader_share": sum(waits) / (sum(waits) + sum(steps_s)),
        "batches_per_s": steps / (sum(waits) + sum(steps_s)),
    }


def bench_data(smoke: bool, workers: list[int], steps: int | None = None) -> list[dict]:
    from videotext.modeling import METHODS

    steps = steps or (1 if smoke else 8)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        overrides = ["train.cpu_processes=1"]
        if smoke:  # a 12-clip synthetic set and small batches instead of the recipes' 3000-clip set
            from videotext.datasets_scripts.synthetic import generate_synthetic

            data = Path(tmp) / "synthetic"
            generate_synthetic(data, num_videos=12, seed=1, size=32, num_frames=8, fps=8, workers=1, progress=False)
            overrides += [f"data.path={data}", "train.batch_size=2", "tokenizer.vocab_size=200"]
        for model_type in METHODS:
            extra = [] if smoke else [f"data.max_train_clips={_clips_needed(model_type, steps, overrides)}"]
            recipe, model, processor, datasets, tmethod = _pieces(model_type, [*overrides, *extra])
            for cache_frames, train_ds in datasets.items():
                row = {"method": model_type, "frame_cache": cache_frames, "batch_size": recipe["train"]["batch_size"],
                       "workers": {}}  # fmt: skip
                for w in workers:
                    row["workers"][str(w)] = _measure(recipe, model, processor, train_ds, tmethod, w, steps)
                results.append(row)
                print(data_line(row), flush=True)
    return results


def _clips_needed(model_type: str, steps: int, overrides: list[str]) -> int:
    """Enough training clips for the warm-up and the measured steps within one epoch (the cache fills only these)."""
    from videotext.training import load_recipe
    from videotext.training.methods import training_method

    batch = load_recipe(training_method(model_type).tiny_recipe, overrides)["train"]["batch_size"]
    return batch * (steps + 2)


def data_line(row: dict) -> str:
    parts = [f"{row['method']:<14}cache {'on ' if row['frame_cache'] else 'off'} batch {row['batch_size']:>3}"]
    for w, r in row["workers"].items():
        parts.append(f"{w} workers: fetch {r['fetch_ms']:8.1f} ms step {r['step_ms']:8.1f} ms "
                     f"loader {100 * r['loader_share']:5.1f}%")  # fmt: skip
    return " | ".join(parts)
