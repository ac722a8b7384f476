"""The stats figures: one CMS header with √s from the analysis (none when unknown), results in legends that cover
neither the header nor the data, the stack plot on the observable's real bin edges, a colour for every legend entry."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

import higgsflow.stats as st
from higgsflow.cli import main
from higgsflow.stats import plots
from test_stats_cli import small_spec
from test_stats_config import EXAMPLE, scored_file


def texts(fig) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def header_ok(fig, com: float | None) -> None:
    all_text = " ".join(texts(fig))
    assert all_text.count("CMS") == 1 and all_text.count("Simulation") == 1, all_text
    assert "Private Work" in all_text and "Preliminary" not in all_text
    assert "13 TeV" not in all_text
    if com is None:
        assert "TeV" not in all_text
    else:
        assert all_text.count(f"({com:g} TeV)") == 1


def extent(artist, fig):
    fig.canvas.draw()
    return artist.get_window_extent(fig.canvas.get_renderer())


def header_extent(ax, fig):
    """The union of the header texts' boxes (display coordinates)."""
    from matplotlib.transforms import Bbox

    boxes = [extent(t, fig) for t in ax.texts if any(k in t.get_text() for k in ("CMS", "Simulation", "TeV"))]
    return Bbox.union(boxes)


@pytest.fixture(scope="module")
def model():
    sm = st.StatModel(small_spec(data_mu=1.0))
    return sm, st.fit(sm)


def test_stack_uses_real_edges_and_label_and_every_legend_entry_has_a_colour(model, tmp_path):
    sm, fit = model
    table = st.yields(sm, fit)
    edges = [0.0, 0.5, 0.8, 1.0]
    fig = plots.plot_stack(
        table,
        "SR",
        edges=edges,
        xlabel="ttH(cc) score",
        signal=["ttHcc"],
        com=13.6,
        path=tmp_path / "stack.png",
    )
    assert (tmp_path / "stack.png").stat().st_size > 1000
    header_ok(fig, 13.6)
    ax, rax = fig.axes[:2]
    assert rax.get_xlabel() == "ttH(cc) score" and "classifier score" not in texts(fig)
    assert rax.get_xlim() == (0.0, 1.0)
    stairs = [p for p in ax.patches if hasattr(p, "get_data")]
    assert stairs and all(np.allclose(p.get_data().edges, edges) for p in stairs)
    data_x = next(line for line in ax.lines if line.get_marker() == "o").get_xdata()
    np.testing.assert_allclose(data_x, [0.25, 0.65, 0.9])  # the data sit at the real bin centres
    legend = ax.get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert labels[:3] == ["ttHcc", "ttHbb", "bkg"]  # top of the stack first: the signal, then the smaller bkg
    for handle, label in zip(legend.legend_handles, labels, strict=True):
        if hasattr(handle, "get_facecolor") and not hasattr(handle, "get_marker"):
            face, edge = handle.get_facecolor(), handle.get_edgecolor()
            assert face[3] > 0 or (handle.get_hatch() and edge[3] > 0), (
                f"legend entry {label!r} has no colour"
            )
        else:
            assert handle.get_color() not in ("none", (0, 0, 0, 0)), label


def test_stack_without_edges_says_bin_number(model):
    sm, fit = model
    fig = plots.plot_stack(st.yields(sm, fit), "SR")
    assert fig.axes[1].get_xlabel() == "bin number in SR"
    header_ok(fig, None)


def test_limit_legend_gives_the_values_and_covers_no_band(model):
    sm, _ = model
    lim = st.upper_limit(sm)
    fig = plots.plot_limits({"ttH(cc)": lim}, com=13.6)
    header_ok(fig, 13.6)
    ax = fig.axes[0]
    legend = " | ".join(t.get_text() for t in ax.get_legend().get_texts())
    assert f"Observed: {lim.observed:.2f}" in legend and f"Median expected: {lim.expected[2]:.2f}" in legend
    assert f"{lim.expected[0]:.2f}" in legend and f"{lim.expected[4]:.2f}" in legend
    # every entry shows its colour; the ±2σ swatch used to vanish on the yellow band under the legend
    for handle in ax.get_legend().legend_handles:
        colour = handle.get_facecolor() if hasattr(handle, "get_hatch") else handle.get_markerfacecolor()
        assert colour != "none" and (isinstance(colour, str) or colour[3] > 0)
    # the legend sits above the band: it hides neither the band, nor the values, nor its own ±2σ swatch
    band_top = max(extent(c, fig).y1 for c in ax.collections)
    assert extent(ax.get_legend(), fig).y0 >= band_top
    lo, hi = ax.get_xlim()
    assert lo <= lim.expected[0] and lim.observed <= hi and lim.expected[4] <= hi


def test_scan_result_is_inside_the_axes_not_over_the_header(model):
    sm, _ = model
    res = st.scan(sm, values=np.linspace(1.5, 6, 10))  # best fit ~0.9: lower ends beyond the scan
    fig = plots.plot_scan(res, com=13.6)
    header_ok(fig, 13.6)
    ax = fig.axes[0]
    assert ax.get_title(loc="right") == "" and ax.get_title() == ""
    legend = ax.get_legend()
    text = " | ".join(t.get_text() for t in legend.get_texts())
    assert "beyond the scan" in text and "inf" not in text and f"{res.interval68[1]:.2f}" in text
    box, axes_box = extent(legend, fig), extent(ax, fig)
    assert not box.overlaps(header_extent(ax, fig))
    assert axes_box.x0 <= box.x0 and box.x1 <= axes_box.x1 and box.y1 <= axes_box.y1  # inside the frame


def test_kappa_scan_plot(model):
    from higgsflow.stats.kappa import kappa_scan

    sm, _ = model
    res = kappa_scan(sm, np.linspace(0, 3, 7))
    fig = plots.plot_scan(res, label=r"$\kappa_c$", com=13.6)
    header_ok(fig, 13.6)
    ax = fig.axes[0]
    assert ax.get_xlabel() == r"$\kappa_c$" and ax.get_title(loc="right") == ""
    legend = ax.get_legend()
    assert any(r"$\kappa_c$ = " in t.get_text() for t in legend.get_texts())
    assert not extent(legend, fig).overlaps(header_extent(ax, fig))


def test_scan2d_impacts_correlation_headers_and_legends(model):
    sm, fit = model
    res = st.scan_2d(sm, ("mu_ttHcc", "mu_ttHbb"), np.linspace(0, 3, 4), np.linspace(0, 3, 4))
    fig = plots.plot_scan_2d(res, com=13.6)
    header_ok(fig, 13.6)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend[0] == f"best fit ({res.bestfit[0]:.2f}, {res.bestfit[1]:.2f})" and "68% CL" in legend
    fig = plots.plot_impacts(st.impacts(sm, fit_result=fit, n_workers=1), com=13.6)
    header_ok(fig, 13.6)
    fig = plots.plot_correlation(fit, com=None)
    header_ok(fig, None)
    assert fig.axes[0].texts  # the cells carry their values


def test_cli_plots_take_sqrt_s_edges_and_label_from_the_analysis(tmp_path, monkeypatch, capsys):
    scored_file(tmp_path / "scored" / "test.root")
    shutil.copy(EXAMPLE, tmp_path / "analysis.yaml")
    ws = tmp_path / "workspace.json"
    assert main(["stats", "build", str(tmp_path / "analysis.yaml"), "-o", str(ws)]) == 0
    meta = json.loads((tmp_path / "workspace.meta.json").read_text())
    assert meta["sqrt_s"] == 13.6 and meta["regions"]["pt500to700"]["label"] == "ParT H→bb̄ score"
    edges = meta["regions"]["pt500to700"]["edges"]
    binning = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0]  # the example's Binning
    assert edges[0] == 0.0 and edges[-1] == 1.0 and set(edges) <= set(binning)  # merged, never new edges
    calls = []
    monkeypatch.setattr(plots, "plot_stack", lambda table, region, **kw: calls.append((region, kw)))
    assert main(["stats", "yields", str(ws), "--plots", str(tmp_path / "stacks")]) == 0
    kw = dict(calls)["pt500to700"]
    assert kw["edges"] == edges and kw["xlabel"] == "ParT H→bb̄ score" and kw["com"] == 13.6
    assert kw["signal"] == ["Hbb"]  # stacked on top of the background
    seen = {}
    monkeypatch.setattr(plots, "plot_limits", lambda limits, **kw: seen.update(kw))
    assert main(["stats", "limit", str(ws), "--plot", str(tmp_path / "l.png"), "--lumi", "0.5"]) == 0
    assert seen["com"] == 13.6 and seen["lumi"] == 0.5
    assert main(["stats", "limit", str(ws), "--plot", str(tmp_path / "l2.png"), "--sqrt-s", "13"]) == 0
    assert seen["com"] == 13.0
