"""Attention-map figures for the dual-alignment retriever (the paper's Fig. 3, "visualise the third layer of the
multimodal encoder").

`plot_word_attention` removes a word from a caption, runs the multimodal (cross-attention) encoder of Eq. 2 with
attention outputs, and overlays a map over the video patches on three frames:

- `method="gradcam"` (default, the paper's figure): Grad-CAM on the chosen layer's cross-attention, as ALBEF
  applies it to cross-attention: the score is the Eq. 5/6 similarity s(x, y) between the fused query embedding
  and the text embedding of the removed word; the map is relu(A * dS/dA) averaged over heads.
- `method="attention"`: the cross-attention probabilities themselves (averaged over heads; no gradient).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class WordAttentionMap:
    """Result of `plot_word_attention`.

    Attributes:
        attention: `(num_query_tokens, frames, h, w)` head-averaged cross-attention of every query token over the
            video patches at the chosen layer; each query row sums to 1.
        heatmap: `(frames, h, w)` the map drawn, from the [CLS] query row (`query="cls"`) or the mean over the real
            query tokens (`query="mean"`): the attention (sums to 1) or its Grad-CAM (>= 0, scaled to sum to 1
            unless all zero).
        method: "gradcam" or "attention".
        score: the similarity s(x, y) of the fused query and the removed word (Eqs. 5/6), in [-1, 1].
        query_text: the caption with `word` removed (or masked), as fed to the text encoder.
        layer: the 0-based fusion layer used.
        frame_indices: the model frames shown in the figure.
        path: the PNG written.
    """

    attention: np.ndarray
    heatmap: np.ndarray
    query_text: str
    layer: int
    method: str
    score: float
    frame_indices: list[int]
    path: str


def _frames_for_display(pixel_values: torch.Tensor, video_processor) -> np.ndarray:
    """Undo the normalisation of `(T, 3, H, W)` model frames -> uint8-range float `(T, H, W, 3)` in [0, 1]."""
    mean = torch.tensor(getattr(video_processor, "image_mean", [0.0, 0.0, 0.0]), dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(getattr(video_processor, "image_std", [1.0, 1.0, 1.0]), dtype=torch.float32).view(1, 3, 1, 1)
    frames = pixel_values.float().cpu() * std + mean
    return frames.clamp(0, 1).permute(0, 2, 3, 1).numpy()


def plot_word_attention(
    model,
    processor,
    video,
    caption: str,
    word: str,
    out_path: str | os.PathLike,
    layer: int | None = None,
    query: str = "cls",
    method: str = "gradcam",
    kind: str = "noun",
    num_display_frames: int = 3,
    frame_size_inches: float = 2.5,
    dpi: int = 100,
    alpha: float = 0.5,
) -> WordAttentionMap:
    """Save a PNG of where the word-removed caption looks in the video.

    Args:
        model: a `DualAlignModel`.
        processor: its `DualAlignProcessor`.
        video: a video path, a uint8 `(T, H, W, 3)` array, or a list of PIL frames.
        caption: the full caption, e.g. "a girl sings on stage".
        word: the word (or phrase) to remove, e.g. "sings"; it must occur in the caption.
        out_path: PNG path.
        layer: 0-based fusion layer; default the third (index 2, the paper's choice) or the last if fewer.
        query: "cls" (the query's [CLS] row, which is what the fine-grained embedding pools) or "mean".
        method: "gradcam" (default) or "attention" (see the module docstring).
        kind: "noun" or "verb": which fine-grained branch (Eq. 5 or Eq. 6 projections) scores the removed word.
        num_display_frames: frames shown side by side (evenly spread over the model frames; 3 as in the paper).
        frame_size_inches, dpi: each panel is `frame_size_inches * dpi` pixels square; the PNG is
            `(num_display_frames * frame_size_inches * dpi) x (frame_size_inches * dpi)` pixels.
        alpha: heatmap opacity.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if query not in ("cls", "mean"):
        raise ValueError(f"`query` must be 'cls' or 'mean', got {query!r}")
    if method not in ("gradcam", "attention"):
        raise ValueError(f"`method` must be 'gradcam' or 'attention', got {method!r}")
    if kind not in ("noun", "verb"):
        raise ValueError(f"`kind` must be 'noun' or 'verb', got {kind!r}")
    inputs = processor(videos=[video], text=[caption], **{f"{kind}s": [[word]]}, return_tensors="pt")
    if not bool(inputs[f"{kind}_valid"][0]):
        raise ValueError(f"word {word!r} does not occur in the caption {caption!r}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    names = ("query_input_ids", "query_attention_mask", "target_input_ids", "target_attention_mask")
    ids = {k: inputs[f"{kind}_{k}"].to(device) for k in names}
    query_mask = ids["query_attention_mask"]
    with torch.set_grad_enabled(method == "gradcam"):  # plain attention needs no autograd graph
        video_tokens, _ = model.get_video_tokens(inputs["pixel_values_videos"].to(device))
        video_side, text_side, attentions = model.get_word_alignment(
            kind, video_tokens, ids["query_input_ids"], query_mask, ids["target_input_ids"],
            ids["target_attention_mask"], output_attentions=True,
        )  # fmt: skip
        num_layers = len(attentions)
        if layer is None:
            layer = min(2, num_layers - 1)
        if not 0 <= layer < num_layers:
            raise ValueError(f"`layer` must be in [0, {num_layers - 1}], got {layer}")
        score = (video_side[0] * text_side[0]).sum()  # s(x, y) of Eqs. 5/6 (both sides are normalised)
        attn = attentions[layer]  # (1, heads, Lq, Lv)
        grad = torch.autograd.grad(score, attn)[0] if method == "gradcam" else None
    model.train(was_training)
    probs = attn[0].detach().float().mean(dim=0).cpu()  # (Lq, Lv) averaged over heads

    vcfg = model.config.vision_config
    num_frames = vcfg.num_frames
    grid = vcfg.image_size // vcfg.patch_size

    # TimeSformer token order after [CLS] is patch-major, frame-minor: index = (row * grid + col) * T + t.
    def to_frames(rows: torch.Tensor) -> torch.Tensor:
        return rows.reshape(-1, grid, grid, num_frames).permute(0, 3, 1, 2).contiguous()  # (Lq, T, h, w)

    attention = to_frames(probs)
    if method == "gradcam":
        cam = to_frames((attn[0].detach() * grad[0]).clamp(min=0).float().mean(dim=0).cpu())  # relu(A * dS/dA)
    else:
        cam = attention
    heatmap = cam[0] if query == "cls" else cam[query_mask[0].bool().cpu()].mean(dim=0)
    if method == "gradcam" and float(heatmap.sum()) > 0:
        heatmap = heatmap / heatmap.sum()

    frames = _frames_for_display(inputs["pixel_values_videos"][0], processor.video_processor)  # (T, H, W, 3)
    height, width = frames.shape[1:3]
    shown = sorted({int(round(i)) for i in np.linspace(0, num_frames - 1, num_display_frames)})
    upsampled = torch.nn.functional.interpolate(
        heatmap[shown].unsqueeze(1), size=(height, width), mode="bilinear", align_corners=False
    )[:, 0].numpy()  # (len(shown), H, W)

    fig, axes = plt.subplots(
        1, len(shown), figsize=(frame_size_inches * len(shown), frame_size_inches), dpi=dpi, squeeze=False
    )
    for ax, frame_idx, heat in zip(axes[0], shown, upsampled):
        ax.imshow(frames[frame_idx])
        ax.imshow(heat, cmap="jet", alpha=alpha, vmin=float(upsampled.min()), vmax=float(upsampled.max()))
        ax.set_axis_off()
        ax.set_title(f"frame {frame_idx}", fontsize=8)
    fig.suptitle(f"'{word}' | layer {layer + 1} | {method}", fontsize=8)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.85, wspace=0.02)
    out_path = os.fspath(out_path)
    fig.savefig(out_path, dpi=dpi, format="png")
    plt.close(fig)
    query_text = processor.tokenizer.decode(inputs[f"{kind}_query_input_ids"][0], skip_special_tokens=True)
    return WordAttentionMap(
        attention=attention.numpy(),
        heatmap=heatmap.numpy(),
        query_text=query_text,
        layer=layer,
        method=method,
        score=float(score.detach()),
        frame_indices=shown,
        path=out_path,
    )


__all__ = ["WordAttentionMap", "plot_word_attention"]
