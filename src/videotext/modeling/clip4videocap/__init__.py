"""CLIP4VideoCap (CLIP frames, multi-scale temporal fusion, Vis2Text distillation, commonsense sub-decoders, LLM
decoder). This folder is the method's Hub code."""

from .configuration_clip4videocap import Clip4VideoCapConfig
from .modeling_clip4videocap import (
    Clip4VideoCapForConditionalGeneration,
    Clip4VideoCapGenerationOutput,
    Clip4VideoCapOutput,
    Clip4VideoCapPreTrainedModel,
)
from .processing_clip4videocap import Clip4VideoCapProcessor
from .video_processing_clip4videocap import Clip4VideoCapVideoProcessor

__all__ = [
    "Clip4VideoCapConfig",
    "Clip4VideoCapForConditionalGeneration",
    "Clip4VideoCapGenerationOutput",
    "Clip4VideoCapOutput",
    "Clip4VideoCapPreTrainedModel",
    "Clip4VideoCapProcessor",
    "Clip4VideoCapVideoProcessor",
]
