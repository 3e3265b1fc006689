"""Section `loading` of bench/run.py: clip loading, videotext's `load_video` against the loaders a user would write.

Per clip shape (generated with `write_video`, fixed GOP; 16 uniformly sampled frames resized to `size`, 1 decoder
thread), the median clips/s of:

- `videotext`: `videotext.processing.load_video(path, num_frames=16, size=size)` (`backend="pyav"`, min-work);
- `videotext_decord`: the same with `backend="decord"` (the same walk with decord's seek / skip_frames / next);
- `decord_get_batch`: a decord reader (resizing in the decoder) and `get_batch(indices)`;
- `pyav_seek_per_frame`: PyAV, one backward seek per sampled frame (to its timestamp at the average rate), decode
  up to it, convert it;
- `pyav_decode_all`: PyAV decodes every frame, converts the sampled ones;
- `limit_pyav` / `limit_decord`: the min-work limit: decode only from each sampled frame's preceding keyframe, one
  forward pass per GOP, no colour conversion of unused frames; bare loops (PyAV over a demuxed pts table, decord
  with seek / skip_frames / next). The limit is the faster of the two; `ratio_to_limit` is videotext's time
  over it (wall; `ratio_to_limit_cpu`: CPU time of the process, steadier on a machine shared with other jobs).

Exact frames: every method's frames are compared with a full decode by the same library (decord: `next()` through
every frame; PyAV: every frame decoded), since the two libraries resize with different filters. RSS: resident memory
before and after N back-to-back `load_video` calls on one small clip, per backend (readers must be freed, memory
flat). `keyframes_only` (inexact by design) is timed, not checked.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

FULL_SHAPES = [  # (name, width, height, seconds, gop) at 30 fps: the table
    ("320x240_10s_gop30", 320, 240, 10, 30),
    ("320x240_60s_gop30", 320, 240, 60, 30),
    ("320x240_60s_gop250", 320, 240, 60, 250),
    ("640x360_10s_gop30", 640, 360, 10, 30),
]
SMOKE_SHAPES = [("96x64_2s_gop10", 96, 64, 2, 10), ("96x64_4s_gop250", 96, 64, 4, 250)]
FPS = 30
METHODS = (
    "videotext",
    "videotext_decord",
    "decord_get_batch",
    "pyav_seek_per_frame",
    "pyav_decode_all",
    "limit_pyav",
    "limit_decord",
)


def make_clip(path: Path, width: int, height: int, seconds: int, gop: int, fps: int = FPS) -> str:
    """A gradient, a moving square and sparse noise: motion and texture so P/B frames carry real residuals."""
    from videotext.processing import write_video

    n = seconds * fps
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 90)], -1).astype(np.uint8)
    clip = np.empty((n, height, width, 3), np.uint8)
    side = max(2, height // 6)
    for t in range(n):
        frame = base.copy()
        x = int((width - 2 * side) * ((t % 90) / 90))
        frame[height // 2 - side : height // 2 + side, x : x + 2 * side] = ((7 * t) % 255, 40, 200)
        frame[rng.integers(0, height, width), rng.integers(0, width, width)] = 255
        clip[t] = frame
    return write_video(path, clip, fps=fps, gop=gop)


def sampled(total: int, num_frames: int) -> np.ndarray:
    from videotext.processing import sample_frame_indices

    return sample_frame_indices(total, num_frames, "uniform")


# ------------------------------------------------------------------------------------------------ decord loaders
def _decord_reader(path: str, size: int):
    import decord

    return decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1, width=size, height=size)


def decord_get_batch(path: str, num_frames: int, size: int) -> np.ndarray:
    reader = _decord_reader(path, size)
    frames = reader.get_batch(sampled(len(reader), num_frames).tolist()).asnumpy()
    del reader
    return frames


def limit_decord(path: str, num_frames: int, size: int) -> np.ndarray:
    reader = _decord_reader(path, size)
    keys = np.asarray(reader.get_key_indices())
    indices = sampled(len(reader), num_frames)
    targets, inverse = np.unique(indices, return_inverse=True)
    out, pos = [], 0
    for t in targets.tolist():
        key = int(keys[np.searchsorted(keys, t, side="right") - 1])
        if not key <= pos <= t:
            reader.seek(key)
            pos = key
        if t > pos:
            reader.skip_frames(t - pos)
        out.append(reader.next().asnumpy())
        pos = t + 1
    del reader
    return np.stack(out)[inverse]


def decord_reference(path: str, num_frames: int, size: int) -> np.ndarray:
    """Every frame decoded in order with `next()`; the sampled ones kept."""
    reader = _decord_reader(path, size)
    indices = sampled(len(reader), num_frames)
    wanted, kept = set(indices.tolist()), {}
    for i in range(len(reader)):
        frame = reader.next()
        if i in wanted:
            kept[i] = frame.asnumpy()
    del reader
    return np.stack([kept[i] for i in indices.tolist()])


# -------------------------------------------------------------------------------------------------- PyAV loaders
def _av_open(path: str):
    import av

    container = av.open(path)
    stream = container.streams.video[0]
    stream.thread_type = "NONE"  # one decoder thread, like the others
    stream.codec_context.thread_count = 1
    return container, stream


def _rgb(frame, size: int, scaler) -> np.ndarray:
    # bicubic: the scaler decord's filter graph uses, so both libraries do the same conversion work; one
    # VideoReformatter per clip keeps its swscale context (`frame.reformat` builds one per frame, ~5 ms at 224 px)
    return scaler.reformat(frame, width=size, height=size, format="rgb24", interpolation="BICUBIC").to_ndarray()


def _scaler():
    from av.video.reformatter import VideoReformatter

    return VideoReformatter()


def _av_count(container, stream) -> int:
    return stream.frames or int(round(float(container.duration) / 1e6 * float(stream.average_rate)))


def pyav_decode_all(path: str, num_frames: int, size: int) -> np.ndarray:
    container, stream = _av_open(path)
    scaler = _scaler()
    try:
        indices = sampled(_av_count(container, stream), num_frames)
        wanted, kept = set(indices.tolist()), {}
        for i, frame in enumerate(container.decode(stream)):
            if i in wanted:
                kept[i] = _rgb(frame, size, scaler)
        return np.stack([kept[i] for i in indices.tolist()])
    finally:
        container.close()


def pyav_seek_per_frame(path: str, num_frames: int, size: int) -> np.ndarray:
    """What a PyAV user writes: for each sampled frame, seek (backward, to the keyframe before its timestamp at the
    average frame rate) and decode up to it."""
    container, stream = _av_open(path)
    scaler = _scaler()
    try:
        rate, base = float(stream.average_rate), stream.time_base
        start = stream.start_time or 0
        out = []
        for i in sampled(_av_count(container, stream), num_frames).tolist():
            target = start + int(round(i / rate / float(base)))
            container.seek(target, stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.pts is not None and frame.pts >= target - 0.5 / rate / float(base):
                    out.append(_rgb(frame, size, scaler))
                    break
        return np.stack(out)
    finally:
        container.close()


def limit_pyav(path: str, num_frames: int, size: int) -> np.ndarray:
    """Min-work: the demuxed pts table gives each frame's index and keyframe; one seek per GOP holding samples, one
    forward decode through it, only the sampled frames converted."""
    container, stream = _av_open(path)
    scaler = _scaler()
    try:
        pts, keys = [], []
        for packet in container.demux(stream):
            if packet.pts is not None:
                pts.append(packet.pts)
                if packet.is_keyframe:
                    keys.append(packet.pts)
        pts, keys = np.sort(pts), np.sort(keys)
        indices = sampled(len(pts), num_frames)
        targets, inverse = np.unique(indices, return_inverse=True)
        out, last, frames = {}, None, None  # last: pts of the last decoded frame
        for t in targets.tolist():
            key = int(keys[max(0, np.searchsorted(keys, pts[t], side="right") - 1)])
            if last is None or not key <= last < pts[t]:
                container.seek(key, stream=stream, backward=True)
                frames = container.decode(stream)
            for frame in frames:
                last = frame.pts
                if frame.pts == pts[t]:
                    out[t] = _rgb(frame, size, scaler)
                    break
        return np.stack([out[t] for t in targets.tolist()])[inverse]
    finally:
        container.close()


def pyav_reference(path: str, num_frames: int, size: int) -> np.ndarray:
    return pyav_decode_all(path, num_frames, size)


# --------------------------------------------------------------------------------------------------------- bench
def _videotext(path: str, num_frames: int, size: int, backend: str = "pyav") -> np.ndarray:
    from videotext.processing import load_video

    return load_video(path, num_frames=num_frames, size=size, num_threads=1, backend=backend).frames


def _videotext_decord(path: str, num_frames: int, size: int) -> np.ndarray:
    return _videotext(path, num_frames, size, backend="decord")


def _keyframes_only(path: str, num_frames: int, size: int) -> np.ndarray:
    from videotext.processing import load_video

    return load_video(path, num_frames=num_frames, size=size, num_threads=1, keyframes_only=True, backend="pyav").frames


LOADERS = {
    "videotext": (_videotext, "pyav"),
    "videotext_decord": (_videotext_decord, "decord"),
    "decord_get_batch": (decord_get_batch, "decord"),
    "pyav_seek_per_frame": (pyav_seek_per_frame, "pyav"),
    "pyav_decode_all": (pyav_decode_all, "pyav"),
    "limit_pyav": (limit_pyav, "pyav"),
    "limit_decord": (limit_decord, "decord"),
}


def bench_clip(path: str, num_frames: int, size: int, repeats: int) -> dict:
    references = {"decord": decord_reference(path, num_frames, size), "pyav": pyav_reference(path, num_frames, size)}
    row = {"exact": {}, "max_abs_diff": {}}
    for name, (fn, backend) in LOADERS.items():
        frames, ref = fn(path, num_frames, size), references[backend]
        row["exact"][name] = bool(frames.shape == ref.shape and np.array_equal(frames, ref))
        row["max_abs_diff"][name] = (
            int(np.abs(frames.astype(int) - ref.astype(int)).max()) if frames.shape == ref.shape else None
        )
    cross = np.abs(references["decord"].astype(int) - references["pyav"].astype(int))
    row["decord_vs_pyav_reference_mean_abs_diff"] = round(float(cross.mean()), 2)
    timed = {**LOADERS, "keyframes_only": (_keyframes_only, None)}  # inexact by design: timed, not checked
    times, cpu = {name: [] for name in timed}, {name: [] for name in timed}
    for _ in range(repeats):  # round robin: load on a shared machine drifts over a run, equally for every method
        for name, (fn, _) in timed.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn(path, num_frames, size)
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    row["keyframes_only_clips_per_s"] = round(1 / statistics.median(times.pop("keyframes_only")), 2)
    row["keyframes_only_cpu_ms"] = round(1000 * statistics.median(cpu.pop("keyframes_only")), 1)
    row["clips_per_s"] = {name: round(1 / statistics.median(t), 2) for name, t in times.items()}
    row["clips_per_s_best"] = {name: round(1 / min(t), 2) for name, t in times.items()}  # least disturbed run
    # CPU time of the process (all its threads): steadier than wall time on a machine shared with other jobs
    row["cpu_ms"] = {name: round(1000 * statistics.median(t), 1) for name, t in cpu.items()}
    cps = row["clips_per_s"]
    row["limit_clips_per_s"] = max(cps["limit_pyav"], cps["limit_decord"])
    row["ratio_to_limit"] = round(row["limit_clips_per_s"] / cps["videotext"], 3)  # videotext's time / the limit's
    row["ratio_to_limit_cpu"] = round(row["cpu_ms"]["videotext"] / min(row["cpu_ms"]["limit_pyav"],
                                                                       row["cpu_ms"]["limit_decord"]), 3)  # fmt: skip
    row["ratio_to_decord_get_batch"] = round(cps["videotext"] / cps["decord_get_batch"], 3)  # speed-up
    return row


def rss_mb() -> float:
    """Current resident set size (Linux /proc; the peak from getrusage elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_rss(path: str, loads: int, num_frames: int, size: int, backend: str) -> dict:
    from videotext.processing import load_video

    warmup = min(50, max(5, loads // 10))
    for _ in range(warmup):  # allocator pools and decoder libraries settle first
        load_video(path, num_frames=num_frames, size=size, backend=backend)
    start = rss_mb()
    trace = []
    t0 = time.perf_counter()
    for i in range(1, loads + 1):
        load_video(path, num_frames=num_frames, size=size, backend=backend)
        if i % max(1, loads // 10) == 0:
            trace.append(round(rss_mb(), 1))
    return {"loads": loads, "rss_start_mb": round(start, 1), "rss_end_mb": trace[-1] if trace else round(start, 1),
            "rss_growth_mb": round((trace[-1] if trace else start) - start, 1), "rss_trace_mb": trace,
            "seconds": round(time.perf_counter() - t0, 1)}  # fmt: skip


def bench_loading(smoke: bool, rss_loads: int | None, num_frames: int = 16) -> dict:
    shapes = SMOKE_SHAPES if smoke else FULL_SHAPES
    size = 32 if smoke else 224
    repeats = 3 if smoke else 11
    rss_loads = rss_loads if rss_loads is not None else (1000 if smoke else 10_000)
    out = {"num_frames": num_frames, "size": size, "repeats": repeats, "decoder_threads": 1, "clips": []}
    print(header(), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, width, height, seconds, gop in shapes:
            path = make_clip(Path(tmp) / f"{name}.mp4", width, height, seconds, gop)
            row = {"clip": name, "width": width, "height": height, "seconds": seconds, "gop": gop, "fps": FPS}
            row.update(bench_clip(path, num_frames, size, repeats))
            out["clips"].append(row)
            print(_loading_line(row), flush=True)
        rss_clip = make_clip(Path(tmp) / "rss.mp4", 96 if smoke else 320, 64 if smoke else 240, 2, 30)
        out["rss"] = {}
        for backend in ("pyav", "decord"):
            r = out["rss"][backend] = {"clip": "96x64_2s_gop30" if smoke else "320x240_2s_gop30",
                                       **bench_rss(rss_clip, rss_loads, num_frames, size, backend)}  # fmt: skip
            print(f"RSS over {r['loads']} load_video(backend={backend!r}) calls: {r['rss_start_mb']} -> "
                  f"{r['rss_end_mb']} MB (growth {r['rss_growth_mb']} MB; trace {r['rss_trace_mb']}; "
                  f"{r['seconds']} s)", flush=True)  # fmt: skip
    out["all_exact"] = all(all(row["exact"].values()) for row in out["clips"])
    differ = [f"{row['clip']}:{m}" for row in out["clips"] for m, ok in row["exact"].items() if not ok]
    out["inexact"] = differ
    print("exact frames: all methods equal their library's full decode" if not differ else f"INEXACT: {differ}")
    return out


def header() -> str:
    cols = "".join(f"{m:>21}" for m in METHODS)
    return f"{'clip (clips/s, median)':<22}{cols}{'ratio to limit':>16}{'(CPU time)':>12}{'vs get_batch':>14}"


def _loading_line(row: dict) -> str:
    cps = row["clips_per_s"]
    cells = "".join(f"{cps[m]:>20.2f}{' ' if row['exact'][m] else '!'}" for m in METHODS)  # ! marks inexact frames
    return (f"{row['clip']:<22}{cells}{row['ratio_to_limit']:>15.2f}x{row['ratio_to_limit_cpu']:>11.2f}x"
            f"{row['ratio_to_decord_get_batch']:>13.2f}x   keyframes-only {row['keyframes_only_clips_per_s']:.2f}")  # fmt: skip
