"""The benchmark command runs end to end at its smoke size (timings are never asserted; see bench/run.py)."""

import importlib.util
import json
from pathlib import Path

import pytest


def test_search_benchmark_smoke(tmp_path):
    pytest.importorskip("faiss", reason="faiss-cpu is a dev dependency")
    spec = importlib.util.spec_from_file_location("bench_run", Path(__file__).parents[1] / "bench" / "run.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["search", "--smoke", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "search.json").read_text())
    assert [r["videos"] for r in report["results"]] == [500, 2000]
    for row in report["results"]:
        assert row["exact_one_query_ms"] > 0 and 0 <= row["ann_recall_at_10"] <= 1


def test_milvus_benchmark_smoke(tmp_path):
    pytest.importorskip("milvus_lite", reason="pymilvus + milvus-lite are dev dependencies")
    spec = importlib.util.spec_from_file_location("bench_run", Path(__file__).parents[1] / "bench" / "run.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["milvus", "--smoke", "--dim", "32", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "milvus.json").read_text())
    assert [r["videos"] for r in report["results"]] == [500, 2000]
    for row in report["results"]:
        assert row["FLAT"]["recall_at_10"] == 1.0  # FLAT is exact search
        assert row["HNSW"]["one_query_ms"] > 0 and 0 <= row["HNSW"]["recall_at_10"] <= 1


def test_loading_benchmark_smoke(tmp_path):
    pytest.importorskip("av", reason="PyAV is a dev dependency (the benchmark's baselines)")
    spec = importlib.util.spec_from_file_location("bench_run", Path(__file__).parents[1] / "bench" / "run.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.main(["loading", "--smoke", "--rss-loads", "100", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "loading.json").read_text())["results"]
    methods = {
        "videotext",
        "videotext_decord",
        "decord_get_batch",
        "pyav_seek_per_frame",
        "pyav_decode_all",
        "limit_pyav",
        "limit_decord",
    }
    assert len(report["clips"]) == 2
    for row in report["clips"]:
        assert set(row["clips_per_s"]) == methods and all(v > 0 for v in row["clips_per_s"].values())
        assert row["exact"] == dict.fromkeys(methods, True), row["max_abs_diff"]
    assert report["all_exact"] and report["inexact"] == []
    for backend in ("pyav", "decord"):
        assert report["rss"][backend]["loads"] == 100 and len(report["rss"][backend]["rss_trace_mb"]) == 10
    assert all(row["keyframes_only_clips_per_s"] > 0 for row in report["clips"])
