"""videotext: Hugging Face-native video captioning and video-text retrieval.

`import videotext` registers every method with transformers' Auto classes, so that
`AutoConfig`, `AutoModel`, `AutoModelForImageTextToText` and `AutoProcessor` resolve the
`model_type`s `mffcl`, `dual_align`, ... without `trust_remote_code`.
"""

__version__ = "0.1.0"

from .modeling import register_auto_classes

register_auto_classes()

__all__ = ["__version__", "register_auto_classes"]
