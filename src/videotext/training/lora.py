"""LoRA (peft) on a captioner's LLM decoder only.

The adapter targets the exact module names of every `nn.Linear` and transformers `Conv1D` (GPT-2's
projections) under the `language_model.` attribute, so nothing in the video encoder, the mapping network or
the BERT text encoder is adapted (peft's suffix matching of short names like `q_proj` would also hit other
towers; full names cannot). The output head (`lm_head`, tied to the input embeddings in GPT-2) is left out
unless `include_lm_head=True`: a low-rank update of a tied head would silently untie it.

After training, `save_lora` writes the adapter to `OUT/adapter` (adapter_config.json +
adapter_model.safetensors) and returns the merged model (`merge_and_unload`), a plain model of the method's
class with no LoRA parameters, which the loop saves to `OUT` as the exportable Hub folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
from torch import nn

__all__ = [
    "LLM_PREFIX",
    "apply_lora",
    "llm_linear_module_names",
    "save_lora",
    "strip_peft_prefix",
    "trainable_parameter_names",
]

LLM_PREFIX = "language_model."
_PEFT_PREFIX = "base_model.model."


def _is_linear(module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return True
    try:
        from transformers.pytorch_utils import Conv1D
    except ImportError:  # pragma: no cover
        return False
    return isinstance(module, Conv1D)


def strip_peft_prefix(name: str) -> str:
    """`base_model.model.language_model.x` -> `language_model.x` (names as in the unwrapped model)."""
    return name[len(_PEFT_PREFIX) :] if name.startswith(_PEFT_PREFIX) else name


def llm_linear_module_names(model: nn.Module, prefix: str = LLM_PREFIX, include_lm_head: bool = False) -> list[str]:
    """Full names of every Linear / Conv1D module under `prefix` (the LLM decoder)."""
    lm = getattr(model, prefix.rstrip("."), None)
    if lm is None:
        raise ValueError(
            f"{type(model).__name__} has no `{prefix.rstrip('.')}` attribute: LoRA needs the LLM decoder there"
        )
    head = None
    if not include_lm_head and hasattr(lm, "get_output_embeddings"):
        head = lm.get_output_embeddings()
    names = [
        f"{prefix}{name}"
        for name, module in lm.named_modules()
        if name and _is_linear(module) and (head is None or module is not head)
    ]
    if not names:
        raise ValueError(f"no nn.Linear / Conv1D module under `{prefix}` to adapt")
    return names


def apply_lora(
    model: nn.Module,
    prefix: str = LLM_PREFIX,
    r: int = 8,
    alpha: float = 16,
    dropout: float = 0.05,
    include_lm_head: bool = False,
    modules_to_save: Iterable[str] | None = None,
    train_non_llm: bool = False,
):
    """Wrap `model` in a `peft.PeftModel` with LoRA on the LLM decoder's linear layers.

    peft freezes every base parameter (only LoRA matrices train, the default); with `train_non_llm=True` those outside `language_model.`
    (video encoder, mapping network, text encoder) are made trainable again so that a recipe's stages can
    train or freeze them by regex; the LLM itself is trained only through its LoRA matrices.
    """
    from peft import LoraConfig, get_peft_model

    prefix = prefix if prefix.endswith(".") else f"{prefix}."
    targets = llm_linear_module_names(model, prefix=prefix, include_lm_head=include_lm_head)
    if not getattr(model, "name_or_path", None):
        # peft copies this into adapter_config.json; a model built from a config has none
        model.name_or_path = getattr(model.config, "_name_or_path", "") or type(model).__name__
    modules = dict(model.named_modules())
    conv1d = [type(modules[t]).__name__ == "Conv1D" for t in targets]
    config = LoraConfig(
        r=int(r),
        fan_in_fan_out=all(conv1d),  # GPT-2's Conv1D stores weights transposed
        lora_alpha=alpha,
        lora_dropout=float(dropout),
        target_modules=targets,
        modules_to_save=list(modules_to_save) if modules_to_save else None,
    )
    peft_model = get_peft_model(model, config)
    if train_non_llm:
        for name, param in peft_model.named_parameters():
            plain = strip_peft_prefix(name)
            if not plain.startswith(prefix) and "lora_" not in plain and param.is_floating_point():
                param.requires_grad_(True)
    return peft_model


def trainable_parameter_names(model: nn.Module, strip_prefix: bool = True) -> list[str]:
    """Names of the parameters with `requires_grad`, without peft's `base_model.model.` prefix."""
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    return [strip_peft_prefix(n) for n in names] if strip_prefix else names


def is_peft_model(model: nn.Module) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, PeftModel)


def save_lora(peft_model, output_dir: str | os.PathLike, is_main_process: bool = True) -> nn.Module:
    """Save the adapter to `output_dir/adapter`, then merge it; returns the merged plain model."""
    adapter_dir = os.path.join(os.fspath(output_dir), "adapter")
    if is_main_process:
        peft_model.save_pretrained(adapter_dir)
    with torch.no_grad():
        merged = peft_model.merge_and_unload()
    return merged
