"""Model cards (README.md with Hub metadata) for videotext models, rendered with huggingface_hub's `ModelCard`.

```python
from videotext.hub_cards import render_model_card
card = render_model_card("runs/tiny")      # a training output folder or any Hub folder of a registered method
card.save("README.md")
```

What goes in: the config (method -> task -> `pipeline_tag`, classes, auto class), the training record of the folder
(`metrics.json`: recipe name, resolved recipe, final metrics; or `recipe.yaml`), `videotext eval` metrics JSONs
(`eval_<split>.json` in the folder, or the files given), a LoRA `adapter/`, and the per-method / per-task facts of
`videotext.hub_cards.facts`. Nothing here compares method names.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .facts import DatasetSource, MethodFacts, TaskFacts, dataset_source, method_facts

__all__ = [
    "DEFAULT_LICENSE",
    "CardSources",
    "EvalReport",
    "HubCardError",
    "TrainingRecord",
    "build_model_card",
    "collect_sources",
    "describe_dataset",
    "eval_results",
    "read_metrics_file",
    "read_model_folder",
    "render_model_card",
]

DEFAULT_LICENSE = "apache-2.0"
TEMPLATE = Path(__file__).parent / "templates" / "model_card.md"
SYNTHETIC_TYPE = "videotext-synthetic"


class HubCardError(ValueError):
    """Bad input for a card, an export or a push; the message names the file at fault."""


@dataclass
class EvalReport:
    """One set of metrics on one dataset split."""

    dataset: str | None  # the dataset path as recorded (None: the recipe's cached synthetic set)
    split: str
    metrics: dict[str, Any]
    source: str  # "videotext eval" | "videotext train (final evaluation)"
    file: str
    num_clips: int | None = None


@dataclass
class TrainingRecord:
    """What a training output folder says about its run (`metrics.json`, else `recipe.yaml`)."""

    name: str | None
    recipe: dict[str, Any]
    overrides: list[str] = field(default_factory=list)
    global_step: int | None = None
    num_processes: int | None = None
    train_clips: int | None = None
    stages: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CardSources:
    folder: Path
    config: dict[str, Any]
    method: Any  # videotext.modeling.Method
    training: TrainingRecord | None
    evals: list[EvalReport]
    adapter: dict[str, Any] | None  # adapter_config.json of `folder/adapter`


# ------------------------------------------------------------------------------------------------------ reading
def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise HubCardError(f"{path}: no such file ({what})") from None
    except (OSError, ValueError) as err:
        raise HubCardError(f"{path}: cannot read {what}: {err}") from None


def read_model_folder(folder: str | os.PathLike) -> tuple[dict[str, Any], Any]:
    """(config.json as a dict, the method table entry) of a videotext model folder; `HubCardError` naming the file
    when the folder is not one."""
    from videotext.modeling import METHODS

    path = Path(folder)
    if not path.is_dir():
        raise HubCardError(f"{path}: no such model folder")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise HubCardError(f"{config_file}: not found; {path} is not a model folder (no config.json)")
    config = _read_json(config_file, "the model config")
    model_type = config.get("model_type") if isinstance(config, dict) else None
    if model_type not in METHODS:
        raise HubCardError(
            f"{config_file}: model_type {model_type!r} is not a videotext method "
            f"(registered: {', '.join(sorted(METHODS))})"
        )
    return config, METHODS[model_type]


def read_metrics_file(path: str | os.PathLike) -> list[EvalReport]:
    """The evaluations in a `videotext eval` metrics JSON ({"dataset", "split", "metrics", ...}) or a training
    `metrics.json` (its `final` metrics, on the recipe's eval split)."""
    path = Path(path)
    data = _read_json(path, "a metrics JSON")
    if isinstance(data, dict) and isinstance(data.get("metrics"), dict) and "split" in data:
        return [
            EvalReport(
                dataset=data.get("dataset"),
                split=str(data["split"]),
                metrics=data["metrics"],
                source="videotext eval",
                file=str(path),
                num_clips=data.get("num_clips"),
            )
        ]
    if isinstance(data, dict) and "recipe_resolved" in data and "final" in data:
        if not data["final"]:
            return []
        recipe = data["recipe_resolved"]
        return [
            EvalReport(
                dataset=(recipe.get("data") or {}).get("path"),
                split=str((recipe.get("eval") or {}).get("split", "test")),
                metrics=data["final"],
                source="videotext train (final evaluation)",
                file=str(path),
            )
        ]
    raise HubCardError(
        f"{path}: not a metrics JSON of `videotext eval` (dataset, split, metrics) nor a training metrics.json "
        "(final, recipe_resolved)"
    )


_HEADER = re.compile(r"^# resolved recipe (\S+)")


def read_training_record(folder: Path) -> TrainingRecord | None:
    """The training record of an output folder of `videotext train`, None for a folder without one."""
    metrics_file, recipe_file = folder / "metrics.json", folder / "recipe.yaml"
    if metrics_file.is_file():
        data = _read_json(metrics_file, "the training metrics")
        if isinstance(data, dict) and isinstance(data.get("recipe_resolved"), dict):
            return TrainingRecord(
                name=data.get("recipe"),
                recipe=data["recipe_resolved"],
                overrides=list(data.get("overrides") or []),
                global_step=data.get("global_step"),
                num_processes=data.get("num_processes"),
                train_clips=data.get("train_clips"),
                stages=list(data.get("stages") or []),
            )
    if recipe_file.is_file():
        text = recipe_file.read_text()
        try:
            recipe = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise HubCardError(f"{recipe_file}: not valid YAML: {err}".splitlines()[0]) from None
        if not isinstance(recipe, dict):
            raise HubCardError(f"{recipe_file}: not a recipe (a YAML mapping)")
        match = _HEADER.match(text)
        return TrainingRecord(name=match.group(1) if match else recipe_file.name, recipe=recipe)
    return None


def collect_sources(folder: str | os.PathLike, metrics_files: list[str | os.PathLike] | None = None) -> CardSources:
    """Everything a card says about the model in `folder`. Evaluations: the given metrics files; by default the
    folder's `eval_*.json` (`videotext eval`), else the final evaluation of its training `metrics.json`."""
    folder = Path(folder)
    config, method = read_model_folder(folder)
    training = read_training_record(folder)
    evals: list[EvalReport] = []
    if metrics_files:
        for path in metrics_files:
            evals += read_metrics_file(path)
    else:
        for path in sorted(folder.glob("eval_*.json")):
            evals += read_metrics_file(path)
        if not evals and (folder / "metrics.json").is_file() and training is not None:
            evals = read_metrics_file(folder / "metrics.json")
    adapter = None
    adapter_config = folder / "adapter" / "adapter_config.json"
    if adapter_config.is_file():
        adapter = _read_json(adapter_config, "the LoRA adapter config")
    return CardSources(folder, config, method, training, evals, adapter)


# ------------------------------------------------------------------------------------------------------ datasets
def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9@/._+-]+", "-", str(text).lower()).strip("-") or "metric"


def describe_dataset(path: str | None, split: str | None = None) -> tuple[str, str, str | None]:
    """(dataset type, display name, config such as the split protocol) of a dataset a model was trained or evaluated
    on: the recipe's cached synthetic set (`path` None), a synthetic benchmark folder, a folder written by `videotext
    prepare` (its builder and protocol from the build report), else the folder's name."""
    if path is None:
        return SYNTHETIC_TYPE, dataset_source("synthetic").name, None
    folder = Path(path)
    if (folder / "synthetic_annotations.json").is_file():
        return SYNTHETIC_TYPE, dataset_source("synthetic").name, None
    report = _build_report(folder, split)
    if report and report.get("builder"):
        builder = report["builder"]
        source: DatasetSource = dataset_source(builder)
        kind = SYNTHETIC_TYPE if builder == "synthetic" else builder
        return kind, source.name, report.get("protocol")
    name = folder.name or str(path)
    return _slug(name), name, None


def _build_report(folder: Path, split: str | None) -> dict | None:
    """The build report a videotext builder stored in a prepared dataset's `dataset_info.json` (no datasets import)."""
    from videotext.datasets_scripts.common import REPORT_PREFIX

    candidates = [folder / split / "dataset_info.json"] if split else []
    candidates += sorted(folder.glob("*/dataset_info.json")) + [folder / "dataset_info.json"]
    for info_file in candidates:
        try:
            description = json.loads(info_file.read_text()).get("description") or ""
        except (OSError, ValueError, AttributeError):
            continue
        if description.startswith(REPORT_PREFIX):
            try:
                return json.loads(description[len(REPORT_PREFIX) :])
            except ValueError:
                return None
    return None


# ------------------------------------------------------------------------------------------------------ metrics
def _number(value: Any) -> Any:
    return float(value) if isinstance(value, float) else value


def eval_results(evals: list[EvalReport], task: TaskFacts) -> list:
    """`huggingface_hub.EvalResult`s of every metric (nested ones flattened with `evaluation.flat_metrics`)."""
    from huggingface_hub import EvalResult

    from videotext.evaluation import flat_metrics

    results = []
    for report in evals:
        kind, name, config = describe_dataset(report.dataset, report.split)
        for metric, value in flat_metrics(report.metrics).items():
            results.append(
                EvalResult(
                    task_type=task.pipeline_tag,
                    task_name=task.task_name,
                    dataset_type=kind,
                    dataset_name=name,
                    dataset_config=config,
                    dataset_split=report.split,
                    metric_type=_slug(metric),
                    metric_name=metric,
                    metric_value=_number(value),
                )
            )
    return results


# ------------------------------------------------------------------------------------------------------ backbones
def _is_hub_id(source: Any) -> bool:
    """A Hub repo id ("gpt2", "org/name"), not a local folder."""
    if not isinstance(source, str) or not source or os.path.exists(source):
        return False
    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?", source))


def _backbones(sources: CardSources, facts: MethodFacts) -> tuple[list[dict[str, str]], list[str]]:
    """(backbone rows for the card, `base_model` ids). From the recipe when it has one: its `model.backbones` when
    `pretrained`, its `init_from` model, and nothing for a model built from config; else from the sub-configs'
    `_name_or_path` (what `from_pretrained` recorded)."""
    rows, base = [], []
    recipe_model = (sources.training.recipe.get("model") or {}) if sources.training else None
    if recipe_model is not None:
        init_from = recipe_model.get("init_from")
        if init_from:
            rows.append({"key": "init_from", "role": "starting model", "source": f"`{init_from}`"})
            if _is_hub_id(init_from):
                base.append(init_from)
        elif recipe_model.get("pretrained"):
            for key, source in (recipe_model.get("backbones") or {}).items():
                role = facts.backbones.get(key, "backbone")
                rows.append({"key": key, "role": role, "source": f"pretrained `{source}`"})
                if _is_hub_id(source):
                    base.append(source)
        else:
            for key, value in sources.config.items():
                if key.endswith("_config") and isinstance(value, dict) and value.get("model_type"):
                    rows.append(
                        {"key": key, "role": value["model_type"], "source": "built from config (random initialisation)"}
                    )
        return rows, list(dict.fromkeys(base))
    for key, value in sources.config.items():
        if key.endswith("_config") and isinstance(value, dict) and value.get("model_type"):
            origin = value.get("_name_or_path") or ""
            if _is_hub_id(origin):
                base.append(origin)
            rows.append(
                {"key": key, "role": value["model_type"], "source": f"`{origin}`" if origin else "not recorded"}
            )
    return rows, list(dict.fromkeys(base))


# ------------------------------------------------------------------------------------------------------ snippets
def _auto_snippet(repo: str, auto_class: str, task: str, own_score: bool = False) -> str:
    load = (
        "import torch\n"
        f"from transformers import {auto_class}, AutoProcessor\n\n"
        f'model = {auto_class}.from_pretrained("{repo}", trust_remote_code=True).eval()\n'
        f'processor = AutoProcessor.from_pretrained("{repo}", trust_remote_code=True)\n'
    )
    if task == "captioning":
        return load + (
            '\ninputs = processor(videos=["clip.mp4"], return_tensors="pt")  # paths or (frames, H, W, 3) uint8 arrays\n'
            "with torch.no_grad():\n"
            "    ids = model.generate(**inputs, max_new_tokens=30, num_beams=3)\n"
            "print(processor.batch_decode(ids, skip_special_tokens=True))"
        )
    score = (
        "similarity = model.score_embeddings(text_embeds, video_embeds)  # the model's own score\n"
        if own_score
        else "similarity = torch.nn.functional.normalize(text_embeds, dim=-1) @ "
        "torch.nn.functional.normalize(video_embeds, dim=-1).T\n"
    )
    return load + (
        '\nvideos = processor(videos=["clip.mp4"], return_tensors="pt")  # paths or (frames, H, W, 3) uint8 arrays\n'
        'texts = processor(text=["a man is playing tennis", "a cat sleeps on a sofa"], return_tensors="pt")\n'
        "with torch.no_grad():\n"
        "    video_embeds = model.get_video_features(**videos)\n"
        "    text_embeds = model.get_text_features(**texts)\n"
        + score
        + "print(similarity)  # (texts, videos)"
    )


def _pipeline_snippet(repo: str, pipelines: list[str], call: str) -> str:
    task = f', task="{pipelines[0]}"' if len(pipelines) > 1 else ""
    return (
        f'from transformers import pipeline\n\npipe = pipeline(model="{repo}"{task}, trust_remote_code=True)\n'
        f"print({call.split('  #')[0]})" + (f"  #{call.split('  #', 1)[1]}" if "  #" in call else "")
    )


def _trainer_snippet(repo: str, auto_class: str, tmethod) -> str:
    from videotext.datasets_scripts.common import OPTIONAL_COLUMNS
    from videotext.training.methods import PER_CAPTION_COLUMNS

    args = ['videos=[row["video_path"] for row in rows]', 'text=[row["captions"][0] for row in rows]']
    for column in tmethod.columns if tmethod else ():
        if column not in OPTIONAL_COLUMNS:  # a training item's own value (SVAD-VLM's sample_seed), not a dataset column
            continue
        index = "[0]" if column in PER_CAPTION_COLUMNS else ""
        args.append(f'{column}=[row["{column}"]{index} for row in rows]')
    args += [f"{k}={v!r}" for k, v in (tmethod.processor_kwargs if tmethod else {}).items()]
    args.append('return_tensors="pt"')
    extra = dict(tmethod.model_kwargs) if tmethod else {}
    body = "    batch = processor(\n" + "".join(f"        {a},\n" for a in args) + "    )\n"
    body += (
        "    return {**batch, " + ", ".join(f'"{k}": {v!r}' for k, v in extra.items()) + "}\n"
        if extra
        else ("    return dict(batch)\n")
    )
    return (
        "from datasets import load_from_disk\n"
        f"from transformers import {auto_class}, AutoProcessor, Trainer, TrainingArguments\n\n"
        f'model = {auto_class}.from_pretrained("{repo}", trust_remote_code=True)\n'
        f'processor = AutoProcessor.from_pretrained("{repo}", trust_remote_code=True)\n'
        'train_rows = load_from_disk("prepared_dataset")["train"]\n\n\n'
        "def collate(rows):\n" + body + "\n\n"
        "args = TrainingArguments(\n"
        '    output_dir="finetuned", per_device_train_batch_size=8, max_steps=1000, learning_rate=5e-5,\n'
        '    remove_unused_columns=False, report_to="none",\n'
        ")\n"
        "Trainer(model=model, args=args, train_dataset=train_rows, data_collator=collate).train()"
    )


def _peft_snippet(repo: str, auto_class: str) -> str:
    return (
        "from peft import PeftModel\n"
        "from peft.tuners.lora import LoraLayer\n"
        f"from transformers import {auto_class}\n\n"
        f'model = {auto_class}.from_pretrained("{repo}", trust_remote_code=True)\n'
        f'peft_model = PeftModel.from_pretrained(model, "{repo}", subfolder="adapter", is_trainable=True)\n'
        "for module in peft_model.modules():  # the update is already in the weights: mark it merged ...\n"
        "    if isinstance(module, LoraLayer):\n"
        '        module.merged_adapters = ["default"]\n'
        "peft_model.unmerge_adapter()  # ... and move it back into the LoRA matrices (same outputs as `model` before)"
    )


# ------------------------------------------------------------------------------------------------------ the card
def _recipe_section(training: TrainingRecord | None) -> dict[str, Any] | None:
    if training is None:
        return None
    recipe = training.recipe
    data = recipe.get("data") or {}
    kind, name, config = describe_dataset(data.get("path"), data.get("train_split"))
    dataset = f"{name} (`{kind}`{', ' + config if config else ''}), split `{data.get('train_split', 'train')}`"
    planned = {s.get("name"): s for s in (recipe.get("train") or {}).get("stages") or []}
    stages = [
        {
            "name": s.get("name"),
            "objective": (planned.get(s.get("name")) or {}).get("objective") or "default",
            "steps": s.get("num_steps"),
            "lr": s.get("lr"),
        }
        for s in training.stages
    ] or [
        {"name": s.get("name"), "objective": s.get("objective") or "default",
         "steps": s.get("max_steps") or f"{s.get('epochs')} epochs", "lr": s.get("lr")}
        for s in planned.values()
    ]  # fmt: skip
    return {
        "name": training.name,
        "description": recipe.get("description"),
        "global_step": training.global_step,
        "train_clips": training.train_clips,
        "num_processes": training.num_processes,
        "dataset": dataset,
        "stages": stages,
        "overrides": " ".join(f"--set {o}" for o in training.overrides),
        "yaml": yaml.safe_dump(recipe, sort_keys=False).rstrip(),
    }


def _training_datasets(sources: CardSources) -> list[str]:
    kinds = []
    if sources.training is not None:
        data = sources.training.recipe.get("data") or {}
        kinds.append(describe_dataset(data.get("path"), data.get("train_split"))[0])
    kinds += [describe_dataset(r.dataset, r.split)[0] for r in sources.evals]
    return list(dict.fromkeys(kinds))


def _format_value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def build_model_card(
    sources: CardSources,
    *,
    repo: str | None = None,
    model_name: str | None = None,
    license: str = DEFAULT_LICENSE,
    dataset_ids: list[str] | None = None,
    exported_config: dict[str, Any] | None = None,
):
    """The `huggingface_hub.ModelCard` of the model described by `sources`.

    `repo`: the id or folder the usage snippets load from (default: the model folder); `model_name`: the card title and
    `model-index` name (default: the last part of `repo`); `dataset_ids`: Hub dataset ids for the `datasets` metadata
    (default: the dataset types of the training and evaluation data); `exported_config`: the config.json of the
    exported folder (its `custom_pipelines` add the pipeline snippet)."""
    from huggingface_hub import ModelCard, ModelCardData

    from videotext.evaluation import flat_metrics
    from videotext.training.methods import TRAINING_METHODS

    method = sources.method
    model_type = method.model_type
    facts = method_facts(model_type)
    from .facts import TASK_FACTS

    task = TASK_FACTS[method.task]
    tmethod = TRAINING_METHODS.get(model_type)
    repo = repo or str(sources.folder)
    model_name = model_name or Path(repo.rstrip("/")).name or model_type
    config = exported_config or sources.config

    backbone_rows, base_model = _backbones(sources, facts)
    pretrained = bool(base_model) or any("pretrained" in r["source"] for r in backbone_rows)
    results = eval_results(sources.evals, task)
    tags = ["videotext", model_type, *task.tags, *facts.tags]
    if sources.adapter is not None:
        tags += ["peft", "lora"]
    pipelines = sorted((config.get("custom_pipelines") or {}).keys())
    card_data = ModelCardData(
        library_name="transformers",
        pipeline_tag=task.pipeline_tag,
        license=license,
        language=["en"],
        tags=tags,
        base_model=base_model or None,
        datasets=list(dataset_ids) if dataset_ids else (_training_datasets(sources) or None),
        metrics=list(task.metrics),
        model_name=model_name,
        eval_results=results or None,
        widget=[dict(w) for w in task.widget],
    )

    limitations = list(task.limitations) + list(facts.limitations)
    from_config = (
        sources.training is not None
        and not pretrained
        and not ((sources.training.recipe.get("model") or {}).get("init_from"))
    )
    if from_config:
        limitations.insert(
            0,
            "Built from config (random initialisation, no pretrained backbone) and trained only on the data named "
            "under Training: a small demonstration model, not meant for real videos.",
        )
    elif base_model:
        limitations.append(f"The licences and limitations of the backbones ({', '.join(base_model)}) apply as well.")
    if sources.training is not None:
        limitations.append("Expect lower quality on videos and captions unlike the training data.")
    limitations.append(
        "The model code runs from this repository (`trust_remote_code=True`): review it before use. Hosted inference "
        "widgets do not run remote code."
    )

    adapter = None
    if sources.adapter is not None:
        adapter = {
            "r": sources.adapter.get("r"),
            "alpha": sources.adapter.get("lora_alpha"),
            "num_targets": len(sources.adapter.get("target_modules") or []),
        }
    eval_rows = []
    for report in sources.evals:
        _, name, protocol = describe_dataset(report.dataset, report.split)
        for metric, value in flat_metrics(report.metrics).items():
            eval_rows.append(
                {
                    "dataset": name + (f" ({protocol})" if protocol else ""),
                    "split": report.split,
                    "metric": metric,
                    "value": _format_value(value),
                    "source": report.source,
                }
            )
    task_phrase = task.task_name[0].lower() + task.task_name[1:]
    intro = f"A {task_phrase} model of the {facts.name} method (`{model_type}`), exported with videotext."
    snippets = {
        "auto": _auto_snippet(repo, method.auto_class, method.task, hasattr(method.model_cls, "score_embeddings")),
        "pipeline": _pipeline_snippet(repo, pipelines, task.pipeline_call) if pipelines else "",
        "trainer": _trainer_snippet(repo, method.auto_class, tmethod),
        "peft": _peft_snippet(repo, method.auto_class) if adapter else "",
    }
    return ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE),
        model_name=model_name,
        intro=intro,
        method=facts,
        task=task,
        model_type=model_type,
        classes={
            "model": method.model,
            "auto_class": method.auto_class,
            "processor": method.processor,
            "video_processor": method.video_processor,
        },
        num_frames=config.get("num_frames") or (config.get("vision_config") or {}).get("num_frames"),
        video_inputs=list(method.video_processor_cls.model_input_names),
        backbones=backbone_rows,
        license=license,
        adapter=adapter,
        snippets=snippets,
        pipelines=pipelines,
        columns=list(tmethod.columns) if tmethod else [],
        eval_rows=eval_rows,
        recipe=_recipe_section(sources.training),
        limitations=limitations,
        citation=facts.bibtex(),
    )


def render_model_card(
    model_dir: str | os.PathLike,
    *,
    metrics_files: list[str | os.PathLike] | None = None,
    **kwargs: Any,
):
    """`build_model_card(collect_sources(model_dir, metrics_files), **kwargs)`."""
    return build_model_card(collect_sources(model_dir, metrics_files), **kwargs)
