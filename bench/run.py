"""videotext benchmarks, one command: medians and ratios against the baseline a user would otherwise write, measured
in the same process, printed and written as JSON.

    .venv/bin/python bench/run.py search [--sizes 10000 100000 1000000] [--dim 256] [--out bench/results]
    .venv/bin/python bench/run.py search --smoke          # tiny sizes, for CI
    .venv/bin/python bench/run.py milvus [--sizes 10000 100000]   # Milvus Lite: FLAT and HNSW collections
    .venv/bin/python bench/run.py loading [--smoke] [--rss-loads N] [--out bench/results]
    .venv/bin/python bench/run.py pipeline | data | generation [--smoke]
    .venv/bin/python bench/run.py all [--smoke]            # every section in turn, each writing its JSON

Sections: `loading` (clip loading: `load_video` against decord get_batch, PyAV per-frame seek and full decode, and
the min-work decode limit, exact frames checked, RSS over many loads; bench/bench_loading.py); `search` (one query's
latency and batched throughput of `VideoIndex` exact search against a resident numpy matmul + argpartition, and of
the approximate IVF index with its recall@10 against exact search); `milvus` (the same against a Milvus Lite
collection as `videotext index --milvus` writes it, FLAT and HNSW, with recall@10); `pipeline` (captioning and
indexing a folder end to end with 0 and N decoding workers against decode-only and model-only rates,
bench/bench_pipeline.py); `data` (each method's tiny-recipe loader: batch fetch vs a training step, the loader's share
of a step, workers 0 and 2, bench/bench_data.py); `generation` (tokens/s of each captioner against
VisionEncoderDecoderModel(TimeSformer, GPT-2) of similar size, bench/bench_generation.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def clustered_embeddings(n: int, dim: int, seed: int = 0, clusters: int = 1000) -> np.ndarray:
    """L2-normalised vectors around `clusters` centres: embeddings of real collections cluster by content (uniform
    random vectors would make every approximate index look worse than it is on real data)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    out = np.empty((n, dim), np.float32)
    for start in range(0, n, 100_000):
        stop = min(n, start + 100_000)
        labels = rng.integers(0, clusters, stop - start)
        out[start:stop] = centres[labels] + 0.6 * rng.standard_normal((stop - start, dim), dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def write_index(folder: Path, embeddings: np.ndarray) -> None:
    """An index folder as `videotext index` writes it (without a model): embeddings, rows, index.json."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "embeddings.npy", embeddings)
    rows = [{"video_id": f"video{i}", "video_path": f"/videos/video{i}.mp4"} for i in range(len(embeddings))]
    (folder / "videos.json").write_text(json.dumps(rows))
    meta = {"model": "bench", "embedding_dim": embeddings.shape[1], "num_videos": len(rows), "ann": None}
    (folder / "index.json").write_text(json.dumps(meta))


def bench_search(sizes: list[int], dim: int, k: int = 10, repeats: int = 21, batch: int = 64) -> list[dict]:
    results = []
    for n in sizes:
        data = clustered_embeddings(n + batch, dim)  # queries from the collection's distribution, not in it
        with tempfile.TemporaryDirectory() as tmp:
            results.append(_bench_one_size(data[:n], data[n:], Path(tmp) / "index", k, repeats))
        print(_search_line(results[-1]), flush=True)
    return results


def _bench_one_size(embeddings: np.ndarray, queries: np.ndarray, folder: Path, k: int, repeats: int) -> dict:
    from videotext.video_index import ANN_FILE, VideoIndex, build_ann

    write_index(folder, embeddings)
    t0 = time.perf_counter()
    index = VideoIndex(folder)
    row = {"videos": len(embeddings), "dim": embeddings.shape[1], "k": k}
    row["open_index_ms"] = round(1000 * (time.perf_counter() - t0), 1)
    query = queries[:1]

    def resident():  # the baseline: embeddings in memory, matmul + partial sort
        scores = embeddings @ query[0]
        top = np.argpartition(-scores, k - 1)[:k]
        return top[np.argsort(-scores[top])]

    index.search_embeddings(query, k, exact=True)  # page the memory map in, as a served index would be
    row["baseline_resident_numpy_ms"] = median_ms(resident, repeats)
    row["exact_one_query_ms"] = median_ms(lambda: index.search_embeddings(query, k, exact=True), repeats)
    row["exact_ratio_to_baseline"] = row["exact_one_query_ms"] / row["baseline_resident_numpy_ms"]
    batched = median_ms(lambda: index.search_embeddings(queries, k, exact=True), max(3, repeats // 4))
    row["exact_batched_ms_per_query"] = batched / len(queries)
    t0 = time.perf_counter()
    ann = build_ann(embeddings, folder / ANN_FILE)
    if ann is not None:
        row["ann"] = {**ann, "build_seconds": round(time.perf_counter() - t0, 2)}
        index.meta["ann"] = ann
        row["ann_one_query_ms"] = median_ms(lambda: index.search_embeddings(query, k), repeats)
        exact = index.search_embeddings(queries, k, exact=True)
        approx = index.search_embeddings(queries, k)
        hits = [len({r["video_id"] for r, _ in a} & {r["video_id"] for r, _ in e}) for a, e in zip(approx, exact)]
        row["ann_recall_at_10"] = sum(hits) / (k * len(queries))
    return row


def _search_line(row: dict) -> str:
    line = (f"{row['videos']:>9} x {row['dim']}: resident numpy {row['baseline_resident_numpy_ms']:8.2f} ms | "
            f"VideoIndex exact {row['exact_one_query_ms']:8.2f} ms ({row['exact_ratio_to_baseline']:.2f}x) | "
            f"batched {row['exact_batched_ms_per_query']:7.2f} ms/query")  # fmt: skip
    if "ann" in row:
        line += f" | IVF {row['ann_one_query_ms']:6.2f} ms, recall@10 {row['ann_recall_at_10']:.3f}"
    return line


def bench_milvus(sizes: list[int], dim: int, k: int = 10, repeats: int = 21, batch: int = 64) -> list[dict]:
    """Milvus Lite (`videotext index --milvus`): write time, one query's latency, batched ms/query and recall@10
    against exact search, for the FLAT and HNSW collections, next to a resident numpy matmul + argpartition."""
    results = []
    for n in sizes:
        data = clustered_embeddings(n + batch, dim)
        embeddings, queries = data[:n], data[n:]
        exact = np.argsort(-(queries @ embeddings.T), axis=1)[:, :k]
        row = {"videos": n, "dim": dim, "k": k}

        def resident(embeddings=embeddings, query=queries[0]):
            scores = embeddings @ query
            top = np.argpartition(-scores, k - 1)[:k]
            return top[np.argsort(-scores[top])]

        row["baseline_resident_numpy_ms"] = median_ms(resident, repeats)
        with tempfile.TemporaryDirectory() as tmp:
            for kind in ("FLAT", "HNSW"):
                row[kind] = _bench_milvus_one(embeddings, queries, exact, kind, f"{tmp}/{kind.lower()}.db", k, repeats)
        results.append(row)
        print(_milvus_line(row), flush=True)
    return results


def _bench_milvus_one(embeddings, queries, exact, kind: str, db: str, k: int, repeats: int) -> dict:
    from videotext.milvus_store import MilvusVideoIndex, write_collection

    rows = [{"video_id": f"video{i}", "video_path": f"/videos/video{i}.mp4"} for i in range(len(embeddings))]
    t0 = time.perf_counter()
    write_collection(db, embeddings, rows, model="bench", weights_sha256="bench", model_type="bench", index_type=kind,
                     progress=False)  # fmt: skip
    index = MilvusVideoIndex(db)
    index.search_embeddings(queries[:1], k)  # the first search loads the segments and their index
    out = {"write_seconds": round(time.perf_counter() - t0, 2)}
    out["one_query_ms"] = median_ms(lambda: index.search_embeddings(queries[:1], k), repeats)
    batched = median_ms(lambda: index.search_embeddings(queries, k), max(3, repeats // 4))
    out["batched_ms_per_query"] = batched / len(queries)
    found = index.search_embeddings(queries, k)
    hits = [len({int(r["video_id"][5:]) for r, _ in f} & set(e.tolist())) for f, e in zip(found, exact)]
    out["recall_at_10"] = sum(hits) / (k * len(queries))
    index.close()
    return out


def _milvus_line(row: dict) -> str:
    parts = [f"{row['videos']:>9} x {row['dim']}: resident numpy {row['baseline_resident_numpy_ms']:8.2f} ms"]
    for kind in ("FLAT", "HNSW"):
        r = row[kind]
        parts.append(f"Milvus Lite {kind} {r['one_query_ms']:7.2f} ms ({r['batched_ms_per_query']:6.2f} batched), "
                     f"recall@10 {r['recall_at_10']:.3f}, write {r['write_seconds']:.1f} s")  # fmt: skip
    return " | ".join(parts)


EXTRA_SECTIONS = ("pipeline", "data", "generation")


def _extra_section(section: str, smoke: bool, workers: list[int] | None) -> list[dict]:
    """The sections kept in their own files next to this one (bench/bench_<section>.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if workers is None:
        from videotext.inference import default_num_workers

        workers = sorted({0, max(1, default_num_workers()), 2})
    if section == "pipeline":
        from bench_pipeline import bench_pipeline

        return bench_pipeline(smoke, workers)
    if section == "data":
        from bench_data import bench_data

        return bench_data(smoke, [w for w in workers if w in (0, 2)] or [0, 2])
    from bench_generation import bench_generation

    return bench_generation(smoke)


SECTIONS = ("search", "milvus", "loading", *EXTRA_SECTIONS)


def run_all(options: list[str], run=None) -> int:
    """`bench/run.py all [options]`: every section with the same options, one after the other (a section's own
    defaults apply where an option does not concern it); the worst exit status."""
    run = run or main
    statuses = []
    for section in SECTIONS:
        print(f"=== {section}", flush=True)
        statuses.append(run([section, *options]))
    return max(statuses)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["all"]:
        return run_all(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("section", choices=[*SECTIONS, "all"])
    parser.add_argument("--sizes", type=int, nargs="+", default=None,
                        help="collection sizes (default 10k 100k 1M; milvus: 10k 100k)")  # fmt: skip
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (a CI check that the benchmark runs)")
    parser.add_argument("--out", default="bench/results", help="folder for <section>.json")
    parser.add_argument("--rss-loads", type=int, default=None, help="loading: load_video calls for the RSS check "
                        "(default 10000; 1000 with --smoke)")  # fmt: skip
    parser.add_argument("--workers", type=int, nargs="+", default=None,
                        help="pipeline / data: decoding worker counts to compare (default: 0, the default count, 2)")  # fmt: skip
    args = parser.parse_args(argv)
    default_sizes = [10_000, 100_000] + ([1_000_000] if args.section == "search" else [])
    sizes = [500, 2000] if args.smoke else args.sizes or default_sizes
    import torch

    report = {"section": args.section, "threads": torch.get_num_threads(), "python": sys.version.split()[0]}
    if args.section == "loading":
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_loading import bench_loading

        report["results"] = bench_loading(args.smoke, args.rss_loads)
    elif args.section in ("search", "milvus"):
        run = bench_milvus if args.section == "milvus" else bench_search
        report["results"] = run(sizes, args.dim, repeats=5 if args.smoke else 21)
    else:
        report["smoke"] = args.smoke
        report["cpu_cores"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        report["load_average_at_start"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        report["results"] = _extra_section(args.section, args.smoke, args.workers)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.section}.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {out / f'{args.section}.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
