"""Decode-with-resize (decord width/height) vs decode-then-resize, same process, same clip.

    .venv/bin/python bench/bench_decode.py [--height 360 --width 480 --frames 96 --sample 16 --size 112 --repeats 7]

Prints the median wall time of each variant and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def make_clip(path: Path, frames: int, height: int, width: int, fps: int = 25) -> str:
    from videotext.processing import write_video

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 // width, yy * 255 // height, np.full_like(xx, 90)], -1).astype(np.uint8)
    clip = np.empty((frames, height, width, 3), np.uint8)
    for t in range(frames):
        f = base.copy()
        cx, cy = int(width * (0.2 + 0.6 * t / frames)), height // 2
        r = height // 6
        f[max(0, cy - r) : cy + r, max(0, cx - r) : cx + r] = (230, 40, 40)
        f[rng.integers(0, height, 200), rng.integers(0, width, 200)] = 255  # texture so the codec has work
        clip[t] = f
    return write_video(path, clip, fps=fps)


def resize_frames(frames: np.ndarray, size: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float()
    y = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return y.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def timed(fn, repeats: int) -> list[float]:
    fn()  # warm-up (file cache, decoder init)
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--width", type=int, default=480)
    ap.add_argument("--frames", type=int, default=96, help="frames in the generated clip")
    ap.add_argument("--sample", type=int, default=16, help="frames decoded per call")
    ap.add_argument("--size", type=int, default=112, help="square output size")
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    from videotext.processing import load_video

    with tempfile.TemporaryDirectory() as tmp:
        path = make_clip(Path(tmp) / "clip.mp4", args.frames, args.height, args.width)

        def at_decode():
            return load_video(path, num_frames=args.sample, size=args.size).frames

        def after_decode():
            return resize_frames(load_video(path, num_frames=args.sample).frames, args.size)

        a, b = at_decode(), after_decode()
        assert a.shape == b.shape == (args.sample, args.size, args.size, 3), (a.shape, b.shape)
        diff = float(np.abs(a.astype(int) - b.astype(int)).mean())
        t_at = statistics.median(timed(at_decode, args.repeats))
        t_after = statistics.median(timed(after_decode, args.repeats))
        t_native = statistics.median(timed(lambda: load_video(path, num_frames=args.sample).frames, args.repeats))
    print(
        f"clip {args.frames} frames {args.width}x{args.height} H.264; decode {args.sample} frames -> {args.size}x{args.size}"
    )
    print(f"decode native (no resize)        median {t_native * 1000:8.1f} ms")
    print(f"resize at decode (decord w/h)    median {t_at * 1000:8.1f} ms")
    print(f"decode then resize (torch)       median {t_after * 1000:8.1f} ms")
    print(f"ratio decode-then-resize / resize-at-decode = {t_after / t_at:.2f}x  (mean |pixel diff| {diff:.1f})")


if __name__ == "__main__":
    main()
