"""Per-candidate b-tagging features relative to the jet axis, as CMS's DeepJet / ParT-AK4 / UParT inputs define
them (CMSSW ``TrackInfoBuilder``, ``IPTools``, the DeepJet ``drminsv``/``distminsv``), vectorised over all
candidates of many jets.

With ĵ the unit jet momentum, p the candidate momentum and θ the angle between them:

- ``btagEtaRel`` = ½ ln((|p| + p·ĵ)/(|p| − p·ĵ)) (= artanh cos θ, ≥ 0 inside the jet cone);
- ``btagPtRel`` = |p × ĵ| (GeV), ``btagPPar`` = p·ĵ (GeV), ``btagPtRatio`` = |p × ĵ|/|p| = sin θ,
  ``btagPParRatio`` = p·ĵ/|p| = cos θ (≤ 1, so p_par ≤ |p|);
- ``btagSip2dVal`` / ``btagSip3dVal``: the transverse / 3D impact parameter (mm) with the sign of
  (PCA − PV)·ĵ (positive when the point of closest approach lies on the jet side of the primary vertex, as a
  track from a decay along the jet does); ``btagSip2dSig`` / ``btagSip3dSig`` the value over its error.
  The track near the beam line is the straight line through its 2D point of closest approach
  (d0·(sin φ, −cos φ), dz) along its momentum; the 3D impact parameter is then √(d0² + dz² sin²θ_track) and its
  error propagates σ(d0), σ(dz);
- ``btagJetDistVal``: minus the distance (mm) of closest approach between the track and the jet axis
  through the primary vertex (CMS stores it ≤ 0), ``btagDecayLen``: the distance (mm) from the primary vertex
  to the point of the track closest to the jet axis;
- ``drminsv``: ΔR to the nearest secondary vertex of the jet, capped at the jet radius (the radius when the
  jet has none, as DeepJet); ``distminsv``: the 3D distance (mm) of the track line to the nearest secondary
  vertex (0 when the jet has none, as DeepJet).

Neutral candidates (charge 0) have no track: their impact-parameter, jet-distance, decay-length and
``distminsv`` values are 0; the kinematic ones and ``drminsv`` are computed for every candidate.
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from higgsflow.physics.kinematics import delta_phi, eta_phi

__all__ = ["CANDIDATE_FIELDS", "candidate_columns", "candidate_features"]

CANDIDATE_FIELDS = (
    "btagEtaRel",
    "btagPtRel",
    "btagPPar",
    "btagPtRatio",
    "btagPParRatio",
    "btagSip2dVal",
    "btagSip2dSig",
    "btagSip3dVal",
    "btagSip3dSig",
    "btagJetDistVal",
    "btagDecayLen",
    "drminsv",
    "distminsv",
)
_TINY = 1e-12


def _unit(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = np.maximum(np.sqrt(x * x + y * y + z * z), _TINY)
    return x / n, y / n, z / n


def candidate_features(
    px: np.ndarray,
    py: np.ndarray,
    pz: np.ndarray,
    charge: np.ndarray,
    d0: np.ndarray,
    d0err: np.ndarray,
    dz: np.ndarray,
    dzerr: np.ndarray,
    jet_of: np.ndarray,
    jet_p3: np.ndarray,
    *,
    sv_jet: np.ndarray | None = None,
    sv_p3: np.ndarray | None = None,
    sv_pos: np.ndarray | None = None,
    radius: float = 0.4,
) -> dict[str, np.ndarray]:
    """The ``CANDIDATE_FIELDS`` of flat candidates (module docstring), float64.

    ``jet_of``: jet number of each candidate; ``jet_p3`` (n_jets, 3) jet momenta; ``sv_jet`` jet number of each
    secondary vertex (sorted), ``sv_p3`` (n_sv, 3) their momenta, ``sv_pos`` (n_sv, 3) their positions (mm).
    """
    px, py, pz = (np.asarray(a, dtype=np.float64) for a in (px, py, pz))
    d0, d0err, dz, dzerr = (np.asarray(a, dtype=np.float64) for a in (d0, d0err, dz, dzerr))
    jet_of = np.asarray(jet_of, dtype=np.int64)
    jp = np.asarray(jet_p3, dtype=np.float64).reshape(-1, 3)
    jx, jy, jz = _unit(jp[:, 0], jp[:, 1], jp[:, 2])
    jx, jy, jz = jx[jet_of], jy[jet_of], jz[jet_of]
    p = np.maximum(np.sqrt(px * px + py * py + pz * pz), _TINY)
    tx, ty, tz = px / p, py / p, pz / p
    ppar = px * jx + py * jy + pz * jz
    cx, cy, cz = py * jz - pz * jy, pz * jx - px * jz, px * jy - py * jx
    ptrel = np.sqrt(cx * cx + cy * cy + cz * cz)
    cos = np.clip(ppar / p, -1.0 + 1e-15, 1.0 - 1e-15)
    out = {
        "btagEtaRel": np.arctanh(cos),
        "btagPtRel": ptrel,
        "btagPPar": ppar,
        "btagPtRatio": ptrel / p,
        "btagPParRatio": ppar / p,
    }
    track = (np.asarray(charge) != 0) & (d0err > 0)
    pt = np.maximum(np.hypot(px, py), _TINY)
    # the 2D point of closest approach (d0 = (x p_y − y p_x)/p_T there) and the track line through it
    qx, qy, qz = d0 * py / pt, -d0 * px / pt, dz
    sign2 = np.where(qx * jx + qy * jy >= 0, 1.0, -1.0)
    sip2 = np.abs(d0) * sign2
    # 3D: the point of the line closest to the primary vertex (origin)
    s = qx * tx + qy * ty + qz * tz
    rx, ry, rz = qx - s * tx, qy - s * ty, qz - s * tz
    ip3 = np.sqrt(rx * rx + ry * ry + rz * rz)
    sin2 = 1.0 - tz * tz
    err3 = np.where(
        ip3 > _TINY,
        np.sqrt((d0 * d0err) ** 2 + (dz * sin2 * dzerr) ** 2) / np.maximum(ip3, _TINY),
        np.sqrt(d0err**2 + sin2 * dzerr**2),
    )
    sip3 = ip3 * np.where(rx * jx + ry * jy + rz * jz >= 0, 1.0, -1.0)
    # closest approach of the track line and the jet axis (through the origin)
    c = tx * jx + ty * jy + tz * jz
    qj = qx * jx + qy * jy + qz * jz
    st = (c * qj - s) / np.maximum(1.0 - c * c, _TINY)
    u = qj + st * c
    ax, ay, az = qx + st * tx, qy + st * ty, qz + st * tz
    dist = np.sqrt((ax - u * jx) ** 2 + (ay - u * jy) ** 2 + (az - u * jz) ** 2)
    decay = np.sqrt(ax * ax + ay * ay + az * az)
    zero = np.zeros_like(px)
    out.update(
        {
            "btagSip2dVal": np.where(track, sip2, 0.0),
            "btagSip2dSig": np.where(track, sip2 / np.where(track, d0err, 1.0), 0.0),
            "btagSip3dVal": np.where(track, sip3, 0.0),
            "btagSip3dSig": np.where(track, sip3 / np.where(track, np.maximum(err3, _TINY), 1.0), 0.0),
            "btagJetDistVal": np.where(track, -dist, 0.0),
            "btagDecayLen": np.where(track, decay, 0.0),
        }
    )
    drmin = np.full_like(px, float(radius))
    distmin = zero.copy()
    if sv_jet is not None and len(sv_jet):
        sv_jet = np.asarray(sv_jet, dtype=np.int64)
        n_jets = len(jp)
        nsv = np.bincount(sv_jet, minlength=n_jets)
        sv_start = np.concatenate([[0], np.cumsum(nsv)])[:-1]
        rep = nsv[jet_of]
        has = np.flatnonzero(rep > 0)
        if has.size:
            r = rep[has]
            cand = np.repeat(has, r)
            first = np.concatenate([[0], np.cumsum(r)])[:-1]
            k = np.arange(cand.size) - np.repeat(first, r)
            sv = sv_start[jet_of[cand]] + k
            sp = np.asarray(sv_p3, dtype=np.float64)
            c_eta, c_phi = eta_phi(px[cand], py[cand], pz[cand])
            s_eta, s_phi = eta_phi(sp[sv, 0], sp[sv, 1], sp[sv, 2])
            dr = np.hypot(c_eta - s_eta, delta_phi(c_phi, s_phi))
            drmin[has] = np.minimum(np.minimum.reduceat(dr, first), radius)
            pos = np.asarray(sv_pos, dtype=np.float64)
            # distance of the SV to the track line through (qx, qy, qz) along t: |(S − Q) × t|
            dx, dy, dzz = pos[sv, 0] - qx[cand], pos[sv, 1] - qy[cand], pos[sv, 2] - qz[cand]
            ex = dy * tz[cand] - dzz * ty[cand]
            ey = dzz * tx[cand] - dx * tz[cand]
            ez = dx * ty[cand] - dy * tx[cand]
            d = np.minimum.reduceat(np.sqrt(ex * ex + ey * ey + ez * ez), first)
            distmin[has] = np.where(track[has], d, 0.0)
    out["drminsv"] = drmin
    out["distminsv"] = distmin
    return out


def candidate_columns(table, *, radius: float = 0.4) -> dict[str, ak.Array]:
    """``part_<field>`` jagged columns for a table in the generator's schema (``part_px … part_dzerr``,
    ``jet_pt/eta/phi``, and ``sv_pt, sv_deta, sv_dphi, sv_d3d`` when present).

    Files written by ``higgsflow generate`` already hold these columns (computed there with the true vertex
    positions); this recomputes them for other tables, e.g. toy jets, placing each secondary vertex at ``sv_d3d``
    along its momentum direction.
    """
    counts = ak.to_numpy(ak.num(table["part_px"], axis=1))
    jet_of = np.repeat(np.arange(counts.size), counts)

    def flat(name):
        return ak.to_numpy(ak.flatten(table[name])).astype(np.float64)

    jpt, jeta, jphi = (ak.to_numpy(table[k]).astype(np.float64) for k in ("jet_pt", "jet_eta", "jet_phi"))
    jet_p3 = np.column_stack([jpt * np.cos(jphi), jpt * np.sin(jphi), jpt * np.sinh(jeta)])
    sv = {}
    if "sv_pt" in (table.fields if isinstance(table, ak.Array) else table):
        nsv = ak.to_numpy(ak.num(table["sv_pt"], axis=1))
        sv_jet = np.repeat(np.arange(nsv.size), nsv)
        s_pt = flat("sv_pt")
        s_eta = jeta[sv_jet] + flat("sv_deta")
        s_phi = jphi[sv_jet] + flat("sv_dphi")
        p3 = np.column_stack([s_pt * np.cos(s_phi), s_pt * np.sin(s_phi), s_pt * np.sinh(s_eta)])
        ux, uy, uz = _unit(p3[:, 0], p3[:, 1], p3[:, 2])
        d3d = flat("sv_d3d")
        sv = {"sv_jet": sv_jet, "sv_p3": p3, "sv_pos": np.column_stack([ux * d3d, uy * d3d, uz * d3d])}
    feats = candidate_features(
        flat("part_px"), flat("part_py"), flat("part_pz"), flat("part_charge"), flat("part_d0val"),
        flat("part_d0err"), flat("part_dzval"), flat("part_dzerr"), jet_of, jet_p3, radius=radius, **sv,
    )  # fmt: skip
    return {f"part_{k}": ak.unflatten(v.astype(np.float32), counts) for k, v in feats.items()}
