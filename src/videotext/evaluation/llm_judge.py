"""LLM-judged description quality (SVAD-VLM Table 4, after Video-ChatGPT): correctness, detail, temporal and context
scores from 0 to 5 given by a judge language model that compares a generated description with the reference.

The judge is pluggable: any callable `prompt -> answer text` with a `name` attribute (or a plain function, named by
its `__name__`); `LocalCausalLMJudge(path)` wraps any local transformers causal LM (greedy decoding, the tokenizer's
chat template when it has one). The prompts are `JUDGE_PROMPTS` below (one per criterion, Video-ChatGPT's wording
adapted to description without a question). The answer is parsed leniently (`parse_score`): a `{"score": N}` /
`'score': N` dict, "score: N", "N/5" or a lone number, all within [0, 5]; anything else is MALFORMED: counted per
criterion in `malformed` and left out of that criterion's mean, never an error. The judge's name is recorded with
the scores.

```python
scores = llm_judge_scores(predictions, references, LocalCausalLMJudge("path/to/lm"))
# {"judge": "...", "correctness": 2.4, "detail": ..., "temporal": ..., "context": ..., "mean": ...,
#  "malformed": {"correctness": 0, ...}, "num_clips": N}
```
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

__all__ = ["CRITERIA", "JUDGE_PROMPTS", "LocalCausalLMJudge", "llm_judge_scores", "parse_score"]

CRITERIA = ("correctness", "detail", "temporal", "context")

_HEAD = (
    "You are an intelligent chatbot designed for evaluating generative outputs for video descriptions. "
    "You compare a predicted description of a short video with the correct (reference) description.\n"
)
_TAIL = (
    "\nReference description: {reference}\nPredicted description: {prediction}\n"
    "Provide your evaluation only as an integer score between 0 and 5, where 5 indicates the highest level, in the "
    "form of a Python dictionary string with the key 'score', e.g. {{'score': 3}}. Do not give any other text.\n"
)
JUDGE_PROMPTS: Mapping[str, str] = {
    "correctness": _HEAD
    + "Evaluate the factual accuracy of the prediction: it must not contradict the reference nor state what the "
    "reference does not support (subjects, objects, attributes, actions)." + _TAIL,
    "detail": _HEAD
    + "Evaluate the detail orientation of the prediction: does it cover the reference's points and give the "
    "specific visual details (appearance, colours, clothing, products) instead of generic words?" + _TAIL,
    "temporal": _HEAD
    + "Evaluate the temporal understanding of the prediction: are the movements and events described in the same "
    "order as in the reference?" + _TAIL,
    "context": _HEAD
    + "Evaluate the contextual understanding of the prediction: does it agree with the overall context and scene "
    "of the reference, without irrelevant or out-of-place content?" + _TAIL,
}

_PATTERNS = (
    re.compile(r"""["']?score["']?\s*[:=]\s*["']?(\d+(?:\.\d+)?)"""),
    re.compile(r"(\d+(?:\.\d+)?)\s*(?:/|out of)\s*5\b"),
    re.compile(r"^\s*[{(\[]?\s*(\d+(?:\.\d+)?)\s*[})\]]?\s*\.?\s*$"),
)


def parse_score(answer: str) -> float | None:
    """The 0-5 score in a judge's answer, or None when the answer is malformed (module docstring)."""
    if not isinstance(answer, str):
        return None
    text = answer.strip().lower()
    for pattern in _PATTERNS:
        match = pattern.search(text)
        if match:
            value = float(match.group(1))
            return value if 0.0 <= value <= 5.0 else None
    return None


class LocalCausalLMJudge:
    """A local causal LM (folder or cached Hub id) as the judge: greedy answer to each prompt."""

    def __init__(self, model_path: str, max_new_tokens: int = 16, device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.name = str(model_path)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModelForCausalLM.from_pretrained(model_path).eval()
        self.model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.max_new_tokens = max_new_tokens

    def __call__(self, prompt: str) -> str:
        import torch

        tok = self.tokenizer
        if getattr(tok, "chat_template", None):
            prompt = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)  # fmt: skip
        inputs = tok(prompt, return_tensors="pt", add_special_tokens=not getattr(tok, "chat_template", None))
        inputs = {k: v.to(self.model.device) for k, v in inputs.items()}
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        with torch.no_grad():
            out = self.model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False, pad_token_id=pad)
        return tok.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)


def llm_judge_scores(
    predictions: Mapping[str, str] | Sequence[str],
    references: Mapping[str, Sequence[str] | str] | Sequence[Sequence[str] | str],
    judge: Callable[[str], str],
    criteria: Sequence[str] = CRITERIA,
) -> dict:
    """Mean judge score per criterion over the clips (first reference of each), their mean, malformed counts."""
    if isinstance(predictions, Mapping):
        keys = list(predictions)
        missing = [k for k in keys if k not in references]
        if missing:
            raise ValueError(f"llm judge: no reference for {missing[:5]}")
        pairs = [(predictions[k], references[k]) for k in keys]
    else:
        if len(predictions) != len(references):
            raise ValueError(f"llm judge: {len(predictions)} predictions but {len(references)} references")
        pairs = list(zip(predictions, references))
    unknown = [c for c in criteria if c not in JUDGE_PROMPTS]
    if unknown:
        raise ValueError(f"llm judge: unknown criteria {unknown} (known: {list(JUDGE_PROMPTS)})")
    scores: dict[str, list[float]] = {c: [] for c in criteria}
    malformed = {c: 0 for c in criteria}
    for prediction, reference in pairs:
        reference = reference if isinstance(reference, str) else (list(reference) or [""])[0]
        for criterion in criteria:
            value = parse_score(judge(JUDGE_PROMPTS[criterion].format(reference=reference, prediction=prediction)))
            if value is None:
                malformed[criterion] += 1
            else:
                scores[criterion].append(value)
    out: dict = {"judge": getattr(judge, "name", None) or getattr(judge, "__name__", type(judge).__name__)}
    means = {c: sum(v) / len(v) if v else None for c, v in scores.items()}
    out.update(means)
    known = [m for m in means.values() if m is not None]
    out["mean"] = sum(known) / len(known) if known else None
    out["malformed"] = malformed
    out["num_clips"] = len(pairs)
    return out
