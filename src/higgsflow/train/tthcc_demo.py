"""The ttH(H→cc̄) chain at small scale (``higgsflow demo --task tthcc``): particles → AK4 tagger → event
classifier → regions → fit → κ_c, the chain of docs/tthcc.md in one call.

1. **AK4 tagger**: the flavour demo (:func:`higgsflow.train.flavour_demo.run_flavour_demo`) generates AK4 jets of
   the eight flavour classes and trains a small UParT-AK4 on them;
2. **events**: ``generate events`` for ttH(cc), ttH(bb), ttZ(cc), ttZ(bb), inclusive tt̄ and tt̄ enriched in
   extra b and in extra c hadrons (``tt_enrich``; the rare tt+b/≥2b/c/≥2c categories), normalised to
   σ(tt̄H) = 0.5071 pb (NLO, YR4) and σ(tt̄) = 832 pb (NNLO+NNLL); ttZ at the generator's 0.86 pb. No QCD
   multijet sample: at this size a handful of QCD events with large weights would decide the 0L channel;
3. **jets scored** by the tagger (``higgsflow predict`` on each ``*_jets`` file);
4. **prepared** (:func:`higgsflow.events.chain.prepare_files`, ``higgsflow events prepare``): discriminants,
   selection, channels, features; split 50/20/30 into training, validation and test events (weights rescaled);
5. **event ParT** and the **DNN baseline** trained (the shipped ``tthcc_event_part`` and ``tthcc_dnn`` configs,
   small networks), applied to the test events; per-class AUCs;
6. **fit**: the 27 regions of the test events (regions without tt̄+jets background at this size are left out),
   the pyhf workspace at 138 fb⁻¹, the expected 95% CL limit on μ_ttH(cc) and on σ(ttH)B(H→cc̄) = μ limit ×
   σ_ttH × B(H→cc̄), the ttH(bb) expected significance and the κ_c interval at κ_b = 1, on Asimov data.

``benchmarks/tthcc.py`` runs the same functions with the full sample sizes. At demo size the numbers are not
comparable with CMS's: the printout says so.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CMS",
    "DEMO_EVENT_DNN",
    "DEMO_EVENT_PART",
    "DEMO_SIZES",
    "SAMPLES",
    "TthccDemoResult",
    "asimov_checks",
    "classifier_aucs",
    "dttx_cuts",
    "fit_summary",
    "generate_samples",
    "print_tthcc_summary",
    "run_tthcc_demo",
    "tthcc_summary_lines",
    "variation_yields",
]

log = logging.getLogger(__name__)

#: the event samples: name → (process, tt_enrich)
SAMPLES: dict[str, tuple[str, str | None]] = {
    "ttHcc": ("ttHcc", None),
    "ttHbb": ("ttHbb", None),
    "ttZcc": ("ttZcc", None),
    "ttZbb": ("ttZbb", None),
    "tt": ("tt", None),
    "tt_enrich_b": ("tt", "b"),
    "tt_enrich_c": ("tt", "c"),
}
#: events generated per sample in the demo (generation runs ~10 events/s per core, enriched tt̄ ~1/s)
DEMO_SIZES: dict[str, int] = {
    "ttHcc": 300,
    "ttHbb": 250,
    "ttZcc": 200,
    "ttZbb": 200,
    "tt": 700,
    "tt_enrich_b": 40,
    "tt_enrich_c": 60,
}
#: the demo's event ParT (the shipped default is 128-wide with 4 + 2 blocks)
DEMO_EVENT_PART = {
    "embed_dims": [32, 32],
    "pair_embed_dims": [16, 16],
    "num_heads": 4,
    "num_layers": 2,
    "num_cls_layers": 1,
}
DEMO_EVENT_DNN: dict[str, Any] = {}
#: CMS-PAS-HIG-24-018 at 138 fb⁻¹ (the talk's numbers)
CMS = {
    "sigma_br_limit_expected_pb": 0.13,
    "sigma_br_limit_observed_pb": 0.11,
    "kappa_c_limit": 3.5,
}
CLASSES = ("ttHcc", "ttHbb", "ttZcc", "ttZbb", "ttlf", "ttb", "tt2b", "ttc", "tt2c")
TTJETS = ("ttlf", "ttb", "tt2b", "ttc", "tt2c")
SPLIT = {"train": 0.5, "val": 0.2, "test": 0.3}
#: the signal strengths' range in the fit: wide, as a demo-size sample's limits can lie far above 1
POI_BOUNDS = (-20.0, 1000.0)


@dataclass
class TthccDemoResult:
    out: Path
    #: ``tthcc.json``: sizes, tagger, classifier AUCs, fit results, CMS's numbers, timings
    summary: dict[str, Any]
    summary_path: Path
    workspace: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------ generation
def _cross_section(process: str) -> float | None:
    from higgsflow.physics.constants import XSEC_TT_13TEV_PB, XSEC_TTH_13TEV_PB

    return {"ttHcc": XSEC_TTH_13TEV_PB, "ttHbb": XSEC_TTH_13TEV_PB, "tt": XSEC_TT_13TEV_PB}.get(process)


def _generate_one(task: tuple[str, str, str | None, int, str, int, int]) -> tuple[str, str, str, float]:
    """One sample (run in a worker process or in-process): returns (name, events file, jets file, seconds)."""
    from higgsflow.generate.events import generate_events

    name, process, enrich, n, path, seed, workers = task
    t0 = time.perf_counter()
    ev, jets = generate_events(
        process, n, path, seed=seed, tt_enrich=enrich, cross_section=_cross_section(process),
        chunk_size=100 if workers == 1 else 500, workers=workers,
    )  # fmt: skip
    return name, os.fspath(ev), os.fspath(jets), time.perf_counter() - t0


def _train_tagger_task(task: tuple[str, int, int, Mapping[str, Any] | None, int, int]) -> Any:
    """The flavour demo (the AK4 tagger): returns (its result, seconds)."""
    from higgsflow.train.flavour_demo import run_flavour_demo

    out, jets_per_class, epochs, kwargs, seed, workers = task
    t0 = time.perf_counter()
    result = run_flavour_demo(
        out, jets_per_class=jets_per_class, epochs=epochs, seed=seed, overwrite=True, workers=workers,
        network_kwargs=None if kwargs is None else dict(kwargs),
    )  # fmt: skip
    return result, time.perf_counter() - t0


def generate_samples(
    out: str | os.PathLike[str],
    sizes: Mapping[str, int],
    *,
    seed: int = 1,
    workers: int = 1,
    chunk_workers: int | None = None,
    tagger: tuple[str, int, int, Mapping[str, Any] | None] | None = None,
    say: Any = None,
) -> tuple[dict[str, tuple[Path, Path]], Any, dict[str, float]]:
    """Generate the event samples ``sizes`` (name of :data:`SAMPLES` → events) into ``out/NAME.parquet`` (and
    ``NAME_jets.parquet``), in ``workers`` processes; with ``tagger`` = (folder, jets per class, epochs, network
    options or None) the AK4 tagger of the flavour demo is trained alongside, in this process while
    ``workers`` forked processes generate the events. With ``chunk_workers`` instead (large samples), the
    tagger and then each sample in turn are generated in that many processes each (``generate events
    --workers``, Dask). Returns ({name: (events, jets)}, the flavour demo's result
    or None, seconds per task)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    unknown = [k for k in sizes if k not in SAMPLES]
    if unknown:
        from higgsflow.errors import ConfigError

        raise ConfigError(f"unknown sample {unknown[0]!r}", field="sizes", expected=", ".join(SAMPLES))
    per_task = int(chunk_workers or 1)
    tasks = [
        (
            name,
            SAMPLES[name][0],
            SAMPLES[name][1],
            int(n),
            os.fspath(out / f"{name}.parquet"),
            seed + 10 * i,
            per_task,
        )
        for i, (name, n) in enumerate(sizes.items())
        if n > 0
    ]
    tasks.sort(key=lambda t: -t[3] * (10 if t[2] else 1))  # the longest first
    files: dict[str, tuple[Path, Path]] = {}
    timing: dict[str, float] = {}
    flavour = None

    def done(name: str, ev: str, jets: str, secs: float) -> None:
        files[name] = (Path(ev), Path(jets))
        timing[name] = secs
        if say is not None:
            say(f"  {name}: {sizes[name]} events in {secs:.0f} s")

    if workers <= 1 or chunk_workers:
        if tagger is not None:
            flavour, timing["tagger"] = _train_tagger_task((*tagger, seed, per_task))
        for t in tasks:
            done(*_generate_one(t))
    else:
        # the events in forked processes (Pythia only), the tagger here meanwhile (torch stays in this process)
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("fork")) as pool:
            futures = [pool.submit(_generate_one, t) for t in tasks]
            if tagger is not None:
                flavour, timing["tagger"] = _train_tagger_task((*tagger, seed, 1))
            for f in futures:
                done(*f.result())
    return {k: files[k] for k in sizes if k in files}, flavour, timing


# ------------------------------------------------------------------------------------------ classifiers
def _auc_fast(sig: np.ndarray, bkg: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count one half)."""
    from scipy.stats import rankdata

    ranks = rankdata(np.concatenate([sig, bkg]))
    return float((ranks[: sig.size].sum() - sig.size * (sig.size + 1) / 2) / (sig.size * bkg.size))


def _auc_interval(
    score: np.ndarray, is_sig: np.ndarray, *, seed: int = 1, n_boot: int = 200
) -> dict[str, Any]:
    """AUC with its 68% bootstrap interval (signal and background resampled separately)."""
    sig, bkg = score[is_sig], score[~is_sig]
    row: dict[str, Any] = {"n_sig": int(sig.size), "n_bkg": int(bkg.size)}
    if sig.size == 0 or bkg.size == 0:
        return {"auc": math.nan, "lo": math.nan, "hi": math.nan, **row}
    rng = np.random.default_rng(seed)
    boot = [_auc_fast(rng.choice(sig, sig.size), rng.choice(bkg, bkg.size)) for _ in range(n_boot)]
    lo, hi = np.quantile(boot, [0.16, 0.84])
    return {"auc": _auc_fast(sig, bkg), "lo": float(lo), "hi": float(hi), **row}


def classifier_aucs(scored: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """Per-class AUCs (one class against all others, unweighted test events) of an event classifier's scored
    test file, with 68% bootstrap intervals; ``tthcc_vs_ttjets``: score_ttHcc of ttH(cc) against tt̄+jets
    events (the issue's gate)."""
    from higgsflow.data.io import read_table

    if isinstance(scored, (str, os.PathLike)):
        t = read_table(scored, [*(f"score_{c}" for c in CLASSES), *(f"label_{c}" for c in CLASSES)])
        cols = {f: np.asarray(t[f]) for f in t.fields}
    else:
        cols = {k: np.asarray(v) for k, v in scored.items()}
    out: dict[str, Any] = {"per_class": {}}
    for c in CLASSES:
        is_c = cols[f"label_{c}"] == 1
        out["per_class"][c] = _auc_interval(cols[f"score_{c}"].astype(np.float64), is_c, n_boot=100)
    tt = np.zeros(len(is_c), dtype=bool)
    for c in TTJETS:
        tt |= cols[f"label_{c}"] == 1
    sig = cols["label_ttHcc"] == 1
    keep = sig | tt
    out["tthcc_vs_ttjets"] = _auc_interval(cols["score_ttHcc"][keep].astype(np.float64), sig[keep])
    return out


def _train_classifier(
    network: str, config: Path, paths: Mapping[str, Path], run: Path, *, epochs: int, seed: int,
    network_kwargs: Mapping[str, Any], progress: Any = None, lr: float = 3e-3, batch_size: int = 64,
) -> Path:  # fmt: skip
    from higgsflow.data.config import DataConfig
    from higgsflow.train.loop import TrainSettings, train

    settings = TrainSettings(
        network=network, network_kwargs=dict(network_kwargs), epochs=epochs, batch_size=batch_size, lr=lr,
        optimizer="adamw", seed=seed, checkpoint_every=None,
    )  # fmt: skip
    res = train(DataConfig.load(config), [paths["train"]], [paths["val"]], run, settings, progress=progress)
    return res.run_dir


# ------------------------------------------------------------------------------------------ fit
def dttx_cuts(columns: Mapping[str, Any], *, quantile: float = 0.8, min_events: int = 5) -> dict[str, float]:
    """Per channel, the D_ttX boundary between signal and control regions that keeps the fraction ``quantile``
    of the tt̄+jets events of ``columns`` (scored events: score_*, label_*, channel) below it, in the control
    regions (0.5 where a channel has fewer than ``min_events`` of them; clipped to [0.05, 0.95])."""
    from higgsflow.events.regions import region_columns

    cols = region_columns(columns)
    tt = np.zeros(len(cols["D_ttX"]), dtype=bool)
    for c in TTJETS:
        if f"label_{c}" in cols:
            tt |= np.asarray(cols[f"label_{c}"]) == 1
    out = {}
    for name, k in (("0L", 0), ("1L", 1), ("2L", 2)):
        d = cols["D_ttX"][tt & (np.asarray(cols["channel"]) == k)]
        out[name] = float(np.clip(np.quantile(d, quantile), 0.05, 0.95)) if d.size >= min_events else 0.5
    return out


def _limit_kappa(mu_limit: float) -> float:
    """κ_c giving μ_ttH(cc) = ``mu_limit`` at κ_b = 1 (inf where μ(κ_c) never reaches it: μ → 1/B_cc)."""
    from higgsflow.physics.constants import BR_H_CC

    if not np.isfinite(mu_limit) or mu_limit * BR_H_CC >= 1:
        return math.inf
    return math.sqrt(max(mu_limit * (1 - BR_H_CC) / (1 - mu_limit * BR_H_CC), 0.0))


def fit_summary(
    workspace: str | os.PathLike[str] | Mapping[str, Any],
    *,
    xsec_tth_pb: float | None = None,
    kappa_points: int = 13,
    kappa_max: float = 30.0,
) -> dict[str, Any]:
    """The numbers of the fit of a ttH(cc) workspace on Asimov data (the nominal expectation):

    - ``mu_limit``: expected 95% CL CLs upper limit on μ_ttH(cc) (median, and the band at −2, −1, 0, +1, +2σ),
      on Asimov data of the background-only model (μ_ttH(cc) = 0, other parameters nominal), ``at_bound`` when
      it lies at the fit's upper bound of μ (no limit in range);
    - ``sigma_br_limit_pb``: μ limit × σ_ttH (``xsec_tth_pb``, default 0.5071 pb) × B(H→cc̄);
    - ``tthbb_significance``: expected discovery significance of ttH(bb) (μ_ttH(bb) as the parameter of
      interest, the other signal strengths profiled);
    - ``kappa_c``: the κ_c scan at κ_b = 1 on SM Asimov data (``kappa_points`` points on [0, κ_max], κ_max
      from the μ limit, at most ``kappa_max``): best fit, 68% and 95% intervals.
    """
    from higgsflow.errors import HiggsflowError
    from higgsflow.physics.constants import BR_H_CC, XSEC_TTH_13TEV_PB
    from higgsflow.stats import StatModel, significance, upper_limit
    from higgsflow.stats.kappa import kappa_scan

    spec = json.loads(Path(workspace).read_text()) if isinstance(workspace, (str, os.PathLike)) else workspace
    sm = StatModel(dict(spec))
    xsec = XSEC_TTH_13TEV_PB if xsec_tth_pb is None else float(xsec_tth_pb)
    out: dict[str, Any] = {"regions": len(spec["channels"]), "xsec_tth_pb": xsec, "br_hcc": BR_H_CC}
    t0 = time.perf_counter()
    mu_guess = math.nan
    try:
        bonly = sm.asimov_data({"mu_ttHcc": 0.0}, "mu_ttHcc")
        lim = upper_limit(sm, poi="mu_ttHcc", data=bonly)
        band = [float(x) for x in lim.expected]
        mu_guess = band[2]
        hi = sm.model("mu_ttHcc").config.suggested_bounds()[sm.index("mu_ttHcc", "mu_ttHcc")][1]
        out["mu_limit"] = {
            "expected": band[2],
            "band_m2_m1_0_p1_p2": band,
            "at_bound": bool(band[2] >= 0.99 * hi),
        }
        out["sigma_br_limit_pb"] = {
            "expected": band[2] * xsec * BR_H_CC,
            "band": [b * xsec * BR_H_CC for b in band],
        }
    except HiggsflowError as exc:  # e.g. a limit beyond the signal strength's bounds at demo size
        out["mu_limit"] = {"expected": math.nan, "error": str(exc)}
        out["sigma_br_limit_pb"] = {"expected": math.nan, "error": str(exc)}
    out["seconds_limit"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    try:
        z = significance(sm, poi="mu_ttHbb", data=sm.asimov_data(None, "mu_ttHbb"))
        out["tthbb_significance"] = {"expected_z": float(z.expected_z), "expected_p": float(z.expected_p)}
    except HiggsflowError as exc:
        out["tthbb_significance"] = {"expected_z": math.nan, "error": str(exc)}
    out["seconds_significance"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    # on SM Asimov data the 95% interval ends near μ_ttH(cc) ≈ 1 + the expected limit
    k_lim = _limit_kappa(mu_guess + 1.0)
    kmax = float(min(kappa_max, max(3.0, 1.5 * k_lim))) if np.isfinite(k_lim) else float(kappa_max)
    try:
        scan = kappa_scan(sm, np.linspace(0.0, kmax, kappa_points), kappa_b=1.0, asimov=True)
        out["kappa_c"] = {
            "kappa_b": 1.0,
            "bestfit": float(scan.bestfit),
            "interval68": [float(x) for x in scan.interval68],
            "interval95": [float(x) for x in scan.interval95],
            "scan_max": kmax,
            "values": scan.values.tolist(),
            "delta_twice_nll": scan.delta_twice_nll.tolist(),
        }
    except HiggsflowError as exc:
        out["kappa_c"] = {
            "kappa_b": 1.0,
            "interval95": [math.nan, math.nan],
            "scan_max": kmax,
            "error": str(exc),
        }
    out["seconds_kappa"] = time.perf_counter() - t0
    return out


def _pulls(sm: Any, fit_result: Any) -> dict[str, float]:
    """(θ̂ − θ₀)/σ₀ of every constrained parameter (luminosity, cross sections, MC statistics, shapes)."""
    m = sm.model()
    pulls = {}
    for name in m.config.par_order:
        ps = m.config.param_set(name)
        if not getattr(ps, "constrained", False):
            continue
        sl = m.config.par_slice(name)
        init = np.atleast_1d(ps.suggested_init)
        width = np.atleast_1d(ps.width())
        for k, i in enumerate(range(sl.start, sl.stop)):
            label = name if sl.stop - sl.start == 1 else f"{name}[{k}]"
            pulls[label] = float((fit_result.bestfit[i] - init[k]) / width[k]) if width[k] > 0 else 0.0
    return pulls


def asimov_checks(
    workspace: str | os.PathLike[str] | Mapping[str, Any], *, max_pull: float = 2.0
) -> dict[str, Any]:
    """The fit on Asimov data of the whole model and of every region alone: whether each converges (a valid
    Minuit minimum) and the largest pull of a constrained parameter; ``passed`` if all converge with no pull
    beyond ``max_pull``."""
    from higgsflow.errors import HiggsflowError
    from higgsflow.stats import StatModel, fit

    spec = json.loads(Path(workspace).read_text()) if isinstance(workspace, (str, os.PathLike)) else workspace
    rows: dict[str, dict[str, Any]] = {}

    def one(label: str, s: Mapping[str, Any]) -> None:
        try:
            sm = StatModel(dict(s))
            res = fit(sm, asimov=True)
            pulls = _pulls(sm, res)
            worst = max(pulls, key=lambda k: abs(pulls[k])) if pulls else None
            rows[label] = {
                "converged": True,
                "max_pull": abs(pulls[worst]) if worst else 0.0,
                "max_pull_parameter": worst,
            }
        except HiggsflowError as exc:
            rows[label] = {"converged": False, "error": str(exc)}

    one("all regions", spec)
    for ch in spec["channels"]:
        one(ch["name"], _single_region(spec, ch["name"]))
    passed = all(r["converged"] and r["max_pull"] <= max_pull for r in rows.values())
    return {"passed": passed, "max_pull_allowed": max_pull, "fits": rows}


def _single_region(spec: Mapping[str, Any], region: str) -> dict[str, Any]:
    """The workspace of one region: its channel and observation; POIs absent from it dropped, the first present
    one made the POI."""
    ch = next(c for c in spec["channels"] if c["name"] == region)
    obs = next(o for o in spec["observations"] if o["name"] == region)
    present = {m["name"] for s in ch["samples"] for m in s["modifiers"]}
    measurements = []
    for meas in spec["measurements"]:
        cfg = dict(meas["config"])
        params = [p for p in cfg.get("parameters", []) if p["name"] in present]
        poi = (
            cfg["poi"]
            if cfg["poi"] in present
            else next((p for p in ("mu_ttHcc", "mu_ttHbb", "mu_ttZcc", "mu_ttZbb") if p in present), None)
        )
        if poi is None:  # a region without any signal sample: a background normalisation stands in
            poi = next(m["name"] for s in ch["samples"] for m in s["modifiers"] if m["type"] == "normfactor")
        measurements.append({**meas, "config": {**cfg, "poi": poi, "parameters": params}})
    return {**spec, "channels": [ch], "observations": [obs], "measurements": measurements}


def variation_yields(
    nominal: Mapping[str, Any],
    variations: Mapping[str, tuple[Mapping[str, Any], Mapping[str, Any]]],
    regions: Any,
) -> dict[str, Any]:
    """Per nuisance: its size (``jes``: relative scale, ``tag_*``: logit shift) and, up and down, the relative
    change of the expected events (all samples) in ``regions`` (``yield_change``) and Σ_regions |ΔN| / N
    (``region_change``: it counts the events that move between regions too)."""
    from higgsflow.events.regions import assign_regions
    from higgsflow.events.systematics import JES_UNCERTAINTY, TAGGER_SHIFTS

    def per_region(cols: Mapping[str, Any]) -> np.ndarray:
        idx = assign_regions(cols, regions)
        w = np.asarray(cols["weight"], dtype=np.float64)
        return np.bincount(idx[idx >= 0], weights=w[idx >= 0], minlength=len(regions))

    n0 = per_region(nominal)
    total = float(n0.sum())
    out: dict[str, Any] = {}
    for name, pair in variations.items():
        size = JES_UNCERTAINTY if name == "jes" else TAGGER_SHIFTS.get(name, (None, math.nan))[1]
        row: dict[str, Any] = {"size": size}
        for direction, cols in zip(("up", "down"), pair, strict=True):
            n = per_region(cols)
            row[direction] = {
                "yield_change": float(n.sum()) / total - 1.0 if total > 0 else math.nan,
                "region_change": float(np.abs(n - n0).sum()) / total if total > 0 else math.nan,
            }
        out[name] = row
    return out


# ------------------------------------------------------------------------------------------ the demo
def run_tthcc_demo(
    out: str | os.PathLike[str],
    *,
    sizes: Mapping[str, int] | None = None,
    jets_per_class: int = 80,
    tagger_epochs: int = 6,
    epochs: int = 12,
    dnn: bool = True,
    seed: int = 1,
    workers: int = 1,
    lumi: float = 138.0,
    overwrite: bool = False,
    progress: Any = None,
    event_part_kwargs: Mapping[str, Any] | None = None,
    dnn_kwargs: Mapping[str, Any] | None = None,
    tagger_kwargs: Mapping[str, Any] | None = None,
    chunk_workers: int | None = None,
    batch_size: int = 64,
    lr: float = 3e-3,
    kappa_points: int = 13,
    checks: bool = False,
    region_cut: float | None = None,
    background_quantile: float = 0.8,
    systematics: bool = True,
    train_seed: int | None = None,
    reuse_samples: bool = False,
) -> TthccDemoResult:
    """The chain of the module docstring into the folder ``out`` (a new folder, or one an earlier demo made,
    with ``overwrite``): ``sizes`` events per sample (:data:`DEMO_SIZES`), ``jets_per_class`` AK4 jets per
    flavour class and ``tagger_epochs`` for the tagger, ``epochs`` for the event classifiers, ``dnn`` trains the
    baseline too, ``workers`` processes generate (and train the tagger) in parallel (``chunk_workers``: see
    :func:`generate_samples`). ``event_part_kwargs``, ``dnn_kwargs``, ``tagger_kwargs``: network options
    (defaults: :data:`DEMO_EVENT_PART`, the DNN's defaults, the flavour demo's UParT). ``checks`` adds the
    Asimov fit of every region (:func:`asimov_checks`). The D_ttX boundary between signal and control regions is
    ``region_cut`` in every channel (0.5: the shipped ``tthcc_regions``), or by default, per channel, the
    ``background_quantile`` of D_ttX of the validation tt̄+jets events (:func:`dttx_cuts`): a small classifier's
    scores follow its training sample's class mix, so a fixed 0.5 can leave the control regions empty.
    ``systematics`` adds the shape systematics of :mod:`higgsflow.events.systematics` (jet energy scale, b, c and
    light tagger scores): the test events prepared again with each shift, re-scored by the event ParT
    (:func:`~higgsflow.events.systematics.scored_variations`), as histosys modifiers of every sample.
    ``train_seed`` seeds the event classifiers (default ``seed``, which also seeds the generation and the
    train/val/test split). ``reuse_samples`` continues in a folder an earlier run of the same sizes made: its
    events, AK4 tagger and scored jets are kept (and checked to be all there), while its prepared events,
    classifiers, fit and summary are made anew, e.g. with another ``train_seed`` on the same events.
    Writes ``out/tthcc.json`` (:func:`tthcc_summary_lines` prints it)."""
    from higgsflow.configs import config_path
    from higgsflow.events.chain import fillable_regions, prepare_files
    from higgsflow.events.regions import (
        build_fit,
        default_regions,
        load_regions,
        read_scored_events,
        write_fit,
    )
    from higgsflow.events.systematics import scored_variations
    from higgsflow.train.demo import demo_reporter, prepare_demo_folder
    from higgsflow.train.inference import predict_files

    report = demo_reporter(progress)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    sizes = dict(DEMO_SIZES if sizes is None else sizes)
    train_seed = seed if train_seed is None else int(train_seed)
    scored_jets = Path(out) / "scored_jets"
    if reuse_samples:
        out, files, flavour = reuse_sample_folder(out, sizes)
        report.stage("events", f"reusing the events, the AK4 tagger and the scored jets of {out}")
        tagger_run = flavour.run_dir
    else:
        out = prepare_demo_folder(out, overwrite=overwrite)

        # 1 + 2: the AK4 tagger and the event samples (in parallel with workers > 1)
        report.stage(
            "events",
            f"generating {sum(sizes.values())} events ({', '.join(f'{n} {k}' for k, n in sizes.items())}) "
            f"and training a small UParT-AK4 on {jets_per_class} jets of each flavour class ({workers} process"
            f"{'es' if workers != 1 else ''})",
        )
        t0 = time.perf_counter()
        files, flavour, gen_times = generate_samples(
            out / "events", sizes, seed=seed, workers=workers, chunk_workers=chunk_workers,
            tagger=(os.fspath(out / "tagger"), jets_per_class, tagger_epochs, tagger_kwargs),
        )  # fmt: skip
        timings["generate_and_tagger"] = time.perf_counter() - t0
        timings.update({f"task_{k}": v for k, v in gen_times.items()})
        tagger_run = flavour.run_dir

        # 3: the jets scored by the tagger
        report.stage("score", "scoring every jet of the events with the AK4 tagger")
        t0 = time.perf_counter()
        predict_files(tagger_run, [j for _, j in files.values()], scored_jets)
        timings["score_jets"] = time.perf_counter() - t0

    # 4: prepare + split
    report.stage("prepare", "selecting objects and channels, splitting 50/20/30 into train/val/test")
    t0 = time.perf_counter()
    events = [e for e, _ in files.values()]
    scores = [scored_jets / j.name for _, j in files.values()]
    parts = prepare_files(events, out / "prepared.parquet", scores=scores, split=SPLIT, seed=seed)
    paths = {k: p for k, (p, _) in parts.items()}
    timings["prepare"] = time.perf_counter() - t0

    # 5: the event classifiers
    classifiers: dict[str, Any] = {}
    nets = [
        (
            "event_part",
            "tthcc_event_part",
            DEMO_EVENT_PART if event_part_kwargs is None else event_part_kwargs,
        )
    ]
    if dnn:
        nets.append(("dnn", "tthcc_dnn", DEMO_EVENT_DNN if dnn_kwargs is None else dnn_kwargs))
    scored_test: dict[str, Path] = {}
    runs: dict[str, Path] = {}
    for network, cfg_name, kwargs in nets:
        report.stage(
            "train",
            f"training the {'event ParT' if network == 'event_part' else 'DNN baseline'} on "
            f"{parts['train'][1]} events for {epochs} epochs",
            total=epochs,
        )
        t0 = time.perf_counter()
        run = _train_classifier(
            network, config_path(cfg_name), paths, out / f"run_{network}", epochs=epochs, seed=train_seed,
            network_kwargs=kwargs, progress=report.training, batch_size=batch_size, lr=lr,
        )  # fmt: skip
        runs[network] = run
        scored_val, scored_test[network] = predict_files(
            run, [paths["val"], paths["test"]], out / f"scored_{network}"
        )
        if network == "event_part":
            val_cols = read_scored_events(scored_val)
        classifiers[network] = classifier_aucs(scored_test[network])
        timings[f"train_{network}"] = time.perf_counter() - t0

    # 6a: the shape systematics: the test events shifted, re-selected and re-scored by the event ParT
    variations = None
    if systematics:
        report.stage(
            "systematics",
            "shifting the jet energy scale and the tagger scores of b, c and light jets: the test events "
            "re-selected and re-scored by the event ParT",
        )
        t0 = time.perf_counter()
        variations = scored_variations(
            events,
            runs["event_part"],
            out / "systematics",
            scores=scores,
            split=SPLIT,
            part="test",
            seed=seed,
        )
        timings["systematics"] = time.perf_counter() - t0

    # 6: regions → workspace → fit
    report.stage("fit", f"building the regions and the workspace at {lumi:g} fb⁻¹ and fitting")
    t0 = time.perf_counter()
    if region_cut is None:  # boundaries from the validation events (small samples: their own score scale)
        cuts = dttx_cuts(val_cols, quantile=background_quantile)
        regions = default_regions(cuts)
    else:
        cuts = dict.fromkeys(("0L", "1L", "2L"), float(region_cut))
        regions = load_regions(config_path("tthcc_regions")) if region_cut == 0.5 else default_regions(cuts)
    cols = read_scored_events(scored_test["event_part"])
    used, dropped = fillable_regions(cols, regions)
    workspace = out / "tthcc_workspace.json"
    write_fit(cols, used, workspace, lumi=lumi, poi_bounds=POI_BOUNDS, variations=variations)
    fit = fit_summary(workspace, kappa_points=kappa_points)
    # the same templates without MC-statistics nuisance parameters (every bin's γ pruned)
    _, face_spec = build_fit(
        cols, used, lumi=lumi, poi_bounds=POI_BOUNDS, mcstat_threshold=1e9, variations=variations
    )
    face = fit_summary(face_spec, kappa_points=kappa_points)
    fit["face_value"] = {
        k: face[k] for k in ("mu_limit", "sigma_br_limit_pb", "tthbb_significance", "kappa_c")
    }
    fit["regions_dropped"] = dropped
    if variations is not None:
        fit["systematics"] = variation_yields(cols, variations, used)
    fit["dttx_cuts"] = cuts
    fit["lumi_fb"] = lumi
    if checks:
        fit["asimov_checks"] = asimov_checks(workspace)
    timings["fit"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    summary = {
        "sizes": sizes,
        "seed": seed,
        "train_seed": train_seed,
        "reused_samples": bool(reuse_samples),
        "events": {
            k: {"train": _count(paths["train"], k), "test": _count(paths["test"], k)} for k in CLASSES
        },
        "tagger": {
            "run": os.fspath(tagger_run),
            "jets_per_class": jets_per_class,
            "epochs": tagger_epochs,
            "discriminants": {k: v["auc"] for k, v in flavour.summary["discriminants"].items()},
        },
        "classifiers": classifiers,
        "fit": fit,
        "cms": CMS,
        "workspace": os.fspath(workspace),
        "timings_s": timings,
        "demo_size": True,
    }
    path = out / "tthcc.json"
    path.write_text(json.dumps(summary, indent=1))
    report.finish()
    return TthccDemoResult(out, summary, path, workspace, timings)


#: what a run writes after the scored jets: made anew when a run reuses the folder's samples
_DERIVED = ("prepared_*.parquet", "run_*", "scored_event_part", "scored_dnn", "systematics", "tthcc_workspace*",
            "tthcc.json")  # fmt: skip


def reuse_sample_folder(
    out: str | os.PathLike[str], sizes: Mapping[str, int]
) -> tuple[Path, dict[str, tuple[Path, Path]], Any]:
    """The events, AK4 tagger and scored jets of a folder an earlier :func:`run_tthcc_demo` made with the same
    ``sizes`` (for ``reuse_samples``): ({name: (events, jets)}, the tagger's flavour-demo result). What the run
    derives from them (prepared events, classifiers, fit, summary: :data:`_DERIVED`) is removed, to be made
    anew. A missing piece is a :class:`~higgsflow.errors.DataError` naming it, and nothing is removed then."""
    from higgsflow.data.io import read_metadata
    from higgsflow.errors import DataError
    from higgsflow.train.demo import _MARKER
    from higgsflow.train.flavour_demo import FlavourDemoResult

    out = Path(out)
    if not (out / _MARKER).is_file():
        raise DataError(
            "no earlier run's samples to reuse", file=out, expected="a folder an earlier run made"
        )
    files = {
        n: (out / "events" / f"{n}.parquet", out / "events" / f"{n}_jets.parquet")
        for n in sizes
        if sizes[n] > 0
    }
    needed = [p for pair in files.values() for p in pair] + [
        out / "scored_jets" / j.name for _, j in files.values()
    ]
    needed += [out / "tagger" / "flavour.json", out / "tagger" / "run" / "model.pt"]
    missing = [p for p in needed if not p.is_file()]
    if missing:
        raise DataError(
            "cannot reuse the samples: missing", file=missing[0], expected="the folder of a finished run"
        )
    for name, n in sizes.items():
        if n <= 0:
            continue
        meta = read_metadata(files[name][0]) or {}
        made = meta.get("events_written")
        if made is not None and int(made) != int(n):
            raise DataError(
                f"made with {made} events, not {n}",
                file=files[name][0],
                expected="the same --scale as before",
            )
    summary_path = out / "tagger" / "flavour.json"
    flavour = FlavourDemoResult(
        run_dir=out / "tagger" / "run", summary=json.loads(summary_path.read_text()), summary_path=summary_path,
        plots={}, n_test=0,
    )  # fmt: skip
    for pattern in _DERIVED:
        for p in out.glob(pattern):
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    return out, files, flavour


def _count(path: Path, cls: str) -> int:
    from higgsflow.data.io import read_table

    return int(np.sum(np.asarray(read_table(path, [f"label_{cls}"])[f"label_{cls}"]) == 1))


# ------------------------------------------------------------------------------------------ printing
def _num(x: Any, fmt: str = ".3f") -> str:
    return "n/a" if x is None or not np.isfinite(x) else format(x, fmt)


def _fit_lines(fit: Mapping[str, Any], cms: Mapping[str, Any]) -> list[str]:
    """The limit, significance and κ_c lines of one fit."""
    lines = []
    mu = fit["mu_limit"]["expected"]
    sb = fit["sigma_br_limit_pb"]["expected"]
    band = fit["sigma_br_limit_pb"].get("band") or [math.nan] * 5
    cms_text = f"CMS: {cms['sigma_br_limit_expected_pb']:g} pb expected ({cms['sigma_br_limit_observed_pb']:g} observed)"
    if fit["mu_limit"].get("at_bound"):
        lines.append(
            f"  expected 95% CL limit on σ(ttH)B(H→cc̄): > {_num(sb)} pb (μ_ttH(cc) beyond the fit's range, "
            f"{_num(mu, '.0f')})   {cms_text}"
        )
    else:
        lines.append(
            f"  expected 95% CL limit on σ(ttH)B(H→cc̄): {_num(sb)} pb (±1σ [{_num(band[1])}, {_num(band[3])}] pb; "
            f"μ_ttH(cc) < {_num(mu, '.1f')}, σ_ttH = {fit['xsec_tth_pb']:g} pb, B = {fit['br_hcc']:g})   {cms_text}"
        )
    if "error" in fit["mu_limit"]:
        lines.append(f"    (no limit: {fit['mu_limit']['error']})")
    z = fit["tthbb_significance"]["expected_z"]
    lines.append(f"  expected ttH(bb) significance: {_num(z, '.2f')} σ")
    k = fit["kappa_c"]
    lo, hi = k["interval95"]
    lo = max(lo, 0.0) if np.isfinite(lo) else 0.0  # the scan covers κ_c ≥ 0
    if np.isfinite(hi):
        text = f"[{_num(lo, '.2f')}, {_num(hi, '.2f')}], |κ_c| < {_num(hi, '.2f')}"
    else:
        text = f"no upper bound within the scanned [0, {k['scan_max']:g}]"
    lines.append(f"  κ_c at κ_b = 1, 95% CL: {text}   CMS: κ_c < {cms['kappa_c_limit']:g}")
    return lines


def tthcc_summary_lines(summary: Mapping[str, Any]) -> list[str]:
    """The demo's (and the benchmark's) result as lines of text: per-class AUCs of the event ParT and the DNN,
    the expected limits, the ttH(bb) significance and the κ_c interval next to CMS's numbers."""
    lines = []
    cls = summary.get("classifiers", {})
    nets = [n for n in ("event_part", "dnn") if n in cls]
    names = {"event_part": "event ParT", "dnn": "DNN"}
    counts = summary.get("events", {})
    head = f"{'class (one vs rest)':<22}" + "".join(f"{names[n]:>18}" for n in nets)
    head += f"{'test events':>13}" if counts else ""
    lines += ["Event classifier AUCs on the test events (68% bootstrap interval):", head]
    for c in CLASSES:
        row = f"{c:<22}"
        for n in nets:
            r = cls[n]["per_class"][c]
            row += f"{_num(r['auc'])} [{_num(r['lo'], '.2f')},{_num(r['hi'], '.2f')}]".rjust(18)
        if counts:
            row += f"{counts.get(c, {}).get('test', 0):>13}"
        lines.append(row)
    row = f"{'ttH(cc) vs tt+jets':<22}"
    for n in nets:
        r = cls[n]["tthcc_vs_ttjets"]
        row += f"{_num(r['auc'])} [{_num(r['lo'], '.2f')},{_num(r['hi'], '.2f')}]".rjust(18)
    lines.append(row)
    fit = summary.get("fit", {})
    cms = summary.get("cms", CMS)
    if fit:
        lumi = fit.get("lumi_fb", 138.0)
        lines.append("")
        dropped = fit.get("regions_dropped") or {}
        lines.append(
            f"Fit of {fit['regions']} regions at {lumi:g} fb⁻¹ on Asimov data"
            + (f" ({len(dropped)} of 27 left out: no events or no tt+jets background)" if dropped else "")
            + ":"
        )
        lines += _fit_lines(fit, cms)
        syst = fit.get("systematics")
        if syst:
            parts = []
            for name, row in syst.items():
                size = f"±{100 * row['size']:g}%" if name == "jes" else f"logit ±{row['size']:g}"
                up, down = (round(100 * row[d]["yield_change"], 1) + 0.0 for d in ("up", "down"))
                text = f"{name} {size}: {up:+.1f}%/{down:+.1f}%"
                if "region_change" in row["up"]:
                    text += f" ({100 * row['up']['region_change']:.1f}%/{100 * row['down']['region_change']:.1f}%)"
                parts.append(text)
            lines.append(
                "  shape systematics (events shifted, re-selected, re-scored): expected events up/down "
                "(Σ_regions |Δ| / total): " + ", ".join(parts)
            )
        face = fit.get("face_value")
        if face:
            lines.append(
                "The same templates at face value (no MC-statistics uncertainty; at demo size the background "
                "templates rest on a few dozen simulated events, which the lines above account for):"
            )
            lines += _fit_lines({**fit, **face}, cms)
        if "asimov_checks" in fit:
            ch = fit["asimov_checks"]
            bad = [k for k, r in ch["fits"].items() if not r["converged"]]
            worst = max((r.get("max_pull", 0.0) for r in ch["fits"].values() if r["converged"]), default=0.0)
            lines.append(
                f"  Asimov fits: {len(ch['fits']) - len(bad)} of {len(ch['fits'])} converge (all regions, and each "
                f"alone); largest pull {worst:.2g}σ"
            )
    if summary.get("demo_size", True):
        lines.append("")
        lines.append(
            "A demo-size sample is not comparable with CMS: a few hundred simulated events per class, a small "
            "tagger and classifier, large MC-statistics uncertainties and regions left out; "
            "benchmarks/tthcc.py runs the chain at full size."
        )
    t = summary.get("timings_s", {}).get("total")
    if t is not None:
        lines.append(f"Chain time: {t / 60:.1f} min.")
    return lines


def print_tthcc_summary(result: TthccDemoResult | Mapping[str, Any], console: Any) -> None:
    """The demo's result on a rich console (:func:`tthcc_summary_lines`), then where its files are."""
    from rich.markup import escape

    summary = result.summary if isinstance(result, TthccDemoResult) else result
    console.print("")
    for line in tthcc_summary_lines(summary):
        console.print(escape(line), soft_wrap=True)
    if isinstance(result, TthccDemoResult):
        console.print(f"summary: {result.summary_path}", soft_wrap=True)
        console.print(
            f"workspace: {result.workspace} (higgsflow stats fit | limit | kappa | yields --plots DIR)",
            soft_wrap=True,
        )
