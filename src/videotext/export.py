"""Save a model and its processor as a Hub folder: weights, config, processor, tokenizer(s) and the method's code."""

from __future__ import annotations

from pathlib import Path

__all__ = ["save_hub_folder"]


def save_hub_folder(model, processor, out_dir: str | Path) -> Path:
    """`save_pretrained` of `model` and `processor` into `out_dir` with `auto_map` entries for every Auto class the
    method registers, so `Auto*.from_pretrained(out_dir, trust_remote_code=True)` loads it without videotext."""
    from videotext.modeling import method_for_config

    entry = method_for_config(model.config)
    out = Path(out_dir)
    model.config.register_for_auto_class()
    model.register_for_auto_class(entry.auto_class)
    processor.register_for_auto_class("AutoProcessor")
    video_processor = getattr(processor, "video_processor", None)
    if video_processor is not None:
        video_processor.register_for_auto_class("AutoVideoProcessor")
    model.save_pretrained(str(out))
    processor.save_pretrained(str(out))
    # the task's transformers pipeline (config.json `custom_pipelines`) and a Gradio Space app for it
    from videotext.hub_cards.pipelines import write_pipeline_files
    from videotext.hub_cards.space import write_space_app

    write_pipeline_files(out, entry.task)
    write_space_app(out, entry.task)
    return out
