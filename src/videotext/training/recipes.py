"""Training recipes: small YAML files shipped in `videotext/training/recipes/` (or any path).

A recipe is a nested mapping. `load_recipe` merges it over `DEFAULTS`, applies `--set key.sub=value`
overrides (values parsed as YAML scalars, so `--set train.lr=1e-4` is a float and `--set lora.enabled=false`
a bool; integer path parts index lists: `train.stages.1.lr=3e-5`), and validates it. Every validation error
is a `RecipeError` (a `ValueError`) whose message names the recipe and the field at fault.

Schema (see `DEFAULTS` for every default)::

    method: mffcl | dual_align
    seed: int
    model:
      pretrained: bool             # true: <Model>.from_pretrained_backbones(**backbones, **config)
      backbones: {vision: ..., text: ..., text_encoder: ...}    # Hub ids or local folders
      vision_config / text_config / text_encoder_config / clip_text_config / commonsense_config / qformer_config:
                    {...}          # tiny sub-configs (pretrained: false)
      config: {...}                # extra <Method>Config kwargs (paper knobs)
      init_from: path | null       # start from a saved videotext model folder instead
    tokenizer:
      train: bool                  # train a WordPiece vocabulary on the training captions
      vocab_size: int
      name / text_encoder_name: Hub id | path | null   # AutoTokenizer.from_pretrained
    processor: {...}               # video processor kwargs (size, mean/std, ...)
    data:
      path: dataset dir | raw synthetic folder | null   # null: the cached synthetic set below
      synthetic: {num_videos, seed, size, num_frames, fps}
      train_split, eval_split, num_frames, size, max_train_clips, cache_frames,
      cache_frames_per_clip, num_workers
      source_weights: {data_source: weight} | null    # weighted primary / auxiliary mix (SVAD-VLM)
      targets: captions | description | description+captions   # texts learnt / scored (training.data.with_targets)
    train:
      batch_size, gradient_accumulation_steps, mixed_precision (no|fp16|bf16), max_grad_norm,
      optimizer (adam|adamw), weight_decay, betas, eps, max_steps (global cap), checkpoint_every,
      keep_checkpoints, eval_every, log_every, report_to, gradient_checkpointing (bool: the towers recompute
      activations in the backward pass),
      cpu_processes                # >1: on a host without accelerators `train` starts this many single-thread
                                   # data-parallel processes (accelerate launch); batch_size is then the global batch
      stages: [{name, objective, epochs | max_steps, lr, schedule: {name, ...}, freeze: [regex],
                train_only: [regex], config: {...}}]
    lora: {enabled, r, alpha, dropout, include_lm_head, modules_to_save}
    eval: {split, limit, batch_size, at_end, protocol, generate: {...}}
"""

from __future__ import annotations

import copy
import functools
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

__all__ = ["DEFAULTS", "RecipeError", "apply_overrides", "find_recipe", "list_recipes", "load_recipe"]

SCHEDULES = ("constant", "inverse_time", "multistep")
OPTIMIZERS = ("adam", "adamw")
PRECISIONS = ("no", "fp16", "bf16")

DEFAULTS: dict[str, Any] = {
    "method": None,
    "description": "",
    "seed": 42,
    "model": {
        "pretrained": False,
        "backbones": {},
        "vision_config": {},
        "text_config": {},
        "text_encoder_config": {},
        "clip_text_config": {},
        "commonsense_config": {},
        "qformer_config": {},
        "config": {},
        "init_from": None,
    },
    "tokenizer": {"train": True, "vocab_size": 1000, "name": None, "text_encoder_name": None},
    "processor": {},
    "data": {
        "path": None,
        "synthetic": {"num_videos": 120, "seed": 0, "size": 32, "num_frames": 16, "fps": 8},
        "train_split": "train",
        "eval_split": "validation",
        "num_frames": 8,
        "size": None,
        "max_train_clips": None,
        "cache_frames": False,
        "cache_frames_per_clip": None,
        "num_workers": 0,
        "source_weights": None,
        "on_bad_video": "skip",
        "targets": "captions",
    },
    "train": {
        "batch_size": 8,
        "gradient_accumulation_steps": 1,
        "mixed_precision": "no",
        "max_grad_norm": 1.0,
        "optimizer": "adamw",
        "weight_decay": 0.0,
        "betas": [0.9, 0.999],
        "eps": 1.0e-8,
        "max_steps": None,
        "checkpoint_every": 500,
        "keep_checkpoints": 2,
        "eval_every": None,
        "log_every": 10,
        "report_to": [],
        "cpu_processes": 1,
        "gradient_checkpointing": False,
        "stages": [],
    },
    "lora": {
        "enabled": False,
        "r": 8,
        "alpha": 16,
        "dropout": 0.05,
        "include_lm_head": False,
        "modules_to_save": [],
    },
    "eval": {
        "split": None,
        "limit": None,
        "batch_size": 16,
        "at_end": True,
        "protocol": "first-caption",
        "generate": {"max_new_tokens": 20, "num_beams": 1},
    },
}

STAGE_DEFAULTS: dict[str, Any] = {
    "name": None,
    "objective": None,
    "epochs": None,
    "max_steps": None,
    "lr": None,
    "schedule": {"name": "constant"},
    "freeze": [],
    "train_only": [],
    "config": {},
}

SCHEDULE_KEYS = {
    "constant": {"warmup_steps"},
    "inverse_time": {"warmup_steps", "theta", "decay_steps"},
    "multistep": {"warmup_steps", "milestones", "gamma", "unit"},
}

# mappings whose keys are free-form (passed to a config / processor / generate)
_FREE_FORM = {
    "model.backbones",
    "model.vision_config",
    "model.text_config",
    "model.text_encoder_config",
    "model.clip_text_config",
    "model.commonsense_config",
    "model.qformer_config",
    "model.config",
    "processor",
    "data.synthetic",
    "data.source_weights",
    "eval.generate",
}


class RecipeError(ValueError):
    """A recipe file or override is invalid; the message names the recipe and the field."""


def _recipes_dir() -> Path:
    return Path(str(resources.files("videotext.training") / "recipes"))


def list_recipes() -> dict[str, str]:
    """Shipped recipe name -> first comment line (what it reproduces)."""
    out = {}
    for path in sorted(_recipes_dir().glob("*.yaml")):
        first = ""
        for line in path.read_text().splitlines():
            if line.startswith("#"):
                first = line.lstrip("# ").strip()
                break
        out[path.stem] = first
    return out


def find_recipe(name_or_path: str | Path) -> Path:
    """A path to a YAML file, or the name of a shipped recipe (with or without `.yaml`)."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    name = str(name_or_path)
    candidate = _recipes_dir() / (name if name.endswith(".yaml") else f"{name}.yaml")
    if candidate.is_file():
        return candidate
    raise RecipeError(
        f"recipe {name_or_path!r} is neither a YAML file nor a shipped recipe; shipped: {', '.join(list_recipes())}"
    )


def _parse_path(key: str) -> list[str]:
    parts = key.split(".")
    if not key or any(not p for p in parts):
        raise RecipeError(f"--set key {key!r} is not a dotted path like train.batch_size")
    return parts


_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _fix_floats(value):
    """YAML 1.1 reads `3e-4` (no dot) as a string; a user means a float."""
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, list):
        return [_fix_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _fix_floats(v) for k, v in value.items()}
    return value


def _yaml_value(raw: str):
    return _fix_floats(yaml.safe_load(raw)) if raw.strip() else None


def apply_overrides(recipe: dict, overrides: list[str] | None) -> dict:
    """Apply `key.sub=value` overrides in place (value parsed as YAML); return the recipe."""
    for item in overrides or []:
        if "=" not in item:
            raise RecipeError(f"--set {item!r} must be KEY=VALUE (e.g. train.batch_size=4)")
        key, raw = item.split("=", 1)
        key = key.strip()
        try:
            value = _yaml_value(raw)
        except yaml.YAMLError as err:
            raise RecipeError(f"--set {key}: cannot parse value {raw!r} as YAML: {err}") from None
        parts = _parse_path(key)
        node: Any = recipe
        for i, part in enumerate(parts[:-1]):
            where = ".".join(parts[: i + 1])
            if isinstance(node, list):
                node = node[_list_index(node, part, where)]
            elif isinstance(node, dict):
                if node.get(part) is None:
                    node[part] = {}
                node = node[part]
            else:
                raise RecipeError(f"--set {key}: {where} is a {type(node).__name__}, not a mapping")
        last = parts[-1]
        if isinstance(node, list):
            node[_list_index(node, last, key)] = value
        elif isinstance(node, dict):
            node[last] = value
        else:
            raise RecipeError(f"--set {key}: parent of {last!r} is a {type(node).__name__}, not a mapping")
    return recipe


def _list_index(node: list, part: str, where: str) -> int:
    if not re.fullmatch(r"-?\d+", part):
        raise RecipeError(f"--set: {where} indexes a list and needs an integer, got {part!r}")
    idx = int(part)
    if not -len(node) <= idx < len(node):
        raise RecipeError(f"--set: {where} is out of range (the list has {len(node)} items)")
    return idx


def _merge(defaults: dict, given: dict, where: str, name: str) -> dict:
    out = copy.deepcopy(defaults)
    for key, value in (given or {}).items():
        field = f"{where}.{key}" if where else key
        if key not in defaults:
            raise RecipeError(f"recipe {name}: unknown field {field!r} (known: {', '.join(sorted(defaults))})")
        free = field in _FREE_FORM or (where.startswith("train.stages") and key == "config")
        if isinstance(defaults[key], dict) and not free and key != "schedule":
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise RecipeError(f"recipe {name}: {field} must be a mapping, got {type(value).__name__}")
            out[key] = _merge(defaults[key], value, field, name)
        elif isinstance(defaults[key], dict) and free:
            if value is None:
                value = {}
            if not isinstance(value, dict):
                raise RecipeError(f"recipe {name}: {field} must be a mapping, got {type(value).__name__}")
            merged = copy.deepcopy(defaults[key])
            merged.update(value)
            out[key] = merged
        else:
            out[key] = value
    return out


def _check(cond: bool, name: str, field: str, msg: str) -> None:
    if not cond:
        raise RecipeError(f"recipe {name}: {field} {msg}")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _validate_schedule(sched, name: str, field: str) -> dict:
    if isinstance(sched, str):
        sched = {"name": sched}
    _check(isinstance(sched, dict), name, field, f"must be a mapping with a name, got {sched!r}")
    kind = sched.get("name")
    _check(kind in SCHEDULES, name, f"{field}.name", f"must be one of {SCHEDULES}, got {kind!r}")
    for key in sched:
        if key != "name":
            _check(key in SCHEDULE_KEYS[kind], name, f"{field}.{key}", f"is not a {kind} schedule option")
    warm = sched.get("warmup_steps", 0)
    _check(_is_int(warm) and warm >= 0, name, f"{field}.warmup_steps", f"must be an int >= 0, got {warm!r}")
    if kind == "inverse_time":
        theta = sched.get("theta", 0.5)
        _check(_is_num(theta) and theta >= 0, name, f"{field}.theta", f"must be a number >= 0, got {theta!r}")
        ds = sched.get("decay_steps", 1)
        _check(_is_num(ds) and ds > 0, name, f"{field}.decay_steps", f"must be a number > 0, got {ds!r}")
    if kind == "multistep":
        ms = sched.get("milestones", [])
        _check(
            isinstance(ms, list) and all(_is_int(m) and m > 0 for m in ms) and ms == sorted(ms),
            name,
            f"{field}.milestones",
            f"must be an increasing list of positive ints, got {ms!r}",
        )
        gamma = sched.get("gamma", 0.1)
        _check(_is_num(gamma) and gamma > 0, name, f"{field}.gamma", f"must be a number > 0, got {gamma!r}")
        unit = sched.get("unit", "epoch")
        _check(unit in ("epoch", "step"), name, f"{field}.unit", f"must be 'epoch' or 'step', got {unit!r}")
    return sched


@functools.cache
def _default_config(method: str):
    """The method's config with its defaults, built once (read only: which fields exist)."""
    from videotext.modeling import METHODS

    return METHODS[method].config_cls()


def _validate_config_overrides(method: str, overrides: dict, name: str, where: str) -> None:
    """A stage's objective + `config` overrides must be fields of the method's config and pass its validation."""
    from videotext.modeling import METHODS

    config_cls = METHODS[method].config_cls
    defaults = _default_config(method)
    for key in overrides:
        _check(hasattr(defaults, key), name, f"{where}.config.{key}", f"{config_cls.__name__} has no such field")
    try:
        config_cls(**overrides)
    except (ValueError, TypeError) as err:
        raise RecipeError(f"recipe {name}: {where}.config: {err}") from None


def validate_recipe(recipe: dict, name: str = "<recipe>") -> dict:
    """Merge over DEFAULTS and check every field; return the complete recipe."""
    _check(isinstance(recipe, dict), name, "(top level)", "must be a YAML mapping")
    r = _merge(DEFAULTS, recipe, "", name)
    from .methods import TRAINING_METHODS

    _check(
        r["method"] in TRAINING_METHODS,
        name,
        "method",
        f"must be a registered method ({', '.join(TRAINING_METHODS)}), got {r['method']!r}",
    )
    method = TRAINING_METHODS[r["method"]]
    _check(_is_int(r["seed"]), name, "seed", f"must be an int, got {r['seed']!r}")

    m = r["model"]
    if m["pretrained"]:
        _check(bool(m["backbones"]), name, "model.backbones", "must name the Hub ids when model.pretrained is true")
    t = r["tokenizer"]
    _check(_is_int(t["vocab_size"]) and t["vocab_size"] > 10, name, "tokenizer.vocab_size", "must be an int > 10")
    _check(
        bool(t["train"]) or bool(t["name"]) or bool(m["pretrained"]) or bool(m["init_from"]),
        name,
        "tokenizer",
        "needs train: true or a name (Hub id / path)",
    )

    d = r["data"]
    for key in ("num_frames", "num_workers"):
        _check(_is_int(d[key]) and d[key] >= (1 if key == "num_frames" else 0), name, f"data.{key}", "must be an int")
    for key in ("max_train_clips", "cache_frames_per_clip", "size"):
        v = d[key]
        _check(v is None or (_is_int(v) and v > 0), name, f"data.{key}", f"must be null or an int > 0, got {v!r}")

    _check(d["on_bad_video"] in ("skip", "error"), name, "data.on_bad_video",
           f"must be 'skip' (train on the next readable clip, count and report) or 'error', got {d['on_bad_video']!r}")
    sw = d["source_weights"]
    _check(
        sw is None or (isinstance(sw, dict) and sw and all(_is_num(w) and 0 <= w < float("inf") for w in sw.values())),
        name,
        "data.source_weights",
        f"must be null or a mapping data_source -> finite weight >= 0, got {sw!r}",
    )
    from .data import TARGETS

    _check(d["targets"] in TARGETS, name, "data.targets", f"must be one of {TARGETS}, got {d['targets']!r}")
    tr = r["train"]
    for key in (
        "batch_size", "gradient_accumulation_steps", "checkpoint_every", "keep_checkpoints", "log_every",
        "cpu_processes",
    ):  # fmt: skip
        _check(_is_int(tr[key]) and tr[key] > 0, name, f"train.{key}", f"must be an int > 0, got {tr[key]!r}")
    _check(
        tr["batch_size"] % tr["cpu_processes"] == 0,
        name,
        "train.batch_size",
        f"must split evenly over train.cpu_processes={tr['cpu_processes']}, got {tr['batch_size']}",
    )
    for key in ("max_steps", "eval_every"):
        v = tr[key]
        _check(v is None or (_is_int(v) and v > 0), name, f"train.{key}", f"must be null or an int > 0, got {v!r}")
    _check(isinstance(tr["gradient_checkpointing"], bool), name, "train.gradient_checkpointing", "must be a bool")
    _check(tr["mixed_precision"] in PRECISIONS, name, "train.mixed_precision", f"must be one of {PRECISIONS}")
    _check(
        tr["optimizer"] in OPTIMIZERS, name, "train.optimizer", f"must be one of {OPTIMIZERS}, got {tr['optimizer']!r}"
    )
    _check(_is_num(tr["weight_decay"]) and tr["weight_decay"] >= 0, name, "train.weight_decay", "must be >= 0")
    mgn = tr["max_grad_norm"]
    _check(mgn is None or (_is_num(mgn) and mgn > 0), name, "train.max_grad_norm", "must be null or > 0")
    _check(
        isinstance(tr["betas"], list) and len(tr["betas"]) == 2 and all(_is_num(b) for b in tr["betas"]),
        name,
        "train.betas",
        "must be a list of two numbers",
    )
    if isinstance(tr["report_to"], str):
        tr["report_to"] = [tr["report_to"]]
    _check(isinstance(tr["stages"], list) and tr["stages"], name, "train.stages", "must be a non-empty list")
    stages = []
    for i, stage in enumerate(tr["stages"]):
        where = f"train.stages[{i}]"
        _check(isinstance(stage, dict), name, where, "must be a mapping")
        s = _merge(STAGE_DEFAULTS, stage, where, name)
        s["name"] = s["name"] or f"stage{i}"
        _check(
            (s["epochs"] is None) != (s["max_steps"] is None),
            name,
            where,
            "needs exactly one of epochs / max_steps",
        )
        for key in ("epochs", "max_steps"):
            v = s[key]
            _check(v is None or (_is_int(v) and v > 0), name, f"{where}.{key}", f"must be an int > 0, got {v!r}")
        _check(_is_num(s["lr"]) and s["lr"] > 0, name, f"{where}.lr", f"must be a number > 0, got {s['lr']!r}")
        s["schedule"] = _validate_schedule(s["schedule"], name, f"{where}.schedule")
        for key in ("freeze", "train_only"):
            if isinstance(s[key], str):
                s[key] = [s[key]]
            for pattern in s[key]:
                try:
                    re.compile(pattern)
                except (re.error, TypeError) as err:
                    raise RecipeError(f"recipe {name}: {where}.{key}: bad regex {pattern!r}: {err}") from None
        try:
            s["objective"] = method.resolve_objective(s["objective"])
        except ValueError as err:
            raise RecipeError(f"recipe {name}: {where}.objective: {err}") from None
        _check(isinstance(s["config"], dict), name, f"{where}.config", "must be a mapping of config fields")
        _validate_config_overrides(r["method"], {**method.objectives[s["objective"]], **s["config"]}, name, where)
        stages.append(s)
    tr["stages"] = stages

    lo = r["lora"]
    _check(_is_int(lo["r"]) and lo["r"] > 0, name, "lora.r", "must be an int > 0")
    _check(_is_num(lo["alpha"]) and lo["alpha"] > 0, name, "lora.alpha", "must be > 0")
    _check(_is_num(lo["dropout"]) and 0 <= lo["dropout"] < 1, name, "lora.dropout", "must be in [0, 1)")
    if lo["enabled"]:
        _check(method.lora_prefix is not None, name, "lora.enabled", f"{r['method']} has no LLM decoder to adapt")

    ev = r["eval"]
    v = ev["limit"]
    _check(v is None or (_is_int(v) and v > 0), name, "eval.limit", f"must be null or an int > 0, got {v!r}")
    _check(ev["protocol"] in ("first-caption", "all-captions"), name, "eval.protocol", "first-caption|all-captions")
    ev["split"] = ev["split"] or d["eval_split"]
    return r


def load_recipe(name_or_path: str | Path | dict, overrides: list[str] | None = None) -> dict:
    """Find (shipped name or path), parse, override and validate a recipe; returns a complete dict.

    The returned dict carries `_source` (the file it came from) and `_overrides`.
    """
    if isinstance(name_or_path, dict):
        raw, source, name = copy.deepcopy(name_or_path), None, "<dict>"
    else:
        path = find_recipe(name_or_path)
        name = path.stem
        try:
            raw = _fix_floats(yaml.safe_load(path.read_text()))
        except yaml.YAMLError as err:
            raise RecipeError(f"recipe {path}: invalid YAML: {err}") from None
        source = str(path)
        if raw is None:
            raise RecipeError(f"recipe {path}: file is empty")
    if not isinstance(raw, dict):
        raise RecipeError(f"recipe {name}: top level must be a mapping")
    raw.pop("_source", None)
    raw.pop("_overrides", None)
    raw.pop("_name", None)
    apply_overrides(raw, overrides)
    recipe = validate_recipe(raw, name)
    recipe["_name"] = name
    recipe["_source"] = source
    recipe["_overrides"] = list(overrides or [])
    return recipe


def dump_recipe(recipe: dict) -> str:
    """YAML text of a resolved recipe (private `_` keys kept as a header comment)."""
    public = {k: v for k, v in recipe.items() if not k.startswith("_")}
    header = f"# resolved recipe {recipe.get('_name')} from {recipe.get('_source')}"
    if recipe.get("_overrides"):
        header += f"\n# overrides: {' '.join(recipe['_overrides'])}"
    return header + "\n" + yaml.safe_dump(public, sort_keys=False)
