"""Timing of `videotext.evaluation.retrieval_metrics` on random similarity matrices.

    python bench/bench_retrieval_metrics.py [--repeat 3]

Prints one JSON line per case: shape, captions per video, dsl, v2t protocol, best wall time in seconds.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from videotext.evaluation import retrieval_metrics

CASES = [  # (num_videos, captions per video)
    (1_000, 1),  # MSR-VTT 1k-A
    (1_000, 10),  # 10k x 1k
    (670, 41),  # MSVD test (27,763 captions, 670 videos)
    (2_990, 20),  # MSR-VTT full test (59,800 captions)
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    for num_videos, per_video in CASES:
        t2v = np.repeat(np.arange(num_videos), per_video)
        sim = rng.normal(size=(t2v.size, num_videos)).astype(np.float32)
        for dsl in (False, True):
            for protocol in ("clip4clip", "min_text_rank"):
                times = []
                for _ in range(args.repeat):
                    start = time.perf_counter()
                    retrieval_metrics(sim, t2v, dsl=dsl, v2t_protocol=protocol)
                    times.append(time.perf_counter() - start)
                record = {
                    "shape": list(sim.shape),
                    "captions_per_video": per_video,
                    "dsl": dsl,
                    "v2t_protocol": protocol,
                    "seconds": round(min(times), 4),
                }
                print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
