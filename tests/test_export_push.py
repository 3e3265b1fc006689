"""`videotext export` / `videotext push` / `videotext prepare --push-to-hub`: a clean Hub folder for every registered
method whose card snippets run, a LoRA run's adapter that loads with peft, one commit with the exact files, dataset
cards, and one-line errors without network. The Hub is patched at `HfApi` (and `DatasetDict.push_to_hub`): no
network."""

from __future__ import annotations

import importlib
import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import DatasetCard, HfApi, ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from videotext.cli import main
from videotext.evaluation import flat_metrics
from videotext.hub_cards import export_model
from videotext.hub_cards.export import TRAINING_STATE
from videotext.modeling import METHODS
from videotext.training.methods import TRAINING_METHODS

CAPTIONS = ["a red circle moves left", "a small blue square spins", "a big green star grows then fades away"]
TINY = [
    "train.batch_size=4",
    "train.cpu_processes=1",
    "train.log_every=1",
    "eval.limit=2",
    "eval.batch_size=4",
    "eval.generate.max_new_tokens=4",
    "data.cache_frames_per_clip=8",
    "data.num_frames=4",
    "tokenizer.vocab_size=200",
]
# the first method with a LoRA-adapted decoder (the training table's lora_prefix), trained 2 steps with LoRA on
LORA_METHOD = next((m for m in sorted(METHODS) if TRAINING_METHODS[m].lora_prefix), None)


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _python_blocks(card_text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", card_text, flags=re.S)


def _block(card_text: str, marker: str) -> str:
    (code,) = [b for b in _python_blocks(card_text) if marker in b]
    return code


def _assert_clean_hub_folder(folder: Path, method: str) -> list[str]:
    files = _files(folder)
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == method and METHODS[method].auto_class in config["auto_map"]
    code = {ref.split(".")[0] + ".py" for ref in config["auto_map"].values()}
    assert code <= set(files), code - set(files)
    for name in ("config.json", "model.safetensors", "processor_config.json", "tokenizer.json", "README.md"):
        assert name in files, name
    assert not [f for f in files if f.split("/")[0] in TRAINING_STATE or f.split("/")[-1] in TRAINING_STATE]
    assert not [f for f in files if "optimizer" in f or "scheduler" in f or "checkpoint" in f]
    return files


@pytest.fixture(scope="module")
def prepared_dir(synthetic_dir, tmp_path_factory) -> str:
    from videotext.datasets_scripts import load_prepared

    out = tmp_path_factory.mktemp("prepared") / "prepared"
    load_prepared(synthetic_dir).save_to_disk(str(out))
    return str(out)


@pytest.fixture(scope="module")
def video(synthetic_dir) -> str:
    from videotext.datasets_scripts import load_prepared

    return load_prepared(synthetic_dir)["test"][0]["video_path"]


@pytest.fixture(scope="module")
def lora_run(synthetic_dir, tmp_path_factory) -> Path:
    """`videotext train <tiny recipe> --set lora.enabled=true` for 2 steps (no evaluation: `final` is null)."""
    if LORA_METHOD is None:
        pytest.skip("no registered method adapts an LLM decoder with LoRA")
    out = tmp_path_factory.mktemp("runs") / "lora"
    overrides = [*TINY, f"data.path={synthetic_dir}", "train.max_steps=2", "lora.enabled=true", "eval.at_end=false",
                 # the 2 steps fall in the first stage: let it train the decoder (a first stage may be a teacher stage)
                 f"train.stages.0.objective={TRAINING_METHODS[LORA_METHOD].default_objective}",
                 "train.stages.0.train_only=[]"]  # fmt: skip
    argv = ["train", TRAINING_METHODS[LORA_METHOD].tiny_recipe, "--output-dir", str(out)]
    for item in overrides:
        argv += ["--set", item]
    assert main(argv) == 0
    assert (out / "adapter" / "adapter_config.json").is_file() and (out / "checkpoints").is_dir()
    return out


# ------------------------------------------------------------------------------------------------------ export
@pytest.mark.parametrize("method", sorted(METHODS))
def test_export_any_hub_folder_and_run_the_card_snippets(method, tmp_path, video, prepared_dir, capsys):
    """A tiny model saved as a Hub folder with an eval JSON -> `videotext export` -> the card's Auto-class and Trainer
    snippets run as written (only the file names replaced)."""
    from safetensors.torch import load_file

    from videotext.export import save_hub_folder
    from videotext.training.model_factory import build_model_and_processor
    from videotext.training.recipes import load_recipe

    torch.manual_seed(0)
    recipe = load_recipe(TRAINING_METHODS[method].tiny_recipe, ["data.num_frames=4"])
    model, processor = build_model_and_processor(recipe, train_captions=CAPTIONS)
    hub = save_hub_folder(model, processor, tmp_path / "hub")
    metrics = {"score": 0.5, "nested": {"a": 1.25, "b": 3}}
    (hub / "eval_test.json").write_text(json.dumps({"dataset": None, "split": "test", "metrics": metrics}))

    out = tmp_path / "export"
    assert main(["export", str(hub), "--out", str(out)]) == 0
    assert f"exported {hub} to {out}" in capsys.readouterr().out
    files = _assert_clean_hub_folder(out, method)
    assert "eval_test.json" not in files and not any(f.startswith("adapter/") for f in files)
    exported, source = load_file(out / "model.safetensors"), load_file(hub / "model.safetensors")
    assert exported.keys() == source.keys() and all(torch.equal(exported[k], source[k]) for k in source)

    card = ModelCard.load(out / "README.md")
    _, results = model_index_to_eval_results(card.data.to_dict()["model-index"])
    assert {r.metric_name: r.metric_value for r in results} == flat_metrics(metrics)

    auto = _block(card.text, "torch.no_grad()").replace("clip.mp4", video)
    namespace: dict = {}
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        exec(compile(auto, "card-usage", "exec"), namespace)  # noqa: S102 - the card's own snippet
    printed = buffer.getvalue()
    if METHODS[method].task == "captioning":
        assert printed.startswith("['") and namespace["ids"].shape[0] == 1
    else:
        assert namespace["similarity"].shape == (2, 1)

    trainer_code = _block(card.text, "Trainer(").replace('"prepared_dataset"', repr(prepared_dir))
    trainer_code = trainer_code.replace('"finetuned"', repr(str(tmp_path / "ft")))
    trainer_code = trainer_code.replace("max_steps=1000", "max_steps=1").replace("batch_size=8", "batch_size=2")
    with redirect_stdout(io.StringIO()):
        exec(compile(trainer_code, "card-trainer", "exec"), {})  # noqa: S102


def test_export_of_a_lora_run(lora_run, tmp_path):
    """Weights, code, processor, card and adapter/; no training state; the recipe in the card; the adapter loads with
    peft on the exported model and the card's un-merge recipe reproduces the model."""
    import transformers
    from peft import PeftModel

    out = tmp_path / "export"
    assert main(["export", str(lora_run), "--out", str(out)]) == 0
    files = _assert_clean_hub_folder(out, LORA_METHOD)
    assert {"adapter/adapter_config.json", "adapter/adapter_model.safetensors"} <= set(files)
    assert "adapter/README.md" not in files and "generation_config.json" in files

    card = ModelCard.load(out / "README.md")
    record = json.loads((lora_run / "metrics.json").read_text())
    assert record["final"] is None and "model-index" not in card.data.to_dict()  # a run without evaluation
    assert "No evaluation results were recorded" in card.text
    assert f"videotext train {record['recipe']}" in card.text and "lora:\n  enabled: true" in card.text
    assert {"peft", "lora"} <= set(card.data.tags) and "### LoRA adapter (peft)" in card.text

    auto_class = getattr(transformers, METHODS[LORA_METHOD].auto_class)
    plain = auto_class.from_pretrained(str(out), trust_remote_code=True).eval()
    processor = transformers.AutoProcessor.from_pretrained(str(out), trust_remote_code=True)
    rng = np.random.default_rng(0)
    inputs = processor(
        videos=[rng.integers(0, 255, (4, 32, 32, 3), dtype=np.uint8)], text=[CAPTIONS[0]], return_tensors="pt"
    )
    inputs = {k: v for k, v in inputs.items() if isinstance(v, torch.Tensor)}

    loaded = PeftModel.from_pretrained(
        auto_class.from_pretrained(str(out), trust_remote_code=True), str(out / "adapter")
    )
    lora_b = [p for n, p in loaded.named_parameters() if "lora_B" in n]
    assert lora_b and any(p.abs().max() > 0 for p in lora_b)  # the adapter holds the trained update

    namespace: dict = {}
    exec(compile(_block(card.text, "PeftModel"), "card-peft", "exec"), namespace)  # noqa: S102
    peft_model = namespace["peft_model"].eval()
    assert any(p.requires_grad for n, p in peft_model.named_parameters() if "lora_" in n)
    with torch.no_grad():
        torch.testing.assert_close(peft_model(**inputs).logits, plain(**inputs).logits, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------------------------ push
class _HubRecorder:
    """`HfApi.create_repo` / `create_branch` / `create_commit` replaced: records the calls (and the bytes sent)."""

    def __init__(self, monkeypatch):
        self.calls: list[tuple[str, dict]] = []
        self.sent: dict[str, bytes] = {}
        recorder = self

        def create_repo(api, repo_id, **kwargs):
            recorder.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))
            return f"https://huggingface.co/{repo_id}"

        def create_branch(api, repo_id, **kwargs):
            recorder.calls.append(("create_branch", {"repo_id": repo_id, **kwargs}))

        def create_commit(api, repo_id=None, operations=(), **kwargs):
            paths = []
            for op in operations:
                with op.as_file() as fh:
                    recorder.sent[op.path_in_repo] = fh.read()
                paths.append(op.path_in_repo)
            recorder.calls.append(("create_commit", {"repo_id": repo_id, "paths": paths, **kwargs}))
            return type("CommitInfo", (), {"commit_url": f"https://huggingface.co/{repo_id}/commit/0"})()

        for name, fake in (("create_repo", create_repo), ("create_branch", create_branch),
                           ("create_commit", create_commit)):  # fmt: skip
            monkeypatch.setattr(HfApi, name, fake)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def test_push_uploads_the_export_in_one_commit(lora_run, tmp_path, monkeypatch, capsys):
    reference = export_model(lora_run, tmp_path / "tiny", repo_id="org/tiny")
    hub = _HubRecorder(monkeypatch)
    assert main(["push", str(lora_run), "--repo-id", "org/tiny", "--private", "--revision", "dev"]) == 0
    assert "pushed" in capsys.readouterr().out

    assert hub.names() == ["create_repo", "create_branch", "create_commit"]
    repo_kwargs, branch_kwargs, commit = (kwargs for _, kwargs in hub.calls)
    assert repo_kwargs == {"repo_id": "org/tiny", "repo_type": "model", "private": True, "exist_ok": True}
    assert branch_kwargs["branch"] == "dev" and branch_kwargs["exist_ok"] is True
    assert commit["repo_id"] == "org/tiny" and commit["revision"] == "dev"
    assert commit["paths"] == _files(reference)  # exactly the export: weights, code, processor, card, adapter
    assert {"README.md", "adapter/adapter_model.safetensors"} <= set(commit["paths"])
    assert hub.sent["README.md"] == (reference / "README.md").read_bytes()
    card = ModelCard(hub.sent["README.md"].decode())
    assert 'from_pretrained("org/tiny", trust_remote_code=True)' in card.text
    assert card.text.lstrip().startswith("# tiny\n")
    assert hub.sent["model.safetensors"] == (reference / "model.safetensors").read_bytes()


def _hub_http_error(status: int):
    from huggingface_hub.errors import HfHubHTTPError, Response

    httpx = importlib.import_module(Response.__module__.split(".")[0])
    request = httpx.Request("POST", "https://huggingface.co/api/repos/create")
    return HfHubHTTPError(f"{status} Client Error\nmore lines", response=Response(status, request=request))


def _connect_error():
    from huggingface_hub.errors import Response

    httpx = importlib.import_module(Response.__module__.split(".")[0])
    return httpx.ConnectError("[Errno -2] Name or service not known")


@pytest.mark.parametrize(
    "error, expected",
    [
        (None, "offline mode is on"),  # HF_HUB_OFFLINE=1 (tests/conftest.py): the client refuses to connect
        (_connect_error, "not reachable (ConnectError"),
        (lambda: _hub_http_error(401), "not authorised"),
        (lambda: _hub_http_error(500), "refused the request (500 Client Error)"),
    ],
)
def test_push_without_network_or_credentials_fails_in_one_line(error, expected, tmp_path, monkeypatch, capsys):
    from videotext.export import save_hub_folder
    from videotext.training.model_factory import build_model_and_processor
    from videotext.training.recipes import load_recipe

    method = sorted(METHODS)[0]
    model, processor = build_model_and_processor(
        load_recipe(TRAINING_METHODS[method].tiny_recipe), train_captions=CAPTIONS
    )
    folder = save_hub_folder(model, processor, tmp_path / "model")
    if error is not None:

        def fail(*args, **kwargs):
            raise error()

        monkeypatch.setattr(HfApi, "create_repo", fail)
    capsys.readouterr()
    assert main(["push", str(folder), "--repo-id", "org/name"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("videotext push: error: upload to org/name failed: ") and expected in err, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_push_rejects_a_bad_repo_id(capsys, tmp_path):
    assert main(["push", str(tmp_path), "--repo-id", "org/na me/x"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("videotext push: error: --repo-id 'org/na me/x'") and len(err.splitlines()) == 1


# ------------------------------------------------------------------------------------------------------ datasets
def test_prepare_push_to_hub_sends_the_card_then_the_rows(synthetic_dir, tmp_path, monkeypatch, capsys):
    import datasets

    from videotext.datasets_scripts import load_prepared

    hub = _HubRecorder(monkeypatch)
    pushed = []

    def push_to_hub(dd, repo_id, **kwargs):
        hub.calls.append(("push_to_hub", {"repo_id": repo_id, **kwargs}))
        pushed.append(dd)

    monkeypatch.setattr(datasets.DatasetDict, "push_to_hub", push_to_hub)
    out = tmp_path / "prepared"
    argv = ["prepare", "synthetic", "--data-dir", synthetic_dir, "--out", str(out), "--push-to-hub", "org/synth"]
    assert main(argv) == 0
    assert "published org/synth" in capsys.readouterr().out

    assert hub.names()[:4] == ["create_repo", "create_commit", "push_to_hub", "create_commit"]
    assert hub.calls[0][1]["repo_type"] == "dataset" and hub.calls[0][1]["exist_ok"] is True
    assert hub.calls[1][1]["paths"] == ["README.md"] and hub.calls[1][1]["repo_type"] == "dataset"
    assert hub.calls[2][1]["repo_id"] == "org/synth"
    videos = [p for name, kw in hub.calls[3:] for p in kw["paths"]]
    assert videos and all(p.startswith("videos/") and p.endswith(".mp4") for p in videos)

    dd = load_prepared(str(out))
    rows = pushed[0]
    assert {s: len(ds) for s, ds in rows.items()} == {s: len(ds) for s, ds in dd.items()}
    assert all(p.startswith("videos/") for ds in rows.values() for p in ds["video_path"])
    card = DatasetCard(hub.sent["README.md"].decode())
    assert card.data.license == "apache-2.0" and "videotext" in card.data.tags
    for split, ds in dd.items():
        assert f"| {split} | {len(ds)} | {sum(len(c) for c in ds['captions'])} |" in card.text
    for column in dd["train"].column_names:
        assert f"| `{column}` |" in card.text
    assert 'load_dataset("org/synth")' in card.text


def test_prepare_push_without_network_fails_in_one_line(synthetic_dir, tmp_path, monkeypatch, capsys):
    def fail(*args, **kwargs):
        raise _connect_error()

    monkeypatch.setattr(HfApi, "create_repo", fail)
    out = tmp_path / "prepared"
    argv = ["prepare", "synthetic", "--data-dir", synthetic_dir, "--out", str(out), "--push-to-hub", "org/synth"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]  # after the progress bars of save_to_disk
    assert (
        last.startswith("videotext prepare synthetic: error: publishing org/synth failed: ") and "ConnectError" in last
    )
    assert "Traceback" not in err and "videotext prepare" not in err.replace(last, "")
    assert (out / "dataset_dict.json").is_file()
