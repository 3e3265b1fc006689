"""Training stack: recipes, schedules, LoRA, the Accelerate loop end to end, resume, multi-process launch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from videotext.evaluation import flat_metrics
from videotext.training import load_recipe
from videotext.training.recipes import RecipeError, apply_overrides, list_recipes
from videotext.training.schedules import StagePlan, build_scheduler, learning_rate, plan_lr

REPO = Path(__file__).resolve().parents[1]

# a tiny run: small everything, no frame decoding after the first pass
TINY = [
    "train.batch_size=4",
    "train.cpu_processes=1",
    "train.log_every=1",
    "eval.limit=4",
    "eval.batch_size=4",
    "eval.generate.max_new_tokens=6",
    "data.cache_frames_per_clip=8",
    "data.num_frames=4",
    "tokenizer.vocab_size=200",
]


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory) -> str:
    from videotext.datasets_scripts.synthetic import generate_synthetic

    out = tmp_path_factory.mktemp("synthetic") / "synthetic-30"
    generate_synthetic(out, num_videos=30, seed=0, size=32, num_frames=8, fps=8, workers=1, progress=False)
    return str(out)


def _events(out: Path, kind: str) -> list[dict]:
    lines = (out / "log.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("event") == kind]


# ----------------------------------------------------------------------------------------------- recipes
def test_shipped_recipes_load():
    names = list_recipes()
    for name in (
        "mffcl-msvd",
        "mffcl-msrvtt",
        "mffcl-vatex",
        "mffcl-synthetic-tiny",
        "dual-align-pretrain",
        "dual-align-msrvtt",
        "dual-align-msvd",
        "dual-align-synthetic-tiny",
    ):
        assert name in names
        recipe = load_recipe(name)
        assert recipe["method"] in ("mffcl", "dual_align")
    msvd = load_recipe("mffcl-msvd")
    assert msvd["train"]["optimizer"] == "adam" and msvd["train"]["weight_decay"] == 0.009
    assert msvd["train"]["batch_size"] == 16
    assert sum(s["max_steps"] for s in msvd["train"]["stages"]) == 14910
    assert [s["objective"] for s in msvd["train"]["stages"]] == ["contrastive", "caption"]
    assert msvd["train"]["stages"][1]["schedule"] == {"name": "inverse_time", "theta": 0.5, "decay_steps": 1}
    assert sum(s["max_steps"] for s in load_recipe("mffcl-msrvtt")["train"]["stages"]) == 25320
    assert sum(s["max_steps"] for s in load_recipe("mffcl-vatex")["train"]["stages"]) == 113350
    dual = load_recipe("dual-align-msrvtt")["train"]["stages"][0]
    assert dual["lr"] == 3e-5 and dual["epochs"] == 10 and dual["schedule"]["milestones"] == [4, 8]
    pre = load_recipe("dual-align-pretrain")["train"]["stages"][0]
    assert pre["lr"] == 1e-4 and pre["epochs"] == 20 and pre["schedule"]["milestones"] == [12, 16]


def test_overrides_are_yaml_scalars():
    r = load_recipe(
        "mffcl-synthetic-tiny",
        [
            "train.batch_size=6",
            "train.stages.1.lr=3e-4",
            "lora.enabled=true",
            "data.path=/some/where",
            "eval.limit=null",
            "model.config.num_query_tokens=6",
            "train.stages.0.schedule={name: constant}",
        ],
    )
    assert r["train"]["batch_size"] == 6
    assert r["train"]["stages"][1]["lr"] == pytest.approx(3e-4) and isinstance(r["train"]["stages"][1]["lr"], float)
    assert r["lora"]["enabled"] is True
    assert r["data"]["path"] == "/some/where"
    assert r["eval"]["limit"] is None
    assert r["model"]["config"]["num_query_tokens"] == 6
    assert r["train"]["stages"][0]["schedule"] == {"name": "constant"}
    assert apply_overrides({"a": {"b": 1}}, ["a.c.d=[1, 2]"]) == {"a": {"b": 1, "c": {"d": [1, 2]}}}


@pytest.mark.parametrize(
    "overrides, field",
    [
        (["method=nope"], "method"),
        (["train.optimizer=sgd"], "train.optimizer"),
        (["train.batch_size=0"], "train.batch_size"),
        (["train.batch_size=63"], "train.batch_size"),  # does not split over the recipe's 2 CPU processes
        (["train.cpu_processes=0"], "train.cpu_processes"),
        (["train.stages.0.schedule.name=cosine"], "train.stages[0].schedule.name"),
        (["train.stages.0.epochs=2"], "train.stages[0]"),  # epochs and max_steps both set
        (["train.stages.1.objective=pretrain"], "train.stages[1].objective"),
        (["train.stages.0.freeze=['(']"], "train.stages[0].freeze"),
        (["train.bacth_size=2"], "train.bacth_size"),
        (["train.mixed_precision=fp8"], "train.mixed_precision"),
        (["train.stages.5.lr=1"], "train.stages.5"),
        (["trainbatch_size"], "KEY=VALUE"),
        (["train.stages.0.config={num_query_tokens: 0}"], "train.stages[0].config"),  # the config's own check
        (["train.stages.0.config={no_such_field: 1}"], "train.stages[0].config.no_such_field"),
        (["train.stages.0.config={contrastive_loss_weight: .nan}"], "train.stages[0].config"),
        (["data.source_weights={primary: -1}"], "data.source_weights"),
    ],
)
def test_validation_names_the_field(overrides, field):
    with pytest.raises(RecipeError) as err:
        load_recipe("mffcl-synthetic-tiny", overrides)
    assert field in str(err.value)


def test_unknown_recipe_lists_the_shipped_ones():
    with pytest.raises(RecipeError, match="mffcl-msvd"):
        load_recipe("no-such-recipe")


# --------------------------------------------------------------------------------------------- schedules
def test_inverse_time_schedule_eq4():
    sched = {"name": "inverse_time", "theta": 0.5}
    assert learning_rate(sched, 0.01, 0) == pytest.approx(0.01)
    assert learning_rate(sched, 0.01, 1) == pytest.approx(0.01 / 1.5)
    assert learning_rate(sched, 0.01, 10) == pytest.approx(0.01 / 6.0)
    slow = {"name": "inverse_time", "theta": 0.5, "decay_steps": 10}
    assert learning_rate(slow, 0.01, 10) == pytest.approx(0.01 / 1.5)
    warm = {"name": "inverse_time", "theta": 0.5, "warmup_steps": 4}
    assert learning_rate(warm, 0.01, 0) == pytest.approx(0.01 * 0.25 / 1.0)
    assert learning_rate(warm, 0.01, 1) == pytest.approx(0.01 * 0.5 / 1.5)


def test_multistep_and_constant_schedules():
    sched = {"name": "multistep", "milestones": [4, 8], "gamma": 0.1, "unit": "epoch"}
    lr = [learning_rate(sched, 3e-5, step, steps_per_epoch=10) for step in (0, 39, 40, 79, 80, 99)]
    assert lr == pytest.approx([3e-5, 3e-5, 3e-6, 3e-6, 3e-7, 3e-7])
    by_step = {"name": "multistep", "milestones": [2], "gamma": 0.5, "unit": "step"}
    assert [learning_rate(by_step, 1.0, s) for s in (0, 1, 2, 3)] == pytest.approx([1.0, 1.0, 0.5, 0.5])
    assert learning_rate("constant", 0.1, 1000) == 0.1


def test_multi_stage_scheduler_follows_the_plan():
    plan = [
        StagePlan(0, "a", 0, 3, 3, 0.01, {"name": "inverse_time", "theta": 0.5}),
        StagePlan(1, "b", 3, 4, 3, 0.001, {"name": "constant"}),
    ]
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([param], lr=123.0)
    sched = build_scheduler(opt, plan)
    seen = []
    for _ in range(7):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([0.01, 0.01 / 1.5, 0.01 / 2, 0.001, 0.001, 0.001, 0.001])
    assert plan_lr(plan, 100) == pytest.approx(0.001)


# ------------------------------------------------------------------------------------------------- LoRA
def _tiny_mffcl(overrides=()):
    from videotext.training.model_factory import build_model_and_processor

    recipe = load_recipe("mffcl-synthetic-tiny", [*TINY, *overrides])
    captions = ["a red circle moves left", "a blue square grows then spins", "a small star fades away"]
    return build_model_and_processor(recipe, train_captions=captions)


def test_lora_targets_only_the_llm_and_merges(tmp_path):
    from videotext.modeling.mffcl import MffclForConditionalGeneration
    from videotext.training.lora import apply_lora, llm_linear_module_names, save_lora, trainable_parameter_names

    torch.manual_seed(0)
    model, processor = _tiny_mffcl()
    targets = llm_linear_module_names(model)
    assert targets and all(t.startswith("language_model.") for t in targets)
    assert not any(t.endswith("lm_head") for t in targets)
    peft_model = apply_lora(model, r=4, alpha=8, dropout=0.0)
    names = trainable_parameter_names(peft_model)
    assert names and all(n.startswith("language_model.") and "lora_" in n for n in names)
    # make the adapter non-trivial (lora_B starts at zero)
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    inputs = processor(
        videos=[torch.randint(0, 255, (4, 32, 32, 3), dtype=torch.uint8).numpy()],
        text=["a red circle moves left"],
        return_labels=True,
    )
    peft_model.eval()
    with torch.no_grad():
        adapted = peft_model(**inputs).logits
    merged = save_lora(peft_model, tmp_path)
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()
    assert (tmp_path / "adapter" / "adapter_model.safetensors").is_file()
    assert not any("lora_" in n for n, _ in merged.named_parameters())
    merged.save_pretrained(tmp_path / "merged")
    reloaded = MffclForConditionalGeneration.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        torch.testing.assert_close(merged(**inputs).logits, adapted, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(reloaded(**inputs).logits, adapted, rtol=1e-4, atol=1e-4)


# ------------------------------------------------------------------------------------------ end to end
def test_end_to_end_tiny_run(synthetic_dir, tmp_path):
    from videotext.training import train

    out = tmp_path / "run"
    metrics = train(
        "mffcl-synthetic-tiny",
        out,
        overrides=[
            *TINY,
            f"data.path={synthetic_dir}",
            # one repeated batch: the same 4 clips at every step, so the caption loss must fall
            "data.max_train_clips=4",
            "train.stages.0.max_steps=2",
            "train.stages.1.max_steps=12",
            "train.stages.1.lr=5e-3",
            "train.stages.1.schedule={name: constant}",
            "train.checkpoint_every=100",
        ],
    )
    for name in ("config.json", "model.safetensors", "processor_config.json", "tokenizer.json", "metrics.json"):
        assert (out / name).is_file(), name
    assert (out / "recipe.yaml").is_file() and (out / "text_encoder_tokenizer").is_dir()
    config = json.loads((out / "config.json").read_text())
    assert config["auto_map"]["AutoModelForImageTextToText"].endswith("MffclForConditionalGeneration")
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["global_step"] == metrics["global_step"] == 14
    assert saved["final"] and "CIDEr" in saved["final"]
    assert [s["num_steps"] for s in saved["stages"]] == [2, 12]
    losses = [r["loss"] for r in _events(out, "train") if r["stage"] == "caption"]
    assert len(losses) == 12
    assert sum(losses[-3:]) / 3 < 0.9 * sum(losses[:3]) / 3, losses
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["processor", "step_14"]

    from videotext.inference import load_model_and_processor

    model, processor = load_model_and_processor(str(out), device="cpu")
    assert type(model).__name__ == "MffclForConditionalGeneration"


def test_resume_continues_from_the_saved_step(synthetic_dir, tmp_path):
    from videotext.training import train

    out = tmp_path / "run"
    base = [
        *TINY,
        f"data.path={synthetic_dir}",
        "train.stages.0.max_steps=2",
        "train.stages.1.max_steps=10",
        "train.checkpoint_every=2",
        "train.keep_checkpoints=2",
        "eval.at_end=false",
    ]
    first = train("mffcl-synthetic-tiny", out, overrides=[*base, "train.max_steps=5"])
    assert first["global_step"] == 5
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["processor", "step_4", "step_5"]
    second = train("mffcl-synthetic-tiny", out, overrides=[*base, "train.max_steps=7"], resume=True)
    assert second["global_step"] == 7 and second["resumed_from_step"] == 5
    (resume,) = _events(out, "resume")
    assert resume["step"] == 5 and resume["stage"] == 1
    # the caption stage's Adam state (3 updates: steps 3, 4, 5) came back with the checkpoint
    assert resume["optimizer_state_tensors"] > 0 and resume["optimizer_max_step"] == 3
    steps = [r["step"] for r in _events(out, "train")]
    assert steps == [1, 2, 3, 4, 5, 6, 7]
    assert json.loads((out / "metrics.json").read_text())["resumed_from_step"] == 5


def _train_command(out: Path, synthetic_dir: str, *extra: str) -> list[str]:
    sets = [*TINY, f"data.path={synthetic_dir}", "train.stages.0.max_steps=2", "train.stages.1.max_steps=14",
            "train.checkpoint_every=3", "train.keep_checkpoints=2", "eval.at_end=false"]  # fmt: skip
    command = [sys.executable, "-m", "videotext", "train", "mffcl-synthetic-tiny", "--output-dir", str(out)]
    return command + [arg for item in sets for arg in ("--set", item)] + list(extra)


def test_kill_9_then_resume_continues_the_uninterrupted_loss_curve(synthetic_dir, tmp_path):
    import signal
    import subprocess
    import time

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    reference = tmp_path / "reference"
    subprocess.run(_train_command(reference, synthetic_dir), check=True, env=env, capture_output=True)
    expected = {r["step"]: r["loss"] for r in _events(reference, "train")}

    out = tmp_path / "killed"
    proc = subprocess.Popen(_train_command(out, synthetic_dir), env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while not (out / "checkpoints" / "step_9").is_dir() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-run: possibly mid-checkpoint
    proc.wait()
    assert not (out / "model.safetensors").exists(), "the run finished before it could be killed"
    checkpoints = sorted(p for p in (out / "checkpoints").iterdir() if p.name.startswith("step_"))
    assert checkpoints and all((p / "train_state.json").is_file() for p in checkpoints)  # only complete ones
    assert not list((out / "checkpoints").rglob("custom_checkpoint_*.pkl"))  # our state is JSON, never a pickle
    subprocess.run(_train_command(out, synthetic_dir, "--resume"), check=True, env=env, capture_output=True)

    lines = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    resumed_at = max(i for i, r in enumerate(lines) if r.get("event") == "resume")
    after = {r["step"]: r["loss"] for r in lines[resumed_at:] if r.get("event") == "train"}
    assert lines[resumed_at]["step"] >= 9 and sorted(after) == list(range(lines[resumed_at]["step"] + 1, 17))
    assert after == {step: expected[step] for step in after}  # the same losses, step for step


@pytest.mark.skipif(os.environ.get("VIDEOTEXT_SKIP_MULTIPROCESS") == "1", reason="multi-process launch disabled")
def test_accelerate_launch_two_processes(synthetic_dir, tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        # on a CPU-only host `--multi_gpu` starts 2 torchrun processes (gloo); `--cpu` alone starts one (mpirun style)
        "--multi_gpu",
        "--num_processes",
        "2",
        "--num_machines",
        "1",
        "--mixed_precision",
        "no",
        "--dynamo_backend",
        "no",
        "-m",
        "videotext",
        "train",
        "dual-align-synthetic-tiny",
        "--output-dir",
        str(out),
        "--set",
        f"data.path={synthetic_dir}",
        "--set",
        "train.max_steps=2",
        "--set",
        "train.batch_size=2",
        "--set",
        "data.num_frames=4",
        "--set",
        "data.cache_frames_per_clip=4",
        "--set",
        "tokenizer.vocab_size=200",
        "--set",
        "eval.at_end=false",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_processes"] == 2 and metrics["global_step"] == 2
    assert (out / "model.safetensors").is_file()


def test_cpu_process_count_and_batch_split(monkeypatch):
    from videotext.training import cpu_launch

    for var in (cpu_launch.ENV, "WORLD_SIZE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(cpu_launch, "has_accelerator", lambda: False)
    monkeypatch.setattr(cpu_launch, "_usable_cores", lambda: 2)
    assert [cpu_launch.cpu_process_count(n, 64) for n in (1, 2, 8)] == [1, 2, 2]
    monkeypatch.setattr(cpu_launch, "_usable_cores", lambda: 3)
    assert cpu_launch.cpu_process_count(4, 8) == 2  # 3 cores, but 8 clips split evenly over 2 processes
    assert cpu_launch.per_process_batch_size(64, 2) == 64  # under a launch of the user's own: per process
    monkeypatch.setattr(cpu_launch, "has_accelerator", lambda: True)
    assert cpu_launch.cpu_process_count(2, 64) == 1
    monkeypatch.setattr(cpu_launch, "has_accelerator", lambda: False)
    monkeypatch.setenv("WORLD_SIZE", "2")  # already inside accelerate launch / torchrun
    assert cpu_launch.cpu_process_count(2, 64) == 1
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setenv(cpu_launch.ENV, "2")  # inside the processes train started
    assert cpu_launch.cpu_process_count(2, 64) == 1
    assert cpu_launch.per_process_batch_size(64, 2) == 32 and cpu_launch.per_process_batch_size(64, 1) == 64


def test_launched_processes_get_the_same_recipe(tmp_path):
    from videotext.training.cpu_launch import recipe_arguments

    recipe = load_recipe("mffcl-synthetic-tiny", ["seed=3"])
    source, overrides = recipe_arguments(recipe, tmp_path)
    assert Path(source).name == "mffcl-synthetic-tiny.yaml" and overrides == ["seed=3"]
    recipe["train"]["stages"][0]["lr"] = 1e-4  # edited after loading: the file and overrides no longer say so
    source, overrides = recipe_arguments(recipe, tmp_path)
    assert overrides == [] and load_recipe(source)["train"]["stages"][0]["lr"] == 1e-4


@pytest.mark.skipif(os.environ.get("VIDEOTEXT_SKIP_MULTIPROCESS") == "1", reason="multi-process launch disabled")
def test_train_starts_its_cpu_processes(synthetic_dir, tmp_path, capfd):
    from videotext.cli import main
    from videotext.training import cpu_launch

    if cpu_launch.cpu_process_count(2, 4) != 2:
        pytest.skip("needs 2 cores and no accelerator")
    out = tmp_path / "two"
    overrides = [o for o in TINY if not o.startswith("train.cpu_processes")]
    overrides += [f"data.path={synthetic_dir}", "train.stages.0.max_steps=2", "train.stages.1.max_steps=2"]
    args = ["train", "mffcl-synthetic-tiny", "--output-dir", str(out)]
    for item in overrides:
        args += ["--set", item]
    # interrupted after step 3 (checkpointed), then resumed to the end, both times on 2 processes
    assert main([*args, "--set", "train.max_steps=3", "--set", "eval.at_end=false"]) == 0
    assert json.loads((out / "metrics.json").read_text())["global_step"] == 3
    capfd.readouterr()
    assert main([*args, "--resume"]) == 0
    printed = capfd.readouterr().out  # the launched processes' output too
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["num_processes"] == 2 and metrics["batch_size_per_process"] == 2  # the global batch of 4, split
    assert metrics["recipe"] == "mffcl-synthetic-tiny" and metrics["global_step"] == 4
    assert metrics["resumed_from_step"] == 3 and metrics["steps_this_run"] == 1
    assert "2 single-thread CPU processes" in printed and printed.count('"CIDEr"') == 1  # printed by the parent only
    final = json.loads(printed[printed.rindex("\n{") + 1 :])  # the last top-level JSON object printed
    assert flat_metrics(final) == pytest.approx(flat_metrics(metrics["final"]))
    assert (out / "model.safetensors").is_file()


def test_paper_recipe_builds_from_local_backbones(tmp_path):
    """`model.pretrained: true` path: from_pretrained_backbones + AutoTokenizer, with tiny local 'Hub' folders."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM

    from videotext.training.model_factory import build_model_and_processor
    from videotext.training.tokenizer import train_caption_tokenizers

    dec_tok, enc_tok = train_caption_tokenizers(["a red circle moves left", "a blue square grows"], vocab_size=100)
    tiny = {
        "vision": AutoModel.from_config(
            AutoConfig.for_model(
                "timesformer",
                image_size=32,
                patch_size=8,
                hidden_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=64,
                num_frames=4,
            )
        ),
        "text": AutoModelForCausalLM.from_config(
            AutoConfig.for_model("gpt2", n_embd=32, n_layer=1, n_head=2, n_positions=64, vocab_size=len(dec_tok))
        ),
        "text_encoder": AutoModel.from_config(
            AutoConfig.for_model(
                "bert",
                hidden_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=64,
                vocab_size=len(enc_tok),
            ),
            add_pooling_layer=False,
        ),
    }
    paths = {}
    for key, model in tiny.items():
        paths[key] = str(tmp_path / key)
        model.save_pretrained(paths[key])
    dec_tok.save_pretrained(paths["text"])
    enc_tok.save_pretrained(paths["text_encoder"])
    recipe = load_recipe(
        "mffcl-msvd",
        [f"model.backbones.{k}={v}" for k, v in paths.items()]
        + ["data.num_frames=4", "model.config.mapper_num_layers=1", "model.config.mapper_num_heads=2"],
    )
    model, processor = build_model_and_processor(recipe)
    assert model.config.num_frames == 4 and model.config.text_config.n_embd == 32
    assert model.generation_config.eos_token_id == dec_tok.eos_token_id
    assert model.generation_config.pad_token_id == dec_tok.pad_token_id
    assert processor.video_processor.crop_size["height"] == 32
    torch.testing.assert_close(
        model.language_model.transformer.h[0].attn.c_attn.weight, tiny["text"].transformer.h[0].attn.c_attn.weight
    )


def test_an_unreadable_training_video_is_skipped_counted_and_reported(synthetic_dir, tmp_path, capsys):
    import shutil

    from videotext.cli import main
    from videotext.datasets_scripts import load_prepared
    from videotext.training import train

    data = tmp_path / "data"
    shutil.copytree(synthetic_dir, data)
    bad = load_prepared(str(data))["train"][0]["video_path"]
    Path(bad).write_text("not a video any more")
    overrides = [*TINY, f"data.path={data}", "train.stages.0.max_steps=1", "train.stages.1.max_steps=2",
                 "eval.at_end=false", "data.max_train_clips=8"]  # fmt: skip
    metrics = train("mffcl-synthetic-tiny", tmp_path / "run", overrides)
    assert metrics["global_step"] == 3
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert len(saved["skipped_videos"]) == 1 and bad in saved["skipped_videos"][0]
    assert [e["error"] for e in _events(tmp_path / "run", "skipped_video")] == saved["skipped_videos"]
    capsys.readouterr()
    args = ["train", "mffcl-synthetic-tiny", "--output-dir", str(tmp_path / "strict")]
    for item in [*overrides, "data.on_bad_video=error", "data.cache_frames=false"]:
        args += ["--set", item]
    assert main(args) == 1
    printed = capsys.readouterr().err
    err = [line for line in printed.replace("\r", "\n").splitlines() if line.startswith("videotext train: error:")]
    assert len(err) == 1 and bad in err[0], printed
    # an undecodable evaluation clip: the final evaluation is skipped and said so, the model is still exported
    bad_eval = load_prepared(str(data))["test"][0]["video_path"]
    Path(bad_eval).write_text("not a video either")
    metrics = train("mffcl-synthetic-tiny", tmp_path / "eval_run", [*overrides[:-2], "data.max_train_clips=8"])
    assert metrics["final"] is None and (tmp_path / "eval_run" / "model.safetensors").is_file()
    (failed,) = _events(tmp_path / "eval_run", "eval_failed")
    assert failed["tag"] == "final" and bad_eval in failed["error"]
