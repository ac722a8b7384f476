"""The tt̄+jets split by the extra heavy-flavour hadrons (CMS genTtbarId-like), from the truth columns of an event
file (the event-file contract of ``higgsflow generate events``).

Per event, over the generator-level jets with p_T > ``pt_min`` (20 GeV) and |η| < ``abs_eta_max`` (2.4):

- an *additional b jet* is a gen jet with ``genjet_nb_extra`` ≥ 1 (b hadrons not from the top-quark decays);
- **tt2b** (tt+≥2b): ≥ 2 additional b jets, or exactly one that holds ≥ 2 extra b hadrons;
- **ttb** (tt+b): exactly one additional b jet, with exactly one extra b hadron;
- otherwise the same with c hadrons (``genjet_nc_extra``): **tt2c** (tt+≥2c), **ttc** (tt+c);
- otherwise **ttlf** (tt+light).

CMS's genTtbarId keeps tt+bb (two b jets) and tt+2b (one jet with two b hadrons) apart; here both are tt+≥2b, as in
the ttH(cc) search's five tt+jets classes.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np

from higgsflow.errors import DataError

__all__ = ["TTBAR_CATEGORIES", "ttbar_category"]

#: the five tt+jets classes, in the order of the event file's label columns
TTBAR_CATEGORIES = ("ttlf", "ttb", "tt2b", "ttc", "tt2c")


def _jagged(x: Any, name: str) -> ak.Array:
    arr = ak.Array(x)
    if arr.ndim != 2:
        raise DataError(f"expected one list per event, got {arr.ndim} dimension(s)", field=name)
    return arr


def ttbar_category(
    genjet_nb_extra: Any,
    genjet_nc_extra: Any,
    genjet_pt: Any,
    genjet_eta: Any,
    *,
    pt_min: float = 20.0,
    abs_eta_max: float = 2.4,
) -> np.ndarray:
    """The tt+jets class of each event (``"ttlf"``, ``"ttb"``, ``"tt2b"``, ``"ttc"``, ``"tt2c"``) from its gen
    jets (jagged, one list per event; definition in the module docstring).

    >>> ttbar_category([[0, 2], [1, 0], [0]], [[0, 0], [0, 0], [1]], [[50, 40], [30, 30], [25]], [[0, 1], [0, 0], [2]])
    array(['tt2b', 'ttb', 'ttc'], dtype='<U4')
    """
    nb = _jagged(genjet_nb_extra, "genjet_nb_extra")
    nc = _jagged(genjet_nc_extra, "genjet_nc_extra")
    pt = _jagged(genjet_pt, "genjet_pt")
    eta = _jagged(genjet_eta, "genjet_eta")
    counts = [ak.to_numpy(ak.num(a)) for a in (nb, nc, pt, eta)]
    for name, c in zip(("genjet_nc_extra", "genjet_pt", "genjet_eta"), counts[1:], strict=True):
        if c.shape != counts[0].shape or (c != counts[0]).any():
            raise DataError(
                "not one value per gen jet", field=name, expected="the lengths of genjet_nb_extra"
            )
    ok = (pt > pt_min) & (abs(eta) < abs_eta_max)

    def split(n: ak.Array) -> tuple[np.ndarray, np.ndarray]:
        n = ak.where(ok, n, 0)
        n_jets = ak.to_numpy(ak.sum(n >= 1, axis=1))
        n_had = ak.to_numpy(ak.sum(n, axis=1))  # with exactly one flavoured jet: its hadron count
        many = (n_jets >= 2) | ((n_jets == 1) & (n_had >= 2))
        one = (n_jets == 1) & (n_had == 1)
        return many, one

    b2, b1 = split(nb)
    c2, c1 = split(nc)
    out = np.full(len(counts[0]), "ttlf", dtype="<U4")
    out[c1] = "ttc"
    out[c2] = "tt2c"
    out[b1] = "ttb"
    out[b2] = "tt2b"
    return out
