"""A recipe's stages: their lengths in optimizer steps, what each trains, and the objective each sets.

- `plan_stages`: stage i runs `max_steps` (or `epochs * steps_per_epoch`) steps after stage i-1, cut by the recipe's
  global `train.max_steps`.
- `stage_trainable_sets`: a stage trains the parameters matching its `train_only` regexes (all if none) minus those
  matching `freeze`; the optimizer holds the union over stages.
- `apply_objective`: the stage's objective (an entry of the method's `objectives`) and its `config` overrides are set
  on the live model config after passing the config's own validation.
"""

from __future__ import annotations

import re

from .schedules import StagePlan

__all__ = ["apply_objective", "plan_stages", "stage_trainable_sets"]


def plan_stages(stages: list[dict], steps_per_epoch: int, max_steps: int | None) -> list[StagePlan]:
    plan, start = [], 0
    for i, stage in enumerate(stages):
        n = stage["max_steps"] if stage["max_steps"] else stage["epochs"] * steps_per_epoch
        if max_steps is not None:
            n = max(0, min(n, max_steps - start))
        plan.append(StagePlan(i, stage["name"], start, n, steps_per_epoch, float(stage["lr"]), stage["schedule"]))
        start += n
    return plan


def _trainable(names: list[str], stage: dict) -> set[str]:
    keep = set()
    for name in names:
        if stage["train_only"] and not any(re.search(p, name) for p in stage["train_only"]):
            continue
        if any(re.search(p, name) for p in stage["freeze"]):
            continue
        keep.add(name)
    return keep


def stage_trainable_sets(names: list[str], stages: list[dict]) -> list[set[str]]:
    """Per stage, the parameter names (peft prefix stripped) it trains; a stage that trains nothing is an error."""
    sets = [_trainable(names, stage) for stage in stages]
    for i, (stage, trained) in enumerate(zip(stages, sets)):
        if not trained:
            raise ValueError(f"train.stages[{i}] ({stage['name']}): freeze/train_only leave no parameter to train")
    return sets


def apply_objective(config, method, stage: dict) -> None:
    """Set `stage`'s objective and config overrides on `config`, validated by building a config with them first."""
    overrides = {**method.objectives[stage["objective"]], **(stage.get("config") or {})}
    for key in overrides:
        if not hasattr(config, key):
            raise ValueError(f"stage {stage['name']}: {type(config).__name__} has no field {key!r}")
    validated = type(config)(**{**config.to_dict(), **overrides})  # raises ValueError naming a bad field
    for key in overrides:
        setattr(config, key, getattr(validated, key))
