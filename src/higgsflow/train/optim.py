"""Optimisers and learning-rate schedules of the ParT paper and weaver-core.

- ``adamw``: AdamW.
- ``ranger``: Lookahead (k = 6, α = 0.5; Zhang et al. 2019) around RAdam (Liu et al. 2019), the ParT
paper's choice.
- Schedules (per step): linear warm-up over ``warmup_steps``, then ``flat+decay`` (constant until 70 % of the
  steps, then exponential decay to 1 % of the rate, as weaver-core), ``cosine`` or ``none``.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch

from higgsflow.errors import ConfigError

__all__ = ["Lookahead", "make_optimizer", "make_scheduler"]


class Lookahead(torch.optim.Optimizer):
    """Lookahead: every ``k`` steps the slow weights move ``alpha`` of the way to the fast weights, which
    restart
    from them. Its state (slow weights, step counter) is part of ``state_dict`` so resuming is exact."""

    def __init__(self, base: torch.optim.Optimizer, k: int = 6, alpha: float = 0.5) -> None:
        self.base, self.k, self.alpha = base, k, alpha
        self.param_groups = base.param_groups
        self.defaults = base.defaults
        self.state = defaultdict(dict)
        self._step = 0
        self.slow = [[p.detach().clone() for p in g["params"]] for g in self.param_groups]

    @torch.no_grad()
    def step(self, closure=None):
        loss = self.base.step(closure)
        self._step += 1
        if self._step % self.k == 0:
            for group, slows in zip(self.param_groups, self.slow, strict=True):
                for p, s in zip(group["params"], slows, strict=True):
                    s.add_(p - s, alpha=self.alpha)
                    p.copy_(s)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.base.zero_grad(set_to_none=set_to_none)

    def state_dict(self):
        return {"base": self.base.state_dict(), "step": self._step, "slow": self.slow}

    def load_state_dict(self, state) -> None:
        self.base.load_state_dict(state["base"])
        self._step = int(state["step"])
        with torch.no_grad():
            for slows, saved in zip(self.slow, state["slow"], strict=True):
                for s, v in zip(slows, saved, strict=True):
                    s.copy_(v)


def make_optimizer(
    name: str, model: torch.nn.Module, *, lr: float, weight_decay: float = 0.01
) -> torch.optim.Optimizer:
    """``adamw`` or ``ranger`` (Lookahead-RAdam); parameters in ``model.no_weight_decay()`` get no decay."""
    skip = set(getattr(model, "no_weight_decay", lambda: set())())
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if n in skip or n.split("module.")[-1] in skip or p.ndim <= 1 else decay).append(p)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    name = name.lower()
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if name in ("ranger", "lookahead-radam", "radam"):
        base = torch.optim.RAdam(groups, lr=lr, betas=(0.95, 0.999), eps=1e-5, decoupled_weight_decay=True)
        return base if name == "radam" else Lookahead(base, k=6, alpha=0.5)
    raise ConfigError("unknown optimizer", field="optimizer", expected="adamw, ranger or radam")


def make_scheduler(
    optimizer: torch.optim.Optimizer, name: str, *, total_steps: int, warmup_steps: int = 0
) -> torch.optim.lr_scheduler.LambdaLR:
    """Per-step learning-rate factor: linear warm-up, then ``flat+decay``, ``cosine`` or ``none``."""
    name = name.lower()
    if name not in ("flat+decay", "cosine", "none"):
        raise ConfigError("unknown scheduler", field="scheduler", expected="flat+decay, cosine or none")
    total = max(total_steps, 1)

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if name == "none":
            return 1.0
        if name == "cosine":
            t = min((step - warmup_steps) / max(total - warmup_steps, 1), 1.0)
            return 0.5 * (1 + math.cos(math.pi * t))
        start = int(0.7 * total)
        if step < start:
            return 1.0
        t = min((step - start) / max(total - start, 1), 1.0)
        return 0.01**t

    base = optimizer.base if isinstance(optimizer, Lookahead) else optimizer
    return torch.optim.lr_scheduler.LambdaLR(base, factor)
