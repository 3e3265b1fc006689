"""MFFCL (TimeSformer + contrastive learning + GPT-2 prefix captioning). This folder is the method's Hub code.

This `__init__` is package glue (not exported to the Hub): besides re-exporting the classes, it registers the video
processor with `AutoVideoProcessor` so that `MffclProcessor.from_pretrained(local_dir)` resolves
`"video_processor_type": "MffclVideoProcessor"` without `trust_remote_code` (the config / model / processor are
registered by `videotext.modeling.register_auto_classes`).
"""

from transformers.models.auto.video_processing_auto import AutoVideoProcessor

from .configuration_mffcl import MffclConfig
from .modeling_mffcl import MffclForConditionalGeneration, MffclOutput, MffclPreTrainedModel
from .processing_mffcl import MffclProcessor
from .video_processing_mffcl import MffclVideoProcessor

AutoVideoProcessor.register(MffclConfig, video_processor_class=MffclVideoProcessor, exist_ok=True)

__all__ = [
    "MffclConfig",
    "MffclForConditionalGeneration",
    "MffclOutput",
    "MffclPreTrainedModel",
    "MffclProcessor",
    "MffclVideoProcessor",
]
