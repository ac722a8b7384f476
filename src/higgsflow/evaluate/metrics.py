"""Classification metrics of jet taggers, with the JetClass conventions (Qu, Li, Qian, arXiv:2202.03772).

- accuracy: fraction of jets whose highest score is their true class;
- AUC: one-vs-rest ROC AUC averaged over classes (macro);
- background rejection 1/ε_B at a fixed signal efficiency ε_S for each signal class X against the background
  class (QCD) with the discriminant ``s = p_X / (p_X + p_QCD)``: ε_S = 50 % by default, 99 % for H→ℓνqq' and
  99.5 % for t→bℓν (their jets are easy to tell from QCD).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from higgsflow.errors import DataError

__all__ = [
    "JETCLASS_EFFICIENCIES",
    "TaggerMetrics",
    "accuracy",
    "compute_metrics",
    "rejection_at_efficiency",
    "roc_curve",
]

JETCLASS_EFFICIENCIES = {"Hqql": 0.99, "Tbl": 0.995}


def _short(name: str) -> str:
    return name[len("label_") :] if name.startswith("label_") else name


def accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of jets with ``argmax(scores) == label``."""
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def roc_curve(
    disc: np.ndarray, is_signal: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Signal efficiency and background efficiency for every threshold (descending), weighted if given."""
    order = np.argsort(-disc, kind="stable")
    sig = is_signal[order].astype(float)
    w = np.ones_like(sig) if weights is None else np.asarray(weights, float)[order]
    tps, fps = np.cumsum(sig * w), np.cumsum((1 - sig) * w)
    if tps[-1] <= 0 or fps[-1] <= 0:
        raise DataError("ROC needs both signal and background jets", field="labels")
    return tps / tps[-1], fps / fps[-1]


def rejection_at_efficiency(
    disc: np.ndarray, is_signal: np.ndarray, efficiency: float, weights: np.ndarray | None = None
) -> float:
    """1/ε_B at signal efficiency ``efficiency`` (linear interpolation on the ROC curve); inf if ε_B = 0."""
    tpr, fpr = roc_curve(disc, is_signal, weights)
    eb = float(np.interp(efficiency, tpr, fpr))
    return float("inf") if eb <= 0 else 1.0 / eb


def _auc(disc: np.ndarray, is_signal: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(is_signal, disc))


@dataclass
class TaggerMetrics:
    accuracy: float
    auc: float
    auc_per_class: dict[str, float]
    rejection: dict[str, float]
    efficiency: dict[str, float]
    background: str | None
    n_jets: int
    class_counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "auc": self.auc,
            "auc_per_class": self.auc_per_class,
            "rejection": {k: (None if not np.isfinite(v) else v) for k, v in self.rejection.items()},
            "efficiency": self.efficiency,
            "background": self.background,
            "n_jets": self.n_jets,
            "class_counts": self.class_counts,
        }

    def table(self) -> list[tuple[str, str]]:
        """Rows (quantity, value) of the JetClass-style table."""
        rows = [("accuracy", f"{self.accuracy:.4f}"), ("AUC (macro, one-vs-rest)", f"{self.auc:.4f}")]
        for k, v in self.rejection.items():
            eff = self.efficiency[k]
            rows.append(
                (f"Rej{eff * 100:g}% {k} vs {self.background}", f"{v:.1f}" if np.isfinite(v) else "inf")
            )
        return rows


def compute_metrics(
    scores: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    background: str | None = None,
    efficiencies: dict[str, float] | None = None,
    default_efficiency: float = 0.5,
) -> TaggerMetrics:
    """All metrics from softmax ``scores`` (N, K) and integer ``labels`` (N,).

    The background class is ``background`` or the one named QCD, else the first class.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.ndim != 2 or scores.shape[1] != len(class_names) or len(scores) != len(labels):
        raise DataError(
            "scores and labels do not match",
            field="scores",
            expected=f"(N, {len(class_names)}) scores and N labels",
        )
    if not np.isfinite(scores).all():
        raise DataError(
            "scores contain NaN or inf",
            field="scores",
            row=int(np.flatnonzero(~np.isfinite(scores).all(1))[0]),
        )
    short = [_short(c) for c in class_names]
    effs = {**JETCLASS_EFFICIENCIES, **(efficiencies or {})}
    counts = {short[k]: int((labels == k).sum()) for k in range(len(short))}
    present = [k for k in range(len(short)) if counts[short[k]] > 0]
    per_class = {}
    for k in present:
        if len(present) > 1:
            per_class[short[k]] = _auc(scores[:, k], labels == k)
    auc = float(np.mean(list(per_class.values()))) if per_class else float("nan")
    if background is None:
        background = "QCD" if "QCD" in short else short[0]
    b = short.index(_short(background))
    rejection, efficiency = {}, {}
    for k in present:
        if k == b or counts[short[b]] == 0:
            continue
        sel = (labels == k) | (labels == b)
        disc = scores[sel, k] / np.clip(scores[sel, k] + scores[sel, b], 1e-12, None)
        eff = effs.get(short[k], default_efficiency)
        rejection[short[k]] = rejection_at_efficiency(disc, labels[sel] == k, eff)
        efficiency[short[k]] = eff
    return TaggerMetrics(
        accuracy=accuracy(scores, labels),
        auc=auc,
        auc_per_class=per_class,
        rejection=rejection,
        efficiency=efficiency,
        background=short[b],
        n_jets=len(labels),
        class_counts=counts,
    )
