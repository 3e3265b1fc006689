"""Evaluation: coco-caption captioning metrics, retrieval metrics, and local `evaluate` modules.

```python
from videotext.evaluation import caption_metrics, retrieval_metrics, metric_path

caption_metrics({"v1": "a man is cooking"}, {"v1": ["a man cooks food", "someone is cooking"]})
retrieval_metrics(similarity, text_to_video, dsl=True)

import evaluate
metric = evaluate.load(metric_path("caption"))   # works offline
metric.compute(predictions=["a man is cooking"], references=[["a man cooks food"]])
```

Importing this package is light: numpy only (pycocoevalcap is imported when `caption_metrics` runs).
"""

from __future__ import annotations

from pathlib import Path

from .caption import CAPTION_METRIC_KEYS, caption_metrics, java_available
from .retrieval import RETRIEVAL_RECALL_KS, dual_softmax, retrieval_metrics

__all__ = [
    "CAPTION_METRIC_KEYS",
    "RETRIEVAL_RECALL_KS",
    "caption_metrics",
    "dual_softmax",
    "flat_metrics",
    "java_available",
    "metric_path",
    "retrieval_metrics",
]

_METRICS_DIR = Path(__file__).resolve().parent / "metrics"
_METRIC_NAMES = ("caption", "retrieval")


def metric_path(name: str) -> str:
    """Folder of the local `evaluate` module ``"caption"`` or ``"retrieval"``, for ``evaluate.load(...)``.

    ``evaluate.load(metric_path("caption"))`` -> ``compute(predictions=list[str], references=list[list[str]])``;
    ``evaluate.load(metric_path("retrieval"))`` -> ``compute(similarity=(num_texts, num_videos) rows,
    text_to_video=list[int], dsl=False)``. Both load offline (no Hub access).
    """
    key = name.removeprefix("videotext_")
    if key not in _METRIC_NAMES:
        raise ValueError(f"unknown metric {name!r}; choose from {list(_METRIC_NAMES)}")
    return str(_METRICS_DIR / f"videotext_{key}")


def flat_metrics(metrics: dict, prefix: str = "") -> dict[str, float]:
    """Nested metrics -> {"a/b": number} (strings and lists left out): what trackers log and `videotext eval` prints."""
    flat = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_metrics(value, f"{name}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[name] = value
    return flat
