"""Physics constants used in more than one place: defined once here.

Higgs boson mass and SM branching ratios are those of the LHC Higgs Working Group, CERN Yellow Report 4
(arXiv:1610.07922), at m_H = 125.09 GeV. Centre-of-mass energies in TeV.
"""

from __future__ import annotations

__all__ = [
    "BR_H_BB",
    "BR_H_CC",
    "BR_Z_BB",
    "BR_Z_CC",
    "GAMMA_H_GEV",
    "GAMMA_Z_GEV",
    "M_H",
    "M_TOP",
    "M_W",
    "M_Z",
    "SQRT_S_RUN2",
    "SQRT_S_RUN3",
    "XSEC_TTZ_13TEV_PB",
]

#: Higgs boson mass in GeV (the YR4 reference point)
M_H = 125.09
#: SM total width of the Higgs boson in GeV at M_H (YR4)
GAMMA_H_GEV = 4.100e-3
#: SM branching ratio H → bb̄ at M_H (YR4)
BR_H_BB = 0.5809
#: SM branching ratio H → cc̄ at M_H (YR4)
BR_H_CC = 0.02884
#: Z boson mass in GeV (PDG)
M_Z = 91.1876
#: Z boson total width in GeV (PDG)
GAMMA_Z_GEV = 2.4955
#: branching ratio Z → bb̄ (PDG: R_b Γ_had/Γ)
BR_Z_BB = 0.1512
#: branching ratio Z → cc̄ (PDG)
BR_Z_CC = 0.1203
#: W boson mass in GeV (PDG)
M_W = 80.369
#: top quark mass in GeV (Pythia 8's default)
M_TOP = 173.0

#: √s of LHC Run 2 in TeV
SQRT_S_RUN2 = 13.0
#: √s of LHC Run 3 in TeV (the jet generator's beams)
SQRT_S_RUN3 = 13.6

#: tt̄Z cross section at √s = 13 TeV in pb: the NLO+NNLL prediction CMS compares with (Kulesza et al.,
#: arXiv:1812.08622, 0.86 +0.07 −0.08 pb; NLO QCD+EW alone, YR4 arXiv:1610.07922: 0.84 pb)
XSEC_TTZ_13TEV_PB = 0.86
