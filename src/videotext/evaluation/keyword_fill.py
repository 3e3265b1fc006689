"""Keyword fill-in accuracy: SVAD-VLM's prompt-guided keyword task (Section 4.2) as a test.

For each clip with a `description` and `keywords`, ONE keyword is blanked: a keyword that occurs exactly once in the
description (so the rest of the text does not repeat it) and, when `visual_words` is given, is one of them (on the
synthetic set: shape, colour, size and motion words, `synthetic.VISUAL_KEYWORDS`). The choice among the candidates is
a fixed function of the clip id. The model gets the clip and the processor's keyword prompt (`keyword_prompt_for`)
and must generate the keyword; the answer is right when its words equal the keyword's (case and punctuation
ignored). Clips without a candidate are counted as `skipped`.

```python
answers = keyword_fill_answers(model, processor, rows, load_frames)  # [(video_id, keyword, answer, right)]
summarize_keyword_fill(answers, len(rows))                         # {"accuracy", "num_clips", "skipped"}
```
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence

import torch

__all__ = ["keyword_blanks", "keyword_fill_answers", "summarize_keyword_fill", "supports_keyword_fill"]


def supports_keyword_fill(processor, rows: Sequence[dict]) -> bool:
    """True for a processor with a keyword prompt and rows with descriptions and keywords."""
    return (
        hasattr(processor, "keyword_prompt_for")
        and bool(rows)
        and all(r.get("description") and r.get("keywords") for r in rows[:1])
    )


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text.lower())


def _count(text: str, keyword: str) -> int:
    """Whole-word, case-insensitive occurrences (the processors' blanking rule)."""
    pattern = r"(?<![\w-])" + re.escape(keyword.strip()) + r"(?![\w-])"
    return len(re.findall(pattern, text, flags=re.IGNORECASE)) if keyword.strip() else 0


def keyword_blanks(rows: Sequence[dict], visual_words=None) -> list[tuple[int, str] | None]:
    """Per row, (row index, blanked keyword) or None when no keyword qualifies."""
    out = []
    for index, row in enumerate(rows):
        text = row.get("description") or ""
        candidates = [
            k
            for k in dict.fromkeys(row.get("keywords") or [])
            if _count(text, k) == 1 and (visual_words is None or k.lower() in visual_words)
        ]
        if not candidates:
            out.append(None)
            continue
        pick = zlib.crc32(str(row.get("video_id", index)).encode("utf-8")) % len(candidates)
        out.append((index, candidates[pick]))
    return out


@torch.no_grad()
def keyword_fill_answers(
    model,
    processor,
    rows: Sequence[dict],
    load_frames: Callable[[dict], object],
    *,
    visual_words=None,
    batch_size: int = 16,
    max_new_tokens: int = 6,
) -> list[tuple[str, str, str, bool]]:
    """(video id, blanked keyword, generated answer, right) for every clip with a blank (module docstring)."""
    blanks = [b for b in keyword_blanks(rows, visual_words) if b is not None]
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    answers = []
    for start in range(0, len(blanks), batch_size):
        chunk = blanks[start : start + batch_size]
        prompts = [processor.keyword_prompt_for(rows[i]["description"], k) for i, k in chunk]
        inputs = processor(videos=[load_frames(rows[i]) for i, _ in chunk], text=prompts, return_tensors="pt")
        inputs = {k: v.to(device, dtype=dtype) if v.is_floating_point() else v.to(device) for k, v in inputs.items()}
        ids = model.generate(**inputs, max_new_tokens=max_new_tokens, num_beams=1, do_sample=False)
        answers += processor.batch_decode(ids, skip_special_tokens=True)
    return [(str(rows[i].get("video_id", i)), k, a, _words(a) == _words(k)) for (i, k), a in zip(blanks, answers)]


def summarize_keyword_fill(answers: Sequence[tuple], num_rows: int) -> dict:
    """{"accuracy": share of right answers, "num_clips": clips with a blank, "skipped": clips without one}."""
    right = [a[3] for a in answers]
    return {"accuracy": sum(right) / len(right) if right else 0.0, "num_clips": len(right),
            "skipped": num_rows - len(right)}  # fmt: skip
