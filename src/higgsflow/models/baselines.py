"""Baselines: the Particle Flow Network (Deep Sets; Komiske, Metodiev, Thaler, arXiv:1810.05165) and a fully
connected network (DNN) on high-level jet features."""

from __future__ import annotations

import torch
from torch import nn

from higgsflow.models.part import trim_to_longest

__all__ = ["DNN", "PFN"]


def _mlp(d: int, widths: tuple[int, ...], dropout: float = 0.0) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Linear(d, w), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        d = w
    return nn.Sequential(*layers), d


class PFN(nn.Module):
    """Per-particle map Φ, sum over real particles, then F: ``F(Σ_i Φ(x_i))`` — permutation invariant by
    design.

    ``features`` (N, C, P), ``mask`` (N, 1, P); ``points`` and ``vectors`` are unused.
    """

    input_roles = ("features", "mask")

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        *,
        phi_sizes: tuple[int, ...] = (100, 100, 128),
        f_sizes: tuple[int, ...] = (100, 100, 100),
        input_bn: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        self.config = {
            "input_dim": input_dim,
            "num_classes": num_classes,
            "phi_sizes": list(phi_sizes),
            "f_sizes": list(f_sizes),
            "input_bn": input_bn,
        }
        # without batch norm, a CPU DDP run equals the single-process run (no SyncBatchNorm on CPU)
        self.input_bn = nn.BatchNorm1d(input_dim) if input_bn else nn.Identity()
        self.phi, d = _mlp(input_dim, tuple(phi_sizes))
        self.f, d = _mlp(d, tuple(f_sizes))
        self.out = nn.Linear(d, num_classes)

    def forward(self, points, features: torch.Tensor, vectors, mask: torch.Tensor | None) -> torch.Tensor:
        if mask is None:
            mask = torch.ones_like(features[:, :1])
        mask = mask.bool()
        if not torch.jit.is_tracing():
            mask, features = trim_to_longest(mask, features)
        x = self.phi(self.input_bn(features).transpose(1, 2))  # (N, P, D)
        x = (x * mask.transpose(1, 2).to(x.dtype)).sum(dim=1)
        return self.out(self.f(x))


class DNN(nn.Module):
    """A fully connected network on the flattened ``features`` input (N, C, L), typically L = 1 jet-level
    features (p_T, η, m_SD, τ ratios, ...); the mask, if given, zeroes padded slots."""

    input_roles = ("features", "mask")
    required_roles = ("features",)

    def __init__(
        self,
        input_dim: int,
        num_classes: int,
        *,
        length: int = 1,
        hidden: tuple[int, ...] = (256, 128, 64),
        dropout: float = 0.1,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if seed is not None:
            torch.manual_seed(seed)
        self.config = {
            "input_dim": input_dim,
            "num_classes": num_classes,
            "length": length,
            "hidden": list(hidden),
            "dropout": dropout,
        }
        self.length = length
        self.input_bn = nn.BatchNorm1d(input_dim * length)
        self.net, d = _mlp(input_dim * length, tuple(hidden), dropout)
        self.out = nn.Linear(d, num_classes)

    def forward(self, points, features: torch.Tensor, vectors, mask: torch.Tensor | None) -> torch.Tensor:
        x = features[..., : self.length]
        if mask is not None and mask.size(-1) >= self.length:
            x = x * mask[..., : self.length].to(x.dtype)
        return self.out(self.net(self.input_bn(x.flatten(1))))
