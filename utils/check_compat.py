"""Compatibility check: every registered method, exported and reloaded as a Hub user would, on the installed releases.

For each method in the table, a tiny model is built from the method's tiny recipe (random weights, a tokenizer trained
on a few captions), saved as a Hub folder, and loaded by `utils/load_exported.py` in a child process that cannot
import videotext (Auto classes, `trust_remote_code=True`); its captions / logits / embeddings must equal the
exporting process's. CI runs this in a clean environment with the newest releases `pyproject.toml` allows, and again
with transformers at its lower bound (`scripts/compat.sh`). Prints the package versions it tested.

Run: `python utils/check_compat.py [--work-dir DIR]` (exit 1 on any failure).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import subprocess
import sys
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
PACKAGES = ("torch", "torchvision", "transformers", "tokenizers", "datasets", "accelerate", "peft", "evaluate",
            "huggingface_hub", "safetensors", "numpy", "decord", "pycocoevalcap")  # fmt: skip
CAPTIONS = ["a red circle moves left", "a small blue square spins", "a big green star grows then fades away"]


def installed_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "not installed"
    return out


def tiny_recipe(method: str) -> dict:
    """The method's tiny CPU recipe (the training table names it)."""
    from videotext.training.methods import training_method
    from videotext.training.recipes import load_recipe

    name = training_method(method).tiny_recipe
    if name is None:
        raise SystemExit(f"method {method!r} names no tiny recipe to build a test model from")
    return load_recipe(name)


@contextlib.contextmanager
def one_thread():
    """torch on one thread inside the block: the child runs one thread too (same reduction order, same numbers)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _load_exported_module():
    """`utils/load_exported.py` as a module (it imports nothing from videotext), for `compute_outputs`."""
    spec = importlib.util.spec_from_file_location("load_exported", HERE / "load_exported.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reference_outputs(model, processor, video: str, text: str, max_new_tokens: int) -> dict[str, torch.Tensor]:
    """What the exporting process computes, with the child's code; the child's outputs must be equal."""
    with one_thread():
        return _load_exported_module().compute_outputs(model, processor, video, text, max_new_tokens)


def compare_outputs(label: str, expected: dict[str, torch.Tensor], got: dict) -> list[str]:
    """Problems between the exporting process's outputs and the child's (floats: allclose, ids: equal)."""
    errors = []
    for key, want in expected.items():
        have = got.get(key)
        if have is None or have.shape != want.shape:
            errors.append(f"{label}: `{key}` missing or of another shape in the exported model's outputs")
        elif want.dtype.is_floating_point and not torch.allclose(have, want, atol=1e-5, rtol=1e-4):
            errors.append(f"{label}: `{key}` differs (max |diff| {float((have - want).abs().max()):.3g})")
        elif not want.dtype.is_floating_point and not torch.equal(have, want):
            errors.append(f"{label}: `{key}` differs: {have.tolist()} vs {want.tolist()}")
    return errors


def check_exported(model, processor, folder: str | Path, video: str, text: str, out_file: str | Path,
                   max_new_tokens: int = 6, env: dict[str, str] | None = None,
                   label: str | None = None) -> tuple[dict | None, list[str]]:  # fmt: skip
    """Load the Hub folder `folder` (written by `videotext.export.save_hub_folder(model, processor, folder)`) with
    `load_exported.py` in a child process that cannot import videotext, and compare its outputs on `video` / `text`
    with `model`'s in this process. Returns (the child's JSON summary or None when it failed, the problems)."""
    label = label or model.config.model_type
    expected = reference_outputs(model, processor, video, text, max_new_tokens=max_new_tokens)
    cmd = [sys.executable, str(HERE / "load_exported.py"), str(folder), str(video), "--text", text,
           "--out", str(out_file), "--max-new-tokens", str(max_new_tokens)]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if run.returncode != 0:
        return None, [f"{label}: loading the exported folder failed:\n{run.stderr[-3000:]}"]
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    errors = []
    if summary["videotext_in_modules"]:
        errors.append(f"{label}: the child process imported videotext")
    return summary, errors + compare_outputs(label, expected, torch.load(out_file))


def check_method(method: str, work: Path, video: str) -> list[str]:
    from videotext.export import save_hub_folder
    from videotext.training.model_factory import build_model_and_processor

    torch.manual_seed(0)
    model, processor = build_model_and_processor(tiny_recipe(method), train_captions=CAPTIONS)
    model.eval()
    folder = save_hub_folder(model, processor, work / method)
    summary, errors = check_exported(model, processor, folder, video, CAPTIONS[0], work / f"{method}.pt", label=method)
    if summary is not None:
        print(f"  {method}: {summary['auto_class']} -> {summary['model_class']}, outputs {summary['outputs']}")
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", default=None, help="where to write the exported folders (default: a temp dir)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the child runs one thread too: same reduction order, same numbers

    import videotext  # noqa: F401  (registers the methods)
    from videotext.modeling import METHODS
    from videotext.processing.video_writer import write_video

    versions = installed_versions()
    print("check_compat: tested with " + ", ".join(f"{k}=={v}" for k, v in versions.items()))
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="videotext-compat-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    video = write_video(work / "clip.mp4", rng.integers(0, 255, (12, 48, 64, 3), dtype=np.uint8), fps=8)
    errors: list[str] = []
    for method in METHODS:
        errors += check_method(method, work, str(video))
    for error in errors:
        print(error)
    print(f"check_compat: {len(METHODS)} methods, {len(errors)} problems (transformers {versions['transformers']})")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
