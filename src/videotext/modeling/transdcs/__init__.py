"""TransDCS video-text retriever (MMT-style expert transformer with Multi-head Conv-Self-Attention and augmented
shortcuts; weight-free expert extractors from raw video).

This flat folder is exactly the code exported to the Hub (`register_for_auto_class` + `save_pretrained`).
"""

from .configuration_transdcs import TransDcsConfig
from .expert_extraction_transdcs import EXPERT_KINDS, WEIGHT_FREE_EXPERTS, expert_dim
from .modeling_transdcs import TransDcsModel, TransDcsOutput, TransDcsPreTrainedModel, score_embeddings
from .processing_transdcs import TransDcsProcessor
from .video_processing_transdcs import TransDcsVideoProcessor

__all__ = [
    "EXPERT_KINDS",
    "WEIGHT_FREE_EXPERTS",
    "TransDcsConfig",
    "TransDcsModel",
    "TransDcsOutput",
    "TransDcsPreTrainedModel",
    "TransDcsProcessor",
    "TransDcsVideoProcessor",
    "expert_dim",
    "score_embeddings",
]
