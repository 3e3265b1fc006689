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
