"""End-to-end EFT steps on files: generate the ZH sample, train the BITs, derive expected limits.

Files: the sample is a Parquet table (``weights.write_sample``) with parton-level features, detector-level
features prefixed ``reco_`` (plus ``reco_selected``, ``reco_category``) and the weight coefficient columns;
models are ``.npz`` files (``bit.EFTInformationTrees.save``) with a JSON sidecar naming the features; limits
write ``limits.json`` and plots. Events with even row index train the BITs, odd ones fill the templates.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from higgsflow.eft import zh
from higgsflow.errors import ConfigError, DataError
from higgsflow.outputs import check_outputs

__all__ = [
    "DEFAULT_FEATURES",
    "LIMITS_OUTPUTS",
    "background_path",
    "expected_limits",
    "generate_background_sample",
    "generate_zh_sample",
    "model_paths",
    "train_bits",
]

log = logging.getLogger(__name__)

DEFAULT_FEATURES = (
    "m_zh",
    "pt_z",
    "y_zh",
    "cos_theta",
    "cos_theta_star",
    "phi_star",
    "pt_h",
    *zh.ANGULAR_MOMENTS,
)


def _versions() -> dict[str, str]:
    out = {}
    for pkg in ("higgsflow", "numpy", "numba", "xgboost", "optuna", "iminuit"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "n/a"
    return out


def background_path(sample: str | os.PathLike[str]) -> Path:
    """Where ``generate_zh_sample(..., background_events=N)`` writes the Z+jets background of ``sample``."""
    sample = Path(sample)
    return sample.with_name(sample.stem + "_zjets.parquet")


def model_paths(out: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The model file :func:`train_bits` writes for ``out`` (``.npz`` added when missing) and its JSON sidecar."""
    path = Path(out)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz") if path.suffix else path.with_suffix(".npz")
    return path, path.with_suffix(".json")


#: the files :func:`expected_limits` writes into its output folder (contour.png only with a contour)
LIMITS_OUTPUTS = ("limits.json", "template.png", "scans.png", "contour.png")


def _positive(value, field: str, *, integer: bool = False, zero: bool = False) -> None:
    ok = value >= 0 if zero else value > 0
    if integer:
        ok = ok and float(value).is_integer()
    if not (ok and np.isfinite(value)):
        kind = "integer" if integer else "number"
        raise ConfigError(
            f"{field} = {value}", field=field, expected=f"a {'non-negative' if zero else 'positive'} {kind}"
        )


def generate_zh_sample(
    out: str | os.PathLike[str],
    n_events: int,
    seed: int,
    *,
    lhe: str | os.PathLike[str] | None = None,
    pt_z_min: float = 0.0,
    sqrt_shat_max: float = 3000.0,
    shower: bool = False,
    background_events: int = 0,
    detector: bool = True,
    overwrite: bool = False,
    callback: Callable[[int], None] | None = None,
) -> Path:
    """Generate the ZH model and write the Parquet sample (and optional LHE).

    Detector-level features (``reco_*``) come from the smearing of ``zh.reconstruct`` or, with ``shower``,
    from Pythia 8 showering of the LHE events, the generator's detector model (``detector``; particle level
    without it) and FastJet objects (``eft.shower``). With ``shower`` and
    ``background_events`` > 0, a Pythia 8 Z/γ*(→ℓℓ)+jets background (``shower.generate_background``) is
    reconstructed the same way and written next to the sample (:func:`background_path`) in the same format:
    ``reco_*`` columns, w0 = σ/N × P(b-tags) in pb, all EFT coefficients zero.
    """

    from higgsflow.eft.weights import write_sample

    out = Path(out)
    _positive(n_events, "n_events", integer=True)
    zh.check_phase_space(sqrt_shat_max, pt_z_min)
    if background_events < 0 or (background_events and not shower):
        raise ConfigError(
            "the Pythia 8 background needs the showered reconstruction",
            field="background_events",
            expected="0, or > 0 together with shower",
        )
    bkg_out = background_path(out)
    if shower and lhe is None:
        lhe = out.with_suffix(".lhe")
    # every output before any work: an existing file (without overwrite) or an unwritable place stops here
    check_outputs([out, lhe, bkg_out if background_events else None], overwrite=overwrite)
    seeds = np.random.SeedSequence(seed).spawn(3)
    ev = zh.generate(
        n_events, int(seeds[0].generate_state(1)[0]), pt_z_min=pt_z_min, sqrt_shat_max=sqrt_shat_max
    )
    if shower:
        from higgsflow.eft.shower import particle_level_features, shower_lhe

        zh.write_lhe(ev, lhe, overwrite=overwrite)
        objects = shower_lhe(lhe, int(seeds[1].generate_state(1)[0]), detector=detector, callback=callback)
        if len(objects["ok"]) != len(ev):
            raise DataError("Pythia returned a different number of events", file=lhe, expected=f"{len(ev)}")
        reco = particle_level_features(objects)
    else:
        reco = zh.reconstruct(ev, int(seeds[1].generate_state(1)[0]))
    feats = dict(ev.features)
    feats.update({f"reco_{k}": v for k, v in reco.items()})
    settings = {**ev.settings, "seed": seed, "reconstruction": _reco_label(shower, detector)}
    meta = {"settings": json.dumps(settings), "versions": json.dumps(_versions())}
    path = write_sample(out, feats, ev.coeffs, zh.COEFFICIENTS, metadata=meta, overwrite=overwrite)
    if lhe is not None and not shower:
        zh.write_lhe(ev, lhe, overwrite=overwrite)
    log.info("wrote %d events to %s", len(ev), path)
    if background_events:
        generate_background_sample(
            bkg_out,
            background_events,
            int(seeds[2].generate_state(1)[0]),
            detector=detector,
            overwrite=overwrite,
        )
    return path


def _reco_label(shower: bool, detector: bool) -> str:
    if not shower:
        return "smearing"
    return "pythia8+cms-detector+fastjet" if detector else "pythia8+fastjet (particle level)"


def generate_background_sample(
    out: str | os.PathLike[str], n_events: int, seed: int, *, detector: bool = True, overwrite: bool = False
) -> Path:
    """Generate the Pythia 8 Z/γ*(→ℓℓ)+jets background (``shower.generate_background``) and write it as an
    EFT sample: ``reco_*`` columns as for the showered signal, w0 = σ/N × P(b-tags) in pb (zero when not
    selected), all EFT coefficients zero.
    """

    from higgsflow.eft.shower import generate_background, particle_level_features
    from higgsflow.eft.weights import coefficient_columns, write_sample

    out = Path(out)
    _positive(n_events, "n_events", integer=True)
    check_outputs([out], overwrite=overwrite)
    objects, sigma_pb = generate_background(n_events, seed, detector=detector)
    reco = particle_level_features(objects)
    coeffs = np.zeros((n_events, len(coefficient_columns(zh.COEFFICIENTS))))
    coeffs[:, 0] = sigma_pb / n_events * objects["tag_weight"] * objects["selected"]
    settings = {
        "process": "pythia8 WeakBosonAndParton:qqbar2gmZg+qg2gmZq, Z/gamma*->ee,mumu",
        "sigma_pb": sigma_pb,
        "n_events": n_events,
        "seed": seed,
        "reconstruction": _reco_label(True, detector) + ", truth tagging",
    }
    meta = {"settings": json.dumps(settings), "versions": json.dumps(_versions())}
    feats = {f"reco_{k}": v for k, v in reco.items()}
    path = write_sample(out, feats, coeffs, zh.COEFFICIENTS, metadata=meta, overwrite=overwrite)
    log.info(
        "wrote the Z+jets background (%d events, %.3g pb selected) to %s", n_events, coeffs[:, 0].sum(), path
    )
    return path


def _check_level(level: str) -> None:
    if level not in ("reco", "parton"):
        raise ConfigError(f"unknown level {level!r}", field="level", expected="'reco' or 'parton'")


def _design(sample, level: str, features: Sequence[str] | None, rows: str):
    from higgsflow.eft.weights import read_sample

    _check_level(level)
    feats, coeffs, names, _ = read_sample(sample)
    features = list(features or DEFAULT_FEATURES)
    prefix = "reco_" if level == "reco" else ""
    missing = [prefix + f for f in features if prefix + f not in feats]
    if missing:
        raise DataError("feature column missing", file=sample, field=missing[0])
    n = len(coeffs)
    keep = np.ones(n, bool) if rows == "all" else np.arange(n) % 2 == (0 if rows == "train" else 1)
    if level == "reco":
        keep &= feats["reco_selected"].astype(bool)
    x = np.column_stack([feats[prefix + f][keep] for f in features])
    return x, coeffs[keep], names, features, {k: v[keep] for k, v in feats.items()}


def train_bits(
    sample: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    level: str = "reco",
    features: Sequence[str] | None = None,
    joint: bool = False,
    overwrite: bool = False,
    callback: Callable[[int, int], None] | None = None,
    **bit_params,
) -> Path:
    """Train :class:`~higgsflow.eft.bit.EFTInformationTrees` on the even rows of a sample."""
    from higgsflow.eft.bit import BoostedInformationTree, EFTInformationTrees

    _check_level(level)
    if features is not None and not list(features):
        raise ConfigError("no features given", field="features", expected="at least one feature name")
    # hyperparameters and outputs before reading any data
    BoostedInformationTree(**bit_params)._validate()
    out, side_path = model_paths(out)
    check_outputs([out, side_path], overwrite=overwrite)
    x, coeffs, names, features, _ = _design(sample, level, features, "train")
    if len(x) < 100:
        raise DataError("too few training events", file=sample, expected="at least 100 selected events")
    model = EFTInformationTrees(names, joint=joint, **bit_params).fit(x, coeffs, callback=callback)
    path = model.save(out, overwrite=overwrite)
    side = {"features": features, "level": level, "sample": str(sample), "versions": _versions()}
    side_path.write_text(json.dumps(side, indent=1))
    return path


def expected_limits(
    sample: str | os.PathLike[str],
    model: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    lumi_fb: float = 138.0,
    n_bins: int = 8,
    n_trials: int = 30,
    background_ratio: float = 5.0,
    norm_uncertainty: float = 0.1,
    seed: int = 0,
    n_scan: int = 31,
    profile: bool = True,
    contour: tuple[str, str] | None = ("cHq3", "g2ZZ"),
    background: str | os.PathLike[str] | None = None,
    m_bb_window: tuple[float, float] | None = None,
    overwrite: bool = False,
    callback: Callable[[str], None] | None = None,
) -> dict:
    """Expected 68 %/95 % CL intervals per coefficient and a 2D contour, for the BIT and the exact template.

    Uses the odd rows of the sample and normalisation nuisances of ``norm_uncertainty`` on signal and
    background. The background is the Pythia 8 Z+jets sample ``background`` (default: :func:`background_path`
    of the sample, when that file exists and the model is at detector level), all its selected events, scored
    with the BIT in both templates (the exact ratio is unknown for them); otherwise the placeholder
    ``template.toy_background_weights`` with ``background_ratio`` × the SM signal. ``limits.json`` says which
    (``background.source``). ``m_bb_window`` (GeV) selects reconstructed H → bb̄ candidates in signal and
    background; by default (90, 150) with the Pythia 8 background and none with the placeholder (whose B/S is
    set by ``background_ratio``); ``(0, inf)`` switches it off. Writes ``limits.json``, ``template.png``, ``scans.png`` and ``contour.png``
    into ``out_dir``.
    """
    from higgsflow.eft.bit import EFTInformationTrees
    from higgsflow.eft.fit import EFTLikelihood
    from higgsflow.eft.template import (
        build_template,
        expected_widths,
        optimise_theta_star,
        plot_contour,
        plot_scans,
        plot_template,
        toy_background_weights,
    )

    out_dir = Path(out_dir)
    _positive(lumi_fb, "lumi_fb")
    _positive(n_bins, "n_bins", integer=True)
    _positive(n_trials, "n_trials", integer=True)
    _positive(background_ratio, "background_ratio", zero=True)
    _positive(norm_uncertainty, "norm_uncertainty", zero=True)
    if n_scan < 3:
        raise ConfigError(f"n_scan = {n_scan}", field="n_scan", expected="at least 3 points")
    if m_bb_window is not None and not (len(m_bb_window) == 2 and 0 <= m_bb_window[0] < m_bb_window[1]):
        raise ConfigError(f"{m_bb_window}", field="m_bb_window", expected="(lo, hi) in GeV with 0 <= lo < hi")
    if contour is not None and (len(contour) != 2 or contour[0] == contour[1]):
        raise ConfigError(f"{contour}", field="contour", expected="two different coefficient names")
    # every output before any work
    wanted = [n for n in LIMITS_OUTPUTS if contour is not None or n != "contour.png"]
    check_outputs([out_dir / n for n in wanted], overwrite=overwrite)
    model = Path(model)
    if not model.exists():
        raise DataError("model file not found", file=model, expected="the .npz written by 'eft train'")
    side_path = model.with_suffix(".json")
    if not side_path.exists():
        raise DataError("model sidecar missing", file=side_path, expected="the .json written by train")
    try:
        side = json.loads(side_path.read_text())
    except ValueError as exc:
        raise DataError(
            f"not valid JSON: {exc}", file=side_path, expected="the .json written by train"
        ) from None
    if not isinstance(side, dict) or not {"level", "features"} <= set(side):
        raise DataError("not a model sidecar", file=side_path, expected="the .json written by train")
    bits = EFTInformationTrees.load(model)
    if contour is not None and any(c not in bits.names for c in contour):
        raise ConfigError(
            f"unknown contour coefficients {contour}", field="contour", expected=", ".join(bits.names)
        )
    x, coeffs, names, _, feats = _design(sample, side["level"], side["features"], "test")
    if list(names) != list(bits.names):
        raise DataError("model and sample have different coefficients", file=model, field="names")
    n = len(names)
    say = callback or (lambda msg: None)
    bkg_file = Path(background) if background is not None else background_path(sample)
    if background is not None and not bkg_file.exists():
        raise DataError("background sample not found", file=bkg_file)
    bkg_rc = None
    use_pythia = bkg_file.exists() and side["level"] == "reco"
    if m_bb_window is None and use_pythia:
        m_bb_window = (90.0, 150.0)
    if m_bb_window is not None:
        if side["level"] != "reco":
            raise ConfigError("the m_bb window needs a detector-level model", field="m_bb_window")
        lo, hi = m_bb_window
        win = (feats["reco_m_bb"] > lo) & (feats["reco_m_bb"] < hi)
        if not win.any():
            raise DataError("no signal event in the m_bb window", file=sample, field="m_bb_window")
        x, coeffs, feats = x[win], coeffs[win], {k: v[win] for k, v in feats.items()}
    if use_pythia:
        xb, cb, names_b, _, fb = _design(bkg_file, "reco", side["features"], "all")
        if list(names_b) != list(names):
            raise DataError("background and sample have different coefficients", file=bkg_file, field="names")
        if m_bb_window is not None:
            win = (fb["reco_m_bb"] > m_bb_window[0]) & (fb["reco_m_bb"] < m_bb_window[1])
            xb, cb = xb[win], cb[win]
        bkg, bkg_rc = cb[:, 0], bits.predict_coefficients(xb)
        bkg_info = {"source": "pythia8 Z/gamma*(->ll)+jets", "file": str(bkg_file), "n_events": len(xb)}
    else:
        m_zh = feats[("reco_" if side["level"] == "reco" else "") + "m_zh"]
        bkg = toy_background_weights(coeffs, m_zh, background_ratio)
        bkg_info = {
            "source": "placeholder (SM signal x (m_ZH/300 GeV)^-2)",
            "background_ratio": background_ratio,
        }
    bkg_info["yield_pb"] = float(np.sum(bkg))
    log.info("background: %s", bkg_info["source"])
    say(f"background: {bkg_info['source']}")
    templates = {"BIT": bits.predict_coefficients(x), "exact": coeffs[:, 1:] / coeffs[:, :1]}
    # search box for θ*: a few times the inclusive expected interval of each coefficient
    incl = build_template(templates["exact"], coeffs, np.zeros(n), 1, lumi_fb, bkg, bkg_rc)
    ranges = 2.0 * expected_widths(incl.signal, incl.background, n)
    results: dict = {
        "names": list(names),
        "lumi_fb": lumi_fb,
        "n_bins": n_bins,
        "seed": seed,
        "background": bkg_info,
        "m_bb_window": list(m_bb_window) if m_bb_window is not None else None,
        "norm_uncertainty": norm_uncertainty,
        "n_events": len(x),
        "versions": _versions(),
        "templates": {},
    }
    scans: dict[str, dict] = {nm: {} for nm in names}
    grids = {}
    if contour is not None:
        ci, cj = names.index(contour[0]), names.index(contour[1])
        # common axes for both templates: ± the inclusive (least sensitive) expected interval
        cxs = np.linspace(-0.6 * ranges[ci], 0.6 * ranges[ci], 21)
        cys = np.linspace(-0.6 * ranges[cj], 0.6 * ranges[cj], 21)
    for label, rc in templates.items():
        say(f"θ* search for the {label} template")
        theta_star, best, _ = optimise_theta_star(
            rc,
            coeffs,
            n,
            n_bins,
            lumi_fb,
            ranges,
            n_trials,
            seed,
            background_weights=bkg,
            background_ratio_coeffs=bkg_rc,
        )
        tpl = build_template(rc, coeffs, theta_star, n_bins, lumi_fb, bkg, bkg_rc)
        lik = EFTLikelihood(
            names,
            tpl.signal,
            backgrounds={"zbb": tpl.background},
            norm_uncertainties={"signal": norm_uncertainty, "zbb": norm_uncertainty},
        )
        widths = expected_widths(tpl.signal, tpl.background, n)
        entry = {
            "theta_star": theta_star.tolist(),
            "objective": best,
            "yields": {"signal_sm": tpl.signal[:, 0].tolist(), "background": tpl.background.tolist()},
            "intervals": {},
        }
        for i, nm in enumerate(names):
            say(f"{label}: scanning {nm}")
            values = np.linspace(-1.5 * widths[i], 1.5 * widths[i], n_scan)
            entry["intervals"][nm] = {}
            for prof in (False, True) if profile else (False,):
                for cl in (0.68, 0.95):
                    iv, q = lik.interval(i, values, cl=cl, profile=prof)
                    entry["intervals"][nm][f"{'profiled' if prof else 'fixed'}_{int(cl * 100)}"] = iv.pieces
                scans[nm][f"{label} ({'profiled' if prof else 'others 0'})"] = (values, q)
        if contour is not None:
            say(f"{label}: 2D scan {contour}")
            grids[label] = lik.scan_2d(ci, cj, cxs, cys)
        results["templates"][label] = entry
        if label == "BIT":
            pts = {
                f"{nm} = {0.5 * widths[k]:.3g}": np.eye(n)[k] * 0.5 * widths[k] for k, nm in enumerate(names)
            }
            bit_template, bit_points = tpl, pts
    # every number is computed: now the files (checked at the start), so that a failed fit leaves none behind
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_template(
        bit_template, names, bit_points, out_dir / "template.png", lumi_fb=lumi_fb, overwrite=overwrite
    )
    plot_scans(scans, out_dir / "scans.png", lumi_fb=lumi_fb, overwrite=overwrite)
    if grids:
        plot_contour(cxs, cys, grids, contour, out_dir / "contour.png", lumi_fb=lumi_fb, overwrite=overwrite)
        results["contour"] = {
            "names": list(contour),
            "x": cxs.tolist(),
            "y": cys.tolist(),
            "q": {k: g.tolist() for k, g in grids.items()},
        }
    (out_dir / "limits.json").write_text(json.dumps(results, indent=1))
    return results
