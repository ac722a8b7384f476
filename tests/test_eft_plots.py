"""The eft plots: CMS header (13 TeV, luminosity), axis labels with units, key numbers in the legends, and no
text over the header."""

from __future__ import annotations

import numpy as np
import pytest

import higgsflow.eft.template as template
from higgsflow.eft.template import Q_1D, Q_2D, Template, plot_contour, plot_scans, plot_template, scan_width

pytest.importorskip("mplhep")


@pytest.fixture
def figures(monkeypatch):
    """Keep every figure the plot functions save (they are still written) for inspection."""
    saved = []
    real = template.save_figure

    def keep(fig, path, **kwargs):
        saved.append(fig)
        return real(fig, path, close=False, **kwargs)

    monkeypatch.setattr(template, "save_figure", keep)
    yield saved
    import matplotlib.pyplot as plt

    for fig in saved:
        plt.close(fig)


def header_clear(ax) -> None:
    """The three header texts exist, say what they should, and nothing else drawn on the axes overlaps them."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    names = {type(t).__name__: t for t in ax.texts}
    assert names["ExpLabel"].get_text() == "CMS"
    assert names["ExpText"].get_text() == "Simulation Private Work"
    boxes = [names[k].get_window_extent(renderer) for k in ("ExpLabel", "ExpText", "LumiText")]
    left, right = boxes[1], boxes[2]
    assert left.x1 < right.x0, "the header's left and right texts overlap"
    others = [ax.get_legend(), *[t for t in ax.texts if t not in names.values()]]
    for artist in filter(None, others):
        box = artist.get_window_extent(renderer)
        for head in boxes:
            assert not box.overlaps(head), f"{artist} overprints the header"


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] + [legend.get_title().get_text()]


def test_template_plot(tmp_path, figures):
    # two bins; yields per coefficient column: (w0, w1, w11) for one coefficient
    tpl = Template(
        theta_star=np.array([0.3]),
        edges=np.array([-np.inf, 1.0, np.inf]),
        signal=np.array([[10.0, 1.0, 0.5], [20.0, 4.0, 2.0]]),
        background=np.array([100.0, 40.0]),
    )
    plot_template(tpl, ["cHq3"], {"cHq3 = 1": np.array([1.0])}, tmp_path / "t.png", lumi_fb=138.0)
    (ax,) = figures[0].axes
    assert "\\theta^{*}" in ax.get_xlabel() and ax.get_ylabel() == "Expected events / bin"
    texts = legend_texts(ax)
    assert "Background (140 events)" in texts and "SM: S+B (170 events)" in texts
    # θ = 1: S = Σ (w0 + w1 + ½ w11) = 11.25 + 25 = 36.25, plus 140 background
    assert "cHq3 = 1: S+B (176.2 events)" in texts
    assert {t.get_text() for t in ax.texts} >= {"138 $\\mathrm{fb^{-1}}$ (13 TeV)"}
    header_clear(ax)
    assert (tmp_path / "t.png").stat().st_size > 10_000


def test_scan_width_of_a_parabola():
    v = np.linspace(-3, 3, 601)
    assert scan_width(v, (v / 0.5) ** 2) == pytest.approx(2 * 0.5 * np.sqrt(Q_1D[95]), rel=1e-4)
    # two disjoint pieces are summed
    q = np.minimum((v - 2) ** 2, (v + 2) ** 2) / 0.1**2
    assert scan_width(v, q) == pytest.approx(4 * 0.1 * np.sqrt(Q_1D[95]), rel=1e-3)


def test_scans_plot(tmp_path, figures):
    v = np.linspace(-1, 1, 201)
    scans = {
        "cHq3": {"BIT (others 0)": (v, (v / 0.2) ** 2), "exact (others 0)": (v, (v / 0.1) ** 2)},
        "g2ZZ": {"BIT (others 0)": (v, (v / 0.3) ** 2), "exact (others 0)": (v, (v / 0.3) ** 2)},
    }
    plot_scans(scans, tmp_path / "s.png", lumi_fb=138.0)
    axes = [ax for ax in figures[0].axes if ax.get_visible()]
    assert len(axes) == 2
    assert (
        axes[0].get_xlabel() == "$c_{Hq}^{(3)}$ ($\\Lambda$ = 1 TeV)"
        and axes[1].get_xlabel() == "$g_{2}^{ZZ}$"
    )
    assert axes[0].get_ylabel() == "$q = -2\\,\\Delta\\ln L$"
    texts = legend_texts(axes[0])
    # 95 % CL widths 2 × 1.96 σ in the legend
    assert "BIT (others 0): width 0.784" in texts and "exact (others 0): width 0.392" in texts
    # the two templates have their own colours
    colours = {line.get_color() for line in axes[0].get_lines()[:2]}
    assert len(colours) == 2
    for ax in axes:
        header_clear(ax)


def test_contour_plot(tmp_path, figures):
    xs, ys = np.linspace(-1, 1, 201), np.linspace(-0.5, 0.5, 101)
    q = (xs[None, :] / 0.2) ** 2 + (ys[:, None] / 0.1) ** 2  # grid (len(ys), len(xs)) as scan_2d gives
    plot_contour(xs, ys, {"BIT": q, "exact": q / 4}, ("cHq3", "g2ZZ"), tmp_path / "c.png", lumi_fb=138.0)
    (ax,) = figures[0].axes
    assert ax.get_xlabel().startswith("$c_{Hq}^{(3)}$") and ax.get_ylabel() == "$g_{2}^{ZZ}$"
    texts = legend_texts(ax)
    # area of the ellipse q < 5.99: π · 5.99 · 0.2 · 0.1; 4× that when q is 4× smaller
    area = np.pi * Q_2D[95] * 0.2 * 0.1
    entries = {t.split(":")[0]: float(t.rsplit(" ", 1)[1]) for t in texts if "area" in t}
    assert entries["BIT"] == pytest.approx(area, rel=0.02) and entries["exact"] == pytest.approx(
        4 * area, rel=0.02
    )
    assert {"68% CL", "95% CL", "SM"} <= set(texts)
    header_clear(ax)
