"""Classification metrics of jet taggers, with the JetClass conventions (Qu, Li, Qian, arXiv:2202.03772).

- accuracy: fraction of jets whose highest score is their true class;
- AUC: one-vs-rest ROC AUC averaged over classes (macro);
- background rejection 1/ε_B at a fixed signal efficiency ε_S for each signal class X against the background
  class (QCD) with the discriminant ``s = p_X / (p_X + p_QCD)``: ε_S = 50 % by default, 99 % for H→ℓνqq' and
  99.5 % for t→bℓν (their jets are easy to tell from QCD).

Every figure comes with its statistical uncertainty, because small test sets give rough figures (a rejection
of 25 measured on 50 background jets rests on 2 jets passing the cut):

- accuracy: Clopper–Pearson interval of the binomial fraction;
- rejection: Clopper–Pearson interval of ε_B for the number of background jets passing the cut at the given
  signal efficiency (the cut itself is taken as fixed), inverted; :data:`FEW_JETS` or fewer jets passing marks
  the figure as rough (``TaggerMetrics.rough``);
- AUC of one class: DeLong's variance of the Mann–Whitney statistic (normal approximation);
- macro AUC: bootstrap over jets (skipped above :data:`BOOTSTRAP_MAX_JETS` jets, where it would be slow).

Intervals are central, at :data:`CL` (68.27 %, one standard deviation) unless told otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from higgsflow.errors import DataError

__all__ = [
    "CL",
    "FEW_JETS",
    "JETCLASS_EFFICIENCIES",
    "MetricRow",
    "Rejection",
    "TaggerMetrics",
    "accuracy",
    "auc_with_error",
    "clopper_pearson",
    "compute_metrics",
    "rejection_at_efficiency",
    "rejection_with_interval",
    "roc_curve",
]

JETCLASS_EFFICIENCIES = {"Hqql": 0.99, "Tbl": 0.995}
#: confidence level of every interval (one standard deviation)
CL = 0.6827
#: a rejection resting on fewer background jets passing the cut than this is marked rough
FEW_JETS = 10
#: the macro AUC's bootstrap is skipped above this many jets
BOOTSTRAP_MAX_JETS = 20_000
_BOOTSTRAP_SAMPLES = 200


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


def clopper_pearson(k: float, n: int, cl: float = CL) -> tuple[float, float]:
    """Central Clopper–Pearson interval of a binomial fraction with ``k`` successes in ``n`` trials.

    The bounds are the α/2 quantile of Beta(k, n − k + 1) and the 1 − α/2 quantile of Beta(k + 1, n − k),
    α = 1 − ``cl``; 0 for k = 0 and 1 for k = n. Its coverage is at least ``cl`` for every true fraction.
    """
    from scipy.special import betaincinv

    if n <= 0:
        return 0.0, 1.0
    k = min(max(float(k), 0.0), float(n))
    alpha = 1.0 - cl
    lo = 0.0 if k <= 0 else float(betaincinv(k, n - k + 1, alpha / 2))
    hi = 1.0 if k >= n else float(betaincinv(k + 1, n - k, 1 - alpha / 2))
    return lo, hi


def _z(cl: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(0.5 + cl / 2))


def auc_with_error(disc: np.ndarray, is_signal: np.ndarray) -> tuple[float, float]:
    """ROC AUC (ties count one half) and its standard error by DeLong's method (DeLong et al., Biometrics 44
    (1988) 837): the variance of the placement values of signal and background jets."""
    from scipy.stats import rankdata

    disc = np.asarray(disc, dtype=np.float64)
    is_signal = np.asarray(is_signal, dtype=bool)
    pos, neg = disc[is_signal], disc[~is_signal]
    m, n = len(pos), len(neg)
    if m == 0 or n == 0:
        raise DataError("AUC needs both signal and background jets", field="labels")
    r_all = rankdata(np.concatenate([pos, neg]))
    v10 = (r_all[:m] - rankdata(pos)) / n  # per signal jet: fraction of background below it
    v01 = 1.0 - (r_all[m:] - rankdata(neg)) / m  # per background jet: fraction of signal above it
    auc = float(v10.mean())
    var = (v10.var(ddof=1) / m if m > 1 else 0.0) + (v01.var(ddof=1) / n if n > 1 else 0.0)
    return auc, float(np.sqrt(var))


def _auc(disc: np.ndarray, is_signal: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(is_signal, disc))


@dataclass
class Rejection:
    """Background rejection 1/ε_B at a signal efficiency, with the counts behind it."""

    value: float
    low: float
    high: float
    efficiency: float
    n_pass: int
    n_background: int
    cl: float = CL

    @property
    def rough(self) -> bool:
        """True when fewer than :data:`FEW_JETS` background jets pass the cut."""
        return self.n_pass < FEW_JETS


def rejection_with_interval(
    disc: np.ndarray, is_signal: np.ndarray, efficiency: float, cl: float = CL
) -> Rejection:
    """1/ε_B at ``efficiency`` as :func:`rejection_at_efficiency`, with the number of background jets passing
    the cut (ε_B × N_B, rounded) and the Clopper–Pearson interval of ε_B for that count, inverted
    (``high`` is inf when no background jet passes)."""
    value = rejection_at_efficiency(disc, is_signal, efficiency)
    n_b = int(np.sum(~np.asarray(is_signal, dtype=bool)))
    eb = 0.0 if not np.isfinite(value) else 1.0 / value
    k = round(eb * n_b)
    lo_eb, hi_eb = clopper_pearson(k, n_b, cl)
    return Rejection(
        value=value,
        low=1.0 / hi_eb,
        high=float("inf") if lo_eb <= 0 else 1.0 / lo_eb,
        efficiency=efficiency,
        n_pass=k,
        n_background=n_b,
        cl=cl,
    )


def _rank_auc(scores: np.ndarray, is_signal: np.ndarray) -> float:
    from scipy.stats import rankdata

    m = int(is_signal.sum())
    n = len(is_signal) - m
    if m == 0 or n == 0:
        return float("nan")
    r = rankdata(scores)
    return float((r[is_signal].sum() - m * (m + 1) / 2) / (m * n))


def _bootstrap_macro_auc(
    scores: np.ndarray, labels: np.ndarray, classes: list[int], cl: float, seed: int = 0
) -> tuple[float, float] | None:
    if len(labels) > BOOTSTRAP_MAX_JETS or len(classes) < 2:
        return None
    rng = np.random.default_rng(seed)
    vals = []
    for _ in range(_BOOTSTRAP_SAMPLES):
        idx = rng.integers(0, len(labels), len(labels))
        aucs = [_rank_auc(scores[idx, k], labels[idx] == k) for k in classes]
        if np.isfinite(aucs).all():
            vals.append(np.mean(aucs))
    if len(vals) < _BOOTSTRAP_SAMPLES // 2:
        return None
    lo, hi = np.quantile(vals, [0.5 - cl / 2, 0.5 + cl / 2])
    return float(lo), float(hi)


@dataclass
class MetricRow:
    """One line of the performance table: what, the value, its interval, what it rests on, a rough flag."""

    quantity: str
    value: str
    interval: str = ""
    basis: str = ""
    rough: bool = False


def _fmt_rej(x: float) -> str:
    if not np.isfinite(x):
        return "∞"
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


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
    #: Clopper–Pearson interval of the accuracy
    accuracy_interval: tuple[float, float] | None = None
    #: bootstrap interval of the macro AUC (None when skipped)
    auc_interval: tuple[float, float] | None = None
    #: DeLong standard error of each one-vs-rest AUC
    auc_per_class_error: dict[str, float] = field(default_factory=dict)
    #: AUC of each class against the background class alone, with the discriminant of the rejection
    auc_vs_background: dict[str, float] = field(default_factory=dict)
    #: rejection with its interval and counts, per signal class
    rejection_detail: dict[str, Rejection] = field(default_factory=dict)
    cl: float = CL

    @property
    def rough(self) -> list[str]:
        """Classes whose rejection rests on fewer than :data:`FEW_JETS` background jets passing the cut."""
        return [k for k, r in self.rejection_detail.items() if r.rough]

    def auc_per_class_interval(self, name: str) -> tuple[float, float]:
        z = _z(self.cl)
        a, e = self.auc_per_class[name], self.auc_per_class_error.get(name, 0.0)
        return max(a - z * e, 0.0), min(a + z * e, 1.0)

    def to_dict(self) -> dict:
        return {
            "accuracy": self.accuracy,
            "auc": self.auc,
            "auc_per_class": self.auc_per_class,
            "rejection": {k: _finite_or_none(v) for k, v in self.rejection.items()},
            "efficiency": self.efficiency,
            "background": self.background,
            "n_jets": self.n_jets,
            "class_counts": self.class_counts,
            "confidence_level": self.cl,
            "accuracy_interval": list(self.accuracy_interval) if self.accuracy_interval else None,
            "auc_interval": list(self.auc_interval) if self.auc_interval else None,
            "auc_per_class_error": self.auc_per_class_error,
            "auc_vs_background": self.auc_vs_background,
            "rejection_interval": {
                k: [r.low, _finite_or_none(r.high)] for k, r in self.rejection_detail.items()
            },
            "background_passing": {k: r.n_pass for k, r in self.rejection_detail.items()},
            "rough": self.rough,
        }

    def rows(self) -> list[MetricRow]:
        """The performance table, in words: every figure with its interval and the jets it rests on."""
        n = self.n_jets
        rows = []
        acc_iv = self.accuracy_interval
        rows.append(
            MetricRow(
                "accuracy",
                f"{self.accuracy:.3f}",
                f"{acc_iv[0]:.3f}–{acc_iv[1]:.3f}" if acc_iv else "",
                f"{n} jets",
            )
        )
        iv = self.auc_interval
        rows.append(
            MetricRow(
                "AUC, mean over classes",
                f"{self.auc:.3f}",
                f"{iv[0]:.3f}–{iv[1]:.3f}" if iv else "",
                f"{n} jets",
            )
        )
        for name, a in self.auc_per_class.items():
            lo, hi = self.auc_per_class_interval(name)
            n_k = self.class_counts.get(name, 0)
            rows.append(
                MetricRow(
                    f"AUC, {name} vs all others",
                    f"{a:.3f}",
                    f"{lo:.3f}–{hi:.3f}",
                    f"{n_k} {name}, {n - n_k} others",
                )
            )
        bkg = self.background
        for name, r in self.rejection_detail.items():
            value = _fmt_rej(r.value) if np.isfinite(r.value) else f"> {_fmt_rej(r.low)}"
            rows.append(
                MetricRow(
                    f"{bkg} rejection, {r.efficiency * 100:g}% {name} eff.",
                    value,
                    f"{_fmt_rej(r.low)}–{_fmt_rej(r.high)}",
                    f"{r.n_pass} of {r.n_background} {bkg} pass",
                    r.rough,
                )
            )
        return rows

    def notes(self) -> list[str]:
        """Footnotes of the table (the confidence level, the rough figures)."""
        out = [
            f"intervals: {self.cl * 100:.0f}% confidence (one standard deviation); "
            f"eff.: signal efficiency of the cut"
        ]
        if self.rough:
            out.append(
                f"* fewer than {FEW_JETS} {self.background} jets pass the cut: a rough figure "
                "(more test jets make it precise)"
            )
        return out

    def table(self) -> list[tuple[str, str]]:
        """Rows (quantity, value with its interval) of the table; a last row explains a ``*``."""
        out = []
        for r in self.rows():
            text = r.value + (f"  [{r.interval}]" if r.interval else "") + (" *" if r.rough else "")
            out.append((r.quantity, text))
        for note in self.notes():
            out.append((note, ""))
        return out


def compute_metrics(
    scores: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    *,
    background: str | None = None,
    efficiencies: dict[str, float] | None = None,
    default_efficiency: float = 0.5,
    cl: float = CL,
) -> TaggerMetrics:
    """All metrics from softmax ``scores`` (N, K) and integer ``labels`` (N,), with intervals at ``cl``.

    The background class is ``background`` or the one named QCD (jet types), else ud, uds or light (AK4
    flavour classes: b, c, s, g ... are then measured against light-quark jets, as mistag rates are), else the
    first class.
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
    per_class, per_class_err = {}, {}
    for k in present:
        if len(present) > 1:
            per_class[short[k]], per_class_err[short[k]] = auc_with_error(scores[:, k], labels == k)
    auc = float(np.mean(list(per_class.values()))) if per_class else float("nan")
    if background is None:  # QCD for jet-type classes, the light-quark class for flavour classes
        background = next((c for c in ("QCD", "ud", "uds", "light") if c in short), short[0])
    b = short.index(_short(background))
    rejection, efficiency, detail, vs_bkg = {}, {}, {}, {}
    for k in present:
        if k == b or counts[short[b]] == 0:
            continue
        sel = (labels == k) | (labels == b)
        disc = scores[sel, k] / np.clip(scores[sel, k] + scores[sel, b], 1e-12, None)
        eff = effs.get(short[k], default_efficiency)
        r = rejection_with_interval(disc, labels[sel] == k, eff, cl)
        detail[short[k]] = r
        rejection[short[k]] = r.value
        efficiency[short[k]] = eff
        vs_bkg[short[k]] = auc_with_error(disc, labels[sel] == k)[0]
    n_right = int(np.sum(np.argmax(scores, axis=1) == labels))
    return TaggerMetrics(
        accuracy=accuracy(scores, labels),
        auc=auc,
        auc_per_class=per_class,
        rejection=rejection,
        efficiency=efficiency,
        background=short[b],
        n_jets=len(labels),
        class_counts=counts,
        accuracy_interval=clopper_pearson(n_right, len(labels), cl) if len(labels) else None,
        auc_interval=_bootstrap_macro_auc(scores, labels, present if per_class else [], cl),
        auc_per_class_error=per_class_err,
        auc_vs_background=vs_bkg,
        rejection_detail=detail,
        cl=cl,
    )
