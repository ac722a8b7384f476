"""A config that names a collection role twice, a head the network does not return or lacks an input group the
network needs fails at load, before any data is read, with one line naming the config file and the field."""

from __future__ import annotations

import pytest

from higgsflow.cli import main
from higgsflow.data import DataConfig
from higgsflow.errors import ConfigError

HEAD = """
labels: {type: simple, value: [label_QCD, label_Hbb]}
inputs:
"""
PF = """  pf_features: {length: 4, vars: [part_deta, part_dphi]}
  pf_vectors: {length: 4, vars: [part_px, part_py, part_pz, part_energy]}
  pf_mask: {length: 4, vars: [part_deta]}
"""


def _train(tmp_path, text: str, network: str = "part") -> list[str]:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text)
    missing = tmp_path / "never_read.parquet"
    return [
        "train",
        "-c",
        str(cfg),
        "--train",
        str(missing),
        "--val",
        str(missing),
        "-o",
        str(tmp_path / "r"),
        "-n",
        network,
    ]


def _one_line(capsys, *needles: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:"), err
    for n in needles:
        assert n in err[0], err[0]
    return err[0]


def test_the_same_input_twice_in_the_yaml_is_refused(tmp_path, capsys):
    args = _train(tmp_path, HEAD + PF + "  pf_features: {length: 4, vars: [part_px]}\n")
    assert main(args) == 1
    _one_line(capsys, "cfg.yaml", "inputs.pf_features", "twice")


def test_a_collection_role_given_twice_is_refused(tmp_path, capsys):
    args = _train(tmp_path, HEAD + PF + "  PF_Features: {length: 4, vars: [part_px]}\n")
    assert main(args) == 1
    _one_line(capsys, "cfg.yaml", "inputs.PF_Features", "twice")


def test_a_head_the_network_does_not_return_is_refused(tmp_path, capsys):
    text = HEAD + PF + "targets: {pt_corr: jet_genjet_wnu_pt / jet_pt}\n"
    text += "loss:\n  - {term: cross_entropy}\n  - {term: logcosh, head: pt_corr}\n"
    assert main(_train(tmp_path, text)) == 1
    _one_line(capsys, "cfg.yaml", "loss[1].head", "pt_corr")


def test_a_missing_input_group_is_refused(tmp_path, capsys):
    text = HEAD + PF.replace("pf_vectors", "pf_points")
    assert main(_train(tmp_path, text)) == 1
    _one_line(capsys, "cfg.yaml", "inputs", "*_vectors")
    assert main(_train(tmp_path, HEAD + PF, network="particlenet")) == 1
    _one_line(capsys, "cfg.yaml", "*_points")


@pytest.mark.parametrize(
    ("loss", "field"),
    [
        ("[{term: mse, head: pt_corr, target: nope}]", "loss[0].target"),
        ("[{term: mse, head: pt_corr, tau: high}]", "loss[0].tau"),
        ("[{term: mse, heads: pt_corr}]", "loss[0].heads"),
        ("{term: mse}", "loss"),
    ],
)
def test_bad_loss_entries_name_the_field(tmp_path, loss, field):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(HEAD + PF + "targets: {pt_corr: jet_pt}\nloss: " + loss + "\n")
    with pytest.raises(ConfigError, match=r"c\.yaml") as e:
        DataConfig.load(cfg)
    assert e.value.field == field


def test_collections_group_inputs_by_prefix(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        HEAD + PF + "  sv_features: {length: 2, vars: [sv_pt]}\n  jet_sv_mask: {length: 2, vars: [sv_pt]}\n"
    )
    c = DataConfig.load(cfg)
    assert c.collections == {
        "pf": {"features": "pf_features", "vectors": "pf_vectors", "mask": "pf_mask"},
        "sv": {"features": "sv_features"},
        "jet_sv": {"mask": "jet_sv_mask"},
    }
    assert c.required_heads() == [("labels", "logits")]
