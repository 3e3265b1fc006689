"""The Accelerate training loop behind `videotext train RECIPE`.

Trains any videotext method from a YAML recipe, with the same code in every setting:

    videotext train mffcl-synthetic-tiny --output-dir runs/tiny                   # one CPU / GPU
    videotext train mffcl-msvd --output-dir runs/msvd --set data.path=/data/msvd  # paper recipe
    accelerate launch -m videotext train mffcl-msrvtt --output-dir runs/x         # several GPUs / nodes
    accelerate launch --multi_gpu --num_processes 2 -m videotext train dual-align-synthetic-tiny --output-dir runs/y
        # (also on a CPU-only host: torchrun processes with the gloo backend; `--cpu` alone expects mpirun)
    videotext train mffcl-msvd --output-dir runs/msvd --resume                    # continue the last checkpoint

A recipe with `train.cpu_processes: N` (the CPU tiny recipes) run by `train` / `videotext train` on a host without
accelerators starts the `accelerate launch` line above itself, with N single-thread processes sharing the recipe's
global `batch_size` (`cpu_launch.py`); `--set train.cpu_processes=1` keeps it in one process.

Skeleton (accelerate's `complete_nlp_example.py`): build data and model (after `set_seed`, so the seed also
controls the weight init), one optimizer over every parameter that some stage trains, one LambdaLR over the whole
run (`schedules.build_scheduler`), `accelerator.prepare(model, optimizer, train_dataloader, scheduler)`, then per
stage: set the objective (the method table's config overrides, e.g. MFFCL `train_stage`) and the trainable parameters
(`freeze` / `train_only` regexes), and loop with `accelerator.accumulate`, `accelerator.backward`, gradient
clipping, `save_state` every `checkpoint_every` optimizer steps and at stage ends, evaluation every `eval_every`
steps and at the end. `--resume` loads the newest `OUT/checkpoints/step_N` (model, optimizer, scheduler, RNG, and the
step counter as `train_state.json`: no pickle of ours) and skips the batches of the partial epoch with
`skip_first_batches`. A checkpoint is written as `.step_N.partial` and renamed when complete, the shuffle depends on
(seed, epoch) only and fetching batches never draws from torch's RNG, so a run killed at any point and resumed
continues with the uninterrupted run's losses (deterministic CPU; `tests/test_training.py`).

Outputs in OUT: `checkpoints/step_N/` (last K), `log.jsonl` (one line per logged step / eval / event),
`metrics.json` (evaluations, final metrics, wall time, steps, recipe), the final model + processor with
`auto_map` (a Hub folder), `adapter/` when LoRA is on, and `recipe.yaml` (the resolved recipe).

Notes:
- `optimizer: adam` is `torch.optim.Adam(weight_decay=...)`, which adds `weight_decay * w` to the gradient (L2,
  coupled to Adam's normalisation) — the classic "Adam with weight decay" the MFFCL paper names (0.009).
  `adamw` decouples it (Loshchilov & Hutter), as the dual-alignment paper uses.
- One step = one optimizer update (after `gradient_accumulation_steps` micro-batches). Stage lengths, schedule
  steps, `checkpoint_every`, `eval_every` and `max_steps` count these.
- Every stage starts with a fresh optimizer state (the stages are separate trainings in the papers).
- Contrastive negatives across processes are the models' job (they all-gather).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from .recipes import dump_recipe, load_recipe
from .schedules import build_scheduler, plan_lr
from .stages import apply_objective, plan_stages, stage_trainable_sets

__all__ = ["train", "cli_train"]

CHECKPOINT_DIR = "checkpoints"
PROCESSOR_SNAPSHOT = "processor"  # under checkpoints/: the tokenizers of the run, reused on --resume


TRAIN_STATE_FILE = "train_state.json"


class TrainState:
    """Step counter saved with every checkpoint as JSON (`train_state.json`): accelerate's custom-object checkpoints
    are pickles that `load_state` unpickles with `weights_only=False`, so a checkpoint could run code on --resume."""

    def __init__(self):
        self.global_step = 0
        self.stage_index = 0

    def state_dict(self) -> dict:
        return {"global_step": self.global_step, "stage_index": self.stage_index}

    def load_state_dict(self, state: dict) -> None:
        self.global_step = int(state["global_step"])
        self.stage_index = int(state["stage_index"])

    def save(self, checkpoint_dir: Path) -> None:
        (checkpoint_dir / TRAIN_STATE_FILE).write_text(json.dumps(self.state_dict()))

    def load(self, checkpoint_dir: Path) -> None:
        file = checkpoint_dir / TRAIN_STATE_FILE
        try:
            self.load_state_dict(json.loads(file.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"--resume: {file} is missing or unreadable ({err}); the checkpoint is incomplete") from err


# ---------------------------------------------------------------------------------------------- helpers
def _rng_neutral(loader):
    """The loader's batches, fetched without touching torch's CPU random state: a DataLoader iterator draws its base
    seed from it when created, which a resumed run (a new iterator mid-epoch) would do at another point than the
    uninterrupted one, shifting every later dropout mask."""
    iterator = iter(loader)
    while True:
        with torch.random.fork_rng(devices=[]):
            batch = next(iterator, None)
        if batch is None:
            return
        yield batch


def _checkpoints(output_dir: Path) -> list[tuple[int, Path]]:
    root = output_dir / CHECKPOINT_DIR
    found = []
    if root.is_dir():
        for path in root.iterdir():
            m = re.fullmatch(r"step_(\d+)", path.name)
            if m and path.is_dir():
                found.append((int(m.group(1)), path))
    return sorted(found)


def _rotate_checkpoints(output_dir: Path, keep: int) -> None:
    for _, path in _checkpoints(output_dir)[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


def _base_model(model):
    """The method's model under accelerate / DDP / peft wrappers."""
    from .lora import is_peft_model

    while hasattr(model, "module"):
        model = model.module
    if is_peft_model(model):
        model = model.get_base_model()
    return model


def _plain_name(name: str) -> str:
    from .lora import strip_peft_prefix

    name = name[len("module.") :] if name.startswith("module.") else name
    return strip_peft_prefix(name)


def _scalars(metrics: Any) -> dict:
    """JSON-safe copy of an evaluation result (numbers, strings, nested dicts/lists)."""
    if isinstance(metrics, dict):
        return {str(k): _scalars(v) for k, v in metrics.items()}
    if isinstance(metrics, (list, tuple)):
        return [_scalars(v) for v in metrics]
    if isinstance(metrics, (int, float, str, bool)) or metrics is None:
        return metrics
    try:
        return float(metrics)
    except (TypeError, ValueError):
        return str(metrics)


class _JsonlLog:
    def __init__(self, path: Path, enabled: bool):
        self.path, self.enabled = path, enabled

    def write(self, **record) -> None:
        if self.enabled:
            with open(self.path, "a") as fh:
                fh.write(json.dumps(_scalars(record)) + "\n")


# ------------------------------------------------------------------------------------------------ train
def train(
    recipe: str | os.PathLike | dict,
    output_dir: str | os.PathLike,
    overrides: list[str] | None = None,
    resume: bool = False,
) -> dict:
    """Train a recipe into `output_dir`; returns the metrics dict also written to `OUT/metrics.json`.

    With `train.cpu_processes > 1` on a host without accelerators (and not already under a launch) the training
    runs in that many launched processes (`cpu_launch.launch`) and this call waits for them."""
    from accelerate import Accelerator, DataLoaderConfiguration, DistributedDataParallelKwargs
    from accelerate.utils import ProjectConfiguration, set_seed
    from tqdm.auto import tqdm

    from videotext.modeling import METHODS

    from .cpu_launch import cpu_only_distributed, cpu_process_count, per_process_batch_size
    from .cpu_launch import launch as launch_cpu_processes
    from .data import (
        FrameCache,
        VideoTextCollator,
        VideoTextDataset,
        build_train_dataloader,
        load_dataset_for_recipe,
        make_frame_loader,
        with_targets,
    )
    from .methods import training_method
    from .model_factory import build_model_and_processor

    t_start = time.time()
    if not (isinstance(recipe, dict) and "_name" in recipe) or overrides:
        name = recipe.get("_name") if isinstance(recipe, dict) else None
        recipe = load_recipe(recipe, overrides)
        recipe["_name"] = name or recipe["_name"]
    out = Path(output_dir).expanduser().resolve()
    tr, data_cfg, method = recipe["train"], recipe["data"], recipe["method"]
    entry, tmethod = METHODS[method], training_method(method)
    existing = _checkpoints(out)
    if resume and not existing:
        raise FileNotFoundError(f"--resume: no checkpoint under {out / CHECKPOINT_DIR}")
    num_cpu_processes = cpu_process_count(tr["cpu_processes"], tr["batch_size"])
    if num_cpu_processes > 1:
        # the data (and the synthetic set's generation) once, here, before several processes look for it
        dataset = load_dataset_for_recipe(data_cfg, progress=True)
        if tmethod.prepare_dataset is not None:
            tmethod.prepare_dataset(dataset, recipe)
        return launch_cpu_processes(recipe, out, num_cpu_processes, resume)

    # stages leave towers unused (e.g. the decoder in MFFCL's contrastive stage)
    ddp_kwargs = DistributedDataParallelKwargs(find_unused_parameters=True)
    accelerator = Accelerator(
        cpu=cpu_only_distributed(),
        mixed_precision=tr["mixed_precision"],
        gradient_accumulation_steps=tr["gradient_accumulation_steps"],
        # the scheduler counts optimizer steps; accelerate would otherwise step it once per process
        step_scheduler_with_optimizer=False,
        log_with=tr["report_to"] or None,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
        dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
        kwargs_handlers=[ddp_kwargs],
    )
    main = accelerator.is_main_process
    if main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "recipe.yaml").write_text(dump_recipe(recipe))
        if not resume:
            for stale in ("log.jsonl", "metrics.json"):
                (out / stale).unlink(missing_ok=True)
    accelerator.wait_for_everyone()
    log = _JsonlLog(out / "log.jsonl", main)
    # set before building the model: the seed also controls the weight initialisation
    set_seed(recipe["seed"])

    # --------------------------------------------------------------------------------------- data
    with accelerator.main_process_first():
        dataset = load_dataset_for_recipe(data_cfg, progress=main)
        if tmethod.prepare_dataset is not None:
            dataset = tmethod.prepare_dataset(dataset, recipe)
    if data_cfg["train_split"] not in dataset:
        raise ValueError(f"data.train_split {data_cfg['train_split']!r} not in the dataset (splits: {list(dataset)})")
    train_split = dataset[data_cfg["train_split"]]
    if data_cfg["max_train_clips"] and data_cfg["max_train_clips"] < len(train_split):
        train_split = train_split.select(range(data_cfg["max_train_clips"]))
    train_split = with_targets(train_split, data_cfg["targets"])
    eval_cfg = recipe["eval"]
    eval_split = dataset[eval_cfg["split"]] if eval_cfg["split"] in dataset else None
    if eval_split is not None and data_cfg["targets"] != "captions":
        eval_split = with_targets(eval_split, "description")  # scored on the primary texts
    if eval_split is None and (eval_cfg["at_end"] or tr["eval_every"]):
        accelerator.print(
            f"warning: eval.split {eval_cfg['split']!r} not in the dataset ({list(dataset)}); no evaluation"
        )

    # ------------------------------------------------------------------------------- model, processor
    processor = None
    snapshot = out / CHECKPOINT_DIR / PROCESSOR_SNAPSHOT
    if resume and snapshot.is_dir():
        processor = entry.processor_cls.from_pretrained(str(snapshot))
    captions = [c for caps in train_split["captions"] for c in caps] if recipe["tokenizer"]["train"] else None
    model, processor = build_model_and_processor(recipe, train_captions=captions, processor=processor)
    # buffers that training never changes (position ids, a fixed temperature) need no broadcast every step
    ddp_kwargs.broadcast_buffers = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    if main and not snapshot.is_dir():
        processor.save_pretrained(str(snapshot))

    if tr["gradient_checkpointing"]:
        # non-reentrant: frozen towers (LoRA, freeze) still pass gradients to what follows them
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    lora_cfg = recipe["lora"]
    if lora_cfg["enabled"]:
        from .lora import apply_lora

        model = apply_lora(
            model,
            prefix=tmethod.lora_prefix,
            r=lora_cfg["r"],
            alpha=lora_cfg["alpha"],
            dropout=lora_cfg["dropout"],
            include_lm_head=lora_cfg["include_lm_head"],
            modules_to_save=lora_cfg["modules_to_save"],
            train_non_llm=True,
        )

    # the union of what the stages train goes into the optimizer (and into DDP's reducer)
    named = {_plain_name(n): p for n, p in model.named_parameters()}
    base_trainable = [n for n, p in named.items() if p.requires_grad]
    stages = tr["stages"]
    stage_sets = stage_trainable_sets(base_trainable, stages)
    union = set().union(*stage_sets)
    for name, param in named.items():
        param.requires_grad_(name in union)

    cache = None
    if data_cfg["cache_frames"]:
        cache = FrameCache(data_cfg["cache_frames_per_clip"] or 4 * data_cfg["num_frames"], size=data_cfg["size"])
    train_ds = VideoTextDataset(
        train_split,
        data_cfg["num_frames"],
        train=True,
        seed=recipe["seed"],
        cache=cache,
        size=data_cfg["size"],
        load_inputs=tmethod.input_loader,
        on_bad_video=data_cfg["on_bad_video"],
    )
    skipped_videos: set[str] = set()
    if cache is not None:
        cache.fill(train_ds.rows(), desc="caching train frames", progress=main)
        if cache.failures and data_cfg["on_bad_video"] == "error":
            from videotext.processing import VideoDecodeError

            raise VideoDecodeError(next(iter(cache.failures.values())))
        for message in cache.failures.values():
            skipped_videos.add(message)
            log.write(event="skipped_video", step=0, error=message)
            accelerator.print(f"skipped an unreadable video (data.on_bad_video=skip): {message}")
    batch_size = per_process_batch_size(tr["batch_size"], accelerator.num_processes)
    train_dl = build_train_dataloader(
        train_ds,
        batch_size,
        VideoTextCollator(processor, tmethod),
        seed=recipe["seed"],
        num_workers=data_cfg["num_workers"],
        source_weights=data_cfg["source_weights"],
    )

    # ------------------------------------------------------------------------------ optimizer, schedule
    params = [p for n, p in named.items() if n in union]
    opt_cls = torch.optim.Adam if tr["optimizer"] == "adam" else torch.optim.AdamW
    optimizer = opt_cls(params, lr=1.0, betas=tuple(tr["betas"]), eps=tr["eps"], weight_decay=tr["weight_decay"])

    # stage lengths need the per-process length of the prepared dataloader: prepare it first
    train_dl = accelerator.prepare(train_dl)
    steps_per_epoch = max(1, math.ceil(len(train_dl) / tr["gradient_accumulation_steps"]))
    plan = plan_stages(stages, steps_per_epoch, tr["max_steps"])
    total_steps = plan[-1].end_step
    scheduler = build_scheduler(optimizer, plan)
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    state = TrainState()
    if accelerator.is_main_process and tr["report_to"]:
        accelerator.init_trackers(recipe["_name"], config={"recipe": recipe["_name"], "method": method})

    # ------------------------------------------------------------------------------------- resume
    resumed_from = None
    previous: dict = {}
    if resume:
        step_n, path = existing[-1]
        state.load(path)
        accelerator.load_state(str(path))
        resumed_from = state.global_step
        if main and (out / "metrics.json").is_file():
            previous = json.loads((out / "metrics.json").read_text())
        inner = getattr(optimizer, "optimizer", optimizer)
        adam_steps = [float(s["step"]) for s in inner.state.values() if "step" in s]
        log.write(
            event="resume",
            checkpoint=str(path),
            step=state.global_step,
            stage=state.stage_index,
            optimizer_state_tensors=len(inner.state),
            optimizer_max_step=max(adam_steps) if adam_steps else 0,
            lr=scheduler.get_last_lr()[0],
        )
        accelerator.print(f"resumed from {path} at step {state.global_step}")

    # ---------------------------------------------------------------------------------- evaluation
    frame_loader = make_frame_loader(data_cfg["num_frames"], cache=cache, size=data_cfg["size"])
    evals: list[dict] = list(previous.get("evals", []))

    def evaluate(tag: str) -> dict | None:
        if eval_split is None:
            return None
        from videotext import inference
        from videotext.evaluation import flat_metrics
        from videotext.processing import VideoDecodeError

        unwrapped = accelerator.unwrap_model(model)
        unwrapped.eval()
        t0 = time.time()
        try:
            result = inference.evaluate(
                unwrapped,
                processor,
                eval_split,
                load_frames=frame_loader,
                batch_size=eval_cfg["batch_size"],
                limit=eval_cfg["limit"],
                protocol=eval_cfg["protocol"],
                generate_kwargs=eval_cfg["generate"],
                accelerator=accelerator,
            )
        except VideoDecodeError as err:  # a score over part of the split would mislead; the run and its model go on
            message = str(err).splitlines()[0]
            log.write(event="eval_failed", step=state.global_step, tag=tag, error=message)
            accelerator.print(f"evaluation ({tag}) skipped: an evaluation clip cannot be decoded: {message}")
            unwrapped.train()
            return None
        unwrapped.train()
        if main:
            record = {
                "step": state.global_step,
                "stage": stages[min(state.stage_index, len(stages) - 1)]["name"],
                "tag": tag,
                "split": eval_cfg["split"],
                "eval_seconds": round(time.time() - t0, 3),
                "metrics": _scalars(result),
            }
            evals.append(record)
            log.write(event="eval", **record)
            accelerator.log({f"eval/{k}": v for k, v in flat_metrics(record["metrics"]).items()}, step=state.global_step)
        accelerator.wait_for_everyone()
        return result

    saved = {resumed_from}

    def checkpoint() -> None:
        # decided from the step counter, never from the file system: every rank must enter save_state's barriers
        if state.global_step in saved:
            return
        saved.add(state.global_step)
        path = out / CHECKPOINT_DIR / f"step_{state.global_step}"
        # written under a temporary name and renamed when complete: a run killed mid-save leaves no checkpoint
        # that --resume would take for the newest one
        partial = path.with_name(f".{path.name}.partial")
        if main and partial.exists():
            shutil.rmtree(partial)
        accelerator.wait_for_everyone()
        accelerator.save_state(str(partial))
        accelerator.wait_for_everyone()
        if main:
            state.save(partial)
            if path.exists():
                shutil.rmtree(path)
            os.replace(partial, path)
            _rotate_checkpoints(out, tr["keep_checkpoints"])
            log.write(event="checkpoint", step=state.global_step, path=str(path))
        accelerator.wait_for_everyone()

    # ---------------------------------------------------------------------------------- the loop
    model.train()
    bar = tqdm(total=total_steps, initial=state.global_step, disable=not accelerator.is_local_main_process)
    step_times: list[float] = []
    last_loss = float("nan")
    first_stage = next((p.index for p in plan if state.global_step < p.end_step), len(plan))
    inner_opt = getattr(optimizer, "optimizer", optimizer)
    named_now = {_plain_name(n): p for n, p in model.named_parameters()}

    for sp in plan[first_stage:]:
        stage = stages[sp.index]
        state.stage_index = sp.index
        if sp.num_steps == 0:
            continue
        apply_objective(_base_model(model).config, tmethod, stage)
        trainable = stage_sets[sp.index]
        frozen = [p for n, p in named_now.items() if n in union and n not in trainable]
        for n, p in named_now.items():
            if n in union:
                p.requires_grad_(n in trainable)
        stage_params = [p for n, p in named_now.items() if n in trainable]
        if state.global_step == sp.start_step:
            inner_opt.state.clear()  # a stage is a fresh training run of its own
        log.write(
            event="stage",
            stage=stage["name"],
            step=state.global_step,
            objective=stage["objective"],
            trainable_parameters=int(sum(p.numel() for p in stage_params)),
            total_steps=sp.num_steps,
        )
        bar.set_description(stage["name"])

        local = state.global_step - sp.start_step
        while local < sp.num_steps:
            epoch = local // steps_per_epoch
            data_epoch = sp.index * 100_000 + epoch  # different shuffles / frames / captions per stage and epoch
            train_ds.set_epoch(data_epoch)
            train_dl.set_epoch(data_epoch)
            skip = (local % steps_per_epoch) * tr["gradient_accumulation_steps"]
            loader = accelerator.skip_first_batches(train_dl, skip) if skip else train_dl
            running, micro = 0.0, 0
            t_step = time.perf_counter()
            for batch in _rng_neutral(loader):
                for message in batch.pop("skipped_videos", ()):
                    if message not in skipped_videos:
                        skipped_videos.add(message)
                        log.write(event="skipped_video", step=state.global_step, error=message)
                        accelerator.print(f"skipped an unreadable video (data.on_bad_video=skip): {message}")
                with accelerator.accumulate(model):
                    outputs = model(**batch)
                    loss = outputs.loss
                    accelerator.backward(loss)
                    running += loss.detach().float().item()
                    micro += 1
                    if accelerator.sync_gradients:
                        for p in frozen:
                            p.grad = None  # a parameter another stage trains must not move here
                        if tr["max_grad_norm"]:
                            accelerator.clip_grad_norm_(stage_params, tr["max_grad_norm"])
                    optimizer.step()
                    if accelerator.sync_gradients and not accelerator.optimizer_step_was_skipped:
                        scheduler.step()
                    optimizer.zero_grad(set_to_none=True)
                if not accelerator.sync_gradients:
                    continue
                state.global_step += 1
                local += 1
                step_times.append(time.perf_counter() - t_step)
                # the mean over processes (every rank runs this at every optimizer step)
                last_loss = accelerator.reduce(
                    torch.tensor(running / max(1, micro), device=accelerator.device), "mean"
                ).item()
                running, micro = 0.0, 0
                bar.update(1)
                bar.set_postfix(loss=f"{last_loss:.4f}")
                stage_end = local >= sp.num_steps
                if state.global_step % tr["log_every"] == 0 or stage_end or local == 1:
                    lr = plan_lr(plan, state.global_step - 1)
                    log.write(
                        event="train",
                        step=state.global_step,
                        stage=stage["name"],
                        epoch=epoch,
                        loss=last_loss,
                        lr=lr,
                        step_seconds=round(step_times[-1], 4),
                    )
                    accelerator.log({"train/loss": last_loss, "train/lr": lr}, step=state.global_step)
                if state.global_step % tr["checkpoint_every"] == 0 and not stage_end:
                    checkpoint()
                if (
                    tr["eval_every"]
                    and state.global_step % tr["eval_every"] == 0
                    and not (stage_end and sp.index == len(plan) - 1)
                ):
                    evaluate("periodic")
                t_step = time.perf_counter()
                if stage_end:
                    break
        checkpoint()  # stage end
    bar.close()
    state.stage_index = len(stages) - 1

    final = evaluate("final") if eval_cfg["at_end"] else None

    # ------------------------------------------------------------------------------------ export
    accelerator.wait_for_everyone()
    if main:
        _export(accelerator.unwrap_model(model), processor, out, lora_cfg)
        wall = time.time() - t_start
        metrics = _metrics_record(recipe, state, plan, accelerator.num_processes, batch_size, len(train_ds),
                                  last_loss, step_times, wall, previous, resumed_from, evals, final)  # fmt: skip
        metrics["skipped_videos"] = sorted(skipped_videos | set(previous.get("skipped_videos", []) if previous else []))
        if metrics["skipped_videos"]:
            print(f"skipped {len(metrics['skipped_videos'])} unreadable videos (listed in {out / 'metrics.json'})")
        (out / "metrics.json").write_text(json.dumps(_scalars(metrics), indent=2))
        log.write(event="done", step=state.global_step, wall_time_seconds=round(wall, 3))
    else:
        metrics = {"global_step": state.global_step}
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return metrics


def _export(model, processor, out: Path, lora_cfg: dict) -> None:
    """The final model + processor as a Hub folder in `out` (LoRA: adapters to `out/adapter`, merged model to `out`)."""
    from videotext.export import save_hub_folder

    if lora_cfg["enabled"]:
        from .lora import save_lora

        model = save_lora(model, out)
    for p in model.parameters():
        p.requires_grad_(True)
    save_hub_folder(model, processor, out)


def _metrics_record(recipe, state, plan, num_processes, batch_size, train_clips, last_loss, step_times, wall,
                    previous, resumed_from, evals, final) -> dict:  # fmt: skip
    """What `metrics.json` holds: the run's shape, its timings (summed over resumed runs) and its evaluations."""
    steady = step_times[1:] or step_times
    return {
        "recipe": recipe["_name"],
        "recipe_source": recipe["_source"],
        "overrides": recipe["_overrides"],
        "method": recipe["method"],
        "global_step": state.global_step,
        "total_steps": plan[-1].end_step,
        "steps_per_epoch": plan[0].steps_per_epoch,
        "stages": [{"name": p.name, "start_step": p.start_step, "num_steps": p.num_steps, "lr": p.lr} for p in plan],
        "resumed_from_step": resumed_from,
        "num_processes": num_processes,
        "batch_size_per_process": batch_size,
        "train_clips": train_clips,
        "final_loss": last_loss,
        "steps_this_run": len(step_times),
        "mean_step_seconds": (sum(steady) / len(steady)) if steady else None,
        "wall_time_seconds": round(wall + float(previous.get("wall_time_seconds", 0.0) if previous else 0.0), 3),
        "wall_time_seconds_this_run": round(wall, 3),
        "evals": evals,
        "final": _scalars(final) if final is not None else None,
        "recipe_resolved": {k: v for k, v in recipe.items() if not k.startswith("_")},
    }


def cli_train(args) -> int:
    """`videotext train RECIPE --output-dir OUT [--set k=v ...] [--resume]` / `--list`."""
    from .recipes import list_recipes

    if getattr(args, "list", False):
        for name, what in list_recipes().items():
            print(f"{name:28s} {what}")
        return 0
    if not getattr(args, "recipe", None):
        raise SystemExit("videotext train: a recipe name or YAML path is required (see `videotext train --list`)")
    if not args.output_dir:
        raise SystemExit("videotext train: --output-dir is required")
    metrics = train(args.recipe, args.output_dir, overrides=args.set, resume=args.resume)
    from .cpu_launch import ENV

    if metrics.get("final") and ENV not in os.environ:  # launched processes leave the printing to their parent
        print(json.dumps(metrics["final"], indent=2))
    return 0
