"""Emulation of CMS multijet HLT paths with b tagging (the HH → 4b triggers), vectorised over awkward events.

A path is data (:class:`TriggerPath`, YAML-configurable, :func:`load_paths`): ordered AK4-jet pT thresholds
(``jet_pt: [70, 50, 40, 35]`` = leading jet > 70 GeV, second > 50 GeV, ...), a jet |η| cut, an optional HT cut
(scalar sum of the jet pT above ``ht_jet_pt`` within ``ht_eta_max``) and an optional b-tag requirement on a
per-jet score: ``aggregate: mean`` (the mean of the ``n`` highest scores exceeds ``threshold``, ParticleNet's
"PNet2BTagMean") or ``aggregate: count`` (at least ``n`` jets with score above ``threshold``). Jets considered
for the b tag pass ``btag.pt_min`` (default: the lowest ``jet_pt`` threshold) and the path's |η| cut.

Built-in paths (:data:`TALK_PATHS`, CMS DP-2023/021):

- ``HH2022``: 4 jets pT > 70, 50, 40, 35 GeV, mean of the two highest ParticleNet b scores > 0.65;
- ``HH2023``: HT > 280 GeV, 4 jets pT > 30 GeV, mean of the two highest > 0.55;
- ``legacy``: no ParticleNet; HT > 330 GeV, 4 jets 75/60/45/40 GeV and three b tags from DeepJet-like scores at
  0.3086 (the Run 3 2022 medium working point of DeepJet, 1% light-jet mistag).

All jets within |η| < 2.5. :data:`NANOAOD_PATHS` emulates the HH paths stored in Run 3 NanoAOD (``HLT_PFHT280_
QuadPFJet30_PNet2BTagMean0p55`` ...) from the *offline* AK4 jets (``Jet``: PUPPI, JEC-corrected, tight jet ID)
and the *offline* ParticleNet score ``Jet_btagPNetB``; :func:`agreement` compares with the stored decision bits.
The online paths use HLT PF jets (no PUPPI, online calibration, |η| < 2.5) and the HLT ParticleNet model on
online inputs, so near-threshold events can fall either way; L1 seeds are not emulated.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.errors import ConfigError, SchemaError

__all__ = [
    "AGGREGATES",
    "DEEPJET_MEDIUM_2022",
    "NANOAOD_PATHS",
    "OBJECTS",
    "TALK_PATHS",
    "BTagRequirement",
    "HLTReport",
    "TriggerPath",
    "agreement",
    "btag_value",
    "default_paths",
    "efficiency",
    "emulate",
    "emulate_nanoaod",
    "jet_id_tight",
    "kinematics",
    "load_paths",
    "rate_hz",
    "read_nanoaod_jets",
    "threshold_for_rate",
]

#: trigger objects a path can cut on
OBJECTS = ("jet",)
#: how the per-jet b scores of an event are combined
AGGREGATES = ("mean", "count")
#: DeepJet medium working point of 2022 (BTV, 1% light-jet mistag), the legacy path's b tag
DEEPJET_MEDIUM_2022 = 0.3086


@dataclass(frozen=True)
class BTagRequirement:
    """``score``: per-jet field (NanoAOD: ``Jet_<score>``); ``aggregate``: ``mean`` (of the ``n`` highest scores)
    or ``count`` (≥ ``n`` jets above); ``threshold``; ``pt_min``: jets considered (None: the path's lowest
    ``jet_pt``)."""

    score: str
    aggregate: str
    threshold: float
    n: int = 2
    pt_min: float | None = None


@dataclass(frozen=True)
class TriggerPath:
    """An HLT path on AK4 jets (thresholds in GeV); ``hlt_bit``: the NanoAOD decision branch it emulates."""

    name: str
    jet_pt: tuple[float, ...]
    eta_max: float = 2.5
    ht: float | None = None
    ht_jet_pt: float = 30.0
    ht_eta_max: float = 2.5
    btag: BTagRequirement | None = None
    object: str = "jet"
    hlt_bit: str | None = None
    description: str = ""

    def with_threshold(self, threshold: float) -> TriggerPath:
        """The same path with another b-tag threshold."""
        if self.btag is None:
            raise ConfigError(f"path {self.name!r} has no b tag", field=f"{self.name}.btag")
        return replace(self, btag=replace(self.btag, threshold=float(threshold)))

    @property
    def score_fields(self) -> tuple[str, ...]:
        return () if self.btag is None else (self.btag.score,)


_TALK_YAML = f"""
paths:
  HH2022:
    description: "2022 HH: 4 jets pT > 70, 50, 40, 35 GeV; PNet mean of 2 highest b scores > 0.65"
    jet_pt: [70, 50, 40, 35]
    btag: {{score: btagPNetB, aggregate: mean, n: 2, threshold: 0.65}}
  HH2023:
    description: "2023 HH: HT > 280 GeV, 4 jets pT > 30 GeV; PNet mean of 2 highest b scores > 0.55"
    ht: 280
    jet_pt: [30, 30, 30, 30]
    btag: {{score: btagPNetB, aggregate: mean, n: 2, threshold: 0.55}}
  legacy:
    description: "legacy: HT > 330 GeV, 4 jets pT > 75, 60, 45, 40 GeV; 3 DeepJet b tags > {DEEPJET_MEDIUM_2022}"
    ht: 330
    jet_pt: [75, 60, 45, 40]
    btag: {{score: btagDeepFlavB, aggregate: count, n: 3, threshold: {DEEPJET_MEDIUM_2022}, pt_min: 30}}
"""

_NANOAOD_YAML = """
paths:
  HLT_PFHT280_QuadPFJet30:
    ht: 280
    jet_pt: [30, 30, 30, 30]
  HLT_PFHT280_QuadPFJet30_PNet2BTagMean0p55:
    ht: 280
    jet_pt: [30, 30, 30, 30]
    btag: {score: btagPNetB, aggregate: mean, n: 2, threshold: 0.55}
  HLT_PFHT280_QuadPFJet30_PNet2BTagMean0p60:
    ht: 280
    jet_pt: [30, 30, 30, 30]
    btag: {score: btagPNetB, aggregate: mean, n: 2, threshold: 0.60}
  HLT_PFHT280_QuadPFJet35_PNet2BTagMean0p60:
    ht: 280
    jet_pt: [35, 35, 35, 35]
    btag: {score: btagPNetB, aggregate: mean, n: 2, threshold: 0.60}
  HLT_PFHT250_QuadPFJet25_PNet2BTagMean0p55:
    ht: 250
    jet_pt: [25, 25, 25, 25]
    btag: {score: btagPNetB, aggregate: mean, n: 2, threshold: 0.55}
  HLT_PFHT250_QuadPFJet30_PNet2BTagMean0p55:
    ht: 250
    jet_pt: [30, 30, 30, 30]
    btag: {score: btagPNetB, aggregate: mean, n: 2, threshold: 0.55}
  HLT_PFHT340_QuadPFJet70_50_40_40_PNet2BTagMean0p70:
    ht: 340
    jet_pt: [70, 50, 40, 40]
    btag: {score: btagPNetB, aggregate: mean, n: 2, threshold: 0.70}
  HLT_PFHT330PT30_QuadPFJet_75_60_45_40:
    ht: 330
    jet_pt: [75, 60, 45, 40]
  HLT_PFHT400_SixPFJet32_PNet2BTagMean0p50:
    ht: 400
    jet_pt: [32, 32, 32, 32, 32, 32]
    btag: {score: btagPNetB, aggregate: mean, n: 2, threshold: 0.50}
"""

_PATH_KEYS = {f.name for f in TriggerPath.__dataclass_fields__.values()} - {"name"}
_BTAG_KEYS = set(BTagRequirement.__dataclass_fields__)


def _number(value: Any, where: str, file: Any, *, integer: bool = False, positive: bool = False) -> float:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and integer:
        ok = float(value).is_integer()
    if not ok:
        raise ConfigError(
            f"not a {'whole ' if integer else ''}number: {value!r}",
            file=file,
            field=where,
            expected="a number",
        )
    if value < 0 or (positive and value == 0):
        raise ConfigError(
            f"negative threshold {value}" if value < 0 else f"{value} is not positive",
            file=file,
            field=where,
            expected="a positive number" if positive else "a number ≥ 0",
        )
    return int(value) if integer else float(value)


def _parse_path(name: str, raw: Any, file: Any) -> TriggerPath:
    if not isinstance(raw, Mapping):
        raise ConfigError(
            "a path must be a mapping", file=file, field=f"paths.{name}", expected="jet_pt, ht, btag"
        )
    unknown = sorted(set(raw) - _PATH_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r}",
            file=file,
            field=f"paths.{name}.{unknown[0]}",
            expected="one of: " + ", ".join(sorted(_PATH_KEYS)),
        )
    obj = raw.get("object", "jet")
    if obj not in OBJECTS:
        raise ConfigError(
            f"unknown trigger object {obj!r}",
            file=file,
            field=f"paths.{name}.object",
            expected="one of: " + ", ".join(OBJECTS),
        )
    jet_pt = raw.get("jet_pt")
    if not isinstance(jet_pt, Sequence) or isinstance(jet_pt, str) or not jet_pt:
        raise ConfigError(
            "missing or empty jet_pt",
            file=file,
            field=f"paths.{name}.jet_pt",
            expected="a list of pT thresholds",
        )
    pts = tuple(_number(v, f"paths.{name}.jet_pt[{i}]", file) for i, v in enumerate(jet_pt))
    kw: dict[str, Any] = {"name": name, "jet_pt": pts, "object": obj}
    for key in ("eta_max", "ht_eta_max"):
        if key in raw:
            kw[key] = _number(raw[key], f"paths.{name}.{key}", file, positive=True)
    for key in ("ht", "ht_jet_pt"):
        if raw.get(key) is not None:
            kw[key] = _number(raw[key], f"paths.{name}.{key}", file)
    for key in ("hlt_bit", "description"):
        if raw.get(key) is not None:
            kw[key] = str(raw[key])
    if raw.get("btag") is not None:
        b = raw["btag"]
        where = f"paths.{name}.btag"
        if not isinstance(b, Mapping):
            raise ConfigError(
                "btag must be a mapping", file=file, field=where, expected="score, aggregate, threshold"
            )
        unknown = sorted(set(b) - _BTAG_KEYS)
        if unknown:
            raise ConfigError(
                f"unknown key {unknown[0]!r}",
                file=file,
                field=f"{where}.{unknown[0]}",
                expected="one of: " + ", ".join(sorted(_BTAG_KEYS)),
            )
        for key in ("score", "aggregate", "threshold"):
            if key not in b:
                raise ConfigError(f"missing {key}", file=file, field=f"{where}.{key}")
        if not isinstance(b["score"], str) or not b["score"]:
            raise ConfigError(
                "not a branch name", file=file, field=f"{where}.score", expected="e.g. btagPNetB"
            )
        if b["aggregate"] not in AGGREGATES:
            raise ConfigError(
                f"unknown aggregate {b['aggregate']!r}",
                file=file,
                field=f"{where}.aggregate",
                expected="one of: " + ", ".join(AGGREGATES),
            )
        n = _number(b.get("n", 2), f"{where}.n", file, integer=True, positive=True)
        if n > len(pts) and b["aggregate"] == "mean":
            raise ConfigError(
                f"mean of {n} scores but only {len(pts)} jets required", file=file, field=f"{where}.n"
            )
        kw["btag"] = BTagRequirement(
            score=b["score"],
            aggregate=b["aggregate"],
            threshold=_number(b["threshold"], f"{where}.threshold", file),
            n=int(n),
            pt_min=None if b.get("pt_min") is None else _number(b["pt_min"], f"{where}.pt_min", file),
        )
    return TriggerPath(**kw)


def load_paths(source: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> dict[str, TriggerPath]:
    """Trigger paths from a YAML file (or a mapping) ``{paths: {NAME: {jet_pt: [...], ht:, eta_max:, btag: {score:,
    aggregate:, n:, threshold:, pt_min:}, hlt_bit:}}}``; None → :data:`TALK_PATHS`. A path named ``HLT_*``
    without ``hlt_bit`` is compared with the NanoAOD branch of its own name."""
    import yaml

    file = None
    if source is None:
        raw: Any = yaml.safe_load(_TALK_YAML)
    elif isinstance(source, Mapping):
        raw = source
    else:
        file = Path(source)
        if not file.is_file():
            raise ConfigError("trigger configuration not found", file=file)
        try:
            raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"not YAML: {' '.join(str(exc).split())[:200]}", file=file) from None
    if not isinstance(raw, Mapping) or not isinstance(raw.get("paths"), Mapping) or not raw["paths"]:
        raise ConfigError(
            "no trigger paths", file=file, field="paths", expected="a mapping NAME: {jet_pt: ...}"
        )
    out = {}
    for name, spec in raw["paths"].items():
        path = _parse_path(str(name), spec, file)
        if path.hlt_bit is None and str(name).startswith("HLT_"):
            path = replace(path, hlt_bit=str(name))
        out[str(name)] = path
    return out


def _builtin(text: str) -> dict[str, TriggerPath]:
    import yaml

    return load_paths(yaml.safe_load(text))


TALK_PATHS: dict[str, TriggerPath] = _builtin(_TALK_YAML)
NANOAOD_PATHS: dict[str, TriggerPath] = _builtin(_NANOAOD_YAML)


# --------------------------------------------------------------------------------------------------- emulation
def _check_jets(jets: ak.Array, fields: Sequence[str]) -> None:
    have = set(ak.fields(jets))
    for f in fields:
        if f not in have:
            raise SchemaError(
                "jet field missing",
                field=f,
                expected="jagged jet fields: " + ", ".join(sorted(have)) or "none",
            )


def _selected(jets: ak.Array, pt_min: float, eta_max: float) -> ak.Array:
    mask = (jets.pt > pt_min) & (abs(jets.eta) < eta_max)
    if "id" in ak.fields(jets):
        mask = mask & jets.id
    return jets[mask]


def btag_value(jets: ak.Array, path: TriggerPath) -> np.ndarray:
    """Per event: the mean of the ``n`` highest scores (``mean``; -inf with fewer than ``n`` jets) or the ``n``-th
    highest score (``count``: the event has ≥ n tags iff it exceeds the threshold), over the jets the b tag
    considers. An event passes the b tag iff this value is above ``btag.threshold``."""
    b = path.btag
    if b is None:
        raise ConfigError(f"path {path.name!r} has no b tag", field=f"{path.name}.btag")
    _check_jets(jets, ("pt", "eta", b.score))
    pt_min = min(path.jet_pt) if b.pt_min is None else b.pt_min
    sel = _selected(jets, pt_min, path.eta_max)
    scores = ak.sort(sel[b.score], axis=1, ascending=False)
    top = ak.fill_none(ak.pad_none(scores, b.n, axis=1, clip=True), -np.inf)
    top = np.asarray(ak.to_numpy(top), dtype=np.float64).reshape(len(jets), b.n)
    if b.aggregate == "mean":
        return top.mean(axis=1)
    return top[:, b.n - 1]


def kinematics(jets: ak.Array, path: TriggerPath) -> np.ndarray:
    """Per event: the HT and ordered jet-pT requirements of ``path`` (no b tag)."""
    if path.object not in OBJECTS:
        raise ConfigError(f"unknown trigger object {path.object!r}", field=f"{path.name}.object")
    _check_jets(jets, ("pt", "eta"))
    n = len(path.jet_pt)
    sel = _selected(jets, min(path.jet_pt), path.eta_max)
    pts = ak.fill_none(ak.pad_none(ak.sort(sel.pt, axis=1, ascending=False), n, axis=1, clip=True), -np.inf)
    pts = np.asarray(ak.to_numpy(pts), dtype=np.float64).reshape(len(jets), n)
    ok = np.all(pts > np.asarray(path.jet_pt, dtype=np.float64), axis=1)
    if path.ht is not None:
        ht_jets = _selected(jets, path.ht_jet_pt, path.ht_eta_max)
        ok &= np.asarray(ak.to_numpy(ak.sum(ht_jets.pt, axis=1)), dtype=np.float64) > path.ht
    return ok


def emulate(jets: ak.Array, path: TriggerPath) -> np.ndarray:
    """The decision of ``path`` per event. ``jets``: jagged records with ``pt`` (GeV), ``eta``, the b-score field
    and optionally a boolean ``id`` (jets failing it are ignored)."""
    ok = kinematics(jets, path)
    if path.btag is not None:
        ok &= btag_value(jets, path) > path.btag.threshold
    return ok


# ----------------------------------------------------------------------------------------- rates, efficiencies
def efficiency(passed: np.ndarray, weights: np.ndarray | None = None) -> dict[str, float]:
    """Fraction of events passing, with the Clopper–Pearson 68% interval (unweighted counts) or the binomial
    error of the weighted fraction."""
    from higgsflow.evaluate.metrics import clopper_pearson

    passed = np.asarray(passed, dtype=bool)
    n = int(passed.size)
    if n == 0:
        return {"efficiency": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    if weights is None:
        k = int(passed.sum())
        lo, hi = clopper_pearson(k, n, 0.683)
        return {"efficiency": k / n, "low": lo, "high": hi, "n": n}
    w = np.asarray(weights, dtype=np.float64)
    eff = float(w[passed].sum() / w.sum())
    n_eff = float(w.sum() ** 2 / (w**2).sum())
    err = math.sqrt(max(eff * (1 - eff), 0.0) / n_eff)
    return {"efficiency": eff, "low": max(eff - err, 0.0), "high": min(eff + err, 1.0), "n": n}


def rate_hz(efficiency: float, cross_section_pb: float, inst_lumi_cm2s: float = 2.0e34) -> float:
    """Trigger rate R = ε · σ · L in Hz (σ in pb, 1 pb = 1e-36 cm²; L in cm⁻² s⁻¹, Run 3 levelling ≈ 2e34)."""
    return float(efficiency) * float(cross_section_pb) * 1e-36 * float(inst_lumi_cm2s)


def threshold_for_rate(
    jets: ak.Array,
    path: TriggerPath,
    target_rate_hz: float,
    cross_section_pb: float,
    inst_lumi_cm2s: float = 2.0e34,
    weights: np.ndarray | None = None,
) -> float:
    """The lowest b-tag threshold of ``path`` whose rate on ``jets`` (events of one process of cross section
    ``cross_section_pb``, e.g. QCD multijets) is at most ``target_rate_hz``, i.e. whose passing fraction is at
    most ε = R / (σ L) (:func:`rate_hz`). Events pass iff their :func:`btag_value` is above the threshold."""
    target = float(target_rate_hz) / (float(cross_section_pb) * 1e-36 * float(inst_lumi_cm2s))
    w = np.ones(len(jets)) if weights is None else np.asarray(weights, dtype=np.float64)
    value = np.where(kinematics(jets, path), btag_value(jets, path), -np.inf)
    finite = np.isfinite(value)
    if not finite.any():
        return float("-inf")
    order = np.argsort(value[finite], kind="stable")
    s, cw = value[finite][order], np.cumsum(w[finite][order])
    total = float(w.sum())
    if cw[-1] / total <= target:  # every event that passes the kinematics may pass
        return float(np.nextafter(s[0], -np.inf))
    u = np.unique(s)
    above = (cw[-1] - cw[np.searchsorted(s, u, side="right") - 1]) / total
    return float(u[np.flatnonzero(above <= target + 1e-12)[0]])


# ------------------------------------------------------------------------------------------------- NanoAOD
_ID_BRANCHES = (
    "Jet_chHEF",
    "Jet_neHEF",
    "Jet_chEmEF",
    "Jet_neEmEF",
    "Jet_muEF",
    "Jet_chMultiplicity",
    "Jet_neMultiplicity",
)


def jet_id_tight(j: Mapping[str, ak.Array]) -> ak.Array:
    """Run 3 tight-lepton-veto AK4 PUPPI jet ID from the energy fractions (NanoAOD v15 dropped ``Jet_jetId``):
    |η| ≤ 2.6: chHEF > 0.01, neHEF < 0.99, neEmEF < 0.9, ≥ 2 constituents, ≥ 1 charged, muEF < 0.8,
    chEmEF < 0.8; 2.6–2.7: neHEF < 0.9, neEmEF < 0.99; 2.7–3.0: neHEF < 0.99; > 3.0: neEmEF < 0.4, ≥ 2 neutral."""
    aeta = abs(j["Jet_eta"])
    n_const = j["Jet_chMultiplicity"] + j["Jet_neMultiplicity"]
    central = (
        (j["Jet_chHEF"] > 0.01)
        & (j["Jet_neHEF"] < 0.99)
        & (j["Jet_neEmEF"] < 0.9)
        & (n_const > 1)
        & (j["Jet_chMultiplicity"] > 0)
        & (j["Jet_muEF"] < 0.8)
        & (j["Jet_chEmEF"] < 0.8)
    )
    r2 = (j["Jet_neHEF"] < 0.9) & (j["Jet_neEmEF"] < 0.99)
    r3 = j["Jet_neHEF"] < 0.99
    r4 = (j["Jet_neEmEF"] < 0.4) & (j["Jet_neMultiplicity"] >= 2)
    return ak.where(aeta <= 2.6, central, ak.where(aeta <= 2.7, r2, ak.where(aeta <= 3.0, r3, r4)))


def read_nanoaod_jets(
    path: str | os.PathLike[str],
    paths: Mapping[str, TriggerPath],
    *,
    tree: str = "Events",
    jet_id: bool = True,
) -> tuple[ak.Array, dict[str, np.ndarray]]:
    """The offline AK4 jets (``Jet_pt``, ``Jet_eta``, the score branches the paths use, the tight ID) and the
    stored decision bits of the paths' ``hlt_bit`` that the file has. A missing score branch → SchemaError."""
    from higgsflow.data.io import list_columns, read_table

    columns = set(list_columns(path, tree=tree))
    scores = sorted({p.btag.score for p in paths.values() if p.btag is not None})
    want = ["Jet_pt", "Jet_eta", *(f"Jet_{s}" for s in scores)]
    for b in want:
        if b not in columns:
            raise SchemaError("branch missing", file=path, field=b, expected="a jagged AK4 jet branch")
    use_id = jet_id and all(b in columns for b in _ID_BRANCHES)
    use_old_id = jet_id and not use_id and "Jet_jetId" in columns
    extra = list(_ID_BRANCHES) if use_id else (["Jet_jetId"] if use_old_id else [])
    bits = sorted({p.hlt_bit for p in paths.values() if p.hlt_bit and p.hlt_bit in columns})
    table = read_table(path, [*want, *extra, *bits], tree=tree)
    fields = {"pt": table["Jet_pt"], "eta": table["Jet_eta"], **{s: table[f"Jet_{s}"] for s in scores}}
    if use_id:
        fields["id"] = jet_id_tight({k: table[k] for k in ("Jet_eta", *_ID_BRANCHES)})
    elif use_old_id:
        fields["id"] = (table["Jet_jetId"] & 2) > 0
    jets = ak.zip(fields)
    return jets, {b: np.asarray(ak.to_numpy(table[b]), dtype=bool) for b in bits}


def agreement(emulated: np.ndarray, hlt: np.ndarray) -> dict[str, float]:
    """Confusion table of an emulated decision against the stored HLT bit."""
    e, h = np.asarray(emulated, dtype=bool), np.asarray(hlt, dtype=bool)
    n = int(e.size)
    table = {
        "both": int((e & h).sum()),
        "only_emulation": int((e & ~h).sum()),
        "only_hlt": int((~e & h).sum()),
        "neither": int((~e & ~h).sum()),
        "n": n,
    }
    table["agreement"] = (table["both"] + table["neither"]) / n if n else float("nan")
    return table


@dataclass
class HLTReport:
    """Per path: the emulated efficiency and, where the file has the bit, the confusion table."""

    file: str
    n_events: int
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)

    def format(self) -> str:
        head = f"{'path':52s} {'emul.':>6s} {'HLT':>6s} {'both':>5s} {'emul.only':>9s} {'HLT only':>8s}"
        lines = [f"{self.file}: {self.n_events} events", head + f" {'neither':>7s} {'agree':>6s}"]
        for name, r in self.rows.items():
            a = r.get("agreement")
            hlt = f"{r['hlt_efficiency']:6.3f}" if a else f"{'-':>6s}"
            cells = (
                f"{a['both']:5d} {a['only_emulation']:9d} {a['only_hlt']:8d} {a['neither']:7d} {a['agreement']:6.3f}"
                if a
                else f"{'(no stored bit)':>39s}"
            )
            lines.append(f"{name[:52]:52s} {r['efficiency']['efficiency']:6.3f} {hlt} {cells}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "n_events": self.n_events, "paths": self.rows}


def emulate_nanoaod(
    path: str | os.PathLike[str],
    paths: Mapping[str, TriggerPath] | None = None,
    *,
    tree: str = "Events",
    jet_id: bool = True,
) -> HLTReport:
    """Emulate ``paths`` (default :data:`NANOAOD_PATHS`) on a NanoAOD (or any file with jagged ``Jet_pt``,
    ``Jet_eta`` and ``Jet_<score>`` branches) and compare with the stored bits where present."""
    paths = NANOAOD_PATHS if paths is None else paths
    jets, bits = read_nanoaod_jets(path, paths, tree=tree, jet_id=jet_id)
    report = HLTReport(file=os.fspath(path), n_events=len(jets))
    for name, p in paths.items():
        dec = emulate(jets, p)
        row: dict[str, Any] = {"efficiency": efficiency(dec), "hlt_bit": p.hlt_bit}
        if p.hlt_bit in bits:
            row["hlt_efficiency"] = float(bits[p.hlt_bit].mean()) if len(jets) else float("nan")
            row["agreement"] = agreement(dec, bits[p.hlt_bit])
        report.rows[name] = row
    return report


def default_paths(path: str | os.PathLike[str], *, tree: str = "Events") -> dict[str, TriggerPath]:
    """The paths to emulate on a file when none are configured: :data:`TALK_PATHS` whose score branch the file
    has, and the :data:`NANOAOD_PATHS` whose HLT bit it stores."""
    from higgsflow.data.io import list_columns

    columns = set(list_columns(path, tree=tree))
    out = {n: p for n, p in TALK_PATHS.items() if all(f"Jet_{s}" in columns for s in p.score_fields)}
    out |= {n: p for n, p in NANOAOD_PATHS.items() if p.hlt_bit in columns}
    return out
