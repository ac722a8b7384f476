"""The task: what a model is trained to do, built from the data config's ``labels``, ``targets`` and ``loss``.

It owns the class labels, the regression targets and the observers carried in each batch (never model inputs),
the loss as a weighted sum of named terms, :meth:`Task.predict` (heads → output branches ``score_<class>`` and
one branch per regression head) and the metrics of each head.

A batch is a dict: ``inputs`` (input name → tensor), ``label`` (class index (N,), or (N, K) values for custom
labels), ``targets`` (target name → (N,)), ``weight`` (N,) and ``observers`` (name → (N,)).

Loss terms are functions ``fn(pred, target, weight, *, tau=None, heads=..., batch=...) -> scalar`` (the weighted
mean over the jets); :func:`register_loss_term` adds one under a name a config's ``loss:`` section can use::

    loss:
      - {term: cross_entropy}                                   # head logits, target label
      - {term: logcosh, head: pt_corr, target: pt_corr, weight: 0.5}
      - {term: pinball, head: pt_q16, target: pt_corr, tau: 0.16}

Without a ``loss:`` section the task is cross-entropy on ``logits`` for simple labels and the mean squared error
of ``logits`` against the values of custom labels.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from higgsflow.errors import ConfigError

__all__ = ["LOSS_TERMS", "LossTerm", "Task", "register_loss_term"]

LossFn = Callable[..., torch.Tensor]
LOSS_TERMS: dict[str, LossFn] = {}
#: terms that read the class label and a (N, K) logits head
_CLASS_TERMS = {"cross_entropy"}


def register_loss_term(name: str, fn: LossFn, *, classification: bool = False) -> None:
    """Make ``fn(pred, target, weight, *, tau=None, heads=..., batch=...) -> scalar`` usable as ``term: name``
    (``classification``: its target is the class label, not a regression target)."""
    LOSS_TERMS[name] = fn
    if classification:
        _CLASS_TERMS.add(name)


def _flat(pred: torch.Tensor) -> torch.Tensor:
    return (
        pred.float().reshape(len(pred), -1).squeeze(1)
        if pred.dim() > 1 and pred.size(1) == 1
        else pred.float()
    )


def cross_entropy(pred, target, weight, **_: Any) -> torch.Tensor:
    return (F.cross_entropy(pred.float(), target, reduction="none") * weight).mean()


def mse(pred, target, weight, **_: Any) -> torch.Tensor:
    per = F.mse_loss(_flat(pred), target.float(), reduction="none")
    if per.dim() > 1:
        per = per.mean(dim=1)
    return (per * weight).mean()


def logcosh(pred, target, weight, **_: Any) -> torch.Tensor:
    d = (_flat(pred) - target.float()).abs()
    per = d + F.softplus(-2.0 * d) - math.log(2.0)  # log(cosh(d)) without overflow
    return (per * weight).mean()


def pinball(pred, target, weight, *, tau: float | None = None, **_: Any) -> torch.Tensor:
    if tau is None:
        raise ConfigError("the pinball loss needs tau", field="loss.tau", expected="a quantile in (0, 1)")
    d = target.float() - _flat(pred)
    per = torch.maximum(tau * d, (tau - 1.0) * d)
    return (per * weight).mean()


register_loss_term("cross_entropy", cross_entropy, classification=True)
register_loss_term("mse", mse)
register_loss_term("logcosh", logcosh)
register_loss_term("pinball", pinball)


@dataclass(frozen=True)
class LossTerm:
    term: str
    head: str
    target: str
    weight: float = 1.0
    tau: float | None = None


def _class_name(label: str) -> str:
    return label[6:] if label.startswith("label_") else label


class Task:
    """Labels, targets, loss, predictions and metrics of a data config (see the module docstring)."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.label_type: str = config.label_type
        self.label_names: list[str] = list(config.label_names)
        self.target_names: list[str] = list(getattr(config, "targets", {}) or {})
        #: targets declared ``space: log``: their terms compare the head with ln(target)
        self.log_targets: set[str] = {
            k for k, v in (getattr(config, "target_space", None) or {}).items() if v == "log"
        }
        terms = getattr(config, "loss_terms", None)
        if terms is None:
            default = "cross_entropy" if self.label_type == "simple" else "mse"
            terms = [{"term": default, "head": "logits", "target": "label", "weight": 1.0}]
        self.terms: list[LossTerm] = []
        for i, t in enumerate(terms):
            if t["term"] not in LOSS_TERMS:
                raise ConfigError(
                    f"unknown loss term {t['term']!r}",
                    file=config.source,
                    field=f"loss[{i}].term",
                    expected="one of " + ", ".join(sorted(LOSS_TERMS)),
                )
            if t["term"] == "pinball" and not 0.0 < float(t.get("tau", -1.0)) < 1.0:
                raise ConfigError(
                    "the pinball loss needs tau in (0, 1)", file=config.source, field=f"loss[{i}].tau"
                )
            if (t["term"] in _CLASS_TERMS) != (t["target"] == "label") and self.label_type == "simple":
                raise ConfigError(
                    f"the term {t['term']} does not fit the target {t['target']!r}",
                    file=config.source,
                    field=f"loss[{i}].target",
                    expected="label for a classification term, a regression target otherwise",
                )
            self.terms.append(
                LossTerm(t["term"], t["head"], t["target"], float(t.get("weight", 1.0)), t.get("tau"))
            )

    # ------------------------------------------------------------------ heads
    @property
    def heads(self) -> list[str]:
        """The heads the loss reads, in order of first use."""
        return list(dict.fromkeys(t.head for t in self.terms))

    @property
    def has_classes(self) -> bool:
        return self.label_type == "simple"

    # ------------------------------------------------------------------ loss
    def loss(self, heads: Mapping[str, torch.Tensor], batch: Mapping[str, Any]) -> torch.Tensor:
        """The weighted sum of the terms (each a weighted mean over the jets of the batch)."""
        total: torch.Tensor | None = None
        for t in self.terms:
            target = batch["label"] if t.target == "label" else batch["targets"][t.target]
            if t.target in self.log_targets:
                target = torch.log(target.float().clamp_min(1e-12))
            extra = {"tau": t.tau} if t.tau is not None else {}
            value = LOSS_TERMS[t.term](
                heads[t.head], target, batch["weight"], heads=heads, batch=batch, **extra
            )
            if t.weight != 1.0:
                value = value * t.weight
            total = value if total is None else total + value
        assert total is not None
        return total

    # ------------------------------------------------------------------ outputs
    def branch_names(self, heads: Sequence[str] | None = None) -> list[str]:
        names = [f"score_{_class_name(c)}" for c in self.label_names]
        return names + [h for h in (heads or self.heads) if h not in ("logits", "softmax")]

    def predict(self, heads: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Output branches from heads: ``score_<class>`` (softmax of ``logits``, or ``softmax`` as given by an
        exported model) and each regression head by its name."""
        out: dict[str, np.ndarray] = {}
        for name, value in heads.items():
            x = value.detach().float().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            if name in ("logits", "softmax"):
                if name == "logits":
                    e = np.exp(x - x.max(axis=1, keepdims=True))
                    x = e / e.sum(axis=1, keepdims=True)
                for k, c in enumerate(self.label_names):
                    out[f"score_{_class_name(c)}"] = np.ascontiguousarray(x[:, k], dtype=np.float32)
            else:
                out[name] = np.ascontiguousarray(x.reshape(len(x), -1)[:, 0], dtype=np.float32)
        return out

    # ------------------------------------------------------------------ metrics
    def metrics(
        self,
        heads: Mapping[str, Any],
        label: np.ndarray | None,
        targets: Mapping[str, np.ndarray],
        weight: np.ndarray | None = None,
    ) -> dict[str, float]:
        """Per head: ``accuracy`` and ``auc`` (one class against the others, the signal being each class in turn
        after the first; ``auc_<class>``) for the class head; ``<head>_resolution`` (half the interquartile range of
        prediction/truth, and its median ``<head>_response``) for a regression head; ``<head>_coverage`` (the
        fraction of jets whose truth is below the prediction, to compare with τ) for a pinball head.

        ``heads`` are physical (log-space heads already exponentiated, as :func:`score_heads` and
        ``DataConfig.physical_heads`` give them); ``targets`` are the targets as the config defines them."""
        from sklearn.metrics import roc_auc_score

        pred = self.predict(heads)
        out: dict[str, float] = {}
        if (
            self.has_classes
            and label is not None
            and self.label_names[0]
            and "score_" + _class_name(self.label_names[0]) in pred
        ):
            scores = np.stack([pred[f"score_{_class_name(c)}"] for c in self.label_names], axis=1)
            out["accuracy"] = float(np.average(scores.argmax(1) == label, weights=weight))
            for k, c in enumerate(self.label_names[1:], start=1):
                sel = (label == 0) | (label == k)
                if len(np.unique(label[sel])) == 2:
                    s = scores[sel, k] / np.maximum(scores[sel, k] + scores[sel, 0], 1e-12)
                    out[f"auc_{_class_name(c)}"] = float(
                        roc_auc_score(
                            label[sel] == k, s, sample_weight=None if weight is None else weight[sel]
                        )
                    )
        for t in self.terms:
            if t.target == "label" or t.head not in pred or t.target not in targets:
                continue
            p, y = pred[t.head], np.asarray(targets[t.target], dtype=np.float64)
            if t.term == "pinball":
                out[f"{t.head}_coverage"] = float(np.mean(y < p))
            else:
                ok = y != 0
                r = p[ok] / y[ok]
                q25, q50, q75 = np.percentile(r, [25, 50, 75]) if r.size else (np.nan,) * 3
                out[f"{t.head}_response"] = float(q50)
                out[f"{t.head}_resolution"] = float((q75 - q25) / 2)
        return out
