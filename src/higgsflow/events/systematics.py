"""Shape systematics of the ttH(cc) fit: the same events after a shifted input, re-selected and re-scored.

Each nuisance parameter shifts the events *before* the object selection (:func:`vary`, applied by
:func:`higgsflow.events.chain.prepare_files` with ``variation=``), so that events migrate between channels, in and
out of the selection, and the high-level features, the pair features and the tokens of the event classifier are
computed from the shifted objects; the trained event classifier then scores the shifted events and
:func:`higgsflow.events.regions.build_fit` turns the (up, down) scores into shape systematics (pyhf ``histosys``,
normalisation included) of every sample in every region.

**Jet energy scale** (``jes``): every jet's four-momentum is scaled by 1 ± δ (p_T, energy and mass; η, φ kept),
δ = :data:`JES_UNCERTAINTY` = 2%, a CMS-like single nuisance for jets of 30-100 GeV (CMS's total JES uncertainty
is ~1-3% there, JME-13-004 / JME-21-001; its ~27 sources are not split here). The change is propagated to the
missing transverse momentum as CMS's type-1 correction does: p⃗_T^miss' = p⃗_T^miss − Σ_jets Δp⃗_T over every
jet of the event (the event file's jets, p_T > 20 GeV, before the selection). Jets may cross the p_T threshold
(25 GeV) and events the jet-count and H_T cuts: the selection is redone. The AK4 tagger's scores are not
re-evaluated (its inputs are the jet's constituents, which the scale factor does not touch; CMS keeps them too).

**Tagger-score shapes** (``tag_b``, ``tag_c``, ``tag_light``): CMS calibrates the shape of its tagger's
discriminants per jet flavour (b-tag "reshaping" scale factors with per-flavour uncertainties: ``hf`` for b jets,
``cferr`` for c jets, ``lf`` for light jets). Here each nuisance shifts the scores of the jets of one hadron
flavour (``jet_hadronFlavour`` 5, 4, or 0) in logit space: the jet's three-class vector (B, C, L) — B = BvsAll,
C = (1 − B)·CvsL, L = (1 − B)(1 − CvsL), which sums to one — gets δ added to the logit of its own flavour's class
and is renormalised (a softmax shift: the odds of its own class against each other class × e^{±δ}); BvsAll,
CvsL and CvsB are recomputed from it, QvsG (the split of L) is kept. "Up" makes the jets of that flavour look more
like their flavour. Sizes (:data:`TAGGER_SHIFTS`): δ = 0.1 for b jets, 0.2 for c jets, 0.2 for light jets; a
score p near a working point moves by ≈ δ·p(1 − p), and in a tail (p ≪ 1) it is scaled by ≈ e^{∓δ}, so a light
jet's mistag rate changes by ~20% and a c jet's tag rate by ~10-20%, the order of CMS's per-flavour uncertainties
(b: a few %, c: ~5-15%, light mistag: ~10-20%). A jet whose tagger did not run (a discriminant < 0, NanoAOD's
"not computed") is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.errors import ConfigError, SchemaError

__all__ = [
    "DIRECTIONS",
    "JES_UNCERTAINTY",
    "TAGGER_SHIFTS",
    "VARIATIONS",
    "parse_variation",
    "scored_variations",
    "shift_jes",
    "shift_tagger",
    "vary",
]

#: relative jet-energy-scale uncertainty (one nuisance for all jets)
JES_UNCERTAINTY = 0.02
#: nuisance name → (jet hadron flavour it acts on, logit shift δ)
TAGGER_SHIFTS: dict[str, tuple[int, float]] = {
    "tag_b": (5, 0.1),
    "tag_c": (4, 0.2),
    "tag_light": (0, 0.2),
}
#: every nuisance :func:`vary` knows, in the fit's order
VARIATIONS = ("jes", *TAGGER_SHIFTS)
DIRECTIONS = {"up": 1.0, "down": -1.0}
_DISC = ("jet_btagB", "jet_btagCvL", "jet_btagCvB")


def parse_variation(text: str | tuple[str, str], *, field: str = "variation") -> tuple[str, str]:
    """``"jes:up"`` (or ``("jes", "up")``) → ``("jes", "up")``; a :class:`ConfigError` naming ``field`` for an
    unknown nuisance or direction."""
    name, _, direction = text.partition(":") if isinstance(text, str) else (text[0], ":", text[1])
    name, direction = name.strip(), direction.strip().lower()
    if name not in VARIATIONS or direction not in DIRECTIONS:
        raise ConfigError(
            f"unknown variation {text if isinstance(text, str) else ':'.join(text)!r}",
            field=field,
            expected=f"NAME:up or NAME:down with NAME one of {', '.join(VARIATIONS)}",
        )
    return name, direction


def _require(events: ak.Array, names: tuple[str, ...], what: str) -> None:
    missing = [n for n in names if n not in events.fields]
    if missing:
        raise SchemaError(f"column missing for {what}", field=", ".join(missing))


def shift_jes(events: ak.Array, shift: float) -> ak.Array:
    """``events`` (before the selection) with every jet's p_T and mass (hence energy) × (1 + ``shift``) and the
    missing p_T recomputed: p⃗_T^miss − Σ_jets ``shift``·p⃗_T,jet (module docstring)."""
    _require(events, ("jet_pt", "jet_phi", "jet_mass", "met_pt", "met_phi"), "the jet energy scale")
    if not -1.0 < shift < 1.0:
        raise ConfigError(f"jet energy scale shift {shift:g} outside (-1, 1)", field="jes")
    scale = 1.0 + float(shift)
    pt = events["jet_pt"]
    dpx = ak.to_numpy(ak.sum(shift * pt * np.cos(events["jet_phi"]), axis=1)).astype(np.float64)
    dpy = ak.to_numpy(ak.sum(shift * pt * np.sin(events["jet_phi"]), axis=1)).astype(np.float64)
    met = np.asarray(events["met_pt"], dtype=np.float64)
    phi = np.asarray(events["met_phi"], dtype=np.float64)
    mx, my = met * np.cos(phi) - dpx, met * np.sin(phi) - dpy
    out = ak.with_field(events, ak.values_astype(pt * scale, np.float32), "jet_pt")
    out = ak.with_field(out, ak.values_astype(events["jet_mass"] * scale, np.float32), "jet_mass")
    out = ak.with_field(out, np.hypot(mx, my).astype(np.float32), "met_pt")
    return ak.with_field(out, np.arctan2(my, mx).astype(np.float32), "met_phi")


def shift_tagger(events: ak.Array, flavour: int, shift: float) -> ak.Array:
    """``events`` with the tagger discriminants of the jets of hadron flavour ``flavour`` (5 b, 4 c, 0 light)
    shifted by ``shift`` in the logit of their own class (module docstring); other jets unchanged."""
    _require(events, (*_DISC, "jet_hadronFlavour"), "the tagger-score variation")
    if flavour not in (0, 4, 5):
        raise ConfigError(f"unknown jet flavour {flavour!r}", field="flavour", expected="5 (b), 4 (c) or 0")
    counts = ak.to_numpy(ak.num(events["jet_btagB"]))
    bva, cvl, cvb = (ak.to_numpy(ak.flatten(events[c])).astype(np.float64) for c in _DISC)
    hf = ak.to_numpy(ak.flatten(events["jet_hadronFlavour"])).astype(np.int64)
    is_flav = hf == flavour if flavour else (hf != 4) & (hf != 5)
    ok = is_flav & (bva >= 0) & (cvl >= 0) & (cvb >= 0)
    b = np.clip(bva, 0.0, 1.0)
    c = (1.0 - b) * np.clip(cvl, 0.0, 1.0)
    light = np.clip(1.0 - b - c, 0.0, 1.0)
    vec = np.stack([b, c, light], axis=1)
    k = {5: 0, 4: 1, 0: 2}[flavour]
    vec[:, k] *= np.exp(float(shift))
    vec /= vec.sum(axis=1, keepdims=True)
    b2, c2, l2 = vec[:, 0], vec[:, 1], vec[:, 2]
    with np.errstate(invalid="ignore", divide="ignore"):
        cvl2 = np.where(c2 + l2 > 0, c2 / (c2 + l2), -1.0)
        cvb2 = np.where(c2 + b2 > 0, c2 / (c2 + b2), -1.0)
    out = events
    for name, old, new in (("jet_btagB", bva, b2), ("jet_btagCvL", cvl, cvl2), ("jet_btagCvB", cvb, cvb2)):
        values = np.where(ok, new, old).astype(np.float32)
        out = ak.with_field(out, ak.unflatten(values, counts), name)
    return out


def vary(
    events: ak.Array,
    name: str,
    direction: str,
    *,
    sizes: Mapping[str, float] | None = None,
) -> ak.Array:
    """``events`` (with their tagger discriminants, before the selection) after the variation ``name``
    (:data:`VARIATIONS`) in ``direction`` (up or down); ``sizes`` overrides δ per nuisance (``jes``: the relative
    scale, ``tag_*``: the logit shift)."""
    name, direction = parse_variation((name, direction))
    sign = DIRECTIONS[direction]
    size: Any = (sizes or {}).get(name)
    if name == "jes":
        return shift_jes(events, sign * (JES_UNCERTAINTY if size is None else float(size)))
    flavour, default = TAGGER_SHIFTS[name]
    return shift_tagger(events, flavour, sign * (default if size is None else float(size)))


def scored_variations(
    events: Sequence[str | os.PathLike[str]],
    run: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    *,
    scores: Sequence[str | os.PathLike[str] | None] | None = None,
    split: Mapping[str, float] | str | None = None,
    part: str | None = None,
    seed: int = 1,
    names: Sequence[str] = VARIATIONS,
    sizes: Mapping[str, float] | None = None,
    selection: Any = None,
    channels: Sequence[int] = (0, 1, 2),
    overwrite: bool = False,
) -> dict[str, tuple[dict[str, np.ndarray], dict[str, np.ndarray]]]:
    """The (up, down) columns of every nuisance of ``names`` for :func:`higgsflow.events.regions.build_fit`: the
    event files ``events`` (with their scored jets files ``scores``) prepared again with each variation
    (:func:`higgsflow.events.chain.prepare_files`; with ``split`` and ``seed`` as for the nominal events, only
    the part ``part``, e.g. the test events) into ``folder/<name>_<up|down>.parquet``, scored by the trained
    event classifier ``run`` (``higgsflow predict``, into ``folder/scored``) and read back
    (:func:`higgsflow.events.regions.read_scored_events`)."""
    from higgsflow.events.chain import prepare_files
    from higgsflow.events.regions import read_scored_events
    from higgsflow.train.inference import predict_files

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    jobs = [(parse_variation((n, d))) for n in names for d in DIRECTIONS]
    prepared = []
    for name, direction in jobs:
        written = prepare_files(
            events,
            folder / f"{name}_{direction}.parquet",
            scores=scores,
            split=split,
            selection=selection,
            channels=channels,
            seed=seed,
            variation=(name, direction),
            variation_sizes=sizes,
            parts=None if part is None else [part],
            overwrite=overwrite,
        )
        prepared.append(next(iter(written.values()))[0])
    scored_dir = folder / "scored"
    if overwrite:
        for p in prepared:
            (scored_dir / p.name).unlink(missing_ok=True)
    scored = predict_files(run, prepared, scored_dir)
    cols = {job: read_scored_events(path) for job, path in zip(jobs, scored, strict=True)}
    return {n: (cols[(n, "up")], cols[(n, "down")]) for n in names}
