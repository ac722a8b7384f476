"""Generator truth of one event: the resonance decays (from Pythia's hard-process record) and τ decay modes.

A *decay* is a top-level resonance (t, Z, W or H that is not itself a resonance's daughter) with
its *leaves*: the
status-23 partons and leptons at the end of its decay chain (t → bW → bqq̄′ has three leaves).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Decay", "classify_decay", "glopart_label", "qcd_flavour", "read_decays"]

RESONANCES = (6, 23, 24, 25)
_QUARKS = (1, 2, 3, 4, 5)
_CHARGED_LEPTONS = (11, 13, 15)
_NEUTRINOS = (12, 14, 16)

#: τ decay modes stored in ``aux_tau_decay``
TAU_NONE, TAU_E, TAU_MU, TAU_H = 0, 1, 2, 3


@dataclass
class Decay:
    """A resonance decay: the resonance's PDG id and four-momentum, and its leaves."""

    pid: int
    pt: float
    eta: float
    phi: float
    mass: float
    leaf_pid: list[int] = field(default_factory=list)
    leaf_eta: list[float] = field(default_factory=list)
    leaf_phi: list[float] = field(default_factory=list)
    leaf_from_w: list[bool] = field(default_factory=list)
    #: τ decay mode (``TAU_*``) of each leaf (``TAU_NONE`` for leaves that are not τ)
    leaf_tau: list[int] = field(default_factory=list)
    tau_decay: int = TAU_NONE
    label: str | None = None

    def visible(self) -> tuple[np.ndarray, np.ndarray]:
        """η and φ of the leaves that can be seen (everything but neutrinos)."""
        vis = np.array([abs(p) not in _NEUTRINOS for p in self.leaf_pid], dtype=bool)
        return np.asarray(self.leaf_eta)[vis], np.asarray(self.leaf_phi)[vis]

    @property
    def n_c_from_w(self) -> int:
        return sum(1 for p, w in zip(self.leaf_pid, self.leaf_from_w, strict=True) if w and abs(p) == 4)

    @property
    def lepton_pid(self) -> int:
        return next((abs(p) for p in self.leaf_pid if abs(p) in _CHARGED_LEPTONS), 0)


def read_decays(process, event=None) -> list[Decay]:
    """The resonance decays of the current event, read from ``pythia.process`` (about 10–20 entries).

    With ``event`` (``pythia.event``) given, the decay mode of τ leaves is looked up in the full record.
    """
    n = process.size()
    ids = [process[i].id() for i in range(n)]
    mothers = [process[i].mother1() for i in range(n)]
    status = [process[i].statusAbs() for i in range(n)]
    decays: dict[int, Decay] = {}
    for i in range(n):
        if status[i] != 23 or abs(ids[mothers[i]]) not in RESONANCES:
            continue
        parent = mothers[i]
        root = parent
        while abs(ids[mothers[root]]) in RESONANCES and mothers[root] > 0:
            root = mothers[root]
        if root not in decays:
            r = process[root]
            decays[root] = Decay(int(ids[root]), r.pT(), r.eta(), r.phi(), r.m())
        d = decays[root]
        q = process[i]
        d.leaf_pid.append(int(ids[i]))
        d.leaf_eta.append(q.eta())
        d.leaf_phi.append(q.phi())
        d.leaf_from_w.append(abs(ids[parent]) == 24)
    out = list(decays.values())
    for d in out:
        d.label = classify_decay(d.pid, d.leaf_pid)
    if event is not None and any(abs(p) == 15 for d in out for p in d.leaf_pid):
        modes = _tau_modes(event)
        for d in out:
            d.leaf_tau = [modes.get(p, TAU_H) if abs(p) == 15 else TAU_NONE for p in d.leaf_pid]
            taus = [p for p in d.leaf_pid if abs(p) == 15]
            if taus:
                d.tau_decay = modes.get(taus[0], TAU_H)
    return out


def _tau_modes(event) -> dict[int, int]:
    """Decay mode of the last τ⁻ and τ⁺ copies in the event record, keyed by the τ's PDG id."""
    modes: dict[int, int] = {}
    for k in range(event.size()):
        p = event[k]
        if p.idAbs() != 15:
            continue
        daughters = [abs(event[j].id()) for j in p.daughterList()]
        if not daughters or 15 in daughters:
            continue
        modes[p.id()] = TAU_E if 11 in daughters else TAU_MU if 13 in daughters else TAU_H
    return modes


def classify_decay(pid: int, leaves: list[int]) -> str | None:
    """The jet class a fully contained decay belongs to, from the resonance id and its leaves (None if the
    decay is not one of the classes, e.g. H → γγ)."""
    a = sorted(abs(x) for x in leaves)
    vis = [x for x in a if x not in _NEUTRINOS]
    n_q = sum(x in _QUARKS for x in a)
    n_l = sum(x in _CHARGED_LEPTONS for x in a)
    n_nu = sum(x in _NEUTRINOS for x in a)
    apid = abs(pid)
    if apid == 25:
        if a == [5, 5]:
            return "Hbb"
        if a == [4, 4]:
            return "Hcc"
        if a == [21, 21]:
            return "Hgg"
        if a == [3, 3]:
            return "Hss"
        if a in ([1, 1], [2, 2]):
            return "Hqq"
        if a == [15, 15]:
            return "Htautau"
        if len(a) == 4 and n_q == 4:
            return "H4q"
        if len(a) == 4 and n_q == 2 and n_l == 1 and n_nu == 1:
            return "Hqql"
        return None
    if apid == 6:
        if len(a) == 3 and n_q == 3 and 5 in a:
            return "Tbqq"
        if len(a) == 3 and n_l == 1 and n_nu == 1 and 5 in a:
            return "Tbl"
        return None
    if apid == 24 and len(vis) == 2 and n_q == 2:
        return "Wqq"
    if apid == 23 and len(vis) == 2 and n_q == 2:
        return "Zqq"
    return None


_TAU_NAME = {TAU_E: "e", TAU_MU: "m", TAU_H: "h"}
_LEPTON_NAME = {11: "e", 13: "m"}


def _glopart_decay_label(d: Decay, inside: np.ndarray) -> str | None:
    """The GloParT class of a decay given which of its leaves lie in the jet cone (None: no class).

    ``inside`` has one flag per leaf (neutrinos' flags are ignored). X = a spin-0 resonance (PDG 25).
    """
    pid = np.abs(np.asarray(d.leaf_pid))
    tau = np.asarray(d.leaf_tau if len(d.leaf_tau) == pid.size else [TAU_NONE] * pid.size)
    vis = ~np.isin(pid, _NEUTRINOS)
    quark = np.isin(pid, _QUARKS)
    lep = np.isin(pid, _CHARGED_LEPTONS)
    n_q, n_l = int(quark.sum()), int(lep.sum())
    all_in = bool(inside[vis].all())
    apid = abs(d.pid)
    if apid == 25:
        if pid.size == 2 and n_q == 2 and pid[0] == pid[1]:
            return {5: "Xbb", 4: "Xcc", 3: "Xss", 2: "Xqq", 1: "Xqq"}[int(pid[0])] if all_in else None
        if pid.size == 2 and (pid == 15).all():
            modes = sorted(int(t) for t in tau)
            name = {(TAU_E, TAU_H): "e", (TAU_MU, TAU_H): "m", (TAU_H, TAU_H): "h"}.get(tuple(modes))
            return f"Xtauhtau{name}" if (all_in and name) else None
        if pid.size == 4 and n_q == 4:
            n_in = int(inside.sum())
            n_c = int(np.count_nonzero(inside & (pid == 4)))
            return {4: f"XWW4q_{n_c}c", 3: f"XWW3q_{n_c}c"}.get(n_in)
        if pid.size == 4 and n_q == 2 and n_l == 1 and all_in:
            return f"XWW{_lepton_text(pid, tau)}qq_{int(np.count_nonzero(pid == 4))}c"
        return None
    if apid == 6:
        b = np.flatnonzero((pid == 5) & ~np.asarray(d.leaf_from_w, dtype=bool))
        if b.size != 1 or not inside[b[0]]:
            return None
        w = np.asarray(d.leaf_from_w, dtype=bool)
        if n_q == 3:
            w_in = w & inside
            n_c = int(np.count_nonzero(w_in & (pid == 4)))
            return {2: f"Topbqq_{n_c}c", 1: f"Topbq_{n_c}c"}.get(int(w_in.sum()))
        if n_l == 1 and all_in:
            return f"Topb{_lepton_text(pid, tau)}"
    return None


def _lepton_text(pid: np.ndarray, tau: np.ndarray) -> str:
    """``ev``, ``mv``, ``tauev``, ``taumv`` or ``tauhv`` for the charged lepton among the leaves."""
    k = int(np.flatnonzero(np.isin(pid, _CHARGED_LEPTONS))[0])
    if pid[k] == 15:
        return f"tau{_TAU_NAME.get(int(tau[k]), 'h')}v"
    return f"{_LEPTON_NAME[int(pid[k])]}v"


def qcd_flavour(n_b: int, n_c: int) -> str:
    """GloParT QCD class from the numbers of b and c hadrons in the jet: b hadrons first (≥ 2: ``QCD_bb``),
    then c hadrons (≥ 2: ``QCD_cc``), else ``QCD_light``."""
    if n_b:
        return "QCD_bb" if n_b >= 2 else "QCD_b"
    if n_c:
        return "QCD_cc" if n_c >= 2 else "QCD_c"
    return "QCD_light"


def glopart_label(
    decays: list[Decay], hadrons: np.ndarray, eta: float, phi: float, radius: float
) -> tuple[str | None, Decay | None]:
    """GloParT label of a jet at (η, φ) and the decay it comes from.

    Exactly one resonance decay may have visible products within ΔR < R; its class then follows from which
    products are inside (:func:`_glopart_decay_label`); top classes also need a b hadron within ΔR < R. With none, the jet is QCD, split by the weakly
    decaying b and c hadrons (``hadrons``: rows of flavour, pT, η, φ) within ΔR < R. With several: no label.
    """
    touching: list[tuple[Decay, np.ndarray]] = []
    for d in decays:
        if not d.leaf_pid:
            continue
        inside = np.hypot(np.asarray(d.leaf_eta) - eta, _dphi(np.asarray(d.leaf_phi), phi)) < radius
        vis = ~np.isin(np.abs(np.asarray(d.leaf_pid)), _NEUTRINOS)
        if (inside & vis).any():
            touching.append((d, inside & vis))
    if len(touching) > 1:
        return None, None
    n_b = n_c = 0
    if hadrons.size:
        near = np.hypot(hadrons[:, 2] - eta, _dphi(hadrons[:, 3], phi)) < radius
        n_b = int(np.count_nonzero(near & (hadrons[:, 0] == 5)))
        n_c = int(np.count_nonzero(near & (hadrons[:, 0] == 4)))
    if touching:
        d, inside = touching[0]
        label = _glopart_decay_label(d, inside)
        if label is not None and label.startswith("Top") and n_b == 0:
            return None, d  # the talk's "1b": the b quark's hadron must be in the jet too
        return label, d
    return qcd_flavour(n_b, n_c), None


def _hadron_flavour(aid: np.ndarray) -> np.ndarray:
    """5 for hadrons with a b quark, 4 for hadrons with a c quark (and no b), 0 otherwise (from |PDG id|)."""
    q3 = (aid // 1000) % 10  # baryons: heaviest quark in the thousands digit
    q2 = (aid // 100) % 10  # mesons: heavier quark in the hundreds digit
    hadron = (aid > 100) & (aid < 10_000)
    is_b = hadron & ((q3 == 5) | ((q3 == 0) & (q2 == 5)))
    is_c = hadron & ~is_b & ((q3 == 4) | ((q3 == 0) & (q2 == 4)))
    return np.where(is_b, 5, np.where(is_c, 4, 0))


def _hadron_flavour_scalar(aid: int) -> int:
    """:func:`_hadron_flavour` for one |PDG id| (no numpy overhead in record walks)."""
    if not 100 < aid < 10_000:
        return 0
    q3, q2 = (aid // 1000) % 10, (aid // 100) % 10
    if q3 == 5 or (q3 == 0 and q2 == 5):
        return 5
    if q3 == 4 or (q3 == 0 and q2 == 4):
        return 4
    return 0


def read_heavy_hadrons(event, *, with_partons: bool = False) -> np.ndarray:
    """Weakly decaying b and c hadrons of the event (the last of their flavour in each decay chain).

    Returns an array of shape (n, 4): flavour, pT (GeV), η, φ, with flavour 5 (b hadron) or 4 (c
    hadron). With ``with_partons`` the rows also hold the partons that enter hadronisation (status
    71–79; flavour 1–5 or 21) and the visible part of hadronically decaying τ leptons (flavour 15).
    """
    parts = event.particles()
    aid = np.fromiter((p.idAbs() for p in parts), dtype=np.int64, count=len(parts))
    flav = _hadron_flavour(aid)
    rows = []
    for k in np.flatnonzero(flav).tolist():
        p = parts[k]
        f = flav[k]
        if any(flav[d] == f for d in p.daughterList()):
            continue  # an excited state decaying to a hadron of the same flavour
        rows.append((f, p.pT(), p.eta(), p.phi()))
    if with_partons:
        for k in np.flatnonzero(((aid >= 1) & (aid <= 5)) | (aid == 21)).tolist():
            p = parts[k]
            if 71 <= p.statusAbs() <= 79:
                rows.append((100 + aid[k], p.pT(), p.eta(), p.phi()))
        for k in np.flatnonzero(aid == 15).tolist():
            p = parts[k]
            daughters = p.daughterList()
            d_aid = [aid[d] for d in daughters]
            if not daughters or 15 in d_aid or 11 in d_aid or 13 in d_aid:
                continue
            vis = [parts[d] for d in daughters if aid[d] not in (12, 14, 16)]
            px, py, pz = (sum(getattr(q, c)() for q in vis) for c in ("px", "py", "pz"))
            pt = float(np.hypot(px, py))
            if pt > 0:
                rows.append((15, pt, float(np.arcsinh(pz / pt)), float(np.arctan2(py, px))))
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def heavy_hadrons_near(event, indices: list[int], displaced: np.ndarray) -> np.ndarray:
    """Weakly decaying b and c hadrons found by walking up from displaced final-state particles.

    Cheaper than :func:`read_heavy_hadrons` (it reads tens of record entries instead of all): a
    weakly decaying hadron is an ancestor of the particles produced away from the origin.
    ``indices`` are record entries and ``displaced`` flags those produced more than 1 µm from the origin.
    Returns the rows of :func:`read_heavy_hadrons` (flavour, pT, η, φ) for hadrons that lived (decay point
    more than 1 µm from the production point).
    """
    rows = []
    seen: set[int] = set()
    for k in (indices[i] for i in np.flatnonzero(displaced).tolist()):
        m = event[k].mother1()
        # walk up through everything produced at a displaced point (hadrons, and the partons of decays
        # that Pythia hadronises), recording heavy hadrons that lived; stop at the first prompt ancestor
        while m > 0 and m not in seen:
            seen.add(m)
            p = event[m]
            f = _hadron_flavour_scalar(p.idAbs())
            x, y, z = p.xProd(), p.yProd(), p.zProd()
            if f:
                flight = np.sqrt((p.xDec() - x) ** 2 + (p.yDec() - y) ** 2 + (p.zDec() - z) ** 2)
                if flight > 1e-3:
                    rows.append((f, p.pT(), p.eta(), p.phi()))
            if x * x + y * y + z * z < 1e-6:
                break
            m = p.mother1()
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


#: AK4 flavour classes, in label order
AK4_LABELS = ("b", "bb", "c", "cc", "s", "ud", "g", "tauh")


def ak4_flavour(truth: np.ndarray, eta: float, phi: float, radius: float = 0.4) -> str | None:
    """The AK4 flavour class of a jet from the event truth of :func:`read_heavy_hadrons`
    (``with_partons=True``), as CMS defines hadron flavour: b hadrons within ΔR < R first (≥ 2: ``bb``),
    then c hadrons (≥ 2: ``cc``), then a hadronic τ (visible pT > 15 GeV: ``tauh``), then the hardest
    parton within ΔR < R (``s``, ``ud``, ``g``). None if nothing matches."""
    if truth.size == 0:
        return None
    inside = np.hypot(truth[:, 2] - eta, _dphi(truth[:, 3], phi)) < radius
    f = truth[:, 0]
    n_b = int(np.count_nonzero(inside & (f == 5)))
    n_c = int(np.count_nonzero(inside & (f == 4)))
    if n_b:
        return "bb" if n_b >= 2 else "b"
    if n_c:
        return "cc" if n_c >= 2 else "c"
    if np.any(inside & (f == 15) & (truth[:, 1] > 15.0)):
        return "tauh"
    partons = inside & (f > 100)
    if not partons.any():
        return None
    k = np.flatnonzero(partons)[np.argmax(truth[partons, 1])]
    return {101: "ud", 102: "ud", 103: "s", 104: "c", 105: "b", 121: "g"}[int(f[k])]


def _dphi(a: np.ndarray, b: float) -> np.ndarray:
    d = (a - b + np.pi) % (2 * np.pi) - np.pi
    return d
