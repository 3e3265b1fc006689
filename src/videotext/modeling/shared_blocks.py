"""Canonical copies of the small blocks that several method folders need.

Method folders cannot import this module (a Hub folder must be self-contained), so each one carries a copy
marked `# Copied from videotext.modeling.shared_blocks.<name>` (optionally `with Old->New` renames), and
`utils/check_hub_code.py` fails CI when a copy drifts from the block here.
"""

import torch
import torch.distributed as dist
import torch.nn.functional as F


def all_gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate `tensor` from every process along dim 0; gradients flow back to this process's slice only."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    gathered = [torch.zeros_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, tensor.contiguous())
    # all_gather returns tensors without autograd history: put the local one back so its gradient is kept.
    gathered[dist.get_rank()] = tensor
    return torch.cat(gathered, dim=0)


def symmetric_infonce(logits_per_text: torch.Tensor, positive_index: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of text->video and video->text cross-entropy over a (num_texts, num_videos) logit matrix.

    `positive_index[i]` is the column of text i's positive (default: the diagonal of a square matrix).
    """
    if positive_index is None:
        positive_index = torch.arange(logits_per_text.shape[0], device=logits_per_text.device)
    loss_t2v = F.cross_entropy(logits_per_text, positive_index)
    loss_v2t = F.cross_entropy(logits_per_text.t(), positive_index)
    return (loss_t2v + loss_v2t) / 2
