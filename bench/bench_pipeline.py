"""`bench/run.py pipeline`: captioning (`videotext caption`, batched, MFFCL) and indexing (`videotext index`,
dual alignment) of a folder of generated mp4s with tiny saved models, end to end with 0 and N decoding workers, against
the two stages measured alone in the same run: decode-only (decode + preprocess, one process, as one worker does it)
and model-only (the model on already-preprocessed batches). A pipeline at the speed of its slowest stage has
end-to-end / min(stage rates) near 1; one that runs the stages one after the other stays near the harmonic bound
1 / (1/decode + 1/model) (printed as `serial`)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

SIZES = {  # clips, (height, width), seconds, fps
    "real": dict(clips=48, shape=(240, 320), seconds=8, fps=25),
    "smoke": dict(clips=4, shape=(48, 64), seconds=1, fps=8),
}


def write_clips(folder: Path, clips: int, shape: tuple[int, int], seconds: float, fps: int, seed: int = 0) -> list[dict]:
    """`clips` H.264 mp4s: a moving square over a noisy gradient (noise keeps the encoder from making decoding free)."""
    from videotext.processing import write_video

    rng = np.random.default_rng(seed)
    h, w = shape
    frames = int(seconds * fps)
    base = np.linspace(0, 200, w, dtype=np.float32)[None, :, None] * np.ones((h, 1, 3), np.float32)
    rows = []
    for i in range(clips):
        video = np.empty((frames, h, w, 3), np.uint8)
        for t in range(frames):
            frame = base + rng.normal(0, 12, (h, w, 3))
            x, y = (t * 3 + i * 7) % max(1, w - h // 4), (t * 2 + i * 5) % max(1, h - h // 4)
            frame[y : y + h // 4, x : x + h // 4] = (40 * i % 255, 200, 90)
            video[t] = np.clip(frame, 0, 255)
        path = write_video(folder / f"clip{i:03d}.mp4", video, fps=fps)
        rows.append({"video_id": f"clip{i:03d}", "video_path": path})
    return rows


def save_tiny(model_type: str, folder: Path) -> str:
    """The method's tiny recipe model (random weights) and processor saved as a model folder."""
    import torch

    from videotext.training import load_recipe
    from videotext.training.methods import training_method
    from videotext.training.model_factory import build_model_and_processor

    torch.manual_seed(0)
    recipe = load_recipe(training_method(model_type).tiny_recipe, ["tokenizer.vocab_size=200"])
    captions = [f"a {c} {s} moves {d}" for c in ("red", "blue", "green") for s in ("box", "ball") for d in ("up", "left")]
    model, processor = build_model_and_processor(recipe, train_captions=captions * 4)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


def _rate(count: int, seconds: float) -> float:
    return count / max(seconds, 1e-9)


def _stage_rates(model, processor, rows, batch_size: int, run_model) -> tuple[float, float]:
    """(decode-only clips/s, model-only clips/s): decoding + preprocessing every clip in this process (what one
    worker does), then the model on the preprocessed batches (kept in memory), each timed alone."""
    from videotext.inference import default_frame_loader, iter_clip_batches, model_num_frames, row_batches

    batches = row_batches(len(rows), batch_size)
    loader = default_frame_loader(model_num_frames(model))
    t0 = time.perf_counter()
    inputs = [x for _, x, _ in iter_clip_batches(model, processor, rows, batches, load_frames=loader, num_workers=0)]
    decode = _rate(len(rows), time.perf_counter() - t0)
    run_model(inputs[0])  # warm-up
    t0 = time.perf_counter()
    for batch in inputs:
        run_model(batch)
    return decode, _rate(len(rows), time.perf_counter() - t0)


def _row(task: str, model_type: str, rows, decode: float, model_rate: float, end_to_end: dict[int, float]) -> dict:
    serial = 1 / (1 / decode + 1 / model_rate)
    out = {"task": task, "method": model_type, "clips": len(rows), "decode_only_clips_per_s": decode,
           "model_only_clips_per_s": model_rate, "serial_bound_clips_per_s": serial, "workers": {}}  # fmt: skip
    for workers, rate in end_to_end.items():
        # N workers decode N clips at a time: the decode stage's ceiling is N x the single-process rate
        ceiling = min(decode * max(1, workers), model_rate)
        out["workers"][str(workers)] = {"end_to_end_clips_per_s": rate, "min_stage_clips_per_s": ceiling,
                                        "ratio_to_min_stage": rate / ceiling}  # fmt: skip
    return out


def bench_pipeline(smoke: bool, workers: list[int], batch_size: int | None = None, max_new_tokens: int | None = None) -> list[dict]:
    import torch

    from videotext.inference import caption_rows, load_model_and_processor
    from videotext.video_index import build_index

    size = SIZES["smoke" if smoke else "real"]
    batch_size = batch_size or (2 if smoke else 8)  # smoke: several batches, so the workers have some to overlap
    max_new_tokens = max_new_tokens or (3 if smoke else 20)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "clips").mkdir()
        rows = write_clips(tmp / "clips", **size)
        # (a) captioning: greedy, a fixed number of new tokens so every run does the same model work
        model, processor = load_model_and_processor(save_tiny("mffcl", tmp / "mffcl"), device="cpu")
        gen = dict(max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens, num_beams=1, do_sample=False)
        with torch.no_grad():
            decode, model_rate = _stage_rates(model, processor, rows, batch_size, lambda x: model.generate(**x, **gen))
        e2e = {}
        for w in workers:
            t0 = time.perf_counter()
            captions = caption_rows(model, processor, rows, batch_size=batch_size, num_workers=w, **gen)
            e2e[w] = _rate(len(rows), time.perf_counter() - t0)
            assert len(captions) == len(rows) and all(c is not None for c in captions)
        results.append(_row("caption", "mffcl", rows, decode, model_rate, e2e))
        print(pipeline_line(results[-1]), flush=True)
        # (b) indexing: build_index, what `videotext index` runs (shards written, merged)
        model, processor = load_model_and_processor(save_tiny("dual_align", tmp / "dual_align"), device="cpu")
        with torch.no_grad():
            decode, model_rate = _stage_rates(model, processor, rows, batch_size, lambda x: model.get_video_features(**x))
        e2e = {}
        for w in workers:
            t0 = time.perf_counter()
            meta = build_index(model, processor, rows, tmp / f"index{w}", model_id="bench", batch_size=batch_size,
                               progress=False, num_workers=w)  # fmt: skip
            e2e[w] = _rate(len(rows), time.perf_counter() - t0)
            assert meta["num_videos"] == len(rows)
        results.append(_row("index", "dual_align", rows, decode, model_rate, e2e))
        print(pipeline_line(results[-1]), flush=True)
    return results


def pipeline_line(row: dict) -> str:
    parts = [f"{row['task']:<8}{row['method']:<12}{row['clips']:>4} clips | decode-only "
             f"{row['decode_only_clips_per_s']:7.2f} | model-only {row['model_only_clips_per_s']:7.2f} | serial "
             f"{row['serial_bound_clips_per_s']:7.2f} clips/s"]  # fmt: skip
    for workers, r in row["workers"].items():
        parts.append(f"{workers} workers {r['end_to_end_clips_per_s']:7.2f} ({r['ratio_to_min_stage']:.2f}x min stage)")
    return " | ".join(parts)
