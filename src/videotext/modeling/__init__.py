"""Method folders. Each `modeling/<method>/` is a flat folder that is exactly the code pushed to the Hub."""

import importlib
from pathlib import Path

# model_type -> (package, config class, {auto class name: model class}, processor class, video processor class)
METHODS: dict[str, tuple[str, str, dict[str, str], str, str]] = {
    "mffcl": (
        "mffcl",
        "MffclConfig",
        {"AutoModelForImageTextToText": "MffclForConditionalGeneration"},
        "MffclProcessor",
        "MffclVideoProcessor",
    ),
    "dual_align": (
        "dual_align",
        "DualAlignConfig",
        {"AutoModel": "DualAlignModel"},
        "DualAlignProcessor",
        "DualAlignVideoProcessor",
    ),
}

_registered = False


def _load(package: str):
    return importlib.import_module(f"{__name__}.{package}")


def register_auto_classes() -> None:
    """Register every method with AutoConfig, its Auto model classes, AutoProcessor and AutoVideoProcessor."""
    global _registered
    if _registered:
        return
    import transformers
    from transformers import AutoConfig, AutoProcessor
    from transformers.models.auto.video_processing_auto import AutoVideoProcessor

    for model_type, (package, config_name, models, processor_name, video_processor_name) in METHODS.items():
        if not (Path(__file__).parent / package / "__init__.py").exists():
            continue  # a method whose folder has not landed yet
        module = _load(package)
        config_cls = getattr(module, config_name)
        AutoConfig.register(model_type, config_cls, exist_ok=True)
        for auto_name, model_name in models.items():
            getattr(transformers, auto_name).register(config_cls, getattr(module, model_name), exist_ok=True)
        AutoProcessor.register(config_cls, getattr(module, processor_name), exist_ok=True)
        AutoVideoProcessor.register(config_cls, getattr(module, video_processor_name), exist_ok=True)
    _registered = True
