"""The custom transformers pipelines of the exported folders (`videotext.hub_cards.pipelines`), for every registered
method: the folder written by `save_hub_folder` names its task's pipeline in config.json, and in a process where
`import videotext` is refused, `pipeline(model=DIR, trust_remote_code=True)` captions (captioners: the captions of
`model.generate` in this process, generation kwargs passed through) or ranks (retrievers: the order and scores of the
L2-normalised `get_text_features` / `get_video_features` in this process). One child process runs every method's
calls; the tests compare per method.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from videotext.modeling import METHODS, TASKS

ROOT = Path(__file__).resolve().parents[1]
HUB_FILES = ROOT / "src" / "videotext" / "hub_cards" / "hub_files"
CAPTIONS = ["a red circle moves left", "a small blue square spins", "a big green star grows then fades away"]
SEED = 0


def _load_util(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "utils" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_hub_code = _load_util("check_hub_code")


# ------------------------------------------------------------------------------------------------- fixtures
def shape_clip(
    shape: str, color: tuple[int, int, int], size: tuple[int, int] = (48, 64), frames: int = 8
) -> np.ndarray:
    """A uint8 (T, H, W, 3) clip of one coloured shape moving left to right on a dark background."""
    height, width = size
    yy, xx = np.mgrid[:height, :width]
    video = np.full((frames, height, width, 3), 24, dtype=np.uint8)
    radius = min(height, width) // 4
    for t in range(frames):
        cx, cy = radius + (width - 2 * radius) * t / max(1, frames - 1), height / 2
        if shape == "circle":
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius**2
        elif shape == "square":
            mask = (abs(xx - cx) <= radius) & (abs(yy - cy) <= radius)
        else:  # a horizontal bar
            mask = (abs(xx - cx) <= 1.5 * radius) & (abs(yy - cy) <= radius / 2)
        video[t][mask] = color
    return video


CLIPS = {
    "red_circle": shape_clip("circle", (220, 30, 30)),
    "blue_square": shape_clip("square", (30, 60, 220), size=(40, 56), frames=10),
    "green_bar": shape_clip("bar", (40, 200, 60), size=(32, 48), frames=6),
}


def write_clips(folder: Path) -> dict[str, str]:
    from videotext.processing.video_writer import write_video

    folder.mkdir(parents=True, exist_ok=True)
    return {name: str(write_video(folder / f"{name}.mp4", frames, fps=8)) for name, frames in CLIPS.items()}


def build_tiny(method: str):
    """The method's tiny model (the shared testers' shrunk tiny recipe when there is one), random weights, eval."""
    from videotext.training.model_factory import build_model_and_processor

    try:
        from method_testers import TESTERS

        recipe = TESTERS[method].recipe()
    except (ImportError, KeyError):
        recipe = _load_util("check_compat").tiny_recipe(method)
    torch.manual_seed(SEED)
    model, processor = build_model_and_processor(recipe, train_captions=CAPTIONS)
    return model.eval(), processor


@dataclass
class Exported:
    method: str
    task: str
    model: Any
    processor: Any
    folder: Path


def export_all(root: Path) -> dict[str, Exported]:
    from videotext.export import save_hub_folder

    out = {}
    for name, entry in METHODS.items():
        model, processor = build_tiny(name)
        out[name] = Exported(name, entry.task, model, processor, save_hub_folder(model, processor, root / name))
    return out


# the child: no videotext, the folder's own pipeline; `{"npy": path}` stands for a uint8 array argument
CHILD = textwrap.dedent(
    """
    import importlib.abc, json, sys, traceback

    class RefuseVideotext(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path=None, target=None):
            if fullname == "videotext" or fullname.startswith("videotext."):
                raise ImportError(fullname + " is blocked: exported folders must work without videotext")

    sys.meta_path.insert(0, RefuseVideotext())
    import numpy as np
    import torch
    from transformers import pipeline

    torch.set_num_threads(1)

    def arrays(value):
        if isinstance(value, dict) and set(value) == {"npy"}:
            return np.load(value["npy"])
        if isinstance(value, dict):
            return {k: arrays(v) for k, v in value.items()}
        if isinstance(value, list):
            return [arrays(v) for v in value]
        return value

    jobs = json.load(open(sys.argv[1]))
    out = {}
    for name, job in jobs.items():
        pipe = pipeline(model=job["folder"], trust_remote_code=True)
        results = {}
        for label, call in job["calls"].items():
            if call.get("seed") is not None:
                torch.manual_seed(call["seed"])
            try:
                results[label] = pipe(*arrays(call["args"]), **arrays(call["kwargs"]))
            except Exception:
                results[label] = {"error": traceback.format_exc()}
        out[name] = {"class": type(pipe).__module__ + "." + type(pipe).__name__, "task": pipe.task, "results": results}
    out["videotext_in_modules"] = any(m == "videotext" or m.startswith("videotext.") for m in sys.modules)
    json.dump(out, open(sys.argv[2], "w"))
    """
)


def caption_calls(clips: dict[str, str], array_file: str) -> dict[str, dict]:
    """label -> pipeline call of a captioner; `ref` is the `generate` kwargs of the in-process reference."""
    first, second = clips["red_circle"], clips["blue_square"]
    return {
        "default": {"args": [first], "kwargs": {}},
        "beams": {"args": [first], "kwargs": {"num_beams": 3, "max_new_tokens": 6}},
        "short": {"args": [first], "kwargs": {"max_new_tokens": 2}},
        "sample": {"args": [second], "kwargs": {"do_sample": True, "top_p": 0.8, "max_new_tokens": 6}, "seed": SEED},
        "two_sequences": {"args": [second], "kwargs": {"num_beams": 2, "num_return_sequences": 2, "max_new_tokens": 5}},
        "batch": {"args": [[first, second]], "kwargs": {"max_new_tokens": 5}},
        "array": {"args": [{"npy": array_file}], "kwargs": {"max_new_tokens": 5}},
    }


def retrieval_calls(clips: dict[str, str], array_file: str) -> dict[str, dict]:
    videos = list(clips.values())
    return {
        "t2v": {"args": [], "kwargs": {"text": CAPTIONS[0], "videos": videos}},
        "v2t": {"args": [], "kwargs": {"video": clips["blue_square"], "texts": CAPTIONS + ["a dark empty room"]}},
        "top_k": {"args": [], "kwargs": {"text": CAPTIONS[2], "videos": videos, "top_k": 2}},
        "array": {"args": [], "kwargs": {"text": CAPTIONS[1], "videos": [videos[0], {"npy": array_file}]}},
        "queries": {
            "args": [[{"text": CAPTIONS[1], "videos": videos}, {"video": videos[2], "texts": CAPTIONS}]],
            "kwargs": {},
        },
    }


CALLS = {"captioning": caption_calls, "retrieval": retrieval_calls}


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict[str, Exported]:
    return export_all(tmp_path_factory.mktemp("exported"))


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, str]:
    return write_clips(tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="module")
def array_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("arrays") / "green_bar.npy"
    np.save(path, CLIPS["green_bar"])
    return str(path)


@pytest.fixture(scope="module")
def child_results(exported, clips, array_file, tmp_path_factory) -> dict:
    """Every method's pipeline calls, run once in a child process that refuses `import videotext`."""
    work = tmp_path_factory.mktemp("child")
    jobs = {name: {"folder": str(e.folder), "calls": CALLS[e.task](clips, array_file)} for name, e in exported.items()}
    (work / "jobs.json").write_text(json.dumps(jobs))
    (work / "child.py").write_text(CHILD)
    run = subprocess.run(
        [sys.executable, str(work / "child.py"), str(work / "jobs.json"), str(work / "out.json")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads((work / "out.json").read_text())


# ------------------------------------------------------------------------------------------------- references
def _one_thread():
    class OneThread:
        def __enter__(self):
            self.previous = torch.get_num_threads()
            torch.set_num_threads(1)  # the child runs one thread: same reduction order, same numbers

        def __exit__(self, *exc):
            torch.set_num_threads(self.previous)

    return OneThread()


def reference_captions(
    e: Exported, video, seed: int | None = None, **generate_kwargs
) -> tuple[list[str], torch.Tensor]:
    inputs = e.processor(videos=[video], return_tensors="pt")
    with torch.no_grad(), _one_thread():
        if seed is not None:
            torch.manual_seed(seed)
        ids = e.model.generate(**inputs, **generate_kwargs)
    return e.processor.batch_decode(ids, skip_special_tokens=True), ids


def reference_ranking(e: Exported, texts: list[str], videos: list) -> torch.Tensor:
    """Cosine similarities `(len(texts), len(videos))` of the normalised features."""
    with torch.no_grad(), _one_thread():
        text_inputs = e.processor(text=texts, return_tensors="pt")
        text_embeds = e.model.get_text_features(
            input_ids=text_inputs["input_ids"], attention_mask=text_inputs["attention_mask"]
        )
        video_inputs = e.processor(videos=videos, return_tensors="pt")
        params = inspect.signature(e.model.get_video_features).parameters  # pixel_values_videos, or expert features
        video_embeds = e.model.get_video_features(**{k: v for k, v in video_inputs.items() if k in params})
    text_embeds = torch.nn.functional.normalize(text_embeds.float(), dim=-1)
    video_embeds = torch.nn.functional.normalize(video_embeds.float(), dim=-1)
    if hasattr(e.model, "score_embeddings"):  # a retriever whose score is not the cosine (TransDCS)
        return e.model.score_embeddings(text_embeds, video_embeds)
    return text_embeds @ video_embeds.T


def ranked(names: list, scores: torch.Tensor) -> list:
    order = sorted(range(len(names)), key=lambda i: (-float(scores[i]), i))
    return [names[i] for i in order]


def _result(child_results: dict, method: str, label: str):
    result = child_results[method]["results"][label]
    assert not (isinstance(result, dict) and "error" in result), f"{method} {label}:\n{result.get('error')}"
    return result


# ------------------------------------------------------------------------------------------------- static checks
def test_every_task_has_a_pipeline_with_its_auto_class():
    from videotext.hub_cards.pipelines import PIPELINES, custom_pipelines_entry
    from videotext.modeling import AUTO_CLASSES

    assert set(PIPELINES) == set(TASKS)
    for task, spec in PIPELINES.items():
        entry = custom_pipelines_entry(task)
        assert list(entry) == [spec.name]
        assert entry[spec.name]["pt"] == [AUTO_CLASSES[task]]
        assert entry[spec.name]["impl"] == f"{spec.module}.{spec.class_name}"
        assert spec.pipeline_cls.videotext_task == task


def test_hub_files_follow_the_hub_import_rule():
    """The pipeline files obey `utils/check_hub_code.py`'s rule for method folders; app.py too, except for gradio,
    which only the Space installs (its requirements.txt)."""
    pipeline_files = sorted(HUB_FILES.glob("pipeline_*.py"))
    assert len(pipeline_files) == len(TASKS)
    for path in pipeline_files:
        assert check_hub_code.check_imports(path) == []
    app_errors = check_hub_code.check_imports(HUB_FILES / "app.py")
    assert app_errors and all("import of `gradio`" in error for error in app_errors), app_errors


def test_unknown_task_is_refused(tmp_path):
    from videotext.hub_cards.pipelines import write_pipeline_files

    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="no custom pipeline"):
        write_pipeline_files(tmp_path, "segmentation")
    with pytest.raises(FileNotFoundError):
        write_pipeline_files(tmp_path / "missing", "captioning")


# ------------------------------------------------------------------------------------------------- per method
@pytest.mark.parametrize("method", sorted(METHODS))
def test_exported_folder_names_its_pipeline(exported, method):
    from videotext.hub_cards.pipelines import PIPELINES, custom_pipelines_entry

    e = exported[method]
    spec = PIPELINES[METHODS[method].task]
    config = json.loads((e.folder / "config.json").read_text())
    assert config["custom_pipelines"] == custom_pipelines_entry(e.task)
    assert config["custom_pipelines"][spec.name]["pt"] == [METHODS[method].auto_class]
    assert METHODS[method].auto_class in config["auto_map"]
    assert (e.folder / spec.file.name).read_text() == spec.file.read_text()
    assert [p.name for p in e.folder.glob("pipeline_*.py")] == [spec.file.name]


@pytest.mark.parametrize("method", sorted(METHODS))
def test_registered_pipeline_runs_in_process(exported, clips, method):
    """`register_pipelines()` puts the task names in transformers' registry: live model + processor objects work."""
    from transformers import pipeline

    from videotext.hub_cards.pipelines import PIPELINES, register_pipelines

    register_pipelines()
    e = exported[method]
    pipe = pipeline(PIPELINES[e.task].name, model=e.model, processor=e.processor, device="cpu")
    assert type(pipe) is PIPELINES[e.task].pipeline_cls
    if e.task == "captioning":
        with _one_thread():
            got = pipe(clips["red_circle"], max_new_tokens=4)
        assert got == [{"generated_text": reference_captions(e, clips["red_circle"], max_new_tokens=4)[0][0]}]
    else:
        videos = list(clips.values())
        got = pipe(text=CAPTIONS[0], videos=videos)
        assert [r["video"] for r in got] == ranked(videos, reference_ranking(e, CAPTIONS[:1], videos)[0])


@pytest.mark.parametrize("method", sorted(METHODS))
def test_pipeline_loads_and_runs_without_videotext(exported, child_results, method):
    from videotext.hub_cards.pipelines import PIPELINES

    e = exported[method]
    assert child_results["videotext_in_modules"] is False
    got = child_results[method]
    assert got["task"] == PIPELINES[e.task].name
    assert got["class"].endswith(f"{PIPELINES[e.task].module}.{PIPELINES[e.task].class_name}")
    assert got["class"].startswith("transformers_modules.")  # the folder's copy, not videotext's


@pytest.mark.parametrize("method", sorted(m for m, entry in METHODS.items() if entry.task == "captioning"))
def test_captions_equal_generate_and_kwargs_pass_through(exported, clips, array_file, child_results, method):
    from videotext.hub_cards.hub_files.pipeline_videotext_captioning import DEFAULT_MAX_NEW_TOKENS

    e = exported[method]
    calls = caption_calls(clips, array_file)

    def expect(label, video, **kwargs):
        call = calls[label]
        texts, ids = reference_captions(e, video, seed=call.get("seed"), **{**call["kwargs"], **kwargs})
        assert _result(child_results, method, label) == [{"generated_text": t} for t in texts], label
        return texts, ids

    expect("default", clips["red_circle"], max_new_tokens=DEFAULT_MAX_NEW_TOKENS)
    expect("beams", clips["red_circle"])
    expect("sample", clips["blue_square"])
    texts, _ = expect("two_sequences", clips["blue_square"])
    assert len(texts) == 2
    short_texts, short_ids = expect("short", clips["red_circle"])
    assert short_ids.shape[-1] <= 2
    # two generated tokens are at most two words (re-tokenizing the text is no measure: a random tiny model may start
    # with a WordPiece continuation such as "##ow", which decodes to text that tokenizes differently)
    assert len(short_texts[0].split()) <= 2
    expect("array", np.load(array_file))
    batch = _result(child_results, method, "batch")
    assert batch == [[{"generated_text": reference_captions(e, v, max_new_tokens=5)[0][0]}]
                     for v in (clips["red_circle"], clips["blue_square"])]  # fmt: skip


@pytest.mark.parametrize("method", sorted(m for m, entry in METHODS.items() if entry.task == "retrieval"))
def test_ranking_equals_the_features_cosine_ranking(exported, clips, array_file, child_results, method):
    e = exported[method]
    videos = list(clips.values())

    def check(result, key, names, scores, top_k=None):
        want = ranked(names, scores)[:top_k]
        assert [r[key] for r in result] == want
        by_name = dict(zip(names, scores.tolist()))
        for r in result:
            assert r["score"] == pytest.approx(by_name[r[key]], abs=1e-4)
        assert [r["score"] for r in result] == sorted((r["score"] for r in result), reverse=True)

    check(_result(child_results, method, "t2v"), "video", videos, reference_ranking(e, CAPTIONS[:1], videos)[0])
    texts = CAPTIONS + ["a dark empty room"]
    check(
        _result(child_results, method, "v2t"), "text", texts, reference_ranking(e, texts, [clips["blue_square"]])[:, 0]
    )
    check(_result(child_results, method, "top_k"), "video", videos, reference_ranking(e, CAPTIONS[2:], videos)[0], 2)
    mixed = [videos[0], np.load(array_file)]
    check(
        _result(child_results, method, "array"), "video", [videos[0], 1], reference_ranking(e, CAPTIONS[1:2], mixed)[0]
    )
    first, second = _result(child_results, method, "queries")
    check(first, "video", videos, reference_ranking(e, CAPTIONS[1:2], videos)[0])
    check(second, "text", CAPTIONS, reference_ranking(e, CAPTIONS, [videos[2]])[:, 0])
