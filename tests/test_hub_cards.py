"""Model and dataset cards: metadata per method (from the method table, nothing here names a method), `model-index`
that reloads with huggingface_hub's parser to the same values, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from huggingface_hub import DatasetCard, ModelCard
from huggingface_hub.repocard_data import model_index_to_eval_results

from videotext.evaluation import flat_metrics
from videotext.hub_cards import HubCardError, build_dataset_card, render_model_card
from videotext.hub_cards.facts import TASK_FACTS, method_facts
from videotext.hub_cards.model_card import build_model_card, collect_sources, describe_dataset
from videotext.modeling import METHODS
from videotext.training.methods import TRAINING_METHODS

CAPTIONS = ["a red circle moves left", "a small blue square spins", "a big green star grows then fades away"]
# what `videotext eval` / the training loop write, per task (nested metrics included)
METRICS = {
    "captioning": {
        "BLEU-1": 0.5123,
        "BLEU-4": 0.25,
        "METEOR": 0.21,
        "ROUGE-L": 0.48,
        "CIDEr": 0.61,
        "synthetic_facts": {"shape": 0.75, "events_in_order": 0.125, "num_clips": 8},
    },
    "retrieval": {
        "t2v_R@1": 12.5,
        "t2v_R@5": 50.0,
        "t2v_MdR": 5.0,
        "v2t_R@1": 25.0,
        "v2t_MnR": 3.25,
        "num_queries": 8,
        "dsl": {"t2v_R@1": 37.5},
    },
}


def tiny_model(method: str, overrides=()):
    from videotext.training.model_factory import build_model_and_processor
    from videotext.training.recipes import load_recipe

    recipe = load_recipe(TRAINING_METHODS[method].tiny_recipe, list(overrides))
    return build_model_and_processor(recipe, train_captions=CAPTIONS)


@pytest.fixture(scope="module")
def hub_folders(tmp_path_factory) -> dict[str, Path]:
    """Every registered method's tiny model saved as a Hub folder (no training record)."""
    import torch

    from videotext.export import save_hub_folder

    root = tmp_path_factory.mktemp("hub")
    out = {}
    for method in sorted(METHODS):
        torch.manual_seed(0)
        model, processor = tiny_model(method)
        out[method] = save_hub_folder(model, processor, root / method)
    return out


def _eval_json(folder: Path, metrics: dict, dataset: str = "data/synth", split: str = "test") -> Path:
    path = folder / f"eval_{split}.json"
    report = {"model": str(folder), "dataset": dataset, "split": split, "num_clips": 8, "metrics": metrics}
    path.write_text(json.dumps(report))
    return path


def _parsed(card_path: Path):
    card = ModelCard.load(card_path)
    name, results = model_index_to_eval_results(card.data.to_dict()["model-index"])
    return card, name, results


@pytest.mark.parametrize("method", sorted(METHODS))
def test_card_metadata_and_model_index(method, hub_folders, tmp_path):
    entry, task = METHODS[method], TASK_FACTS[METHODS[method].task]
    metrics = METRICS[entry.task]
    eval_file = _eval_json(hub_folders[method], metrics)
    try:
        card = render_model_card(hub_folders[method], repo="org/tiny", license="mit")
    finally:
        eval_file.unlink()
    card.save(tmp_path / "README.md")
    loaded, name, results = _parsed(tmp_path / "README.md")

    data = loaded.data.to_dict()
    assert data["library_name"] == "transformers"
    assert data["pipeline_tag"] == task.pipeline_tag
    assert data["license"] == "mit"
    assert {"videotext", method, *task.tags} <= set(data["tags"])
    assert "base_model" not in data  # a tiny model built from config has no base model
    assert data["widget"] == [dict(w) for w in task.widget]
    assert data["metrics"] == list(task.metrics)
    assert name == "tiny"
    # every metric, nested ones flattened, to the same values
    assert {r.metric_name: r.metric_value for r in results} == flat_metrics(metrics)
    assert {(r.task_type, r.dataset_split, r.dataset_name) for r in results} == {(task.pipeline_tag, "test", "synth")}
    assert len({r.metric_type for r in results}) == len(results)
    assert loaded.data.eval_results and len(loaded.data.eval_results) == len(results)

    text = loaded.text
    facts = method_facts(method)
    assert f'{entry.auto_class}.from_pretrained("org/tiny", trust_remote_code=True)' in text
    assert "Trainer(" in text and "## Limitations" in text and "## Citation" in text
    if facts.paper_title:
        assert facts.paper_title in text and "@misc{" in text
    assert "LoRA adapter" not in text  # no adapter/ in the folder


@pytest.mark.parametrize("method", sorted(METHODS))
def test_card_from_a_training_record(method, hub_folders, tmp_path):
    """`metrics.json` of a run: recipe section, `base_model` from the pretrained backbones (Hub ids only), model-index
    from the final evaluation on the recipe's eval split."""
    from videotext.training.recipes import load_recipe

    folder = tmp_path / "run"
    folder.mkdir()
    for item in hub_folders[method].iterdir():
        if item.is_file():
            (folder / item.name).write_bytes(item.read_bytes())
    recipe = load_recipe(TRAINING_METHODS[method].tiny_recipe)
    recipe["model"].update(
        pretrained=True, backbones={"vision": "org/vision-x", "text": "text-y", "local": str(tmp_path)}
    )
    recipe["data"]["path"] = None
    final = METRICS[METHODS[method].task]
    record = {
        "recipe": recipe["_name"],
        "overrides": ["train.max_steps=2"],
        "global_step": 2,
        "num_processes": 1,
        "train_clips": 8,
        "stages": [
            {"name": s["name"], "start_step": 0, "num_steps": 1, "lr": s["lr"]} for s in recipe["train"]["stages"]
        ],
        "final": final,
        "recipe_resolved": {k: v for k, v in recipe.items() if not k.startswith("_")},
    }
    (folder / "metrics.json").write_text(json.dumps(record))
    card = render_model_card(folder, repo="org/run")
    card.save(tmp_path / "README.md")
    loaded, _, results = _parsed(tmp_path / "README.md")
    data = loaded.data.to_dict()
    assert data["base_model"] == ["org/vision-x", "text-y"]  # the local folder is not a Hub id
    assert data["datasets"] == ["videotext-synthetic"]
    assert {r.metric_name: r.metric_value for r in results} == flat_metrics(final)
    assert {r.dataset_split for r in results} == {recipe["eval"]["split"]}
    assert f"videotext train {recipe['_name']}" in loaded.text
    assert "--set train.max_steps=2" in loaded.text and "Resolved recipe" in loaded.text
    assert "random initialisation" not in loaded.text


def test_explicit_metrics_files_replace_the_folder_defaults(hub_folders, tmp_path):
    method = sorted(METHODS)[0]
    metrics = METRICS[METHODS[method].task]
    a = tmp_path / "a.json"
    a.write_text(json.dumps({"dataset": None, "split": "validation", "metrics": metrics}))
    sources = collect_sources(hub_folders[method], [a, a])
    assert [r.split for r in sources.evals] == ["validation", "validation"]
    card = build_model_card(sources, dataset_ids=["org/my-data"])
    assert card.data.datasets == ["org/my-data"]


def test_pipeline_snippet_when_the_export_has_a_custom_pipeline(hub_folders):
    for method, folder in hub_folders.items():
        sources = collect_sources(folder)
        config = {**sources.config, "custom_pipelines": {"videotext-x": {"impl": "pipeline_x.X", "pt": ["AutoModel"]}}}
        text = build_model_card(sources, repo="org/x", exported_config=config).text
        call = TASK_FACTS[METHODS[method].task].pipeline_call.split("  #")[0]
        assert 'pipeline(model="org/x", trust_remote_code=True)' in text and call in text
        plain = {k: v for k, v in sources.config.items() if k != "custom_pipelines"}
        assert "pipeline(" not in build_model_card(sources, repo="org/x", exported_config=plain).text


def test_prepared_dataset_is_named_by_its_build_report(tmp_path):
    from videotext.datasets_scripts.common import BuildReport, assemble

    report = BuildReport("msrvtt", "1k-A-9k")
    row = {"video_id": "v1", "video_path": "/x/v1.mp4", "start": None, "end": None, "captions": ["a cat"]}
    assemble({"train": [row], "test": [dict(row, video_id="v2")]}, report).save_to_disk(tmp_path / "prep")
    assert describe_dataset(str(tmp_path / "prep"), "test") == ("msrvtt", "MSR-VTT", "1k-A-9k")
    assert describe_dataset(None) == ("videotext-synthetic", "videotext synthetic benchmark", None)
    assert describe_dataset("/nowhere/My Data") == ("my-data", "My Data", None)


def test_dataset_card_schema_counts_and_skips(tmp_path):
    from videotext.datasets_scripts.common import BuildReport, assemble

    report = BuildReport("msvd", "standard")
    report.skip("no video file", "train", "gone1")
    report.skip("no video file", "train", "gone2")
    report.skip('an empty "caption"', "test", "t9")
    rows = {
        "train": [
            {"video_id": f"v{i}", "video_path": f"/x/v{i}.avi", "captions": ["a", "b"], "nouns": [["a"], ["b"]]}
            for i in range(3)
        ],
        "test": [{"video_id": "t1", "video_path": "/x/t1.avi", "captions": ["c"], "nouns": [["c"]]}],
    }
    dd = assemble(rows, report, extra_columns=["nouns"])
    card = build_dataset_card(dd, "org/msvd-videotext")
    card.save(tmp_path / "README.md")
    loaded = DatasetCard.load(tmp_path / "README.md")
    data = loaded.data.to_dict()
    assert data["license"] == "other" and data["size_categories"] == ["n<1K"]
    assert (
        "videotext" in data["tags"]
        and data["pretty_name"] == "MSVD (Microsoft Research Video Description Corpus) (standard)"
    )
    text = loaded.text
    assert "| train | 3 | 6 |" in text and "| test | 1 | 1 |" in text
    assert "| no video file | train | 2 | gone1, gone2 |" in text and "(3 in all)" in text
    assert "| `nouns` | `list<list<string>>` |" in text and "| `start` | `float64` |" in text
    assert "original terms of use apply" in text and 'load_dataset("org/msvd-videotext")' in text


# ------------------------------------------------------------------------------------------------ bad input
def _not_a_model(tmp_path: Path) -> Path:
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert"}))
    return folder


def test_bad_model_folders_name_the_file(tmp_path):
    with pytest.raises(HubCardError, match="no such model folder"):
        collect_sources(tmp_path / "missing")
    with pytest.raises(HubCardError, match=r"config\.json: not found"):
        collect_sources(tmp_path)
    with pytest.raises(HubCardError, match=r"bert/config\.json: model_type 'bert' is not a videotext method"):
        collect_sources(_not_a_model(tmp_path))


def test_bad_metrics_files_name_the_file(hub_folders, tmp_path):
    folder = next(iter(hub_folders.values()))
    with pytest.raises(HubCardError, match=r"nope\.json: no such file"):
        collect_sources(folder, [tmp_path / "nope.json"])
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(HubCardError, match=r"broken\.json: cannot read"):
        collect_sources(folder, [broken])
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"accuracy": 1}))
    with pytest.raises(HubCardError, match=r"other\.json: not a metrics JSON"):
        collect_sources(folder, [other])


@pytest.mark.parametrize("command", ["export", "push"])
def test_cli_errors_are_one_line(command, hub_folders, tmp_path, capsys):
    from videotext.cli import main

    folder = next(iter(hub_folders.values()))
    target = ["--out", str(tmp_path / "out")] if command == "export" else ["--repo-id", "org/name"]
    cases = [
        ([str(_not_a_model(tmp_path)), *target], "bert/config.json"),
        ([str(folder), *target, "--metrics", str(tmp_path / "missing.json")], "missing.json"),
    ]
    for argv, named in cases:
        assert main([command, *argv]) == 1
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"videotext {command}: error: ") and named in err
        assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_help_lists_export_and_push(capsys):
    from videotext.cli import main

    for command in ("export", "push"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert "--metrics" in capsys.readouterr().out
