"""Dual-alignment video-text retriever (TimeSformer + DistilBERT; global + noun/verb fine-grained alignment).

This flat folder is exactly the code exported to the Hub (`register_for_auto_class` + `save_pretrained`).
"""

from .configuration_dual_align import DualAlignConfig
from .modeling_dual_align import DualAlignModel, DualAlignOutput, DualAlignPreTrainedModel
from .processing_dual_align import DualAlignProcessor
from .video_processing_dual_align import DualAlignVideoProcessor

__all__ = [
    "DualAlignConfig",
    "DualAlignModel",
    "DualAlignOutput",
    "DualAlignPreTrainedModel",
    "DualAlignProcessor",
    "DualAlignVideoProcessor",
]
