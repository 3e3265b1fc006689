"""Attention-map figures for the dual-alignment retriever (the paper's Fig. 3, "visualise the third layer of the
multimodal encoder").

`plot_word_attention` removes a word from a caption, runs the multimodal (cross-attention) encoder of Eq. 2 with
attention outputs, and overlays the attention of the query onto the video patches as a heatmap on three frames.
The paper uses Grad-CAM on that layer; this shows the cross-attention probabilities themselves (averaged over
heads), which need no gradient and sum to 1 over the video tokens for every query token.
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
        heatmap: `(frames, h, w)` the map drawn: the [CLS] query row (`query="cls"`) or the mean over the real query
            tokens (`query="mean"`); sums to 1.
        query_text: the caption with `word` removed (or masked), as fed to the text encoder.
        layer: the 0-based fusion layer used.
        frame_indices: the model frames shown in the figure.
        path: the PNG written.
    """

    attention: np.ndarray
    heatmap: np.ndarray
    query_text: str
    layer: int
    frame_indices: list[int]
    path: str


def _frames_for_display(pixel_values: torch.Tensor, video_processor) -> np.ndarray:
    """Undo the normalisation of `(T, 3, H, W)` model frames -> uint8-range float `(T, H, W, 3)` in [0, 1]."""
    mean = torch.tensor(getattr(video_processor, "image_mean", [0.0, 0.0, 0.0]), dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(getattr(video_processor, "image_std", [1.0, 1.0, 1.0]), dtype=torch.float32).view(1, 3, 1, 1)
    frames = pixel_values.float().cpu() * std + mean
    return frames.clamp(0, 1).permute(0, 2, 3, 1).numpy()


@torch.no_grad()
def plot_word_attention(
    model,
    processor,
    video,
    caption: str,
    word: str,
    out_path: str | os.PathLike,
    layer: int | None = None,
    query: str = "cls",
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
    inputs = processor(videos=[video], text=[caption], nouns=[[word]], return_tensors="pt")
    if not bool(inputs["noun_valid"][0]):
        raise ValueError(f"word {word!r} does not occur in the caption {caption!r}")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    pixel_values = inputs["pixel_values_videos"].to(device)
    query_ids = inputs["noun_query_input_ids"].to(device)
    query_mask = inputs["noun_query_attention_mask"].to(device)
    fused = model.get_fusion_outputs(query_ids, query_mask, pixel_values_videos=pixel_values, output_attentions=True)
    model.train(was_training)

    num_layers = len(fused.attentions)
    if layer is None:
        layer = min(2, num_layers - 1)
    if not 0 <= layer < num_layers:
        raise ValueError(f"`layer` must be in [0, {num_layers - 1}], got {layer}")
    probs = fused.attentions[layer][0].float().mean(dim=0).cpu()  # (Lq, Lv) averaged over heads

    vcfg = model.config.vision_config
    num_frames = vcfg.num_frames
    grid = vcfg.image_size // vcfg.patch_size
    # TimeSformer token order after [CLS] is patch-major, frame-minor: index = (row * grid + col) * T + t.
    attention = probs.reshape(-1, grid, grid, num_frames).permute(0, 3, 1, 2).contiguous()  # (Lq, T, h, w)
    if query == "cls":
        heatmap = attention[0]
    else:
        valid = query_mask[0].bool().cpu()
        heatmap = attention[valid].mean(dim=0)

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
    fig.suptitle(f"'{word}' | layer {layer + 1}", fontsize=8)
    fig.subplots_adjust(left=0, right=1, bottom=0, top=0.85, wspace=0.02)
    out_path = os.fspath(out_path)
    fig.savefig(out_path, dpi=dpi, format="png")
    plt.close(fig)
    query_text = processor.tokenizer.decode(inputs["noun_query_input_ids"][0], skip_special_tokens=True)
    return WordAttentionMap(
        attention=attention.numpy(),
        heatmap=heatmap.numpy(),
        query_text=query_text,
        layer=layer,
        frame_indices=shown,
        path=out_path,
    )


__all__ = ["WordAttentionMap", "plot_word_attention"]
