"""One suite over the method table (timm's pattern): every registered method gets the same checks, driven by its
table entries and its tester (`tests/method_testers.py`); nothing here names a method.

Per method: forward + backward on a collated training batch, save/load round trip, Hub export loaded without
videotext, `transformers.Trainer`, generation (captioners) or embeddings and similarity logits (retrievers), and
`videotext train` + `videotext eval` of the tiny recipe. Last, a throw-away retriever written into a temporary folder
and registered through the public tables only goes through the same checks.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import json
import math
import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from method_testers import TESTERS, MethodTester

from videotext.modeling import METHODS, Method
from videotext.training.methods import TRAINING_METHODS

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("check_compat", ROOT / "utils" / "check_compat.py")
check_compat = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_compat)

BATCH = 4
MAX_NEW_TOKENS = 5
CAPTION_METRICS = ("BLEU-4", "CIDEr", "synthetic_facts")
RETRIEVAL_METRICS = ("t2v_R@1", "t2v_R@5", "t2v_MdR", "v2t_R@1", "v2t_R@5", "v2t_MdR")


# --------------------------------------------------------------------------------------------- shared fixtures
@pytest.fixture(scope="module")
def train_split(synthetic_dir):
    from videotext.datasets_scripts import load_prepared

    return load_prepared(synthetic_dir)["train"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> str:
    """A real mp4 of another size than the set (40 x 56): the exported video processor decodes, resizes and crops it."""
    from videotext.processing.video_writer import write_video

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (12, 40, 56, 3), dtype=np.uint8)
    return str(write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames, fps=8))


@dataclass
class Built:
    """One tiny model of a method, its processor, a training dataset and a collated training batch."""

    tester: MethodTester
    method: Method
    model: Any  # eval mode, never trained: tests that change it work on a copy
    processor: Any
    dataset: Any
    items: list[dict]
    batch: dict[str, Any]

    @property
    def model_type(self) -> str:
        return self.tester.model_type

    @property
    def training(self):
        return TRAINING_METHODS[self.model_type]

    def collate(self, processor=None) -> dict[str, Any]:
        from videotext.training.data import build_collator

        return build_collator(self.model_type, processor or self.processor)(self.items)


def build(tester: MethodTester, split) -> Built:
    """The method's tiny model from its tiny recipe, with the default objective set as a training stage would."""
    from videotext.training.data import FrameCache, VideoTextDataset
    from videotext.training.model_factory import build_model_and_processor
    from videotext.training.stages import apply_objective

    recipe = tester.recipe()
    training = TRAINING_METHODS[tester.model_type]
    torch.manual_seed(0)
    captions = [c for caps in split["captions"] for c in caps]
    model, processor = build_model_and_processor(recipe, train_captions=captions)
    apply_objective(model.config, training, {"name": "test", "objective": training.default_objective})
    model.eval()
    data = recipe["data"]
    dataset = VideoTextDataset(split, data["num_frames"], train=True, seed=0, cache=FrameCache(8, size=data["size"]),
                               size=data["size"], load_inputs=training.input_loader)  # fmt: skip
    items = dataset.__getitems__(list(range(BATCH)))
    built = Built(tester, METHODS[tester.model_type], model, processor, dataset, items, {})
    built.batch = built.collate()
    return built


@pytest.fixture(scope="module", params=sorted(METHODS))
def built(request, train_split) -> Built:
    if request.param not in TESTERS:
        pytest.fail(f"method {request.param!r} has no tester in tests/method_testers.py")
    return build(TESTERS[request.param], train_split)


# ------------------------------------------------------------------------------------------------ the checks
def _tower(name: str) -> str:
    return name.split(".")[0]


def _towers(model) -> set[str]:
    """The model's top-level parts that hold trainable parameters (vision_model, text_model, mapper, ...)."""
    return {_tower(n) for n, p in model.named_parameters() if p.requires_grad}


def _video_inputs(built: Built, items: list[dict]) -> dict[str, Any]:
    """The processor's inputs without text for `items` (what inference gives it: frames, plus any method input)."""
    keys = items[0]["inputs"]
    return dict(built.processor(**{k: [it["inputs"][k] for it in items] for k in keys}, return_tensors="pt"))


def video_kwargs(model, inputs: dict[str, Any]) -> dict[str, Any]:
    """The processor outputs `get_video_features` takes by name (`pixel_values_videos`, or e.g. TransDCS's
    `expert_features` / `expert_mask`)."""
    params = inspect.signature(model.get_video_features).parameters
    return {k: v for k, v in inputs.items() if k in params}


def task_outputs(built: Built, model, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
    """What the method's task is judged by: logits of the training batch (captioners), embeddings (retrievers)."""
    with torch.no_grad():
        if built.method.task == "captioning":
            return {"logits": model(**batch).logits}
        return {
            "video_embeds": model.get_video_features(**video_kwargs(model, batch)),
            "text_embeds": model.get_text_features(batch["input_ids"], batch["attention_mask"]),
        }


def check_forward_backward(built: Built) -> None:
    model = copy.deepcopy(built.model).train()
    loss = model(**built.batch).loss
    assert loss is not None and loss.ndim == 0 and torch.isfinite(loss), loss
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad and p.grad is not None}
    assert grads, "the loss reaches no parameter"
    not_finite = [n for n, g in grads.items() if not torch.isfinite(g).all()]
    assert not not_finite, not_finite
    silent = {t for t in _towers(model) if not any(g.abs().sum() > 0 for n, g in grads.items() if _tower(n) == t)}
    assert not silent, f"no parameter of {sorted(silent)} gets a non-zero gradient"


def check_save_load(built: Built, tmp_path: Path) -> None:
    import transformers
    from transformers import AutoProcessor

    out = tmp_path / "saved"
    built.model.save_pretrained(out)
    built.processor.save_pretrained(out)
    model = built.method.model_cls.from_pretrained(out).eval()
    processor = built.method.processor_cls.from_pretrained(out)
    assert type(model) is built.method.model_cls and type(processor) is built.method.processor_cls
    assert type(processor.video_processor) is built.method.video_processor_cls

    batch = built.collate(processor)
    assert batch.keys() == built.batch.keys()
    for key, value in built.batch.items():
        same = torch.equal(batch[key], value) if isinstance(value, torch.Tensor) else batch[key] == value
        assert same, f"processor output {key!r} differs after the round trip"
    expected, got = task_outputs(built, built.model, built.batch), task_outputs(built, model, batch)
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-5, atol=1e-6, msg=lambda m, k=key: f"{k}: {m}")

    # importing videotext registered the method with its Auto classes
    auto = getattr(transformers, built.method.auto_class).from_pretrained(out)
    assert type(auto) is built.method.model_cls
    assert type(AutoProcessor.from_pretrained(out)) is built.method.processor_cls


def _auto_maps(folder: Path) -> dict[str, str]:
    """Every `auto_map` entry of the folder's JSON files (config, processor, nested video processor)."""
    found: dict[str, str] = {}

    def walk(node):
        if isinstance(node, dict):
            found.update(node.get("auto_map") or {})
            for value in node.values():
                walk(value)

    for path in folder.glob("*.json"):
        walk(json.loads(path.read_text()))
    return found


def check_hub_export(built: Built, model, processor, tmp_path: Path, clip: str) -> None:
    from videotext.export import save_hub_folder

    folder = save_hub_folder(model, processor, tmp_path / "hub")
    method = built.method
    auto_map = _auto_maps(folder)
    for auto_name, cls_name in (
        ("AutoConfig", method.config),
        (method.auto_class, method.model),
        ("AutoProcessor", method.processor),
        ("AutoVideoProcessor", method.video_processor),
    ):
        module, _, name = auto_map.get(auto_name, "").partition(".")
        assert name == cls_name and (folder / f"{module}.py").is_file(), (auto_name, auto_map)
    assert not (folder / "__init__.py").exists()  # a flat folder of modules, not a package
    for code in folder.glob("*.py"):  # the Hub rule: no package import, no parent-relative import
        for line in code.read_text().splitlines():
            words = line.split()
            assert not (words[:1] in (["import"], ["from"]) and words[1].startswith(("videotext", ".."))), line

    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "hf_modules"), "HF_HUB_OFFLINE": "1"}
    text = built.items[0]["text"]
    summary, errors = check_compat.check_exported(model, processor, folder, clip, text, tmp_path / "exported.pt",
                                                  max_new_tokens=MAX_NEW_TOKENS, env=env)  # fmt: skip
    assert not errors, "\n".join(errors)
    assert summary["auto_class"] == method.auto_class
    assert summary["model_class"].startswith("transformers_modules.")
    assert summary["model_class"].endswith(f".{method.model}")
    assert summary["processor_class"] == method.processor
    assert not summary["videotext_in_modules"]


def check_trainer(built: Built, tmp_path: Path) -> None:
    from transformers import Trainer, TrainingArguments

    from videotext.training.data import build_collator

    model = copy.deepcopy(built.model).train()
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    args = TrainingArguments(
        output_dir=str(tmp_path / "trainer"), max_steps=2, per_device_train_batch_size=BATCH, learning_rate=1e-3,
        logging_steps=1, save_strategy="no", remove_unused_columns=False, use_cpu=True, report_to=[],
        dataloader_num_workers=0, disable_tqdm=True,
    )  # fmt: skip
    collator = build_collator(built.model_type, built.processor)
    trainer = Trainer(model=model, args=args, train_dataset=built.dataset, data_collator=collator)
    assert trainer.train().global_step == 2
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses), losses
    changed = {_tower(n) for n, p in model.named_parameters() if n in before and not torch.equal(before[n], p)}
    assert changed == _towers(model), f"unchanged: {sorted(_towers(model) - changed)}"


def check_generation(built: Built) -> None:
    model = built.model
    assert model.can_generate()
    inputs = _video_inputs(built, built.items[:2])
    vocab = model.get_output_embeddings().weight.shape[0]

    def generate(**kwargs) -> torch.Tensor:
        ids = model.generate(**inputs, max_new_tokens=MAX_NEW_TOKENS, **kwargs)
        rows = 2 * kwargs.get("num_return_sequences", 1)
        assert ids.ndim == 2 and ids.shape[0] == rows and 1 <= ids.shape[1] <= MAX_NEW_TOKENS, (kwargs, ids.shape)
        assert ids.dtype == torch.long and int(ids.min()) >= 0 and int(ids.max()) < vocab, ids
        return ids

    cached, uncached = generate(do_sample=False, use_cache=True), generate(do_sample=False, use_cache=False)
    assert torch.equal(cached, uncached), (cached, uncached)
    generate(do_sample=False, num_beams=2, num_return_sequences=2)
    torch.manual_seed(0)
    first = generate(do_sample=True, top_p=0.9, num_return_sequences=2)
    torch.manual_seed(0)
    assert torch.equal(generate(do_sample=True, top_p=0.9, num_return_sequences=2), first)  # seeded: repeatable
    captions = built.processor.batch_decode(cached, skip_special_tokens=True)
    assert len(captions) == 2 and all(isinstance(c, str) for c in captions)


def check_retrieval(built: Built) -> None:
    model, processor = built.model, built.processor
    videos = video_kwargs(model, _video_inputs(built, built.items[:2]))
    texts = processor(text=[it["text"] for it in built.items[:3]], return_tensors="pt")
    with torch.no_grad():
        video_embeds = model.get_video_features(**videos)
        text_embeds = model.get_text_features(texts["input_ids"], texts["attention_mask"])
        kwargs = {"return_loss": False} if "return_loss" in inspect.signature(model.forward).parameters else {}
        out = model(input_ids=texts["input_ids"], attention_mask=texts["attention_mask"], **videos, **kwargs)
    assert video_embeds.ndim == 2 and video_embeds.shape[0] == 2 and torch.isfinite(video_embeds).all()
    assert text_embeds.shape == (3, video_embeds.shape[1]) and torch.isfinite(text_embeds).all()
    logits = out.logits_per_text
    assert logits.shape == (3, 2), logits.shape  # (num_texts, num_videos)
    cosine = torch.nn.functional.normalize(text_embeds, dim=-1) @ torch.nn.functional.normalize(video_embeds, dim=-1).T
    if hasattr(model, "score_embeddings"):  # a retriever whose score is not the plain cosine (TransDCS)
        cosine = model.score_embeddings(text_embeds, video_embeds)
    scale = float((logits * cosine).sum() / (cosine * cosine).sum())  # the model's logit scale (1 / temperature)
    assert scale > 0
    torch.testing.assert_close(logits, scale * cosine, rtol=1e-4, atol=1e-5)
    if getattr(out, "logits_per_video", None) is not None:
        torch.testing.assert_close(out.logits_per_video, logits.T)
    for name, features in (("text_embeds", text_embeds), ("video_embeds", video_embeds)):
        if getattr(out, name, None) is not None:
            torch.testing.assert_close(
                torch.nn.functional.normalize(getattr(out, name), dim=-1),
                torch.nn.functional.normalize(features, dim=-1), rtol=1e-5, atol=1e-6,
            )  # fmt: skip


def check_task_metrics(task: str, metrics: dict) -> None:
    names = CAPTION_METRICS if task == "captioning" else RETRIEVAL_METRICS
    missing = [k for k in names if k not in metrics]
    assert not missing, (missing, sorted(metrics))
    if task == "captioning":
        assert 0.0 <= metrics["BLEU-4"] <= 1.0 and metrics["CIDEr"] >= 0.0
        assert isinstance(metrics["synthetic_facts"], dict) and metrics["synthetic_facts"]
    else:
        assert all(0.0 <= metrics[k] <= 100.0 for k in names if "R@" in k)
        assert not any(k.startswith(("BLEU", "CIDEr")) for k in metrics)


def check_cli_train_eval(tester: MethodTester, method: Method, synthetic_dir: str, tmp_path: Path) -> None:
    from videotext.cli import main

    out = tmp_path / "run"
    args = ["train", TRAINING_METHODS[tester.model_type].tiny_recipe, "--output-dir", str(out)]
    for item in tester.cli_overrides(f"data.path={synthetic_dir}"):
        args += ["--set", item]
    assert main(args) == 0
    for name in ("config.json", "model.safetensors", "processor_config.json", "metrics.json"):
        assert (out / name).is_file(), name
    assert method.auto_class in json.loads((out / "config.json").read_text())["auto_map"]
    run = json.loads((out / "metrics.json").read_text())
    assert run["method"] == tester.model_type and run["global_step"] == 2
    assert math.isfinite(run["final_loss"])
    check_task_metrics(method.task, run["final"])

    report = tmp_path / "eval.json"
    assert main(["eval", str(out), "--dataset", synthetic_dir, "--out", str(report), "--batch-size", "4",
                 "--max-new-tokens", str(MAX_NEW_TOKENS)]) == 0  # fmt: skip
    evaluated = json.loads(report.read_text())
    assert evaluated["split"] == "test" and evaluated["num_clips"] == 3
    check_task_metrics(method.task, evaluated["metrics"])


# ------------------------------------------------------------------------------------- the table's methods
def test_every_method_has_a_tester_and_a_training_entry():
    assert not set(METHODS) - set(TESTERS), "add a MethodTester to tests/method_testers.py"
    assert not set(METHODS) - set(TRAINING_METHODS), "register a TrainingMethod (videotext.training.methods)"
    assert all(TRAINING_METHODS[m].tiny_recipe for m in METHODS), "every method names a tiny recipe"
    assert not set(TESTERS) - set(METHODS), "a tester for a method that is not registered"


def test_forward_backward(built):
    check_forward_backward(built)


def test_save_load_round_trip(built, tmp_path):
    check_save_load(built, tmp_path)


def test_hub_export_loads_without_videotext(built, tmp_path, clip):
    check_hub_export(built, built.model, built.processor, tmp_path, clip)


def test_transformers_trainer(built, tmp_path):
    check_trainer(built, tmp_path)


def test_task_api(built):
    if built.method.task == "captioning":
        check_generation(built)
    else:
        check_retrieval(built)


@pytest.mark.parametrize("model_type", sorted(METHODS))
def test_cli_train_then_eval(model_type, synthetic_dir, tmp_path):
    check_cli_train_eval(TESTERS[model_type], METHODS[model_type], synthetic_dir, tmp_path)


# ------------------------------------------------------------------- a method registered from outside the package
TOY = "vt_toy_retriever"

TOY_CONFIG = '''
"""Throw-away retriever configuration (a test writes this file)."""

from transformers import PretrainedConfig


class ToyRetrieverConfig(PretrainedConfig):
    model_type = "vt_toy_retriever"

    def __init__(self, text_config=None, vocab_size=64, text_pad_token_id=0, hidden_size=32, projection_dim=16,
                 pool_size=4, num_frames=4, logit_scale_init=2.6592, initializer_range=0.02, **kwargs):
        # videotext's model factory gives the trained tokenizer as `text_config={"vocab_size", "pad_token_id"}`
        text_config = dict(text_config or {})
        self.vocab_size = int(text_config.get("vocab_size", vocab_size))
        self.text_pad_token_id = int(text_config.get("pad_token_id", text_pad_token_id))
        self.hidden_size = hidden_size
        self.projection_dim = projection_dim
        self.pool_size = pool_size
        self.num_frames = num_frames
        self.logit_scale_init = logit_scale_init
        self.initializer_range = initializer_range
        for name in ("vocab_size", "hidden_size", "projection_dim", "pool_size", "num_frames"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"`{name}` must be a positive int, got {getattr(self, name)!r}")
        super().__init__(**kwargs)
'''

TOY_MODELING = '''
"""Throw-away retriever: frames -> mean-pooled pixels -> MLP; text -> embedding bag -> linear; CLIP-style loss."""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput

from .configuration_vt_toy_retriever import ToyRetrieverConfig


@dataclass
class ToyRetrieverOutput(ModelOutput):
    loss: torch.FloatTensor | None = None
    logits_per_text: torch.FloatTensor | None = None  # (num_texts, num_videos)
    logits_per_video: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    video_embeds: torch.FloatTensor | None = None


class ToyVideoEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.pool_size = config.pool_size
        self.fc = nn.Linear(3 * config.pool_size**2, config.hidden_size)

    def forward(self, pixel_values_videos):  # (B, T, 3, H, W) -> (B, hidden)
        batch, frames = pixel_values_videos.shape[:2]
        pooled = F.adaptive_avg_pool2d(pixel_values_videos.flatten(0, 1), self.pool_size)  # (B * T, 3, p, p)
        return F.gelu(self.fc(pooled.reshape(batch, frames, -1).mean(dim=1)))


class ToyTextEncoder(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.embeddings = nn.EmbeddingBag(config.vocab_size, config.hidden_size, mode="sum")

    def forward(self, input_ids, attention_mask=None):  # (B, L) -> (B, hidden): masked mean of the embeddings
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        weights = attention_mask.to(self.embeddings.weight.dtype)
        weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1.0)
        return self.embeddings(input_ids, per_sample_weights=weights)


class ToyRetrieverPreTrainedModel(PreTrainedModel):
    config_class = ToyRetrieverConfig
    base_model_prefix = "toy"
    main_input_name = "input_ids"

    def _init_weights(self, module):
        super()._init_weights(module)
        std = self.config.initializer_range
        if isinstance(module, nn.EmbeddingBag) and not getattr(module.weight, "_is_hf_initialized", False):
            with torch.no_grad():
                module.weight.normal_(0.0, std)
        if isinstance(module, ToyRetrieverModel) and not getattr(module.logit_scale, "_is_hf_initialized", False):
            with torch.no_grad():
                module.logit_scale.fill_(self.config.logit_scale_init)


class ToyRetrieverModel(ToyRetrieverPreTrainedModel):
    accepts_loss_kwargs = False

    def __init__(self, config):
        super().__init__(config)
        self.video_model = ToyVideoEncoder(config)
        self.text_model = ToyTextEncoder(config)
        self.video_projection = nn.Linear(config.hidden_size, config.projection_dim)
        self.text_projection = nn.Linear(config.hidden_size, config.projection_dim)
        self.logit_scale = nn.Parameter(torch.tensor(float(config.logit_scale_init)))
        self.post_init()

    def get_video_features(self, pixel_values_videos):
        return self.video_projection(self.video_model(pixel_values_videos.to(self.dtype)))

    def get_text_features(self, input_ids, attention_mask=None):
        return self.text_projection(self.text_model(input_ids, attention_mask))

    def forward(self, input_ids=None, attention_mask=None, pixel_values_videos=None, return_loss=True,
                return_dict=None):
        video_embeds = F.normalize(self.get_video_features(pixel_values_videos), dim=-1)
        text_embeds = F.normalize(self.get_text_features(input_ids, attention_mask), dim=-1)
        logits_per_text = self.logit_scale.clamp(max=math.log(100.0)).exp() * text_embeds @ video_embeds.t()
        loss = None
        if return_loss:  # symmetric InfoNCE, caption i belongs to video i
            target = torch.arange(logits_per_text.shape[0], device=logits_per_text.device)
            loss = (F.cross_entropy(logits_per_text, target) + F.cross_entropy(logits_per_text.t(), target)) / 2
        return ToyRetrieverOutput(loss=loss, logits_per_text=logits_per_text, logits_per_video=logits_per_text.t(),
                                  text_embeds=text_embeds, video_embeds=video_embeds)
'''

TOY_VIDEO_PROCESSING = '''
"""Throw-away video processor: uniform frames, resize, rescale, normalise; files decoded by transformers' loader."""

from transformers import BaseVideoProcessor
from transformers.image_utils import PILImageResampling
from transformers.video_utils import load_video


class ToyVideoProcessor(BaseVideoProcessor):
    resample = PILImageResampling.BILINEAR
    size = {"height": 32, "width": 32}
    do_resize = True
    do_rescale = True
    rescale_factor = 1 / 255
    do_normalize = True
    image_mean = [0.5, 0.5, 0.5]
    image_std = [0.5, 0.5, 0.5]
    do_convert_rgb = True
    do_sample_frames = True
    num_frames = 4
    model_input_names = ["pixel_values_videos"]

    def fetch_videos(self, video_url_or_urls, sample_indices_fn=None):
        if isinstance(video_url_or_urls, (list, tuple)):
            return list(zip(*[self.fetch_videos(v, sample_indices_fn) for v in video_url_or_urls]))
        return load_video(video_url_or_urls, backend="decord", sample_indices_fn=sample_indices_fn)
'''

TOY_PROCESSING = '''
"""Throw-away processor: a video processor and a BERT-style tokenizer."""

from transformers import BatchFeature, ProcessorMixin

from .video_processing_vt_toy_retriever import ToyVideoProcessor  # noqa: F401  (exported with the processor)


class ToyRetrieverProcessor(ProcessorMixin):
    def __init__(self, video_processor=None, tokenizer=None, **kwargs):
        super().__init__(video_processor, tokenizer, **kwargs)

    @property
    def model_input_names(self):
        return ["input_ids", "attention_mask", "pixel_values_videos"]

    def __call__(self, videos=None, text=None, return_tensors="pt", max_length=32, **videos_kwargs):
        if videos is None and text is None:
            raise ValueError("ToyRetrieverProcessor needs `videos`, `text` or both")
        data = {}
        if videos is not None:
            data.update(self.video_processor(videos, return_tensors=return_tensors, **videos_kwargs))
        if text is not None:
            enc = self.tokenizer([text] if isinstance(text, str) else list(text), padding="longest", truncation=True,
                                 max_length=max_length, return_token_type_ids=False, return_tensors=return_tensors)
            data.update(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
        return BatchFeature(data=data, tensor_type=return_tensors)
'''

TOY_INIT = """
from .configuration_vt_toy_retriever import ToyRetrieverConfig
from .modeling_vt_toy_retriever import ToyRetrieverModel
from .processing_vt_toy_retriever import ToyRetrieverProcessor
from .video_processing_vt_toy_retriever import ToyVideoProcessor
"""

TOY_RECIPE = f"""
method: {TOY}
description: throw-away mean-pooled retriever (a test registers it)
seed: 0
model:
  pretrained: false
  config: {{hidden_size: 32, projection_dim: 16, pool_size: 4}}
tokenizer: {{train: true, vocab_size: 200}}
processor: {{size: {{height: 32, width: 32}}}}
data: {{path: null, num_frames: 3, size: 32, cache_frames: true}}
train:
  batch_size: 4
  stages:
    - {{name: contrastive, objective: contrastive, max_steps: 50, lr: 1.0e-3}}
eval: {{split: test, limit: 4, batch_size: 4}}
"""


@pytest.fixture
def toy_method(tmp_path, monkeypatch):
    """Write the throw-away method's flat folder and recipe, register it through the public tables, and remove it."""
    from videotext.modeling import register_method
    from videotext.training.methods import TokenizerSlot, TrainingMethod, register_training_method

    folder = tmp_path / "pkg" / TOY
    folder.mkdir(parents=True)
    for name, source in (("configuration", TOY_CONFIG), ("modeling", TOY_MODELING), ("processing", TOY_PROCESSING),
                         ("video_processing", TOY_VIDEO_PROCESSING)):  # fmt: skip
        (folder / f"{name}_{TOY}.py").write_text(textwrap.dedent(source).lstrip())
    (folder / "__init__.py").write_text(textwrap.dedent(TOY_INIT).lstrip())
    recipe = tmp_path / f"{TOY}-tiny.yaml"
    recipe.write_text(TOY_RECIPE)
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    try:
        register_method(Method(TOY, TOY, "ToyRetrieverConfig", "ToyRetrieverModel", "ToyRetrieverProcessor",
                               "ToyVideoProcessor", "retrieval"))  # fmt: skip
        register_training_method(TrainingMethod(
            TOY, objectives={"contrastive": {}}, default_objective="contrastive",
            tokenizers={"tokenizer": TokenizerSlot("encoder", "text_config", "text")},
            model_kwargs={"return_loss": True}, tiny_recipe=str(recipe),
        ))  # fmt: skip
        yield MethodTester(TOY)
    finally:
        METHODS.pop(TOY, None)
        TRAINING_METHODS.pop(TOY, None)
        for name in [m for m in sys.modules if m == TOY or m.startswith(f"{TOY}.")]:
            del sys.modules[name]


def test_method_registered_through_the_public_tables(toy_method, train_split, synthetic_dir, clip, tmp_path):
    assert TOY in METHODS and TOY in TRAINING_METHODS and "videotext" not in METHODS[TOY].module
    built = build(toy_method, train_split)
    assert type(built.model).__module__ == f"{TOY}.modeling_{TOY}"
    check_forward_backward(built)
    check_save_load(built, tmp_path / "round_trip")
    check_trainer(built, tmp_path / "trainer")
    check_retrieval(built)
    check_cli_train_eval(toy_method, built.method, synthetic_dir, tmp_path / "cli")
    check_hub_export(built, built.model, built.processor, tmp_path / "export", clip)


def test_throw_away_method_is_gone():
    """The toy method's fixture removed it from both tables (runs after it: same file, later)."""
    assert TOY not in METHODS and TOY not in TRAINING_METHODS
