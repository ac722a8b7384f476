"""Adversarial training and attacks on the inputs, as in the UParT robustness studies (CMS-DP-2024-066).

The attack moves the continuous features of the real particles (the ``*_features`` inputs; not the points,
four-vectors or masks) by one normalised gradient step of the loss: for jet i and feature f of input k,

    δ = ε · s_f · g / ‖g‖₂,   g = ∂L/∂x · s_f  (the gradient in units of each feature's spread),

so that ‖δ/s‖₂ = ε per jet, where s_f is the spread of feature f (the standard deviation of its values inside
their 20–80 % quantile range, measured on the training jets' real particles). Features whose training values
are all integers (charges, flags, counts) and padded slots are never changed. ``method="fgsm"`` uses the sign
of the gradient instead (δ = ε · s_f · sign(g), the fast gradient sign method).

Training (``--adversarial-eps``): on every ``every``-th step (default every third) the loss of the step is that of
the distorted jets plus KL(p_distorted ‖ p_nominal) of the class head, the nominal probabilities from a second
forward pass of the same jets; on the other steps the usual loss. The attack's gradient is taken with the model
as it is in that step (training mode, parameters untouched).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from higgsflow.errors import ConfigError
from higgsflow.models.contract import split_name

__all__ = ["Adversary", "attack_arrays", "check_attack", "feature_spreads"]

METHODS = ("ngm", "fgsm")


def check_attack(epsilon: Any, method: str, every: int = 1, *, option: str = "adversarial") -> None:
    """Refuse an attack that cannot be made (ε ≤ 0, an unknown method, every < 1) with one :class:`ConfigError`
    naming the option (``adversarial_eps (--adversarial-eps)`` ..., or ``--attack-eps`` ... for ``attack``)."""

    def field(name: str) -> str:
        flag = f"--{option}-{name}"
        return f"{option}_{name} ({flag})" if option == "adversarial" else flag

    if not (isinstance(epsilon, (int, float)) and epsilon > 0):
        raise ConfigError(f"must be positive, not {epsilon}", field=field("eps"), expected="ε > 0")
    if method not in METHODS:
        raise ConfigError(f"unknown attack {method!r}", field=field("method"), expected=" or ".join(METHODS))
    if int(every) < 1:
        raise ConfigError("must be at least 1", field=field("every"))


def feature_spreads(
    arrays: Any, names: Sequence[str], *, max_jets: int = 50_000
) -> dict[str, tuple[list[float], list[bool]]]:
    """Per ``*_features`` input of ``names``: the spread of each feature (std inside its 20–80 % quantiles, over
    real particles; 1 for an empty or constant one) and whether it is continuous (not all integer values)."""
    out = {}
    for name in names:
        coll, role = split_name(name)
        if role != "features":
            continue
        x = arrays.inputs[name][:max_jets]  # (N, C, L)
        mask_name = f"{coll}_mask" if coll else "mask"
        real = arrays.inputs[mask_name][:max_jets, 0] != 0 if mask_name in arrays.inputs else None
        spreads, continuous = [], []
        for c in range(x.shape[1]):
            v = x[:, c][real] if real is not None else x[:, c].ravel()
            v = v[np.isfinite(v)].astype(np.float64)
            if v.size == 0:
                spreads.append(1.0)
                continuous.append(False)
                continue
            lo, hi = np.percentile(v, [20, 80])
            inside = v[(v >= lo) & (v <= hi)]
            s = float(inside.std()) if inside.size > 1 else 0.0
            if s == 0.0:
                s = float(v.std()) or 1.0
            spreads.append(s)
            continuous.append(bool(np.any(v != np.round(v))))
        out[name] = (spreads, continuous)
    return out


@dataclass
class Adversary:
    """An attack of size ``epsilon`` (in units of each feature's spread) on the continuous features."""

    epsilon: float
    spreads: dict[str, tuple[list[float], list[bool]]]
    method: str = "ngm"
    every: int = 3

    def __post_init__(self) -> None:
        check_attack(self.epsilon, self.method, self.every)
        if not any(any(c) for _, c in self.spreads.values()):
            raise ConfigError(
                "no continuous input feature to attack", field="adversarial_eps (--adversarial-eps)"
            )

    # ------------------------------------------------------------------ saving
    def to_json(self, path: str | Path) -> None:
        state = {"epsilon": self.epsilon, "method": self.method, "every": self.every, "spreads": self.spreads}
        Path(path).write_text(json.dumps(state, indent=2))

    @classmethod
    def from_json(
        cls, path: str | Path, *, epsilon: float | None = None, method: str | None = None
    ) -> Adversary:
        d = json.loads(Path(path).read_text())
        spreads = {k: (list(v[0]), [bool(b) for b in v[1]]) for k, v in d["spreads"].items()}
        return cls(epsilon or d["epsilon"], spreads, method or d["method"], int(d["every"]))

    def active(self, step: int) -> bool:
        """Whether training step ``step`` (counted from 0 over the run) is an adversarial one."""
        return step % int(self.every) == int(self.every) - 1

    # ------------------------------------------------------------------ the attack
    def _scales(self, name: str, x: torch.Tensor) -> torch.Tensor:
        """(1, C, 1): the spread of each feature, 0 for those never changed."""
        s, c = self.spreads[name]
        t = torch.tensor(
            [si if ci else 0.0 for si, ci in zip(s, c, strict=True)], dtype=x.dtype, device=x.device
        )
        return t.view(1, -1, 1)

    def distort(
        self, model: torch.nn.Module, task: Any, batch: Mapping[str, Any], *, loss: str = "task"
    ) -> dict[str, torch.Tensor]:
        """The batch's inputs moved by one attack step against ``task``'s loss (``loss="task"``) for the model as
        it is (its mode unchanged; no parameter gradient is kept)."""
        inputs = dict(batch["inputs"])
        names = [n for n in inputs if n in self.spreads]
        leaves = {n: inputs[n].detach().clone().requires_grad_(True) for n in names}
        heads = model({**inputs, **leaves})
        value = task.loss(heads, batch)
        grads = torch.autograd.grad(value, [leaves[n] for n in names], allow_unused=True)
        out = dict(inputs)
        steps = {}
        sq = None
        for n, g in zip(names, grads, strict=True):
            x = inputs[n]
            g = torch.zeros_like(x) if g is None else g.detach()
            scale = self._scales(n, x)
            coll = split_name(n)[0]
            mname = f"{coll}_mask" if coll else "mask"
            real = (inputs[mname] != 0).to(x.dtype) if mname in inputs else torch.ones_like(x[:, :1])
            u = g * scale * real  # the gradient in units of the spreads, on what may change
            steps[n] = (u, scale, real)
            s = u.pow(2).flatten(1).sum(1)
            sq = s if sq is None else sq + s
        norm = sq.sqrt().clamp(min=1e-12) if sq is not None else None
        for n, (u, scale, real) in steps.items():
            if self.method == "fgsm":
                d = self.epsilon * scale * torch.sign(u) * real
            else:
                d = self.epsilon * scale * u / norm.view(-1, *([1] * (u.dim() - 1)))
            out[n] = (inputs[n] + d).detach()
        return out

    def loss(self, model: torch.nn.Module, net: torch.nn.Module, task: Any, batch: Mapping[str, Any]):
        """The adversarial step's loss: the task's loss on the distorted jets + KL(p_distorted ‖ p_nominal) of the
        class head. ``model`` (unwrapped) computes the attack; ``net`` (possibly DDP) runs one forward pass over
        the distorted and the nominal jets together (one pass, so that DDP sees one forward per backward)."""
        distorted = self.distort(model, task, batch)
        n = len(batch["weight"])
        both = {k: torch.cat([distorted[k], batch["inputs"][k]]) for k in distorted}
        heads = net(both)
        heads_adv = {k: v[:n] for k, v in heads.items()}
        value = task.loss(heads_adv, batch)
        if "logits" in heads and getattr(task, "has_classes", False):
            logp = F.log_softmax(heads["logits"].float(), dim=1)
            logp_adv, logp_nom = logp[:n], logp[n:]
            kl = (logp_adv.exp() * (logp_adv - logp_nom)).sum(1)
            # the mean over the jets of w · KL, as every loss term (so micro-batches add up exactly)
            value = value + (batch["weight"].to(kl.dtype) * kl).mean()
        return value


def attack_arrays(
    model: torch.nn.Module,
    config: Any,
    arrays: Any,
    adversary: Adversary,
    *,
    batch_size: int = 256,
    device: str = "cpu",
) -> Any:
    """A copy of ``arrays`` with every jet's inputs moved by the attack against its true label (the model in eval
    mode): the robustness test of a tagger (AUC and rejection under an attack of size ε)."""
    from higgsflow.data.loader import JetArrays
    from higgsflow.train.task import Task

    task = Task(config)
    model = model.to(device).eval()
    names = [n for n in arrays.inputs]
    moved = {n: arrays.inputs[n].copy() for n in names if n in adversary.spreads}
    n = len(arrays)
    for a in range(0, n, batch_size):
        sl = slice(a, min(a + batch_size, n))
        batch = {
            "inputs": {k: torch.from_numpy(arrays.inputs[k][sl]).to(device) for k in names},
            "label": torch.from_numpy(arrays.label[sl]).to(device) if arrays.label is not None else None,
            "targets": {k: torch.from_numpy(v[sl]).to(device) for k, v in arrays.target_values.items()},
            "weight": torch.from_numpy(arrays.weight[sl]).to(device),
        }
        out = adversary.distort(model, task, batch)
        for k in moved:
            moved[k][sl] = out[k].cpu().numpy()
    return JetArrays(
        inputs={**arrays.inputs, **moved},
        label=arrays.label,
        weight=arrays.weight,
        observers=arrays.observers,
        targets=arrays.targets,
        target_values=arrays.target_values,
    )
