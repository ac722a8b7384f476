"""Small synthetic jets in the JetClass schema, for tests, examples and benchmarks (not physics simulation).

A jet of class c has ``n_prongs(c)`` prongs whose axes are drawn uniformly in a disk of radius ``R`` around
the jet
axis; each particle belongs to a random prong and sits at a Gaussian offset σ from it, with a p_T drawn
from the
same distribution whatever the class. So the distribution of any single particle is *identical* for every
class
and only the pair structure (how particles cluster) tells them apart — the case that pair-aware taggers
(ParT's
interaction matrix, ParticleNet's EdgeConv) must solve. Classes with ``displaced`` prongs get impact
parameters
from a decay length, others prompt ones, and more, farther and heavier secondary vertices (``sv_*``);
``jet_genjet_wnu_pt`` is a generator-level p_T (with neutrinos) for regression. Units: GeV, mm, rad.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import awkward as ak
import numpy as np

from higgsflow.data.io import write_table

__all__ = ["JETCLASS_LABELS", "TOY_CLASSES", "make_toy_jets", "write_toy_jets"]

JETCLASS_LABELS = ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl")
#: class -> (number of prongs, mean displacement of prong 1-2 tracks in mm, lepton)
TOY_CLASSES = {
    "QCD": (1, 0.0, False),
    "Hbb": (2, 0.5, False),
    "Hcc": (2, 0.2, False),
    "Hgg": (2, 0.0, False),
    "H4q": (4, 0.0, False),
    "Hqql": (3, 0.0, True),
    "Zqq": (2, 0.0, False),
    "Wqq": (2, 0.0, False),
    "Tbqq": (3, 0.5, False),
    "Tbl": (2, 0.5, True),
    "one_prong": (1, 0.0, False),
    "two_prong": (2, 0.0, False),
}


def make_toy_jets(
    classes: Sequence[str],
    n_per_class: int,
    *,
    seed: int,
    radius: float = 0.4,
    sigma: float = 0.02,
    n_min: int = 10,
    n_max: int = 60,
    jet_pt: float = 500.0,
    label_names: Sequence[str] | None = None,
) -> dict[str, ak.Array | np.ndarray]:
    """Columns of ``n_per_class`` jets per class (shuffled), JetClass branch names, one-hot ``label_<class>``.

    ``label_names`` lists every label branch to write (default: the classes given), so files of a subset of
    classes still have all the columns a data config asks for.
    """
    unknown = [c for c in classes if c not in TOY_CLASSES]
    if unknown:
        from higgsflow.errors import ConfigError

        raise ConfigError("unknown toy class", field=unknown[0], expected="one of " + ", ".join(TOY_CLASSES))
    rng = np.random.default_rng(seed)
    label_names = list(label_names or classes)
    n = n_per_class * len(classes)
    cls = np.repeat(np.arange(len(classes)), n_per_class)
    rng.shuffle(cls)
    counts = rng.integers(n_min, n_max + 1, size=n)
    total = int(counts.sum())
    jet_of = np.repeat(np.arange(n), counts)
    max_prongs = 4
    # prong axes uniform in a disk of `radius`
    r = radius * np.sqrt(rng.random((n, max_prongs)))
    a = rng.uniform(-np.pi, np.pi, (n, max_prongs))
    prong_eta, prong_phi = r * np.cos(a), r * np.sin(a)
    nprong = np.array([TOY_CLASSES[classes[c]][0] for c in cls])
    which = (rng.random(total) * nprong[jet_of]).astype(int)
    deta = prong_eta[jet_of, which] + sigma * rng.standard_normal(total)
    dphi = prong_phi[jet_of, which] + sigma * rng.standard_normal(total)
    frac = rng.gamma(0.6, 1.0, total)
    sums = np.bincount(jet_of, frac, minlength=n)
    pt = jet_pt * frac / sums[jet_of]
    pt = np.maximum(pt, 0.5)
    jet_eta = rng.uniform(-2.0, 2.0, n)
    jet_phi = rng.uniform(-np.pi, np.pi, n)
    eta = jet_eta[jet_of] + deta
    phi = jet_phi[jet_of] + dphi
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    energy = np.sqrt(px**2 + py**2 + pz**2)
    kind = rng.random(total)
    charged = kind < 0.6
    photon = (kind >= 0.6) & (kind < 0.85)
    neutral = kind >= 0.85
    charge = np.where(charged, rng.choice([-1.0, 1.0], total), 0.0)
    disp = np.array([TOY_CLASSES[classes[c]][1] for c in cls])[jet_of]
    lepton = np.array([TOY_CLASSES[classes[c]][2] for c in cls])[jet_of]
    d0err = np.where(charged, 0.01 + 0.02 * rng.random(total), 0.0)
    d0 = np.where(
        charged, rng.normal(0, 1, total) * d0err + disp * rng.exponential(1, total) * (which == 0), 0.0
    )
    dz = np.where(charged, rng.normal(0, 1, total) * d0err * 1.5, 0.0)
    is_mu = charged & lepton & (which == 1) & (rng.random(total) < 0.3)
    off = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=off[1:])

    def jag(x):
        return ak.unflatten(np.asarray(x, dtype=np.float32), counts)

    p4 = np.stack([np.bincount(jet_of, v, minlength=n) for v in (px, py, pz, energy)], axis=1)
    jpt = np.hypot(p4[:, 0], p4[:, 1])
    jm = np.sqrt(np.maximum(p4[:, 3] ** 2 - (p4[:, :3] ** 2).sum(1), 0))
    cols: dict[str, ak.Array | np.ndarray] = {
        "part_px": jag(px),
        "part_py": jag(py),
        "part_pz": jag(pz),
        "part_energy": jag(energy),
        "part_deta": jag(deta),
        "part_dphi": jag(dphi),
        "part_d0val": jag(d0),
        "part_d0err": jag(d0err),
        "part_dzval": jag(dz),
        "part_dzerr": jag(d0err * 1.5),
        "part_charge": jag(charge),
        "part_isChargedHadron": jag(charged & ~is_mu),
        "part_isNeutralHadron": jag(neutral),
        "part_isPhoton": jag(photon),
        "part_isElectron": jag(np.zeros(total)),
        "part_isMuon": jag(is_mu),
    }
    for name in label_names:
        idx = classes.index(name) if name in classes else -1
        cols[f"label_{name}"] = (cls == idx).astype(np.float32)
    cols.update(
        {
            "jet_pt": jpt.astype(np.float32),
            "jet_eta": jet_eta.astype(np.float32),
            "jet_phi": jet_phi.astype(np.float32),
            "jet_energy": p4[:, 3].astype(np.float32),
            "jet_nparticles": counts.astype(np.float32),
            "jet_sdmass": jm.astype(np.float32),
        }
    )
    for t in range(1, 5):
        # crude N-subjettiness: falls once t reaches the number of prongs
        tau = np.where(nprong >= t, 0.3, 0.05) * rng.uniform(0.7, 1.3, n) / t
        cols[f"jet_tau{t}"] = tau.astype(np.float32)
    cols["aux_nprongs"] = nprong.astype(np.float32)
    cols.update(_toy_secondary_vertices(np.random.default_rng([seed, 1]), cls, classes, jpt, counts))
    # generator-level jet p_T with neutrinos: a response that depends on the neutral-hadron p_T fraction
    # (under-measured) and on a lepton (its neutrino escapes), so a regression head has something to learn
    nh_frac = np.bincount(jet_of, pt * neutral, minlength=n) / np.maximum(
        np.bincount(jet_of, pt, minlength=n), 1e-9
    )
    has_lep = np.array([TOY_CLASSES[classes[c]][2] for c in cls])
    gen_rng = np.random.default_rng([seed, 2])
    response = 1.0 + 0.5 * nh_frac + 0.15 * has_lep + 0.02 * gen_rng.standard_normal(n)
    cols["jet_genjet_wnu_pt"] = (jpt * response).astype(np.float32)
    return cols


def _toy_secondary_vertices(
    rng: np.random.Generator, cls: np.ndarray, classes: Sequence[str], jpt: np.ndarray, counts: np.ndarray
) -> dict[str, ak.Array]:
    """Secondary vertices (``sv_*`` branches as the generator writes them): classes with displaced prongs have
    more of them, farther from the primary vertex, heavier and with more tracks. From their own random stream
    (the particle branches are those of the same seed without SVs)."""
    disp = np.array([TOY_CLASSES[classes[c]][1] for c in cls])
    n = len(cls)
    nsv = np.minimum(rng.poisson(0.5 + 3.0 * disp), 5)
    j = np.repeat(np.arange(n), nsv)
    t = int(nsv.sum())
    dsp = disp[j] > 0
    d3d = rng.exponential(0.05 + 4.0 * disp[j])
    d3derr = 0.02 + 0.03 * rng.random(t)
    dxy = d3d * rng.uniform(0.6, 1.0, t)
    cols = {
        "sv_pt": jpt[j] * rng.uniform(0.05, 0.5, t),
        "sv_mass": np.where(dsp, rng.uniform(0.8, 4.5, t), rng.uniform(0.3, 2.0, t)),
        "sv_ntracks": 2.0 + rng.poisson(1.0 + 2.0 * disp[j]),
        "sv_dxy": dxy,
        "sv_dxysig": dxy / (d3derr * 0.8),
        "sv_d3d": d3d,
        "sv_d3dsig": d3d / d3derr,
        "sv_costhetasvpv": 1.0 - rng.exponential(1e-3, t),
        "sv_deta": 0.1 * rng.standard_normal(t),
        "sv_dphi": 0.1 * rng.standard_normal(t),
    }
    return {k: ak.unflatten(np.asarray(v, dtype=np.float32), nsv) for k, v in cols.items()}


def write_toy_jets(
    path: str | os.PathLike[str],
    classes: Sequence[str],
    n_per_class: int,
    *,
    seed: int,
    overwrite: bool = False,
    **kwargs,
) -> Path:
    """Write :func:`make_toy_jets` to a ROOT or Parquet file (by suffix)."""
    cols = make_toy_jets(classes, n_per_class, seed=seed, **kwargs)
    meta = {
        "generator": "higgsflow.data.toy",
        "classes": list(classes),
        "n_per_class": n_per_class,
        "seed": seed,
    }
    return write_table(path, cols, metadata=meta, overwrite=overwrite)
