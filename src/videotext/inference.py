"""Inference shared by the commands and by evaluation during training.

`videotext eval | caption | index | search` are thin wrappers over the functions here. Frames are decoded with
`videotext.processing.load_video` (uniform segment-centre sampling, `start`/`end` honoured) and handed to the
model's processor as uint8 arrays; a caller with its own frame cache passes `load_frames(row) -> (T, H, W, 3)`.
"""

from __future__ import annotations

import inspect
import json
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mkv", ".mov", ".m4v")
FrameLoader = Callable[[dict], np.ndarray]


# --------------------------------------------------------------------------------------------------- loading
def load_model_and_processor(model_path: str, device: str | torch.device | None = None):
    """Load a videotext model folder (or Hub id) with its method's Auto class, in eval mode."""
    import transformers
    from transformers import AutoConfig, AutoProcessor

    from .modeling import method_for_config

    config = AutoConfig.from_pretrained(model_path)
    auto_cls = getattr(transformers, method_for_config(config).auto_class)
    model = auto_cls.from_pretrained(model_path)
    processor = AutoProcessor.from_pretrained(model_path)
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu")).eval()
    return model, processor


def is_retriever(model) -> bool:
    # captioners may also expose get_video_features (MFFCL's contrastive towers): decide by the table, not by API
    from .modeling import method_for_config

    return method_for_config(model.config).task == "retrieval"


def model_num_frames(model) -> int:
    config = model.config
    frames = getattr(config, "num_frames", None) or getattr(getattr(config, "vision_config", None), "num_frames", None)
    if not frames:
        raise ValueError(f"{type(config).__name__} has no num_frames field")
    return int(frames)


def default_frame_loader(num_frames: int) -> FrameLoader:
    from .processing import load_video

    def load(row: dict) -> np.ndarray:
        return load_video(row["video_path"], num_frames=num_frames, start=row.get("start"), end=row.get("end")).frames

    return load


def _batches(items: Sequence, batch_size: int) -> Iterable[Sequence]:
    for start in range(0, len(items), batch_size):
        yield items[start : start + batch_size]


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _model_inputs(model, inputs) -> dict[str, Any]:
    """Every tensor the processor returned, on the model's device (float tensors in the model's dtype)."""
    dtype, device = next(model.parameters()).dtype, _device(model)
    return {
        k: v.to(device, dtype=dtype) if v.is_floating_point() else v.to(device)
        for k, v in dict(inputs).items()
        if isinstance(v, torch.Tensor)
    }


def _clip_inputs(model, processor, rows: Sequence[dict], load_frames: FrameLoader) -> dict[str, Any]:
    """The processor's inputs for a batch of clips, read by the method's input loader (the training table's
    `input_loader`; default: the sampled frames as `videos`), as model inputs."""
    from .training.methods import TRAINING_METHODS, load_frames_input

    entry = TRAINING_METHODS.get(getattr(model.config, "model_type", None))
    loader = entry.input_loader if entry is not None else load_frames_input
    per_clip = [loader(row, load_frames) for row in rows]
    kwargs = {key: [clip[key] for clip in per_clip] for key in per_clip[0]}
    return _model_inputs(model, processor(**kwargs, return_tensors="pt"))


def _accepted(fn, inputs: dict[str, Any]) -> dict[str, Any]:
    """The inputs `fn` takes by name (all of them when it takes **kwargs)."""
    params = inspect.signature(fn).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return inputs
    return {k: v for k, v in inputs.items() if k in params}


def _shard(rows: Sequence, accelerator) -> Sequence:
    """This process's contiguous share of `rows` (all of them without an accelerator of several processes)."""
    if accelerator is None or accelerator.num_processes == 1:
        return rows
    per = -(-len(rows) // accelerator.num_processes)
    return rows[accelerator.process_index * per : (accelerator.process_index + 1) * per]


def _gather(values: list, accelerator) -> list:
    """The processes' `values` lists concatenated in process order (so, in row order after `_shard`)."""
    if accelerator is None or accelerator.num_processes == 1:
        return values
    from accelerate.utils import gather_object

    return gather_object(values)


# --------------------------------------------------------------------------------------------------- captioning
@torch.no_grad()
def caption_rows(
    model,
    processor,
    rows: Sequence[dict],
    *,
    load_frames: FrameLoader | None = None,
    batch_size: int = 16,
    progress: bool = False,
    **generate_kwargs: Any,
) -> list[str]:
    """Caption each row (`video_path`, optional `start`/`end`); returns one caption per row."""
    load_frames = load_frames or default_frame_loader(model_num_frames(model))
    generate_kwargs.setdefault("max_new_tokens", 30)
    captions: list[str] = []
    bar = tqdm(total=len(rows), desc="captioning", unit="video", disable=not progress)
    for batch in _batches(rows, batch_size):
        # everything the processor returns (a prompt's ids too, for a method whose processor adds one)
        inputs = _clip_inputs(model, processor, batch, load_frames)
        ids = model.generate(**inputs, **generate_kwargs)
        captions += [text.strip() for text in processor.batch_decode(ids, skip_special_tokens=True)]
        bar.update(len(batch))
    bar.close()
    return captions


def evaluate_captioner(
    model,
    processor,
    split,
    *,
    load_frames: FrameLoader | None = None,
    batch_size: int = 16,
    limit: int | None = None,
    return_predictions: bool = False,
    progress: bool = False,
    accelerator=None,
    **generate_kwargs: Any,
):
    """Caption every clip of a dataset split and score against all its reference captions (coco-caption).

    On a synthetic split the metrics also hold `synthetic_facts`: the share of clips whose caption names the right
    shape, colour, size, first / second event and both events in order (`evaluation.synthetic_facts`). With an
    accelerator of several processes each captions its share of the clips; every process gets the metrics."""
    from .evaluation import caption_metrics
    from .evaluation.synthetic_facts import synthetic_caption_facts, synthetic_truths_for

    rows = _rows(split, limit)
    mine = caption_rows(
        model,
        processor,
        _shard(rows, accelerator),
        load_frames=load_frames,
        batch_size=batch_size,
        progress=progress,
        **generate_kwargs,
    )
    captions = _gather(mine, accelerator)
    predictions = {row["video_id"]: caption for row, caption in zip(rows, captions)}
    references = {row["video_id"]: list(row["captions"]) for row in rows}
    metrics = caption_metrics(predictions, references)
    truths = synthetic_truths_for(rows)
    if truths is not None:
        metrics["synthetic_facts"] = synthetic_caption_facts(captions, truths)
    return (metrics, predictions) if return_predictions else metrics


# --------------------------------------------------------------------------------------------------- retrieval
@torch.no_grad()
def embed_video_rows(
    model,
    processor,
    rows: Sequence[dict],
    *,
    load_frames: FrameLoader | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> np.ndarray:
    """L2-normalised global video embeddings, (num_rows, dim) float32."""
    load_frames = load_frames or default_frame_loader(model_num_frames(model))
    chunks = []
    for batch in tqdm(list(_batches(rows, batch_size)), desc="embedding videos", disable=not progress):
        inputs = _clip_inputs(model, processor, batch, load_frames)
        chunks.append(_normalize(model.get_video_features(**_accepted(model.get_video_features, inputs))))
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)


@torch.no_grad()
def embed_texts(model, processor, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
    """L2-normalised text embeddings, (num_texts, dim) float32."""
    chunks = []
    for batch in _batches(list(texts), batch_size):
        inputs = _model_inputs(model, processor(text=list(batch), return_tensors="pt"))
        chunks.append(_normalize(model.get_text_features(**_accepted(model.get_text_features, inputs))))
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)


def similarity(model, text_embeds: np.ndarray, video_embeds: np.ndarray) -> np.ndarray:
    """(num_texts, num_videos) scores: the model's own `score_embeddings` when it has one (TransDCS: modality weights
    renormalised over the modalities a video has), else the cosine (the embeddings are L2-normalised)."""
    score = getattr(model, "score_embeddings", None)
    if score is None:
        return text_embeds @ video_embeds.T
    with torch.no_grad():
        return score(torch.from_numpy(text_embeds), torch.from_numpy(video_embeds)).numpy()


def _normalize(features) -> np.ndarray:
    if not isinstance(features, torch.Tensor):  # a ModelOutput: take its pooled embedding
        features = features[0] if features[0].dim() == 2 else features.pooler_output
    return torch.nn.functional.normalize(features.float(), dim=-1).cpu().numpy()


def evaluate_retriever(
    model,
    processor,
    split,
    *,
    load_frames: FrameLoader | None = None,
    batch_size: int = 16,
    protocol: str = "first-caption",
    limit: int | None = None,
    dsl: bool = False,
    progress: bool = False,
    accelerator=None,
) -> dict[str, float]:
    """Text-to-video and video-to-text retrieval metrics on a split.

    `first-caption`: one query per video, its first caption (MSR-VTT 1k-A/1k-B; a 1k-A test split built by
    `videotext prepare` already holds the one JSFusion caption). `all-captions`: every caption is a query and a
    video's v2t rank is that of its best-ranked caption (MSVD, CLIP4Clip's multi-sentence protocol).
    """
    from .evaluation import retrieval_metrics

    if protocol not in ("first-caption", "all-captions"):
        raise ValueError(f"protocol must be 'first-caption' or 'all-captions', got {protocol!r}")
    rows = _rows(split, limit)
    texts, text_to_video = [], []
    for index, row in enumerate(rows):
        captions = list(row["captions"])[: 1 if protocol == "first-caption" else None]
        texts += captions
        text_to_video += [index] * len(captions)
    video_embeds = embed_video_rows(
        model, processor, _shard(rows, accelerator), load_frames=load_frames, batch_size=batch_size, progress=progress
    )
    text_embeds = embed_texts(model, processor, _shard(texts, accelerator))
    if accelerator is not None and accelerator.num_processes > 1:
        video_embeds = np.concatenate([e for e in _gather([video_embeds], accelerator) if e.size])
        text_embeds = np.concatenate([e for e in _gather([text_embeds], accelerator) if e.size])
    return retrieval_metrics(similarity(model, text_embeds, video_embeds), np.asarray(text_to_video), dsl=dsl)


def evaluate(
    model,
    processor,
    split,
    *,
    load_frames: FrameLoader | None = None,
    batch_size: int = 16,
    limit: int | None = None,
    protocol: str = "first-caption",
    dsl: bool = False,
    generate_kwargs: dict | None = None,
    progress: bool = False,
    accelerator=None,
) -> dict:
    """Score `model` on a split by its method's task (the method table): captioners with coco-caption (and the
    synthetic facts on a synthetic split), retrievers with text-to-video / video-to-text recalls (`protocol`,
    `dsl`). Used by training and by `videotext eval`."""
    from .modeling import method_for_config

    common = dict(load_frames=load_frames, batch_size=batch_size, limit=limit, progress=progress, accelerator=accelerator)
    with torch.no_grad():
        if method_for_config(model.config).task == "captioning":
            return evaluate_captioner(model, processor, split, **common, **(generate_kwargs or {}))
        return evaluate_retriever(model, processor, split, protocol=protocol, dsl=dsl, **common)


def _rows(split, limit: int | None) -> list[dict]:
    count = len(split) if limit is None else min(limit, len(split))
    if count == 0:
        raise ValueError("the evaluation split is empty")
    return [split[i] for i in range(count)]


# --------------------------------------------------------------------------------------------------- commands
def mean_metrics(runs: list[dict]) -> dict:
    """The mean of every numeric metric over several runs (nested dicts averaged key by key)."""
    out: dict = {}
    for key, value in runs[0].items():
        values = [run.get(key) for run in runs]
        if isinstance(value, dict) and all(isinstance(v, dict) for v in values):
            out[key] = mean_metrics(values)
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            out[key] = float(np.mean(values))
    return out


def cli_eval(args) -> int:
    from .datasets_scripts import load_prepared

    dataset = load_prepared(args.dataset)
    if args.split not in dataset:
        raise SystemExit(f"videotext eval: split {args.split!r} not in {args.dataset} (has {list(dataset)})")
    split = dataset[args.split]
    runs = []
    for path in [args.model, *(getattr(args, "seeds", None) or [])]:
        model, processor = load_model_and_processor(path)
        runs.append({"model": path, "metrics": evaluate(
            model,
            processor,
            split,
            batch_size=args.batch_size,
            protocol=args.protocol or "first-caption",
            dsl=args.dsl,
            generate_kwargs={"num_beams": args.num_beams, "max_new_tokens": args.max_new_tokens},
            progress=True,
        )})
    metrics = runs[0]["metrics"] if len(runs) == 1 else mean_metrics([run["metrics"] for run in runs])
    report = {
        "model": args.model,
        "dataset": args.dataset,
        "split": args.split,
        "num_clips": len(split),
        "metrics": metrics,
    }
    if len(runs) > 1:  # the paper's protocol: the mean over runs trained with different seeds
        report["runs"] = runs
    out = (
        Path(args.out)
        if args.out
        else (Path(args.model) if Path(args.model).is_dir() else Path(".")) / (f"eval_{args.split}.json")
    )
    out.write_text(json.dumps(report, indent=2))
    from .evaluation import flat_metrics

    for key, value in flat_metrics(metrics).items():
        print(f"{key:>28}: {value:.4f}" if isinstance(value, float) else f"{key:>28}: {value}")
    print(f"wrote {out}")
    return 0


def cli_caption(args) -> int:
    from .processing import VideoDecodeError

    torch.manual_seed(args.seed)
    model, processor = load_model_and_processor(args.model)
    generate_kwargs: dict[str, Any] = {"num_beams": args.num_beams, "max_new_tokens": args.max_new_tokens}
    if args.top_p is not None:
        generate_kwargs.update(do_sample=True, top_p=args.top_p, temperature=args.temperature)
    failed = 0
    for path in args.videos:
        try:
            (caption,) = caption_rows(model, processor, [{"video_path": path}], **generate_kwargs)
        except VideoDecodeError as err:
            print(f"error: {err}", file=sys.stderr)
            failed += 1
            continue
        print(f"{path}\t{caption}")
    return 1 if failed else 0


def _collect_videos(source: str, split: str) -> list[dict]:
    path = Path(source)
    if path.is_dir() and not any(path.glob("dataset_dict.json")) and not (path / "synthetic_annotations.json").exists():
        files = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS)
        if not files:
            raise SystemExit(f"videotext index: no video files ({', '.join(VIDEO_EXTENSIONS)}) under {source}")
        return [{"video_id": p.stem, "video_path": str(p.resolve())} for p in files]
    from .datasets_scripts import load_prepared

    dataset = load_prepared(source)
    if split not in dataset:
        raise SystemExit(f"videotext index: split {split!r} not in {source} (has {list(dataset)})")
    return [
        {"video_id": r["video_id"], "video_path": r["video_path"], "start": r.get("start"), "end": r.get("end")}
        for r in dataset[split]
    ]


def cli_index(args) -> int:
    """Embed a collection in shards of `batch_size * 16` videos; a rerun skips the shards already written."""
    model, processor = load_model_and_processor(args.model)
    if not is_retriever(model):
        raise SystemExit(f"videotext index: {args.model} is a captioner; indexing needs a retrieval model")
    rows = _collect_videos(args.videos, args.split)
    out = Path(args.out)
    shard_dir = out / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    shard_size = args.batch_size * 16
    num_shards = math.ceil(len(rows) / shard_size)
    manifest = out / "videos.json"
    if manifest.exists() and json.loads(manifest.read_text()) != rows:
        raise SystemExit(f"videotext index: {out} holds an index of a different collection; use a new --out")
    manifest.write_text(json.dumps(rows))
    load_frames = default_frame_loader(model_num_frames(model))
    for shard in tqdm(range(num_shards), desc="indexing", unit="shard"):
        target = shard_dir / f"{shard:05d}.npy"
        if target.exists():
            continue
        chunk = rows[shard * shard_size : (shard + 1) * shard_size]
        embeds = embed_video_rows(model, processor, chunk, load_frames=load_frames, batch_size=args.batch_size)
        np.save(target.with_suffix(".tmp.npy"), embeds)
        target.with_suffix(".tmp.npy").rename(target)
    embeddings = np.concatenate([np.load(shard_dir / f"{s:05d}.npy") for s in range(num_shards)])
    np.save(out / "embeddings.npy", embeddings.astype(np.float32))
    meta = {
        "model": str(Path(args.model).resolve()) if Path(args.model).exists() else args.model,
        "model_type": model.config.model_type,
        "embedding_dim": int(embeddings.shape[1]),
        "num_videos": len(rows),
        "normalized": True,
    }
    (out / "index.json").write_text(json.dumps(meta, indent=2))
    print(f"indexed {len(rows)} videos ({meta['embedding_dim']}-d) into {out}")
    return 0


def search_index(index_dir: str, query: str, k: int = 10, model=None, processor=None) -> list[tuple[dict, float]]:
    """Top-k (video row, cosine score) for a text query; exact search, or FAISS when installed and the index is large."""
    index = Path(index_dir)
    if not (index / "index.json").exists():
        raise SystemExit(f"videotext search: {index_dir} is not an index folder (no index.json)")
    meta = json.loads((index / "index.json").read_text())
    rows = json.loads((index / "videos.json").read_text())
    embeddings = np.load(index / "embeddings.npy")
    if model is None:
        model, processor = load_model_and_processor(meta["model"])
    query_embed = embed_texts(model, processor, [query])[0]
    k = min(k, len(rows))
    try:
        if len(rows) < 100_000 or hasattr(model, "score_embeddings"):
            raise ImportError
        import faiss

        faiss_index = faiss.IndexFlatIP(embeddings.shape[1])
        faiss_index.add(embeddings)
        scores, ids = faiss_index.search(query_embed[None].astype(np.float32), k)
        ranked = list(zip(ids[0].tolist(), scores[0].tolist()))
    except ImportError:
        scores = similarity(model, query_embed[None], embeddings)[0]
        top = np.argsort(-scores, kind="stable")[:k]
        ranked = [(int(i), float(scores[i])) for i in top]
    return [(rows[i], score) for i, score in ranked]


def cli_search(args) -> int:
    query = " ".join(args.query)
    for rank, (row, score) in enumerate(search_index(args.index, query, args.k), start=1):
        print(f"{rank:>3}  {score:.4f}  {row['video_path']}")
    return 0
