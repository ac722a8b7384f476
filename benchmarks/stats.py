"""Benchmark: higgsflow.stats vs cabinetry on a ttH(cc)-sized model.

27 regions × 15 bins, 10 samples, 4 POIs + 2 free background normalisations, 20 normalisation and 10 shape
systematics, luminosity and the MC-statistics γ's that survive a 5% threshold (≈40 nuisance parameters).
Times, in the same process and with the same Minuit tolerance (0.1) and interpolation (code 4/4p):

* the ML fit with uncertainties and correlations (``higgsflow.stats.fit`` vs ``cabinetry.fit.fit``);
* the 95% CL CLs upper limit with the expected band (``upper_limit`` vs ``cabinetry.fit.limit``, both with an
  absolute POI tolerance of 0.01);
* pre- and post-fit impacts of every nuisance parameter (``impacts`` vs ``cabinetry.fit.ranking``), both
  given their own best fit.

Run: ``PYTHONPATH=src /work/venv/bin/python benchmarks/stats.py [--quick]``
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

import higgsflow.stats as st

SAMPLES = ["ttHcc", "ttHbb", "ttZcc", "ttZbb", "ttlf", "ttc", "ttcc", "ttb", "ttbb", "singletop"]
POIS = {"mu_ttHcc": "ttHcc", "mu_ttHbb": "ttHbb", "mu_ttZcc": "ttZcc", "mu_ttZbb": "ttZbb"}


def ttHcc_like_workspace(
    n_regions: int = 27, n_bins: int = 15, n_norm: int = 20, n_shape: int = 10, seed: int = 7
) -> tuple[dict, st.AnalysisConfig]:
    """Build the benchmark model through higgsflow's own config → templates → workspace path."""
    rng = np.random.default_rng(seed)
    regions = [f"R{r:02d}" for r in range(n_regions)]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    x = 0.5 * (edges[:-1] + edges[1:])
    templates = {}
    for r, reg in enumerate(regions):
        for k, s in enumerate(SAMPLES):
            sig = s.startswith("ttH") or s.startswith("ttZ")
            # each region is enriched in one process (like the classifier's categories), and every process
            # has its own score shape, so that the 4 POIs and 2 free normalisations are all constrained
            slope = 1.5 + 0.7 * k if sig else -2.0 + 0.4 * (k % 5)
            scale = (12.0 if s.startswith("ttH") else 15.0) if sig else 400.0 / (1 + k % 4)
            scale *= 4.0 if r % len(SAMPLES) == k else 1.0
            shape = np.exp(slope * x)
            y = scale * shape / shape.sum() * (1.0 + 0.3 * rng.random())
            rel = 0.02 + 0.10 * x**3  # MC precision worst in the signal-like bins
            w2 = (rel * y) ** 2
            templates[(reg, s, "nominal")] = st.Template(y, w2, edges)
            for j in range(n_shape):
                # distinct shapes: Legendre polynomials of order 1-3, localised bumps, sample-dependent sizes
                u = 2 * x - 1
                form = [
                    u,
                    0.5 * (3 * u**2 - 1),
                    0.5 * (5 * u**3 - 3 * u),
                    np.exp(-(((x - 0.2 - 0.15 * (j % 5)) / 0.1) ** 2)),
                ][j % 4]
                eff = 0.03 * (1 + (j + k) % 3) * form * (0.0 if (j + k) % 4 == 0 else 1.0)
                templates[(reg, s, f"shape{j}:up")] = st.Template(y * (1 + eff + 0.01 * (j % 2)), w2, edges)
                templates[(reg, s, f"shape{j}:down")] = st.Template(
                    y * (1 - eff - 0.008 * (j % 2)), w2, edges
                )
        b = sum(templates[(reg, s, "nominal")].yields for s in SAMPLES if s not in POIS.values())
        sgn = sum(templates[(reg, s, "nominal")].yields for s in POIS.values())
        templates[(reg, "data", "nominal")] = st.Template(np.round(b + sgn), np.zeros(n_bins), edges)
    systs = []
    for j in range(n_norm):
        samples = [SAMPLES[(j + i) % len(SAMPLES)] for i in range(1 + j % 3)]
        systs.append(
            {
                "Name": f"norm{j}",
                "Type": "Normalization",
                "Up": {"Normalization": 0.02 + 0.01 * (j % 7)},
                "Down": {"Normalization": -(0.015 + 0.01 * (j % 5))},
                "Samples": samples,
            }
        )
    for j in range(n_shape):
        systs.append({"Name": f"shape{j}", "Type": "Shape", "SplitNorm": bool(j % 2)})
    raw = {
        "General": {
            "Measurement": "ttHcc_bench",
            "POI": list(POIS),
            "Lumi": {"Uncertainty": 0.016},
            "MCStat": {"Threshold": 0.05},
        },
        "Regions": [{"Name": r} for r in regions],
        "Samples": [{"Name": "data", "Data": True}] + [{"Name": s} for s in SAMPLES],
        "NormFactors": [{"Name": p, "Samples": [s], "Bounds": [0, 20]} for p, s in POIS.items()]
        + [
            {"Name": "k_ttcc", "Samples": ["ttcc"], "Bounds": [0, 5]},
            {"Name": "k_ttbb", "Samples": ["ttbb"], "Bounds": [0, 5]},
        ],
        "Systematics": systs,
    }
    cfg = st.load_config(raw)
    return st.build_workspace(cfg, templates), cfg


def _time(fn, repeat: int = 1):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def cabinetry_ranking_subset(cabinetry, model, data, fit_results, labels: list[str]):
    """cabinetry.fit.ranking's own loop (4 ``_fit_model`` calls per parameter), restricted to ``labels``."""
    from cabinetry import model_utils

    par_names = model.config.par_names
    prefit_unc = model_utils.prefit_uncertainties(model)
    poi_index = model.config.poi_index
    nominal = fit_results.bestfit[poi_index]
    init, fix = model.config.suggested_init(), model.config.suggested_fixed()
    out = {}
    for label in labels:
        i = par_names.index(label)
        fixr = fix.copy()
        fixr[i] = True
        row = []
        for v in (
            fit_results.bestfit[i] + prefit_unc[i],
            fit_results.bestfit[i] - prefit_unc[i],
            fit_results.bestfit[i] + fit_results.uncertainty[i],
            fit_results.bestfit[i] - fit_results.uncertainty[i],
        ):
            if v == fit_results.bestfit[i]:
                row.append(0.0)
                continue
            ini = init.copy()
            ini[i] = v
            row.append(
                cabinetry.fit._fit_model(model, data, init_pars=ini, fix_pars=fixr).bestfit[poi_index]
                - nominal
            )
        out[label] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--regions", type=int, default=27, help="number of regions (27 = the ttH(cc) size)")
    ap.add_argument(
        "--impact-params",
        type=int,
        default=None,
        help="time the impacts of only the first N nuisance parameters, for both tools (default: all)",
    )
    ap.add_argument(
        "--quick", action="store_true", help="4 regions and 8 impact parameters: minutes, not hours"
    )
    ap.add_argument("--workers", type=int, default=None, help="processes for the impacts (default: all CPUs)")
    ap.add_argument("--only", default="fit,limit,impacts", help="comma-separated tasks to time")
    args = ap.parse_args()
    tasks = set(args.only.split(","))
    if args.quick:
        args.regions, args.impact_params = 4, args.impact_params or 8
    logging.basicConfig(level=logging.WARNING)
    import cabinetry
    import pyhf

    spec, _ = ttHcc_like_workspace(n_regions=args.regions)
    sm = st.StatModel(spec)
    m = sm.model()
    n_free = sum(1 for f in m.config.suggested_fixed() if not f)
    print(
        f"model: {len(m.config.channels)} regions, {m.config.nmaindata} bins, "
        f"{len(m.config.samples)} samples, "
        f"{n_free - 6} free nuisance parameters + 6 normfactors (4 POIs)",
        flush=True,
    )
    pyhf.set_backend("numpy")
    model, data = cabinetry.model_utils.model_and_data(spec)
    rows = []

    def report(name, th, tc, note):
        rows.append((name, th, tc, note))
        print(f"  {name}: higgsflow {th:.1f} s, cabinetry {tc:.1f} s ({tc / th:.2f}x) {note}", flush=True)

    # best of 3: the fits are short and the first call of either tool pays one-off warm-up costs
    t_h, f_h = _time(lambda: st.fit(sm), repeat=3)  # the impacts start from these fits, so always timed
    t_c, f_c = _time(lambda: cabinetry.fit.fit(model, data), repeat=3)
    dev = np.max(np.abs(f_h.bestfit - f_c.bestfit) / np.maximum(f_c.uncertainty, 1e-9))
    dunc = np.nanmax(np.abs(f_h.uncertainty / np.where(f_c.uncertainty > 0, f_c.uncertainty, np.nan) - 1))
    report("fit (MIGRAD+HESSE)", t_h, t_c, f"max |Δθ̂|/σ = {dev:.3f}, max rel. Δσ = {dunc:.3f}")

    if "limit" in tasks:
        t_h, l_h = _time(lambda: st.upper_limit(sm))
        t_c, l_c = _time(lambda: cabinetry.fit.limit(model, data))
        rel = max(abs(l_h.observed / l_c.observed_limit - 1), *np.abs(l_h.expected / l_c.expected_limit - 1))
        report("upper limit (obs + 5 exp)", t_h, t_c, f"μ_up = {l_h.observed:.3f}, max rel. diff = {rel:.4f}")

    if "impacts" in tasks:
        labels = [
            lab
            for k, lab in enumerate(m.config.par_names)
            if k != m.config.poi_index and not m.config.suggested_fixed()[k]
        ]
        labels = labels[: args.impact_params] if args.impact_params else labels
        t_h, i_h = _time(lambda: st.impacts(sm, fit_result=f_h, parameters=labels, n_workers=args.workers))
        t_c, i_c = _time(lambda: cabinetry_ranking_subset(cabinetry, model, data, f_c, labels))
        c_post = np.array([i_c[lab][2] for lab in i_h.labels])
        d_post = np.nanmax(np.abs(i_h.postfit_up - c_post)) / i_h.poi_uncertainty
        report(f"impacts, pre+post ({len(labels)} NPs)", t_h, t_c, f"max |Δ impact|/σ_μ = {d_post:.3f}")

    print(f"{'task':34s} {'higgsflow [s]':>14s} {'cabinetry [s]':>14s} {'speed-up':>9s}   agreement")
    for name, th, tc, note in rows:
        print(f"{name:34s} {th:14.2f} {tc:14.2f} {tc / th:8.2f}x   {note}")
    tot_h, tot_c = sum(r[1] for r in rows), sum(r[2] for r in rows)
    print(f"{'total':34s} {tot_h:14.2f} {tot_c:14.2f} {tot_c / tot_h:8.2f}x")


if __name__ == "__main__":
    main()
