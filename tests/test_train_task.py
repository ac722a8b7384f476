"""The task: loss as a weighted sum of named terms, registered terms, predict and per-head metrics."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from higgsflow.data import DataConfig, load_arrays
from higgsflow.data.toy import write_toy_jets
from higgsflow.errors import ConfigError
from higgsflow.train.task import LOSS_TERMS, Task, register_loss_term

INPUTS = {"pf_features": {"length": 4, "vars": ["part_deta"]}}
LABELS = {"type": "simple", "value": ["label_QCD", "label_Hbb"]}


def _cfg(**extra) -> DataConfig:
    return DataConfig.from_dict({"inputs": INPUTS, "labels": LABELS, **extra})


def _batch(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {
        "label": torch.randint(0, 2, (n,), generator=g),
        "targets": {"r": 1.0 + 0.1 * torch.randn(n, generator=g)},
        "weight": torch.rand(n, generator=g) + 0.5,
    }, {"logits": torch.randn(n, 2, generator=g), "pt_corr": torch.randn(n, 1, generator=g) + 1.0}


def test_default_task_is_todays_weighted_cross_entropy_bit_for_bit():
    batch, heads = _batch()
    ref = (F.cross_entropy(heads["logits"], batch["label"], reduction="none") * batch["weight"]).mean()
    assert torch.equal(Task(_cfg()).loss(heads, batch), ref)


def test_terms_are_summed_with_their_weights_and_match_their_formulas():
    batch, heads = _batch()
    cfg = _cfg(
        targets={"r": "jet_genjet_wnu_pt / jet_pt"},
        loss=[
            {"term": "cross_entropy"},
            {"term": "logcosh", "head": "pt_corr", "target": "r", "weight": 0.5},
            {"term": "pinball", "head": "pt_corr", "target": "r", "tau": 0.84, "weight": 2.0},
        ],
    )
    task = Task(cfg)
    assert task.heads == ["logits", "pt_corr"]
    w = batch["weight"].double().numpy()
    d = batch["targets"]["r"].double().numpy() - heads["pt_corr"][:, 0].double().numpy()
    ce = float((F.cross_entropy(heads["logits"], batch["label"], reduction="none") * batch["weight"]).mean())
    lc = np.mean(np.log(np.cosh(d)) * w)
    pb = np.mean(np.maximum(0.84 * d, -0.16 * d) * w)
    assert float(task.loss(heads, batch)) == pytest.approx(ce + 0.5 * lc + 2.0 * pb, rel=1e-5)


def test_a_registered_term_is_usable_from_the_config():
    def zero_mean(pred, target, weight, *, batch, **_):
        return (pred.float().mean(dim=1) ** 2 * weight).mean() + 0 * batch["weight"].sum()

    register_loss_term("test_zero_mean", zero_mean)
    try:
        batch, heads = _batch()
        task = Task(
            _cfg(targets={"r": "jet_pt"}, loss=[{"term": "test_zero_mean", "head": "logits", "target": "r"}])
        )
        ref = (heads["logits"].mean(dim=1) ** 2 * batch["weight"]).mean()
        assert torch.allclose(task.loss(heads, batch), ref)
    finally:
        LOSS_TERMS.pop("test_zero_mean")
    with pytest.raises(ConfigError, match="unknown loss term") as e:
        Task(
            _cfg(targets={"r": "jet_pt"}, loss=[{"term": "test_zero_mean", "head": "logits", "target": "r"}])
        )
    assert e.value.field == "loss[0].term"
    with pytest.raises(ConfigError, match="tau"):
        Task(_cfg(targets={"r": "jet_pt"}, loss=[{"term": "pinball", "head": "q", "target": "r"}]))


def test_predict_names_branches_and_metrics_per_head():
    cfg = _cfg(
        targets={"r": "x"},
        loss=[
            {"term": "cross_entropy"},
            {"term": "mse", "head": "pt_corr", "target": "r"},
            {"term": "pinball", "head": "pt_q84", "target": "r", "tau": 0.84},
        ],
    )
    task = Task(cfg)
    rng = np.random.default_rng(0)
    n = 4000
    label = rng.integers(0, 2, n)
    logits = np.stack([np.zeros(n), 3.0 * (label - 0.5) + rng.standard_normal(n)], axis=1)
    truth = rng.uniform(0.8, 1.2, n)
    pred = truth * (1 + 0.1 * rng.standard_normal(n))
    heads = {"logits": torch.tensor(logits), "pt_corr": pred, "pt_q84": truth * 1.1}
    out = task.predict(heads)
    assert set(out) == {"score_QCD", "score_Hbb", "pt_corr", "pt_q84"}
    np.testing.assert_allclose(out["score_QCD"] + out["score_Hbb"], 1.0, rtol=1e-6)
    m = task.metrics(heads, label, {"r": truth})
    assert m["accuracy"] == pytest.approx(np.mean((logits[:, 1] > 0) == label))
    assert 0.9 < m["auc_Hbb"] < 1.0
    # pred/truth = 1 + 0.1 g: half the interquartile range of a Gaussian of σ = 0.1 is 0.0674
    assert m["pt_corr_resolution"] == pytest.approx(0.0674, rel=0.08)
    assert m["pt_corr_response"] == pytest.approx(1.0, abs=0.01)
    assert m["pt_q84_coverage"] == 1.0


def test_targets_and_observers_ride_in_the_batch_not_in_the_inputs(tmp_path):
    from higgsflow.data.loader import make_dataloader

    f = write_toy_jets(tmp_path / "t.parquet", ["QCD", "Hbb"], 10, seed=1)
    cfg = _cfg(targets={"pt_corr": "jet_genjet_wnu_pt / jet_pt"}, observers=["jet_sdmass"])
    arrays = load_arrays([f], cfg, train=False)
    batch = next(iter(make_dataloader(arrays, ["pf_features"], batch_size=20, shuffle=False, seed=0)))
    assert set(batch["inputs"]) == {"pf_features"}
    assert set(batch["targets"]) == {"pt_corr"} and set(batch["observers"]) == {"jet_sdmass"}
    r = batch["targets"]["pt_corr"].numpy()
    assert np.all(r > 0.95) and np.all(r < 2.0) and r.std() > 0.01


def test_a_nan_target_names_the_target_and_row_unless_the_selection_drops_it(tmp_path):
    from higgsflow.data import write_table
    from higgsflow.data.toy import make_toy_jets
    from higgsflow.errors import DataError

    c = make_toy_jets(["QCD", "Hbb"], 5, seed=1)
    c["jet_genjet_wnu_pt"][3] = np.nan
    f = write_table(tmp_path / "nan.parquet", c)
    with pytest.raises(DataError, match="row 3") as e:
        load_arrays([f], _cfg(targets={"pt_corr": "jet_genjet_wnu_pt / jet_pt"}), train=False)
    assert e.value.field == "pt_corr"
    cut = _cfg(targets={"pt_corr": "jet_genjet_wnu_pt / jet_pt"}, selection="np.isfinite(jet_genjet_wnu_pt)")
    assert len(load_arrays([f], cut, train=False)) == 9


def test_a_log_space_target_trains_on_its_logarithm_and_predicts_ratios():
    batch, heads = _batch()
    cfg = _cfg(
        targets={"r": {"expr": "jet_genjet_wnu_pt / jet_pt", "space": "log"}},
        loss=[{"term": "mse", "head": "pt_corr", "target": "r"}],
    )
    assert cfg.targets == {"r": "jet_genjet_wnu_pt / jet_pt"} and cfg.log_heads() == {"pt_corr"}
    got = float(Task(cfg).loss(heads, batch))
    want = np.mean(
        (np.log(batch["targets"]["r"].numpy()) - heads["pt_corr"][:, 0].numpy()) ** 2
        * batch["weight"].numpy()
    )
    assert got == pytest.approx(want, rel=1e-5)
    # a head at ln(r) has zero loss and comes back as r
    exact = {"pt_corr": torch.log(batch["targets"]["r"])}
    assert float(Task(cfg).loss(exact, batch)) == pytest.approx(0.0, abs=1e-10)
    phys = cfg.physical_heads({k: v.numpy() for k, v in exact.items()})
    assert np.allclose(phys["pt_corr"], batch["targets"]["r"].numpy())
    # a linear target (the plain form) is untouched
    assert _cfg(targets={"r": "jet_pt"}).target_space == {"r": "linear"}


@pytest.mark.parametrize(
    ("targets", "field"),
    [
        ({"r": {"expr": "jet_pt", "space": "sqrt"}}, "targets.r.space"),
        ({"r": {"space": "log"}}, "targets.r.expr"),
        ({"r": {"expr": "jet_pt", "scale": 2}}, "targets.r.scale"),
        ({"r": True}, "targets.r"),
    ],
)
def test_a_bad_target_names_its_field(targets, field):
    with pytest.raises(ConfigError) as e:
        _cfg(targets=targets)
    assert e.value.field == field
