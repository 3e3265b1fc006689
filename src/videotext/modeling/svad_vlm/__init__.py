"""SVAD-VLM (ViT + GMHRA, BLIP-2 Q-Former, dual visual alignment, LLM; description + keyword fill-in tasks). This
folder is the method's Hub code."""

from .configuration_svad_vlm import SvadVlmConfig
from .modeling_svad_vlm import SvadVlmForConditionalGeneration, SvadVlmOutput, SvadVlmPreTrainedModel
from .processing_svad_vlm import SvadVlmProcessor
from .video_processing_svad_vlm import SvadVlmVideoProcessor

__all__ = [
    "SvadVlmConfig",
    "SvadVlmForConditionalGeneration",
    "SvadVlmOutput",
    "SvadVlmPreTrainedModel",
    "SvadVlmProcessor",
    "SvadVlmVideoProcessor",
]
