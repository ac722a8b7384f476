"""``generate_events``: whole events for the ttH(cc̄) analysis — Pythia 8 → detector → AK4 jets, leptons, MET,
generator jets with the tt̄+jets truth — in seeded, resumable chunks run in-process or on Dask.

Two files come out (docs/generate.md, "Events"):

- the **event file** ``OUT`` (tree ``events``): one row per event with its weight in pb, one-hot labels, the
  reconstructed AK4 jets, the isolated leptons, MET and the generator jets with their extra b/c hadron counts;
- the **jets file** ``OUT_jets`` (tree ``tree``): one row per reconstructed jet of the event file in the schema of
  ``generate jets --jet-type ak4`` (built by the same :func:`higgsflow.generate.jets.jet_rows`), plus ``event_id``
  and ``jet_index``, so that the AK4 taggers score every jet.

Weights: ``weight = σ × BR × w / Σw`` with σ the production cross section (Pythia's ``sigmaGen`` divided by the
open fraction of the decays Pythia was told to force, or a fixed normalisation), BR the branching ratios of the
forced decays (:mod:`higgsflow.physics.constants`) and of the top-decay channel, w Pythia's event weight and Σw
the sum over all generated events of the channel, so that filters (``tt_enrich``) are carried by the weights and
the weights of a file add up to σ × BR × filter efficiency.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.errors import ConfigError, DataError, HiggsflowError
from higgsflow.physics import constants as C

__all__ = [
    "EVENT_LABELS",
    "PROCESSES",
    "TOP_DECAYS",
    "TT_CATEGORIES",
    "TT_ENRICH",
    "EventChunkSpec",
    "channel_br",
    "count_extra_hadrons",
    "event_process",
    "generate_events",
    "heavy_hadron_origins",
    "jets_path",
    "run_event_chunk",
    "ttbar_category",
]

log = logging.getLogger(__name__)

#: the one-hot label columns of every event file, in this order (the event classifier's classes)
EVENT_LABELS = (
    "ttHcc", "ttHbb", "ttZcc", "ttZbb", "ttlf", "ttb", "tt2b", "ttc", "tt2c", "QCD", "HH4b",
)  # fmt: skip
#: the processes of ``generate events --process``
PROCESSES = ("ttHcc", "ttHbb", "ttZcc", "ttZbb", "tt", "QCD", "HH4b")
#: tt̄+jets categories (CMS genTtbarId-like, :func:`ttbar_category`)
TT_CATEGORIES = ("ttlf", "ttb", "tt2b", "ttc", "tt2c")
#: ``tt_enrich``: the categories kept
TT_ENRICH = {"b": ("ttb", "tt2b"), "c": ("ttc", "tt2c"), "bc": ("ttb", "tt2b", "ttc", "tt2c")}
#: top-pair decay channels (ℓ = e, μ, τ from the W)
TOP_DECAYS = ("inclusive", "semileptonic", "dileptonic", "hadronic")

#: object definitions (the event-file contract)
JET_R, JET_PT_MIN, JET_ETA_MAX = 0.4, 20.0, 2.5
GENJET_PT_MIN, GENJET_ETA_MAX = 20.0, 2.4
LEP_PT_MIN, LEP_ETA_MAX, LEP_ISO_R, LEP_ISO_MAX = 10.0, 2.5, 0.4, 0.15
_M_E, _M_MU = 0.000511, 0.10566
#: default HH4b normalisation σ(pp → X → hh) in pb (a reference value; set your own with ``cross_section``)
HH4B_REFERENCE_XSEC_PB = 1.0

_TT = ("Top:gg2ttbar = on", "Top:qqbar2ttbar = on")
_TTH = ("HiggsSM:gg2Httbar = on", "HiggsSM:qqbar2Httbar = on")
_BATCH = 24


@dataclass(frozen=True)
class EventProcess:
    """A process of ``generate events``: its Pythia settings and how its weight is normalised.

    ``xsec_pb``: a fixed production cross section (pb; None: Pythia's ``sigmaGen`` over ``open_ids``' open
    fraction); ``br``: the branching ratio of the forced decays applied to the weight; ``tops``: whether the
    top-decay channel option applies.
    """

    name: str
    description: str
    settings: tuple[str, ...]
    xsec_pb: float | None
    xsec_source: str
    br: float
    br_source: str
    open_ids: tuple[int, ...]
    tops: bool


def _mass(pid: int, mass: float) -> tuple[str, ...]:
    return (f"{pid}:m0 = {mass:.4f}", f"{pid}:mMin = {0.5 * mass:.4f}", f"{pid}:mMax = {1.5 * mass:.4f}")


def event_process(
    name: str,
    *,
    sqrt_s: float = C.SQRT_S_RUN2,
    pthat_min: float = 100.0,
    hh_mass: float = 400.0,
    cross_section: float | None = None,
) -> EventProcess:
    """The :class:`EventProcess` of a process name (``PROCESSES``), or a :class:`ConfigError`.

    ``sqrt_s`` in TeV; ``pthat_min`` (GeV) for QCD; ``hh_mass`` (GeV) the heavy scalar's mass for HH4b;
    ``cross_section`` (pb) replaces the production cross section (before the branching ratios).
    """
    if name not in PROCESSES:
        raise ConfigError(
            f"unknown process {name!r}", field="process", expected="one of: " + ", ".join(PROCESSES)
        )
    beams = (f"Beams:eCM = {1000.0 * float(sqrt_s):.1f}",)
    pythia_xs = f"Pythia 8 LO sigmaGen at {sqrt_s:g} TeV"
    if name in ("ttHcc", "ttHbb"):
        q, br, brs = (4, C.BR_H_CC, "BR(H→cc̄) YR4") if name == "ttHcc" else (5, C.BR_H_BB, "BR(H→bb̄) YR4")
        proc = EventProcess(
            name, f"tt̄H, H → {'cc̄' if q == 4 else 'bb̄'} (gg/qq̄ → tt̄H)",
            (*beams, *_TTH, "25:onMode = off", f"25:onIfMatch = {q} -{q}"),
            None, pythia_xs, br, brs, (6, -6, 25), True,
        )  # fmt: skip
    elif name in ("ttZcc", "ttZbb"):
        q, br, brs = (4, C.BR_Z_CC, "BR(Z→cc̄) PDG") if name == "ttZcc" else (5, C.BR_Z_BB, "BR(Z→bb̄) PDG")
        proc = EventProcess(
            name,
            f"tt̄Z proxy: gg/qq̄ → tt̄H with the scalar at m_Z (width Γ_Z), forced to {'cc̄' if q == 4 else 'bb̄'}",
            (*beams, *_TTH, *_mass(25, C.M_Z), "25:doForceWidth = on", f"25:mWidth = {C.GAMMA_Z_GEV}",
             f"25:oneChannel = 1 1.0 100 {q} -{q}"),
            C.XSEC_TTZ_13TEV_PB, "σ(tt̄Z, 13 TeV) = 0.86 pb NLO+NNLL (arXiv:1812.08622)", br, brs, (6, -6, 25), True,
        )  # fmt: skip
    elif name == "tt":
        proc = EventProcess(
            name, "tt̄ + jets (gg/qq̄ → tt̄)", (*beams, *_TT), None, pythia_xs, 1.0, "", (6, -6), True
        )
    elif name == "QCD":
        if not pthat_min > 0:
            raise ConfigError(
                f"bad p̂T minimum {pthat_min!r}", field="pthat_min", expected="a positive number (GeV)"
            )
        proc = EventProcess(
            name, f"QCD multijet (HardQCD:all, p̂T > {pthat_min:g} GeV, p̂T-biased with weights)",
            (*beams, "HardQCD:all = on", f"PhaseSpace:pTHatMin = {pthat_min:g}",
             "PhaseSpace:bias2Selection = on", "PhaseSpace:bias2SelectionPow = 4",
             f"PhaseSpace:bias2SelectionRef = {pthat_min:g}"),
            None, pythia_xs, 1.0, "", (), False,
        )  # fmt: skip
    else:
        if not 2 * C.M_H < hh_mass < 5000:
            raise ConfigError(f"bad heavy-scalar mass {hh_mass!r}", field="hh_mass", expected="250–5000 GeV")
        proc = EventProcess(
            name, f"gg → X(→ hh → bb̄bb̄), X = Pythia's H2 (35) at {hh_mass:g} GeV, width 1% of the mass",
            (*beams, "Higgs:useBSM = on", "HiggsBSM:gg2H2 = on", *_mass(35, hh_mass), "35:doForceWidth = on",
             f"35:mWidth = {0.01 * hh_mass:.4f}", "35:onMode = off", "35:onIfMatch = 25 25",
             "25:onMode = off", "25:onIfMatch = 5 -5"),
            HH4B_REFERENCE_XSEC_PB, "reference σ(pp → X → hh) = 1 pb", C.BR_H_BB**2, "BR(h→bb̄)² YR4", (), False,
        )  # fmt: skip
    if cross_section is not None:
        if not cross_section > 0:
            raise ConfigError(
                f"bad cross section {cross_section!r}",
                field="cross_section",
                expected="a positive number (pb)",
            )
        proc = EventProcess(**{**proc.__dict__, "xsec_pb": float(cross_section), "xsec_source": "user (pb)"})
    return proc


# --- tt̄+jets truth ---------------------------------------------------------------------------------------------
def ttbar_category(nb_extra: Sequence[int] | np.ndarray, nc_extra: Sequence[int] | np.ndarray) -> str:
    """The tt̄+jets category of an event from its generator jets' numbers of extra b and c hadrons (CMS
    genTtbarId-like): ``tt2b`` with ≥ 2 additional b jets (gen jets with ≥ 1 extra b hadron) or one with ≥ 2 b
    hadrons; ``ttb`` with exactly one additional b jet holding one b hadron; else the same with c (``tt2c``,
    ``ttc``); else ``ttlf``."""
    for counts, two, one in ((nb_extra, "tt2b", "ttb"), (nc_extra, "tt2c", "ttc")):
        n = np.asarray(counts, dtype=np.int64).reshape(-1)
        jets = n[n >= 1]
        if jets.size >= 2 or (jets.size == 1 and jets[0] >= 2):
            return two
        if jets.size == 1:
            return one
    return "ttlf"


def _is_hadron(aid: int) -> bool:
    return 100 < aid < 10_000


def _heavy_quark_id(pid: int, f: int) -> int:
    """The signed id of the heavy quark of flavour ``f`` in hadron ``pid``: baryons hold quarks (antibaryons
    antiquarks); a meson with a positive id holds an up-type heavy quark (D⁺ = cd̄) or a down-type heavy antiquark
    (B⁺ = ub̄)."""
    sign = 1 if pid > 0 else -1
    if (abs(pid) // 1000) % 10 == 0 and f % 2 == 1:  # meson with a down-type (b) heavy quark
        sign = -sign
    return sign * f


def _origin(parts, aid: np.ndarray, flav: np.ndarray, k: int, f: int) -> str:
    """Where the heavy hadron ``k`` of flavour ``f`` comes from: ``"top"``, ``"W"``, ``"b"`` (a b-hadron decay)
    or ``"other"``. Walks up through same-flavour hadrons, from a string to its quark of flavour ``f``, and up
    that quark's chain of same-flavour copies to the first mother of another kind. In a string with both a
    quark and an antiquark of the flavour (g → bb̄ colour-connected), the one the hadron holds is followed."""
    cur = k
    for _ in range(2000):
        p = parts[cur]
        m1, m2 = p.mother1(), p.mother2()
        if m1 <= 0:
            return "other"
        if _is_hadron(int(aid[cur])):
            if 81 <= p.statusAbs() <= 89:  # from hadronisation: the string's quark of this flavour (and sign)
                q = [j for j in range(m1, max(m1, m2) + 1) if aid[j] == f]
                if not q:
                    return "other"
                want = _heavy_quark_id(p.id(), f)
                cur = next((j for j in q if parts[j].id() == want), q[0])
                continue
            if flav[m1] == 5 and f == 4:
                return "b"
            cur = m1  # a decay product of a hadron (e.g. B* → B γ)
            continue
        if aid[m1] == f:
            cur = m1
            continue
        if m2 > m1:
            q = [j for j in range(m1, m2 + 1) if aid[j] == f]
            if q:
                cur = q[0]
                continue
        if aid[m1] == 6:
            return "top"
        if aid[m1] == 24:
            return "W"
        if flav[m1] == 5 and f == 4:
            return "b"
        return "other"
    return "other"  # pragma: no cover - a loop in the record


def heavy_hadron_origins(event) -> np.ndarray:
    """Weakly decaying b and c hadrons of the event with their origin: rows (flavour, pT, η, φ, extra).

    ``extra`` is 1 for the hadrons that do not come from the top-quark decays: b hadrons whose b quark does not
    come from a top (or W) and c hadrons whose c quark comes from neither a top nor a W and that are not from a
    b-hadron decay. The origin is the first mother of another kind along the quark's chain of same-flavour
    copies, as CMS's GenHFHadronMatcher traces it: a b̄b pair from a gluon radiated by the top's b counts as
    extra."""
    from higgsflow.generate.truth import _hadron_flavour

    parts = event.particles()
    aid = np.fromiter((p.idAbs() for p in parts), dtype=np.int64, count=len(parts))
    flav = _hadron_flavour(aid)
    rows = []
    for k in np.flatnonzero(flav).tolist():
        p = parts[k]
        f = int(flav[k])
        if any(flav[d] == f for d in p.daughterList()):
            continue
        extra = _origin(parts, aid, flav, k, f) == "other"
        rows.append((f, p.pT(), p.eta(), p.phi(), float(extra)))
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def _top_channel(decays) -> str:
    """``semileptonic``, ``dileptonic`` or ``hadronic`` from the top decays of the hard process."""
    tops = [d for d in decays if abs(d.pid) == 6]
    n_lep = sum(any(abs(x) in (11, 13, 15) for x in d.leaf_pid) for d in tops)
    return {0: "hadronic", 1: "semileptonic"}.get(n_lep, "dileptonic")


def _w_leptonic_br(pythia) -> float:
    """Pythia's BR(W → ℓν), ℓ = e, μ, τ (its open channels)."""
    e = pythia.particleData.particleDataEntryPtr(24)
    tot = lep = 0.0
    for i in range(e.sizeChannels()):
        ch = e.channel(i)
        if ch.onMode() <= 0:
            continue
        tot += ch.bRatio()
        if any(abs(ch.product(j)) in (11, 13, 15) for j in range(ch.multiplicity())):
            lep += ch.bRatio()
    return lep / tot if tot > 0 else 0.0


def channel_br(channel: str, br_lep: float) -> float:
    """The tt̄ decay-channel branching ratio from BR(W → ℓν)."""
    return {"inclusive": 1.0, "semileptonic": 2 * br_lep * (1 - br_lep), "dileptonic": br_lep**2,
            "hadronic": (1 - br_lep) ** 2}[channel]  # fmt: skip


# --- one chunk --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EventChunkSpec:
    """One unit of work: ``n_events`` events of ``process`` from a Pythia run seeded by ``seed_entropy``."""

    process: str
    n_events: int
    seed_entropy: tuple[int, ...]
    settings: tuple[str, ...]
    tops: bool = False
    top_decays: str = "inclusive"
    tt_enrich: tuple[str, ...] = ()
    pileup: float = 0.0
    max_events: int | None = None
    chunk: int = 0


class _EventBatch:
    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.n_pileup: list[int] = []
        self.hadrons: list[np.ndarray] = []  # read_heavy_hadrons(with_partons=True), for the AK4 labels
        self.origins: list[np.ndarray] = []  # heavy_hadron_origins
        self.weights: list[float] = []
        self.cum_w: list[float] = []  # Σw of the chunk's channel events up to and including each event

    def __len__(self) -> int:
        return len(self.weights)

    def subset(self, keep: np.ndarray) -> _EventBatch:
        out = _EventBatch()
        for k in keep.tolist():
            out.rows.append(self.rows[k])
            out.n_pileup.append(self.n_pileup[k])
            out.hadrons.append(self.hadrons[k])
            out.origins.append(self.origins[k])
            out.weights.append(self.weights[k])
            out.cum_w.append(self.cum_w[k])
        return out


def run_event_chunk(
    spec: EventChunkSpec, *, progress: Callable[[int], None] | None = None
) -> tuple[dict[str, Any], dict[str, Any], dict[str, float]]:
    """Generate the events of one chunk: (event columns, jets-file columns, statistics).

    Event columns carry ``_w`` (Pythia's event weight) and a chunk-local ``event_id``; the final weights are
    made when the chunks are merged. The statistics: ``n_accepted`` (events Pythia made), ``sum_w_channel`` (Σw
    over those of the top-decay channel, before ``tt_enrich``), ``sigma_gen_pb``, ``open_fraction`` and
    ``br_w_lep``.
    """
    from higgsflow.generate.jets import _ChargeTable, _extract, _PileUp, make_pythia
    from higgsflow.generate.truth import read_decays, read_heavy_hadrons

    ss = np.random.SeedSequence(list(spec.seed_entropy))
    pythia_seed, det_seed, pu_seed = ss.spawn(3)
    seed = int(pythia_seed.generate_state(1)[0] % 900_000_000) + 1
    pythia = make_pythia(spec.settings, seed)
    rng = np.random.default_rng(det_seed)
    charge_of = _ChargeTable(pythia)
    pileup = _PileUp(spec.pileup, pu_seed) if spec.pileup > 0 else None
    max_events = spec.max_events or max(5000, 2000 * spec.n_events if spec.tt_enrich else 50 * spec.n_events)
    ev_parts: list[dict] = []
    jet_parts: list[dict] = []
    n_have = n_tried = n_failed = n_accepted = 0
    sum_w_channel = 0.0
    batch = _EventBatch()
    event = pythia.event
    t0 = time.perf_counter()
    while n_have < spec.n_events:
        if n_tried >= max_events:
            raise HiggsflowError(
                f"only {n_have} {spec.process} events after {n_tried} tries",
                field="tt_enrich" if spec.tt_enrich else "n_events",
                expected="settings that select events often enough",
            )
        n_tried += 1
        if not pythia.next():
            n_failed += 1
            if n_failed > 100 and n_failed > n_tried // 10:
                raise ConfigError("Pythia fails to generate events", field=spec.process)
            continue
        n_accepted += 1
        w = float(pythia.infoPython().weight())
        if (
            spec.tops
            and spec.top_decays != "inclusive"
            and _top_channel(read_decays(pythia.process)) != spec.top_decays
        ):
            continue
        sum_w_channel += w
        origins = heavy_hadron_origins(event)
        if spec.tt_enrich and not _may_pass(origins, spec.tt_enrich):
            continue
        finals = [k for k in range(event.size()) if event[k].isFinal()]
        rows = _extract(event, finals)
        n_pu = 0
        if pileup is not None:
            pu_rows = pileup.rows()
            rows = np.concatenate([rows, pu_rows])
            n_pu = len(pu_rows)
        batch.rows.append(rows)
        batch.n_pileup.append(n_pu)
        batch.hadrons.append(read_heavy_hadrons(event, with_partons=True))
        batch.origins.append(origins)
        batch.weights.append(w)
        batch.cum_w.append(sum_w_channel)
        if len(batch) >= min(_BATCH, spec.n_events - n_have if not spec.tt_enrich else _BATCH):
            cum_w = np.asarray(batch.cum_w)
            result = _process_events(batch, spec, rng, charge_of, n_have)
            batch = _EventBatch()
            if result is None:
                continue
            ev, jets, kept = result
            need = spec.n_events - n_have
            if kept.size > need:  # Σw as it was at the last event needed: later ones were never generated
                sum_w_channel = float(cum_w[kept[need - 1]])
            n_new = min(kept.size, need)
            ev_parts.append(ev)
            jet_parts.append(jets)
            n_have += n_new
            if progress is not None and n_new:
                progress(n_new)
    ev_cols, jet_cols = _cut(ev_parts, jet_parts, spec.n_events)
    stats = {
        "n_accepted": n_accepted,
        "sum_w_written": float(np.sum(ev_cols["weight_raw"])),
        "n_tried": n_tried,
        "sum_w_channel": sum_w_channel,
        "sigma_gen_pb": float(pythia.infoPython().sigmaGen()) * 1e9,
        "open_fraction": _open_fraction(pythia, spec),
        "br_w_lep": _w_leptonic_br(pythia),
    }
    log.info(
        "%s chunk %d: %d events (%d generated) in %.1f s (seed %d)",
        spec.process, spec.chunk, spec.n_events, n_accepted, time.perf_counter() - t0, seed,
    )  # fmt: skip
    return ev_cols, jet_cols, stats


def _may_pass(origins: np.ndarray, categories: tuple[str, ...]) -> bool:
    """False if the event cannot be in ``categories``: it has no extra hadron of their flavour in reach of a
    generator jet (|η| < 2.4 + 0.4). Saves the detector and clustering for most events when enriching."""
    flavours = {5 if c.endswith("b") else 4 for c in categories}
    reach = origins[(origins[:, 4] > 0) & (np.abs(origins[:, 2]) < GENJET_ETA_MAX + JET_R)]
    return bool(np.isin(reach[:, 0], list(flavours)).any())


def _open_fraction(pythia, spec: EventChunkSpec) -> float:
    ids = {"ttHcc": (6, -6, 25), "ttHbb": (6, -6, 25), "ttZcc": (6, -6, 25), "ttZbb": (6, -6, 25),
           "tt": (6, -6)}.get(spec.process)  # fmt: skip
    return float(pythia.particleData.resOpenFrac(*ids)) if ids else 1.0


def _cut(ev_parts: list[dict], jet_parts: list[dict], n: int) -> tuple[dict, dict]:
    """The first ``n`` events of the batches, and the jets of those events."""
    ev = {k: _cat([p[k] for p in ev_parts]) for k in ev_parts[0]}
    ev = {k: v[:n] for k, v in ev.items()}
    jet_parts = [p for p in jet_parts if p is not None]
    if not jet_parts:
        return ev, {}
    jets = {k: _cat([p[k] for p in jet_parts]) for k in jet_parts[0]}
    keep = np.asarray(jets["event_id"]) < n
    jets = {k: v[keep] for k, v in jets.items()}
    return ev, jets


def _cat(vals: list) -> Any:
    if isinstance(vals[0], ak.Array):
        return ak.concatenate(vals)
    return np.concatenate(vals)


def _genjets(batch: _EventBatch) -> tuple[np.ndarray, ...]:
    """Generator jets (anti-kT 0.4, stable particles of the hard interaction without neutrinos, pT > 20 GeV,
    |η| < 2.4) of the batch: their event, pT, η, φ and numbers of extra b and c hadrons (each extra hadron counts
    in the nearest gen jet within ΔR < 0.4)."""
    from higgsflow.generate.jets import _cluster
    from higgsflow.physics.kinematics import eta_phi

    rows, counts = [], []
    for r, n_pu in zip(batch.rows, batch.n_pileup, strict=True):
        hard = r[: len(r) - n_pu]
        hard = hard[~np.isin(np.abs(hard[:, 0]).astype(np.int64), (12, 14, 16))]
        rows.append(hard)
        counts.append(len(hard))
    g = np.concatenate(rows)
    counts = np.asarray(counts, dtype=np.int64)
    g_event, _, _, (px, py, pz, _e) = _cluster(g[:, 1], g[:, 2], g[:, 3], g[:, 4], counts, JET_R)
    pt = np.hypot(px, py)
    eta, phi = eta_phi(px, py, pz)
    sel = (pt > GENJET_PT_MIN) & (np.abs(eta) < GENJET_ETA_MAX)
    order = np.lexsort((-pt[sel], g_event[sel]))
    g_event, pt, eta, phi = (a[sel][order] for a in (g_event, pt, eta, phi))
    nb = np.zeros(g_event.size, np.int32)
    nc = np.zeros(g_event.size, np.int32)
    for ev, h in enumerate(batch.origins):
        jets = np.flatnonzero(g_event == ev)
        nb[jets], nc[jets] = count_extra_hadrons(h, eta[jets], phi[jets])
    return g_event, pt, eta, phi, nb, nc


def count_extra_hadrons(
    origins: np.ndarray, eta: np.ndarray, phi: np.ndarray, radius: float = JET_R
) -> tuple[np.ndarray, np.ndarray]:
    """Numbers of extra b and c hadrons (rows of :func:`heavy_hadron_origins` with ``extra`` = 1) of each
    generator jet at (``eta``, ``phi``): each hadron counts in the nearest jet within ΔR < ``radius``."""
    from higgsflow.physics.kinematics import delta_phi

    eta, phi = np.asarray(eta, np.float64), np.asarray(phi, np.float64)
    nb = np.zeros(eta.size, np.int32)
    nc = np.zeros(eta.size, np.int32)
    extra = origins[origins[:, 4] > 0] if origins.size else origins.reshape(-1, 5)
    if eta.size == 0 or extra.size == 0:
        return nb, nc
    dr = np.hypot(extra[:, 2, None] - eta[None, :], delta_phi(extra[:, 3, None], phi[None, :]))
    best = np.argmin(dr, axis=1)
    inside = dr[np.arange(len(extra)), best] < radius
    for f, out in ((5, nb), (4, nc)):
        m = inside & (extra[:, 0] == f)
        np.add.at(out, best[m], 1)
    return nb, nc


def _process_events(batch: _EventBatch, spec: EventChunkSpec, rng, charge_of, first_id: int):
    """Event and jets-file columns of a batch and the positions in the batch of the events they hold (those
    ``tt_enrich`` keeps); None if it keeps none."""
    from higgsflow.generate import detector
    from higgsflow.generate.jets import JET_TYPES, _cluster, jet_rows
    from higgsflow.generate.truth import AK4_LABELS, ak4_flavour
    from higgsflow.physics.kinematics import delta_phi, eta_phi

    g_event, g_pt, g_eta, g_phi, g_nb, g_nc = _genjets(batch)
    n_ev = len(batch)
    if spec.process == "tt":
        cats = np.array(
            [ttbar_category(g_nb[g_event == i], g_nc[g_event == i]) for i in range(n_ev)], dtype=object
        )
    else:
        cats = np.full(n_ev, spec.process, dtype=object)
    keep_ev = np.arange(n_ev)
    if spec.tt_enrich:
        keep_ev = np.flatnonzero(np.isin(cats, spec.tt_enrich))
        if keep_ev.size == 0:
            return None
        if keep_ev.size < n_ev:
            batch = batch.subset(keep_ev)
            cats = cats[keep_ev]
            gsel = np.isin(g_event, keep_ev)
            g_event = np.searchsorted(keep_ev, g_event[gsel])
            g_pt, g_eta, g_phi, g_nb, g_nc = (a[gsel] for a in (g_pt, g_eta, g_phi, g_nb, g_nc))
            n_ev = len(batch)
    # --- detector on the whole event ---------------------------------------------------------------------------
    counts = np.array([len(r) for r in batch.rows], dtype=np.int64)
    gen = np.concatenate(batch.rows)
    pid = gen[:, 0].astype(np.int64)
    evt = np.repeat(np.arange(n_ev), counts)
    particles = {
        "event": evt, "pid": pid, "charge": charge_of(pid),
        "px": gen[:, 1], "py": gen[:, 2], "pz": gen[:, 3], "e": gen[:, 4],
        "vx": gen[:, 5], "vy": gen[:, 6], "vz": gen[:, 7],
    }  # fmt: skip
    if any(batch.n_pileup):
        ends = np.cumsum(counts)
        particles["pileup"] = np.zeros(evt.size, dtype=bool)
        for end, n_pu in zip(ends, batch.n_pileup, strict=True):
            particles["pileup"][end - n_pu : end] = True
    flow = detector.simulate(particles, rng)
    f_counts = np.bincount(flow.event, minlength=n_ev)
    jet_event, n_const, cidx, p4 = _cluster(flow.px, flow.py, flow.pz, flow.energy, f_counts, JET_R)
    jpx, jpy, jpz, je = p4
    jpt = np.hypot(jpx, jpy)
    jeta, jphi = eta_phi(jpx, jpy, jpz)
    sel = np.flatnonzero((jpt > JET_PT_MIN) & (np.abs(jeta) < JET_ETA_MAX))
    keep = sel[np.lexsort((-jpt[sel], jet_event[sel]))]  # event-major, pT-ordered
    k_event = jet_event[keep]
    n_jets = np.bincount(k_event, minlength=n_ev)
    jet_index = (np.arange(keep.size) - np.repeat(np.cumsum(n_jets) - n_jets, n_jets)).astype(np.int32)
    e2 = je[keep] ** 2 - jpx[keep] ** 2 - jpy[keep] ** 2 - jpz[keep] ** 2
    j_mass = np.sqrt(np.maximum(e2, 0.0))
    hflav = np.zeros(keep.size, np.int32)
    for i, (ev, eta_i, phi_i) in enumerate(zip(k_event.tolist(), jeta[keep], jphi[keep], strict=True)):
        h = batch.origins[ev]
        if h.size:
            near = np.hypot(h[:, 2] - eta_i, delta_phi(h[:, 3], phi_i)) < JET_R
            hflav[i] = 5 if np.any(near & (h[:, 0] == 5)) else 4 if np.any(near & (h[:, 0] == 4)) else 0
    # --- leptons and MET --------------------------------------------------------------------------------------
    lep = _leptons(flow, n_ev)
    met_x = -np.bincount(flow.event, weights=flow.px, minlength=n_ev)
    met_y = -np.bincount(flow.event, weights=flow.py, minlength=n_ev)

    def jag(values, cnt, dtype=np.float32):
        return ak.unflatten(np.asarray(values, dtype=dtype), cnt)

    n_gen = np.bincount(g_event, minlength=n_ev)
    event_id = np.arange(first_id, first_id + n_ev, dtype=np.int64)
    ev: dict[str, Any] = {"event_id": event_id, "weight_raw": np.asarray(batch.weights, dtype=np.float64)}
    for lab in EVENT_LABELS:
        ev[f"label_{lab}"] = (cats == lab).astype(np.int32)
    ev.update(
        {
            "jet_pt": jag(jpt[keep], n_jets),
            "jet_eta": jag(jeta[keep], n_jets),
            "jet_phi": jag(jphi[keep], n_jets),
            "jet_mass": jag(j_mass, n_jets),
            "jet_hadronFlavour": jag(hflav, n_jets, np.int32),
            "jet_index": jag(jet_index, n_jets, np.int32),
            **{k: jag(v, lep["counts"], np.int32 if k in ("lep_charge", "lep_pdgId") else np.float32)
               for k, v in lep.items() if k != "counts"},
            "met_pt": np.hypot(met_x, met_y).astype(np.float32),
            "met_phi": np.arctan2(met_y, met_x).astype(np.float32),
            "genjet_pt": jag(g_pt, n_gen),
            "genjet_eta": jag(g_eta, n_gen),
            "genjet_phi": jag(g_phi, n_gen),
            "genjet_nb_extra": jag(g_nb, n_gen, np.int32),
            "genjet_nc_extra": jag(g_nc, n_gen, np.int32),
        }
    )  # fmt: skip
    # --- the jets file: the AK4 jet rows of generate jets ------------------------------------------------------
    if keep.size == 0:  # no jet in these events
        return ev, None, keep_ev
    jt = JET_TYPES["ak4"]
    cols = jet_rows(flow, particles, counts, batch.hadrons, jet_event, n_const, cidx, p4, keep, jt, rng)
    flavours = [
        ak4_flavour(batch.hadrons[e], a, b, JET_R)
        for e, a, b in zip(k_event, jeta[keep], jphi[keep], strict=True)
    ]
    for lab in AK4_LABELS:
        cols[f"label_{lab}"] = np.array([f == lab for f in flavours], dtype=np.float32)
    cols["event_id"] = event_id[k_event]
    cols["jet_index"] = jet_index
    return ev, cols, keep_ev


def _leptons(flow, n_ev: int) -> dict[str, np.ndarray]:
    """Isolated electrons and muons (the detector's identified leptons, pT > 10 GeV, |η| < 2.5, Σ pT of the
    other candidates within ΔR < 0.4 below 0.15 pT), pT-ordered within each event."""
    from higgsflow.physics.kinematics import delta_phi, eta_phi

    pt = np.hypot(flow.px, flow.py)
    eta, phi = eta_phi(flow.px, flow.py, flow.pz)
    cand = np.flatnonzero(
        ((flow.kind == 1) | (flow.kind == 2)) & (pt > LEP_PT_MIN) & (np.abs(eta) < LEP_ETA_MAX)
    )
    starts = np.searchsorted(flow.event, np.arange(n_ev + 1))
    good = []
    for c in cand.tolist():
        ev = flow.event[c]
        lo, hi = starts[ev], starts[ev + 1]
        dr = np.hypot(eta[lo:hi] - eta[c], delta_phi(phi[lo:hi], phi[c]))
        iso = pt[lo:hi][dr < LEP_ISO_R].sum() - pt[c]
        if iso < LEP_ISO_MAX * pt[c]:
            good.append(c)
    g = np.asarray(good, dtype=np.int64)
    g = g[np.lexsort((-pt[g], flow.event[g]))] if g.size else g
    muon = flow.kind[g] == 2
    charge = np.sign(flow.charge[g]).astype(np.int32)
    return {
        "lep_pt": pt[g],
        "lep_eta": eta[g],
        "lep_phi": phi[g],
        "lep_mass": np.where(muon, _M_MU, _M_E),
        "lep_charge": charge,
        "lep_pdgId": (-charge * np.where(muon, 13, 11)).astype(np.int32),
        "counts": np.bincount(flow.event[g], minlength=n_ev),
    }


# --- the driver -------------------------------------------------------------------------------------------------
def jets_path(output: Path) -> Path:
    """The companion jets file of an event file: ``NAME_jets.SUFFIX``."""
    return output.parent / f"{output.stem}_jets{output.suffix}"


def generate_events(
    process: str,
    n_events: int,
    output: str | os.PathLike[str],
    *,
    seed: int,
    workers: int = 1,
    scheduler: str | None = None,
    chunk_size: int = 200,
    overwrite: bool = False,
    top_decays: str = "inclusive",
    tt_enrich: str | None = None,
    pthat_min: float = 100.0,
    hh_mass: float = 400.0,
    sqrt_s: float = C.SQRT_S_RUN2,
    cross_section: float | None = None,
    pileup: float = 0.0,
    pythia_settings: Sequence[str] | None = None,
    max_events: int | None = None,
    shard_size: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Path, Path]:
    """Generate ``n_events`` events of ``process`` into an event file and its companion jets file.

    ``output`` is the event file (``.root`` with tree ``events``, or ``.parquet``); the jets file is
    ``NAME_jets.SUFFIX`` next to it (:func:`jets_path`). Neither may exist unless ``overwrite``. The chunks of
    ``chunk_size`` events are seeded from ``seed`` (same seed, same files, for any ``workers``), kept in a hidden
    folder next to the output until both files are written, so an interrupted run resumes. ``top_decays``
    selects the tt̄ decay channel (processes with tops); ``tt_enrich`` (``b``, ``c``, ``bc``; process ``tt``)
    keeps only the tt+b/≥2b and/or tt+c/≥2c events, the weights carrying the filter efficiency; ``pthat_min``
    (GeV) is QCD's p̂T threshold; ``hh_mass`` (GeV) HH4b's heavy-scalar mass; ``cross_section`` (pb) replaces
    the production cross section; ``pileup`` the mean number of pile-up interactions (0: none).
    ``shard_size``: write shards of about this many events (whole chunks) instead, ``NAME_00000.SUFFIX`` with
    ``NAME_00000_jets.SUFFIX``, ..., and the manifests ``NAME.manifest.json`` and ``NAME_jets.manifest.json``
    (event ids are unique over all shards; the weights of all shards add up to the cross section).
    Returns (event file, jets file), or the two manifests with ``shard_size``.
    """
    from higgsflow.data.io import file_format, read_metadata, write_table
    from higgsflow.generate.api import _prepare_parts_dir, _run_dask, _versions
    from higgsflow.outputs import check_outputs

    proc = event_process(
        process, sqrt_s=sqrt_s, pthat_min=pthat_min, hh_mass=hh_mass, cross_section=cross_section
    )
    if isinstance(n_events, bool) or not isinstance(n_events, (int, np.integer)) or n_events <= 0:
        raise ConfigError(
            f"bad number of events {n_events!r}", field="n_events", expected="a positive integer"
        )
    if not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ConfigError(f"bad number of workers {workers!r}", field="workers", expected="an integer ≥ 1")
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ConfigError(f"bad chunk size {chunk_size!r}", field="chunk_size", expected="an integer ≥ 1")
    if top_decays not in TOP_DECAYS:
        raise ConfigError(
            f"unknown top decays {top_decays!r}",
            field="top_decays",
            expected="one of: " + ", ".join(TOP_DECAYS),
        )
    if top_decays != "inclusive" and not proc.tops:
        raise ConfigError(
            f"top decays {top_decays!r} need a process with tops", field="top_decays",
            expected="inclusive for " + process,
        )  # fmt: skip
    if tt_enrich is not None and tt_enrich not in TT_ENRICH:
        raise ConfigError(f"unknown enrichment {tt_enrich!r}", field="tt_enrich", expected="one of: b, c, bc")
    if tt_enrich is not None and process != "tt":
        raise ConfigError(
            f"tt_enrich applies to process tt, not {process}", field="tt_enrich", expected="no value"
        )
    pileup = float(pileup or 0.0)
    if not 0.0 <= pileup <= 200.0:
        raise ConfigError(
            f"bad pile-up {pileup!r}", field="pileup", expected="a mean number of interactions 0–200"
        )
    output = Path(output)
    file_format(output)
    jets_out = jets_path(output)
    n_chunks = math.ceil(n_events / chunk_size)
    if shard_size is not None:
        if isinstance(shard_size, bool) or not isinstance(shard_size, (int, np.integer)) or shard_size < 1:
            raise ConfigError(
                f"bad shard size {shard_size!r}", field="shard_size", expected="a positive integer"
            )
        plan = _EventShards(output, n_chunks, int(chunk_size), int(shard_size))
        plan.check(overwrite)
    else:
        check_outputs([output, jets_out], overwrite=overwrite)

    user = tuple(str(s) for s in (pythia_settings or ()))
    settings = {
        "process": process,
        "n_events": int(n_events),
        "seed": int(seed),
        "chunk_size": int(chunk_size),
        "top_decays": top_decays,
        "tt_enrich": tt_enrich,
        "pthat_min": float(pthat_min) if process == "QCD" else None,
        "hh_mass": float(hh_mass) if process == "HH4b" else None,
        "sqrt_s": float(sqrt_s),
        "cross_section": cross_section,
        "pileup": pileup,
        "pythia_settings": list(user),
        "max_events": max_events,
    }
    crc = zlib.crc32(process.encode())
    specs = [
        EventChunkSpec(
            process=process,
            n_events=min(chunk_size, n_events - k * chunk_size),
            seed_entropy=(int(seed), crc, k),
            settings=(*proc.settings, *user),
            tops=proc.tops,
            top_decays=top_decays,
            tt_enrich=TT_ENRICH[tt_enrich] if tt_enrich else (),
            pileup=pileup,
            max_events=max_events,
            chunk=k,
        )
        for k in range(n_chunks)
    ]
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    parts_dir = output.parent / f".{output.name}.parts"
    _prepare_parts_dir(parts_dir, digest)
    files = [parts_dir / f"chunk_{s.chunk:05d}.parquet" for s in specs]
    todo = [(s, f) for s, f in zip(specs, files, strict=True) if not f.exists()]
    if len(todo) < len(specs):
        log.info("resuming: %d of %d chunks already done", len(specs) - len(todo), len(specs))
        if progress is not None:
            progress(sum(s.n_events for s, f in zip(specs, files, strict=True) if f.exists()))
    try:
        if todo and workers == 1 and scheduler is None:
            for spec, path in todo:
                _run_event_chunk_and_write(spec, str(path), progress)
        elif todo:
            _run_dask(todo, int(workers), scheduler, progress, task=_run_event_chunk_and_write)
    except BaseException:
        if not any(parts_dir.glob("*.parquet")):
            shutil.rmtree(parts_dir, ignore_errors=True)
        raise

    # --- merge: event ids made global, weights normalised over all chunks ------------------------------------
    stats = [read_metadata(f)["stats"] for f in files]
    n_acc = sum(s["n_accepted"] for s in stats)
    sigma_gen = sum(s["sigma_gen_pb"] * s["n_accepted"] for s in stats) / max(n_acc, 1)
    open_frac = stats[0]["open_fraction"]
    sigma = proc.xsec_pb if proc.xsec_pb is not None else sigma_gen / open_frac
    br_chan = channel_br(top_decays, stats[0]["br_w_lep"]) if proc.tops else 1.0
    sum_w = sum(s["sum_w_channel"] for s in stats)
    sum_written = sum(s["sum_w_written"] for s in stats)
    scale = sigma * proc.br * br_chan / sum_w
    metadata = {
        "generator": "higgsflow.generate.generate_events",
        "process": process,
        "description": proc.description,
        "settings": settings,
        "seed": int(seed),
        "pythia": list(proc.settings) + list(user),
        "versions": _versions(),
        "detector": "parametric CMS model after the Delphes card of JetClass-II (docs/generate.md)",
        "cross_section_pb": sigma,
        "cross_section_source": proc.xsec_source,
        "pythia_sigma_gen_pb": sigma_gen,
        "pythia_open_fraction": open_frac,
        "branching_ratio": proc.br,
        "branching_ratio_source": proc.br_source,
        "top_decays": top_decays,
        "top_decay_branching_ratio": br_chan,
        "tt_enrich": tt_enrich,
        "filter_efficiency": float(sum_written / sum_w),
        "sum_weights_pb": float(scale * sum_written),
        "events_generated": int(n_acc),
        "events_written": int(n_events),
    }
    offsets = np.concatenate([[0], np.cumsum([s.n_events for s in specs])])
    if shard_size is None:
        groups = [list(range(len(specs)))]
        targets = [(output, jets_out)]
    else:
        targets = plan.targets
        groups = [
            list(range(k * plan.per_shard, min((k + 1) * plan.per_shard, len(specs))))
            for k in range(len(targets))
        ]
    if shard_size is not None:  # files named like shards of another run (e.g. another shard count) go
        wanted = {p for pair in targets for p in pair}
        for p in plan.existing():
            if p not in wanted:
                p.unlink()
    shards = []
    for group, (ev_path, jet_path) in zip(groups, targets, strict=True):
        ev_cols, jet_cols = _merge_chunks(
            [files[i] for i in group], [specs[i] for i in group], offsets[group], scale
        )
        if jet_cols is None:
            raise DataError("no event has a jet: nothing for the jets file", file=jet_path)
        meta = {**metadata, "jets_file": jet_path.name}
        if shard_size is not None:
            meta.update(
                {
                    "shard": len(shards),
                    "n_shards": len(targets),
                    "shard_sum_weights_pb": float(ev_cols["weight"].sum()),
                }
            )
        write_table(jet_path, jet_cols, metadata={**meta, "events_file": ev_path.name}, overwrite=True)
        write_table(ev_path, ev_cols, metadata=meta, tree="events", overwrite=True)
        shards.append(
            (
                ev_path,
                jet_path,
                len(ev_cols["weight"]),
                len(jet_cols["event_id"]),
                float(ev_cols["weight"].sum()),
            )
        )
    if shard_size is not None:
        plan.write_manifests(metadata, shards)
        output, jets_out = plan.manifest, plan.jets_manifest
    shutil.rmtree(parts_dir, ignore_errors=True)
    log.info("wrote %s (%d events, Σw = %.4g pb) and %s", output, n_events, scale * sum_written, jets_out)
    return output, jets_out


def _merge_chunks(files: list[Path], specs: list[EventChunkSpec], offsets: np.ndarray, scale: float):
    """Event and jets columns of some finished chunks: global event ids, weights = ``scale`` × Pythia's."""
    from higgsflow.data.io import read_table

    ev_tabs, jet_tabs = [], []
    for f, spec, offset in zip(files, specs, offsets.tolist(), strict=True):
        t = read_table(f)
        if len(t) != spec.n_events:
            raise DataError(f"chunk has {len(t)} events", file=f, expected=f"{spec.n_events}")
        ev = {k: t[k] for k in t.fields}
        ev["event_id"] = ak.to_numpy(ev["event_id"]) + offset
        ev_tabs.append(ev)
        if _jets_part(f).exists():
            j = read_table(_jets_part(f))
            jc = {k: j[k] for k in j.fields}
            jc["event_id"] = ak.to_numpy(jc["event_id"]) + offset
            jet_tabs.append(jc)
    ev_cols = {k: _cat([t[k] for t in ev_tabs]) for k in ev_tabs[0]}
    weight = scale * ak.to_numpy(ev_cols.pop("weight_raw")).astype(np.float64)
    ev_cols = {"event_id": np.asarray(ev_cols.pop("event_id"), np.int64), "weight": weight, **ev_cols}
    if not jet_tabs:
        return ev_cols, None
    return ev_cols, _order_jet_columns({k: _cat([t[k] for t in jet_tabs]) for k in jet_tabs[0]})


class _EventShards:
    """Shard files of an events run: ``NAME_00000.SUFFIX`` and ``NAME_00000_jets.SUFFIX``, ..., each of
    ``per_shard`` whole chunks, and the manifests ``NAME.manifest.json`` and ``NAME_jets.manifest.json``."""

    def __init__(self, output: Path, n_chunks: int, chunk_size: int, shard_size: int) -> None:
        from higgsflow.generate.api import MANIFEST_SUFFIX

        self.output = output
        self.per_shard = max(1, round(shard_size / chunk_size))
        n = math.ceil(n_chunks / self.per_shard)
        stem, suf = output.stem, output.suffix
        self.targets = [
            (output.parent / f"{stem}_{k:05d}{suf}", output.parent / f"{stem}_{k:05d}_jets{suf}")
            for k in range(n)
        ]
        self.manifest = output.parent / f"{stem}{MANIFEST_SUFFIX}"
        self.jets_manifest = output.parent / f"{stem}_jets{MANIFEST_SUFFIX}"

    def existing(self) -> list[Path]:
        """Files next to the output named like one of its shards (of this or another shard count)."""
        pattern = re.compile(
            re.escape(self.output.stem) + r"_\d{5}(_jets)?" + re.escape(self.output.suffix) + "$"
        )
        if not self.output.parent.is_dir():
            return []
        return sorted(p for p in self.output.parent.iterdir() if pattern.match(p.name))

    def check(self, overwrite: bool) -> None:
        from higgsflow.outputs import check_outputs

        check_outputs([self.manifest, self.jets_manifest], overwrite=overwrite, what="manifest")
        existing = self.existing()
        if existing and not overwrite:
            raise DataError("output exists (use --overwrite)", file=existing[0])

    def write_manifests(self, metadata: dict[str, Any], shards: list[tuple]) -> None:
        for path, which in ((self.manifest, "event"), (self.jets_manifest, "jet")):
            listed = [
                {"file": (ev if which == "event" else jets).name, "entries": n_ev if which == "event" else n_jets,
                 "sum_weights_pb": w}
                for ev, jets, n_ev, n_jets, w in shards
            ]  # fmt: skip
            manifest = {
                "format": f"higgsflow {which} shards",
                "version": 1,
                **{
                    k: metadata[k]
                    for k in ("generator", "process", "seed", "cross_section_pb", "sum_weights_pb")
                },
                "entries": sum(s["entries"] for s in listed),
                "settings": metadata["settings"],
                "metadata": metadata,
                "shards": listed,
            }
            tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
            try:
                tmp.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
                tmp.replace(path)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise


def _jets_part(f: Path) -> Path:
    return f.parent / f"{f.stem}_jets{f.suffix}"


def _order_jet_columns(cols: dict[str, Any]) -> dict[str, Any]:
    """The jets file's columns in the generate-jets order (part_, label_, jet_, aux_, the rest), with
    ``event_id`` and ``jet_index`` last."""
    keys = [k for k in cols if k not in ("event_id", "jet_index")]
    order: list[str] = []
    for prefix in ("part_", "label_", "jet_", "aux_"):
        order += [k for k in keys if k.startswith(prefix)]
    order += [k for k in keys if k not in order] + ["event_id", "jet_index"]
    out = {}
    for k in order:
        v = cols[k]
        out[k] = (
            v
            if isinstance(v, ak.Array) and v.ndim > 1
            else np.asarray(ak.to_numpy(v) if isinstance(v, ak.Array) else v)
        )
    return out


def _run_event_chunk_and_write(spec: EventChunkSpec, path: str, progress=None) -> int:
    """Run one chunk and write its events and jets (the event part last: it marks the chunk done)."""
    from higgsflow.data.io import write_table

    ev, jets, stats = run_event_chunk(spec, progress=progress)
    p = Path(path)
    if jets and len(jets["event_id"]):  # a chunk without any jet has no jets part
        write_table(_jets_part(p), jets, overwrite=True)
    write_table(p, ev, metadata={"stats": stats, "chunk": spec.chunk}, overwrite=True)
    return spec.n_events
