"""The numbers of higgsflow's parametric CMS detector, with their source.

Every number here is taken from the Delphes CMS card used to produce JetClass-II
(``delphes_card_CMS_JetClassII.tcl`` of jet-universe/jetclass2_generation, MIT licence), module by module; the
functions evaluate the card's formulas on numpy arrays. Units: GeV, mm, rad.

=========================================  ===================================================================
card module                                what is used here
=========================================  ===================================================================
ParticlePropagator                         B = 3.8 T, tracker radius 1.29 m, half-length 3.0 m
{ChargedHadron,Electron,Muon}TrackingEff.  :func:`tracking_efficiency`
{ChargedHadron,Electron,Muon}MomentumSm.   :func:`momentum_resolution` (relative σ(pT)/pT)
TrackSmearing                              :data:`IP_PT_EDGES`, :data:`D0_RESOLUTION`,
:data:`DZ_RESOLUTION` (mm)
ECal, HCal (SimpleCalorimeter)             tower grids, energy fractions, resolutions, EnergyMin and
                                           EnergySignificanceMin
{Electron,Muon,Photon}Efficiency           :func:`lepton_id_efficiency`
=========================================  ===================================================================
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "B_FIELD_T",
    "D0_RESOLUTION",
    "DZ_RESOLUTION",
    "ECAL",
    "HCAL",
    "IP_ETA_EDGES",
    "IP_PT_EDGES",
    "TRACKER_HALF_LENGTH_MM",
    "TRACKER_RADIUS_MM",
    "CalorimeterSpec",
    "calorimeter_fractions",
    "ecal_resolution",
    "hcal_resolution",
    "impact_parameter_resolution",
    "lepton_id_efficiency",
    "momentum_resolution",
    "tracking_efficiency",
]

#: PileUpMerger: luminous region σ(z) (mm), the card's MeanPileUp is 50; TrackPileUpSubtractor: pile-up tracks
#: farther than this in z from the primary vertex are removed (mm)
PILEUP_Z_SPREAD_MM = 53.0
PILEUP_Z_RESOLUTION_MM = 0.1

#: ParticlePropagator: solenoid field (T), tracker cylinder (mm)
B_FIELD_T = 3.8
TRACKER_RADIUS_MM = 1290.0
TRACKER_HALF_LENGTH_MM = 3000.0


def _eta_bins(abs_eta: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    return np.searchsorted(np.asarray(edges), abs_eta, side="left")


def tracking_efficiency(pid: np.ndarray, pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Probability that a charged particle gives a track (card modules ``*TrackingEfficiency``).

    Charged hadrons: 0.70 (0.1 < pT ≤ 1 GeV) / 0.95 (pT > 1) for |η| ≤ 1.5; 0.60 / 0.85 for 1.5 < |η| ≤ 2.5.
    Electrons: 0.73 / 0.95 / 0.99 (pT ≤ 1, ≤ 100, > 100) for |η| ≤ 1.5; 0.50 / 0.83 / 0.90 up to 2.5.
    Muons: 0.75 / 0.99 / 0.99·exp(0.5 − 5e-4 pT) (pT ≤ 1, ≤ 1000, > 1000) for |η| ≤ 1.5; 0.70 / 0.98 / … up to
    2.5. Zero for pT ≤ 0.1 GeV or |η| > 2.5.
    """
    apid = np.abs(pid)
    a = np.abs(eta)
    central = a <= 1.5
    low = pt <= 1.0
    had = np.where(central, np.where(low, 0.70, 0.95), np.where(low, 0.60, 0.85))
    ele = np.where(
        central,
        np.where(low, 0.73, np.where(pt <= 100.0, 0.95, 0.99)),
        np.where(low, 0.50, np.where(pt <= 100.0, 0.83, 0.90)),
    )
    high_mu = np.exp(0.5 - pt * 5.0e-4)
    mu = np.where(
        central,
        np.where(low, 0.75, np.where(pt <= 1000.0, 0.99, 0.99 * high_mu)),
        np.where(low, 0.70, np.where(pt <= 1000.0, 0.98, 0.98 * high_mu)),
    )
    eff = np.where(apid == 11, ele, np.where(apid == 13, mu, had))
    return np.where((pt <= 0.1) | (a > 2.5), 0.0, eff)


def momentum_resolution(pid: np.ndarray, pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Relative transverse-momentum resolution σ(pT)/pT of tracks (card modules ``*MomentumSmearing``,
    after arXiv:1405.6569): sqrt(a² + (b·pT)²) with (a, b) per |η| bin (0–0.5, 0.5–1.5, 1.5–2.5):
    hadrons (0.06, 1.3e-3), (0.10, 1.7e-3), (0.25, 3.1e-3); electrons (0.03, 1.3e-3), (0.05, 1.7e-3),
    (0.15, 3.1e-3); muons (0.01, 1.0e-4), (0.015, 1.5e-4), (0.025, 3.5e-4)."""
    apid = np.abs(pid)
    ib = np.clip(_eta_bins(np.abs(eta), (0.5, 1.5)), 0, 2)
    a = np.select(
        [apid == 11, apid == 13],
        [np.array([0.03, 0.05, 0.15])[ib], np.array([0.01, 0.015, 0.025])[ib]],
        np.array([0.06, 0.10, 0.25])[ib],
    )
    b = np.select(
        [apid == 11, apid == 13],
        [np.array([1.3e-3, 1.7e-3, 3.1e-3])[ib], np.array([1.0e-4, 1.5e-4, 3.5e-4])[ib]],
        np.array([1.3e-3, 1.7e-3, 3.1e-3])[ib],
    )
    return np.sqrt(a**2 + (b * pt) ** 2)


#: TrackSmearing: lower pT edges (GeV) of the impact-parameter resolution bins (from arXiv:1405.6569 fig. 15);
#: the last bin is open-ended. Below the first edge the first bin's value is used.
IP_PT_EDGES = np.array(
    [0.1823, 0.2227, 0.2720, 0.3323, 0.4060, 0.4959, 0.6058, 0.7401, 0.9041, 1.1044, 1.3492, 1.6481, 2.0134,
     2.4595, 3.0045, 3.6703, 4.4837, 5.4772, 6.6910, 8.1737, 9.9849, 12.1976, 14.9005, 18.2024,
     22.2360, 27.1635,
     33.1828, 40.5360, 49.5187, 60.4919, 73.8967, 90.2720, 110.2760, 134.7130]
)  # fmt: skip
#: upper |η| edges of the three impact-parameter resolution η bins
IP_ETA_EDGES = (0.9, 1.4, 2.5)
#: σ(d0) in mm, rows |η| ∈ (0, 0.9], (0.9, 1.4], (1.4, 2.5], columns the pT bins of IP_PT_EDGES
D0_RESOLUTION = np.array(
    [[0.3543, 0.2809, 0.2304, 0.1917, 0.1737, 0.1434, 0.1060, 0.0893, 0.0753, 0.0670, 0.0577, 0.0524, 0.0452,
      0.0376, 0.0350, 0.0324, 0.0283, 0.0258, 0.0237, 0.0211, 0.0191, 0.0164, 0.0150, 0.0143, 0.0130, 0.0130,
      0.0116, 0.0116, 0.0110, 0.0110, 0.0110, 0.0104, 0.0109, 0.0110],
     [0.4564, 0.3580, 0.3010, 0.2353, 0.2026, 0.1595, 0.1383, 0.1119, 0.0926, 0.0816, 0.0663, 0.0553, 0.0488,
      0.0431, 0.0399, 0.0357, 0.0313, 0.0277, 0.0233, 0.0221, 0.0214, 0.0180, 0.0155, 0.0141, 0.0128, 0.0134,
      0.0121, 0.0108, 0.0101, 0.0101, 0.0101, 0.0102, 0.0088, 0.0095],
     [0.6970, 0.6046, 0.5315, 0.4306, 0.3398, 0.2788, 0.2387, 0.1814, 0.1557, 0.1230, 0.1009, 0.0914, 0.0767,
      0.0638, 0.0544, 0.0468, 0.0425, 0.0385, 0.0331, 0.0278, 0.0256, 0.0236, 0.0217, 0.0196, 0.0176, 0.0165,
      0.0157, 0.0150, 0.0144, 0.0144, 0.0137, 0.0130, 0.0137, 0.0137]]
)  # fmt: skip
#: σ(dz) in mm, same binning as D0_RESOLUTION
DZ_RESOLUTION = np.array(
    [[0.3693, 0.3135, 0.3125, 0.2578, 0.2221, 0.1936, 0.1686, 0.1351, 0.1113, 0.0983, 0.0882, 0.0786, 0.0684,
      0.0615, 0.0551, 0.0516, 0.0484, 0.0450, 0.0416, 0.0416, 0.0382, 0.0350, 0.0317, 0.0316, 0.0316, 0.0316,
      0.0348, 0.0316, 0.0316, 0.0316, 0.0284, 0.0283, 0.0315, 0.0318],
     [0.7062, 0.6010, 0.5992, 0.4959, 0.3877, 0.3199, 0.2649, 0.2518, 0.1982, 0.1587, 0.1399, 0.1199, 0.1031,
      0.0967, 0.0805, 0.0736, 0.0707, 0.0603, 0.0609, 0.0541, 0.0511, 0.0443, 0.0409, 0.0408, 0.0409, 0.0377,
      0.0375, 0.0377, 0.0342, 0.0342, 0.0343, 0.0343, 0.0309, 0.0310],
     [2.1717, 2.0715, 2.0679, 1.7679, 1.4393, 1.1997, 0.9800, 0.8251, 0.6695, 0.5545, 0.4366, 0.3711, 0.3319,
      0.2721, 0.2443, 0.2085, 0.1816, 0.1641, 0.1451, 0.1317, 0.1117, 0.1020, 0.1017, 0.0983, 0.0882, 0.0847,
      0.0814, 0.0784, 0.0817, 0.0750, 0.0816, 0.0820, 0.0814, 0.0850]]
)  # fmt: skip


def impact_parameter_resolution(pt: np.ndarray, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """σ(d0), σ(dz) in mm from the card's TrackSmearing tables, looked up at the track's pT (GeV) and |η|.

    Tracks only exist for |η| ≤ 2.5; larger |η| uses the last η row.
    """
    ipt = np.clip(np.searchsorted(IP_PT_EDGES, pt, side="left") - 1, 0, IP_PT_EDGES.size - 1)
    ieta = np.clip(_eta_bins(np.abs(eta), IP_ETA_EDGES), 0, 2)
    return D0_RESOLUTION[ieta, ipt], DZ_RESOLUTION[ieta, ipt]


def ecal_resolution(energy: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """ECAL absolute energy resolution σ(E) in GeV (card module ECal; η shape arXiv:1306.2016, energy shape
    arXiv:1502.02701): s(η)·sqrt((0.008 E)² + 0.11² E + 0.40²) with s = 1 + 0.64 η² (|η| ≤ 1.5) and
    2.16 + 5.6 (|η| − 2)² (1.5 < |η| ≤ 2.5); sqrt((0.107 E)² + 2.08² E) for 2.5 < |η| ≤ 5."""
    a = np.abs(eta)
    base = np.sqrt((energy * 0.008) ** 2 + energy * 0.11**2 + 0.40**2)
    return np.select(
        [a <= 1.5, a <= 2.5],
        [(1 + 0.64 * eta**2) * base, (2.16 + 5.6 * (a - 2) ** 2) * base],
        np.sqrt((energy * 0.107) ** 2 + energy * 2.08**2),
    )


def hcal_resolution(energy: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """HCAL absolute energy resolution σ(E) in GeV (card module HCal): sqrt((0.050 E)² + 1.50² E) for |η| ≤ 3,
    sqrt((0.130 E)² + 2.70² E) for 3 < |η| ≤ 5."""
    a = np.abs(eta)
    return np.where(
        a <= 3.0,
        np.sqrt((energy * 0.050) ** 2 + energy * 1.50**2),
        np.sqrt((energy * 0.130) ** 2 + energy * 2.70**2),
    )


def calorimeter_fractions(pid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fractions of a stable particle's energy deposited in (ECAL, HCAL) (card EnergyFraction tables):
    e, γ, π0 → (1, 0); ν, μ → (0, 0); K0S, Λ → (0.3, 0.7); every other hadron → (0, 1)."""
    apid = np.abs(pid)
    f_ecal = np.select([np.isin(apid, (11, 22, 111)), np.isin(apid, (310, 3122))], [1.0, 0.3], 0.0)
    f_hcal = np.select(
        [np.isin(apid, (11, 22, 111, 12, 13, 14, 16)), np.isin(apid, (310, 3122))], [0.0, 0.7], 1.0
    )
    return f_ecal, f_hcal


def lepton_id_efficiency(pid: np.ndarray, pt: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """Identification efficiency of electrons and muons (card ElectronEfficiency, MuonEfficiency):
    electrons 0.95 (|η| ≤ 1.5) / 0.85 (≤ 2.5), muons 0.95 (|η| ≤ 2.4), both for pT > 10 GeV. Below 10 GeV the
    card defines no identified-lepton collection; see :mod:`higgsflow.generate.detector` for how
    flags are set."""
    apid = np.abs(pid)
    a = np.abs(eta)
    ele = np.where(a <= 1.5, 0.95, np.where(a <= 2.5, 0.85, 0.0))
    mu = np.where(a <= 2.4, 0.95, 0.0)
    return np.where(pt > 10.0, np.where(apid == 11, ele, np.where(apid == 13, mu, 0.0)), 0.0)


class CalorimeterSpec:
    """A tower grid as the card's SimpleCalorimeter defines it: sorted η edges, and for the η bin that ends at
    each edge the number of equal φ divisions of 2π; plus EnergyMin (GeV) and EnergySignificanceMin."""

    def __init__(
        self, name: str, edge_groups: list[tuple[list[float], int]], energy_min: float, sig_min: float
    ):
        pairs: dict[float, int] = {}
        for edges, nphi in edge_groups:
            for e in edges:
                pairs[round(float(e), 6)] = nphi
        self.name = name
        self.eta_edges = np.array(sorted(pairs))
        #: φ divisions of the bin (eta_edges[k-1], eta_edges[k]] stored at index k-1
        self.nphi = np.array([pairs[e] for e in self.eta_edges[1:]], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.nphi)])
        self.energy_min = energy_min
        self.significance_min = sig_min

    @property
    def n_towers(self) -> int:
        return int(self.offsets[-1])

    def tower_index(self, eta: np.ndarray, phi: np.ndarray) -> np.ndarray:
        """Tower number of each (η, φ); −1 outside the calorimeter's η range."""
        ieta = np.searchsorted(self.eta_edges, eta, side="left") - 1
        inside = (ieta >= 0) & (ieta < self.nphi.size)
        ieta_c = np.clip(ieta, 0, self.nphi.size - 1)
        nphi = self.nphi[ieta_c]
        iphi = np.clip(np.floor((phi + np.pi) / (2 * np.pi) * nphi).astype(np.int64), 0, nphi - 1)
        return np.where(inside, self.offsets[ieta_c] + iphi, -1)

    def tower_edges(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(η_low, η_high, φ_low, φ_high) of towers."""
        ieta = np.searchsorted(self.offsets, index, side="right") - 1
        iphi = index - self.offsets[ieta]
        width = 2 * np.pi / self.nphi[ieta]
        return (
            self.eta_edges[ieta],
            self.eta_edges[ieta + 1],
            -np.pi + iphi * width,
            -np.pi + (iphi + 1) * width,
        )


def _ecal() -> CalorimeterSpec:
    barrel = [i * 0.0174 for i in range(-85, 87)]
    endcap = [-2.958 + i * 0.0174 for i in range(1, 85)] + [1.4964 + i * 0.0174 for i in range(1, 85)]
    forward = [-5, -4.7, -4.525, -4.35, -4.175, -4, -3.825, -3.65, -3.475, -3.3, -3.125, -2.958,
               3.125, 3.3, 3.475, 3.65, 3.825, 4, 4.175, 4.35, 4.525, 4.7, 5]  # fmt: skip
    return CalorimeterSpec("ECAL", [(barrel, 360), (endcap, 360), (forward, 36)], energy_min=0.5, sig_min=2.0)


def _hcal() -> CalorimeterSpec:
    five_deg = [round(i * 0.087, 3) for i in range(-18, 20)]
    ten_deg = [-4.35, -4.175, -4, -3.825, -3.65, -3.475, -3.3, -3.125, -2.95, -2.868, -2.65, -2.5, -2.322,
               -2.172, -2.043, -1.93, -1.83, -1.74, -1.653, 1.74, 1.83, 1.93, 2.043, 2.172, 2.322, 2.5, 2.65,
               2.868, 2.95, 3.125, 3.3, 3.475, 3.65, 3.825, 4, 4.175, 4.35, 4.525]  # fmt: skip
    twenty_deg = [-5, -4.7, -4.525, 4.7, 5]
    return CalorimeterSpec(
        "HCAL", [(five_deg, 72), (ten_deg, 36), (twenty_deg, 18)], energy_min=1.0, sig_min=1.0
    )


#: ECAL towers: 0.0174 × 1° for |η| < 3 (barrel and HGCAL-like endcap), HF 0.175 × 10° up to |η| = 5;
#: EnergyMin 0.5 GeV, EnergySignificanceMin 2
ECAL = _ecal()
#: HCAL towers: 0.087 × 5° for |η| < 1.65, 10° up to 4.5, 20° in HF; EnergyMin 1 GeV, EnergySignificanceMin 1
HCAL = _hcal()
