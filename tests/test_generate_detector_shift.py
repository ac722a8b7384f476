"""The shifted detector (a mismodelling proxy): each factor does what it says on many particles, the nominal
detector is unchanged, and the option reaches the files' metadata."""

from __future__ import annotations

import numpy as np
import pytest

from higgsflow.errors import ConfigError
from higgsflow.generate import detector
from higgsflow.generate.detector import parse_shift, simulate


def _particles(n: int, pid: int, charge: float, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    pt = rng.uniform(5, 50, n)
    eta = rng.uniform(-1, 1, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
    m = 0.1396 if charge else 0.0
    e = np.sqrt(px**2 + py**2 + pz**2 + m**2)
    # one particle per event (no calorimeter overlaps); displaced by 1 mm in x for a non-zero true d0
    return {
        "event": np.arange(n), "pid": np.full(n, pid), "charge": np.full(n, charge),
        "px": px, "py": py, "pz": pz, "e": e,
        "vx": np.full(n, 1.0), "vy": np.zeros(n), "vz": np.zeros(n),
    }  # fmt: skip


def test_nominal_is_the_default_and_each_factor_acts():
    pions = _particles(20_000, 211, 1.0)
    nominal = simulate(pions, np.random.default_rng(1))
    same = simulate(pions, np.random.default_rng(1), {})
    np.testing.assert_array_equal(nominal.d0, same.d0)
    # tracking efficiency −3 %: 3 % fewer tracks (the same random numbers decide)
    fewer = simulate(pions, np.random.default_rng(1), {"tracking_efficiency": 0.97})
    n0, n1 = int((nominal.charge != 0).sum()), int((fewer.charge != 0).sum())
    assert n1 / n0 == pytest.approx(0.97, abs=0.004)
    # impact-parameter resolution +20 %: the pulls against the stored (nominal) errors widen by 1.2
    wide = simulate(pions, np.random.default_rng(1), {"ip_resolution": 1.2})
    d0_true = detector.helix_impact_parameters(
        pions["vx"], pions["vy"], pions["vz"], pions["px"], pions["py"], pions["pz"], pions["charge"]
    )[0]
    for flow, want in ((nominal, 1.0), (wide, 1.2)):
        trk = flow.gen_index >= 0
        pull = (flow.d0[trk] - d0_true[flow.gen_index[trk]]) / flow.d0err[trk]
        assert np.std(pull) == pytest.approx(want, rel=0.03)
    np.testing.assert_array_equal(wide.d0err, nominal.d0err)  # the reconstruction does not know
    # neutral energy scale +5 %
    photons = _particles(5000, 22, 0.0, seed=2)
    e0 = simulate(photons, np.random.default_rng(3)).energy.sum()
    e1 = simulate(photons, np.random.default_rng(3), {"neutral_energy_scale": 1.05}).energy.sum()
    assert e1 / e0 == pytest.approx(1.05, rel=1e-9)


def test_bad_shifts_name_the_field():
    assert parse_shift("ip_resolution=1.2, tracking_efficiency=0.97") == {
        "ip_resolution": 1.2,
        "tracking_efficiency": 0.97,
    }
    for text in ("ip_res=1.2", "ip_resolution=x", "tracking_efficiency=1.1", "neutral_energy_scale=0"):
        with pytest.raises(ConfigError, match="detector_shift"):
            parse_shift(text)


def test_generate_records_the_shift_and_refuses_a_bad_one(tmp_path, capsys):
    from higgsflow.cli import main
    from higgsflow.data.io import read_metadata

    out = tmp_path / "shifted.parquet"
    args = ["generate", "jets", "--classes", "b", "--jet-type", "ak4", "--n-jets", "5", "--seed", "3"]
    assert main([*args, "--out", str(out), "--detector-shift", "ip_resolution=1.2"]) == 0
    assert read_metadata(out)["settings"]["detector_shift"] == {"ip_resolution": 1.2}
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "bad.parquet"), "--detector-shift", "ip_res=2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "detector_shift" in err[0] and "ip_res" in err[0]
