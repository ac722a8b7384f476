"""Histograms of network outputs with exact counts forward and a Gaussian-kernel surrogate gradient backward.

For bin edges e_0 < … < e_B and a kernel width σ the smoothed histogram is

    h̃_b = Σ_i w_i [Φ((e_{b+1} − s_i)/σ) − Φ((e_b − s_i)/σ)],

with Φ the standard normal CDF and the outer edges e_0 = −∞, e_B = +∞ (the outer bins are open, so every
event is counted once and no gradient pushes an event out of the histogram). The forward pass returns the
exact counts h_b = Σ_i w_i 1[s_i ∈ bin b]; the backward pass returns ∂h̃/∂s (a straight-through surrogate)
and the exact ∂h/∂w = 1[s_i ∈ bin b] for the weights.

For a multi-class output s_i ∈ R^C (e.g. a softmax) events are put in the category c = argmax_c s_ic and
binned in s_ic; the surrogate multiplies the bin kernel by a smoothed category indicator Φ(m_ic/σ) with the
margin m_ic = s_ic − max_{c'≠c} s_ic'.
"""

from __future__ import annotations

import math

import torch

from higgsflow.errors import DataError

__all__ = [
    "category_histogram",
    "node_histogram",
    "smooth_category_histogram",
    "smooth_histogram",
    "soft_histogram",
]

_SQRT2 = math.sqrt(2.0)


def _phi_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(x / _SQRT2))


def _check(scores: torch.Tensor, weights: torch.Tensor, edges: torch.Tensor, bandwidth: float) -> None:
    if scores.shape[0] != weights.shape[0]:
        raise DataError(
            f"{scores.shape[0]} scores but {weights.shape[0]} weights",
            field="weights",
            expected="one per event",
        )
    if edges.ndim != 1 or edges.numel() < 2 or not bool((edges[1:] > edges[:-1]).all()):
        raise DataError("bin edges must be a strictly increasing 1-d array", field="edges")
    if not bandwidth > 0:
        raise DataError(f"kernel width {bandwidth}", field="bandwidth", expected="a positive number")


def _bin_index(scores: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Bin of each score with open outer bins (values below e_0 go to bin 0, above e_B to the last bin)."""
    return torch.bucketize(scores.detach(), edges[1:-1].detach(), right=True)


def smooth_histogram(
    scores: torch.Tensor, weights: torch.Tensor, edges: torch.Tensor, bandwidth: float
) -> torch.Tensor:
    """The Gaussian-smoothed histogram h̃ (differentiable, open outer bins); shape ``(B,)``."""
    inner = edges[1:-1].to(scores)
    cdf = _phi_cdf((inner[None, :] - scores[:, None]) / bandwidth)  # (N, B-1): P(bin ≤ j)
    zeros, ones = torch.zeros_like(scores)[:, None], torch.ones_like(scores)[:, None]
    cdf = torch.cat([zeros, cdf, ones], 1)
    return (weights[:, None] * (cdf[:, 1:] - cdf[:, :-1])).sum(0)


def soft_histogram(
    scores: torch.Tensor, weights: torch.Tensor, edges: torch.Tensor, bandwidth: float
) -> torch.Tensor:
    """Exact weighted histogram of 1-d scores whose gradient wrt the scores is that of
    :func:`smooth_histogram`.

    Parameters
    ----------
    scores: ``(N,)`` network outputs.
    weights: ``(N,)`` event weights (expected events per simulated event).
    edges: ``(B+1,)`` strictly increasing bin edges; the outer bins are open-ended.
    bandwidth: Gaussian kernel width σ in units of the score.
    """
    edges = torch.as_tensor(edges, dtype=scores.dtype)
    _check(scores, weights, edges, bandwidth)
    idx = _bin_index(scores, edges)
    exact = torch.zeros(edges.numel() - 1, dtype=weights.dtype).index_add(0, idx, weights)
    if not (torch.is_grad_enabled() and scores.requires_grad):
        return exact
    smooth = smooth_histogram(scores, weights.detach(), edges, bandwidth)
    return exact + (smooth - smooth.detach())


def _margins(scores: torch.Tensor) -> torch.Tensor:
    """m_ic = s_ic − max_{c'≠c} s_ic' for (N, C) scores."""
    top2 = scores.topk(2, dim=1).values
    best_other = torch.where(scores >= top2[:, :1], top2[:, 1:2], top2[:, :1])
    return scores - best_other


def smooth_category_histogram(
    scores: torch.Tensor, weights: torch.Tensor, edges: torch.Tensor, bandwidth: float
) -> torch.Tensor:
    """Smoothed category histograms Σ_i w_i Φ(m_ic/σ) K_b(s_ic); shape ``(C·B,)`` (category-major)."""
    n, c = scores.shape
    inner = edges[1:-1].to(scores)
    cdf = _phi_cdf((inner[None, None, :] - scores[:, :, None]) / bandwidth)  # (N, C, B-1)
    cdf = torch.cat(
        [torch.zeros(n, c, 1, dtype=scores.dtype), cdf, torch.ones(n, c, 1, dtype=scores.dtype)], 2
    )
    member = _phi_cdf(_margins(scores) / bandwidth)  # (N, C)
    kern = (cdf[:, :, 1:] - cdf[:, :, :-1]) * member[:, :, None]
    return (weights[:, None, None] * kern).sum(0).reshape(-1)


def category_histogram(
    scores: torch.Tensor, weights: torch.Tensor, edges: torch.Tensor, bandwidth: float
) -> torch.Tensor:
    """Exact histograms of multi-class scores per argmax category, with a smooth surrogate gradient.

    Parameters
    ----------
    scores: ``(N, C)`` class scores (e.g. softmax outputs); ``(N,)`` falls back to :func:`soft_histogram`.
    weights: ``(N,)`` event weights.
    edges: ``(B+1,)`` bin edges of the score of the argmax class, the same for every category (for a softmax
        of C classes that score lies in [1/C, 1]); outer bins are open-ended.
    bandwidth: Gaussian kernel width σ in units of the score.

    Returns
    -------
    ``(C·B,)`` yields, category 0's B bins first.
    """
    if scores.ndim == 1:
        return soft_histogram(scores, weights, edges, bandwidth)
    edges = torch.as_tensor(edges, dtype=scores.dtype)
    _check(scores, weights, edges, bandwidth)
    n_bins = edges.numel() - 1
    cat = scores.detach().argmax(1)
    top = scores.detach().gather(1, cat[:, None])[:, 0]
    idx = cat * n_bins + _bin_index(top, edges)
    exact = torch.zeros(scores.shape[1] * n_bins, dtype=weights.dtype).index_add(0, idx, weights)
    if not (torch.is_grad_enabled() and scores.requires_grad):
        return exact
    smooth = smooth_category_histogram(scores, weights.detach(), edges, bandwidth)
    return exact + (smooth - smooth.detach())


def node_histogram(logits: torch.Tensor, weights: torch.Tensor, temperature: float) -> torch.Tensor:
    """Histogram of events assigned to the bin of their highest output node (INFERNO's binning).

    Every output node of the network is one bin; an event goes to the bin of its largest logit. With gradients
    enabled the forward pass is INFERNO's soft assignment Σ_i w_i softmax(z_i/T)_b (differentiable, tending to
    the exact counts as the network sharpens its logits or T → 0); without, the exact counts.

    Parameters
    ----------
    logits: ``(N, B)`` network outputs, one per bin.
    weights: ``(N,)`` event weights.
    temperature: T > 0 of the softmax.
    """
    if logits.ndim != 2 or logits.shape[0] != weights.shape[0]:
        raise DataError(
            f"logits of shape {tuple(logits.shape)} and {weights.shape[0]} weights",
            field="weights",
            expected="(N, B) logits and one weight per event",
        )
    if not temperature > 0:
        raise DataError(f"temperature {temperature}", field="temperature", expected="a positive number")
    if torch.is_grad_enabled() and logits.requires_grad:
        return (weights[:, None] * torch.softmax(logits / temperature, dim=1)).sum(0)
    idx = logits.detach().argmax(1)
    return torch.zeros(logits.shape[1], dtype=weights.dtype).index_add(0, idx, weights)
