"""The method table. Each `modeling/<method>/` is a flat folder that is exactly the code pushed to the Hub; an entry
here says where its classes live and what the method does. Everything outside the method folders (training, data,
inference, export, demo, tests) reads this table instead of comparing method names.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["METHODS", "TASKS", "Method", "method_for_config", "register_auto_classes", "register_method"]

TASKS = ("captioning", "retrieval")
AUTO_CLASSES = {"captioning": "AutoModelForImageTextToText", "retrieval": "AutoModel"}


@dataclass(frozen=True)
class Method:
    """One registered method (its `model_type` is the key of `METHODS`)."""

    model_type: str  # the config's `model_type`, e.g. "mffcl"
    module: str  # importable module that exports the classes below, e.g. "videotext.modeling.mffcl"
    config: str  # config class name
    model: str  # model class name
    processor: str  # processor class name
    video_processor: str  # video processor class name
    task: str  # "captioning" (generate) | "retrieval" (get_video_features / get_text_features)

    def __post_init__(self):
        if self.task not in TASKS:
            raise ValueError(f"method {self.model_type!r}: task must be one of {TASKS}, got {self.task!r}")

    @property
    def auto_class(self) -> str:
        """The transformers Auto class the model registers with (and that a Hub folder's `auto_map` names)."""
        return AUTO_CLASSES[self.task]

    def _get(self, name: str):
        return getattr(importlib.import_module(self.module), name)

    @property
    def config_cls(self):
        return self._get(self.config)

    @property
    def model_cls(self):
        return self._get(self.model)

    @property
    def processor_cls(self):
        return self._get(self.processor)

    @property
    def video_processor_cls(self):
        return self._get(self.video_processor)


METHODS: dict[str, Method] = {}


def register_method(method: Method) -> Method:
    """Add (or replace) a method in the table and register it with the Auto classes."""
    METHODS[method.model_type] = method
    _register_with_auto_classes(method)
    return method


def method_for_config(config) -> Method:
    """The table entry of a model config (or a `model_type` string); a clear error for an unregistered one."""
    model_type = config if isinstance(config, str) else getattr(config, "model_type", None)
    if model_type not in METHODS:
        raise ValueError(f"unknown method {model_type!r} (registered: {', '.join(sorted(METHODS))})")
    return METHODS[model_type]


def _register_with_auto_classes(method: Method) -> None:
    import transformers
    from transformers import AutoConfig, AutoProcessor
    from transformers.models.auto.video_processing_auto import AutoVideoProcessor

    config_cls = method.config_cls
    AutoConfig.register(method.model_type, config_cls, exist_ok=True)
    getattr(transformers, method.auto_class).register(config_cls, method.model_cls, exist_ok=True)
    AutoProcessor.register(config_cls, method.processor_cls, exist_ok=True)
    AutoVideoProcessor.register(config_cls, method.video_processor_cls, exist_ok=True)


_BUILT_IN = (
    Method("mffcl", f"{__name__}.mffcl", "MffclConfig", "MffclForConditionalGeneration", "MffclProcessor",
           "MffclVideoProcessor", "captioning"),
    Method("dual_align", f"{__name__}.dual_align", "DualAlignConfig", "DualAlignModel", "DualAlignProcessor",
           "DualAlignVideoProcessor", "retrieval"),
    Method("clip4videocap", f"{__name__}.clip4videocap", "Clip4VideoCapConfig", "Clip4VideoCapForConditionalGeneration",
           "Clip4VideoCapProcessor", "Clip4VideoCapVideoProcessor", "captioning"),
    Method("svad_vlm", f"{__name__}.svad_vlm", "SvadVlmConfig", "SvadVlmForConditionalGeneration", "SvadVlmProcessor",
           "SvadVlmVideoProcessor", "captioning"),
    Method("transdcs", f"{__name__}.transdcs", "TransDcsConfig", "TransDcsModel", "TransDcsProcessor",
           "TransDcsVideoProcessor", "retrieval"),
)  # fmt: skip
for _method in _BUILT_IN:
    METHODS[_method.model_type] = _method

_registered = False


def register_auto_classes() -> None:
    """Register every built-in method with AutoConfig, its Auto model class, AutoProcessor and AutoVideoProcessor."""
    global _registered
    if not _registered:
        for method in list(METHODS.values()):
            _register_with_auto_classes(method)
        _registered = True
