"""Captioning metrics with the coco-caption protocol (``pycocoevalcap``).

The protocol (``pycocoevalcap/eval.py``, used by every video-captioning paper that reports
BLEU/METEOR/ROUGE-L/CIDEr on MSR-VTT, MSVD, VATEX, ...):

1. both the references (``gts``) and the predictions (``res``) are put in the form
   ``{id: [{"caption": str}, ...]}`` and tokenized with the Stanford ``PTBTokenizer``
   (lower-cased, punctuation removed);
2. the tokenized dicts are scored with ``Bleu(4)``, ``Meteor()``, ``Rouge()`` and ``Cider()``.

The numbers returned here are the corpus-level scores of those scorers, on pycocoevalcap's own
scale (BLEU/METEOR/ROUGE-L in [0, 1]; CIDEr is usually in [0, 10] and can exceed 1), and are
identical to calling pycocoevalcap directly. Multiply by 100 for the "paper" scale.

Java is required (the PTB tokenizer and METEOR are Java programs).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable, Mapping

__all__ = ["CAPTION_METRIC_KEYS", "caption_metrics", "java_available"]

CAPTION_METRIC_KEYS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")
_BLEU_KEYS = CAPTION_METRIC_KEYS[:4]

# Characters that the Java PTBTokenizer (``-preserveLines``) treats as line breaks. pycocoevalcap writes one
# caption per line and replaces only "\n", so any of these inside a caption silently shifts every following
# caption onto the wrong id. We replace them by a space (the tokenizer treats a space the same way, so captions
# without them are passed through byte-for-byte unchanged).
_LINE_BREAKS = {ord(c): " " for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}

JAVA_MISSING_MESSAGE = (
    "caption_metrics needs Java (java not found on PATH) for the PTB tokenizer and METEOR of pycocoevalcap; "
    "install a JRE, e.g. `apt-get install default-jre-headless` (Debian/Ubuntu) or `conda install openjdk`."
)


def java_available() -> bool:
    """True when a ``java`` executable is on ``PATH`` (what pycocoevalcap's ``subprocess`` calls use)."""
    return shutil.which("java") is not None


def _validate(
    predictions: Mapping[str, str], references: Mapping[str, Iterable[str]]
) -> tuple[list[str], dict[str, list[str]]]:
    if not isinstance(predictions, Mapping):
        raise ValueError(f"predictions must be a dict {{video_id: caption}}, got {type(predictions).__name__}")
    if not isinstance(references, Mapping):
        raise ValueError(f"references must be a dict {{video_id: [caption, ...]}}, got {type(references).__name__}")
    if len(predictions) == 0:
        raise ValueError("predictions is empty: nothing to evaluate")
    pred_ids, ref_ids = set(predictions), set(references)
    if pred_ids != ref_ids:
        missing = sorted(map(str, ref_ids - pred_ids))
        extra = sorted(map(str, pred_ids - ref_ids))
        parts = []
        if missing:
            parts.append(f"ids without a prediction: {_preview(missing)}")
        if extra:
            parts.append(f"ids without references: {_preview(extra)}")
        raise ValueError("predictions and references must have the same video ids; " + "; ".join(parts))
    ids = list(predictions)
    refs: dict[str, list[str]] = {}
    for vid in ids:
        pred = predictions[vid]
        if not isinstance(pred, str):
            raise ValueError(f"prediction for video id {vid!r} must be a string, got {type(pred).__name__}")
        ref = references[vid]
        if isinstance(ref, str) or not isinstance(ref, Iterable):
            raise ValueError(f"references for video id {vid!r} must be a list of strings, got {type(ref).__name__}")
        ref = list(ref)
        if len(ref) == 0:
            raise ValueError(f"references for video id {vid!r} is empty: every video needs at least one reference")
        for r in ref:
            if not isinstance(r, str):
                raise ValueError(f"references for video id {vid!r} must contain strings only, got {type(r).__name__}")
        refs[vid] = ref
    return ids, refs


def _preview(items: list[str], n: int = 10) -> str:
    shown = ", ".join(repr(i) for i in items[:n])
    return shown + (f", ... ({len(items)} in total)" if len(items) > n else "")


def _resolve_metrics(metrics: Iterable[str] | str | None) -> list[str]:
    if metrics is None:
        return list(CAPTION_METRIC_KEYS)
    if isinstance(metrics, str):
        metrics = [metrics]
    wanted: list[str] = []
    for m in metrics:
        if m == "BLEU":  # convenience alias for BLEU-1..4
            wanted.extend(_BLEU_KEYS)
        elif m in CAPTION_METRIC_KEYS:
            wanted.append(m)
        else:
            raise ValueError(f"unknown caption metric {m!r}; choose from {list(CAPTION_METRIC_KEYS)} (or 'BLEU')")
    if not wanted:
        raise ValueError("metrics is empty; choose from " + str(list(CAPTION_METRIC_KEYS)))
    return [k for k in CAPTION_METRIC_KEYS if k in wanted]


def _close_meteor(meteor) -> None:
    """Shut the METEOR JVM down now (pycocoevalcap only does it in ``__del__``, i.e. whenever GC runs)."""
    proc = getattr(meteor, "meteor_p", None)
    if proc is None:
        return
    lock = getattr(meteor, "lock", None)
    if lock is not None:
        lock.acquire()
    try:
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                try:
                    stream.close()
                except OSError:
                    pass
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    finally:
        if lock is not None:
            lock.release()


def caption_metrics(
    predictions: Mapping[str, str],
    references: Mapping[str, Iterable[str]],
    *,
    metrics: Iterable[str] | str | None = None,
) -> dict[str, float]:
    """Score generated captions with the coco-caption protocol.

    Args:
        predictions: ``{video_id: generated caption}``, one caption per video.
        references: ``{video_id: [reference caption, ...]}``; same ids as ``predictions``, at least one
            reference per video.
        metrics: optional subset of ``("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr")``
            (``"BLEU"`` selects the four BLEU keys). Skipping METEOR avoids starting its JVM; BLEU-n values
            are unaffected by the selection. Default: all seven.

    Returns:
        ``{"BLEU-1": .., "BLEU-2": .., "BLEU-3": .., "BLEU-4": .., "METEOR": .., "ROUGE-L": .., "CIDEr": ..}``
        (the selected keys), corpus-level, on pycocoevalcap's scale: BLEU, METEOR and ROUGE-L in [0, 1],
        CIDEr (CIDEr-D as implemented by pycocoevalcap's ``Cider``) non-negative and typically > 1 for good
        models. Identical to running ``PTBTokenizer`` + ``Bleu(4)``/``Meteor()``/``Rouge()``/``Cider()`` on
        ``{id: [{"caption": c}]}`` dicts yourself.

    Notes:
        - An empty prediction string is allowed: it tokenizes to an empty sentence that scores 0 for that
          video (it still counts in the corpus averages, and its zero length enters BLEU's brevity penalty).
        - Line-break characters inside captions (``\\r``, ``\\v``, ``\\f``, U+2028, ...) are replaced by spaces
          before tokenization; pycocoevalcap only handles ``\\n`` and would otherwise silently misalign every
          following caption. Captions without them are passed through unchanged.
        - Scores are order-independent (corpus statistics), so the ids' order does not matter.
        - pycocoevalcap's tokenizer writes a temporary file next to its jar (inside site-packages), so that
          folder must be writable.

    Raises:
        ValueError: ids of ``predictions`` and ``references`` differ (the message lists the missing/extra
            ids), a prediction is not a string, or a video has no (or non-string) references.
        RuntimeError: ``java`` is not on ``PATH``.
    """
    ids, refs = _validate(predictions, references)
    wanted = _resolve_metrics(metrics)
    if not java_available():
        raise RuntimeError(JAVA_MISSING_MESSAGE)

    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    gts = {vid: [{"caption": r.translate(_LINE_BREAKS)} for r in refs[vid]] for vid in ids}
    res = {vid: [{"caption": predictions[vid].translate(_LINE_BREAKS)}] for vid in ids}
    tokenizer = PTBTokenizer()
    gts_tok = tokenizer.tokenize(gts)
    res_tok = tokenizer.tokenize(res)
    if set(gts_tok) != set(ids) or set(res_tok) != set(ids):  # defensive: tokenizer output lost lines
        raise RuntimeError("PTBTokenizer returned a different set of ids than it was given; check the captions")

    out: dict[str, float] = {}
    if any(k in wanted for k in _BLEU_KEYS):
        from pycocoevalcap.bleu.bleu import Bleu

        bleu, _ = Bleu(4).compute_score(gts_tok, res_tok, verbose=0)
        for key, value in zip(_BLEU_KEYS, bleu):
            out[key] = float(value)
    if "METEOR" in wanted:
        from pycocoevalcap.meteor.meteor import Meteor

        meteor = Meteor()
        try:
            score, _ = meteor.compute_score(gts_tok, res_tok)
        finally:
            _close_meteor(meteor)
        out["METEOR"] = float(score)
    if "ROUGE-L" in wanted:
        from pycocoevalcap.rouge.rouge import Rouge

        score, _ = Rouge().compute_score(gts_tok, res_tok)
        out["ROUGE-L"] = float(score)
    if "CIDEr" in wanted:
        from pycocoevalcap.cider.cider import Cider

        score, _ = Cider().compute_score(gts_tok, res_tok)
        out["CIDEr"] = float(score)
    return {k: out[k] for k in wanted}
