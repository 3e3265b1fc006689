"""The Hub side of videotext: model and dataset cards, `videotext export` and `videotext push`.

```python
from videotext.hub_cards import export_model, push_model, render_model_card
export_model("runs/tiny", "hub/tiny")                    # clean Hub folder with README.md (the model card)
push_model("runs/tiny", "my-org/tiny-mffcl")             # the same, uploaded in one commit
card = render_model_card("runs/tiny")                    # just the card (huggingface_hub.ModelCard)
```

Card facts that the method table does not carry (paper, citation, backbone roles) live in `facts.py`, keyed by
`model_type`; Hub facts (pipeline tag, tags, widgets) are keyed by the method's task.
"""

from .dataset_card import build_dataset_card, push_dataset_card
from .export import cli_export, cli_push, export_model, hub_error_message, push_model
from .facts import METHOD_FACTS, TASK_FACTS, MethodFacts, method_facts, register_method_facts
from .model_card import (
    DEFAULT_LICENSE,
    HubCardError,
    build_model_card,
    collect_sources,
    eval_results,
    read_metrics_file,
    render_model_card,
)

__all__ = [
    "DEFAULT_LICENSE",
    "METHOD_FACTS",
    "TASK_FACTS",
    "HubCardError",
    "MethodFacts",
    "build_dataset_card",
    "build_model_card",
    "cli_export",
    "cli_push",
    "collect_sources",
    "eval_results",
    "export_model",
    "hub_error_message",
    "method_facts",
    "push_dataset_card",
    "push_model",
    "read_metrics_file",
    "register_method_facts",
    "render_model_card",
]
