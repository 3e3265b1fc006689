"""`videotext demo`: the main job on the embedded default, the synthetic benchmark.

1. generate the synthetic set (cached), and score trivial baselines on its test split;
2. for every registered method with a tiny recipe (the training table), train it and show it at work by its task:
   a captioner captions test videos (metrics, with what the captions get right on the synthetic set); a retriever
   indexes the test videos, answers a few text queries, and searches clips re-encoded at other sizes and frame rates.
Each trained model folder is Hub-ready (`save_pretrained` with code, processor and tokenizer).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

RETRIEVAL_KEYS = ["t2v_R@1", "t2v_R@5", "t2v_R@10", "t2v_MdR", "v2t_R@1", "v2t_R@5", "v2t_R@10"]


def baseline_metrics(dataset) -> dict[str, dict[str, float]]:
    """Most-frequent training caption for every test clip; random similarities for retrieval."""
    from .evaluation import caption_metrics, retrieval_metrics

    train, test = dataset["train"], dataset["test"]
    most_common = Counter(c for caps in train["captions"] for c in caps).most_common(1)[0][0]
    refs = {row["video_id"]: list(row["captions"]) for row in test}
    captions = caption_metrics({vid: most_common for vid in refs}, refs)
    similarity = np.random.default_rng(0).standard_normal((len(test), len(test)))
    retrieval = retrieval_metrics(similarity, np.arange(len(test)))
    return {"most-frequent-caption": captions, "random-retrieval": retrieval}


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
    for key in keys or list(flat):
        if key in flat:
            print(f"  {key:>28}: {flat[key]:.4f}")


def show_captioner(model_dir: Path, rows: list[dict], out: Path, data_dir: Path) -> dict:
    from .inference import caption_rows, load_model_and_processor

    model, processor = load_model_and_processor(str(model_dir))
    print(f"\n== {model_dir.name}: captions of test videos")
    for row, caption in zip(rows, caption_rows(model, processor, rows)):
        print(f"  {Path(row['video_path']).name}: {caption}\n      reference: {row['captions'][0]}")
    return {}


def show_retriever(model_dir: Path, rows: list[dict], out: Path, data_dir: Path) -> dict:
    from .inference import cli_index, load_model_and_processor, search_index

    index_dir = out / f"index_{model_dir.name}"
    cli_index(_Args(model=str(model_dir), videos=str(data_dir), out=str(index_dir), split="test", batch_size=16))
    model, processor = load_model_and_processor(str(model_dir))
    print(f"\n== {model_dir.name}: text search over the test videos")
    for row in rows[:3]:
        query = row["captions"][0]
        hits = search_index(str(index_dir), query, k=3, model=model, processor=processor)
        print(f"  query: {query}")
        for hit, score in hits:
            print(f"    {score:.3f}  {hit['video_id']} {'<- match' if hit['video_id'] == row['video_id'] else ''}")
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
    return {"search_other_sizes_top1": [top1, len(other)]}


SHOW_BY_TASK = {"captioning": show_captioner, "retrieval": show_retriever}
SHOWN_KEYS = {"captioning": None, "retrieval": RETRIEVAL_KEYS}


def cli_demo(args) -> int:
    from .datasets_scripts import load_prepared
    from .modeling import METHODS
    from .training import load_recipe, train
    from .training.data import ensure_synthetic
    from .training.methods import TRAINING_METHODS

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    overrides = [f"data.synthetic.num_videos={args.num_videos}"] if args.num_videos else []
    overrides += list(getattr(args, "set", []) or [])
    methods = {name: tm.tiny_recipe for name, tm in TRAINING_METHODS.items() if tm.tiny_recipe}
    recipe = load_recipe(next(iter(methods.values())), overrides)
    data_dir = ensure_synthetic(recipe["data"]["synthetic"])
    dataset = load_prepared(str(data_dir))
    stats = json.loads((Path(data_dir) / "stats.json").read_text())
    print(f"synthetic set: {data_dir}\n  " + ", ".join(f"{k}={len(v)}" for k, v in dataset.items()))
    print("  stats: " + json.dumps({k: v for k, v in stats.items() if not isinstance(v, dict | list)}))
    baselines = baseline_metrics(dataset)
    _print_metrics("baseline: most frequent training caption", baselines["most-frequent-caption"])
    _print_metrics("baseline: random retrieval", baselines["random-retrieval"], ["t2v_R@1", "t2v_R@5", "t2v_R@10"])

    test = dataset["test"]
    rows = [test[i] for i in range(min(60, len(test)))]
    summary: dict = {"synthetic": str(data_dir), "baselines": baselines, "methods": {}}
    for name, recipe_name in methods.items():
        task = METHODS[name].task
        model_dir = out / name
        metrics = train(recipe_name, model_dir, overrides)
        shown = SHOW_BY_TASK[task](model_dir, rows[:5] if task == "captioning" else rows, out, Path(data_dir))
        _print_metrics(f"{name} (tiny) on the synthetic test split", metrics["final"], SHOWN_KEYS[task])
        summary["methods"][name] = {"task": task, "recipe": recipe_name, "metrics": metrics["final"], **shown}
    summary["wall_time_s"] = round(time.time() - started, 1)
    (out / "demo_metrics.json").write_text(json.dumps(summary, indent=2))
    folders = ", ".join(str(out / name) for name in methods)
    print(f"\nHub-ready model folders: {folders}\nsummary: {out / 'demo_metrics.json'}")
    return 0


class _Args:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)
