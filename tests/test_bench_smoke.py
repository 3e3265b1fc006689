"""The benchmark command runs end to end at its smoke size (timings are never asserted; see bench/run.py)."""

import importlib.util
import json
from pathlib import Path


def _bench():
    spec = importlib.util.spec_from_file_location("bench_run", Path(__file__).parents[1] / "bench" / "run.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def _run(section: str, tmp_path, *extra: str) -> dict:
    assert _bench().main([section, "--smoke", "--out", str(tmp_path), *extra]) == 0
    report = json.loads((tmp_path / f"{section}.json").read_text())
    assert report["section"] == section and report["smoke"] is True and report["cpu_cores"] >= 1
    return report


def test_search_benchmark_smoke(tmp_path):
    assert _bench().main(["search", "--smoke", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "search.json").read_text())
    assert [r["videos"] for r in report["results"]] == [500, 2000]
    for row in report["results"]:
        assert row["exact_one_query_ms"] > 0 and 0 <= row["ann_recall_at_10"] <= 1


def test_milvus_benchmark_smoke(tmp_path):
    assert _bench().main(["milvus", "--smoke", "--dim", "32", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "milvus.json").read_text())
    assert [r["videos"] for r in report["results"]] == [500, 2000]
    for row in report["results"]:
        assert row["FLAT"]["recall_at_10"] == 1.0  # FLAT is exact search
        assert row["HNSW"]["one_query_ms"] > 0 and 0 <= row["HNSW"]["recall_at_10"] <= 1


def test_loading_benchmark_smoke(tmp_path):
    assert _bench().main(["loading", "--smoke", "--rss-loads", "100", "--out", str(tmp_path)]) == 0
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


def test_pipeline_benchmark_smoke(tmp_path):
    report = _run("pipeline", tmp_path, "--workers", "0", "2")
    assert [(r["task"], r["method"]) for r in report["results"]] == [("caption", "mffcl"), ("index", "dual_align")]
    for row in report["results"]:
        assert row["decode_only_clips_per_s"] > 0 and row["model_only_clips_per_s"] > 0
        assert 0 < row["serial_bound_clips_per_s"] < min(row["decode_only_clips_per_s"], row["model_only_clips_per_s"])
        assert set(row["workers"]) == {"0", "2"}
        for rates in row["workers"].values():
            assert rates["end_to_end_clips_per_s"] > 0 and rates["ratio_to_min_stage"] > 0


def test_data_benchmark_smoke(tmp_path):
    from videotext.modeling import METHODS

    report = _run("data", tmp_path, "--workers", "0", "2")
    rows = report["results"]
    assert sorted((r["method"], r["frame_cache"]) for r in rows) == sorted((m, c) for m in METHODS for c in (True, False))
    for row in rows:
        assert set(row["workers"]) == {"0", "2"}
        for timing in row["workers"].values():
            assert timing["step_ms"] > 0 and timing["fetch_ms"] >= 0 and 0 <= timing["loader_share"] < 1


def test_generation_benchmark_smoke(tmp_path):
    from videotext.modeling import METHODS

    rows = _run("generation", tmp_path)["results"]
    assert [r["method"] for r in rows] == [m for m, entry in METHODS.items() if entry.task == "captioning"]
    for row in rows:
        # similar size: the baseline's layer counts were chosen to match the captioner's parameter count
        assert 0.5 < row["baseline_parameters"] / row["parameters"] < 2
        assert set(row["batches"]) == {"2", "1"}
        for rates in row["batches"].values():
            assert rates["tokens_per_s"] > 0 and rates["baseline_tokens_per_s"] > 0


def test_all_runs_every_section_with_the_same_options():
    bench = _bench()
    calls = []
    status = bench.run_all(["--smoke", "--out", "x"], run=lambda argv: calls.append(argv) or len(calls) % 2)
    assert [c[0] for c in calls] == ["search", "milvus", "loading", "pipeline", "data", "generation"]
    assert all(c[1:] == ["--smoke", "--out", "x"] for c in calls) and status == 1  # the worst status wins
