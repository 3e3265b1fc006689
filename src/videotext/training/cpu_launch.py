"""Data-parallel training on a host without accelerators (`train.cpu_processes` in a recipe).

On a small CPU host, N single-thread processes each taking 1/N of the batch are not slower than one process with N
threads, and the shipped CPU recipes' numbers were measured that way (the random frame and caption draws are split
over the processes, so one process computes something slightly different). `bench/bench_cpu_processes.py` (MFFCL
tiny, 2 cores, 150 steps per stage): median joint step 0.116 s on 2 processes vs 0.125 s in one 2-thread process,
caption step 0.065 s in both. `train` therefore starts `accelerate launch --multi_gpu --num_processes N -m
videotext train ...` itself when a recipe asks for it and nothing else launched it; the processes gather
contrastive negatives across each other, so the global batch stays `train.batch_size`.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

# set in the launched processes: its value is the process count the recipe's batch is split over
ENV = "VIDEOTEXT_CPU_PROCESSES"


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def has_accelerator() -> bool:
    """CUDA, XPU or MPS is available to this process."""
    xpu, mps = getattr(torch, "xpu", None), getattr(torch.backends, "mps", None)
    return (
        torch.cuda.is_available()
        or (xpu is not None and xpu.is_available())
        or (mps is not None and mps.is_available())
    )


def cpu_process_count(requested: int, batch_size: int) -> int:
    """Processes `train` should start for a recipe asking for `requested`; 1 = train in this process.

    1 when already inside a launch (accelerate, torchrun), on a host with an accelerator, or with one core; never
    more processes than cores, and a count that splits `batch_size` evenly."""
    if requested <= 1 or ENV in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return 1
    if has_accelerator():
        return 1
    n = max(1, min(requested, _usable_cores()))
    while batch_size % n:
        n -= 1
    return n


def per_process_batch_size(batch_size: int, num_processes: int) -> int:
    """The recipe's batch is global in processes started by `launch`, per process under any other launch."""
    return batch_size // num_processes if os.environ.get(ENV) == str(num_processes) else batch_size


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def recipe_arguments(recipe: dict, output_dir: Path) -> tuple[str, list[str]]:
    """The recipe file and `--set` items that reproduce `recipe` in another process."""
    from .recipes import dump_recipe, load_recipe

    def public(r: dict) -> dict:
        return {k: v for k, v in r.items() if not k.startswith("_")}

    source, overrides = recipe.get("_source"), list(recipe.get("_overrides") or [])
    if source and public(load_recipe(source, overrides)) == public(recipe):
        return source, overrides
    # a dict recipe, or one edited after loading: hand the processes its resolved YAML
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / "launch_recipe.yaml"
    path.write_text(dump_recipe(recipe))
    return str(path), []


def launch(recipe: dict, output_dir: Path, num_processes: int, resume: bool) -> dict:
    """Run `videotext train` for `recipe` on `num_processes` single-thread processes; returns OUT/metrics.json."""
    source, overrides = recipe_arguments(recipe, output_dir)
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        # on a CPU-only host `--multi_gpu` starts torchrun processes with the gloo backend
        "--multi_gpu", "--num_processes", str(num_processes), "--num_machines", "1",
        "--main_process_port", str(_free_port()), "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "videotext", "train", source, "--output-dir", str(output_dir),
    ]  # fmt: skip
    for item in overrides:
        cmd += ["--set", item]
    if resume:
        cmd.append("--resume")
    env = {**os.environ, ENV: str(num_processes), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    print(f"training on {num_processes} single-thread CPU processes (train.cpu_processes; set it to 1 to stay "
          f"in this process)", flush=True)  # fmt: skip
    code = subprocess.run(cmd, env=env).returncode
    if code != 0:
        raise RuntimeError(f"`videotext train` on {num_processes} CPU processes exited with status {code}; "
                           "its error is printed above")  # fmt: skip
    return json.loads((output_dir / "metrics.json").read_text())


def cpu_only_distributed() -> bool:
    """True under a torchrun-style launch (`accelerate launch --multi_gpu`) on a machine without accelerators.

    accelerate picks its multi-CPU (gloo) backend only when told `cpu=True`; `accelerate launch --cpu` itself starts
    a single process (it expects mpirun), so on CPU-only hosts several processes come from `--multi_gpu`."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or int(os.environ.get("LOCAL_RANK", "-1")) < 0:
        return False
    return not has_accelerator()
