"""The training-side method table: what recipes, the model factory, the dataset, the collator and the loop need to
know about a method. Its classes and task come from `videotext.modeling.METHODS`; nothing else in `training/`,
`inference.py` or `demo.py` compares method names.

Adding a method (see docs/DESIGN.md, "Adding a method"): a `Method` entry in `videotext.modeling` (its folder's
classes and task), a `TrainingMethod` here (`register_training_method`), its recipes and a tester for the shared
test suite.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from videotext.modeling.svad_vlm.processing_svad_vlm import DEFAULT_DESCRIPTION_PROMPT as SVAD_DESCRIPTION_PROMPT
from videotext.modeling.svad_vlm.processing_svad_vlm import DEFAULT_KEYWORD_PROMPT as SVAD_KEYWORD_PROMPT

__all__ = [
    "TRAINING_METHODS",
    "TokenizerSlot",
    "TrainingMethod",
    "load_frames_input",
    "register_training_method",
    "training_method",
]

# dataset columns that hold one entry per caption (indexed by the caption a training item samples)
PER_CAPTION_COLUMNS = ("nouns", "verbs")


@dataclass(frozen=True)
class TokenizerSlot:
    """One tokenizer argument of a method's processor."""

    kind: str  # "decoder" (causal LM: bos/eos/pad) | "encoder" (BERT-style: pad)
    sub_config: str  # the config field whose `vocab_size` / special-token ids it sets, e.g. "text_config"
    backbone: str  # the `model.backbones` key whose Hub tokenizer it loads when not trained, e.g. "text"
    recipe_field: str = "name"  # `tokenizer.<recipe_field>` names a tokenizer explicitly (overrides the backbone)


def load_frames_input(row: dict, load_frames: Callable[[dict], Any]) -> dict[str, Any]:
    """The default input loader: the clip's sampled frames, given to the processor as `videos`."""
    return {"videos": load_frames(row)}


@dataclass(frozen=True)
class TrainingMethod:
    """How videotext trains one registered method (`model_type` as in `videotext.modeling.METHODS`)."""

    model_type: str
    objectives: Mapping[str, Mapping[str, Any]]  # objective name -> config overrides it sets (validated by the config)
    default_objective: str  # a stage without `objective` trains this one
    tokenizers: Mapping[str, TokenizerSlot]  # processor argument name -> slot
    columns: tuple[str, ...] = ()  # dataset columns the processor takes as keyword arguments (besides the captions)
    processor_kwargs: Mapping[str, Any] = field(default_factory=dict)  # training call, e.g. {"return_labels": True}
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)  # added to every training batch, e.g. return_loss
    lora_prefix: str | None = None  # attribute holding the LLM decoder that LoRA adapts; None: no LoRA
    input_loader: Callable[[dict, Callable[[dict], Any]], dict[str, Any]] = load_frames_input  # row -> processor inputs
    tiny_recipe: str | None = None  # the CPU recipe (name or YAML path) the demo, the compat check and tests train
    # (DatasetDict, recipe) -> DatasetDict run once after loading the data (e.g. TransDCS caches expert features)
    prepare_dataset: Callable[[Any, dict], Any] | None = None
    # processor argument -> its default text, for prompts the processor puts in every sample: a tokenizer trained on
    # the captions (tokenizer.train) also learns their words (the recipe's `processor.<argument>` when set)
    prompts: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if self.default_objective not in self.objectives:
            raise ValueError(f"{self.model_type}: default_objective {self.default_objective!r} is not an objective")
        if not self.tokenizers:
            raise ValueError(f"{self.model_type}: a method needs at least one tokenizer slot")
        object.__setattr__(self, "objectives", MappingProxyType(dict(self.objectives)))

    def resolve_objective(self, name: str | None) -> str:
        """The registered objective `name` denotes: the default for None, and "+"-joined terms in any order."""
        if name is None:
            return self.default_objective
        if name in self.objectives:
            return name
        terms = set(str(name).split("+"))
        for known in self.objectives:
            if set(known.split("+")) == terms:
                return known
        raise ValueError(f"unknown objective {name!r} for {self.model_type} (known: {', '.join(self.objectives)})")

    def slot_of_kind(self, kind: str) -> str | None:
        """The processor argument holding the tokenizer of `kind`, if the method has one."""
        return next((name for name, slot in self.tokenizers.items() if slot.kind == kind), None)


TRAINING_METHODS: dict[str, TrainingMethod] = {}


def register_training_method(method: TrainingMethod) -> TrainingMethod:
    """Add (or replace) a method's training entry; its `model_type` must already be in `videotext.modeling.METHODS`."""
    from videotext.modeling import METHODS

    if method.model_type not in METHODS:
        raise ValueError(f"register {method.model_type!r} with videotext.modeling.register_method first")
    TRAINING_METHODS[method.model_type] = method
    return method


def training_method(model_type: str) -> TrainingMethod:
    if model_type not in TRAINING_METHODS:
        raise ValueError(f"method {model_type!r} has no training entry (registered: {', '.join(TRAINING_METHODS)})")
    return TRAINING_METHODS[model_type]


def _loss_term_objectives(terms: tuple[str, ...], switch: str) -> dict[str, dict[str, bool]]:
    """Every non-empty "+"-joined subset of `terms` -> the config's `use_<term>_loss` switches."""
    out = {}
    for n in range(len(terms), 0, -1):
        for subset in itertools.combinations(terms, n):
            out["+".join(subset)] = {switch.format(term): term in subset for term in terms}
    return out


_DECODER = TokenizerSlot("decoder", "text_config", "text")
TRAINING_METHODS.update(
    mffcl=TrainingMethod(
        "mffcl",
        objectives={stage: {"train_stage": stage} for stage in ("both", "contrastive", "caption")},  # Eq. 2 / 3
        default_objective="both",
        tokenizers={
            "tokenizer": _DECODER,
            "text_encoder_tokenizer": TokenizerSlot("encoder", "text_encoder_config", "text_encoder",
                                                    "text_encoder_name"),
        },  # fmt: skip
        processor_kwargs={"return_labels": True},
        lora_prefix="language_model",
        tiny_recipe="mffcl-synthetic-tiny",
    ),
    dual_align=TrainingMethod(
        "dual_align",
        objectives=_loss_term_objectives(("global", "noun", "verb"), "use_{}_loss"),  # L1, L2, L3
        default_objective="global+noun+verb",
        tokenizers={"tokenizer": TokenizerSlot("encoder", "text_config", "text")},
        columns=("nouns", "verbs"),
        model_kwargs={"return_loss": True},
        tiny_recipe="dual-align-synthetic-tiny",
    ),
    clip4videocap=TrainingMethod(
        "clip4videocap",
        # "caption": Eq. 8; "clip": CLIP's InfoNCE, trains the Eq. 6 teacher where no pretrained CLIP exists
        objectives={stage: {"train_stage": stage} for stage in ("caption", "clip")},
        default_objective="caption",
        tokenizers={
            "tokenizer": _DECODER,
            "text_encoder_tokenizer": TokenizerSlot("encoder", "clip_text_config", "text_encoder",
                                                    "text_encoder_name"),
        },  # fmt: skip
        columns=("intention", "effect", "attribute"),  # V2C targets of the sub-decoders (Eq. 7)
        processor_kwargs={"return_labels": True},
        lora_prefix="language_model",
        tiny_recipe="clip4videocap-synthetic-tiny",
    ),
    svad_vlm=TrainingMethod(
        "svad_vlm",
        objectives=_loss_term_objectives(("description", "keyword"), "use_{}_loss"),  # Ld, Lk of Eq. 10
        default_objective="description+keyword",
        tokenizers={"tokenizer": _DECODER},
        columns=("keywords", "data_source", "sample_seed"),
        processor_kwargs={"return_labels": True},
        lora_prefix="language_model",
        tiny_recipe="svad-vlm-synthetic-tiny",
        prompts={"description_prompt": SVAD_DESCRIPTION_PROMPT, "keyword_prompt": SVAD_KEYWORD_PROMPT},
    ),
)


def _transdcs_input(row: dict, load_frames: Callable[[dict], Any]) -> dict[str, Any]:
    from videotext.experts import load_expert_input

    return load_expert_input(row, load_frames)


def _transdcs_dataset(dataset, recipe: dict):
    from videotext.experts import prepare_expert_dataset

    return prepare_expert_dataset(dataset, recipe)


TRAINING_METHODS.update(
    transdcs=TrainingMethod(
        "transdcs",
        objectives={"max_margin": {}},  # the bidirectional max-margin ranking loss (MMT)
        default_objective="max_margin",
        tokenizers={"tokenizer": TokenizerSlot("encoder", "text_config", "text")},
        model_kwargs={"return_loss": True},
        input_loader=_transdcs_input,
        prepare_dataset=_transdcs_dataset,
        tiny_recipe="transdcs-synthetic-tiny",
    ),
)
