"""Tagger metrics with their statistical intervals, and the ROC and score figures (CMS style, AUC in legends)."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from scipy import stats

from higgsflow.evaluate import (
    FEW_JETS,
    auc_with_error,
    clopper_pearson,
    compute_metrics,
    rejection_with_interval,
)

NAMES = ["label_QCD", "label_Hbb", "label_Hcc", "label_Tbqq", "label_Wqq"]


# ---------------------------------------------------------------- Clopper–Pearson


@pytest.mark.parametrize(("k", "n"), [(1, 10), (2, 51), (7, 60), (30, 60), (59, 60), (250, 1000)])
def test_clopper_pearson_is_the_beta_quantile(k, n):
    for cl in (0.6827, 0.95):
        lo, hi = clopper_pearson(k, n, cl)
        a = 1 - cl
        assert lo == pytest.approx(stats.beta.ppf(a / 2, k, n - k + 1), rel=1e-9)
        assert hi == pytest.approx(stats.beta.ppf(1 - a / 2, k + 1, n - k), rel=1e-9)
        # the defining tail sums of the binomial: P(X ≥ k | lo) = P(X ≤ k | hi) = α/2
        assert stats.binom.sf(k - 1, n, lo) == pytest.approx(a / 2, rel=1e-6)
        assert stats.binom.cdf(k, n, hi) == pytest.approx(a / 2, rel=1e-6)


def test_clopper_pearson_edges_in_closed_form():
    n, cl = 51, 0.6827
    a = 1 - cl
    lo, hi = clopper_pearson(0, n, cl)
    assert lo == 0.0 and hi == pytest.approx(1 - (a / 2) ** (1 / n), rel=1e-9)
    lo, hi = clopper_pearson(n, n, cl)
    assert hi == 1.0 and lo == pytest.approx((a / 2) ** (1 / n), rel=1e-9)


@pytest.mark.parametrize("p", [0.01, 0.04, 0.2, 0.5])
def test_clopper_pearson_covers_at_least_its_confidence_level(p):
    n, cl = 60, 0.6827
    ks = np.arange(n + 1)
    covered = np.array([lo <= p <= hi for lo, hi in (clopper_pearson(k, n, cl) for k in ks)])
    assert stats.binom.pmf(ks, n, p)[covered].sum() >= cl


# ---------------------------------------------------------------- AUC and its error


def test_auc_matches_sklearn_and_its_error_matches_the_bootstrap():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(7)
    sig, bkg = rng.normal(1.0, 1.0, 300), rng.normal(0.0, 1.0, 500)
    disc = np.round(np.r_[sig, bkg], 1)  # ties count one half
    is_sig = np.r_[np.ones(300, bool), np.zeros(500, bool)]
    auc, se = auc_with_error(disc, is_sig)
    assert auc == pytest.approx(roc_auc_score(is_sig, disc), abs=1e-12)
    boot = []
    for _ in range(400):
        i = np.r_[rng.integers(0, 300, 300), 300 + rng.integers(0, 500, 500)]
        boot.append(roc_auc_score(is_sig[i], disc[i]))
    assert se == pytest.approx(np.std(boot), rel=0.15)
    # Hanley–McNeil's approximation for normal scores agrees too
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    hm = np.sqrt((auc * (1 - auc) + 299 * (q1 - auc**2) + 499 * (q2 - auc**2)) / (300 * 500))
    assert se == pytest.approx(hm, rel=0.15)


# ---------------------------------------------------------------- rejection with its count


def _two_of_fifty_one():
    """100 signal jets uniform in (0, 1) and 51 background jets of which 2 lie above the 50 % cut."""
    sig = np.linspace(0.005, 0.995, 100)
    bkg = np.r_[0.9, 0.8, np.linspace(0.0, 0.2, 49)]
    return np.r_[sig, bkg], np.r_[np.ones(100, bool), np.zeros(51, bool)]


def test_rejection_interval_is_the_inverted_clopper_pearson_interval():
    disc, is_sig = _two_of_fifty_one()
    r = rejection_with_interval(disc, is_sig, 0.5)
    assert r.value == pytest.approx(25.5)  # the "25.5 = 2 jets passing"
    assert (r.n_pass, r.n_background) == (2, 51)
    a = 1 - r.cl
    assert r.low == pytest.approx(1 / stats.beta.ppf(1 - a / 2, 3, 49), rel=1e-9)
    assert r.high == pytest.approx(1 / stats.beta.ppf(a / 2, 2, 50), rel=1e-9)
    assert r.low < r.value < r.high
    assert r.rough


def test_no_background_passing_gives_a_lower_limit():
    sig = np.linspace(0.5, 1.0, 40)
    bkg = np.linspace(0.0, 0.1, 30)
    r = rejection_with_interval(np.r_[sig, bkg], np.r_[np.ones(40, bool), np.zeros(30, bool)], 0.5)
    assert r.value == np.inf and r.high == np.inf and r.n_pass == 0
    a = 1 - r.cl
    assert r.low == pytest.approx(1 / (1 - (a / 2) ** (1 / 30)), rel=1e-9)


def _scores(labels, strength, rng):
    s = rng.dirichlet(np.ones(5), len(labels))
    s[np.arange(len(labels)), labels] += rng.exponential(strength, len(labels))
    return s / s.sum(1, keepdims=True)


def test_metrics_flag_figures_resting_on_few_jets():
    rng = np.random.default_rng(3)
    labels = np.repeat(np.arange(5), 60)
    m = compute_metrics(_scores(labels, 1.5, rng), labels, NAMES)
    assert m.rough and all(m.rejection_detail[c].n_pass < FEW_JETS for c in m.rough)
    rows = {r.quantity: r for r in m.rows()}
    rough_rows = [r for r in rows.values() if r.rough]
    assert len(rough_rows) == len(m.rough)
    for r in rough_rows:
        assert "of 60 QCD pass" in r.basis
    table = dict(m.table())
    assert any(v.endswith("*") for v in table.values())
    assert any(k.startswith("* fewer than 10 QCD jets pass") for k in table)
    # with many background jets passing, nothing is flagged
    labels = np.repeat(np.arange(5), 3000)
    m = compute_metrics(_scores(labels, 0.3, rng), labels, NAMES)
    assert min(r.n_pass for r in m.rejection_detail.values()) >= FEW_JETS
    assert not m.rough and not any(k.startswith("*") for k, _ in m.table())


def test_every_figure_has_an_interval_that_contains_it():
    rng = np.random.default_rng(4)
    labels = np.repeat(np.arange(5), 80)
    m = compute_metrics(_scores(labels, 0.8, rng), labels, NAMES)
    lo, hi = m.accuracy_interval
    assert lo < m.accuracy < hi
    lo, hi = m.auc_interval
    assert lo < m.auc < hi
    for name, auc in m.auc_per_class.items():
        lo, hi = m.auc_per_class_interval(name)
        assert lo < auc < hi and m.auc_per_class_error[name] > 0
    for r in m.rejection_detail.values():
        assert r.low <= r.value <= r.high
    d = json.loads(json.dumps(m.to_dict()))  # JSON-clean (no inf)
    assert d["background_passing"] == {k: r.n_pass for k, r in m.rejection_detail.items()}
    assert d["confidence_level"] == pytest.approx(0.6827)


def test_table_speaks_plainly():
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(5), 60)
    text = " ".join(k + " " + v for k, v in compute_metrics(_scores(labels, 1.0, rng), labels, NAMES).table())
    for jargon in ("Rej50", "issue", "gate", "FAIL", "macro", "one-vs-rest"):
        assert jargon not in text


# ---------------------------------------------------------------- figures


@pytest.fixture
def captured(monkeypatch):
    """The figures the plot functions save, with their texts, before they are closed."""
    import higgsflow.evaluate.plots as plots

    seen = {}
    real = plots.save_figure

    def keep(fig, path, **kw):
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        legends = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        titles = [ax.get_title(loc="right") for ax in fig.axes]
        seen[str(path)] = {
            "texts": texts,
            "legend": legends,
            "titles": titles,
            "axes": [(ax.get_xlabel(), ax.get_ylabel(), ax.get_yscale()) for ax in fig.axes if ax.axison],
        }
        return real(fig, path, **kw)

    monkeypatch.setattr(plots, "save_figure", keep)
    return seen


def test_roc_figure_has_cms_header_log_axis_and_auc_in_legend(tmp_path, captured):
    from sklearn.metrics import roc_auc_score

    from higgsflow.evaluate.plots import plot_roc

    rng = np.random.default_rng(6)
    labels = np.repeat(np.arange(5), 60)
    scores = _scores(labels, 1.0, rng)
    path = plot_roc(scores, labels, NAMES, "QCD", tmp_path / "roc.png", com=13.6)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    fig = captured[str(path)]
    assert "CMS" in fig["texts"] and "Simulation Private Work" in fig["texts"]
    assert any("13.6 TeV" in t for t in fig["texts"])
    xlabel, ylabel, yscale = fig["axes"][0]
    assert "efficiency" in xlabel and "rejection" in ylabel and yscale == "log"
    shown = dict(re.fullmatch(r"(\w+) vs QCD \(AUC = ([0-9.]+)\)", t).groups() for t in fig["legend"][:-1])
    assert list(shown) == ["Hbb", "Hcc", "Tbqq", "Wqq"]
    for k, name in enumerate(shown, start=1):
        sel = (labels == k) | (labels == 0)
        disc = scores[sel, k] / (scores[sel, k] + scores[sel, 0])
        assert float(shown[name]) == pytest.approx(roc_auc_score(labels[sel] == k, disc), abs=5.01e-4)
    assert "fewer than 10 QCD jets pass" in fig["legend"]


def test_score_figure_has_header_units_and_class_legend(tmp_path, captured):
    from higgsflow.evaluate.plots import plot_scores

    rng = np.random.default_rng(6)
    labels = np.repeat(np.arange(5), 40)
    path = plot_scores(_scores(labels, 1.0, rng), labels, NAMES, tmp_path / "scores.png", com=13.0)
    assert path.stat().st_size > 10_000
    fig = captured[str(path)]
    assert "CMS" in fig["texts"] and "(13 TeV)" in fig["titles"]
    assert [a[0] for a in fig["axes"]] == [f"Score {c}" for c in ["QCD", "Hbb", "Hcc", "Tbqq", "Wqq"]]
    assert all(a[1] == "Fraction of jets / 0.04" and a[2] == "log" for a in fig["axes"])
    assert fig["legend"] == [f"true {c} (40 jets)" for c in ["QCD", "Hbb", "Hcc", "Tbqq", "Wqq"]]


def test_sqrt_s_comes_from_the_files(tmp_path):
    from higgsflow.data.io import write_table
    from higgsflow.evaluate.plots import sqrt_s_of

    cols = {"jet_pt": np.ones(3)}
    gen = write_table(
        tmp_path / "gen.parquet",
        cols,
        metadata={
            "processes": {"QCD": {"process": "dijet", "pythia": ["Beams:eCM = 13000", "HardQCD:all = on"]}}
        },
    )
    tagged = write_table(tmp_path / "tagged.parquet", cols, metadata={"sqrt_s_tev": 14.0})
    bare = write_table(tmp_path / "bare.parquet", cols)
    assert sqrt_s_of(gen) == 13.0
    assert sqrt_s_of([bare, tagged]) == 14.0
    assert sqrt_s_of(bare) is None  # a file that does not say gets no √s (not a guess)


def test_ten_classes_get_ten_colours_and_a_legend_beside_the_curves(tmp_path, monkeypatch):
    """JetClass's ten classes: no two classes share a colour, and the ROC legend lies beside the frame."""
    import higgsflow.evaluate.plots as plots

    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, **kw: figures.append(fig) or path)
    rng = np.random.default_rng(2)
    k = 10
    labels = np.repeat(np.arange(k), 200)
    scores = rng.dirichlet(np.ones(k), size=len(labels))
    scores[np.arange(len(labels)), labels] += rng.exponential(0.3, len(labels))
    scores /= scores.sum(axis=1, keepdims=True)
    names = [f"label_{n}" for n in ("QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl")]
    plots.plot_roc(scores, labels, names, "QCD", tmp_path / "roc.png", com=13.6)
    plots.plot_scores(scores, labels, names, tmp_path / "scores.png", com=13.6)
    roc, dist = figures
    ax = roc.axes[0]
    solid = [line for line in ax.get_lines() if line.get_linestyle() == "-" and len(line.get_xdata())]
    assert len({line.get_color() for line in solid}) == 9  # nine signal classes, nine colours
    roc.canvas.draw()
    renderer = roc.canvas.get_renderer()
    assert not ax.get_legend().get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    hist_colours = {tuple(p.get_edgecolor()) for p in dist.axes[0].patches}
    assert len(hist_colours) == 10
