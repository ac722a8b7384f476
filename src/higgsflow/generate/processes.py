"""Jet classes, the Pythia 8 processes that make them, and how a jet earns its label.

Every AK8 class is made by one Pythia 8 process at √s = 13.6 TeV with hadronisation and multiple
interactions on
and a hard-process p̂T window of 450–1100 GeV (so that the resonance, or the recoiling parton, lands in the
500–1000 GeV jet window). The class of a jet is decided by the generator truth, never by the process alone:

- the *decay products* of a resonance are the status-23 partons (and leptons) whose mother is a resonance
  (t, Z, W, H); decays through an intermediate resonance (t → bW, H → WW*) are followed down to the last ones;
- a jet is labelled with a resonance's class only when **all** its visible decay products (quarks, gluons, the
  charged lepton of Hqql/Tbl, the τ of H→ττ) lie within ΔR < R (0.8) of the jet axis;
- a jet is labelled ``QCD`` only when no visible decay product of any resonance lies within ΔR < R;
- other jets (partly merged resonance decays) are not written.

The 37 GloParT classes (:data:`GLOPART_CLASSES`, ``scheme="glopart"``) follow the talk's definitions instead
(:func:`higgsflow.generate.truth.glopart_label`): partly merged W decays are classes of their own (XWW3q, Topbq),
leptons and τ decay modes are told apart, and QCD jets are split by their b and c hadrons.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from higgsflow.errors import ConfigError

__all__ = [
    "AK4_CLASSES",
    "AK8_CLASSES",
    "CLASSES",
    "GLOPART_CLASSES",
    "JETCLASS_LABELS",
    "ClassSpec",
    "class_spec",
    "parse_classes",
]

_COMMON = (
    "Beams:eCM = 13600",
    "PhaseSpace:pTHatMin = 450",
    "PhaseSpace:pTHatMax = 1100",
)
_ZH_NUNU = ("HiggsSM:ffbar2HZ = on", "23:onMode = off", "23:onIfAny = 12 14 16")
_QUARKS = "1 2 3 4 5"


@dataclass(frozen=True)
class ClassSpec:
    """One jet class: its name, its label column, its Pythia settings and the truth signature of its decay.

    ``resonance``: PDG id of the resonance whose decay defines the class (0 for QCD);
    ``signature``: a function
    name in :mod:`higgsflow.generate.truth` that tells whether a decay's leaves belong to this class.
    """

    name: str
    process: str
    settings: tuple[str, ...]
    resonance: int
    description: str
    spectrum: str = "p̂T 450–1100 GeV; jets kept with 500 < pT < 1000 GeV, |η| < 2"
    extra: tuple[str, ...] = field(default=())
    jet_type: str = "ak8"
    #: ``"jetclass"``: all visible decay products in the cone, QCD = nothing near; ``"glopart"``: the
    #: GloParT definitions of :func:`higgsflow.generate.truth.glopart_label` (partly merged W decays, QCD
    #: split by hadron flavour)
    scheme: str = "jetclass"
    #: lowest resonance mass (GeV) drawn by ``--resonance-mass flat:LOW:HIGH`` for this class: classes with a
    #: decay product outside the cone (XWW3q, Topbq) are kinematically suppressed at low mass (ΔR ≈ 2m/p_T)
    mass_min: float = 0.0

    @property
    def label(self) -> str:
        return f"label_{self.name}"


def _h(decay: tuple[str, ...], desc: str, name: str) -> ClassSpec:
    return ClassSpec(name, "ZH, Z→νν", (*_COMMON, *_ZH_NUNU, "25:onMode = off", *decay), 25, desc)


CLASSES: dict[str, ClassSpec] = {
    spec.name: spec
    for spec in (
        ClassSpec(
            "QCD",
            "Z(→νν)+jet",
            (
                *_COMMON,
                "WeakBosonAndParton:qqbar2gmZg = on",
                "WeakBosonAndParton:qg2gmZq = on",
                "WeakZ0:gmZmode = 2",
                "23:onMode = off",
                "23:onIfAny = 12 14 16",
            ),
            0,
            "light-quark and gluon jets recoiling against an invisible Z",
        ),
        _h(("25:onIfAny = 5",), "H → bb̄", "Hbb"),
        _h(("25:onIfAny = 4",), "H → cc̄", "Hcc"),
        _h(("25:onIfAny = 21",), "H → gg", "Hgg"),
        _h(("25:onIfMatch = 24 -24", "24:onMode = off", f"24:onIfAny = {_QUARKS}"), "H → WW* → 4q", "H4q"),
        _h(
            (
                "25:onIfMatch = 24 -24",
                "24:onMode = off",
                "24:onPosIfAny = 11 13 15",
                "24:onNegIfAny = 1 2 3 4",
            ),
            "H → WW* → ℓνqq (the W⁺ decays leptonically, the W⁻ hadronically)",
            "Hqql",
        ),
        ClassSpec(
            "Zqq",
            "Z+jet",
            (
                *_COMMON,
                "WeakBosonAndParton:qqbar2gmZg = on",
                "WeakBosonAndParton:qg2gmZq = on",
                "WeakZ0:gmZmode = 2",
                "23:onMode = off",
                f"23:onIfAny = {_QUARKS}",
            ),
            23,
            "Z → qq̄ (q = d, u, s, c, b) recoiling against a parton",
        ),
        ClassSpec(
            "Wqq",
            "W+jet",
            (
                *_COMMON,
                "WeakBosonAndParton:qqbar2Wg = on",
                "WeakBosonAndParton:qg2Wq = on",
                "24:onMode = off",
                "24:onIfAny = 1 2 3 4",
            ),
            24,
            "W → qq̄′ recoiling against a parton",
        ),
        ClassSpec(
            "Tbqq",
            "tt̄",
            (
                *_COMMON,
                "Top:gg2ttbar = on",
                "Top:qqbar2ttbar = on",
                "24:onMode = off",
                "24:onIfAny = 1 2 3 4",
            ),
            6,
            "t → bW(→ qq̄′), both tops hadronic",
        ),
        ClassSpec(
            "Tbl",
            "tt̄",
            (
                *_COMMON,
                "Top:gg2ttbar = on",
                "Top:qqbar2ttbar = on",
                "24:onMode = off",
                "24:onIfAny = 11 13 15",
            ),
            6,
            "t → bW(→ ℓν), ℓ = e, μ, τ, both tops leptonic",
        ),
        _h(("25:onIfAny = 3",), "H → ss̄ (option)", "Hss"),
        _h(("25:onIfAny = 1 2",), "H → uū, dd̄ (option)", "Hqq"),
        _h(("25:onIfAny = 15",), "H → ττ (option)", "Htautau"),
    )
}

# --- GloParT classes (the talk's 37-class table) ------------------------------------------------------------
# X is a narrow Higgs-like scalar (the SM H with a fixed decay: one channel, meMode 100 so that Pythia keeps the
# branching ratio, and a forced 10 MeV width) produced in ZH, Z → νν̄, so that any mass in 15–250 GeV can be made
# with `--resonance-mass flat:15:250`. The top of the GloParT top classes decays through a fixed t → bW channel
# (meMode 100, forced 1.4 GeV width) so that top-like resonances lighter than m_W + m_b still decay (the W then
# off-shell). W bosons keep their mass; their lower mass limit is lowered to 2 GeV for off-shell decays.
_X = (*_COMMON, *_ZH_NUNU, "25:doForceWidth = on", "25:mWidth = 0.01")
_TT = (*_COMMON, "Top:gg2ttbar = on", "Top:qqbar2ttbar = on")
_TOP = ("6:oneChannel = 1 1.0 100 5 24", "6:doForceWidth = on", "6:mWidth = 1.4", "24:mMin = 2")
_HAD_TAU = "211 321"  # every hadronic τ decay has a charged pion or kaon


def _xdecay(*channels: tuple[float, str]) -> tuple[str, ...]:
    first, *rest = channels
    out = [f"25:oneChannel = 1 {first[0]} 100 {first[1]}"]
    out += [f"25:addChannel = 1 {br} 100 {prod}" for br, prod in rest]
    return tuple(out)


def _w(pos: str, neg: str) -> tuple[str, ...]:
    """W decays: the W⁺ into a channel with any of the ids ``pos``, the W⁻ with any of ``neg``.

    Pythia's ``onPosIfAny``/``onNegIfAny`` override each other on a channel that matches both, so equal sets
    use ``onIfAny`` and different ones must be disjoint (e.g. ``2`` = ud̄, us̄, ub̄ and ``4`` = cd̄, cs̄, cb̄).
    """
    out = ["24:onMode = off", "24:mMin = 2"]
    if pos == neg:
        return (*out, f"24:onIfAny = {pos}")
    return (*out, f"24:onPosIfAny = {pos}", f"24:onNegIfAny = {neg}")


def _tau(pos: str, neg: str | None = None) -> tuple[str, ...]:
    """τ decays: ``"e"``, ``"mu"`` or ``"h"`` for the τ⁻ (``pos``) and the τ⁺ (``neg``, default as τ⁻)."""
    ids = {"e": "11", "mu": "13", "h": _HAD_TAU}
    if neg is None or neg == pos:
        return ("15:onMode = off", f"15:onIfAny = {ids[pos]}")
    return ("15:onMode = off", f"15:onPosIfAny = {ids[pos]}", f"15:onNegIfAny = {ids[neg]}")


#: lowest flat-mass draw of the partly merged classes
PARTIAL_MASS_MIN = 40.0


def _gx(name: str, decay: tuple[str, ...], desc: str, mass_min: float = 0.0) -> ClassSpec:
    proc = "ZH, Z→νν (X = narrow scalar)"
    return ClassSpec(name, proc, (*_X, *decay), 25, desc, scheme="glopart", mass_min=mass_min)


def _gt(name: str, decay: tuple[str, ...], desc: str, mass_min: float = 0.0) -> ClassSpec:
    return ClassSpec(name, "tt̄", (*_TT, *_TOP, *decay), 6, desc, scheme="glopart", mass_min=mass_min)


def _gq(name: str, desc: str) -> ClassSpec:
    return ClassSpec(
        name, "QCD 2 → 2 (HardQCD:all)", (*_COMMON, "HardQCD:all = on"), 0, desc, scheme="glopart"
    )


_WW = _xdecay((1.0, "24 -24"))
_NOC, _C = "2", "4"  # W⁺ channels with a u (ud̄, us̄, ub̄: no c) or with a c
_LEP = {"ev": ("11", ()), "mv": ("13", ()), "tauev": ("15", _tau("e")),
        "taumv": ("15", _tau("mu")), "tauhv": ("15", _tau("h"))}  # fmt: skip
_LEP_TEXT = {"ev": "eν", "mv": "μν", "tauev": "τ_eν", "taumv": "τ_μν", "tauhv": "τ_hν"}


def _glopart_specs() -> list[ClassSpec]:
    specs = [
        _gx("Xbb", _xdecay((1.0, "5 -5")), "X → bb̄, both b in the jet"),
        _gx("Xcc", _xdecay((1.0, "4 -4")), "X → cc̄, both c in the jet"),
        _gx("Xss", _xdecay((1.0, "3 -3")), "X → ss̄, both s in the jet"),
        _gx("Xqq", _xdecay((0.5, "1 -1"), (0.5, "2 -2")), "X → uū, dd̄, both quarks in the jet"),
        _gx("Xtauhtaue", (*_xdecay((1.0, "15 -15")), *_tau("e", "h")), "X → τ_eτ_h, both τ in the jet"),
        _gx("Xtauhtaum", (*_xdecay((1.0, "15 -15")), *_tau("mu", "h")), "X → τ_μτ_h, both τ in the jet"),
        _gx("Xtauhtauh", (*_xdecay((1.0, "15 -15")), *_tau("h")), "X → τ_hτ_h, both τ in the jet"),
    ]
    w4 = {0: _w(_NOC, _NOC), 1: _w(_C, _NOC), 2: _w(_C, _C)}
    for nc, wset in w4.items():
        specs.append(_gx(f"XWW4q_{nc}c", (*_WW, *wset), f"X → WW(*) → 4q, all 4 in the jet, {nc} of them c"))
    for nc, wset in w4.items():
        specs.append(
            _gx(
                f"XWW3q_{nc}c",
                (*_WW, *wset),
                f"X → WW(*) → 4q, exactly 3 in the jet, {nc} of those c",
                PARTIAL_MASS_MIN,
            )
        )
    for lep, (wl, tau) in _LEP.items():
        for nc, wq in ((0, _NOC), (1, _C)):
            specs.append(
                _gx(
                    f"XWW{lep}qq_{nc}c",
                    (*_WW, *_w(wl, wq), *tau),
                    f"X → WW(*) → {_LEP_TEXT[lep]}qq̄′, lepton and both quarks in the jet, {nc} c",
                )
            )
    for nc, wq in ((0, _NOC), (1, _C)):
        specs.append(_gt(f"Topbqq_{nc}c", _w(wq, wq), f"t → bW → bqq̄′, b and both quarks in the jet, {nc} c"))
    for nc, wq in ((0, _NOC), (1, _C)):
        specs.append(
            _gt(
                f"Topbq_{nc}c",
                _w(wq, wq),
                f"t → bW → bqq̄′, b and exactly one W quark in the jet; that quark is {'c' if nc else 'not c'}",
                PARTIAL_MASS_MIN,
            )
        )
    for lep, (wl, tau) in _LEP.items():
        specs.append(
            _gt(f"Topb{lep}", (*_w(wl, wl), *tau), f"t → bW → b{_LEP_TEXT[lep]}, b and lepton in the jet")
        )
    specs += [
        _gq("QCD_bb", "QCD jet with ≥ 2 b hadrons"),
        _gq("QCD_b", "QCD jet with 1 b hadron"),
        _gq("QCD_cc", "QCD jet with ≥ 2 c hadrons, no b"),
        _gq("QCD_c", "QCD jet with 1 c hadron, no b"),
        _gq("QCD_light", "QCD jet without b or c hadrons"),
    ]
    return specs


#: the GloParT classes, in the order of the talk's table
_GLOPART = _glopart_specs()
GLOPART_CLASSES: tuple[str, ...] = tuple(s.name for s in _GLOPART)
CLASSES.update({s.name: s for s in _GLOPART})

_TT_AK4 = ("Beams:eCM = 13600", "Top:gg2ttbar = on", "Top:qqbar2ttbar = on")
_AK4_SPECTRUM = "tt̄ at √s = 13.6 TeV without p̂T cut; jets kept with pT > 20 GeV, |η| < 2.5"
_AK4_BOOSTED = "p̂T 500–1100 GeV; jets kept with pT > 20 GeV, |η| < 2.5"


def _ak4(name: str, process: str, settings: tuple[str, ...], desc: str, spectrum: str) -> ClassSpec:
    return ClassSpec(name, process, settings, 0, desc, spectrum=spectrum, jet_type="ak4")


#: AK4 (R = 0.4) flavour classes for the ttH(cc) tagger, labelled by hadron flavour first
_WQQ = ("24:onMode = off", "24:onIfAny = 1 2 3 4")
_WCS = ("24:onMode = off", "24:onIfAny = 3 4")
_ZH_AK4 = ("Beams:eCM = 13600", "PhaseSpace:pTHatMin = 500", "PhaseSpace:pTHatMax = 1100", *_ZH_NUNU)
AK4_CLASSES: dict[str, ClassSpec] = {
    spec.name: spec
    for spec in (
        _ak4("b", "tt̄", (*_TT_AK4, *_WQQ), "one b hadron", _AK4_SPECTRUM),
        _ak4("c", "tt̄", (*_TT_AK4, *_WCS), "one c hadron, no b", _AK4_SPECTRUM),
        _ak4("s", "tt̄", (*_TT_AK4, *_WCS), "s parton, no b/c hadron", _AK4_SPECTRUM),
        _ak4("ud", "tt̄", (*_TT_AK4, "24:onMode = off", "24:onIfAny = 1 2"), "u/d parton", _AK4_SPECTRUM),
        _ak4("g", "tt̄", (*_TT_AK4, *_WQQ), "gluon, no b/c hadron", _AK4_SPECTRUM),
        _ak4("tauh", "tt̄", (*_TT_AK4, "24:onMode = off", "24:onIfAny = 15"), "hadronic τ", _AK4_SPECTRUM),
        _ak4(
            "bb", "ZH, Z→νν", (*_ZH_AK4, "25:onMode = off", "25:onIfAny = 5"), "two b hadrons", _AK4_BOOSTED
        ),
        _ak4(
            "cc", "ZH, Z→νν", (*_ZH_AK4, "25:onMode = off", "25:onIfAny = 4"), "two c hadrons", _AK4_BOOSTED
        ),
    )
}

#: the ten JetClass labels, in JetClass order (particle_transformer's JetClass_full.yaml)
JETCLASS_LABELS = ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl")
AK8_CLASSES = tuple(CLASSES)


def class_spec(name: str, jet_type: str | None = None) -> ClassSpec:
    """The :class:`ClassSpec` of a class name (of ``jet_type`` if given), or a :class:`ConfigError`
    listing the valid names."""
    table = {**CLASSES, **AK4_CLASSES}
    if jet_type is not None:
        table = {k: v for k, v in table.items() if v.jet_type == jet_type}
    try:
        return table[name]
    except KeyError:
        raise ConfigError(
            f"unknown jet class {name!r}" + (f" for {jet_type} jets" if jet_type else ""),
            field="classes",
            expected="one of: " + ", ".join(table),
        ) from None


def parse_classes(classes: str | list[str] | tuple[str, ...], jet_type: str = "ak8") -> list[str]:
    """Class names from a list or a comma-separated string, validated, duplicates removed (order kept)."""
    names = (
        [c.strip() for c in classes.split(",")]
        if isinstance(classes, str)
        else [str(c).strip() for c in classes]
    )
    names = [n for n in names if n]
    if not names:
        raise ConfigError(
            "no jet class given", field="classes", expected="one or more of: " + ", ".join(CLASSES)
        )
    for n in names:
        class_spec(n, jet_type)
    return list(dict.fromkeys(names))
