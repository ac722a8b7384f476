"""CENNT/SANNT training of higgsflow.sannt on a small version of the 2-D toy benchmark."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from higgsflow.errors import ConfigError, DataError
from higgsflow.sannt.data import BENCHMARK, Sample, SystematicDataset, Variation, benchmark_samples
from higgsflow.sannt.train import SanntConfig, network_templates, train_cennt, train_sannt

pytest.importorskip("pyhf")


@pytest.fixture(autouse=True)
def one_thread():
    """Small MLPs train fastest on one thread (and do not thrash a busy 2-core machine)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_benchmark_samples_have_the_stated_yields_and_variations():
    data = benchmark_samples(3000, seed=5)
    assert data.processes == ["ggH", "qqH", "ztt", "ttbar", "qcd"]
    assert data.pois == ["mu_ggH", "mu_qqH"]
    assert data.nuisances == ["tes", "norm_ttbar", "norm_qcd"]
    for s in data.samples:
        assert s.expected_yield == pytest.approx(BENCHMARK[s.name]["yield"], rel=1e-12)
        np.testing.assert_allclose(s.features.mean(0), BENCHMARK[s.name]["mean"], atol=0.12)
        np.testing.assert_allclose(s.features.var(0), BENCHMARK[s.name]["var"], rtol=0.1)
    ztt = data.samples[2]
    up, down = ztt.shape_systematics["tes"]
    np.testing.assert_allclose(up.features - ztt.features, [[0.4, 0.0]] * 3000)
    np.testing.assert_allclose(down.features - ztt.features, [[-0.4, 0.0]] * 3000)
    assert data.samples[4].norm_systematics == {"norm_qcd": (1.2, 0.8)}
    # the same seed gives the same samples
    np.testing.assert_array_equal(
        benchmark_samples(10, 1).samples[0].features, benchmark_samples(10, 1).samples[0].features
    )


def test_bad_samples_raise():
    x = np.zeros((4, 2))
    with pytest.raises(DataError, match="one weight per event"):
        Sample("sig", x, np.ones(3), poi="mu")
    bad = x.copy()
    bad[2, 1] = np.nan
    with pytest.raises(DataError, match="row 2"):
        Sample("sig", bad, np.ones(4), poi="mu")
    with pytest.raises(DataError, match="own weights"):
        Sample(
            "bkg",
            x,
            np.ones(4),
            shape_systematics={"jes": (Variation(features=np.zeros((3, 2))), Variation())},
        )
    with pytest.raises(DataError, match="no process has a POI"):
        SystematicDataset([Sample("bkg", x, np.ones(4))])
    with pytest.raises(ConfigError):
        SanntConfig(n_bins=0)


def test_templates_of_any_arrays_with_weight_variations():
    """The API takes any arrays: a 3-feature problem with a weight-based shape systematic and one POI."""
    rng = np.random.default_rng(0)
    sig = Sample("sig", rng.normal(1, 1, (500, 3)), np.full(500, 0.1), poi="mu")
    xb = rng.normal(-1, 1, (2000, 3))
    wb = np.full(2000, 0.5)
    tilt = 1 + 0.2 * np.tanh(xb[:, 0])
    bkg = Sample(
        "bkg",
        xb,
        wb,
        shape_systematics={"tilt": (Variation(weights=wb * tilt), Variation(weights=wb / tilt))},
        norm_systematics={"lumi": (1.02, 0.98)},
    )
    data = SystematicDataset([sig, bkg])
    net = train_cennt(data, data, SanntConfig(ce_epochs=2, hidden=(8,)), seed=0).network
    t = network_templates(net, data, SanntConfig(hidden=(8,)))
    assert t.nominal.shape == (2, 2 * 8)  # 2 classes x 8 bins
    assert float(t.nominal[0].sum()) == pytest.approx(50.0, rel=1e-12)
    assert float(t.nominal[1].sum()) == pytest.approx(1000.0, rel=1e-12)
    assert float(t.shape_up[0, 1].sum()) == pytest.approx(float((wb * tilt).sum()), rel=1e-12)
    assert float(t.kappa_up[1, 1]) == 1.02 and float(t.kappa_up[1, 0]) == 1.0


QUICK = SanntConfig(ce_epochs=8, sannt_epochs=25, sannt_patience=25, sannt_lr=3e-3, sannt_optimizer="adam")


def test_sannt_fine_tuning_reduces_sigma_on_training_and_validation():
    """Quick sanity on a small benchmark: SANNT fine-tuning lowers the Asimov σ(μ_ggH) of the CENNT network
    a lot (the CENNT network ignores the τ energy scale), without making σ(μ_qqH) worse."""
    train, val = benchmark_samples(4000, seed=101), benchmark_samples(4000, seed=102)
    ce = train_cennt(train, val, QUICK, seed=0)
    ref = np.array(ce.val_sigma[ce.best_epoch])
    ft = train_sannt(train, val, QUICK, seed=0, init=ce.network, poi_weights=1 / ref)
    assert ft.train_loss[-1] < 0.85 * ft.train_loss[0]
    best = np.array(ft.val_sigma[ft.best_epoch])
    assert best[0] < 0.8 * ref[0]
    assert best[1] < 1.05 * ref[1]


@pytest.mark.slow
def test_small_benchmark_pyhf_measured_two_seeds():
    """A 2-seed version of benchmarks/sannt.py (default settings, fine-tuning only): the pyhf-measured
    σ(μ_ggH) on independent test samples drops by more than 10% and σ(μ_qqH) does not grow by more than 5%."""
    from higgsflow.sannt.benchmark import BenchmarkResult, run_seed

    res = BenchmarkResult([run_seed(s, 10000, methods=("CENNT", "SANNT (fine-tuned)")) for s in (0, 1)])
    for seed in res.seeds:
        assert seed.sigma["SANNT (fine-tuned)"]["mu_ggH"] < 0.9 * seed.sigma["CENNT"]["mu_ggH"]
    assert res.verdict()["qqH_not_worse"]
