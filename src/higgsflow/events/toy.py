"""Synthetic event files in the event-file schema, for tests and quick runs without the generator.

Each class gets its own flavour content: the jets from the boson or the extra heavy flavour carry high tagger
discriminants of their flavour (ttHcc/ttZcc/ttc/tt2c: c-like jets with high CvsL and CvsB; ttHbb/ttZbb/ttb/tt2b:
b-like jets with high BvsAll), the two b jets of the top decays are b-like in every class, the rest light. Jet
kinematics are loose stand-ins (p_T falling exponentially above 25 GeV, |η| < 2.4, φ uniform); a boson's two
jets have the boson's mass (m_H or m_Z) when combined. One lepton per event (the 1L channel), MET from the
neutrino. Weights are the toy cross sections of :data:`TOY_XSEC_PB` shared among the events of a class. Nothing
here is physics beyond that: it exercises the chain, it does not model it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from higgsflow.events.objects import CLASSES, LABELS
from higgsflow.physics.constants import M_H, M_Z

__all__ = ["TOY_XSEC_PB", "toy_events"]

#: toy cross sections × branching ratio × acceptance (pb), of the order of the 13 TeV values
TOY_XSEC_PB = {
    "ttHcc": 0.5071 * 0.02884,
    "ttHbb": 0.5071 * 0.5809,
    "ttZcc": 0.86 * 0.12,
    "ttZbb": 0.86 * 0.15,
    "ttlf": 300.0,
    "ttb": 6.0,
    "tt2b": 4.0,
    "ttc": 30.0,
    "tt2c": 12.0,
    "QCD": 1000.0,
}
_EXTRA = {  # (flavour of the boson's / extra jets, how many, boson mass or None)
    "ttHcc": ("c", 2, M_H),
    "ttHbb": ("b", 2, M_H),
    "ttZcc": ("c", 2, M_Z),
    "ttZbb": ("b", 2, M_Z),
    "ttlf": ("l", 0, None),
    "ttb": ("b", 1, None),
    "tt2b": ("b", 2, None),
    "ttc": ("c", 1, None),
    "tt2c": ("c", 2, None),
    "QCD": ("l", 0, None),
}


def _scores(rng: np.random.Generator, flavour: str, n: int) -> tuple[np.ndarray, ...]:
    """(BvsAll, CvsL, CvsB, QvsG) of n jets of a flavour."""
    if flavour == "b":
        return rng.beta(6, 1.5, n), rng.beta(2, 3, n), rng.beta(1.5, 6, n), rng.uniform(0, 1, n)
    if flavour == "c":
        return rng.beta(1.5, 6, n), rng.beta(6, 1.5, n), rng.beta(5, 2, n), rng.uniform(0, 1, n)
    return rng.beta(1, 12, n), rng.beta(1.5, 6, n), rng.beta(3, 3, n), rng.beta(3, 2, n)


def _boson_pair(rng: np.random.Generator, mass: float) -> list[tuple[float, float, float, float]]:
    """Two massless-ish jets whose invariant mass is ``mass``: back to back in the boson frame, then boosted."""
    pt_b = rng.exponential(80.0)
    eta_b, phi_b = rng.uniform(-1.0, 1.0), rng.uniform(-np.pi, np.pi)
    cos_t, phi_d = rng.uniform(-1, 1), rng.uniform(-np.pi, np.pi)
    sin_t = np.sqrt(1 - cos_t**2)
    e_half = mass / 2
    d = np.array([sin_t * np.cos(phi_d), sin_t * np.sin(phi_d), cos_t]) * e_half
    p_b = np.array([pt_b * np.cos(phi_b), pt_b * np.sin(phi_b), pt_b * np.sinh(eta_b)])
    e_b = np.sqrt(mass**2 + p_b @ p_b)
    beta = p_b / e_b
    gamma = e_b / mass
    out = []
    for sign in (1, -1):
        p = sign * d
        bp = beta @ p
        b2 = beta @ beta
        p_lab = p + ((gamma - 1) * bp / b2 if b2 > 0 else 0.0) * beta + gamma * e_half * beta
        pt = float(np.hypot(p_lab[0], p_lab[1]))
        out.append((pt, float(np.arcsinh(p_lab[2] / pt)), float(np.arctan2(p_lab[1], p_lab[0])), 0.0))
    return out


def toy_events(
    n_per_class: int | dict[str, int],
    *,
    classes: tuple[str, ...] = CLASSES,
    seed: int = 0,
    start_id: int = 0,
) -> dict[str, Any]:
    """Columns of a synthetic event file (module docstring) with ``n_per_class`` events of each class of
    ``classes`` (lists per event for the jagged columns; write them with :func:`higgsflow.data.io.write_table`)."""
    rng = np.random.default_rng(seed)
    counts = n_per_class if isinstance(n_per_class, dict) else {c: n_per_class for c in classes}
    rows: dict[str, list[Any]] = {k: [] for k in ("event_id", "weight", *LABELS)}
    jagged = ("jet_pt", "jet_eta", "jet_phi", "jet_mass", "jet_hadronFlavour", "jet_index",
              "jet_btagB", "jet_btagCvL", "jet_btagCvB", "jet_btagQvG",
              "lep_pt", "lep_eta", "lep_phi", "lep_mass", "lep_charge", "lep_pdgId")  # fmt: skip
    rows.update({k: [] for k in (*jagged, "met_pt", "met_phi")})
    eid = start_id
    for cls, n in counts.items():
        flavour, n_extra, mass = _EXTRA[cls]
        for _ in range(n):
            jets: list[tuple[float, float, float, float]] = []
            flav: list[str] = []
            n_top_b = 0 if cls == "QCD" else 2
            if mass is not None:
                jets += _boson_pair(rng, mass)
                flav += [flavour] * 2
            else:
                jets += [(25 + rng.exponential(50.0), rng.uniform(-2.4, 2.4), rng.uniform(-np.pi, np.pi),
                          rng.uniform(4, 12)) for _ in range(n_extra)]  # fmt: skip
                flav += [flavour] * n_extra
            n_light = int(rng.integers(2, 5)) + (4 if cls == "QCD" else 0)
            jets += [(25 + rng.exponential(60.0), rng.uniform(-2.4, 2.4), rng.uniform(-np.pi, np.pi),
                      rng.uniform(4, 15)) for _ in range(n_top_b + n_light)]  # fmt: skip
            flav += ["b"] * n_top_b + ["l"] * n_light
            keep = [i for i, j in enumerate(jets) if j[0] > 20 and abs(j[1]) < 2.5]
            keep.sort(key=lambda i: -jets[i][0])
            jets, flav = [jets[i] for i in keep], [flav[i] for i in keep]
            s = np.zeros((4, len(jets)))
            for f in ("b", "c", "l"):
                idx = [i for i, x in enumerate(flav) if x == f]
                if idx:
                    s[:, idx] = np.stack(_scores(rng, f, len(idx)))
            rows["event_id"].append(eid)
            rows["weight"].append(TOY_XSEC_PB[cls] / n)
            for lab in LABELS:
                rows[lab].append(int(lab == f"label_{cls}"))
            rows["jet_pt"].append([j[0] for j in jets])
            rows["jet_eta"].append([j[1] for j in jets])
            rows["jet_phi"].append([j[2] for j in jets])
            rows["jet_mass"].append([j[3] for j in jets])
            rows["jet_hadronFlavour"].append([{"b": 5, "c": 4, "l": 0}[f] for f in flav])
            rows["jet_index"].append(list(range(len(jets))))
            for k, name in enumerate(("jet_btagB", "jet_btagCvL", "jet_btagCvB", "jet_btagQvG")):
                rows[name].append(s[k].tolist())
            if cls == "QCD":
                leps: list[tuple[float, ...]] = []
            else:
                leps = [(35 + rng.exponential(40.0), rng.uniform(-2.3, 2.3), rng.uniform(-np.pi, np.pi))]
            rows["lep_pt"].append([lep[0] for lep in leps])
            rows["lep_eta"].append([lep[1] for lep in leps])
            rows["lep_phi"].append([lep[2] for lep in leps])
            rows["lep_mass"].append([0.105 for _ in leps])
            charge = [int(rng.choice([-1, 1])) for _ in leps]
            rows["lep_charge"].append(charge)
            rows["lep_pdgId"].append([-13 * q for q in charge])
            rows["met_pt"].append(float(rng.exponential(50.0)))
            rows["met_phi"].append(float(rng.uniform(-np.pi, np.pi)))
            eid += 1
    import awkward as ak

    dtypes = {
        "jet_hadronFlavour": np.int32,
        "jet_index": np.int32,
        "lep_charge": np.int32,
        "lep_pdgId": np.int32,
    }
    out: dict[str, Any] = {}
    for k, v in rows.items():
        if k in jagged:
            out[k] = ak.values_astype(ak.Array(v), dtypes.get(k, np.float32))
        elif k == "event_id":
            out[k] = np.asarray(v, dtype=np.int64)
        elif k == "weight":
            out[k] = np.asarray(v, dtype=np.float64)
        elif k.startswith("label_"):
            out[k] = np.asarray(v, dtype=np.int32)
        else:
            out[k] = np.asarray(v, dtype=np.float32)
    return out
