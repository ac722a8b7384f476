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
"""

from __future__ import annotations

from dataclasses import dataclass, field

from higgsflow.errors import ConfigError

__all__ = [
    "AK4_CLASSES",
    "AK8_CLASSES",
    "CLASSES",
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
