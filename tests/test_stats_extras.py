"""κ framework, scans, impacts, yields, plots, the CLI, and the runnable docs example."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import higgsflow.stats as st
from higgsflow.stats import kappa

DOCS = Path(__file__).resolve().parents[1] / "docs" / "stats.md"


def small_model(data_mu: float = 1.0) -> tuple[dict, st.StatModel]:
    spec = {
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {
                        "name": "ttHcc",
                        "data": [2.0, 5.0, 9.0],
                        "modifiers": [{"name": "mu_ttHcc", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "ttHbb",
                        "data": [3.0, 6.0, 4.0],
                        "modifiers": [{"name": "mu_ttHbb", "type": "normfactor", "data": None}],
                    },
                    {
                        "name": "bkg",
                        "data": [100.0, 40.0, 12.0],
                        "modifiers": [
                            {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}},
                            {"name": "lumi", "type": "lumi", "data": None},
                        ],
                    },
                ],
            }
        ],
        "observations": [{"name": "SR", "data": [100 + 5 * data_mu, 46 + 6 * data_mu, 12 + 13 * data_mu]}],
        "measurements": [
            {
                "name": "m",
                "config": {
                    "poi": "mu_ttHcc",
                    "parameters": [
                        {"name": "mu_ttHcc", "bounds": [[-10, 30]], "inits": [1.0]},
                        {"name": "mu_ttHbb", "bounds": [[-10, 30]], "inits": [1.0]},
                        {
                            "name": "lumi",
                            "auxdata": [1.0],
                            "sigmas": [0.02],
                            "bounds": [[0.9, 1.1]],
                            "inits": [1.0],
                        },
                    ],
                },
            }
        ],
        "version": "1.0.0",
    }
    return spec, st.StatModel(spec)


def test_width_and_signal_strengths():
    assert kappa.width_ratio(1.0, 1.0) == pytest.approx(1.0)
    mu = kappa.signal_strengths(2.0, 1.0)
    g = 1 + 0.02884 * 3
    assert mu["ttHcc"] == pytest.approx(4 / g)
    assert mu["ttHbb"] == pytest.approx(1 / g)
    assert sum(kappa.SM_BR.values()) == pytest.approx(1.0, abs=2e-3)


def test_kappa_scan_has_minimum_at_sm_on_asimov():
    _, sm = small_model()
    res = kappa.kappa_scan(sm, np.linspace(0, 6, 13), asimov=True)
    assert res.bestfit == pytest.approx(1.0, abs=0.05)
    assert res.delta_twice_nll.min() >= -1e-6
    lim = kappa.kappa_limit(res)
    assert 1.0 < lim < 6.0
    # the κ_c limit is where the profiled μ_ttHcc(κ_c) reaches its own 95% profile-likelihood bound
    s1 = st.scan(sm, "mu_ttHcc", np.linspace(0, 12, 25), asimov=True, fix={"mu_ttHbb": 1.0})
    mu_at_lim = kappa.signal_strengths(lim, 1.0)
    assert mu_at_lim["ttHcc"] == pytest.approx(s1.interval95[1], rel=0.01)
    # the ends do not depend on the grid: a coarse scan agrees with a fine one
    fine = kappa.kappa_scan(sm, np.linspace(0, 6, 121), asimov=True)
    for a, b in ((res.interval68, fine.interval68), (res.interval95, fine.interval95)):
        np.testing.assert_allclose(a, b, atol=2e-3)


def test_kappa_2d_contains_sm():
    _, sm = small_model()
    res = kappa.kappa_scan_2d(sm, np.linspace(0.0, 4.0, 5), np.linspace(0.5, 1.5, 3), asimov=True)
    assert res.delta_twice_nll[1, 1] < 2.30  # (κ_c, κ_b) = (1, 1) is inside the 68% contour


def test_scan_interval_matches_hesse_error():
    _, sm = small_model()
    f = st.fit(sm, asimov=True)
    _, err = f["mu_ttHcc"]
    res = st.scan(sm, "mu_ttHcc", np.linspace(-0.5, 2.5, 31), asimov=True)
    assert res.bestfit == pytest.approx(1.0, abs=0.02)
    lo, hi = res.interval68
    assert (hi - lo) / 2 == pytest.approx(err, rel=0.1)
    r2 = st.scan_2d(sm, ("mu_ttHcc", "mu_ttHbb"), np.linspace(0, 2, 5), np.linspace(0, 2, 5), asimov=True)
    assert np.unravel_index(np.argmin(r2.delta_twice_nll), r2.delta_twice_nll.shape) == (2, 2)


def test_impacts_and_yields():
    _, sm = small_model(data_mu=2.0)
    f = st.fit(sm)
    imp = st.impacts(sm, fit_result=f, n_workers=1)
    assert set(imp.labels) == {"bkg_norm", "lumi", "mu_ttHbb"}
    # near-Gaussian likelihood: fixing θ at θ̂ ± σ_θ moves μ̂ by ±ρ(μ, θ)·σ_μ
    i_mu = f.labels.index("mu_ttHcc")
    for name in ("bkg_norm", "mu_ttHbb"):
        k, j = imp.labels.index(name), f.labels.index(name)
        rho_sigma = f.correlation[i_mu, j] * f.uncertainty[i_mu]
        assert imp.postfit_up[k] == pytest.approx(rho_sigma, rel=0.25, abs=0.02)
        assert imp.postfit_down[k] == pytest.approx(-rho_sigma, rel=0.25, abs=0.02)
    assert np.isnan(imp.prefit_up[imp.labels.index("mu_ttHbb")])  # unconstrained: no pre-fit width
    pre, post = st.yields(sm), st.yields(sm, f)
    d = pre.data["SR"]
    assert post.yields["SR"].sum() == pytest.approx(d.sum(), rel=0.02)
    bkg = pre.samples.index("bkg")
    # pre-fit bkg uncertainty: 5% normsys and 2% lumi in quadrature
    assert pre.uncertainty["SR"][bkg] == pytest.approx(pre.yields["SR"][bkg] * np.hypot(0.05, 0.02), rel=0.02)
    from higgsflow.stats.plots import yield_table_latex, yield_table_text

    assert "bkg" in yield_table_text(post) and r"\begin{tabular}" in yield_table_latex(post)


def test_plots_write_files(tmp_path):
    from higgsflow.stats import plots

    _, sm = small_model(data_mu=2.0)
    f = st.fit(sm)
    plots.plot_stack(st.yields(sm, f), "SR", path=tmp_path / "stack.png")
    lim = st.upper_limit(sm)
    plots.plot_limits({"ttH(cc)": lim}, path=tmp_path / "lim.png")
    plots.plot_scan(st.scan(sm, values=np.linspace(0, 6, 7)), path=tmp_path / "scan.png")
    plots.plot_impacts(st.impacts(sm, fit_result=f, n_workers=1), path=tmp_path / "imp.png")
    plots.plot_correlation(f, path=tmp_path / "corr.png")
    assert all(
        (tmp_path / n).stat().st_size > 1000
        for n in ("stack.png", "lim.png", "scan.png", "imp.png", "corr.png")
    )
    from higgsflow.errors import DataError

    with pytest.raises(DataError, match="exists"):
        plots.plot_correlation(f, path=tmp_path / "corr.png")


def test_cli(tmp_path, capsys):
    from higgsflow.cli import main

    spec, _ = small_model(data_mu=2.0)
    ws = tmp_path / "ws.json"
    ws.write_text(json.dumps(spec))
    assert main(["stats", "limit", str(ws), "--out", str(tmp_path / "lim.json")]) == 0
    lim = json.loads((tmp_path / "lim.json").read_text())
    assert 0 < lim["expected"][2] < lim["expected"][4]
    assert main(["stats", "significance", str(ws)]) == 0
    assert "observed Z" in capsys.readouterr().out
    assert main(["stats", "fit", str(ws)]) == 0
    assert "mu_ttHcc" in capsys.readouterr().out
    assert main(["stats", "limit", str(tmp_path / "missing.json")]) == 1
    assert main(["stats", "fit", str(ws), "--poi", "nope"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "missing.json: workspace not found" in err[0] and "--poi" in err[1]


def test_cli_build_from_parquet(tmp_path):
    import awkward as ak
    import yaml

    from higgsflow.cli import main

    rng = np.random.default_rng(3)
    for name, n, a in (("sig", 2000, 4.0), ("bkg", 20000, 1.0)):
        ak.to_parquet(
            ak.Array({"score": rng.beta(a, 2.0, n), "weight": np.full(n, 0.01 if name == "sig" else 0.02)}),
            tmp_path / f"{name}.parquet",
        )
    cfg = {
        "General": {"POI": "mu"},
        "Regions": [{"Name": "SR", "Variable": "score", "Binning": [0, 0.5, 0.8, 1]}],
        "Samples": [{"Name": "sig", "Path": "sig.parquet"}, {"Name": "bkg", "Path": "bkg.parquet"}],
        "NormFactors": [{"Name": "mu", "Samples": ["sig"], "Bounds": [0, 20]}],
    }
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(cfg))
    argv = ["stats", "build", str(tmp_path / "a.yaml"), "-o", str(tmp_path / "ws.json")]
    assert main([*argv, "--datacard", str(tmp_path / "card")]) == 0
    spec = json.loads((tmp_path / "ws.json").read_text())
    assert spec["channels"][0]["samples"][1]["data"][0] > 0
    assert (tmp_path / "card" / "datacard.txt").exists()


def test_docs_example_runs(tmp_path, monkeypatch):
    text = DOCS.read_text()
    code = re.findall(r"```python\n(.*?)```", text, re.S)
    assert code, "docs/stats.md has no python example"
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(code[0], str(DOCS), "exec"), ns)
    assert (tmp_path / "limit.png").exists() and (tmp_path / "kappa_c.png").exists()
    lim, scan = ns["limit"], ns["scan"]
    assert lim.expected[0] < lim.expected[2] < lim.expected[4]
    assert lim.observed > lim.expected[2]  # no data given: Asimov data with the signal, above the median
    assert scan.bestfit == pytest.approx(1.0, abs=0.3)


@pytest.mark.slow
def test_toy_limit_close_to_asymptotic_for_large_counts():
    _, sm = small_model(data_mu=0.0)
    asym = st.upper_limit(sm)
    grid = np.linspace(0.4, 1.6, 7) * asym.expected[2]
    toys = st.upper_limit(sm, calculator="toys", ntoys=200, seed=1, toy_scan=grid)
    assert toys.calculator == "toys"
    assert toys.expected[2] == pytest.approx(asym.expected[2], rel=0.2)
