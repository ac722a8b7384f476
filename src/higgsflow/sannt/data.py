"""Input of systematic-aware training: weighted samples per process with their systematic variations.

Any arrays go in: per process the features ``(N, F)`` and weights ``(N,)`` (expected events per simulated
event, so Σ w is the expected yield), the POI that scales it (signals) and, per nuisance parameter,

- a shape variation at η = ±1, given as varied features (e.g. an energy scale applied to the same events), as
  varied weights (e.g. a reweighting), or both (an independent varied sample), and/or
- a normalisation uncertainty (κ_up, κ_down), interpolated with pyhf's code 4.

Each nuisance parameter has a unit Gaussian constraint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from higgsflow.errors import DataError

__all__ = ["BENCHMARK", "Sample", "SystematicDataset", "Variation", "benchmark_samples"]

log = logging.getLogger(__name__)


@dataclass
class Variation:
    """One side (up or down) of a shape variation; ``None`` parts are taken from the nominal sample."""

    features: np.ndarray | None = None
    weights: np.ndarray | None = None


@dataclass
class Sample:
    """One process: nominal features and weights, its POI (``None`` for a background) and its systematics.

    Attributes
    ----------
    name: process name.
    features: ``(N, F)`` input features.
    weights: ``(N,)`` event weights in expected events (Σ w = expected yield).
    poi: name of the POI (signal strength) scaling this process, or ``None``.
    shape_systematics: ``{nuisance: (up, down)}`` variations at η = +1 and η = −1.
    norm_systematics: ``{nuisance: (kappa_up, kappa_down)}`` yield factors at η = ±1.
    """

    name: str
    features: np.ndarray
    weights: np.ndarray
    poi: str | None = None
    shape_systematics: dict[str, tuple[Variation, Variation]] = field(default_factory=dict)
    norm_systematics: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.features = _as_features(self.features, self.name, "features")
        self.weights = _as_weights(self.weights, len(self.features), self.name, "weights")
        n_feat = self.features.shape[1]
        for nuis, pair in self.shape_systematics.items():
            if len(pair) != 2:
                raise DataError("a shape systematic needs (up, down)", file=self.name, field=nuis)
            for side, var in zip(("up", "down"), pair, strict=True):
                where = f"{nuis}/{side}"
                if var.features is not None:
                    var.features = _as_features(var.features, self.name, where)
                    if var.features.shape[1] != n_feat:
                        raise DataError(
                            f"{var.features.shape[1]} features",
                            file=self.name,
                            field=where,
                            expected=f"{n_feat}",
                        )
                n = len(var.features) if var.features is not None else len(self.features)
                if var.weights is not None:
                    var.weights = _as_weights(var.weights, n, self.name, where)
                elif var.features is not None and len(var.features) != len(self.features):
                    raise DataError(
                        "varied features with another event count need their own weights",
                        file=self.name,
                        field=where,
                        expected="Variation(features=..., weights=...)",
                    )
        for nuis, (ku, kd) in self.norm_systematics.items():
            if not (np.isfinite(ku) and np.isfinite(kd) and ku > 0 and kd > 0):
                raise DataError(
                    f"kappa = ({ku}, {kd})", file=self.name, field=nuis, expected="positive factors"
                )

    @property
    def expected_yield(self) -> float:
        """Σ w, expected events."""
        return float(self.weights.sum())


def _as_features(x: np.ndarray, name: str, where: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or len(arr) == 0:
        raise DataError(
            f"features of shape {arr.shape}", file=name, field=where, expected="a non-empty (N, F) array"
        )
    if not np.isfinite(arr).all():
        row = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise DataError("features hold NaN or inf", file=name, field=where, row=row, expected="finite values")
    return arr


def _as_weights(w: np.ndarray, n: int, name: str, where: str) -> np.ndarray:
    arr = np.asarray(w, dtype=np.float64).reshape(-1)
    if len(arr) != n:
        raise DataError(
            f"{len(arr)} weights for {n} events", file=name, field=where, expected="one weight per event"
        )
    if not np.isfinite(arr).all():
        row = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise DataError("weights hold NaN or inf", file=name, field=where, row=row, expected="finite weights")
    return arr


@dataclass
class SystematicDataset:
    """All processes of one data split; names of POIs and nuisances in order of first appearance."""

    samples: list[Sample]

    def __post_init__(self) -> None:
        if not self.samples:
            raise DataError("no samples", field="samples", expected="at least one process")
        names = [s.name for s in self.samples]
        if len(set(names)) != len(names):
            raise DataError("process names repeat", field="samples", expected="unique names")
        n_feat = {s.features.shape[1] for s in self.samples}
        if len(n_feat) != 1:
            raise DataError(f"feature counts {sorted(n_feat)} differ", field="features", expected="one count")
        if not self.pois:
            raise DataError("no process has a POI", field="poi", expected="at least one signal process")

    @property
    def processes(self) -> list[str]:
        return [s.name for s in self.samples]

    @property
    def pois(self) -> list[str]:
        return list(dict.fromkeys(s.poi for s in self.samples if s.poi is not None))

    @property
    def nuisances(self) -> list[str]:
        names: list[str] = []
        for s in self.samples:
            names += [*s.shape_systematics, *s.norm_systematics]
        return list(dict.fromkeys(names))

    @property
    def n_features(self) -> int:
        return self.samples[0].features.shape[1]

    def class_index(self) -> list[int]:
        """Class of each process for a classifier: the index of its POI, or len(pois) for all backgrounds."""
        pois = self.pois
        return [pois.index(s.poi) if s.poi is not None else len(pois) for s in self.samples]

    def poi_matrix(self) -> np.ndarray:
        pois = self.pois
        mat = np.zeros((len(self.samples), len(pois)))
        for p, s in enumerate(self.samples):
            if s.poi is not None:
                mat[p, pois.index(s.poi)] = 1.0
        return mat


# The 2-D toy benchmark (docs/sannt.md), fixed so that results stay comparable: means, covariances (diagonal
# variances) and expected yields.
BENCHMARK: dict[str, dict] = {
    "ggH": {"mean": (0.0, 0.0), "var": (1.0, 1.0), "yield": 100.0, "poi": "mu_ggH"},
    "qqH": {"mean": (0.0, 3.0), "var": (1.0, 1.0), "yield": 40.0, "poi": "mu_qqH"},
    "ztt": {"mean": (1.5, 0.0), "var": (2.0, 1.0), "yield": 2000.0, "tes_sigma": 0.4},
    "ttbar": {"mean": (1.0, 4.0), "var": (1.0, 2.0), "yield": 400.0, "norm": 0.05},
    "qcd": {"mean": (3.0, 2.0), "var": (4.0, 4.0), "yield": 800.0, "norm": 0.20},
}


def benchmark_samples(n_per_process: int, seed: int) -> SystematicDataset:
    """The 2-D toy benchmark: five processes in x = (x1, x2), Gaussian with the stated means and diagonal
    covariances.

    ``n_per_process`` events are simulated per process and weighted to the stated expected yields
    (w = yield / n), so the Asimov yields are those of the benchmark at any simulated statistics. The Z→ττ
    shape nuisance ``tes`` (σ = 0.4) shifts x1 of the same events by ±0.4 (a τ energy scale); tt̄ has a ±5%
    and QCD a ±20% normalisation nuisance (``norm_ttbar``, ``norm_qcd``). POIs ``mu_ggH`` and ``mu_qqH``.
    """
    if n_per_process < 1:
        raise DataError(
            f"n_per_process = {n_per_process}", field="n_per_process", expected="a positive integer"
        )
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(BENCHMARK))]
    samples = []
    for rng, (name, cfg) in zip(rngs, BENCHMARK.items(), strict=True):
        x = rng.normal(cfg["mean"], np.sqrt(cfg["var"]), size=(n_per_process, 2))
        w = np.full(n_per_process, cfg["yield"] / n_per_process)
        shape: dict[str, tuple[Variation, Variation]] = {}
        norm: dict[str, tuple[float, float]] = {}
        if "tes_sigma" in cfg:
            shift = np.array([cfg["tes_sigma"], 0.0])
            shape["tes"] = (Variation(features=x + shift), Variation(features=x - shift))
        if "norm" in cfg:
            norm[f"norm_{name}"] = (1.0 + cfg["norm"], 1.0 - cfg["norm"])
        samples.append(Sample(name, x, w, poi=cfg.get("poi"), shape_systematics=shape, norm_systematics=norm))
    return SystematicDataset(samples)
