"""The `videotext` command. Every sub-command imports its implementation lazily, so `--help` is instant."""

from __future__ import annotations

import argparse
import importlib
import os
import sys


def _lazy(target: str):
    """Return a handler that imports `module:function` only when the sub-command runs."""

    def run(args: argparse.Namespace):
        module_name, func_name = target.split(":")
        return getattr(importlib.import_module(module_name), func_name)(args)

    return run


def _workers(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _add_num_workers(p: argparse.ArgumentParser) -> None:
    p.add_argument("--num-workers", type=_workers, default=None, metavar="N",
                   help="decoding worker processes running beside the model (default: half the CPU cores, at most 8; "
                   "0 = decode in this process)")  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="videotext", description="Video captioning and video-text retrieval with Hugging Face tools."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("synth", help="write the synthetic benchmark (MSR-VTT layout, V2C and SVAD side files)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--num-videos", type=int, default=3000, help="number of clips (default 3000)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same set")
    p.add_argument("--size", type=int, default=64, help="frame height and width in pixels (default 64)")
    p.add_argument("--num-frames", type=int, default=32, help="frames per clip (default 32)")
    p.add_argument("--fps", type=int, default=8, help="frames per second of the written mp4 (default 8)")
    p.add_argument("--workers", type=int, default=None, help="encoding processes (default: all cores)")
    p.set_defaults(func=_lazy("videotext.datasets_scripts.synthetic:cli_main"))

    p = sub.add_parser("prepare", help="build a DatasetDict from a dataset's official raw files")
    p.add_argument(
        "dataset",
        help="dataset name (msrvtt, msvd, vatex, webvid, cc3m, folder, v2c, synthetic, svad, youku, lsmdc, activitynet)",
    )
    p.add_argument("--data-dir", required=True, help="folder with the official raw files")
    p.add_argument("--out", required=True, help="where DatasetDict.save_to_disk writes")
    p.add_argument(
        "--split-protocol", default=None, help="split protocol, e.g. msrvtt: full | 1k-A-9k | 1k-A-7k | 1k-B; v2c: raw | human"
    )
    p.add_argument(
        "--split-file",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="split list passed by path where it is not part of the raw release (repeatable)",
    )
    p.add_argument("--video-dir", default=None, help="video folder when it is not inside --data-dir")
    p.add_argument("--expert-features-dir", default=None,
                   help="MMT's per-video HDF5 feature folder (vid_feat_files/mult_h5): adds expert_features_path (TransDCS)")
    p.add_argument("--push-to-hub", default=None, metavar="REPO", help="also publish the dataset as parquet")
    p.add_argument(
        "--allow-pickle",
        action="store_true",
        help="fully unpickle the releases' .pkl files (MSVD raw-captions.pkl, MSR-VTT jsfusion_val_caption_idx.pkl) "
        "when they hold more than plain data. Unpickling can run code hidden in the file: only for files you trust. "
        "Without it they are read as plain data only, which runs nothing.",
    )
    p.set_defaults(func=_lazy("videotext.datasets_scripts:cli_prepare"))

    p = sub.add_parser("keywords", help="fill a prepared dataset's `keywords` column from its descriptions")
    p.add_argument("dataset", help="folder written by `videotext prepare` or `videotext synth`")
    p.add_argument("--out", required=True, help="where the DatasetDict with keywords is saved")
    p.add_argument("--model", default=None, help="local causal LM folder: keywords by LLM (default: heuristic)")
    p.add_argument("--max-document-share", type=float, default=0.5,
                   help="heuristic: words in more than this share of the annotations are template words")
    p.set_defaults(func=_lazy("videotext.text_stats:cli_keywords"))

    p = sub.add_parser("stats", help="SVAD-paper dataset statistics (Table 1 / 3) and Figure 2 / 4 style PNGs")
    p.add_argument("dataset", help="folder written by `videotext prepare` or `videotext synth`")
    p.add_argument("--out", required=True, help="folder for stats.json and the PNG files")
    p.add_argument("--split", default=None, help="one split (default: all)")
    p.add_argument("--text", default="auto", choices=("auto", "description", "captions"),
                   help="annotations: descriptions where present (auto), descriptions, or captions")
    p.set_defaults(func=_lazy("videotext.text_stats:cli_stats"))

    p = sub.add_parser("train", help="train a recipe (also under `accelerate launch -m videotext train ...`)")
    p.add_argument("recipe", nargs="?", help="recipe name (see `videotext train --list`) or path to a YAML file")
    p.add_argument("--output-dir", required=False, help="run folder: checkpoints, metrics.json, final model")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a recipe field")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --output-dir")
    p.add_argument("--list", action="store_true", help="list the shipped recipes and exit")
    p.set_defaults(func=_lazy("videotext.training:cli_train"))

    p = sub.add_parser("eval", help="evaluate a model on a prepared dataset; writes a metrics JSON")
    p.add_argument("model", help="model folder or Hub id")
    p.add_argument("--dataset", required=True, help="folder written by `videotext prepare` or `videotext synth`")
    p.add_argument("--split", default="test", help="dataset split (default test)")
    p.add_argument("--out", default=None, help="metrics JSON path (default MODEL/eval_<split>.json)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--num-beams", type=int, default=1)
    p.add_argument("--max-new-tokens", type=int, default=30)
    p.add_argument(
        "--protocol", default=None, help="retrieval protocol: first-caption (MSR-VTT 1k-A/1k-B) or all-captions (MSVD)"
    )
    p.add_argument("--dsl", action="store_true", help="also report dual-softmax re-ranked retrieval metrics")
    p.add_argument(
        "--references",
        default="captions",
        choices=("captions", "description"),
        help="captioning references: the clips' captions (default) or their fine-grained descriptions",
    )
    p.add_argument("--judge", default=None, metavar="LM",
                   help="local causal LM folder: also score correctness / detail / temporal / context (0-5)")
    p.add_argument("--seeds", nargs="+", default=None, metavar="MODEL",
                   help="more model folders of the same recipe trained with other seeds: the JSON holds every run "
                   "and `metrics` is their mean (the papers' protocol, e.g. TransDCS's 3 seeds)")
    p.set_defaults(func=_lazy("videotext.inference:cli_eval"))

    p = sub.add_parser("caption", help="caption video files")
    p.add_argument("model", help="model folder or Hub id")
    p.add_argument("videos", nargs="+", help="video files, or folders of them")
    p.add_argument("--num-beams", type=int, default=1)
    p.add_argument("--top-p", type=float, default=None, help="nucleus sampling with this top-p")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=30)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prompt", default=None, help="text prompt for methods that generate from one (e.g. svad_vlm)")
    p.add_argument("--batch-size", type=int, default=16, help="clips captioned together")
    _add_num_workers(p)
    p.set_defaults(func=_lazy("videotext.inference:cli_caption"))

    p = sub.add_parser("index", help="embed a video collection for search")
    p.add_argument("model", help="retrieval model folder or Hub id")
    p.add_argument("--videos", required=True, help="folder of videos, or a prepared dataset folder")
    p.add_argument("--out", required=True, help="index folder")
    p.add_argument("--split", default="test", help="split when --videos is a dataset (default test)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument(
        "--overwrite", action="store_true", help="start clean when --out holds an index of another model or collection"
    )
    milvus_options(p, write=True)
    p.add_argument(
        "--keyframes-only", action="store_true",
        help="decode only the keyframe nearest each sampled frame: much faster, inexact (other frames than the model "
        "was trained on)",
    )  # fmt: skip
    _add_num_workers(p)
    p.set_defaults(func=_lazy("videotext.inference:cli_index"))

    p = sub.add_parser("search", help="search an index by text")
    p.add_argument("index", help="index folder written by `videotext index` (with --milvus: or the Milvus URI)")
    p.add_argument("query", nargs="*", help="text query")
    p.add_argument("--queries", default=None, metavar="FILE", help="search every line of FILE (one model load)")
    p.add_argument("-k", type=int, default=10, help="number of results (at least 1)")
    p.add_argument("--exact", action="store_true", help="exact search even when the index has an approximate one")
    p.add_argument(
        "--serve", type=int, default=None, metavar="PORT", help="serve GET /search?q=TEXT&k=N on 127.0.0.1:PORT"
    )
    milvus_options(p, write=False)
    p.set_defaults(func=_lazy("videotext.inference:cli_search"))

    p = sub.add_parser("extract-experts", help="expert features (TransDCS) from raw videos: one safetensors per clip")
    p.add_argument("--videos", required=True, help="folder of videos, or a prepared dataset folder")
    p.add_argument("--out", required=True, help="output folder (rerun to resume: existing files are kept)")
    p.add_argument("--split", default="all", help="split when --videos is a dataset (default: every split)")
    p.add_argument("--model", default=None, help="use the extractors a trained model folder was trained with")
    p.add_argument("--experts", default=None,
                   help="expert specs as JSON, a JSON / YAML file (a list), or a recipe file or name (its processor.experts); "
                   "default: the weight-free ones")
    p.add_argument("--extractor", action="append", default=[], metavar="NAME=MODEL[,key=value]",
                   help="a transformers-backbone expert (Hub id or local folder), replacing the expert NAME or added, "
                   "e.g. appearance=openai/clip-vit-base-patch32 or motion=MCG-NJU/videomae-base,num_clips=4 "
                   "(NAME=weight-free: the built-in one; repeatable)")
    p.add_argument("--num-frames", type=int, default=None, help="frames sampled per clip (default 16 / the model's)")
    p.add_argument("--ce-pickle", action="append", default=[], metavar="EXPERT=PATH",
                   help="convert a Collaborative Experts per-expert pickle instead of extracting (repeatable)")
    p.add_argument("--allow-pickle", action="store_true",
                   help="allow reading --ce-pickle files: a pickle can execute arbitrary code when loaded, use only "
                   "files you trust")
    p.set_defaults(func=_lazy("videotext.experts:cli_extract_experts"))

    def card_options(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--metrics",
            action="append",
            default=[],
            metavar="FILE",
            help="metrics JSON for the card's model-index: `videotext eval` output or a training metrics.json "
            "(repeatable; default: MODEL/eval_*.json, else the training run's final evaluation)",
        )
        p.add_argument("--license", default="apache-2.0", help="licence id for the card (default apache-2.0)")
        p.add_argument(
            "--dataset-id",
            action="append",
            default=[],
            metavar="ID",
            help="Hub dataset id for the card's `datasets` (repeatable; default: the training / evaluation data)",
        )

    p = sub.add_parser(
        "export",
        help="write a clean Hub folder: weights, config + code (auto_map), processor, card, LoRA adapter",
        description="Export a trained output folder (or any folder of a registered method) as a Hub folder: "
        "config with auto_map, safetensors, the method's code, processor, tokenizer(s), generation config, "
        "README.md (model card) and adapter/ when trained with LoRA. Training state is never copied.",
    )
    p.add_argument("model", help="model folder (`videotext train` output or a Hub folder) or Hub id")
    p.add_argument("--out", required=True, help="export folder (must be empty, or pass --overwrite)")
    p.add_argument("--repo-id", default=None, help="Hub id the card's snippets load from (default: the --out path)")
    p.add_argument("--overwrite", action="store_true", help="replace the contents of a non-empty --out")
    card_options(p)
    p.set_defaults(func=_lazy("videotext.hub_cards.export:cli_export"))

    p = sub.add_parser(
        "push",
        help="export a model and upload it to the Hub in one commit",
        description="Export MODEL (as `videotext export`) to a temporary folder and upload it to the Hub model repo "
        "--repo-id in one commit (the repo is created when missing). Log in first (`hf auth login` or HF_TOKEN).",
    )
    p.add_argument("model", help="model folder (`videotext train` output or a Hub folder)")
    p.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="Hub model repo to upload to")
    p.add_argument("--private", action="store_true", help="create the repo as private")
    p.add_argument("--revision", default=None, metavar="REV", help="branch to commit to (created when missing)")
    p.add_argument("--commit-message", default=None, help="commit message")
    card_options(p)
    p.set_defaults(func=_lazy("videotext.hub_cards.export:cli_push"))

    p = sub.add_parser("demo", help="the main job: synthetic set, tiny models, captions, search, metrics")
    p.add_argument("--out", default="demo_out", help="demo folder (default ./demo_out)")
    p.add_argument("--num-videos", type=int, default=None, help="synthetic clips (default: the recipes' size)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a field of every demo recipe, e.g. train.max_steps=50 (before the short budgets)",
    )
    p.add_argument(
        "--budget-minutes",
        type=float,
        default=None,
        help="the whole demo's time, synthetic set included: each method trains an equal share, its stages' steps "
        "scaled from steps timed on this machine (default 10)",
    )
    p.add_argument("--full", action="store_true", help="train the full tiny recipes (no short budgets)")
    p.set_defaults(func=_lazy("videotext.demo:cli_demo"))
    return parser


# user errors: bad input, a wrong path or value. They print one line; VIDEOTEXT_TRACEBACK=1 shows the traceback.
USER_ERRORS = (ValueError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


def milvus_options(p: argparse.ArgumentParser, write: bool) -> None:
    """`--milvus URI` (a Milvus Lite `.db` file or `http(s)://HOST:19530`; token from $MILVUS_TOKEN) and friends."""
    p.add_argument("--milvus", default=None, metavar="URI",
                   help=("also upsert the embeddings into this Milvus collection" if write else "search this Milvus "
                         "collection (INDEX may then be the URI or the local index of the same model)")
                   + ": a Milvus Lite file (./videos.db) or http(s)://HOST:19530; token from $MILVUS_TOKEN")  # fmt: skip
    p.add_argument("--milvus-collection", default=None, metavar="NAME", help="collection name (default videotext_videos)")
    if write:
        p.add_argument("--milvus-index", default=None, choices=("FLAT", "HNSW", "IVF_FLAT", "AUTOINDEX"),
                       help="vector index of a new collection (default: FLAT under 100k videos, HNSW from there)")


def _close_progress_bars() -> None:
    """End open tqdm bars (each with its newline) so that an error message starts a line of its own."""
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        for bar in list(getattr(tqdm, "_instances", ())):
            bar.close()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "search" and not args.query and not args.queries and args.serve is None:
        parser.error("search: give a query or --queries FILE")
    try:
        result = args.func(args)
    except USER_ERRORS as err:
        if os.environ.get("VIDEOTEXT_TRACEBACK"):
            raise
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        _close_progress_bars()
        print(f"videotext {args.command}: error: {message}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
