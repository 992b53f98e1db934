"""Official VAR sampling: top-k then top-p (nucleus) filtering of logits, then a multinomial draw."""
from typing import Optional

import torch


def filter_top_k_top_p(logits_BlV: torch.Tensor, top_k: int = 0, top_p: float = 0.0) -> torch.Tensor:
    """Logits with the codes outside top-k / top-p set to -inf (official semantics, not in place)."""
    logits_BlV = logits_BlV.clone()
    V = logits_BlV.shape[-1]
    if top_k > 0:
        # keep every code >= the k-th largest logit (ties at the threshold are kept, as official)
        kth = logits_BlV.topk(min(top_k, V), largest=True, sorted=False, dim=-1)[0].amin(dim=-1, keepdim=True)
        logits_BlV.masked_fill_(logits_BlV < kth, -torch.inf)
    if top_p > 0:
        sorted_logits, sorted_idx = logits_BlV.sort(dim=-1, descending=False)
        # drop the smallest codes whose cumulative probability stays <= 1 - top_p; the top code always stays
        remove = sorted_logits.softmax(dim=-1).cumsum(dim=-1) <= (1 - top_p)
        remove[..., -1:] = False
        logits_BlV.masked_fill_(remove.scatter(sorted_idx.ndim - 1, sorted_idx, remove), -torch.inf)
    return logits_BlV


def sample_with_top_k_top_p(
    logits_BlV: torch.Tensor,
    top_k: int = 0,
    top_p: float = 0.0,
    rng: Optional[torch.Generator] = None,
    num_samples: int = 1,
) -> torch.Tensor:
    """Sampled ids [B, l, num_samples] (with replacement when num_samples >= 0, as official)."""
    B, l, V = logits_BlV.shape
    probs = filter_top_k_top_p(logits_BlV, top_k, top_p).softmax(dim=-1).view(-1, V)
    replacement = num_samples >= 0
    return torch.multinomial(probs, num_samples=abs(num_samples), replacement=replacement, generator=rng).view(B, l, -1)
