"""MFFCL (TimeSformer + contrastive learning + GPT-2 prefix captioning). This folder is the method's Hub code."""

from .configuration_mffcl import MffclConfig
from .modeling_mffcl import MffclForConditionalGeneration, MffclOutput, MffclPreTrainedModel
from .processing_mffcl import MffclProcessor
from .video_processing_mffcl import MffclVideoProcessor

__all__ = [
    "MffclConfig",
    "MffclForConditionalGeneration",
    "MffclOutput",
    "MffclPreTrainedModel",
    "MffclProcessor",
    "MffclVideoProcessor",
]
