"""Fact accuracy of captions on the synthetic benchmark (`videotext synth`): did a caption name the right shape,
colour, size and the two events in the right order? CIDEr cannot tell.

```python
truths = synthetic_truths_for(test_rows)          # None when the split is not a synthetic one
synthetic_caption_facts(predictions, truths)      # {"shape": .., "colour": .., "size": .., "first_event": ..,
                                                  #  "second_event": .., "events_in_order": .., "num_clips": N}
```

A truth is ``{"shape", "colour", "size", "events": [e1, e2]}``; an event is an EVENT_KINDS name or
``("colour", target)`` (the generator's spec form; the ``{"type", "to"}`` json form is accepted too), so a
``build_specs`` spec is itself a truth.

Parsing rule (every paraphrase of the generator's vocabulary counts):

1. Event phrases (finite and gerund forms of every PHRASES option, colour changes with each target) are found
   left to right, longest phrase first; their words are then ignored for the attributes, so "turns blue" or
   "after changing colour to blue, a red ..." never count as the object's colour.
2. Shape / colour / size: the FIRST remaining shape word (noun or SHAPE_ADJECTIVE), colour word and size word
   (SIZE_SYNONYMS) is the one judged. The moving object comes first in every generator caption and the still
   second object last, so "a red star next to a blue circle" is right for a red star, while a caption that
   names a wrong shape before the right one is wrong.
3. Events: the first two event mentions are judged. ``first_event`` / ``second_event``: the true event is one
   of them (wherever it is); ``events_in_order``: both are, in the true temporal order. Temporal order is the
   order of mention, except that an event right after "after" ("X after moving left", "after moving left, X")
   happened first and an event right after "before" happened second. So swapping the events breaks only
   ``events_in_order``.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from videotext.datasets_scripts.synthetic import COLOURS, PHRASES, SHAPE_ADJECTIVE, SHAPES, SIZE_SYNONYMS, SIZES

__all__ = ["FACT_KEYS", "synthetic_caption_facts", "synthetic_truth", "synthetic_truths_for"]

FACT_KEYS = ("shape", "colour", "size", "first_event", "second_event", "events_in_order")
ANNOTATIONS_FILE = "synthetic_annotations.json"

_SHAPE_WORD = {**{s: s for s in SHAPES}, **{adj: s for s, adj in SHAPE_ADJECTIVE.items()}}
_SIZE_WORD = {w: size for size, words in SIZE_SYNONYMS.items() for w in words}
_COLOUR_WORD = {c: c for c in COLOURS}


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z]+(?:-[a-z]+)*", text.lower())  # keeps "cross-shaped" whole


def _event_key(event):
    """Generator tuple, json list or ``{"type", "to"}`` dict -> ``"left"`` or ``("colour", "blue")``."""
    if isinstance(event, dict):
        return ("colour", event["to"]) if event["type"] == "colour" else event["type"]
    if isinstance(event, (list, tuple)):
        return (event[0], event[1])
    return event


def _event_phrases() -> dict[tuple[str, ...], object]:
    """Token tuple of every finite / gerund phrase option (colour changes expanded per target) -> event."""
    out = {}
    for kind, options in PHRASES.items():
        for option in options:
            for text in option[:2]:
                for c in COLOURS if "{c}" in text else [""]:
                    out[tuple(_tokens(text.format(c=c)))] = ("colour", c) if c else kind
    return out


_EVENT_PHRASES = _event_phrases()
_MAX_PHRASE = max(map(len, _EVENT_PHRASES))


def _parse(caption: str) -> dict:
    toks = _tokens(caption)
    mentions, used, i = [], set(), 0
    while i < len(toks):
        for n in range(min(_MAX_PHRASE, len(toks) - i), 0, -1):  # longest first: "spins around" is one mention
            event = _EVENT_PHRASES.get(tuple(toks[i : i + n]))
            if event is not None:
                mentions.append((i, event))
                used.update(range(i, i + n))
                i += n
                break
        else:
            i += 1
    rest = [t for k, t in enumerate(toks) if k not in used]
    first = {
        name: next((table[t] for t in rest if t in table), None)
        for name, table in (("shape", _SHAPE_WORD), ("colour", _COLOUR_WORD), ("size", _SIZE_WORD))
    }
    ordered = [e for _, e in mentions[:2]]
    if len(mentions) >= 2:
        (i1, _), (i2, _) = mentions[:2]
        if toks[i2 - 1] == "after" or (i1 > 0 and toks[i1 - 1] == "before"):
            ordered.reverse()
    return {**first, "events": ordered}


def synthetic_caption_facts(predictions: list[str], truths: list[dict]) -> dict[str, float]:
    """Share (0..1) of clips whose caption names the right shape / colour / size / first event / second event /
    both events in order (module docstring for the rule), and ``num_clips``."""
    if len(predictions) != len(truths):
        raise ValueError(f"{len(predictions)} predictions for {len(truths)} truths")
    if not predictions:
        raise ValueError("predictions is empty: nothing to evaluate")
    hits = np.zeros((len(predictions), len(FACT_KEYS)), bool)
    for row, (caption, truth) in enumerate(zip(predictions, truths)):
        got = _parse(caption)
        e1, e2 = (_event_key(e) for e in truth["events"])
        hits[row] = (
            got["shape"] == truth["shape"],
            got["colour"] == truth["colour"],
            got["size"] == truth["size"],
            e1 in got["events"],
            e2 in got["events"],
            got["events"] == [e1, e2],
        )
    return {**dict(zip(FACT_KEYS, map(float, hits.mean(0)))), "num_clips": len(predictions)}


def synthetic_truth(video: dict) -> dict:
    """Truth of one clip from its ``synthetic_annotations.json`` ``"videos"`` entry: ``events`` in order, and the
    ``attribute`` list, which the generator writes as [colour, size, SHAPE_ADJECTIVE[shape]] (matched by vocabulary,
    not position). The adjectives are distinct, so the shape is exact."""
    attrs = video["attribute"]
    found = {
        name: [table[a] for a in attrs if a in table]
        for name, table in (("shape", _SHAPE_WORD), ("colour", _COLOUR_WORD), ("size", {s: s for s in SIZES}))
    }
    if any(len(v) != 1 for v in found.values()) or len(video["events"]) != 2:
        raise ValueError(f"not a synthetic ground truth: attribute {attrs}, events {video['events']}")
    return {**{k: v[0] for k, v in found.items()}, "events": [_event_key(e) for e in video["events"]]}


def synthetic_truths_for(rows, annotations=None) -> list[dict] | None:
    """Truths for a split, in row order, or None when it is not a synthetic split (no annotations file, or a clip
    without ground truth in it).

    Args:
        rows: prepared rows (dicts with ``video_id`` and ``video_path``; a `datasets.Dataset` works) or video ids.
        annotations: the synthetic folder D, its ``synthetic_annotations.json`` or that file loaded; default: found
            from the first row's ``video_path`` (``D/TrainValVideo/x.mp4`` or ``D/TestVideo/x.mp4``).
    """
    rows = list(rows)
    ids = [r if isinstance(r, str) else r["video_id"] for r in rows]
    if annotations is None:
        if not rows or isinstance(rows[0], str) or not rows[0].get("video_path"):
            return None
        annotations = Path(rows[0]["video_path"]).parent.parent
    if isinstance(annotations, (str, os.PathLike)):
        path = Path(annotations)
        path = path / ANNOTATIONS_FILE if path.is_dir() else path
        if not path.is_file():
            return None
        annotations = json.loads(path.read_text(encoding="utf-8"))
    videos = annotations.get("videos") if isinstance(annotations, dict) else None
    entries = [videos.get(v) if isinstance(videos, dict) else None for v in ids]
    if not all(isinstance(e, dict) and "events" in e and "attribute" in e for e in entries):
        return None
    return [synthetic_truth(e) for e in entries]
