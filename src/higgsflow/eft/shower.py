"""Shower and hadronise the ZH LHE events with Pythia 8, pass them through the detector model, build objects.

The weights depend on the parton-level event z only, so they ride along: event k of the output belongs to
event k of the LHE file (Pythia reads the file in order; an event Pythia rejects is flagged, never dropped).

Candidates: by default the e-flow candidates of the generator's CMS-like detector model
(``higgsflow.generate.detector.simulate``, the Delphes CMS card of docs/generate.md) run on the stable
particles of each event; with ``detector=False`` the stable generator particles themselves (particle level).
Objects:

- leptons: the hardest opposite-sign same-flavour e/μ pair, p_T > 20 GeV, |η| < 2.5, dressed with photons
  within ΔR < 0.1;
- AK4 jets: anti-k_T R = 0.4 on all other candidates, p_T > 20 GeV, |η| < 2.5; a jet is b-tagged when a (last)
  B hadron of the generator record lies within ΔR < 0.4, with 70 % efficiency, otherwise with the 1 % mistag
  rate (seeded);
- AK8 jet: anti-k_T R = 0.8, p_T > 250 GeV, with two B hadrons inside (boosted category).

The H → bb̄ candidate is the two leading b-tagged AK4 jets (resolved) or the leading double-b AK8 jet
(boosted). :func:`generate_background` makes the Z/γ*(→ℓℓ)+jets background with the same objects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from higgsflow.eft.zh import SQRT_S
from higgsflow.errors import DataError

__all__ = ["generate_background", "particle_level_features", "shower_lhe"]

log = logging.getLogger(__name__)


def _is_b_hadron(pid: int) -> bool:
    a = abs(pid)
    return (a // 100) % 10 == 5 or (a // 1000) % 10 == 5


def shower_lhe(
    lhe: str | os.PathLike[str],
    seed: int,
    *,
    n_events: int | None = None,
    mpi: bool = False,
    btag_efficiency: float = 0.7,
    mistag: float = 0.01,
    detector: bool = True,
    callback: Callable[[int], None] | None = None,
) -> dict[str, np.ndarray]:
    """Shower the events of an LHE file; return per-event objects (four-vectors (E, px, py, pz) in GeV).

    Keys: ``ok`` (Pythia accepted the event), ``selected``, ``category`` (0 resolved, 1 boosted),
    ``p_lminus``, ``p_lplus``, ``p_h`` (the H → bb̄ candidate), ``n_bjets``, ``tag_weight`` (1).
    With ``detector`` (default) the objects are built from the e-flow candidates of the generator's CMS-like
    detector model (``higgsflow.generate.detector.simulate``: tracking efficiency and resolution, lepton
    identification, calorimeter towers), otherwise from the stable generator particles (particle level).
    """
    import pythia8mc

    lhe = Path(lhe)
    if not lhe.exists():
        raise DataError("LHE file not found", file=lhe)
    rng = np.random.default_rng(seed)
    py = pythia8mc.Pythia("", False)
    for s in (
        "Beams:frameType = 4",
        f"Beams:LHEF = {lhe}",
        "Random:setSeed = on",
        f"Random:seed = {int(seed) % 900_000_000 + 1}",
        f"PartonLevel:MPI = {'on' if mpi else 'off'}",
        "25:mayDecay = off",
        *_QUIET,
    ):
        py.readString(s)
    if not py.init():
        raise DataError("Pythia could not initialise from the LHE file", file=lhe)
    out = _event_loop(
        py, rng, n_events, btag_efficiency, mistag, False, callback, stop_at_eof=True, detector=detector
    )
    log.info("showered %d events from %s", len(out["ok"]), lhe)
    return out


_QUIET = (
    "Next:numberCount = 0",
    "Next:numberShowEvent = 0",
    "Next:numberShowInfo = 0",
    "Next:numberShowProcess = 0",
    "Next:numberShowLHA = 0",
    "Init:showChangedSettings = off",
    "Print:quiet = on",
    "Init:showProcesses = off",
)


def _event_loop(py, rng, n_events, eff, mistag, truth_tag, callback, *, stop_at_eof, detector=False):
    import fastjet

    ak4 = fastjet.JetDefinition(fastjet.antikt_algorithm, 0.4)
    ak8 = fastjet.JetDefinition(fastjet.antikt_algorithm, 0.8)
    keys = ("ok", "selected", "category", "p_lminus", "p_lplus", "p_h", "n_bjets", "tag_weight")
    rows: dict[str, list] = {k: [] for k in keys}
    zero = np.zeros(4)
    empty = {"selected": False, "category": 0, "p_lminus": zero, "p_lplus": zero, "p_h": zero}
    k = 0
    n_fail = 0
    while n_events is None or k < n_events:
        accepted = py.next()
        if not accepted:
            if stop_at_eof and py.infoPython().atEndOfFile():
                break
            if not stop_at_eof:  # internal processes: a failed event is retried, not counted
                n_fail += 1
                if n_fail > 10 * (n_events or 0) + 100:
                    raise DataError("Pythia fails to generate events", expected="a working process setup")
                continue
        k += 1
        if callback is not None:
            callback(k)
        res = (
            _objects(py.event, ak4, ak8, rng, eff, fastjet, mistag, truth_tag, detector) if accepted else None
        )
        if res is None:
            res = {**empty, "n_bjets": 0, "tag_weight": 0.0}
        rows["ok"].append(bool(accepted))
        for key, val in res.items():
            rows[key].append(val)
    return {key: np.array(val) for key, val in rows.items()}


def generate_background(
    n_events: int,
    seed: int,
    *,
    pt_hat_min: float = 20.0,
    m_ll_window: tuple[float, float] = (60.0, 120.0),
    mpi: bool = False,
    btag_efficiency: float = 0.7,
    mistag: float = 0.01,
    detector: bool = True,
    callback: Callable[[int], None] | None = None,
) -> tuple[dict[str, np.ndarray], float]:
    """Generate the Z/γ*(→ℓℓ)+jets background with Pythia 8 and reconstruct it like the showered signal.

    Processes ``WeakBosonAndParton:qqbar2gmZg`` and ``qg2gmZq`` (p̂_T > ``pt_hat_min`` GeV, the jets of the
    selection start at 20 GeV), Z/γ* → e⁺e⁻, μ⁺μ⁻ with m_ℓℓ in ``m_ll_window`` (GeV); b quarks come from the
    b-quark PDF and g → bb̄ in the shower. Objects and selection are those of :func:`shower_lhe`; the b-tagging
    rule (``btag_efficiency`` for a jet with a B hadron, ``mistag`` otherwise) is applied as a probability
    ("truth tagging": ``tag_weight`` = P(event selected), one tagging outcome drawn for the kinematics), which has
    the expectation of the random tagging of the signal at far smaller statistical error.

    Returns (objects as in :func:`shower_lhe` plus ``tag_weight``, σ in pb of the generated process).
    """
    import pythia8mc

    if n_events < 1:
        raise DataError("n_events must be positive", field="n_events", expected=">= 1")
    rng = np.random.default_rng(seed)
    py = pythia8mc.Pythia("", False)
    for s in (
        f"Beams:eCM = {SQRT_S:.1f}",  # the ZH model's √s (LHC Run 2), GeV
        "WeakBosonAndParton:qqbar2gmZg = on",
        "WeakBosonAndParton:qg2gmZq = on",
        f"PhaseSpace:pTHatMin = {float(pt_hat_min)}",
        f"23:mMin = {float(m_ll_window[0])}",
        f"23:mMax = {float(m_ll_window[1])}",
        "23:onMode = off",
        "23:onIfAny = 11 13",
        "Random:setSeed = on",
        f"Random:seed = {int(seed) % 900_000_000 + 1}",
        f"PartonLevel:MPI = {'on' if mpi else 'off'}",
        *_QUIET,
    ):
        py.readString(s)
    if not py.init():
        raise DataError("Pythia could not initialise the Z+jets processes", field="settings")
    out = _event_loop(
        py, rng, n_events, btag_efficiency, mistag, True, callback, stop_at_eof=False, detector=detector
    )
    sigma_pb = float(py.infoPython().sigmaGen()) * 1e9  # mb → pb
    log.info(
        "Z+jets: %d events, sigma = %.4g pb, mean tag weight %.3g",
        n_events,
        sigma_pb,
        out["tag_weight"].mean(),
    )
    return out, sigma_pb


def _dr(eta1, phi1, eta2, phi2):
    return np.hypot(eta1 - eta2, np.angle(np.exp(1j * (phi1 - phi2))))


def _candidates(event, rng, detector):
    """Final-state candidates (pid-like id, four-momenta) and the (η, φ) of the last B hadrons of an event.

    Without ``detector`` the candidates are the stable generator particles (neutrinos removed); with
    ``detector=True`` they are the e-flow candidates of ``higgsflow.generate.detector.simulate``: electrons and
    muons (id ∓11, ∓13 from the track charge), photons (22), charged (211·q) and neutral hadrons (130).
    """
    rows, bhad = [], []
    for i in range(event.size()):
        p = event[i]
        if p.isFinal():
            if abs(p.id()) in (12, 14, 16):
                continue
            rows.append((p.id(), p.charge(), p.px(), p.py(), p.pz(), p.e(), p.xProd(), p.yProd(), p.zProd()))
        elif _is_b_hadron(p.id()) and p.isHadron():
            daughters = [event[d].id() for d in range(p.daughter1(), p.daughter2() + 1) if d > 0]
            if not any(_is_b_hadron(d) for d in daughters):
                bhad.append((p.eta(), p.phi()))
    arr = np.array(rows, dtype=float).reshape(-1, 9)
    if not detector:
        return arr[:, 0].astype(int), arr[:, [5, 2, 3, 4]], bhad
    from higgsflow.generate.detector import simulate

    parts = {
        "event": np.zeros(len(arr), np.int64),
        "pid": arr[:, 0].astype(np.int64),
        "charge": arr[:, 1],
        "px": arr[:, 2],
        "py": arr[:, 3],
        "pz": arr[:, 4],
        "e": arr[:, 5],
        "vx": arr[:, 6],
        "vy": arr[:, 7],
        "vz": arr[:, 8],
    }
    ef = simulate(parts, rng)
    q = np.sign(ef.charge).astype(int)
    ids = np.select(
        [ef.kind == 1, ef.kind == 2, ef.kind == 3, ef.kind == 0], [-11 * q, -13 * q, 22, 211 * q], 130
    )
    return ids, np.column_stack([ef.energy, ef.px, ef.py, ef.pz]), bhad


def _objects(event, ak4, ak8, rng, eff, fastjet, mistag=0.01, truth_tag=False, detector=False):
    from higgsflow.generate.jets import _banner_guard

    ids, p4, bhad = _candidates(event, rng, detector)
    pt = np.hypot(p4[:, 1], p4[:, 2])
    eta = np.arcsinh(p4[:, 3] / np.maximum(pt, 1e-12))
    phi = np.arctan2(p4[:, 2], p4[:, 1])
    leptons = [i for i in np.flatnonzero(np.isin(np.abs(ids), (11, 13)) & (pt > 20) & (np.abs(eta) < 2.5))]
    leptons.sort(key=lambda i: -pt[i])
    pair = None
    for a_ in leptons:
        for b_ in leptons:
            if ids[a_] == -ids[b_] and ids[a_] > 0:
                pair = (a_, b_)
                break
        if pair:
            break
    if pair is None:
        return None
    used = np.zeros(len(ids), bool)
    used[list(pair)] = True
    lep = {}
    photons = ids == 22
    for i in pair:  # photon dressing
        near = photons & (_dr(eta[i], phi[i], eta, phi) < 0.1)
        lep[i] = p4[i] + p4[near].sum(axis=0)
        used |= near
    visible = [fastjet.PseudoJet(v[1], v[2], v[3], v[0]) for v in p4[~used]]
    with _banner_guard("fastjet"):  # FastJet's banner on stderr, once per process: stdout carries results
        jets = [j for j in fastjet.ClusterSequence(visible, ak4).inclusive_jets(20.0) if abs(j.eta()) < 2.5]
    jets.sort(key=lambda j: -j.pt())
    bflag = [any(_dr(j.eta(), j.phi_std(), e, f) < 0.4 for e, f in bhad) for j in jets]
    fat = [j for j in fastjet.ClusterSequence(visible, ak8).inclusive_jets(250.0) if abs(j.eta()) < 2.5]
    fat.sort(key=lambda j: -j.pt())
    boosted = [j for j in fat if sum(_dr(j.eta(), j.phi_std(), e, f) < 0.8 for e, f in bhad) >= 2]
    tag_weight = 1.0
    if truth_tag:
        # the same tagging rule in expectation: probabilities instead of draws, one outcome drawn for the kinematics
        p_tag = [eff if b else mistag for b in bflag]
        outcomes, probs = [], []
        p_boost = eff * eff if boosted else 0.0
        if p_boost > 0:
            outcomes.append(("boosted", None))
            probs.append(p_boost)
        for i2 in range(len(jets)):  # (i1, i2) are the two leading tagged jets
            untag_before = 1.0
            for i1 in range(i2):
                if i1 > 0:
                    untag_before *= 1.0 - p_tag[i1 - 1]
                others = np.prod([1.0 - p_tag[k] for k in range(i1 + 1, i2)]) if i2 > i1 + 1 else 1.0
                p = (1.0 - p_boost) * untag_before * p_tag[i1] * others * p_tag[i2]
                if p > 0:
                    outcomes.append(("resolved", (i1, i2)))
                    probs.append(p)
        tag_weight = float(sum(probs))
        if tag_weight > 0:
            kind, pair_idx = outcomes[rng.choice(len(outcomes), p=np.asarray(probs) / tag_weight)]
        else:
            kind, pair_idx = "none", None
        if kind == "boosted":
            b0 = boosted[0]
            h, category, selected = np.array([b0.e(), b0.px(), b0.py(), b0.pz()]), 1, True
        elif kind == "resolved":
            h = sum(np.array([jets[i].e(), jets[i].px(), jets[i].py(), jets[i].pz()]) for i in pair_idx)
            category, selected = 0, True
        else:
            h, category, selected = np.zeros(4), 0, False
        n_b = int(sum(bflag))
    else:
        bjets = [j for j, b in zip(jets, bflag, strict=True) if rng.uniform() < (eff if b else mistag)]
        n_b = len(bjets)
        if boosted and rng.uniform() < eff * eff:
            h = np.array([boosted[0].e(), boosted[0].px(), boosted[0].py(), boosted[0].pz()])
            category, selected = 1, True
        elif len(bjets) >= 2:
            h = sum(np.array([j.e(), j.px(), j.py(), j.pz()]) for j in bjets[:2])
            category, selected = 0, True
        else:
            h, category, selected = np.zeros(4), 0, False
    return {
        "selected": selected,
        "category": category,
        "p_lminus": lep[pair[0]],
        "p_lplus": lep[pair[1]],
        "p_h": h,
        "n_bjets": n_b,
        "tag_weight": tag_weight,
    }


def particle_level_features(objects: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The observables of ``zh.reconstruct`` (same keys) from the showered objects of :func:`shower_lhe`.

    Events that fail the selection get zeros (and ``selected`` False).
    """
    from higgsflow.eft.zh import _angles_features, _dot

    sel = objects["selected"].astype(bool)
    n = len(sel)
    out = {"selected": sel, "category": objects["category"].astype(np.int8)}
    ph = objects["p_h"]
    out["m_bb"] = np.where(sel, np.sqrt(np.maximum(_dot(ph, ph), 0)), 0.0)
    if sel.any():
        pz = objects["p_lminus"][sel] + objects["p_lplus"][sel]
        feats = _angles_features(objects["p_lminus"][sel], objects["p_lplus"][sel], pz, ph[sel])
        for key, val in feats.items():
            full = np.zeros(n)
            full[sel] = val
            out[key] = full
    return out
