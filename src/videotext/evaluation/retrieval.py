"""Text-video retrieval metrics (R@K, median and mean rank), CLIP4Clip multi-sentence protocol.

Inputs are a similarity matrix ``similarity[i, j]`` between text ``i`` and video ``j`` (num_texts x num_videos)
and ``text_to_video[i]``, the index of the ground-truth video of text ``i``. Every caption is a query; a video
may own several captions (MSVD ~40, MSR-VTT full test 20).

Ranks are 1-based and ties are broken *pessimistically*: an item scored exactly as the ground truth counts as
ranked above it. So a constant similarity matrix gives every query the worst rank, and a model cannot gain from
ties. (CLIP4Clip's ``compute_metrics`` breaks ties optimistically and its ``argsort`` arbitrarily; with real-valued
model scores ties essentially never happen and the numbers coincide.)

Text-to-video (``t2v_``): for text ``i`` with ground-truth video ``g = text_to_video[i]``::

    rank_i = 1 + #{videos j != g : similarity[i, j] >= similarity[i, g]}

Video-to-text (``v2t_``), ``v2t_protocol="clip4clip"`` (default; ``tensor_video_to_text_sim`` +
``compute_metrics`` of CLIP4Clip's ``metrics.py``): each video ``k``'s captions form one candidate whose score for
query video ``j`` is the best of its captions, ``G[k, j] = max_{t: text_to_video[t] = k} similarity[t, j]``, and::

    rank_j = 1 + #{videos k != j : G[k, j] >= G[j, j]}

i.e. the rank (among videos) of the video's own best caption against the best caption of every other video.
With one caption per video this is the usual rank of the matching text among all texts.

``v2t_protocol="min_text_rank"``: rank all texts by ``similarity[:, j]``; the video's rank is that of its
best-ranked own caption, other videos' captions tied with it counting as above it::

    rank_j = 1 + #{texts t with text_to_video[t] != j : similarity[t, j] >= max_{own u} similarity[u, j]}

This ranks among *texts* (up to num_texts) and so gives lower R@5/10/50 than CLIP4Clip on multi-caption data;
R@1 is the same for both protocols.

Recalls are in **percent** (0-100), as CLIP4Clip and papers report them; ``MdR`` is the median rank (can be a
half-integer), ``MnR`` the mean rank.

DSL (dual softmax, CAMoE; applied at inference by DRL/TS2-Net/X-CLIP style harnesses with ``--DSL``) re-weights
the similarities by a softmax over the *other* modality before ranking::

    t2v:  S' = S * softmax(S / T, axis=0)   # each video's column normalised over texts
    v2t:  S' = S * softmax(S / T, axis=1)   # each text's row normalised over videos

(the peers also multiply by ``len(S)``, a positive constant that does not change ranks). It uses the whole test
set's statistics, so it is not a per-query retrieval score: it is only computed on request and reported under
separate ``dsl_`` keys; the plain keys are always the un-reranked ones. ``T`` (``dsl_temperature``) defaults to 1,
which is what the peers use on CLIP4Clip-style similarities that are already scaled by the logit scale (~100);
for raw cosine similarities pass ``dsl_temperature=0.01``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["RETRIEVAL_RECALL_KS", "dual_softmax", "retrieval_metrics", "text_to_video_ranks", "video_to_text_ranks"]

RETRIEVAL_RECALL_KS = (1, 5, 10, 50)
_V2T_PROTOCOLS = ("clip4clip", "min_text_rank")
# Elements per temporary block (bool/float work arrays stay around 16M entries).
_BLOCK_ELEMENTS = 1 << 24


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch.Tensor, without importing torch
        x = x.detach().cpu()
        if getattr(x, "is_floating_point", lambda: False)() and str(x.dtype) in ("torch.bfloat16", "torch.float16"):
            x = x.float()
        x = x.numpy()
    return np.asarray(x)


def _validate(similarity: Any, text_to_video: Any) -> tuple[np.ndarray, np.ndarray]:
    sim = _to_numpy(similarity)
    if sim.ndim != 2:
        raise ValueError(f"similarity must be a 2-D (num_texts, num_videos) array, got shape {sim.shape}")
    if sim.shape[0] == 0 or sim.shape[1] == 0:
        raise ValueError(f"similarity is empty (shape {sim.shape})")
    if sim.dtype == bool or not (np.issubdtype(sim.dtype, np.floating) or np.issubdtype(sim.dtype, np.integer)):
        raise ValueError(f"similarity must be a real-valued array, got dtype {sim.dtype}")
    if np.issubdtype(sim.dtype, np.floating) and np.isnan(sim).any():
        bad = np.argwhere(np.isnan(sim))[0]
        raise ValueError(f"similarity contains NaN (first at text {int(bad[0])}, video {int(bad[1])})")

    t2v = _to_numpy(text_to_video)
    if t2v.ndim != 1:
        raise ValueError(f"text_to_video must be a 1-D sequence of video indices, got shape {t2v.shape}")
    if t2v.shape[0] != sim.shape[0]:
        raise ValueError(
            f"text_to_video has {t2v.shape[0]} entries but similarity has {sim.shape[0]} rows (texts); "
            "they must be equal"
        )
    if t2v.dtype == bool:
        raise ValueError("text_to_video must hold integer video indices, got booleans")
    if not np.issubdtype(t2v.dtype, np.integer):
        if np.issubdtype(t2v.dtype, np.floating) and np.all(np.isfinite(t2v)) and np.all(t2v == np.round(t2v)):
            t2v = t2v.astype(np.int64)
        else:
            raise ValueError(f"text_to_video must hold integer video indices, got dtype {t2v.dtype}")
    t2v = t2v.astype(np.int64, copy=False)
    num_videos = sim.shape[1]
    out_of_range = np.flatnonzero((t2v < 0) | (t2v >= num_videos))
    if out_of_range.size:
        i = int(out_of_range[0])
        raise ValueError(
            f"text_to_video[{i}] = {int(t2v[i])} is not a video index in [0, {num_videos}) "
            f"({out_of_range.size} out-of-range entries)"
        )
    counts = np.bincount(t2v, minlength=num_videos)
    orphans = np.flatnonzero(counts == 0)
    if orphans.size:
        shown = ", ".join(str(int(v)) for v in orphans[:10]) + (", ..." if orphans.size > 10 else "")
        raise ValueError(
            f"every video needs at least one text: video index(es) {shown} ({orphans.size} in total) have no "
            "text in text_to_video"
        )
    return sim, t2v


def text_to_video_ranks(sim: np.ndarray, t2v: np.ndarray) -> np.ndarray:
    """1-based pessimistic rank of each text's ground-truth video (see module docstring). Inputs pre-validated."""
    n_texts, n_videos = sim.shape
    ranks = np.empty(n_texts, dtype=np.int64)
    block = max(1, _BLOCK_ELEMENTS // n_videos)
    for s in range(0, n_texts, block):
        e = min(n_texts, s + block)
        rows = sim[s:e]
        gt = rows[np.arange(e - s), t2v[s:e]]
        # counts the ground truth itself (hence 1-based) and every tie (pessimistic)
        ranks[s:e] = np.count_nonzero(rows >= gt[:, None], axis=1)
    return ranks


def _group_max(sim: np.ndarray, t2v: np.ndarray) -> np.ndarray:
    """G[k, j] = max over texts t of video k of sim[t, j]; shape (num_videos, num_videos)."""
    n_texts, n_videos = sim.shape
    counts = np.bincount(t2v, minlength=n_videos)
    bounds = np.concatenate(([0], np.cumsum(counts)))  # rows of video k: bounds[k]:bounds[k + 1] in sorted order
    grouped = bool(np.all(t2v[1:] >= t2v[:-1]))  # texts already sorted by video: no gather needed
    order = None if grouped else np.argsort(t2v, kind="stable")
    out = np.empty((n_videos, n_videos), dtype=sim.dtype)
    max_rows = max(1, _BLOCK_ELEMENTS // n_videos)
    k0 = 0
    while k0 < n_videos:  # batches of whole videos, about max_rows text rows each (contiguous row access)
        k1 = max(k0 + 1, int(np.searchsorted(bounds, bounds[k0] + max_rows, side="right")) - 1)
        k1 = min(k1, n_videos)
        r0, r1 = int(bounds[k0]), int(bounds[k1])
        rows = sim[r0:r1] if grouped else sim[order[r0:r1]]
        out[k0:k1] = np.maximum.reduceat(rows, bounds[k0:k1] - r0, axis=0)
        k0 = k1
    return out


def video_to_text_ranks(sim: np.ndarray, t2v: np.ndarray, protocol: str = "clip4clip") -> np.ndarray:
    """1-based pessimistic rank of each video's best own caption (see module docstring). Inputs pre-validated."""
    if protocol not in _V2T_PROTOCOLS:
        raise ValueError(f"v2t_protocol must be one of {_V2T_PROTOCOLS}, got {protocol!r}")
    n_texts, n_videos = sim.shape
    group = _group_max(sim, t2v)  # (videos as caption groups, query videos)
    own_best = np.diagonal(group).copy()  # own_best[j] = best score of video j's own captions for query j
    if protocol == "clip4clip":
        ranks = np.empty(n_videos, dtype=np.int64)
        block = max(1, _BLOCK_ELEMENTS // n_videos)
        for s in range(0, n_videos, block):
            e = min(n_videos, s + block)
            ranks[s:e] = np.count_nonzero(group[:, s:e] >= own_best[None, s:e], axis=0)
        return ranks
    # min_text_rank: count texts scoring >= own best, minus the own captions among them (the ties at the max)
    ge = np.zeros(n_videos, dtype=np.int64)
    block = max(1, _BLOCK_ELEMENTS // n_videos)
    for s in range(0, n_texts, block):
        e = min(n_texts, s + block)
        ge += np.count_nonzero(sim[s:e] >= own_best[None, :], axis=0)
    own_scores = sim[np.arange(n_texts), t2v]
    own_ties = np.bincount(t2v[own_scores == own_best[t2v]], minlength=n_videos)
    return 1 + ge - own_ties


def _summary(ranks: np.ndarray, prefix: str) -> dict[str, float]:
    out = {f"{prefix}R@{k}": float(100.0 * np.count_nonzero(ranks <= k) / ranks.size) for k in RETRIEVAL_RECALL_KS}
    out[f"{prefix}MdR"] = float(np.median(ranks))
    out[f"{prefix}MnR"] = float(np.mean(ranks))
    return out


def _dsl_matrix(sim: np.ndarray, temperature: float, axis: int) -> np.ndarray:
    """``sim * softmax(sim / temperature, axis)`` in float64, computed in blocks to bound temporary memory."""
    n_texts, n_videos = sim.shape
    out = np.empty((n_texts, n_videos), dtype=np.float64)
    length = n_texts if axis == 0 else n_videos  # softmax length; blocks run along the other axis
    other = n_videos if axis == 0 else n_texts
    block = max(1, _BLOCK_ELEMENTS // length)
    for s in range(0, other, block):
        e = min(other, s + block)
        idx = (slice(None), slice(s, e)) if axis == 0 else (slice(s, e), slice(None))
        raw = sim[idx].astype(np.float64)
        z = raw / temperature
        z -= z.max(axis=axis, keepdims=True)
        np.exp(z, out=z)
        z /= z.sum(axis=axis, keepdims=True)
        np.multiply(raw, z, out=out[idx])
    return out


def dual_softmax(similarity: Any, temperature: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """DSL re-ranked matrices ``(t2v, v2t)``, both (num_texts, num_videos), float64 (see module docstring)."""
    sim = _to_numpy(similarity)
    _check_dsl_input(sim, temperature)
    return _dsl_matrix(sim, temperature, 0), _dsl_matrix(sim, temperature, 1)


def _check_dsl_input(sim: np.ndarray, temperature: float) -> None:
    if not temperature > 0:
        raise ValueError(f"dsl_temperature must be > 0, got {temperature}")
    if not np.isfinite(sim).all():
        raise ValueError("similarity must be finite for DSL re-ranking (found inf or NaN)")


def retrieval_metrics(
    similarity: Any,
    text_to_video: Any,
    *,
    dsl: bool = False,
    dsl_temperature: float = 1.0,
    v2t_protocol: str = "clip4clip",
) -> dict[str, float]:
    """Text-to-video and video-to-text retrieval metrics.

    Args:
        similarity: (num_texts, num_videos) numpy array or torch tensor (any device/float dtype, or integers);
            higher = more similar. NaN is rejected.
        text_to_video: length-num_texts integer sequence; ``text_to_video[i]`` is the video index of text ``i``.
            Several texts may share a video; every video must have at least one text.
        dsl: also compute the metrics on dual-softmax re-ranked similarities, under ``dsl_``-prefixed keys.
        dsl_temperature: softmax temperature of DSL (1.0 for logit-scaled similarities, ~0.01 for cosines).
        v2t_protocol: ``"clip4clip"`` (default) or ``"min_text_rank"``; see the module docstring.

    Returns:
        ``t2v_R@1, t2v_R@5, t2v_R@10, t2v_R@50, t2v_MdR, t2v_MnR`` and the same six with ``v2t_``; with
        ``dsl=True`` also the twelve with a ``dsl_`` prefix (``dsl_t2v_R@1``, ...). Recalls are percentages
        (0-100); ranks are 1-based with pessimistic ties. t2v averages over texts, v2t over videos.

    Raises:
        ValueError: wrong shapes/lengths (the message names ``similarity`` or ``text_to_video``), indices out of
            range, or a video without any text (the message names its index).
    """
    if v2t_protocol not in _V2T_PROTOCOLS:
        raise ValueError(f"v2t_protocol must be one of {_V2T_PROTOCOLS}, got {v2t_protocol!r}")
    sim, t2v = _validate(similarity, text_to_video)
    out = _summary(text_to_video_ranks(sim, t2v), "t2v_")
    out.update(_summary(video_to_text_ranks(sim, t2v, v2t_protocol), "v2t_"))
    if dsl:
        _check_dsl_input(sim, dsl_temperature)
        reranked = _dsl_matrix(sim, dsl_temperature, axis=0)
        out.update(_summary(text_to_video_ranks(reranked, t2v), "dsl_t2v_"))
        del reranked  # one re-ranked matrix alive at a time
        reranked = _dsl_matrix(sim, dsl_temperature, axis=1)
        out.update(_summary(video_to_text_ranks(reranked, t2v, v2t_protocol), "dsl_v2t_"))
    return out
