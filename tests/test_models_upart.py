"""UParT-AK4 and the DeepJet-like baseline on charged PF / neutral PF / SV collections made by the data config,
and the talk's loss L = CE + γ_regr·logcosh(y − y_truth) + γ_q·[p₀.₁₆(z − z_truth) + p₀.₈₄(z − z_truth)]."""

from __future__ import annotations

import math
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import torch
import yaml

from higgsflow.data import DataConfig, load_arrays, write_table
from higgsflow.data.toy import make_toy_jets
from higgsflow.errors import ConfigError
from higgsflow.generate.tracks import candidate_columns
from higgsflow.models import build_model
from higgsflow.train import TrainSettings, load_run_model, train
from higgsflow.train.inference import score_heads
from higgsflow.train.task import LOSS_TERMS, Task

torch.set_num_threads(1)
CONFIG = Path(__file__).resolve().parents[1] / "examples" / "tagging" / "upart_ak4.yaml"
AK4 = ("b", "bb", "c", "cc", "s", "ud", "g", "tauh")
#: toy stand-ins for the eight flavours (displaced prongs for the heavy flavours)
TOY = dict(zip(AK4, ("Hbb", "Tbqq", "Hcc", "Tbl", "Zqq", "QCD", "Hgg", "Wqq"), strict=True))
HEADS = ("logits", "pt_corr", "pt_q16", "pt_q84")
TINY = {
    "upart": {
        "embed_dims": [16, 16],
        "pair_embed_dims": [8],
        "num_heads": 2,
        "num_layers": 1,
        "num_cls_layers": 1,
    },
    "deepjet": {
        "cpf_conv": [8, 4],
        "npf_conv": [4],
        "sv_conv": [8, 4],
        "lstm_dims": [8, 4, 4],
        "dense_dims": [16, 16],
    },
}


def _toy_ak4(path: Path, seed: int, n_per_class: int) -> Path:
    """Toy jets with the AK4 label names and the generator's per-candidate b-tagging columns."""
    cols = make_toy_jets([TOY[c] for c in AK4], n_per_class, seed=seed, n_min=4, n_max=40, jet_pt=60.0)
    for c in AK4:
        cols[f"label_{c}"] = cols.pop(f"label_{TOY[c]}")
    cols.update(candidate_columns(cols, radius=0.4))
    return write_table(path, cols)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("upart")
    return {
        n: _toy_ak4(d / f"{n}.parquet", s, k) for n, s, k in (("train", 1, 30), ("val", 2, 8), ("test", 3, 8))
    }


def _settings(network: str, **kw) -> TrainSettings:
    base = {"network": network, "network_kwargs": TINY[network], "epochs": 3, "batch_size": 40, "lr": 1e-2}
    return TrainSettings(**{**base, "optimizer": "adamw", "seed": 1, **kw})


@pytest.fixture(scope="module", params=["upart", "deepjet"])
def run(request, files, tmp_path_factory):
    d = tmp_path_factory.mktemp(request.param)
    res = train(
        DataConfig.load(CONFIG), [files["train"]], [files["val"]], d / "run", _settings(request.param)
    )
    return request.param, res


# ---------------------------------------------------------------------------------------------------- the loss
def _config_with(gamma_regr: float, gamma_q: float) -> DataConfig:
    text = CONFIG.read_text()
    text = text.replace("&gamma_regr 1.0", f"&gamma_regr {gamma_regr}").replace(
        "&gamma_q 1.0", f"&gamma_q {gamma_q}"
    )
    return DataConfig.from_dict(yaml.safe_load(text))


def test_total_loss_equals_the_talks_formula_by_hand():
    cfg = _config_with(0.7, 0.3)
    # γ_q is written once in the config and weights both pinball terms
    assert [(t["term"], t.get("tau"), t["weight"]) for t in cfg.loss_terms] == [
        ("cross_entropy", None, 1.0),
        ("logcosh", None, 0.7),
        ("pinball", 0.16, 0.3),
        ("pinball", 0.84, 0.3),
    ]
    task = Task(cfg)
    logits = torch.tensor(
        [[2.0, 0.5, -1, 0, 0, 0, 0, 0.3], [0.1, 0, 0, 1.5, 0, 0, -0.5, 0], [0, 0, 0, 0, 0, 3, 0, 0]]
    )
    label = torch.tensor([0, 3, 1])
    y = torch.tensor([1.05, 0.90, 1.30])  # pt_corr
    z16 = torch.tensor([0.95, 0.95, 1.00])
    z84 = torch.tensor([1.20, 1.00, 1.10])
    truth = torch.tensor([1.00, 1.10, 1.20])
    heads = {"logits": logits, "pt_corr": y, "pt_q16": z16, "pt_q84": z84}
    batch = {"label": label, "targets": {"pt_corr": truth}, "weight": torch.ones(3)}
    got = float(task.loss(heads, batch))

    def ce(row, k):
        return math.log(sum(math.exp(v) for v in row)) - row[k]

    def pinball(tau, pred, true):  # p_τ(u) = max(τ u, (τ − 1) u), u = truth − prediction
        u = true - pred
        return max(tau * u, (tau - 1) * u)

    n = 3
    # the shipped config regresses the ratio in log space: the heads are compared with ln(truth)
    assert cfg.target_space == {"pt_corr": "log"}
    assert cfg.log_heads() == {"pt_corr", "pt_q16", "pt_q84"}
    lg, t = logits.tolist(), [math.log(v) for v in truth.tolist()]
    want = (
        sum(ce(lg[i], int(label[i])) for i in range(n)) / n
        + 0.7 * sum(math.log(math.cosh(y[i].item() - t[i])) for i in range(n)) / n
        + 0.3
        * (
            sum(pinball(0.16, z16[i].item(), t[i]) for i in range(n)) / n
            + sum(pinball(0.84, z84[i].item(), t[i]) for i in range(n)) / n
        )
    )
    assert got == pytest.approx(want, rel=1e-6)
    # predictions come back as ratios: physical_heads exponentiates every log-space head, leaves the logits
    phys = cfg.physical_heads(heads)
    assert torch.allclose(phys["pt_corr"], y.exp()) and torch.allclose(phys["pt_q84"], z84.exp())
    assert phys["logits"] is logits
    # every γ enters: setting one to zero removes exactly its term
    assert float(Task(_config_with(0.0, 0.3)).loss(heads, batch)) < got


@pytest.mark.parametrize("tau", [0.16, 0.84])
def test_pinball_minimiser_recovers_the_quantile_of_a_known_distribution(tau):
    rng = np.random.default_rng(11)
    x = torch.tensor(rng.lognormal(0.0, 0.3, 20000), dtype=torch.float32)  # skewed: quantiles not ±σ
    q = torch.zeros(1, requires_grad=True)  # a constant prediction, fitted by gradient descent
    opt = torch.optim.SGD([q], lr=0.5)  # the gradient is F(q) − τ: a stable root search for this step
    w = torch.ones_like(x)
    for _ in range(300):
        opt.zero_grad()
        LOSS_TERMS["pinball"](q.expand_as(x), x, w, tau=tau).backward()
        opt.step()
    exact = math.exp(0.3 * {0.16: -0.994458, 0.84: 0.994458}[tau])  # lognormal quantile exp(σ Φ⁻¹(τ))
    assert q.item() == pytest.approx(exact, abs=0.01)  # the sampling error of the quantile is ≈ 0.004
    assert q.item() == pytest.approx(float(np.quantile(x.numpy(), tau)), abs=2e-3)
    assert float((x < q.detach()).float().mean()) == pytest.approx(tau, abs=2e-3)


# ---------------------------------------------------------------------------------------------------- build
@pytest.mark.parametrize("network", ["upart", "deepjet"])
def test_config_builds_three_collections_with_all_heads(network):
    cfg = DataConfig.load(CONFIG)
    assert {"cpf", "npf", "sv"} <= set(cfg.collections)
    assert cfg.inputs["cpf_features"].length == 29 and cfg.inputs["npf_features"].length == 25
    assert cfg.inputs["sv_features"].length == 5
    model = build_model(network, cfg, **TINY[network])
    assert model.heads == HEADS
    used = {n.rpartition("_")[0] for n in model.input_map.values()}
    assert used == ({"cpf", "npf", "sv"} if network == "upart" else {"cpf", "npf", "sv", "jet"})


@pytest.mark.parametrize("network", ["upart", "deepjet"])
def test_a_config_missing_a_collection_fails_at_build_with_one_line(network, tmp_path):
    opts = yaml.safe_load(CONFIG.read_text())
    for role in ("features", "vectors", "mask"):
        opts["inputs"].pop(f"npf_{role}")
    path = tmp_path / "no_neutrals.yaml"
    path.write_text(yaml.safe_dump(opts))
    cfg = DataConfig.load(path)
    with pytest.raises(ConfigError) as err:
        build_model(network, cfg, **TINY[network])
    msg = str(err.value)
    assert "\n" not in msg and "npf_features" in msg and "inputs" in msg and "no_neutrals.yaml" in msg


@pytest.mark.parametrize("network", ["upart", "part_sv", "event_part"])
def test_an_unknown_option_of_a_token_part_is_one_line_naming_it_and_the_base_options(network):
    """UParT, ParT-SV and the event ParT pass their keyword options on to TokenParT: a typo is still refused
    before the constructor (one line naming it and the options of the whole chain), not a TypeError."""
    cfg = DataConfig.load(CONFIG)
    with pytest.raises(ConfigError) as err:
        build_model(network, cfg, num_layer=2)
    msg = str(err.value)
    assert "\n" not in msg and "'num_layer'" in msg and "--network-options" in msg
    assert "num_layers" in msg and "embed_dims" in msg and "train_trim" in msg


def test_charged_and_neutral_collections_are_the_pf_candidates_split_by_charge(files):
    cfg = DataConfig.load(CONFIG)
    arrays = load_arrays([files["test"]], cfg, train=False)
    x = arrays.inputs
    n_c = x["cpf_mask"][:, 0].sum(1)
    n_n = x["npf_mask"][:, 0].sum(1)
    from higgsflow.data import read_table

    raw = read_table(files["test"])
    charge = raw.part_charge
    assert np.array_equal(n_c, np.minimum(ak.to_numpy(ak.sum(charge != 0, axis=1)), 29))
    assert np.array_equal(n_n, np.minimum(ak.to_numpy(ak.sum(charge == 0, axis=1)), 25))
    # the charged collection's charge feature is never 0 on real slots
    k = [v.name for v in cfg.inputs["cpf_features"].variables].index("cpf_charge")
    real = x["cpf_mask"][:, 0] > 0
    assert np.all(np.abs(x["cpf_features"][:, k][real]) == 1)


@pytest.mark.parametrize("network", ["upart", "deepjet"])
def test_scores_do_not_depend_on_padding(network, files):
    cfg = DataConfig.load(CONFIG)
    torch.manual_seed(0)
    model = build_model(network, cfg, **TINY[network]).eval()
    arrays = load_arrays([files["test"]], cfg, train=False)
    inputs = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.inputs.items()}
    with torch.no_grad():
        ref = model(inputs)
        padded = {}
        gen = torch.Generator().manual_seed(1)
        for name, t in inputs.items():
            if t.size(-1) == 1:  # jet features
                padded[name] = t
                continue
            extra = (
                torch.zeros(*t.shape[:-1], 7)
                if name.endswith("_mask")
                else torch.randn(*t.shape[:-1], 7, generator=gen)
            )
            p = torch.cat([t, extra], dim=-1)
            if not name.endswith("_mask"):  # garbage in every padded slot
                coll = name.rpartition("_")[0]
                m = torch.cat(
                    [inputs[f"{coll}_mask"], torch.zeros(*inputs[f"{coll}_mask"].shape[:-1], 7)], -1
                )
                p = torch.where(m.bool(), p, torch.randn(p.shape, generator=gen) * 3)
            padded[name] = p
        out = model(padded)
        one = model({k: v[:1] for k, v in inputs.items()})  # a jet alone
    assert set(out) == set(HEADS)
    for h in HEADS:
        torch.testing.assert_close(out[h], ref[h], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(one[h], ref[h][:1], atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------------------------------------------- training
def _test_loss(model, cfg, arrays) -> tuple[float, dict[str, np.ndarray]]:
    model.eval()
    with torch.no_grad():
        heads = model({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.inputs.items()})
        batch = {
            "label": torch.from_numpy(arrays.label).long(),
            "targets": {"pt_corr": torch.from_numpy(np.asarray(arrays.target_values["pt_corr"], np.float32))},
            "weight": torch.ones(len(arrays.label)),
        }
        phys = cfg.physical_heads(heads)  # the log-space heads as ratios
        return float(Task(cfg).loss(heads, batch)), {k: v.numpy() for k, v in phys.items()}


def test_a_few_training_steps_lower_the_loss_and_order_the_quantiles(run, files):
    network, res = run
    cfg, model = load_run_model(res.run_dir)
    assert model.arch == network
    arrays = load_arrays([files["test"]], cfg, train=False)
    torch.manual_seed(1)
    untrained = build_model(network, cfg, **TINY[network])
    loss0, h0 = _test_loss(untrained, cfg, arrays)
    loss1, h1 = _test_loss(model, cfg, arrays)
    val = [h["val_loss"] for h in res.history]
    assert len(val) == 3 and val[2] < val[0]
    assert loss1 < 0.9 * loss0, (loss0, loss1)
    truth = np.asarray(arrays.target_values["pt_corr"])
    assert np.median(np.abs(h1["pt_corr"] - truth)) < np.median(np.abs(h0["pt_corr"] - truth))
    assert np.median(h1["pt_q16"]) < np.median(h1["pt_q84"])
    heads = score_heads(model, cfg, arrays, batch_size=16)
    assert set(heads) == {"softmax", "pt_corr", "pt_q16", "pt_q84"}
    np.testing.assert_allclose(heads["softmax"].sum(1), 1.0, atol=1e-5)


def test_predict_writes_one_branch_per_head(run, files, tmp_path):
    from higgsflow.cli import main
    from higgsflow.data import read_table

    _, res = run
    assert main(["predict", str(res.run_dir), str(files["test"]), "-o", str(tmp_path / "p")]) == 0
    out = read_table(tmp_path / "p" / "test.parquet")
    new = set(out.fields) - set(read_table(files["test"]).fields)
    assert new == {f"score_{c}" for c in AK4} | {"pt_corr", "pt_q16", "pt_q84"}
    total = sum(ak.to_numpy(out[f"score_{c}"]) for c in AK4)
    np.testing.assert_allclose(total, 1.0, atol=1e-5)


def test_onnx_export_matches_pytorch_on_every_head(run, files, tmp_path):
    import onnxruntime as ort

    from higgsflow.train import OnnxScorer, export_onnx

    network, res = run
    path = export_onnx(res.run_dir, tmp_path / f"{network}.onnx")
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in sess.get_outputs()] == ["softmax", "pt_corr", "pt_q16", "pt_q84"]
    cfg, model = load_run_model(res.run_dir)
    arrays = load_arrays([files["test"]], cfg, train=False)
    torch_heads = score_heads(model, cfg, arrays, batch_size=7)
    onnx_heads = OnnxScorer(path).score_heads(cfg, arrays, batch_size=16)
    assert set(onnx_heads) == set(torch_heads) == {"softmax", "pt_corr", "pt_q16", "pt_q84"}
    for name in torch_heads:
        assert np.abs(onnx_heads[name] - torch_heads[name]).max() < 1e-4, name
