"""The Gradio Space app of an exported folder: `app.py` (a flat Hub file, `hub_files/app.py`) and the Space's
`requirements.txt`, written next to the model by `write_space_app(folder, task)` (called by
`videotext.export.save_hub_folder`).

The app loads the model from its own folder through the folder's custom pipeline (`hub_cards/pipelines.py`), so it
needs no videotext: `python app.py` on a Space, `python app.py --model-dir DIR --port N` locally. A captioner gets an
upload box and decoding controls; a retriever searches the clips of `examples/` (copy some in with `examples=`) and
uploaded files with a text box.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from .pipelines import HUB_FILES

__all__ = ["APP_FILE", "SPACE_PACKAGES", "space_requirements", "write_space_app"]

APP_FILE = HUB_FILES / "app.py"
# what app.py and the folder's remote code import (transformers' video processors need torchvision and Pillow)
SPACE_PACKAGES = ("gradio", "torch", "torchvision", "transformers", "decord", "numpy", "pillow")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def space_requirements() -> list[str]:
    """One requirement line per Space package, with the version range videotext's own metadata declares
    (pyproject.toml, the `space` extra for gradio); a bare name where the metadata has none."""
    from importlib.metadata import PackageNotFoundError, requires

    from packaging.requirements import Requirement

    try:
        declared = [Requirement(line) for line in requires("videotext") or []]
    except PackageNotFoundError:
        declared = []
    ranges = {}
    for req in declared:
        name = _canonical(req.name)
        if name in ranges and ranges[name]:
            continue
        ranges[name] = str(req.specifier)
    return [f"{name}{ranges.get(_canonical(name), '')}" for name in SPACE_PACKAGES]


def write_space_app(folder: str | Path, task: str, examples: list[str | Path] | None = None) -> Path:
    """Copy the Space app into the exported `folder`, write the Space's requirements.txt, and copy the `examples`
    clips (for a retriever's gallery) into `folder/examples/`. Returns the app file."""
    from videotext.modeling import TASKS

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r} (tasks: {', '.join(TASKS)})")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / APP_FILE.name
    shutil.copyfile(APP_FILE, target)
    (folder / "requirements.txt").write_text("\n".join(space_requirements()) + "\n")
    if examples:
        clips = folder / "examples"
        clips.mkdir(exist_ok=True)
        for clip in examples:
            shutil.copyfile(clip, clips / Path(clip).name)
    return target
