"""The helpers of benchmarks/flavour.py: ``--models`` (train a subset of the four taggers) and the gates and goals,
which are n/a, naming the missing models, when a model they compare was not run."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("benchmarks/flavour.py")


def _row(
    rej: float, b_raw: float = 0.140, b_reg: float = 0.130, drop: float = 0.04, shift: float = 0.2
) -> dict:
    return {
        "test": {
            "b_vs_light_rej@70%": rej,
            "pt_resolution": {"b": {"raw": b_raw, "regressed": b_reg}},
            "coverage_16_84": 0.66,
        },
        "attack": {"auc_drop": drop},
        "shift_rej_drop": shift,
    }


def test_models_are_taken_in_the_tables_order_and_an_unknown_one_is_named(bench, capsys):
    assert bench._model_list("UParT+adv, UParT") == ["UParT", "UParT+adv"]
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--models", "UParT,PNet"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "--models" in err and "'PNet'" in err and "ParticleNet" in err


def test_checks_of_models_not_run_are_na_and_name_them(bench):
    gates = {c["what"]: c for c in bench.checks({"UParT": _row(1000.0, b_raw=0.140, b_reg=0.130)})}
    b_reg = next(c for w, c in gates.items() if "regressed p_T resolution" in w)
    assert b_reg["verdict"] == "PASS" and b_reg["value"] == "0.13 vs raw 0.14"
    order = next(c for w, c in gates.items() if w.startswith("b-vs-light rejection"))
    assert order["verdict"] == "n/a" and order["value"] == "not run: ParticleNet, DeepJet-like"
    adv = next(c for w, c in gates.items() if "attacked-AUC" in w)
    assert adv["verdict"] == "n/a" and "UParT+adv" in adv["value"]
    worse = bench.checks({"UParT": _row(1000.0, b_raw=0.140, b_reg=0.150)})
    assert next(c for c in worse if "regressed" in c["what"])["verdict"] == "FAIL"


def test_all_four_models_give_every_verdict(bench):
    rows = {
        "DeepJet-like": _row(50.0),
        "ParticleNet": _row(600.0),
        "UParT": _row(1200.0, drop=0.04, shift=0.3),
        "UParT+adv": _row(2400.0, drop=0.03, shift=0.1),
    }
    verdicts = {c["what"]: c["verdict"] for c in bench.checks(rows)}
    assert verdicts["b-vs-light rejection at 70 %: UParT >= ParticleNet >= DeepJet-like"] == "PASS"
    assert verdicts["light rejection ParticleNet / DeepJet-like >= 2 at 70 % b efficiency"] == "PASS"
    assert verdicts["adversarial training halves the nominal-to-shifted rejection drop"] == "PASS"
    assert verdicts["UParT [q16, q84] coverage 68 % +- 3 %"] == "PASS"
    rows["ParticleNet"] = _row(40.0)  # below the DeepJet-like baseline
    verdicts = {c["what"]: c["verdict"] for c in bench.checks(rows)}
    assert verdicts["b-vs-light rejection at 70 %: UParT >= ParticleNet >= DeepJet-like"] == "FAIL"
    assert verdicts["light rejection ParticleNet / DeepJet-like >= 2 at 70 % b efficiency"] == "FAIL"
