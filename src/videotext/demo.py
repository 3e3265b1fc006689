"""`videotext demo`: the main job on the embedded default, the synthetic benchmark.

1. generate the synthetic set (cached), and score trivial baselines on its test split;
2. plan short budgets (unless `--full`): every method gets an equal share of what is left of `--budget-minutes`
   (default 10, counted from the start of the process, so the set's generation is included); a few training steps
   of each method's tiny recipe are timed on this machine, and every stage's length (and its schedule's warm-up,
   decay and milestones) is scaled by the one share of the recipe's steps that fits (at least MIN_FRACTION). Before
   each method the plan is redone from the time left and the slowdown of the real training loop over the timed
   steps seen so far;
3. for every registered method with a tiny recipe (the training table), train it and show it at work by its task:
   a captioner captions test videos (metrics, with what the captions get right on the synthetic set); a retriever
   indexes the test videos, answers a few text queries, and searches clips re-encoded at other sizes and frame rates;
4. write `demo_metrics.json` and `report.html` (`videotext.report`).
Each trained model folder is Hub-ready (`save_pretrained` with code, processor and tokenizer).
"""

from __future__ import annotations

import contextlib
import json
import math
import statistics
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

RETRIEVAL_KEYS = ["t2v_R@1", "t2v_R@5", "t2v_R@10", "t2v_MdR", "v2t_R@1", "v2t_R@5", "v2t_R@10"]
BASELINE_OF_TASK = {"captioning": "most-frequent-caption", "retrieval": "random-retrieval"}
DEFAULT_BUDGET_MINUTES = 10.0
# the time a method needs besides its training steps, at the tiny recipes' data sizes on 2 CPU cores: starting the
# training processes, caching the training frames, the final evaluation on the test split, showing the model at
# work (measured on a loaded 2-core machine: 70-105 s per method for the shipped tiny recipes)
OTHER_WORK_SECONDS = 75.0
REPORT_SECONDS = 40.0  # exporting each model with its card, writing report.html (thumbnails, loss curves)
TIMED_STEPS = 3  # training steps timed per stage (after one warm-up step) to plan the budgets
# a step of the training loop (data, gradient sync between processes, logging) over the bare step timed before it:
# the first method is planned with this; the next ones with the slowdown its training showed (never below 1)
LOOP_SLOWDOWN = 1.5
MIN_FRACTION = 0.1  # every method trains at least this share of its recipe's steps, even past the budget
NUM_SHOWN_CAPTIONS = 6
NUM_QUERIES = 3


def baseline_metrics(dataset) -> dict[str, dict]:
    """Most-frequent training caption for every test clip (with its synthetic facts on a synthetic split); random
    similarities for retrieval."""
    from .evaluation import caption_metrics, retrieval_metrics
    from .evaluation.synthetic_facts import synthetic_caption_facts, synthetic_truths_for

    train, test = dataset["train"], dataset["test"]
    most_common = Counter(c for caps in train["captions"] for c in caps).most_common(1)[0][0]
    refs = {row["video_id"]: list(row["captions"]) for row in test}
    captions = caption_metrics({vid: most_common for vid in refs}, refs)
    truths = synthetic_truths_for(test)
    if truths is not None:
        captions["synthetic_facts"] = synthetic_caption_facts([most_common] * len(truths), truths)
    captions["caption"] = most_common
    similarity = np.random.default_rng(0).standard_normal((len(test), len(test)))
    retrieval = retrieval_metrics(similarity, np.arange(len(test)))
    return {"most-frequent-caption": captions, "random-retrieval": retrieval}


# ------------------------------------------------------------------------------------------------- budgets
@dataclass
class Budget:
    """One method's training in this demo run: stage lengths in optimizer steps, as the recipe has them and as run."""

    recipe: str
    stage_names: list[str]
    full_steps: list[int]
    steps: list[int]
    overrides: list[str] = field(default_factory=list)  # `--set` items (after the user's) that make `steps`
    train_clips: int = 0
    step_seconds: list[float] | None = None  # timed per stage (None with --full)
    threads: int | None = None  # torch threads of a training in this process (None: unchanged), the faster timed
    slowdown: float = 1.0  # the training loop's step over the timed one, as planned
    over_budget: bool = False  # MIN_FRACTION of the recipe does not fit the share: trained anyway

    @property
    def total(self) -> int:
        return sum(self.steps)

    @property
    def full_total(self) -> int:
        return sum(self.full_steps)

    @property
    def short(self) -> bool:
        return self.steps != self.full_steps

    def describe(self) -> str:
        stages = ", ".join(f"{name} {n}" + (f"/{full}" if self.short else "")
                           for name, n, full in zip(self.stage_names, self.steps, self.full_steps))  # fmt: skip
        if not self.short:
            return f"{self.total} steps, the full recipe ({stages})"
        return f"{self.total} steps instead of {self.full_total} ({stages})"


def stage_steps(recipe: dict, train_clips: int) -> list[int]:
    """Optimizer steps of each stage of a loaded recipe (epochs counted on `train_clips`, the global cap applied)."""
    from .training.stages import plan_stages

    tr = recipe["train"]
    clips = min(train_clips, recipe["data"]["max_train_clips"] or train_clips)
    steps_per_epoch = max(1, math.ceil(clips / (tr["batch_size"] * tr["gradient_accumulation_steps"])))
    return [p.num_steps for p in plan_stages(tr["stages"], steps_per_epoch, tr["max_steps"])]


def shorten(recipe: dict, fraction: float, train_clips: int) -> Budget:
    """The recipe with every stage cut to `fraction` of its steps (at least one); a stage's schedule keeps its shape
    (warm-up, inverse-time decay and milestones scaled alike). `fraction >= 1`: the recipe as it is."""
    stages = recipe["train"]["stages"]
    names = [s["name"] for s in stages]
    full = stage_steps(recipe, train_clips)
    if fraction >= 1:
        return Budget(recipe["_name"], names, full, list(full), train_clips=train_clips)
    steps = [max(1, round(n * fraction)) if n else 0 for n in full]
    overrides = []
    for i, (stage, n, short) in enumerate(zip(stages, full, steps)):
        if not n:
            continue  # cut to nothing by train.max_steps already; the new cap below keeps it so
        at, ratio = f"train.stages.{i}", short / n
        if stage["epochs"] is not None:
            overrides.append(f"{at}.epochs=null")
        overrides.append(f"{at}.max_steps={short}")
        schedule = stage["schedule"]
        if schedule.get("warmup_steps"):
            overrides.append(f"{at}.schedule.warmup_steps={round(schedule['warmup_steps'] * ratio)}")
        if schedule.get("decay_steps"):
            overrides.append(f"{at}.schedule.decay_steps={max(1, round(schedule['decay_steps'] * ratio))}")
        if schedule.get("milestones"):
            milestones = sorted({max(1, round(m * ratio)) for m in schedule["milestones"]})
            overrides.append(f"{at}.schedule.milestones=[{', '.join(map(str, milestones))}]")
    overrides.append(f"train.max_steps={sum(steps)}")
    # a loss curve of ~100 points however short the run (logging only)
    overrides.append(f"train.log_every={max(1, min(recipe['train']['log_every'], sum(steps) // 100))}")
    return Budget(recipe["_name"], names, full, steps, overrides, train_clips)


def plan_budgets(recipes: dict[str, dict], train_clips: dict[str, int], step_seconds: dict[str, list[float]],
                 seconds_left: float, other_seconds: float = OTHER_WORK_SECONDS, slowdown: float = LOOP_SLOWDOWN,
                 min_fraction: float = MIN_FRACTION, threads: dict[str, int | None] | None = None,
                 ) -> dict[str, Budget]:  # fmt: skip
    """Equal shares of `seconds_left`: each method trains for its share less `other_seconds`, its stages scaled by
    the one fraction of the recipe's steps that fits at the timed seconds per step of each stage times `slowdown`
    (at least `min_fraction`: a method then goes over its share, `Budget.over_budget`)."""
    share = max(0.0, seconds_left / max(1, len(recipes)) - other_seconds)
    budgets = {}
    for name, recipe in recipes.items():
        full = stage_steps(recipe, train_clips[name])
        cost = slowdown * sum(n * t for n, t in zip(full, step_seconds[name]))
        fraction = share / cost if cost > 0 else 1.0
        budget = shorten(recipe, max(fraction, min_fraction), train_clips[name])
        budget.step_seconds = [round(t, 4) for t in step_seconds[name]]
        budget.slowdown = round(slowdown, 3)
        budget.threads = (threads or {}).get(name)
        budget.over_budget = fraction < min_fraction
        budgets[name] = budget
    return budgets


def observed_slowdown(budget: Budget, log_path: Path) -> float | None:
    """The training loop's step over the timed one in a finished run: per stage the median `step_seconds` of its
    `log.jsonl` (the first logged step of a stage left out), weighted by the stage's steps; None without records."""
    from .report import read_train_log

    if not budget.step_seconds or not Path(log_path).is_file():
        return None
    by_stage: dict[str, list[float]] = {}
    for record in read_train_log(log_path):
        if "step_seconds" in record:
            by_stage.setdefault(str(record.get("stage")), []).append(float(record["step_seconds"]))
    real = planned = 0.0
    for name, steps, timed in zip(budget.stage_names, budget.steps, budget.step_seconds):
        times = by_stage.get(str(name), [])[1:] or by_stage.get(str(name), [])
        if steps and times:
            real += steps * statistics.median(times)
            planned += steps * timed
    return real / planned if planned > 0 else None


def full_budgets(recipes: dict[str, dict], train_clips: dict[str, int]) -> dict[str, Budget]:
    """`--full`: every recipe as it is."""
    return {name: shorten(recipe, 1.0, train_clips[name]) for name, recipe in recipes.items()}


def measure_step_seconds(recipe: dict, train_split, max_steps: int = TIMED_STEPS,
                         enough: float = 4.0) -> tuple[list[float], int | None]:  # fmt: skip
    """Seconds per optimizer step of each stage of `recipe` on this machine, now: the recipe's model, one batch of
    real clips through the method's collator, forward, backward and optimizer step, in the setting `train` uses
    (with `train.cpu_processes` > 1 one single-thread process on its share of the batch; LoRA left out, so a LoRA
    stage is over-estimated). Per stage the median of up to `max_steps` steps after a warm-up step (fewer once they
    took `enough` seconds), times the gradient accumulation steps.

    A recipe that trains in this process with several threads is timed with one thread too: on cores other jobs
    also use, a multi-threaded step of these tiny models can take 10-20 times a single-threaded one. Returns the
    faster timing and its thread count (None: as `train` would run it)."""
    import torch

    from .training.cpu_launch import cpu_process_count
    from .training.data import VideoTextCollator, VideoTextDataset
    from .training.methods import training_method
    from .training.model_factory import build_model_and_processor
    from .training.stages import apply_objective, stage_trainable_sets

    tr, data = recipe["train"], recipe["data"]
    method = training_method(recipe["method"])
    processes = cpu_process_count(tr["cpu_processes"], tr["batch_size"])
    batch_size = max(1, tr["batch_size"] // processes)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    threads = torch.get_num_threads()
    torch.manual_seed(recipe["seed"])
    captions = [c for caps in train_split["captions"] for c in caps] if recipe["tokenizer"]["train"] else None
    model, processor = build_model_and_processor(recipe, train_captions=captions)
    model.to(device).train()
    clips = VideoTextDataset(train_split.select(range(min(batch_size, len(train_split)))), data["num_frames"],
                             train=True, seed=recipe["seed"], size=data["size"], load_inputs=method.input_loader)  # fmt: skip
    items = [clips[i] for i in range(len(clips))]
    collate = VideoTextCollator(processor, method)
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    trainable_sets = stage_trainable_sets(list(params), tr["stages"])

    def time_stages() -> list[float]:
        seconds = []
        for stage, trainable in zip(tr["stages"], trainable_sets):
            apply_objective(model.config, method, stage)
            for n, p in params.items():
                p.requires_grad_(n in trainable)
            optimizer = torch.optim.AdamW([p for n, p in params.items() if n in trainable], lr=1e-8)
            times: list[float] = []
            for k in range(max_steps + 1):
                t0 = time.perf_counter()
                batch = {key: v.to(device) if hasattr(v, "to") else v for key, v in collate(items).items()}
                model(**batch).loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if k:
                    times.append(time.perf_counter() - t0)
                    if sum(times) > enough:
                        break
            seconds.append(statistics.median(times) * tr["gradient_accumulation_steps"])
        return seconds

    try:
        if processes > 1:  # as each launched process: one thread
            torch.set_num_threads(1)
            return time_stages(), None
        timed = time_stages()
        if device.type != "cpu" or threads == 1:
            return timed, None
        torch.set_num_threads(1)
        single = time_stages()
        return (single, 1) if sum(single) < sum(timed) else (timed, None)
    finally:
        torch.set_num_threads(threads)


# ------------------------------------------------------------------------------------------------- showing
OTHER_FORMATS = [((96, 128), 1), ((48, 80), 2), ((120, 90), 1)]  # ((height, width), keep every n-th frame)


def rewrite_at_other_sizes(rows: list[dict], folder: Path) -> list[dict]:
    """Re-encode clips at other frame sizes, aspect ratios and frame rates: real mp4 files unlike the training set."""
    from PIL import Image

    from .processing import load_video, write_video

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for i, row in enumerate(rows):
        (height, width), stride = OTHER_FORMATS[i % len(OTHER_FORMATS)]
        total = load_video(row["video_path"], num_frames=1).total_frames
        video = load_video(row["video_path"], num_frames=total)  # every frame
        frames = [np.asarray(Image.fromarray(f).resize((width, height), Image.BICUBIC)) for f in video.frames[::stride]]
        path = folder / f"{row['video_id']}_{width}x{height}.mp4"
        write_video(path, np.stack(frames), fps=video.fps / stride)
        written.append({**row, "video_path": str(path)})
    return written


def _print_metrics(title: str, metrics: dict, keys: list[str] | None = None) -> None:
    from .evaluation import flat_metrics

    flat = flat_metrics(metrics)
    print(f"\n== {title}")
    for key in keys or [k for k in flat if not k.endswith("num_clips")]:
        if key in flat:
            print(f"  {key:>28}: {flat[key]:.4f}")


def show_captioner(model_dir: Path, rows: list[dict], out: Path, data_dir: Path) -> dict:
    from .evaluation.synthetic_facts import FACT_KEYS, synthetic_caption_facts, synthetic_truths_for
    from .inference import caption_rows, load_model_and_processor

    rows = rows[:NUM_SHOWN_CAPTIONS]
    model, processor = load_model_and_processor(str(model_dir))
    truths = synthetic_truths_for(rows) or [None] * len(rows)
    print(f"\n== {model_dir.name}: captions of test videos")
    examples = []
    for row, caption, truth in zip(rows, caption_rows(model, processor, rows), truths):
        print(f"  {Path(row['video_path']).name}: {caption}\n      reference: {row['captions'][0]}")
        facts = None
        if truth is not None:
            hits = synthetic_caption_facts([caption], [truth])
            facts = {key: bool(hits[key]) for key in FACT_KEYS}
        examples.append({"video_id": row["video_id"], "video_path": row["video_path"], "caption": caption,
                         "references": list(row["captions"]), "facts": facts})  # fmt: skip
    return {"examples": examples}


def show_retriever(model_dir: Path, rows: list[dict], out: Path, data_dir: Path) -> dict:
    from .inference import cli_index, load_model_and_processor, search_index

    index_dir = out / f"index_{model_dir.name}"
    cli_index(_Args(model=str(model_dir), videos=str(data_dir), out=str(index_dir), split="test", batch_size=16))
    model, processor = load_model_and_processor(str(model_dir))
    print(f"\n== {model_dir.name}: text search over the test videos")
    queries = []
    for row in rows[:NUM_QUERIES]:
        query = row["captions"][0]
        hits = search_index(str(index_dir), query, k=3, model=model, processor=processor)
        print(f"  query: {query}")
        for hit, score in hits:
            print(f"    {score:.3f}  {hit['video_id']} {'<- match' if hit['video_id'] == row['video_id'] else ''}")
        queries.append({"query": query, "video_id": row["video_id"], "video_path": row["video_path"],
                        "hits": [{"video_id": h["video_id"], "video_path": h["video_path"], "score": round(s, 4)}
                                 for h, s in hits]})  # fmt: skip
    other_dir = out / "other_sizes"
    other = rewrite_at_other_sizes(rows, other_dir)
    other_index = out / f"index_other_sizes_{model_dir.name}"
    cli_index(_Args(model=str(model_dir), videos=str(other_dir), out=str(other_index), split="test", batch_size=16))
    top1 = sum(
        search_index(str(other_index), row["captions"][0], k=1, model=model, processor=processor)[0][0]["video_path"]
        == row["video_path"]
        for row in other
    )
    print(f"\n== {model_dir.name}: search over {len(other)} re-encoded test clips (other sizes and frame rates): "
          f"right clip first for {top1}/{len(other)} captions")  # fmt: skip
    return {"queries": queries, "search_other_sizes_top1": [top1, len(other)]}


SHOW_BY_TASK = {"captioning": show_captioner, "retrieval": show_retriever}
SHOWN_KEYS = {"captioning": None, "retrieval": RETRIEVAL_KEYS}


# ------------------------------------------------------------------------------------------------- the demo
def demo_recipes(overrides: list[str]) -> dict[str, dict]:
    """Every registered method with a tiny recipe -> that recipe, loaded with the user's overrides."""
    from .training import load_recipe
    from .training.methods import TRAINING_METHODS

    return {name: load_recipe(tm.tiny_recipe, overrides) for name, tm in TRAINING_METHODS.items() if tm.tiny_recipe}


def plan_demo(recipes: dict[str, dict], full: bool, budget_minutes: float, started: float) -> dict[str, Budget]:
    """The budgets of this run: the recipes as they are with `full`, else equal shares of what is left of
    `budget_minutes` since `started` (steps timed on this machine; `cli_demo` re-plans before each method)."""
    from .training.data import load_dataset_for_recipe

    splits = {name: load_dataset_for_recipe(r["data"], progress=False)[r["data"]["train_split"]]
              for name, r in recipes.items()}  # fmt: skip
    clips = {name: len(split) for name, split in splits.items()}
    if full:
        return full_budgets(recipes, clips)
    seconds, threads = {}, {}
    for name, recipe in recipes.items():
        print(f"timing a few training steps of each stage of {recipe['_name']} ...", flush=True)
        seconds[name], threads[name] = measure_step_seconds(recipe, splits[name])
    left = budget_minutes * 60 - REPORT_SECONDS - (time.time() - started)
    return plan_budgets(recipes, clips, seconds, left, threads=threads)


def replan(recipes: dict[str, dict], budgets: dict[str, Budget], seconds_left: float,
           slowdown: float) -> dict[str, Budget]:  # fmt: skip
    """The budgets of the methods still to train, from the time left and their timed steps."""
    return plan_budgets(recipes, {n: budgets[n].train_clips for n in recipes},
                        {n: budgets[n].step_seconds or [] for n in recipes}, seconds_left, slowdown=slowdown,
                        threads={n: budgets[n].threads for n in recipes})  # fmt: skip


@contextlib.contextmanager
def _torch_threads(threads: int | None):
    """Run the block on `threads` torch threads (None: as they are)."""
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _process_start() -> float:
    """When this process started (the budget counts the imports too); now when unknown."""
    try:
        import psutil

        return psutil.Process().create_time()
    except Exception:  # psutil comes with accelerate; any platform trouble just loses the imports' seconds
        return time.time()


def _print_budgets(budgets: dict[str, Budget], full: bool, budget_minutes: float) -> None:
    if full:
        print("\nthe full tiny recipes:")
    else:
        print(f"\nshort budgets (the whole demo in about {budget_minutes:g} minutes; run with --full for the full tiny "
              "recipes):")  # fmt: skip
    for name, budget in budgets.items():
        print(f"  {name} ({budget.recipe}): {budget.describe()}"
              + (f", on {budget.threads} thread (timed faster now)" if budget.threads else ""))  # fmt: skip
        if budget.over_budget:
            print(f"  warning: {name} trains {MIN_FRACTION:.0%} of its recipe, more than fits the time left: this "
                  "machine trains slowly now (other jobs on its cores?), the demo will take longer")  # fmt: skip


def cli_demo(args) -> int:
    from .datasets_scripts import load_prepared
    from .hub_cards.export import export_model
    from .modeling import METHODS
    from .report import write_report
    from .training import train
    from .training.data import ensure_synthetic

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = _process_start()
    overrides = [f"data.synthetic.num_videos={args.num_videos}"] if args.num_videos else []
    overrides += list(getattr(args, "set", []) or [])
    full = bool(getattr(args, "full", False))
    budget_minutes = getattr(args, "budget_minutes", None) or DEFAULT_BUDGET_MINUTES
    recipes = demo_recipes(overrides)
    data_dir = ensure_synthetic(next(iter(recipes.values()))["data"]["synthetic"])
    dataset = load_prepared(str(data_dir))
    stats = json.loads((Path(data_dir) / "stats.json").read_text())
    print(f"synthetic set: {data_dir}\n  " + ", ".join(f"{k}={len(v)}" for k, v in dataset.items()))
    print("  stats: " + json.dumps({k: v for k, v in stats.items() if not isinstance(v, dict | list)}))
    baselines = baseline_metrics(dataset)
    _print_metrics("baseline: most frequent training caption", baselines["most-frequent-caption"])
    _print_metrics("baseline: random retrieval", baselines["random-retrieval"], ["t2v_R@1", "t2v_R@5", "t2v_R@10"])

    budgets = plan_demo(recipes, full, budget_minutes, started)
    _print_budgets(budgets, full, budget_minutes)

    test = dataset["test"]
    rows = [test[i] for i in range(min(60, len(test)))]
    summary: dict = {
        "synthetic": str(data_dir),
        "synthetic_stats": {k: v for k, v in stats.items() if not isinstance(v, dict | list)},
        "baselines": baselines,
        "budget": {"full": full, "budget_minutes": None if full else budget_minutes, "user_overrides": overrides},
        "methods": {},
    }
    names, slowdown = list(budgets), LOOP_SLOWDOWN
    for i, name in enumerate(names):
        if not full and i:  # the time the methods before took decides what is left
            left = budget_minutes * 60 - REPORT_SECONDS - (time.time() - started)
            budgets.update(replan({n: recipes[n] for n in names[i:]}, budgets, left, slowdown))
        budget, task, model_dir = budgets[name], METHODS[name].task, out / name
        t0 = time.time()
        print(f"\n== training {name} ({budget.recipe}): {budget.describe()}", flush=True)
        if budget.over_budget:
            print(f"warning: past the budget already; {name} trains {MIN_FRACTION:.0%} of its recipe anyway")
        with _torch_threads(budget.threads):
            metrics = train(recipes[name]["_source"] or budget.recipe, model_dir, overrides + budget.overrides)
            train_seconds = time.time() - t0
            shown = SHOW_BY_TASK[task](model_dir, rows, out, Path(data_dir))
            hub_dir = export_model(model_dir, out / "hub" / name, overwrite=True)  # with its model card
        seen = None if full else observed_slowdown(budget, model_dir / "log.jsonl")
        if seen is not None:
            slowdown = max(1.0, seen)
        _print_metrics(f"{name} (tiny) on the synthetic test split", metrics["final"], SHOWN_KEYS[task])
        summary["methods"][name] = {
            "task": task,
            "recipe": budget.recipe,
            "model_dir": str(model_dir),
            "hub_dir": str(hub_dir),
            "baseline": BASELINE_OF_TASK[task],
            "budget": asdict(budget),
            "train_seconds": round(train_seconds, 1),
            "observed_slowdown": None if seen is None else round(seen, 3),
            "seconds": round(time.time() - t0, 1),
            "metrics": metrics["final"],
            **shown,
        }
    summary["wall_time_s"] = round(time.time() - started, 1)
    report = write_report(out, summary)
    summary["wall_time_s"] = round(time.time() - started, 1)
    (out / "demo_metrics.json").write_text(json.dumps(summary, indent=2))
    folders = ", ".join(str(out / name) for name in budgets)
    short = [f"{name} {b.total} steps instead of {b.full_total}" for name, b in budgets.items() if b.short]
    if short:
        print(f"\nshort budgets: {'; '.join(short)}; run with --full for the full tiny recipes")
    print(f"\nHub-ready model folders: {folders}\nsummary: {out / 'demo_metrics.json'}\nreport: {report}\n"
          f"wall time: {summary['wall_time_s']:.0f} s")  # fmt: skip
    return 0


class _Args:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)
