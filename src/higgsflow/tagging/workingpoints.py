"""Working points at fixed light-jet mistag rate, per-flavour efficiency tables and (pT, η) efficiency maps.

A working point of a discriminant D is the threshold t such that the fraction of light jets (hadron flavour 0)
with D > t equals the target mistag rate (CMS's loose, medium and tight points: 10%, 1%, 0.1%). Its b and c
efficiencies are the fractions of b (flavour 5) and c (flavour 4) jets with D > t. Each efficiency carries a 68%
Clopper–Pearson interval; a point set on fewer than :data:`MIN_LIGHT_PASS` passing light jets is flagged
(``reliable=False``): its threshold rests on a handful of jets.

Efficiency maps follow the BTV habit: for each flavour, the jets before and after the cut in bins of pT and |η|,
as one :class:`hist.Hist` (axes ``flavour``, ``pt``, ``abseta``, ``passed``), from which the efficiency per bin is
the ratio of the ``passed=True`` slice to the sum (:func:`map_efficiency`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from higgsflow.errors import DataError

__all__ = [
    "DEFAULT_MISTAGS",
    "MIN_LIGHT_PASS",
    "WorkingPoint",
    "efficiency_maps",
    "flavour_efficiencies",
    "map_efficiency",
    "working_points",
    "write_efficiency_maps",
]

#: the light-jet mistag rates of the loose, medium and tight working points
DEFAULT_MISTAGS = (0.1, 0.01, 0.001)
_NAMES = {0.1: "L", 0.01: "M", 0.001: "T"}
#: a working point set on fewer passing light jets than this is flagged as unreliable
MIN_LIGHT_PASS = 10


def _interval(k: int, n: int) -> tuple[float, float]:
    from higgsflow.evaluate.metrics import clopper_pearson

    return clopper_pearson(k, n, cl=0.6827)


@dataclass(frozen=True)
class WorkingPoint:
    """One working point: its target mistag, threshold and the efficiency of each flavour."""

    name: str
    discriminant: str
    target_mistag: float
    threshold: float
    eff_b: float
    eff_c: float
    eff_light: float
    n_b: int
    n_c: int
    n_light: int
    interval_b: tuple[float, float]
    interval_c: tuple[float, float]
    interval_light: tuple[float, float]
    reliable: bool

    def as_dict(self) -> dict:
        return asdict(self)


def _check(disc: np.ndarray, flavour: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    disc = np.asarray(disc, dtype=np.float64).ravel()
    flavour = np.asarray(flavour).ravel()
    if disc.size != flavour.size:
        raise DataError(f"{disc.size} scores but {flavour.size} flavours", field=what)
    bad = np.flatnonzero(~np.isfinite(disc))
    if bad.size:
        raise DataError(
            f"{bad.size} NaN/inf value(s), first at jet {int(bad[0])}", field=what, expected="finite scores"
        )
    return disc, flavour


def flavour_efficiencies(
    disc: np.ndarray, flavour: np.ndarray, threshold: float
) -> dict[str, tuple[float, int, int]]:
    """``{"b"|"c"|"light": (efficiency, passing, total)}`` of the cut ``disc > threshold``."""
    disc, flavour = _check(disc, flavour, "discriminant")
    out = {}
    for code, name in ((5, "b"), (4, "c"), (0, "light")):
        sel = disc[flavour == code]
        k = int((sel > threshold).sum())
        out[name] = (k / sel.size if sel.size else float("nan"), k, int(sel.size))
    return out


def working_points(
    disc: np.ndarray,
    flavour: np.ndarray,
    *,
    mistags: Sequence[float] = DEFAULT_MISTAGS,
    discriminant: str = "BvsAll",
) -> list[WorkingPoint]:
    """The working points of ``disc`` at the light-jet mistag rates ``mistags`` (fractions in (0, 1)).

    Only jets with ``disc >= 0`` (the tagger ran) and a known flavour (0, 4 or 5) count. The threshold of a rate m
    is the ⌈m·N_light⌉-th highest light-jet value, so that ``disc > threshold`` keeps ``floor(m·N_light)`` light jets
    (exactly m·N_light when it is an integer and no two light jets share that value).
    """
    disc, flavour = _check(disc, flavour, discriminant)
    keep = (disc >= 0) & np.isin(flavour, (0, 4, 5))
    disc, flavour = disc[keep], flavour[keep]
    light = np.sort(disc[flavour == 0])[::-1]
    if light.size == 0:
        raise DataError("no light jets (hadron flavour 0) with a score", field=discriminant)
    out = []
    for m in mistags:
        if not 0 < m < 1:
            raise DataError(
                f"mistag rate {m} outside (0, 1)", field="mistags", expected="e.g. 0.1,0.01,0.001"
            )
        k = int(np.floor(m * light.size + 1e-9))
        threshold = float(light[k]) if k < light.size else float(light[-1])
        eff = flavour_efficiencies(disc, flavour, threshold)
        out.append(
            WorkingPoint(
                name=_NAMES.get(m, f"{m:g}"),
                discriminant=discriminant,
                target_mistag=float(m),
                threshold=threshold,
                eff_b=eff["b"][0],
                eff_c=eff["c"][0],
                eff_light=eff["light"][0],
                n_b=eff["b"][2],
                n_c=eff["c"][2],
                n_light=eff["light"][2],
                interval_b=_interval(eff["b"][1], eff["b"][2]),
                interval_c=_interval(eff["c"][1], eff["c"][2]),
                interval_light=_interval(eff["light"][1], eff["light"][2]),
                reliable=eff["light"][1] >= MIN_LIGHT_PASS,
            )
        )
    return out


#: default binning of the efficiency maps: pT in GeV, |η|
PT_EDGES = (20.0, 30.0, 50.0, 70.0, 100.0, 140.0, 200.0, 300.0, 600.0, 1000.0)
ABSETA_EDGES = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5)


def efficiency_maps(
    pt: np.ndarray,
    eta: np.ndarray,
    flavour: np.ndarray,
    passed: np.ndarray,
    *,
    pt_edges: Sequence[float] = PT_EDGES,
    abseta_edges: Sequence[float] = ABSETA_EDGES,
    weight: np.ndarray | None = None,
):
    """The jets before and after a cut in (flavour, pT, |η|) as one :class:`hist.Hist` with axes ``flavour``
    (0, 4, 5), ``pt`` (GeV), ``abseta`` and the boolean ``passed``, weighted storage (jets outside the edges go to
    the flow bins). :func:`map_efficiency` turns it into efficiencies per bin."""
    import hist

    h = hist.Hist(
        hist.axis.IntCategory([0, 4, 5], name="flavour", label="hadron flavour"),
        hist.axis.Variable(list(pt_edges), name="pt", label="jet $p_T$ [GeV]"),
        hist.axis.Variable(list(abseta_edges), name="abseta", label=r"jet $|\eta|$"),
        hist.axis.Boolean(name="passed"),
        storage=hist.storage.Weight(),
    )
    flavour = np.asarray(flavour).astype(np.int64)
    keep = np.isin(flavour, (0, 4, 5))
    w = None if weight is None else np.asarray(weight, dtype=np.float64)[keep]
    h.fill(
        flavour=flavour[keep],
        pt=np.asarray(pt, dtype=np.float64)[keep],
        abseta=np.abs(np.asarray(eta, dtype=np.float64))[keep],
        passed=np.asarray(passed, dtype=bool)[keep],
        weight=w if w is not None else 1.0,
    )
    return h


def map_efficiency(h, flavour: int) -> np.ndarray:
    """Efficiency per (pT, |η|) bin of one hadron flavour from :func:`efficiency_maps` (NaN in empty bins)."""
    sub = h[{"flavour": hist_loc(flavour)}]
    passed = sub[{"passed": True}].values()
    total = passed + sub[{"passed": False}].values()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, passed / np.where(total > 0, total, 1.0), np.nan)


def hist_loc(value: int):
    import hist

    return hist.loc(value)


_FLAVOUR_NAMES = {5: "b", 4: "c", 0: "light"}


def write_efficiency_maps(path, maps, *, overwrite: bool = False):
    """Write maps ``{name: hist}`` of :func:`efficiency_maps` to a ROOT file as 2D histograms (pT × |η|)
    ``<name>_<flavour>_passed`` and ``<name>_<flavour>_total`` (flavour b, c, light), the layout b-tagging
    scale-factor tools read (efficiency = passed / total). Written atomically; returns the path."""
    import os
    from pathlib import Path

    import uproot

    path = Path(path)
    if path.exists() and not overwrite:
        raise DataError("output exists (use --overwrite)", file=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        with uproot.recreate(tmp) as f:
            for name, h in maps.items():
                for code, flav in _FLAVOUR_NAMES.items():
                    sub = h[{"flavour": hist_loc(code)}]
                    passed = sub[{"passed": True}]
                    f[f"{name}_{flav}_passed"] = passed
                    f[f"{name}_{flav}_total"] = passed + sub[{"passed": False}]
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
