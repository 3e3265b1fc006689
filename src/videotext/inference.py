"""Inference shared by the commands and by evaluation during training.

`videotext eval | caption | index | search` are thin wrappers over the functions here. Frames are decoded with
`videotext.processing.load_video` (uniform segment-centre sampling, `start`/`end` honoured) and handed to the
model's processor as uint8 arrays; a caller with its own frame cache passes `load_frames(row) -> (T, H, W, 3)`.
"""

from __future__ import annotations

import functools
import inspect
import json
import multiprocessing
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .video_index import VIDEO_EXTENSIONS

FrameLoader = Callable[[dict], np.ndarray]


# --------------------------------------------------------------------------------------------------- loading
def load_model_and_processor(model_path: str, device: str | torch.device | None = None):
    """Load a videotext model folder (or Hub id) with its method's Auto class, in eval mode."""
    import transformers
    from transformers import AutoConfig, AutoProcessor

    from .modeling import method_for_config

    local = Path(model_path).expanduser()
    if local.is_dir() and not (local / "config.json").is_file():
        raise FileNotFoundError(f"{model_path} is not a model folder (no config.json)")
    try:
        config = AutoConfig.from_pretrained(model_path)
    except (OSError, ValueError) as err:
        if local.exists():
            raise
        from huggingface_hub.utils import HFValidationError

        if isinstance(err, HFValidationError) or isinstance(err.__cause__, HFValidationError):
            raise FileNotFoundError(f"model {model_path}: no such folder (and not a Hub model id)") from err
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FileNotFoundError(f"model {model_path}: no such folder, and no Hub model could be loaded ({reason})") from err
    auto_cls = getattr(transformers, method_for_config(config).auto_class)
    model = auto_cls.from_pretrained(model_path)
    processor = AutoProcessor.from_pretrained(model_path)
    check = getattr(getattr(processor, "video_processor", None), "check_model_config", None)
    if callable(check):  # e.g. TransDCS: the extractors' feature widths must be the model's expert input widths
        check(model.config)
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


def _load_row_frames(row: dict, num_frames: int, keyframes_only: bool = False) -> np.ndarray:
    from .processing import load_video

    return load_video(row["video_path"], num_frames=num_frames, start=row.get("start"), end=row.get("end"),
                      keyframes_only=keyframes_only).frames  # fmt: skip


def default_frame_loader(num_frames: int, keyframes_only: bool = False) -> FrameLoader:
    """`load_video` with uniform sampling and the row's `start`/`end`; `keyframes_only` is its inexact fast mode."""
    # a partial of a module function, not a closure: worker processes started by spawn can unpickle it
    return functools.partial(_load_row_frames, num_frames=num_frames, keyframes_only=keyframes_only)


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


def _input_loader(model):
    """The method's input loader (the training table's `input_loader`; default: the sampled frames as `videos`)."""
    from .training.methods import TRAINING_METHODS, load_frames_input

    entry = TRAINING_METHODS.get(getattr(model.config, "model_type", None))
    return entry.input_loader if entry is not None else load_frames_input


# --------------------------------------------------------------------------------------------------- worker processes
def default_num_workers() -> int:
    """Decoding worker processes when none is asked for: half the usable cores (the other half runs the model), at
    most 8; 0 (decode in this process) on one core."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(8, cores // 2)


def _single_threaded_worker(worker_id: int) -> None:
    # N single-threaded decoding processes scale with the cores; N threads in one process do not (issue 17)
    torch.set_num_threads(1)


def _as_is(item):
    return item


def _read_clip(input_loader, load_frames: FrameLoader, row: dict) -> dict[str, Any]:
    return input_loader(row, load_frames)


def one_line(err: BaseException) -> str:
    """An error as the one line the commands print and the index lists."""
    return str(err).splitlines()[0] if str(err) else type(err).__name__


class ClipBatches(torch.utils.data.Dataset):
    """Item b: the clips of `batches[b]` (row numbers) decoded and preprocessed, as `(row numbers read, processor
    tensors or None, [(row number, exception)] of the clips that could not be read)`. One item is one batch, so a
    `DataLoader(batch_size=None)` worker decodes and preprocesses a whole batch while the model runs on another."""

    def __init__(self, rows: Sequence[dict], batches: Sequence[Sequence[int]], read_clip, processor, prompt=None):
        self.rows, self.batches, self.read_clip, self.processor, self.prompt = rows, batches, read_clip, processor, prompt

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, b: int):
        try:
            return self._batch(b)
        except Exception as err:  # returned, raised again by the reader: a worker process would bury its message
            return list(self.batches[b]), err, []

    def _batch(self, b: int):
        from .processing import VideoDecodeError

        per_clip, numbers, failures = [], [], []
        for number in self.batches[b]:
            try:
                per_clip.append(self.read_clip(self.rows[number]))
                numbers.append(number)
            except (VideoDecodeError, OSError) as err:
                failures.append((number, err))
        if not per_clip:
            return numbers, None, failures
        kwargs = {key: [clip[key] for clip in per_clip] for key in per_clip[0]}
        if self.prompt is not None:
            kwargs["text"] = [self.prompt] * len(per_clip)
        inputs = self.processor(**kwargs, return_tensors="pt")
        return numbers, {k: v for k, v in dict(inputs).items() if isinstance(v, torch.Tensor)}, failures


def iter_clip_batches(model, processor, rows: Sequence[dict], batches: Sequence[Sequence[int]], *,
                      load_frames: FrameLoader, num_workers: int = 0, prompt: str | None = None):  # fmt: skip
    """For each batch of row numbers in `batches`, in order: (row numbers read, model inputs or None, [(row number,
    exception)] of unreadable clips). With `num_workers` > 0 the clips are decoded and preprocessed in that many
    single-threaded worker processes (a `torch.utils.data.DataLoader`, each worker one whole batch) while this
    process runs the model, so a pipeline runs at the speed of its slowest stage instead of the sum of the stages;
    0 reads in this process."""
    read = functools.partial(_read_clip, _input_loader(model), load_frames)
    dataset = ClipBatches(rows, batches, read, processor, prompt)
    workers = min(int(num_workers), len(batches)) if len(batches) > 1 else 0  # one batch: nothing to overlap
    if workers <= 0:
        items: Iterable = (dataset[b] for b in range(len(dataset)))
    else:
        items = torch.utils.data.DataLoader(
            dataset,
            batch_size=None,
            collate_fn=_as_is,
            num_workers=workers,
            worker_init_fn=_single_threaded_worker,
            # fork: the workers inherit the processor and any frame loader, picklable or not
            multiprocessing_context="fork" if "fork" in multiprocessing.get_all_start_methods() else None,
            pin_memory=_device(model).type == "cuda",
        )
    for numbers, inputs, failures in items:
        if isinstance(inputs, Exception):
            raise inputs
        yield numbers, (None if inputs is None else _model_inputs(model, inputs)), failures


def row_batches(count: int, batch_size: int, first: int = 0) -> list[range]:
    """Row numbers first .. first + count - 1 in consecutive batches of `batch_size` (the last one shorter)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return [range(s, min(s + batch_size, first + count)) for s in range(first, first + count, batch_size)]


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
COMMONSENSE_EXAMPLES = 10  # commonsense texts kept in the metrics (the scores cover every clip)


def has_commonsense(model) -> bool:
    """Whether the captioner also generates commonsense texts (`generate(..., return_commonsense=True)`)."""
    return bool(getattr(model, "has_commonsense", False))


@torch.no_grad()
def caption_rows(
    model,
    processor,
    rows: Sequence[dict],
    *,
    load_frames: FrameLoader | None = None,
    batch_size: int = 16,
    progress: bool = False,
    commonsense: list | None = None,
    prompt: str | None = None,
    num_workers: int = 0,
    failures: list | None = None,
    **generate_kwargs: Any,
) -> list[str]:
    """Caption each row (`video_path`, optional `start`/`end`); returns one caption per row. A `commonsense` list
    receives, for a model with commonsense sub-decoders (`has_commonsense`), one `{aspect: text}` per captioned row.
    `prompt`: a text prompt for every clip (given to the processor as `text`; for methods that generate from one).
    `num_workers`: decoding worker processes (see `iter_clip_batches`; 0 decodes in this process). Without a
    `failures` list the first unreadable clip raises; with one, unreadable clips get the caption None and
    `(row number, one-line error)` is appended to `failures`."""
    load_frames = load_frames or default_frame_loader(model_num_frames(model))
    generate_kwargs.setdefault("max_new_tokens", 30)
    if commonsense is not None and has_commonsense(model):
        generate_kwargs["return_commonsense"] = True
    captions: list = [None] * len(rows)
    bar = tqdm(total=len(rows), desc="captioning", unit="video", disable=not progress)
    batches = row_batches(len(rows), batch_size)
    for numbers, inputs, bad in iter_clip_batches(model, processor, rows, batches, load_frames=load_frames,
                                                  num_workers=num_workers, prompt=prompt):  # fmt: skip
        if bad and failures is None:
            raise bad[0][1]
        if failures is not None:
            failures += [(number, one_line(err)) for number, err in bad]
        if inputs is not None:
            # everything the processor returns (a prompt's ids too, for a method whose processor adds one)
            ids = model.generate(**inputs, **generate_kwargs)
            if generate_kwargs.get("return_commonsense"):
                commonsense += processor.decode_commonsense(ids)
                ids = ids.sequences
            for number, text in zip(numbers, processor.batch_decode(ids, skip_special_tokens=True)):
                captions[number] = text.strip()
        bar.update(len(numbers) + len(bad))
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
    judge=None,
    **generate_kwargs: Any,
):
    """Caption every clip of a dataset split and score against all its reference captions (coco-caption); with a
    `judge` (`evaluation.llm_judge`: a callable prompt -> answer) also the LLM-judge scores (`llm_judge`).

    On a synthetic split the metrics also hold `synthetic_facts`: the share of clips whose caption names the right
    shape, colour, size, first / second event and both events in order (`evaluation.synthetic_facts`). With an
    accelerator of several processes each captions its share of the clips; every process gets the metrics."""
    from .evaluation import caption_metrics
    from .evaluation.keyword_fill import keyword_fill_answers, summarize_keyword_fill, supports_keyword_fill
    from .evaluation.synthetic_facts import synthetic_caption_facts, synthetic_truths_for

    rows = _rows(split, limit)
    commonsense = [] if has_commonsense(model) else None
    mine = caption_rows(
        model,
        processor,
        _shard(rows, accelerator),
        load_frames=load_frames,
        batch_size=batch_size,
        progress=progress,
        commonsense=commonsense,
        **generate_kwargs,
    )
    captions = _gather(mine, accelerator)
    predictions = {row["video_id"]: caption for row, caption in zip(rows, captions)}
    references = {row["video_id"]: list(row["captions"]) for row in rows}
    metrics = caption_metrics(predictions, references)
    truths = synthetic_truths_for(rows)
    if truths is not None:
        metrics["synthetic_facts"] = synthetic_caption_facts(captions, truths)
    if commonsense is not None:
        metrics.update(_commonsense_metrics(rows, _gather(commonsense, accelerator)))
    if supports_keyword_fill(processor, rows):
        # the keyword fill-in task (SVAD-VLM): on a synthetic split only visual words are blanked
        from .datasets_scripts.synthetic import VISUAL_KEYWORDS

        mine = _shard(rows, accelerator)
        answers = keyword_fill_answers(model, processor, mine, load_frames or default_frame_loader(
            model_num_frames(model)), visual_words=VISUAL_KEYWORDS if truths is not None else None,
            batch_size=batch_size)  # fmt: skip
        metrics["keyword_fill"] = summarize_keyword_fill(_gather(answers, accelerator), len(rows))
    if judge is not None:
        from .evaluation.llm_judge import llm_judge_scores

        metrics["llm_judge"] = llm_judge_scores(predictions, references, judge)
    return (metrics, predictions) if return_predictions else metrics


def _commonsense_metrics(rows: Sequence[dict], texts: list[dict[str, str]]) -> dict:
    """`commonsense_examples` (video id -> the generated aspect texts, first `COMMONSENSE_EXAMPLES` clips) and, per
    aspect the split annotates, `commonsense/<aspect>` BLEU-4 / CIDEr against the clip's annotations joined with "; "
    (the sub-decoders' training target)."""
    from .evaluation import caption_metrics

    examples = {row["video_id"]: t for row, t in zip(rows[:COMMONSENSE_EXAMPLES], texts)}
    out: dict[str, Any] = {"commonsense_examples": examples}
    scores = {}
    for aspect in texts[0] if texts else ():
        refs = {r["video_id"]: "; ".join(r.get(aspect) or []) for r in rows}
        if not all(refs.values()):
            continue
        preds = {row["video_id"]: t[aspect] for row, t in zip(rows, texts)}
        scored = caption_metrics(preds, {vid: [ref] for vid, ref in refs.items()}, metrics=("BLEU-4", "CIDEr"))
        scores[aspect] = {k: scored[k] for k in ("BLEU-4", "CIDEr")}
    if scores:
        out["commonsense"] = scores
    return out


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
    num_workers: int = 0,
) -> np.ndarray:
    """L2-normalised global video embeddings, (num_rows, dim) float32; the first unreadable clip raises.
    `num_workers`: decoding worker processes (see `iter_clip_batches`)."""
    load_frames = load_frames or default_frame_loader(model_num_frames(model))
    chunks = []
    batches = row_batches(len(rows), batch_size)
    for embeddings, _, failures in tqdm(iter_video_embeddings(model, processor, rows, batches, load_frames=load_frames,
                                                              num_workers=num_workers),
                                        total=len(batches), desc="embedding videos", disable=not progress):  # fmt: skip
        if failures:
            raise failures[0][2]
        chunks.append(embeddings)
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)


@torch.no_grad()
def iter_video_embeddings(model, processor, rows: Sequence[dict], batches: Sequence[Sequence[int]], *,
                          load_frames: FrameLoader, num_workers: int = 0):  # fmt: skip
    """For each batch of row numbers, in order: (L2-normalised embeddings of its readable clips, their row numbers,
    [(row number, one-line error, exception)] of the others). Decoding runs in `num_workers` worker processes."""
    for numbers, inputs, bad in iter_clip_batches(model, processor, rows, batches, load_frames=load_frames,
                                                  num_workers=num_workers):  # fmt: skip
        embeddings = np.zeros((0, 0), np.float32)
        if inputs is not None:
            embeddings = _normalize(model.get_video_features(**_accepted(model.get_video_features, inputs)))
        yield embeddings, numbers, [(number, one_line(err), err) for number, err in bad]


@torch.no_grad()
def embed_video_rows_tolerant(
    model, processor, rows: Sequence[dict], *, load_frames: FrameLoader, batch_size: int = 16, num_workers: int = 0
) -> tuple[np.ndarray, list[int], list[tuple[int, str]]]:
    """`embed_video_rows` that skips clips which cannot be read: (embeddings of the readable rows, their row
    numbers, [(row number, one-line error)] of the others)."""
    chunks, ok, failures = [], [], []
    batches = row_batches(len(rows), batch_size)
    for embeddings, numbers, bad in iter_video_embeddings(model, processor, rows, batches, load_frames=load_frames,
                                                          num_workers=num_workers):  # fmt: skip
        if numbers:
            chunks.append(embeddings)
            ok += numbers
        failures += [(number, message) for number, message, _ in bad]
    embeddings = np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
    return embeddings, ok, failures


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
    with torch.no_grad(), warnings.catch_warnings():
        # a memory-mapped index is read-only; score_embeddings only reads it, so share it instead of copying it
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
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
    judge=None,
) -> dict:
    """Score `model` on a split by its method's task (the method table): captioners with coco-caption (and the
    synthetic facts on a synthetic split), retrievers with text-to-video / video-to-text recalls (`protocol`,
    `dsl`). Used by training and by `videotext eval`."""
    from .modeling import method_for_config

    common = dict(load_frames=load_frames, batch_size=batch_size, limit=limit, progress=progress, accelerator=accelerator)
    with torch.no_grad():
        if method_for_config(model.config).task == "captioning":
            return evaluate_captioner(model, processor, split, judge=judge, **common, **(generate_kwargs or {}))
        return evaluate_retriever(model, processor, split, protocol=protocol, dsl=dsl, **common)


def _rows(split, limit: int | None) -> list[dict]:
    count = len(split) if limit is None else min(limit, len(split))
    if count == 0:
        raise ValueError("the evaluation split is empty")
    rows = [split[i] for i in range(count)]
    seen: set[str] = set()
    repeated = [r["video_id"] for r in rows if r["video_id"] in seen or seen.add(r["video_id"])]
    if repeated:  # scores are keyed by video_id: a repeated id would be scored once and counted twice
        raise ValueError(f"the evaluation split repeats video_id {repeated[0]!r} ({len(repeated)} repeats); "
                         "give every clip its own id")  # fmt: skip
    return rows


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
    if getattr(args, "references", "captions") != "captions":
        from .training.data import with_targets

        split = with_targets(split, args.references)
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
            judge=_judge(getattr(args, "judge", None)),
        )})
    metrics = runs[0]["metrics"] if len(runs) == 1 else mean_metrics([run["metrics"] for run in runs])
    report = {
        "model": args.model,
        "dataset": args.dataset,
        "split": args.split,
        "references": getattr(args, "references", "captions"),
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
    for video_id, texts in list((metrics.get("commonsense_examples") or {}).items())[:3]:
        print(f"{video_id}: " + " | ".join(f"{aspect}: {text}" for aspect, text in texts.items()))
    print(f"wrote {out}")
    return 0


def _judge(path: str | None):
    if not path:
        return None
    from .evaluation.llm_judge import LocalCausalLMJudge

    return LocalCausalLMJudge(path)


def _caption_rows_of(paths: Sequence[str]) -> list[dict]:
    """Rows for `videotext caption`: files as given (images too), and the video files under each folder, sorted (a
    folder named like a video is passed on as a file: decoding it reports it)."""
    rows = []
    for path in paths:
        folder = Path(path)
        if folder.is_dir() and folder.suffix.lower() not in VIDEO_EXTENSIONS:
            rows += [{"video_path": str(p)} for p in sorted(folder.rglob("*"))
                     if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS]  # fmt: skip
        else:
            rows.append({"video_path": path})
    return rows


def cli_caption(args) -> int:
    torch.manual_seed(args.seed)
    model, processor = load_model_and_processor(args.model)
    if is_retriever(model):
        raise SystemExit(f"videotext caption: {args.model} is a retrieval model; captioning needs a captioner")
    generate_kwargs: dict[str, Any] = {"num_beams": args.num_beams, "max_new_tokens": args.max_new_tokens}
    if args.top_p is not None:
        generate_kwargs.update(do_sample=True, top_p=args.top_p, temperature=args.temperature)
    rows = _caption_rows_of(args.videos)
    if not rows:
        raise SystemExit(f"videotext caption: no video files ({', '.join(VIDEO_EXTENSIONS)}) in {' '.join(args.videos)}")
    workers = getattr(args, "num_workers", None)
    failures: list[tuple[int, str]] = []
    captions = caption_rows(model, processor, rows, prompt=getattr(args, "prompt", None),
                            batch_size=getattr(args, "batch_size", 16), failures=failures, progress=len(rows) > 1,
                            num_workers=default_num_workers() if workers is None else workers,
                            **generate_kwargs)  # fmt: skip
    errors = dict(failures)
    for number, (row, caption) in enumerate(zip(rows, captions)):
        if number in errors:
            print(f"error: {errors[number]}", file=sys.stderr)
        else:
            print(f"{row['video_path']}\t{caption}")
    return 1 if failures else 0


def cli_index(args) -> int:
    """Embed a collection into an index folder (resumable; see `videotext.video_index`)."""
    from accelerate import PartialState

    from .training.cpu_launch import cpu_only_distributed
    from .video_index import build_index, collect_videos

    # under `accelerate launch`, each process embeds its share of the shards (gloo on a host without accelerators)
    processes = PartialState(cpu=cpu_only_distributed())
    model, processor = load_model_and_processor(args.model, device=processes.device)
    if not is_retriever(model):
        raise SystemExit(f"videotext index: {args.model} is a captioner; indexing needs a retrieval model")
    milvus = getattr(args, "milvus", None)
    if milvus:
        from .milvus_store import refuse_own_score

        refuse_own_score(model)  # before any embedding: the collection could not rank this model's videos
    rows, ignored = collect_videos(args.videos, args.split)
    model_id = str(Path(args.model).resolve()) if Path(args.model).exists() else args.model
    workers = getattr(args, "num_workers", None)
    if workers is None:  # the default shares the cores among the launched processes
        workers = default_num_workers() // processes.num_processes
    meta = build_index(model, processor, rows, args.out, model_id=model_id, batch_size=args.batch_size,
                       ignored_files=ignored, overwrite=getattr(args, "overwrite", False),
                       keyframes_only=getattr(args, "keyframes_only", False), num_workers=workers)  # fmt: skip
    if not processes.is_main_process:
        return 0
    print(f"indexed {meta['num_videos']} of {len(rows)} videos ({meta['embedding_dim']}-d) into {args.out}")
    for skip in meta["skipped"]:
        print(f"  skipped {skip['video_path']}: {skip['error']}", file=sys.stderr)
    if meta["num_skipped"] or meta["num_ignored_files"]:
        print(f"skipped {meta['num_skipped']} unreadable videos; ignored {meta['num_ignored_files']} files that are "
              f"not videos ({', '.join(VIDEO_EXTENSIONS)}); both listed in {Path(args.out) / 'index.json'}")  # fmt: skip
    if milvus:  # one writer: the main process, once every shard is merged
        from .milvus_store import DEFAULT_COLLECTION, write_index_folder

        collection = getattr(args, "milvus_collection", None) or DEFAULT_COLLECTION
        info = write_index_folder(args.out, milvus, collection=collection, overwrite=getattr(args, "overwrite", False),
                                  index_type=getattr(args, "milvus_index", None))  # fmt: skip
        print(f"wrote {meta['num_videos']} videos to the Milvus collection {info['collection']} at {milvus} "
              f"({info['num_videos']} in it, {info['index_type']} index)")  # fmt: skip
    return 0


def search_index(index_dir: str, query: str, k: int = 10, model=None, processor=None) -> list[tuple[dict, float]]:
    """Top-k (video row, score) for a text query (exact search over the index)."""
    return search_many(index_dir, [query], k, model=model, processor=processor)[0]


def search_many(index_dir, queries: Sequence[str], k: int = 10, model=None, processor=None, exact: bool = False):
    """Top-k (video row, score) for each query; the index is opened once, the queries embedded together. A model
    with its own `score_embeddings` (TransDCS) is searched exactly with that score; others by cosine."""
    from .video_index import VideoIndex

    index = index_dir if not isinstance(index_dir, (str, Path)) else VideoIndex(index_dir)
    empty = [i for i, q in enumerate(queries) if not str(q).strip()]
    if empty:
        raise ValueError(f"empty search query (query {empty[0] + 1} of {len(queries)})")
    if model is None:
        model, processor = load_model_and_processor(index.meta["model"])
    score = None
    if hasattr(model, "score_embeddings"):
        score = lambda texts, videos: similarity(model, texts, videos)  # noqa: E731
    return index.search_embeddings(embed_texts(model, processor, list(queries)), k, exact=exact, score=score)


def search_milvus(uri: str, queries: Sequence[str], k: int = 10, *, collection: str | None = None, model=None,
                  processor=None) -> list[list[tuple[dict, float]]]:
    """`search_many` over a Milvus collection written by `videotext index --milvus URI` (`uri`: a Milvus Lite `.db`
    file or `http(s)://HOST:PORT`, token from $MILVUS_TOKEN); the model is the one the collection records."""
    from .milvus_store import DEFAULT_COLLECTION, MilvusVideoIndex

    index = uri if isinstance(uri, MilvusVideoIndex) else MilvusVideoIndex(uri, collection or DEFAULT_COLLECTION)
    return search_many(index, queries, k, model=model, processor=processor)


def _open_search_index(args):
    """The local index folder, or with --milvus the collection (a local index given too must be of its model)."""
    from .video_index import VideoIndex

    if not getattr(args, "milvus", None):
        return VideoIndex(args.index)
    from .milvus_store import DEFAULT_COLLECTION, MilvusVideoIndex

    index = MilvusVideoIndex(args.milvus, args.milvus_collection or DEFAULT_COLLECTION)
    if (Path(args.index) / "index.json").is_file():
        local = VideoIndex(args.index).meta
        if (local.get("model"), local.get("weights_sha256")) != (index.meta["model"], index.meta["weights_sha256"]):
            raise ValueError(f"{args.index} and the Milvus collection {index.collection} hold embeddings of different "
                             "models (model / weights_sha256)")  # fmt: skip
    return index


def cli_search(args) -> int:
    from .video_index import serve

    if args.k < 1:
        raise SystemExit(f"videotext search: -k must be at least 1, got {args.k}")
    index = _open_search_index(args)
    if args.serve is not None:
        model, processor = load_model_and_processor(index.meta["model"])
        server = serve(index, lambda texts: embed_texts(model, processor, texts), port=args.serve, default_k=args.k)
        print(f"serving {args.index} ({len(index)} videos) on http://127.0.0.1:{server.server_address[1]}"
              "/search?q=TEXT&k=10 (Ctrl-C stops)")  # fmt: skip
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            server.server_close()
        return 0
    if args.queries:
        queries = [line.strip() for line in Path(args.queries).read_text(encoding="utf-8").splitlines() if line.strip()]
        if not queries:
            raise SystemExit(f"videotext search: {args.queries} holds no query")
    else:
        queries = [" ".join(args.query)]
    results = search_many(index, queries, args.k, exact=args.exact)
    for query, hits in zip(queries, results):
        if len(queries) > 1:
            print(f"# {query}")
        for rank, (row, score) in enumerate(hits, start=1):
            print(f"{rank:>3}  {score:.4f}  {row['video_path']}")
    return 0
