"""Closed-form checks, the config → workspace path, bad input, and the datacard."""

from __future__ import annotations

import numpy as np
import pytest

import higgsflow.stats as st
from higgsflow.errors import ConfigError, DataError
from higgsflow.stats.templates import Template


def one_bin(s: float, b: float, n: float) -> dict:
    return {
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {
                        "name": "sig",
                        "data": [s],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {"name": "bkg", "data": [b], "modifiers": []},
                ],
            }
        ],
        "observations": [{"name": "SR", "data": [n]}],
        "measurements": [
            {
                "name": "m",
                "config": {"poi": "mu", "parameters": [{"name": "mu", "bounds": [[0, 50]], "inits": [1.0]}]},
            }
        ],
        "version": "1.0.0",
    }


@pytest.mark.parametrize(("s", "b"), [(10.0, 50.0), (5.0, 2.0), (30.0, 400.0)])
def test_expected_significance_closed_form(s, b):
    sm = st.StatModel(one_bin(s, b, s + b))
    z = st.significance(sm, expected="prefit")
    z_a = np.sqrt(2 * ((s + b) * np.log(1 + s / b) - s))
    assert z.expected_z == pytest.approx(z_a, rel=0.01)
    assert z.observed_z == pytest.approx(z_a, rel=0.01)  # data = s + b is the Asimov dataset


@pytest.mark.parametrize(("s", "b"), [(10.0, 50.0), (3.0, 1.0), (20.0, 300.0)])
def test_median_expected_cls_limit_closed_form(s, b):
    sm = st.StatModel(one_bin(s, b, b))
    lim = st.upper_limit(sm, poi_tolerance=1e-4)
    mu = lim.expected[2]
    assert 2 * (mu * s - b * np.log(1 + mu * s / b)) == pytest.approx(1.96**2, rel=0.01)
    # the band is ordered and brackets the median; with n = b the observed equals the median expected
    assert np.all(np.diff(lim.expected) > 0)
    assert lim.observed == pytest.approx(mu, rel=0.01)


def test_limits_match_pyhf_upper_limit():
    import pyhf

    spec = one_bin(12.0, 40.0, 45.0)
    spec["channels"][0]["samples"][1]["modifiers"] = [
        {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.92}}
    ]
    sm = st.StatModel(spec)
    ours = st.upper_limit(sm, poi_tolerance=1e-4)
    m, d = sm.model(), sm.data()
    obs, exp = pyhf.infer.intervals.upper_limits.upper_limit(d, m, scan=None, rtol=1e-6)
    assert ours.observed == pytest.approx(float(obs), rel=2e-3)
    assert ours.expected == pytest.approx(np.asarray(exp, float), rel=2e-3)


def two_poi_config() -> st.AnalysisConfig:
    return st.load_config(
        {
            "General": {
                "Measurement": "t",
                "POI": ["mu_cc", "mu_bb"],
                "Lumi": {"Uncertainty": 0.02},
                "MCStat": {"Threshold": 0.01},
            },
            "Regions": [
                {"Name": "SRcc", "Variable": "score", "Binning": [0, 0.5, 1.0], "Selection": "cat == 0"},
                {"Name": "SRbb", "Variable": "score", "Binning": [0, 0.5, 1.0], "Selection": "cat == 1"},
            ],
            "Samples": [{"Name": "cc"}, {"Name": "bb"}, {"Name": "bkg"}],
            "NormFactors": [
                {"Name": "mu_cc", "Samples": ["cc"], "Bounds": [-5, 10]},
                {"Name": "mu_bb", "Samples": ["bb"], "Bounds": [-5, 10]},
            ],
            "Systematics": [
                {
                    "Name": "bkg_xs",
                    "Type": "Normalization",
                    "Up": {"Normalization": 0.05},
                    "Down": {"Normalization": -0.04},
                    "Samples": ["bkg"],
                },
                {
                    "Name": "jes",
                    "Type": "Shape",
                    "Up": {"Weight": "w_up"},
                    "Down": {"Weight": "w_dn"},
                    "SplitNorm": True,
                    "Samples": ["bkg"],
                },
            ],
        }
    )


def two_poi_arrays(seed: int = 1) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for name, n, a in (("cc", 4000, 3.0), ("bb", 4000, 3.0), ("bkg", 40000, 1.0)):
        score = rng.beta(a, 4.0 - a + 1.0, n)
        cat = np.where(
            name == "cc", rng.random(n) < 0.8, rng.random(n) < 0.2 if name == "bb" else rng.random(n) < 0.5
        )
        w = np.full(n, {"cc": 0.02, "bb": 0.03, "bkg": 0.05}[name])
        out[name] = {
            "score": score,
            "cat": (~cat).astype(float),
            "weight": w,
            "w_up": w * (1.03 + 0.05 * score),
            "w_dn": w * (0.97 - 0.05 * score),
        }
    return out


def test_asimov_fit_returns_injected_strengths():
    cfg = two_poi_config()
    spec = st.build_workspace(cfg, st.templates_from_arrays(cfg, two_poi_arrays()))
    sm = st.StatModel(spec)
    for injected in ({"mu_cc": 1.0, "mu_bb": 1.0}, {"mu_cc": 2.5, "mu_bb": 0.5}):
        res = st.fit(sm, asimov=injected)
        assert res["mu_cc"][0] == pytest.approx(injected["mu_cc"], abs=2e-3)
        assert res["mu_bb"][0] == pytest.approx(injected["mu_bb"], abs=2e-3)
        assert res["mu_cc"][1] > 0
    # every modifier kind the config asked for is in the workspace
    kinds = {m["type"] for ch in spec["channels"] for s in ch["samples"] for m in s["modifiers"]}
    assert kinds == {"normfactor", "lumi", "staterror", "normsys", "histosys"}
    # the other POI can be chosen at inference time
    assert sm.model("mu_bb").config.poi_name == "mu_bb"


def test_split_norm_and_histosys_reproduce_templates():
    cfg = two_poi_config()
    t = st.templates_from_arrays(cfg, two_poi_arrays())
    spec = st.build_workspace(cfg, t)
    sm = st.StatModel(spec)
    m = sm.model()
    p = sm.parameters({"jes": 1.0})
    by_sample = np.asarray(m.main_model.expected_data(p, return_by_sample=True))
    k = m.config.samples.index("bkg")
    sl = m.config.channel_slices["SRcc"]
    assert by_sample[k, sl] == pytest.approx(t[("SRcc", "bkg", "jes:up")].yields, rel=1e-6)


def test_bin_merging_meets_requirements():
    edges = np.linspace(0, 1, 11)
    b = np.array([50, 30, 20, 10, 5, 2, 1, 0.5, 0.2, 0.0])
    w2 = b * 0.1
    new = st.merged_edges(edges, b, w2, min_yield=1.0, max_rel_stat=0.3)
    t = Template(b, w2, edges).rebinned(new)
    assert new[0] == 0 and new[-1] == 1
    assert np.all(t.yields >= 1.0)
    assert np.all(np.sqrt(t.sumw2) / t.yields <= 0.3)
    assert t.yields.sum() == pytest.approx(b.sum())


def test_fill_template_keeps_overflow_and_sumw2():
    t = st.fill_template(np.array([-1.0, 0.2, 0.7, 2.0]), [0, 0.5, 1.0], np.array([1.0, 2.0, 3.0, 4.0]))
    assert t.yields.tolist() == [3.0, 7.0]
    assert t.sumw2.tolist() == [5.0, 25.0]


def test_bad_inputs_raise_clear_errors():
    cfg = two_poi_config()
    arr = two_poi_arrays()
    t = st.templates_from_arrays(cfg, arr)
    bad = dict(t)
    y = t[("SRcc", "bkg", "nominal")]
    bad[("SRcc", "bkg", "nominal")] = Template(np.array([np.nan, 1.0]), y.sumw2, y.edges)
    with pytest.raises(DataError, match=r"SRcc/bkg/nominal.*NaN"):
        st.build_workspace(cfg, bad)
    bad[("SRcc", "bkg", "nominal")] = Template(np.array([-1.0, 1.0]), y.sumw2, y.edges)
    with pytest.raises(DataError, match="negative yield"):
        st.build_workspace(cfg, bad)
    bad[("SRcc", "bkg", "nominal")] = Template(np.array([0.0, 1.0]), y.sumw2, y.edges)
    with pytest.raises(DataError, match="zero total background"):
        st.build_workspace(cfg, bad)
    for s in ("cc", "bb", "bkg"):
        z = t[("SRbb", s, "nominal")]
        bad[("SRbb", s, "nominal")] = Template(np.zeros(2), np.zeros(2), z.edges)
    bad[("SRcc", "bkg", "nominal")] = y
    with pytest.raises(DataError, match="empty region"):
        st.build_workspace(cfg, bad)
    raw = {
        "General": {"POI": "mu"},
        "Regions": [{"Name": "A"}],
        "Samples": [{"Name": "s"}],
        "NormFactors": [{"Name": "mu", "Samples": ["s"]}],
        "Systematics": [
            {"Name": "x", "Type": "Normalization", "Up": {"Normalization": 0.1}, "Samples": ["ttX"]}
        ],
    }
    with pytest.raises(ConfigError, match=r"Systematics.x.Samples: unknown name 'ttX'"):
        st.load_config(raw)
    raw["Systematics"] = []
    raw["General"]["Interpolation"] = {"normsys": "code9"}
    with pytest.raises(ConfigError, match="interpolation"):
        st.load_config(raw)


def test_workspace_and_datacard_outputs(tmp_path):
    import uproot

    cfg = two_poi_config()
    t = st.templates_from_arrays(cfg, two_poi_arrays())
    spec = st.build_workspace(cfg, t)
    p = st.write_workspace(spec, tmp_path / "ws.json")
    with pytest.raises(DataError, match="exists"):
        st.write_workspace(spec, p)
    card, shapes = st.write_datacard(spec, tmp_path / "combine", mcstat_threshold=cfg.mcstat_threshold)
    text = card.read_text()
    assert "shapes * * shapes.root" in text and "bkg_xs" in text and "lnN" in text
    assert "0.96/1.05" in text
    assert "jes" in text and "shape" in text and "mu_cc rateParam SRcc cc" in text
    with uproot.open(shapes) as f:
        nom = f["SRcc/bkg"].values()
        up = f["SRcc/bkg_jesUp"].values()
        assert nom == pytest.approx(t[("SRcc", "bkg", "nominal")].yields)
        assert up == pytest.approx(t[("SRcc", "bkg", "jes:up")].yields, rel=1e-9)
        assert f["SRcc/data_obs"].values().sum() == pytest.approx(
            nom.sum() + f["SRcc/cc"].values().sum() + f["SRcc/bb"].values().sum()
        )


@pytest.mark.parametrize(("s", "b", "n"), [(20.0, 30.0, 55.0), (8.0, 4.0, 15.0)])
def test_scan_interval_ends_are_exact_on_a_coarse_grid(s, b, n):
    """One Poisson bin: 2ΔNLL(μ) = 2[(μs + b − n) − n ln((μs + b)/n)]; the 68%/95% ends on a 7-point grid
    agree with the closed form to 1e-4 (linear interpolation between grid points was off by ~0.07)."""
    from scipy.optimize import brentq

    sm = st.StatModel(one_bin(s, b, n))
    res = st.scan(sm, "mu", np.linspace(0.0, 6.0, 7))
    mu_hat = (n - b) / s

    def q(mu):
        return 2 * ((mu * s + b - n) - n * np.log((mu * s + b) / n))

    assert res.bestfit == pytest.approx(mu_hat, abs=1e-3)
    for level, (lo, hi) in ((1.0, res.interval68), (3.84, res.interval95)):
        exact_lo = brentq(lambda m, lv=level: q(m) - lv, -b / s + 1e-9, mu_hat) if q(0) > level else -np.inf
        exact_hi = brentq(lambda m, lv=level: q(m) - lv, mu_hat, 50)
        assert hi == pytest.approx(exact_hi, abs=1e-4)
        if np.isfinite(exact_lo):
            assert lo == pytest.approx(exact_lo, abs=1e-4)
