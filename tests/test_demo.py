"""`videotext demo` end to end, with every method's tiny recipe cut down to a few steps; and its budget plan."""

import json
import re
from pathlib import Path

import pytest

from videotext.cli import main
from videotext.demo import (
    DEFAULT_BUDGET_MINUTES,
    LOOP_SLOWDOWN,
    MIN_FRACTION,
    demo_recipes,
    full_budgets,
    observed_slowdown,
    plan_budgets,
    stage_steps,
)
from videotext.modeling import METHODS
from videotext.training import load_recipe
from videotext.training.methods import TRAINING_METHODS

DEMO_METHODS = {name for name, tm in TRAINING_METHODS.items() if tm.tiny_recipe}


def test_demo_runs_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VIDEOTEXT_CACHE", str(tmp_path / "cache"))
    tiny = ["train.max_steps=3", "train.batch_size=4", "train.cpu_processes=1", "eval.limit=4", "data.num_frames=4",
            "data.cache_frames_per_clip=8", "tokenizer.vocab_size=200", "data.synthetic.size=32",
            "data.synthetic.num_frames=8"]  # fmt: skip
    out_dir = tmp_path / "demo"
    # a budget no tiny run can exceed (five methods share the default 10 minutes): every stage keeps its steps
    args = ["demo", "--out", str(out_dir), "--num-videos", "24", "--budget-minutes", "120"]
    for item in tiny:
        args += ["--set", item]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "baseline: most frequent training caption" in out and "query:" in out
    assert "report: " in out and "timing a few training steps" in out
    summary = json.loads((out_dir / "demo_metrics.json").read_text())
    methods = summary["methods"]
    assert set(methods) == DEMO_METHODS
    assert summary["wall_time_s"] > 0 and set(summary["baselines"]) >= {"most-frequent-caption", "random-retrieval"}
    for name, shown in methods.items():
        assert (out_dir / name / "config.json").is_file()
        card = out_dir / "hub" / name / "README.md"  # exported with its model card, linked from the report
        assert card.is_file() and "library_name: transformers" in card.read_text()
        assert shown["task"] == METHODS[name].task and shown["baseline"] in summary["baselines"]
        assert shown["budget"]["steps"] == shown["budget"]["full_steps"] and sum(shown["budget"]["steps"]) == 3
        if shown["task"] == "captioning":
            assert "CIDEr" in shown["metrics"] and "synthetic_facts" in shown["metrics"]
            assert shown["examples"] and all(ex["caption"] is not None and ex["references"] for ex in shown["examples"])
            assert set(shown["examples"][0]["facts"]) == set(shown["metrics"]["synthetic_facts"]) - {"num_clips"}
        else:
            assert "t2v_R@1" in shown["metrics"]
            top1, searched = shown["search_other_sizes_top1"]
            assert searched == len(list((out_dir / "other_sizes").glob("*.mp4"))) > 0
            assert 0 <= top1 <= searched
            assert (out_dir / f"index_{name}" / "embeddings.npy").is_file()
            assert shown["queries"] and all(len(q["hits"]) == 3 for q in shown["queries"])

    page = (out_dir / "report.html").read_text()
    for name in DEMO_METHODS:
        assert f'id="{name}"' in page and f'href="{name}/"' in page
        assert f'href="hub/{name}/README.md"' in page and f'href="hub/{name}/"' in page
        assert f'src="report_files/loss_{name}.png"' in page
        assert (out_dir / "report_files" / f"loss_{name}.png").stat().st_size > 1000
    sources = re.findall(r'<img[^>]*\bsrc="([^"]+)"', page)
    assert len(sources) >= 2 * len(DEMO_METHODS)
    for src in sources:
        assert not src.startswith(("/", "http:", "https:", "file:")), src
        assert (out_dir / src).is_file(), src
    assert not re.search(r'(href|src)="(https?:|//)', page)  # self-contained: no external CSS, script or link
    for href in re.findall(r'href="([^"#]+)"', page):
        assert (out_dir / href).exists(), href


@pytest.fixture(scope="module")
def recipes():
    return demo_recipes([])


def test_default_budget_plan_shortens_every_method(recipes):
    """The default 10-minute plan on a 2-core CPU (step times like those measured there) cuts every stage of every
    tiny recipe; the overrides it hands to `train` give exactly the planned steps; --full keeps the recipes."""
    clips = {name: 2000 for name in recipes}
    seconds = {name: [0.15] * len(r["train"]["stages"]) for name, r in recipes.items()}
    budgets = plan_budgets(recipes, clips, seconds, DEFAULT_BUDGET_MINUTES * 60 - 60)
    assert set(budgets) == DEMO_METHODS
    for name, budget in budgets.items():
        full = stage_steps(recipes[name], clips[name])
        assert budget.full_steps == full and budget.short
        assert all(0 < n < f for n, f in zip(budget.steps, full))
        assert f"{budget.total} steps instead of {budget.full_total}" in budget.describe()
        shortened = load_recipe(recipes[name]["_source"], budget.overrides)
        assert stage_steps(shortened, clips[name]) == budget.steps
        # the estimated training time fits the method's share, or the method trains MIN_FRACTION of its recipe and
        # is marked over budget (five methods share the default 10 minutes: the longer recipes do not fit)
        estimate = LOOP_SLOWDOWN * sum(n * t for n, t in zip(budget.steps, seconds[name]))
        if budget.over_budget:
            assert budget.steps == [max(1, round(f * MIN_FRACTION)) if f else 0 for f in full]
        else:
            assert estimate <= (DEFAULT_BUDGET_MINUTES * 60 - 60) / len(recipes)

    for name, budget in full_budgets(recipes, clips).items():
        assert budget.steps == budget.full_steps == stage_steps(recipes[name], clips[name])
        assert not budget.short and budget.overrides == []


def test_budget_scales_schedules_and_epoch_stages(recipes, tmp_path):
    """A stage counted in epochs becomes a step count; warm-up, decay and milestones shrink with the stage; a fast
    machine (or a large budget) keeps the recipe."""
    name, recipe = next(iter(recipes.items()))
    path = Path(recipe["_source"])
    edited = tmp_path / "epochs.yaml"
    stage0 = "train.stages.0"
    raw = load_recipe(path, [f"{stage0}.max_steps=null", f"{stage0}.epochs=4",
                             f"{stage0}.schedule={{name: multistep, milestones: [1, 3], gamma: 0.5, unit: epoch,"
                             " warmup_steps: 40}"])  # fmt: skip
    from videotext.training.recipes import dump_recipe

    edited.write_text(dump_recipe(raw))
    loaded = load_recipe(edited)
    clips = 64 * 10  # 10 steps per epoch at batch 64
    full = stage_steps(loaded, clips)
    assert full[0] == 4 * (clips // loaded["train"]["batch_size"])
    seconds = [0.1] * len(full)
    budget = plan_budgets({name: loaded}, {name: clips}, {name: seconds}, 60 + 0.1 * sum(full) / 4, other_seconds=60)[
        name
    ]
    assert budget.short and all(n < f for n, f in zip(budget.steps, full))
    shortened = load_recipe(edited, budget.overrides)
    assert shortened["train"]["stages"][0]["epochs"] is None
    assert stage_steps(shortened, clips) == budget.steps
    assert shortened["train"]["stages"][0]["schedule"]["warmup_steps"] < 40
    fast = plan_budgets({name: loaded}, {name: clips}, {name: [1e-4] * len(full)}, 3600)[name]
    assert fast.steps == full and fast.overrides == []


def test_budget_floor_and_observed_slowdown(recipes, tmp_path):
    """Out of time, every method still trains MIN_FRACTION of its recipe (flagged over budget); the slowdown of a
    finished run is its logged step time over the timed one."""
    clips = {name: 2000 for name in recipes}
    seconds = {name: [0.2] * len(r["train"]["stages"]) for name, r in recipes.items()}
    for budget in plan_budgets(recipes, clips, seconds, seconds_left=-30).values():
        assert budget.over_budget
        assert budget.steps == [round(MIN_FRACTION * n) if n else 0 for n in budget.full_steps]
    name = next(iter(recipes))
    budget = plan_budgets(recipes, clips, seconds, 600)[name]
    log = tmp_path / "log.jsonl"
    records = [{"event": "stage", "stage": budget.stage_names[0], "step": 0}]
    records += [{"event": "train", "step": s, "stage": stage, "loss": 1.0, "step_seconds": 0.6}
                for stage in budget.stage_names for s in range(5)]  # fmt: skip
    log.write_text("\n".join(json.dumps(r) for r in records))
    assert observed_slowdown(budget, log) == pytest.approx(3.0)
    assert observed_slowdown(budget, tmp_path / "missing.jsonl") is None
