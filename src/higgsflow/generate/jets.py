"""Making the jets of one class in one seeded chunk: Pythia 8 → detector → FastJet → labels and features.

The event loop reads as little of Pythia's record as the detector needs: Pythia's own (C++, fjcore)
SlowJet finds
generator-level anti-kT R = 1.0 clusters above a loose p_T threshold, and only their constituents
are copied to
numpy (events with no such cluster are skipped without copying anything). An R = 1.0 cluster contains every
particle that can end up in a reconstructed R = 0.8 jet near its axis, so the jets are those of the
full event.
Batches of events then go through the detector (:mod:`higgsflow.generate.detector`) and FastJet's awkward
interface together.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import awkward as ak
import numpy as np

from higgsflow.errors import ConfigError, HiggsflowError
from higgsflow.generate import detector
from higgsflow.generate.cms_card import PILEUP_Z_SPREAD_MM
from higgsflow.generate.processes import class_spec
from higgsflow.generate.tracks import candidate_features
from higgsflow.generate.truth import (
    Decay,
    ak4_flavour,
    glopart_label,
    heavy_hadrons_near,
    read_decays,
    read_heavy_hadrons,
)
from higgsflow.physics.kinematics import delta_phi, eta_phi
from higgsflow.physics.substructure import nsubjettiness, softdrop_mass

__all__ = ["JET_TYPES", "ChunkSpec", "JetType", "jet_rows", "make_pythia", "run_chunk"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JetType:
    """Jet definition and selection: anti-kT radius R, pT window (GeV) and |η| limit."""

    name: str
    radius: float
    pt_min: float
    pt_max: float
    eta_max: float


JET_TYPES = {
    "ak8": JetType("ak8", 0.8, 500.0, 1000.0, 2.0),
    "ak4": JetType("ak4", 0.4, 20.0, np.inf, 2.5),
}

#: generator-level pre-selection cluster: radius and pT threshold relative to the jet pT_min
_PRESEL_R_EXTRA = 0.2
_PRESEL_PT_FRACTION = 0.85
#: events per batch: the first batch, and the range of later ones (sized from the yield so far, so that small
#: chunks do not overshoot and large ones amortise the per-call costs of FastJet and awkward)
_BATCH_FIRST, _BATCH_MIN, _BATCH_MAX = 32, 16, 160

#: FastJet prints its banner on C++ stdout at a process's first clustering, and Pythia's built-in copy of it
#: (fjcore, used by SlowJet) prints it again. Standard output carries results, so in each process the first
#: clustering of each runs with file descriptor 1 pointed elsewhere: FastJet's banner goes to stderr (once per
#: process), fjcore's duplicate nowhere.
_BANNER_SHOWN = {"fastjet": False, "fjcore": False}


@contextlib.contextmanager
def _stdout_fd_to(target: str) -> Iterator[None]:
    """Point file descriptor 1 (C and C++ stdout) at stderr (``"stderr"``) or at the null device for the block."""
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        saved = os.dup(1)
    except (OSError, AttributeError, TypeError):  # pragma: no cover - no C runtime or no fd 1 to move
        yield
        return
    sys.stdout.flush()
    libc.fflush(None)
    if target == "stderr":
        os.dup2(2, 1)
    else:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    try:
        yield
    finally:
        libc.fflush(None)  # whatever C or C++ buffered goes where it was written to, not to stdout
        os.dup2(saved, 1)
        os.close(saved)


def _banner_guard(which: str) -> contextlib.AbstractContextManager:
    """The redirection for the first clustering of ``which`` (``"fastjet"`` or ``"fjcore"``) in this process,
    a no-op afterwards."""
    if _BANNER_SHOWN[which]:
        return contextlib.nullcontext()
    _BANNER_SHOWN[which] = True
    return _stdout_fd_to("stderr" if which == "fastjet" else "null")


@dataclass(frozen=True)
class ChunkSpec:
    """One unit of work: ``n_jets`` jets of class ``name`` from a Pythia run seeded by ``seed_entropy``."""

    name: str
    n_jets: int
    seed_entropy: tuple[int, ...]
    jet_type: str = "ak8"
    extra_settings: tuple[str, ...] = ()
    max_events: int | None = None
    store_truth_index: bool = False
    pileup: float = 0.0
    detector_shift: tuple[tuple[str, float], ...] = ()
    meta: dict = field(default_factory=dict, compare=False)


def make_pythia(settings: tuple[str, ...] | list[str], seed: int):
    """A quiet, initialised ``pythia8mc.Pythia`` with ``settings`` and ``Random:seed = seed``.

    A setting Pythia does not accept, or an initialisation that fails, raises :class:`ConfigError`.
    """
    import pythia8mc

    pythia = pythia8mc.Pythia("", False)
    base = ("Print:quiet = on", "Next:numberCount = 0", "Random:setSeed = on", f"Random:seed = {seed}")
    for s in (*base, *settings):
        if not pythia.readString(s):
            raise ConfigError("Pythia rejected a setting", field=s, expected="a valid Pythia 8 setting")
    if not pythia.init():
        raise ConfigError(
            "Pythia failed to initialise", field="; ".join(settings), expected="a consistent set of settings"
        )
    return pythia


class _Batch:
    """Generator particles and truth of the events collected so far (those with a pre-selected cluster)."""

    def __init__(self) -> None:
        self.rows: list[np.ndarray] = []
        self.decays: list[list[Decay]] = []
        self.hadrons: list[np.ndarray] = []
        self.n_pileup: list[int] = []

    def __len__(self) -> int:
        return len(self.decays)


def _extract(event, indices: list[int]) -> np.ndarray:
    """(id, px, py, pz, e, x, y, z) of the given entries of the event record, one row each."""
    rows = []
    for k in indices:
        p = event[k]
        rows.append((p.id(), p.px(), p.py(), p.pz(), p.e(), p.xProd(), p.yProd(), p.zProd()))
    return np.array(rows, dtype=np.float64).reshape(-1, 8)


def run_chunk(
    spec: ChunkSpec, *, progress: Callable[[int], None] | None = None
) -> dict[str, np.ndarray | ak.Array]:
    """Generate the jets of one chunk and return their columns (JetClass schema, without the label columns).

    The columns hold ``spec.n_jets`` jets in a deterministic order; the same ``spec`` always gives the same
    numbers. ``progress`` is called with the number of jets added after every batch.
    """
    cls = class_spec(spec.name, spec.jet_type)
    jt = JET_TYPES.get(spec.jet_type)
    if jt is None:
        raise ConfigError(f"unknown jet type {spec.jet_type!r}", field="jet_type", expected="one of: ak8")
    ss = np.random.SeedSequence(list(spec.seed_entropy))
    pythia_seed, det_seed, pu_seed = ss.spawn(3)
    seed = int(pythia_seed.generate_state(1)[0] % 900_000_000) + 1
    pythia = make_pythia((*cls.settings, *spec.extra_settings), seed)
    rng = np.random.default_rng(det_seed)
    charge_of = _ChargeTable(pythia)
    pileup = _PileUp(spec.pileup, pu_seed) if spec.pileup > 0 else None

    import pythia8mc

    presel_r = jt.radius + _PRESEL_R_EXTRA
    slow = pythia8mc.SlowJet(-1, presel_r, _PRESEL_PT_FRACTION * jt.pt_min, 5.0, 1, 2, None, True)
    max_events = spec.max_events or max(2000, 400 * spec.n_jets)
    out: list[dict] = []
    n_have = 0
    n_cand_events = 0
    batch_size = _BATCH_FIRST
    n_events = 0
    n_failed = 0
    batch = _Batch()
    t0 = time.perf_counter()
    event = pythia.event
    while n_have < spec.n_jets:
        if n_events >= max_events:
            raise HiggsflowError(
                f"only {n_have} {spec.name} jets after {n_events} events",
                field="n_jets",
                expected="settings that give jets in the selection window",
            )
        n_events += 1
        if not pythia.next():
            n_failed += 1
            if n_failed > 100 and n_failed > n_events // 10:
                raise ConfigError("Pythia fails to generate events", field=spec.name)
            continue
        with _banner_guard("fjcore"):
            slow.analyze(event)
        cand: list[int] = []
        for j in range(slow.sizeJet()):
            if abs(slow.y(j)) < jt.eta_max + presel_r:
                cand.extend(slow.constituents(j))
        if not cand:
            continue
        indices = sorted(set(cand))
        rows = _extract(event, indices)
        batch.rows.append(rows)
        batch.decays.append(read_decays(pythia.process, event))
        if jt.name == "ak4":  # partons and τ decays are needed: read the whole record
            batch.hadrons.append(read_heavy_hadrons(event, with_partons=True))
        else:
            displaced = np.linalg.norm(rows[:, 5:8], axis=1) > 1e-3
            batch.hadrons.append(heavy_hadrons_near(event, indices, displaced))
        if pileup is not None:
            pu_rows = pileup.rows()
            batch.rows[-1] = np.concatenate([rows, pu_rows])
            batch.n_pileup.append(len(pu_rows))
        else:
            batch.n_pileup.append(0)
        if len(batch) >= batch_size:
            n_cand_events += len(batch)
            cols = _process_batch(batch, spec, jt, rng, charge_of)
            batch = _Batch()
            if cols is not None:
                out.append(cols)
                n_new = len(cols["jet_pt"])
                n_have += n_new
                if progress is not None and n_new:
                    progress(min(n_new, spec.n_jets - (n_have - n_new)))
            per_event = max(n_have / n_cand_events, 0.02)
            wanted = int(np.ceil(1.2 * (spec.n_jets - n_have) / per_event))
            batch_size = int(np.clip(wanted, _BATCH_MIN, _BATCH_MAX))
        if n_have < spec.n_jets and len(batch) and n_events >= max_events:
            break
    if len(batch) and n_have < spec.n_jets:  # pragma: no cover - only reached at max_events
        cols = _process_batch(batch, spec, jt, rng, charge_of)
        if cols is not None:
            out.append(cols)
    merged = _concat(out, spec.n_jets)
    log.info(
        "%s: %d jets from %d events in %.1f s (seed %d)",
        spec.name, len(merged["jet_pt"]), n_events, time.perf_counter() - t0, seed,
    )  # fmt: skip
    merged["_n_events"] = n_events
    return merged


class _PileUp:
    """Minimum-bias pile-up (Pythia ``SoftQCD:nonDiffractive``): a Poisson number of interactions with mean
    ``mu`` per event, each displaced along z by a Gaussian of σ = 53 mm (the card's PileUpMerger)."""

    def __init__(self, mu: float, seed: np.random.SeedSequence) -> None:
        s_pythia, s_rng = seed.spawn(2)
        self.mu = mu
        self.rng = np.random.default_rng(s_rng)
        settings = ("Beams:eCM = 13600", "SoftQCD:nonDiffractive = on")
        self.pythia = make_pythia(settings, int(s_pythia.generate_state(1)[0] % 900_000_000) + 1)

    def rows(self) -> np.ndarray:
        """(id, px, py, pz, e, x, y, z) of the final particles of this event's pile-up interactions."""
        out = []
        for _ in range(int(self.rng.poisson(self.mu))):
            while not self.pythia.next():
                pass
            ev = self.pythia.event
            finals = [k for k in range(ev.size()) if ev[k].isFinal()]
            r = _extract(ev, finals)
            r[:, 7] += self.rng.normal(0.0, PILEUP_Z_SPREAD_MM)
            out.append(r)
        return np.concatenate(out) if out else np.zeros((0, 8))


class _ChargeTable:
    """Electric charge (units of e) by PDG id, from Pythia's particle data, cached."""

    def __init__(self, pythia) -> None:
        self._pd = pythia.particleData
        self._cache: dict[int, float] = {}

    def __call__(self, pid: np.ndarray) -> np.ndarray:
        uniq, inv = np.unique(pid, return_inverse=True)
        vals = np.empty(uniq.size)
        for i, u in enumerate(uniq.tolist()):
            c = self._cache.get(u)
            if c is None:
                c = self._cache[u] = float(self._pd.charge(int(u)))
            vals[i] = c
        return vals[inv]


def _concat(parts: list[dict], n: int) -> dict:
    if not parts:
        return {}
    out = {}
    for k in parts[0]:
        vals = [p[k] for p in parts]
        if isinstance(vals[0], ak.Array):
            out[k] = ak.concatenate(vals)[:n]
        else:
            out[k] = np.concatenate(vals)[:n]
    return out


def _cluster(px, py, pz, e, counts, radius):
    """anti-kT jets of many events: per jet its event, and the flat indices of its constituents."""
    import fastjet

    arr = ak.unflatten(ak.zip({"px": px, "py": py, "pz": pz, "E": e}, with_name="Momentum4D"), counts)
    with _banner_guard("fastjet"):
        cs = fastjet.ClusterSequence(arr, fastjet.JetDefinition(fastjet.antikt_algorithm, radius))
        idx = cs.constituent_index(min_pt=0.0)
    offsets = np.concatenate([[0], np.cumsum(counts)])[:-1]
    n_jets_per_event = ak.to_numpy(ak.num(idx, axis=1))
    jet_event = np.repeat(np.arange(len(counts)), n_jets_per_event)
    per_jet = ak.flatten(idx, axis=1)
    n_const = ak.to_numpy(ak.num(per_jet, axis=1))
    flat_local = ak.to_numpy(ak.flatten(per_jet))
    flat_global = flat_local + np.repeat(offsets[jet_event], n_const)
    jet_of = np.repeat(np.arange(jet_event.size), n_const)
    jpx = np.bincount(jet_of, weights=px[flat_global], minlength=jet_event.size)
    jpy = np.bincount(jet_of, weights=py[flat_global], minlength=jet_event.size)
    jpz = np.bincount(jet_of, weights=pz[flat_global], minlength=jet_event.size)
    je = np.bincount(jet_of, weights=e[flat_global], minlength=jet_event.size)
    return jet_event, n_const, flat_global, (jpx, jpy, jpz, je)


def _process_batch(batch: _Batch, spec: ChunkSpec, jt: JetType, rng, charge_of) -> dict | None:
    counts = np.array([len(r) for r in batch.rows], dtype=np.int64)
    gen = np.concatenate(batch.rows)
    pid = gen[:, 0].astype(np.int64)
    evt = np.repeat(np.arange(counts.size), counts)
    particles = {
        "event": evt, "pid": pid, "charge": charge_of(pid),
        "px": gen[:, 1], "py": gen[:, 2], "pz": gen[:, 3], "e": gen[:, 4],
        "vx": gen[:, 5], "vy": gen[:, 6], "vz": gen[:, 7],
    }  # fmt: skip
    if any(batch.n_pileup):  # the last n_pileup rows of each event come from pile-up interactions
        ends = np.cumsum(counts)
        particles["pileup"] = np.zeros(evt.size, dtype=bool)
        for end, n_pu in zip(ends, batch.n_pileup, strict=True):
            particles["pileup"][end - n_pu : end] = True
    flow = detector.simulate(particles, rng, dict(spec.detector_shift))
    f_counts = np.bincount(flow.event, minlength=counts.size)
    jet_event, n_const, cidx, (jpx, jpy, jpz, je) = _cluster(
        flow.px, flow.py, flow.pz, flow.energy, f_counts, jt.radius
    )
    jpt = np.hypot(jpx, jpy)
    jeta, jphi = eta_phi(jpx, jpy, jpz)
    sel = (jpt > jt.pt_min) & (jpt < jt.pt_max) & (np.abs(jeta) < jt.eta_max)
    # truth labels: the class of a fully contained decay, QCD if nothing is near
    labels = np.full(jet_event.size, "", dtype=object)
    match: list[Decay | None] = [None] * jet_event.size
    glopart = class_spec(spec.name, spec.jet_type).scheme == "glopart"
    for j in np.flatnonzero(sel):
        if glopart:
            ev = jet_event[j]
            labels[j], match[j] = glopart_label(
                batch.decays[ev], batch.hadrons[ev], jeta[j], jphi[j], jt.radius
            )
            labels[j] = labels[j] or ""
            continue
        if jt.name == "ak4":
            labels[j] = ak4_flavour(batch.hadrons[jet_event[j]], jeta[j], jphi[j], jt.radius) or ""
            continue
        label, dec = _label_jet(batch.decays[jet_event[j]], jeta[j], jphi[j], jt.radius)
        labels[j] = label or ""
        match[j] = dec
    keep = np.flatnonzero(sel & (labels == spec.name))
    if keep.size == 0:
        return None
    return jet_rows(
        flow, particles, counts, batch.hadrons, jet_event, n_const, cidx, (jpx, jpy, jpz, je), keep, jt, rng,
        match=match, store_truth_index=spec.store_truth_index,
    )  # fmt: skip


def jet_rows(
    flow: detector.EFlow,
    particles: dict[str, np.ndarray],
    counts: np.ndarray,
    hadrons: list[np.ndarray],
    jet_event: np.ndarray,
    n_const: np.ndarray,
    cidx: np.ndarray,
    p4: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    keep: np.ndarray,
    jt: JetType,
    rng: np.random.Generator,
    *,
    match: list[Decay | None] | None = None,
    store_truth_index: bool = False,
) -> dict[str, np.ndarray | ak.Array]:
    """The file columns (``part_*``, ``sv_*``, ``jet_*``, ``aux_*``; no labels) of the clustered jets ``keep``.

    ``flow`` holds the e-flow candidates of a batch of events and ``particles`` the generator particles they come
    from (``counts`` per event); ``jet_event``, ``n_const``, ``cidx`` and ``p4`` are :func:`_cluster`'s output on
    ``flow``; ``hadrons`` the per-event truth of :func:`~higgsflow.generate.truth.read_heavy_hadrons`;
    ``match`` the resonance decay matched to each clustered jet (None: none). The rows follow ``keep``'s order.
    Used by ``generate jets`` and by ``generate events`` (its companion jets file).
    """
    jpx, jpy, jpz, je = p4
    jpt = np.hypot(jpx, jpy)
    jeta, jphi = eta_phi(jpx, jpy, jpz)
    if match is None:
        match = [None] * jet_event.size
    # constituents of the kept jets, sorted by decreasing pT inside each jet (as JetClass)
    starts = np.concatenate([[0], np.cumsum(n_const)])
    sel_idx = np.concatenate([cidx[starts[j] : starts[j + 1]] for j in keep])
    sel_jet = np.repeat(np.arange(keep.size), n_const[keep])
    c_pt = np.hypot(flow.px[sel_idx], flow.py[sel_idx])
    order = np.lexsort((-c_pt, sel_jet))
    sel_idx, sel_jet = sel_idx[order], sel_jet[order]
    nk = n_const[keep]
    c_eta, c_phi = eta_phi(flow.px[sel_idx], flow.py[sel_idx], flow.pz[sel_idx])
    kind = flow.kind[sel_idx]

    def jag(values, dtype=np.float32):
        return ak.unflatten(np.asarray(values, dtype=dtype), nk)

    cols: dict[str, np.ndarray | ak.Array] = {
        "part_px": jag(flow.px[sel_idx]),
        "part_py": jag(flow.py[sel_idx]),
        "part_pz": jag(flow.pz[sel_idx]),
        "part_energy": jag(flow.energy[sel_idx]),
        "part_deta": jag(c_eta - jeta[keep][sel_jet]),
        "part_dphi": jag(delta_phi(c_phi, jphi[keep][sel_jet])),
        "part_d0val": jag(flow.d0[sel_idx]),
        "part_d0err": jag(flow.d0err[sel_idx]),
        "part_dzval": jag(flow.dz[sel_idx]),
        "part_dzerr": jag(flow.dzerr[sel_idx]),
        "part_charge": jag(flow.charge[sel_idx]),
        "part_isChargedHadron": jag(kind == 0),
        "part_isNeutralHadron": jag(kind == 4),
        "part_isPhoton": jag(kind == 3),
        "part_isElectron": jag(kind == 1),
        "part_isMuon": jag(kind == 2),
    }
    if store_truth_index:
        gi = flow.gen_index[sel_idx]
        cols["part_truth_pt"] = jag(
            np.where(gi >= 0, np.hypot(particles["px"][gi], particles["py"][gi]), 0.0)
        )
    sv_cols, sv_extra = _sv_columns(flow, particles, sel_idx, sel_jet, jeta[keep], jphi[keep], keep.size, rng)
    cols.update(sv_cols)
    feats = candidate_features(
        flow.px[sel_idx], flow.py[sel_idx], flow.pz[sel_idx], flow.charge[sel_idx], flow.d0[sel_idx],
        flow.d0err[sel_idx], flow.dz[sel_idx], flow.dzerr[sel_idx], sel_jet,
        np.column_stack([jpx[keep], jpy[keep], jpz[keep]]), radius=jt.radius, **sv_extra,
    )  # fmt: skip
    cols.update({f"part_{k}": jag(v) for k, v in feats.items()})
    constituents = ak.zip(
        {"px": cols["part_px"], "py": cols["part_py"], "pz": cols["part_pz"], "E": cols["part_energy"]}
    )
    tau = nsubjettiness(constituents, n_max=4, r0=jt.radius)
    cols.update(
        {
            "jet_pt": jpt[keep].astype(np.float32),
            "jet_eta": jeta[keep].astype(np.float32),
            "jet_phi": jphi[keep].astype(np.float32),
            "jet_energy": je[keep].astype(np.float32),
            "jet_nparticles": nk.astype(np.float32),
            "jet_sdmass": softdrop_mass(constituents, r0=jt.radius).astype(np.float32),
            "jet_tau1": tau[:, 0].astype(np.float32),
            "jet_tau2": tau[:, 1].astype(np.float32),
            "jet_tau3": tau[:, 2].astype(np.float32),
            "jet_tau4": tau[:, 3].astype(np.float32),
        }
    )
    cols.update(_gen_jets(particles, counts, jet_event[keep], jeta[keep], jphi[keep], jt.radius))
    cols.update(_aux(match, keep))
    cols["aux_n_prongs"] = _n_prongs(match, keep, jeta[keep], jphi[keep], jt.radius)
    n_b, n_c = _count_hadrons(hadrons, jet_event[keep], jeta[keep], jphi[keep], jt.radius)
    cols["aux_n_bhadrons"] = n_b
    cols["aux_n_chadrons"] = n_c
    return cols


def _sv_columns(flow, particles, sel_idx, sel_jet, jet_eta, jet_phi, n_jets, rng) -> tuple[dict, dict]:
    """Jagged ``sv_*`` columns of the kept jets from their reconstructed tracks, and the jet, momentum and
    position of each vertex (for the per-candidate features)."""
    from higgsflow.generate.vertices import SV_FIELDS, secondary_vertices

    gi = flow.gen_index[sel_idx]
    trk = gi >= 0
    idx, g = sel_idx[trk], gi[trk]
    vertex = np.column_stack([particles["vx"][g], particles["vy"][g], particles["vz"][g]])
    sv_jet, feats = secondary_vertices(
        sel_jet[trk], flow.px[idx], flow.py[idx], flow.pz[idx], flow.charge[idx], flow.d0err[idx],
        flow.dzerr[idx], vertex, jet_eta, jet_phi, rng,
    )  # fmt: skip
    counts = np.bincount(sv_jet, minlength=n_jets)
    extra = {
        "sv_jet": sv_jet,
        "sv_p3": np.column_stack([feats["px"], feats["py"], feats["pz"]]),
        "sv_pos": np.column_stack([feats["x"], feats["y"], feats["z"]]),
    }
    return {f"sv_{k}": ak.unflatten(feats[k].astype(np.float32), counts) for k in SV_FIELDS}, extra


def _label_jet(decays: list[Decay], eta: float, phi: float, radius: float) -> tuple[str | None, Decay | None]:
    full: list[Decay] = []
    near = False
    for d in decays:
        v_eta, v_phi = d.visible()
        if v_eta.size == 0:
            continue
        inside = np.hypot(v_eta - eta, delta_phi(v_phi, phi)) < radius
        near |= bool(inside.any())
        if inside.all() and d.label is not None:
            full.append(d)
    if len(full) == 1:
        return full[0].label, full[0]
    if not near:
        return "QCD", None
    return None, None


def _gen_jets(particles, counts, events, eta, phi, radius) -> dict[str, np.ndarray]:
    """Generator-level jets matched to the kept jets (ΔR < R/2): pT without and with neutrinos, and the
    generator-level soft-drop mass; 0 where no generator jet matches."""
    n = events.size
    out = {
        "jet_genjet_pt": np.zeros(n, np.float32),
        "jet_genjet_wnu_pt": np.zeros(n, np.float32),
        "aux_genjet_sdmass": np.zeros(n, np.float32),
    }
    used = np.unique(events)
    in_used = np.isin(particles["event"], used)
    if "pileup" in particles:  # generator jets are made of the hard interaction only
        in_used &= ~particles["pileup"]
    nu = np.isin(np.abs(particles["pid"]), (12, 14, 16))
    for with_nu in (False, True):
        mask = in_used & (nu | ~nu if with_nu else ~nu)
        ev = particles["event"][mask]
        remap = np.searchsorted(used, ev)
        cnt = np.bincount(remap, minlength=used.size)
        px, py, pz, e = (particles[k][mask] for k in ("px", "py", "pz", "e"))
        g_event, g_n, g_idx, (gpx, gpy, gpz, _ge) = _cluster(px, py, pz, e, cnt, radius)
        g_pt = np.hypot(gpx, gpy)
        g_eta, g_phi = eta_phi(gpx, gpy, gpz)
        g_starts = np.concatenate([[0], np.cumsum(g_n)])
        matched: list[tuple[int, int]] = []
        for i in range(n):
            cand = np.flatnonzero(g_event == np.searchsorted(used, events[i]))
            if cand.size == 0:
                continue
            dr = np.hypot(g_eta[cand] - eta[i], delta_phi(g_phi[cand], phi[i]))
            if dr.min() < radius / 2:
                matched.append((i, int(cand[np.argmin(dr)])))
        if not matched:
            continue
        rows = np.array([m[0] for m in matched])
        best = np.array([m[1] for m in matched])
        if with_nu:
            out["jet_genjet_wnu_pt"][rows] = g_pt[best]
            continue
        out["jet_genjet_pt"][rows] = g_pt[best]
        sl = np.concatenate([g_idx[g_starts[b] : g_starts[b + 1]] for b in best])
        con = ak.unflatten(ak.zip({"px": px[sl], "py": py[sl], "pz": pz[sl], "E": e[sl]}), g_n[best])
        out["aux_genjet_sdmass"][rows] = softdrop_mass(con, r0=radius)
    return out


def _count_hadrons(hadrons, events, eta, phi, radius) -> tuple[np.ndarray, np.ndarray]:
    """Numbers of weakly decaying b and c hadrons within ΔR < R of each jet axis."""
    n_b = np.zeros(events.size, np.int32)
    n_c = np.zeros(events.size, np.int32)
    for i, ev in enumerate(events.tolist()):
        h = hadrons[ev]
        if h.size == 0:
            continue
        inside = np.hypot(h[:, 2] - eta[i], delta_phi(h[:, 3], phi[i])) < radius
        n_b[i] = int(np.count_nonzero(inside & (h[:, 0] == 5)))
        n_c[i] = int(np.count_nonzero(inside & (h[:, 0] == 4)))
    return n_b, n_c


def _n_prongs(match: list[Decay | None], keep: np.ndarray, eta, phi, radius: float) -> np.ndarray:
    """Number of visible decay products (quarks, gluons, charged leptons, τ) of the matched decay within
    ΔR < R of each kept jet's axis (0 for QCD)."""
    out = np.zeros(keep.size, np.int32)
    for i, j in enumerate(keep.tolist()):
        d = match[j]
        if d is None:
            continue
        v_eta, v_phi = d.visible()
        out[i] = int(np.count_nonzero(np.hypot(v_eta - eta[i], delta_phi(v_phi, phi[i])) < radius))
    return out


def _aux(match: list[Decay | None], keep: np.ndarray) -> dict[str, np.ndarray]:
    decs = [match[j] for j in keep]

    def col(fn, dtype):
        return np.array([fn(d) if d is not None else 0 for d in decs], dtype=dtype)

    return {
        "aux_resonance_pid": col(lambda d: abs(d.pid), np.int32),
        "aux_resonance_mass": col(lambda d: d.mass, np.float32),
        "aux_resonance_pt": col(lambda d: d.pt, np.float32),
        "aux_resonance_eta": col(lambda d: d.eta, np.float32),
        "aux_resonance_phi": col(lambda d: d.phi, np.float32),
        "aux_tau_decay": col(lambda d: d.tau_decay, np.int32),
        "aux_n_c_from_w": col(lambda d: d.n_c_from_w, np.int32),
        "aux_lepton_pid": col(lambda d: d.lepton_pid, np.int32),
    }
