"""Training: the Accelerate loop (`videotext train`), YAML recipes, LoRA on the LLM decoder, LR schedules,
datasets/collators and caption tokenizers. Heavy imports happen inside the functions."""

from __future__ import annotations

from .recipes import RecipeError, list_recipes, load_recipe

__all__ = ["RecipeError", "cli_train", "list_recipes", "load_recipe", "train"]


def train(*args, **kwargs):
    """See `videotext.training.loop.train`."""
    from .loop import train as _train

    return _train(*args, **kwargs)


def cli_train(args) -> int:
    """Entry point of `videotext train` (see `videotext.training.loop.cli_train`)."""
    from .loop import cli_train as _cli_train

    return _cli_train(args)
