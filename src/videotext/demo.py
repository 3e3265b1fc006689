"""`videotext demo`: the main job on the embedded default, the synthetic benchmark.

1. generate the synthetic set (cached), and score trivial baselines on its test split;
2. train the tiny MFFCL captioner, caption test videos, print caption metrics;
3. train the tiny dual-alignment retriever, index the test videos, run a few text queries, print R@K.
Each trained model folder is Hub-ready (`save_pretrained` with code, processor and tokenizer).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path

import numpy as np

CAPTIONER_RECIPE = "mffcl-synthetic-tiny"
RETRIEVER_RECIPE = "dual-align-synthetic-tiny"


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


def _print_metrics(title: str, metrics: dict[str, float], keys: list[str] | None = None) -> None:
    print(f"\n== {title}")
    for key in keys or list(metrics):
        if key in metrics:
            print(f"  {key:>10}: {metrics[key]:.4f}")


def cli_demo(args) -> int:
    from .datasets_scripts import load_prepared
    from .inference import caption_rows, load_model_and_processor, search_index
    from .training import load_recipe, train

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    overrides = [f"data.synthetic.num_videos={args.num_videos}"] if args.num_videos else []
    overrides += list(getattr(args, "set", []) or [])
    recipe = load_recipe(CAPTIONER_RECIPE, overrides)
    from .training.data import ensure_synthetic

    data_dir = ensure_synthetic(recipe["data"]["synthetic"])
    dataset = load_prepared(str(data_dir))
    stats = json.loads((Path(data_dir) / "stats.json").read_text())
    print(f"synthetic set: {data_dir}\n  " + ", ".join(f"{k}={len(v)}" for k, v in dataset.items()))
    print("  stats: " + json.dumps({k: v for k, v in stats.items() if not isinstance(v, dict | list)}))
    baselines = baseline_metrics(dataset)
    _print_metrics("baseline: most frequent training caption", baselines["most-frequent-caption"])
    _print_metrics("baseline: random retrieval", baselines["random-retrieval"], ["t2v_R@1", "t2v_R@5", "t2v_R@10"])

    captioner_dir = out / "mffcl"
    captioner_metrics = train(CAPTIONER_RECIPE, captioner_dir, overrides)
    model, processor = load_model_and_processor(str(captioner_dir))
    test = dataset["test"]
    rows = [test[i] for i in range(5)]
    print("\n== MFFCL captions of test videos")
    for row, caption in zip(rows, caption_rows(model, processor, rows)):
        print(f"  {Path(row['video_path']).name}: {caption}\n      reference: {row['captions'][0]}")
    _print_metrics("MFFCL (tiny) on the synthetic test split", captioner_metrics["final"])

    retriever_dir = out / "dual_align"
    retriever_metrics = train(RETRIEVER_RECIPE, retriever_dir, overrides)
    index_dir = out / "index"
    from .inference import cli_index

    cli_index(_Args(model=str(retriever_dir), videos=str(data_dir), out=str(index_dir), split="test", batch_size=16))
    model, processor = load_model_and_processor(str(retriever_dir))
    print("\n== text search over the test videos")
    for row in rows[:3]:
        query = row["captions"][0]
        hits = search_index(str(index_dir), query, k=3, model=model, processor=processor)
        marks = ["<- match" if hit["video_id"] == row["video_id"] else "" for hit, _ in hits]
        print(f"  query: {query}")
        for (hit, score), mark in zip(hits, marks):
            print(f"    {score:.3f}  {hit['video_id']} {mark}")
    other = rewrite_at_other_sizes([test[i] for i in range(min(60, len(test)))], out / "other_sizes")
    other_index = out / "index_other_sizes"
    cli_index(_Args(model=str(retriever_dir), videos=str(out / "other_sizes"), out=str(other_index), split="test",
                    batch_size=16))  # fmt: skip
    top1 = sum(
        search_index(str(other_index), row["captions"][0], k=1, model=model, processor=processor)[0][0]["video_path"]
        == row["video_path"]
        for row in other
    )
    print(f"\n== search over {len(other)} re-encoded test clips (other sizes and frame rates): "
          f"right clip first for {top1}/{len(other)} captions")  # fmt: skip
    _print_metrics(
        "dual alignment (tiny) on the synthetic test split",
        retriever_metrics["final"],
        ["t2v_R@1", "t2v_R@5", "t2v_R@10", "t2v_MdR", "v2t_R@1", "v2t_R@5", "v2t_R@10"],
    )
    summary = {
        "synthetic": str(data_dir),
        "baselines": baselines,
        "mffcl": captioner_metrics["final"],
        "dual_align": retriever_metrics["final"],
        "search_other_sizes_top1": [top1, len(other)],
        "wall_time_s": round(time.time() - started, 1),
    }
    (out / "demo_metrics.json").write_text(json.dumps(summary, indent=2))
    print(f"\nHub-ready model folders: {captioner_dir}, {retriever_dir}\nsummary: {out / 'demo_metrics.json'}")
    return 0


class _Args:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)
