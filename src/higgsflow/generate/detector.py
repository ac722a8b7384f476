"""The parametric CMS-like detector: from generator-level stable particles to particle-flow
(e-flow) candidates.

It follows the Delphes CMS card behind JetClass-II step by step (numbers in
:mod:`higgsflow.generate.cms_card`), vectorised over all particles of a batch of events:

1. **Propagation** (ParticlePropagator): particles produced outside the tracker (r > 1.29 m or
   |z| > 3 m) and neutrinos are dropped. Charged particles move on a helix in B = 3.8 T along +z;
   their azimuth at the calorimeter (r = 1.29 m) decides the tower they hit.
2. **Tracking** (TrackingEfficiency, MomentumSmearing): each charged particle gives a track with
   the card's efficiency; its pT is smeared log-normally with the card's σ(pT)/pT; the track is
   massless (E = |p|), as Delphes makes it.
3. **Impact parameters** (TrackSmearing): the helix from the particle's *true production vertex*
   is brought to its point of closest approach (PCA) to the z axis; d0 = (x·p_y − y·p_x)/p_T at
   the PCA (mm, momentum at the PCA) and dz = z at the PCA; both are smeared with the card's
   Gaussian σ(d0), σ(dz) at the track's pT and η.
4. **Calorimeters** (ECal, HCal): every stable particle except ν and μ deposits its energy in ECAL
   and HCAL towers with the card's fractions; tower energies are smeared log-normally with the
   card's resolutions.
5. **E-flow** (SimpleCalorimeter's energy-flow logic): per tower, the energy of the tracks
   pointing to it (electrons in ECAL, charged hadrons in HCAL) is subtracted; an excess above
   EnergyMin and EnergySignificanceMin·σ becomes a photon (ECAL) or a neutral hadron (HCAL) at a
   point drawn uniformly inside the tower. Charged particles without a track therefore end up as
   neutral energy, and many neutral particles in a tower make one candidate, so neutral
   multiplicities look like JetClass's.
6. **Flags**: tracks are flagged electron/muon by their generator identity, as in JetClass; an
   electron or muon with pT > 10 GeV that fails the card's identification efficiency is flagged a
   charged hadron instead (below 10 GeV the card defines no identification, so the identity flag
   is kept).

Simplifications against Delphes (documented in docs/generate.md): pile-up is optional (off by default;
its charged hadrons from other vertices are removed as by CHS) and its neutrals get no PUPPI weighting; the
calorimeter-vs-track combination for energetic tracks is not done (tracks always keep their
momentum); neutral particles from displaced vertices hit the calorimeter along their momentum
direction from the origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from higgsflow.generate import cms_card as card
from higgsflow.physics.kinematics import eta_phi, wrap_phi

__all__ = ["EFlow", "helix_impact_parameters", "lognormal", "simulate"]

#: pT (GeV) = 0.299792458 · B (T) · R (m) · |q|; in mm: R = pT / (_C_MM · B · |q|)
_C_MM = 0.299792458e-3

_NEUTRINOS = (12, 14, 16)


@dataclass
class EFlow:
    """Particle-flow candidates of a batch of events (flat arrays, one entry per candidate).

    ``kind``: 0 charged hadron, 1 electron, 2 muon, 3 photon, 4 neutral hadron. ``gen_index``: index into the
    input particle arrays for tracks, −1 for calorimeter candidates. Lengths in mm, momenta in GeV.
    """

    event: np.ndarray
    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    energy: np.ndarray
    charge: np.ndarray
    kind: np.ndarray
    d0: np.ndarray
    d0err: np.ndarray
    dz: np.ndarray
    dzerr: np.ndarray
    gen_index: np.ndarray

    def __len__(self) -> int:
        return int(self.event.size)


def lognormal(rng: np.random.Generator, mean: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Log-normal random numbers with the given mean and standard deviation (Delphes's ``LogNormal``)."""
    mean = np.asarray(mean, dtype=np.float64)
    ok = mean > 0
    safe = np.where(ok, mean, 1.0)
    s2 = np.log1p(np.square(np.where(ok, sigma, 0.0) / safe))
    mu = np.log(safe) - 0.5 * s2
    return np.where(ok, np.exp(mu + np.sqrt(s2) * rng.standard_normal(mean.shape)), 0.0)


def helix_impact_parameters(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    charge: np.ndarray,
    b_field: float = card.B_FIELD_T,
) -> tuple[np.ndarray, np.ndarray]:
    """True transverse and longitudinal impact parameters (d0, dz) in mm of helices with production point
    (x, y, z) in mm, momentum (px, py, pz) in GeV and charge in units of e, in a field ``b_field``
    (T) along +z.

    d0 = (x·p_y − y·p_x)/p_T evaluated at the point of closest approach to the z axis with the
    momentum there, dz
    the z of that point (docs/conventions.md). A positive charge turns clockwise seen from +z.
    """
    p_t = np.hypot(px, py)
    q = np.sign(charge)
    radius = p_t / (_C_MM * b_field * np.maximum(np.abs(charge), 1e-12))  # mm
    ux, uy = px / p_t, py / p_t
    # centre of the circle: start point plus R times the unit vector 90° clockwise (q > 0) of the momentum
    cx = x + q * radius * uy
    cy = y - q * radius * ux
    rc = np.hypot(cx, cy)
    # PCA: on the line origin–centre, at distance |rc − R| from the origin, on the centre's side if rc > R
    scale = np.where(rc > 0, (rc - radius) / np.where(rc > 0, rc, 1.0), 0.0)
    pca_x, pca_y = cx * scale, cy * scale
    # radius vectors from the centre to start and PCA, and the tangent (momentum direction) at the PCA
    sx, sy = (x - cx) / radius, (y - cy) / radius
    ex, ey = (pca_x - cx) / radius, (pca_y - cy) / radius
    tx, ty = q * ey, -q * ex
    d0 = pca_x * ty - pca_y * tx
    # signed turning angle from start to PCA along the motion (clockwise for q > 0), in (−π, π]
    dpsi = -q * wrap_phi(np.arctan2(ey, ex) - np.arctan2(sy, sx))
    dz = z + radius * dpsi * pz / p_t
    return d0, dz


#: detector-model variations (factors, 1 = nominal) for mismodelling studies: see :func:`simulate`
SHIFTS = ("ip_resolution", "tracking_efficiency", "neutral_energy_scale")


def parse_shift(text: str | dict | None) -> dict[str, float]:
    """``"ip_resolution=1.2,tracking_efficiency=0.97"`` (or a dict) → the factors of a shifted detector."""
    from higgsflow.errors import ConfigError

    if not text:
        return {}
    items = (
        text.items() if isinstance(text, dict) else (kv.partition("=")[::2] for kv in str(text).split(","))
    )
    out = {}
    for k, v in items:
        k = str(k).strip()
        if k not in SHIFTS:
            raise ConfigError(
                f"unknown detector shift {k!r}", field="detector_shift", expected=", ".join(SHIFTS)
            )
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ConfigError(
                f"bad factor {v!r} for {k}", field="detector_shift", expected="a number"
            ) from None
        if not 0 < f <= (1 if k == "tracking_efficiency" else 10):
            raise ConfigError(
                f"factor {f} for {k} out of range", field="detector_shift",
                expected="0 < f ≤ 1 for tracking_efficiency, 0 < f ≤ 10 otherwise",
            )  # fmt: skip
        out[k] = f
    return out


def simulate(
    particles: dict[str, np.ndarray], rng: np.random.Generator, shift: dict[str, float] | None = None
) -> EFlow:
    """Run the detector on a batch of stable generator particles and return the e-flow candidates.

    ``particles`` holds flat arrays ``event, pid, charge, px, py, pz, e, vx, vy, vz`` (GeV, mm): every stable
    final-state particle of the batch's events, and optionally ``pileup`` (bool) marking particles of pile-up
    interactions: their tracks are removed after the calorimeter step when their vertex is more than 0.1 mm
    from z = 0 in z (the card's TrackPileUpSubtractor), their neutral energy stays. The random draws come from
    ``rng`` only.

    ``shift`` varies the detector as a mismodelling proxy (factors, 1 = nominal): ``ip_resolution`` widens the
    true impact-parameter smearing while the stored errors stay nominal (the reconstruction does not know),
    ``tracking_efficiency`` multiplies the track-finding efficiency, ``neutral_energy_scale`` the energy of the
    neutral (calorimeter) candidates.
    """
    shift = shift or {}
    ip_res = float(shift.get("ip_resolution", 1.0))
    trk_eff = float(shift.get("tracking_efficiency", 1.0))
    neu_scale = float(shift.get("neutral_energy_scale", 1.0))
    n_in = particles["pid"].size
    pid = particles["pid"]
    apid = np.abs(pid)
    px, py, pz, e = particles["px"], particles["py"], particles["pz"], particles["e"]
    vx, vy, vz = particles["vx"], particles["vy"], particles["vz"]
    charge = particles["charge"]
    event = particles["event"]
    inside = (np.hypot(vx, vy) < card.TRACKER_RADIUS_MM) & (np.abs(vz) < card.TRACKER_HALF_LENGTH_MM)
    keep = inside & ~np.isin(apid, _NEUTRINOS)
    p_t = np.hypot(px, py)
    eta, phi = eta_phi(px, py, pz)

    # --- tracking -------------------------------------------------------------------------------------------
    charged = keep & (charge != 0) & (p_t > 0)
    eff = card.tracking_efficiency(pid, p_t, eta)
    tracked = charged & (rng.random(n_in) < eff * trk_eff)
    it = np.flatnonzero(tracked)
    t_pt_true = p_t[it]
    rel = card.momentum_resolution(pid[it], t_pt_true, eta[it])
    t_pt = lognormal(rng, t_pt_true, rel * t_pt_true)
    t_scale = t_pt / t_pt_true
    t_px, t_py, t_pz = px[it] * t_scale, py[it] * t_scale, pz[it] * t_scale
    t_e = np.sqrt(t_px**2 + t_py**2 + t_pz**2)
    d0_true, dz_true = helix_impact_parameters(vx[it], vy[it], vz[it], px[it], py[it], pz[it], charge[it])
    d0err, dzerr = card.impact_parameter_resolution(t_pt, eta[it])
    d0 = d0_true + ip_res * d0err * rng.standard_normal(it.size)
    dz = dz_true + ip_res * dzerr * rng.standard_normal(it.size)
    t_apid = apid[it]
    kind = np.select([t_apid == 11, t_apid == 13], [1, 2], 0)
    is_lep = kind > 0
    id_eff = card.lepton_id_efficiency(pid[it], t_pt, eta[it])
    failed_id = is_lep & (t_pt > 10.0) & (rng.random(it.size) >= id_eff)
    kind = np.where(failed_id, 0, kind)

    # --- calorimeters ---------------------------------------------------------------------------------------
    # azimuth at the calorimeter surface: charged particles bend by asin(r_cal / 2R) (from the beam line)
    radius = p_t / (_C_MM * card.B_FIELD_T * np.maximum(np.abs(charge), 1e-12))
    bend = np.where(
        (charge != 0) & (p_t > 0),
        -np.sign(charge) * np.arcsin(np.clip(card.TRACKER_RADIUS_MM / (2 * np.maximum(radius, 1e-9)), 0, 1)),
        0.0,
    )
    phi_cal = wrap_phi(phi + bend)
    f_ecal, f_hcal = card.calorimeter_fractions(pid)
    # a track's energy is compared with the calorimeter where its particle deposits (electrons
    # ECAL, hadrons HCAL)
    track_e_full = np.zeros(n_in)
    track_sigma2 = np.zeros(n_in)
    track_e_full[it] = t_e
    track_sigma2[it] = (rel * t_e) ** 2
    cand = [
        _calorimeter(card.ECAL, keep & (f_ecal > 0), e * f_ecal, eta, phi_cal, event, tracked & (apid == 11),
                     track_e_full, track_sigma2, card.ecal_resolution, rng),
        _calorimeter(card.HCAL, keep & (f_hcal > 0), e * f_hcal, eta, phi_cal, event,
                     tracked & (apid != 11) & (apid != 13), track_e_full, track_sigma2,
                     card.hcal_resolution, rng),
    ]  # fmt: skip
    n_ecal = cand[0][0].size
    c_event = np.concatenate([c[0] for c in cand])
    c_e = np.concatenate([c[1] for c in cand]) * neu_scale
    c_eta = np.concatenate([c[2] for c in cand])
    c_phi = np.concatenate([c[3] for c in cand])
    c_kind = np.where(np.arange(c_e.size) < n_ecal, 3, 4)
    c_pt = c_e / np.cosh(c_eta)

    zeros = np.zeros(c_e.size)
    out = EFlow(
        event=np.concatenate([event[it], c_event]).astype(np.int64),
        px=np.concatenate([t_px, c_pt * np.cos(c_phi)]),
        py=np.concatenate([t_py, c_pt * np.sin(c_phi)]),
        pz=np.concatenate([t_pz, c_pt * np.sinh(c_eta)]),
        energy=np.concatenate([t_e, c_e]),
        charge=np.concatenate([charge[it], zeros]),
        kind=np.concatenate([kind, c_kind]).astype(np.int8),
        d0=np.concatenate([d0, zeros]),
        d0err=np.concatenate([d0err, zeros]),
        dz=np.concatenate([dz, zeros]),
        dzerr=np.concatenate([dzerr, zeros]),
        gen_index=np.concatenate([it, np.full(c_e.size, -1)]).astype(np.int64),
    )
    order = np.argsort(out.event, kind="stable")
    if "pileup" in particles:  # charged-hadron subtraction of pile-up tracks
        gi = out.gen_index[order]
        pu = np.zeros(order.size, dtype=bool)
        trk = gi >= 0
        pu[trk] = particles["pileup"][gi[trk]] & (np.abs(vz[gi[trk]]) > card.PILEUP_Z_RESOLUTION_MM)
        order = order[~pu]
    return EFlow(**{k: getattr(out, k)[order] for k in out.__dataclass_fields__})


def _calorimeter(spec, deposits, energy, eta, phi, event, track_mask, track_e, track_sigma2, resolution, rng):
    """Towers of one calorimeter and their neutral e-flow excess: (event, E, η, φ) of the neutral
    candidates."""
    tower = spec.tower_index(eta, phi)
    use = (deposits | track_mask) & (tower >= 0)
    key = event[use].astype(np.int64) * spec.n_towers + tower[use]
    uniq, inv = np.unique(key, return_inverse=True)
    e_dep = np.bincount(inv, weights=np.where(deposits[use], energy[use], 0.0), minlength=uniq.size)
    tm = track_mask[use]
    e_trk = np.bincount(inv, weights=np.where(tm, track_e[use], 0.0), minlength=uniq.size)
    s2_trk = np.bincount(inv, weights=np.where(tm, track_sigma2[use], 0.0), minlength=uniq.size)
    t_index = uniq % spec.n_towers
    t_event = uniq // spec.n_towers
    eta_lo, eta_hi, phi_lo, phi_hi = spec.tower_edges(t_index)
    eta_c = 0.5 * (eta_lo + eta_hi)
    sigma = resolution(e_dep, eta_c)
    e_meas = lognormal(rng, e_dep, sigma)
    e_meas = np.where((e_meas < spec.energy_min) | (e_meas < spec.significance_min * sigma), 0.0, e_meas)
    excess = e_meas - e_trk
    good = (excess >= spec.energy_min) & (excess >= spec.significance_min * np.sqrt(s2_trk + sigma**2))
    n = int(good.sum())
    c_eta = rng.uniform(eta_lo[good], eta_hi[good], n)
    c_phi = wrap_phi(rng.uniform(phi_lo[good], phi_hi[good], n))
    return t_event[good], excess[good], c_eta, c_phi
