"""Training step time of a recipe: N single-thread processes (`train.cpu_processes: N`) vs one N-thread process.

    .venv/bin/python bench/bench_cpu_processes.py [--recipe mffcl-synthetic-tiny --steps 200 --processes 2]

Both variants train the same recipe with the same global batch for `--steps` steps of each of its first two stages
(no evaluation), one after the other from this script; the script prints the median `step_seconds` per stage
(`OUT/log.jsonl`, the first 20 steps of a stage skipped) and the ratio one-process / N-processes. The data comes
from the recipe (the synthetic set is generated into the cache on the first run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path


def stage_medians(out: Path, skip: int = 20) -> dict[str, float]:
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    starts = {r["stage"]: r["step"] for r in rows if r.get("event") == "stage"}
    times: dict[str, list[float]] = {}
    for r in rows:
        if r.get("event") == "train" and r["step"] > starts.get(r["stage"], 0) + skip:
            times.setdefault(r["stage"], []).append(r["step_seconds"])
    return {stage: statistics.median(v) for stage, v in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="mffcl-synthetic-tiny")
    parser.add_argument("--steps", type=int, default=200, help="steps of each of the recipe's first two stages")
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()

    import torch

    from videotext.training import load_recipe, train

    stages = load_recipe(args.recipe)["train"]["stages"]
    common = [f"train.stages.{i}.max_steps={args.steps}" for i in range(min(2, len(stages)))]
    common += [f"train.stages.{i}.max_steps=1" for i in range(2, len(stages))]
    common += ["eval.at_end=false", "train.log_every=5", f"train.checkpoint_every={10 * args.steps}"]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        torch.set_num_threads(args.processes)
        train(args.recipe, Path(tmp) / "one", [*common, "train.cpu_processes=1"])
        results["1 process"] = stage_medians(Path(tmp) / "one")
        metrics = train(args.recipe, Path(tmp) / "many", [*common, f"train.cpu_processes={args.processes}"])
        if metrics["num_processes"] != args.processes:
            raise SystemExit(f"ran on {metrics['num_processes']} processes (cores or an accelerator decided)")
        results[f"{args.processes} processes"] = stage_medians(Path(tmp) / "many")
    one, many = results["1 process"], results[f"{args.processes} processes"]
    print(f"{'stage':<12}{'1 process x ' + str(args.processes) + ' threads':>26}"
          f"{str(args.processes) + ' processes x 1 thread':>26}{'ratio':>8}")  # fmt: skip
    for stage in one:
        print(f"{stage:<12}{one[stage]:>24.4f} s{many[stage]:>24.4f} s{one[stage] / many[stage]:>8.2f}")


if __name__ == "__main__":
    main()
