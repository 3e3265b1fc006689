"""The transformers custom pipelines of the exported folders: one per task of the method table.

Each pipeline is a flat Hub file in `hub_files/` (standard library, torch and transformers only), registered here
with transformers' `PIPELINE_REGISTRY` under its task name, with the task's Auto class (`Method.auto_class`) as its
model class. `write_pipeline_files(folder, task)` (called by `videotext.export.save_hub_folder`) copies the file into
an exported folder and adds the `custom_pipelines` entry `Pipeline.save_pretrained` would write to its
`config.json`, so that, without videotext,

    pipeline(model=folder, trust_remote_code=True)

finds the task (the only key of `custom_pipelines`), loads the model with the Auto class named under `pt`, the
processor with `AutoProcessor`, and the pipeline class from the copied file. In this process, after
`register_pipelines()`, `pipeline("videotext-captioning", model=model, processor=processor)` works on live objects.
"""

from __future__ import annotations

import importlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PIPELINES", "TaskPipeline", "custom_pipelines_entry", "register_pipelines", "write_pipeline_files"]

HUB_FILES = Path(__file__).resolve().parent / "hub_files"


@dataclass(frozen=True)
class TaskPipeline:
    """The custom pipeline of one task (`videotext.modeling.TASKS`)."""

    task: str  # "captioning" | "retrieval"
    name: str  # the transformers task name, the key of `custom_pipelines`
    module: str  # the flat Hub file in hub_files/ (without .py); the exported folder gets the same file name
    class_name: str
    type: str = "multimodal"

    @property
    def file(self) -> Path:
        return HUB_FILES / f"{self.module}.py"

    @property
    def pipeline_cls(self) -> type:
        return getattr(importlib.import_module(f"{__package__}.hub_files.{self.module}"), self.class_name)

    @property
    def auto_class(self) -> str:
        from videotext.modeling import AUTO_CLASSES

        return AUTO_CLASSES[self.task]


PIPELINES: dict[str, TaskPipeline] = {
    "captioning": TaskPipeline("captioning", "videotext-captioning", "pipeline_videotext_captioning",
                               "VideoCaptioningPipeline"),
    "retrieval": TaskPipeline("retrieval", "videotext-retrieval", "pipeline_videotext_retrieval",
                              "VideoTextRetrievalPipeline"),
}  # fmt: skip


def _spec(task: str) -> TaskPipeline:
    if task not in PIPELINES:
        raise ValueError(f"no custom pipeline for task {task!r} (known: {', '.join(sorted(PIPELINES))})")
    return PIPELINES[task]


def register_pipelines() -> None:
    """Register every task's pipeline with transformers' `PIPELINE_REGISTRY` (idempotent)."""
    import transformers
    from transformers.pipelines import PIPELINE_REGISTRY

    for spec in PIPELINES.values():
        cls = spec.pipeline_cls
        current = PIPELINE_REGISTRY.supported_tasks.get(spec.name)
        if current is not None and current.get("impl") is cls:
            continue
        PIPELINE_REGISTRY.register_pipeline(
            spec.name, pipeline_class=cls, pt_model=getattr(transformers, spec.auto_class), type=spec.type
        )


def custom_pipelines_entry(task: str) -> dict[str, dict]:
    """`{name: {"impl": "module.Class", "pt": [Auto class], "type": ...}}`, as `Pipeline.save_pretrained` writes it
    into config.json from the class's registration."""
    spec = _spec(task)
    register_pipelines()
    info = dict(spec.pipeline_cls._registered_impl[spec.name])
    impl = info.pop("impl")
    info["impl"] = f"{impl.__module__.rsplit('.', 1)[-1]}.{impl.__name__}"
    info["pt"] = [cls.__name__ for cls in info["pt"]]
    return {spec.name: info}


def write_pipeline_files(folder: str | Path, task: str) -> Path:
    """Copy `task`'s pipeline file into the exported `folder` and add its `custom_pipelines` entry to the folder's
    config.json (written by `save_pretrained` before). Returns the copied file."""
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} not found: save the model into {folder} first")
    spec = _spec(task)
    target = folder / spec.file.name
    shutil.copyfile(spec.file, target)
    config = json.loads(config_path.read_text())
    config["custom_pipelines"] = {**(config.get("custom_pipelines") or {}), **custom_pipelines_entry(task)}
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return target
