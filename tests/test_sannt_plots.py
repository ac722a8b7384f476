"""The sannt benchmark plots: CMS header without √s (a toy), labelled axes, σ(μ) in the legends, and no text
over the header."""

from __future__ import annotations

import pytest

pytest.importorskip("mplhep")
torch = pytest.importorskip("torch")

from higgsflow.sannt.benchmark import SeedResult, plot_output_distributions, plot_sigma_vs_epoch  # noqa: E402
from higgsflow.sannt.likelihood import Templates  # noqa: E402
from higgsflow.sannt.train import TrainResult  # noqa: E402
from test_eft_plots import header_clear, legend_texts  # noqa: E402  (tests/ is on sys.path)


@pytest.fixture
def figures(monkeypatch):
    import higgsflow.plotting

    saved = []
    real = higgsflow.plotting.save_figure

    def keep(fig, path, **kwargs):
        saved.append(fig)
        return real(fig, path, close=False, **kwargs)

    monkeypatch.setattr(higgsflow.plotting, "save_figure", keep)
    yield saved
    import matplotlib.pyplot as plt

    for fig in saved:
        plt.close(fig)


def _templates(scale: float) -> Templates:
    """Three processes (two signals, one background), 3 categories × 2 bins, one shape and one norm nuisance."""
    nominal = torch.tensor(
        [
            [30.0, 50.0, 5.0, 5.0, 5.0, 5.0],
            [2.0, 2.0, 10.0, 20.0, 3.0, 3.0],
            [50.0, 20.0, 40.0, 10.0, 300.0, 500.0],
        ]
    )
    up = torch.stack([nominal * (1 + 0.1 * scale), nominal])
    down = torch.stack([nominal * (1 - 0.1 * scale), nominal])
    kappa = torch.ones(2, 3)
    kappa_up, kappa_down = kappa.clone(), kappa.clone()
    kappa_up[1, 2], kappa_down[1, 2] = 1.2, 0.8
    return Templates(
        nominal,
        up,
        down,
        kappa_up,
        kappa_down,
        torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]),
        processes=["ggH", "qqH", "ztt"],
        nuisances=["tes", "norm_ztt"],
        pois=["mu_ggH", "mu_qqH"],
    )


@pytest.fixture
def seed_result():
    sigma = {
        "CENNT": {"mu_ggH": 0.5123, "mu_qqH": 0.6011},
        "SANNT (fine-tuned)": {"mu_ggH": 0.4012, "mu_qqH": 0.6123},
    }
    histories = {
        "CENNT": TrainResult(None, "CENNT", val_sigma=[[0.7, 0.8], [0.55, 0.62], [0.52, 0.61]], best_epoch=2),
        "SANNT (fine-tuned)": TrainResult(
            None, "SANNT (fine-tuned)", val_sigma=[[0.5, 0.62], [0.42, 0.61], [0.41, 0.62]], best_epoch=2
        ),
    }
    templates = {"CENNT": _templates(1.0), "SANNT (fine-tuned)": _templates(0.5)}
    return SeedResult(3, sigma, histories, templates, {"CENNT": 1.0, "SANNT (fine-tuned)": 1.0})


def test_sigma_vs_epoch_plot(tmp_path, figures, seed_result):
    plot_sigma_vs_epoch(seed_result, tmp_path / "e.png")
    ax_gg, ax_qq = figures[0].axes
    assert (
        ax_gg.get_xlabel() == "Epoch"
        and ax_gg.get_ylabel() == "Validation σ($\\mu_{\\mathrm{ggH}}$) (Asimov)"
    )
    assert ax_qq.get_ylabel() == "Validation σ($\\mu_{\\mathrm{qqH}}$) (Asimov)"
    texts = legend_texts(ax_gg)
    assert "CENNT: σ$_{\\mathrm{test}}$ = 0.5123" in texts
    assert "SANNT (fine-tuned): σ$_{\\mathrm{test}}$ = 0.4012" in texts
    assert "SANNT (fine-tuned): σ$_{\\mathrm{test}}$ = 0.6123" in legend_texts(ax_qq)
    # fine-tuning starts after the kept CENNT epoch
    fine = ax_gg.get_lines()[2]
    assert fine.get_xdata()[0] == 3
    for ax in (ax_gg, ax_qq):
        assert not any("TeV" in t.get_text() for t in ax.texts)  # a toy: no √s
        header_clear(ax)


def test_output_distributions_plot(tmp_path, figures, seed_result):
    plot_output_distributions(seed_result.templates, tmp_path / "o.png", sigma=seed_result.sigma)
    axes = figures[0].axes
    assert len(axes) == 2
    for ax, method in zip(axes, ("CENNT", "SANNT (fine-tuned)"), strict=True):
        assert ax.get_ylabel() == "Expected events / bin" and "category" in ax.get_xlabel()
        assert [t.get_text() for t in ax.get_xticklabels()] == [
            "$\\mu_{\\mathrm{ggH}}$ category",
            "$\\mu_{\\mathrm{qqH}}$ category",
            "bkg. category",
        ]
        texts = legend_texts(ax)
        assert {"ggH (100 events)", "qqH (40 events)", "ztt (920 events)"} <= set(texts)
        s = seed_result.sigma[method]
        assert texts[-1].startswith(
            f"{method}: σ($\\mu_{{\\mathrm{{ggH}}}}$) = {s['mu_ggH']:.4f}, σ($\\mu_{{\\mathrm{{qqH}}}}$) = {s['mu_qqH']:.4f}"
        )
        header_clear(ax)
    assert (tmp_path / "o.png").stat().st_size > 10_000
