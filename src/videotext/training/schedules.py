"""Learning-rate schedules of the papers, as pure functions of the optimizer step.

- ``inverse_time`` — MFFCL Eq. 4: ``lr = r / (1 + theta * step / decay_steps)``. The paper prints
  ``r_new = r / (1 + theta * step)`` with theta = 0.5 and r = 0.01, i.e. ``decay_steps = 1`` (the default
  here); TensorFlow's ``InverseTimeDecay`` is the same formula with a ``decay_steps`` divisor, which a
  recipe can set to slow the decay.
- ``multistep`` — dual alignment: ``lr = r * gamma ** (number of milestones reached)`` with milestones in
  epochs (``unit: epoch``, the paper's "[4, 8]" and "[12, 16]", gamma 0.1) or in steps.
- ``constant``.

Every schedule takes an optional linear warm-up (``warmup_steps``): ``lr * (step + 1) / warmup_steps``
for the first ``warmup_steps`` steps, then the schedule counted from step 0.

A multi-stage run uses one `torch.optim.lr_scheduler.LambdaLR` over the whole run whose lambda returns the
absolute learning rate of the stage that contains the global step (`build_scheduler`), so the scheduler's
state is one integer and `Accelerator.save_state` / `load_state` restore it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["StagePlan", "build_scheduler", "learning_rate", "plan_lr"]


def learning_rate(schedule: dict | str, base_lr: float, step: int, steps_per_epoch: int | None = None) -> float:
    """Learning rate at optimizer step `step` (0-based) of a stage with schedule `schedule`."""
    if isinstance(schedule, str):
        schedule = {"name": schedule}
    name = schedule.get("name", "constant")
    step = max(0, int(step))
    warmup = int(schedule.get("warmup_steps", 0) or 0)
    scale = 1.0
    if warmup > 0 and step < warmup:
        scale = (step + 1) / warmup
    if name == "constant":
        lr = base_lr
    elif name == "inverse_time":
        theta = float(schedule.get("theta", 0.5))
        decay_steps = float(schedule.get("decay_steps", 1))
        lr = base_lr / (1.0 + theta * step / decay_steps)
    elif name == "multistep":
        gamma = float(schedule.get("gamma", 0.1))
        milestones = list(schedule.get("milestones", []))
        if schedule.get("unit", "epoch") == "epoch":
            if not steps_per_epoch:
                raise ValueError("multistep schedule with unit 'epoch' needs steps_per_epoch")
            position = step // int(steps_per_epoch)
        else:
            position = step
        lr = base_lr * gamma ** bisect.bisect_right(milestones, position)
    else:
        raise ValueError(f"unknown schedule name {name!r} (constant | inverse_time | multistep)")
    return lr * scale


@dataclass
class StagePlan:
    """Where a stage sits in the run, counted in optimizer steps."""

    index: int
    name: str
    start_step: int
    num_steps: int
    steps_per_epoch: int
    lr: float
    schedule: dict

    @property
    def end_step(self) -> int:
        return self.start_step + self.num_steps


def plan_lr(plan: Sequence[StagePlan], global_step: int) -> float:
    """Absolute learning rate at a global optimizer step of a multi-stage plan."""
    if not plan:
        raise ValueError("empty stage plan")
    stage = plan[-1]
    for s in plan:
        if global_step < s.end_step:
            stage = s
            break
    local = min(max(0, global_step - stage.start_step), max(0, stage.num_steps - 1))
    return learning_rate(stage.schedule, stage.lr, local, stage.steps_per_epoch)


def build_scheduler(optimizer: torch.optim.Optimizer, plan: Sequence[StagePlan]) -> torch.optim.lr_scheduler.LambdaLR:
    """A LambdaLR whose step counter is the global optimizer step and whose lr is `plan_lr`.

    The optimizer's param groups get ``lr = 1.0`` first, so the lambda's value is the learning rate itself.
    """
    for group in optimizer.param_groups:
        group["lr"] = 1.0
        group.pop("initial_lr", None)
    plan = list(plan)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: plan_lr(plan, step))
