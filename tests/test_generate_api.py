"""generate_jets and ``higgsflow generate jets``: errors, determinism across workers, resuming, the CLI."""

from __future__ import annotations

import os

import awkward as ak
import numpy as np
import pytest
from typer.testing import CliRunner

pytest.importorskip("pythia8mc")

from higgsflow.data.io import read_metadata, read_table
from higgsflow.errors import ConfigError, DataError
from higgsflow.generate import generate_jets, parse_resonance_mass
from higgsflow.generate.cli import app
from higgsflow.generate.jets import make_pythia
from higgsflow.generate.truth import classify_decay as classify_decay_names


def _same(a, b):
    assert a.fields == b.fields
    for f in a.fields:
        assert ak.all(ak.flatten(a[f], axis=None) == ak.flatten(b[f], axis=None)), f


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """Two classes, 2 chunks of 8 jets each, in-process."""
    out = tmp_path_factory.mktemp("api") / "small.parquet"
    return generate_jets(["QCD", "Wqq"], 16, out, seed=5, chunk_size=8)


def test_unknown_class_bad_count_and_bad_options_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown jet class 'Hxx'.*one of: QCD"):
        generate_jets("QCD,Hxx", 10, tmp_path / "a.root", seed=1)
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="n_jets"):
            generate_jets("QCD", bad, tmp_path / "a.root", seed=1)
    with pytest.raises(ConfigError, match="resonance_mass"):
        parse_resonance_mass("gauss:1:2")
    with pytest.raises(ConfigError, match="jet_type"):
        generate_jets("QCD", 5, tmp_path / "a.root", seed=1, jet_type="ak15")
    with pytest.raises(DataError, match="unknown file type"):
        generate_jets("QCD", 5, tmp_path / "a.csv", seed=1)
    assert list(tmp_path.iterdir()) == []


def test_existing_output_and_unwritable_directory(tmp_path, small):
    with pytest.raises(DataError, match="output exists"):
        generate_jets("QCD", 5, small, seed=1)
    with pytest.raises(DataError, match="not writable"):  # the "directory" is a file
        generate_jets("QCD", 5, small / "x.root", seed=1)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # running as root: permissions are not enforced
            pytest.skip("directory permissions are not enforced for this user")
        with pytest.raises(DataError, match="not writable"):
            generate_jets("QCD", 5, locked / "x.root", seed=1)
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)


def test_a_pythia_setting_that_fails_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="NoSuch:thing = on: Pythia rejected a setting"):
        make_pythia(["NoSuch:thing = on"], seed=1)
    with pytest.raises(ConfigError, match="NoSuch:thing = on"):
        generate_jets("Hbb", 5, tmp_path / "x.root", seed=1, pythia_settings=["NoSuch:thing = on"])
    runner = CliRunner()
    res = runner.invoke(app, ["jets", "--classes", "Hbb", "--n-jets", "5", "--out", str(tmp_path / "y.root"),
                              "--seed", "1", "--pythia", "NoSuch:thing = on"])  # fmt: skip
    assert isinstance(res.exception, ConfigError)
    assert list(tmp_path.iterdir()) == []  # no output, no work folder


def test_file_content_and_metadata(small):
    t = read_table(small)
    assert len(t) == 32
    assert np.array_equal(ak.to_numpy(t.label_QCD), np.repeat([1.0, 0.0], 16))
    assert np.array_equal(ak.to_numpy(t.label_Wqq), np.repeat([0.0, 1.0], 16))
    meta = read_metadata(small)
    assert meta["settings"]["classes"] == ["QCD", "Wqq"]
    assert meta["processes"]["Wqq"]["pythia"]
    assert meta["events_generated"]["QCD"] > 0
    assert not (small.parent / f".{small.name}.parts").exists()


def test_same_seed_same_file_with_dask_workers_and_after_resuming(tmp_path, small):
    pytest.importorskip("dask.distributed")
    out = tmp_path / "dask.parquet"
    generate_jets(["QCD", "Wqq"], 16, out, seed=5, chunk_size=8, workers=2)
    _same(read_table(small), read_table(out))

    # interrupt after the first chunk, then resume: the finished chunk is reused and the file is identical
    resumed = tmp_path / "resumed.parquet"

    class Stop(Exception):
        pass

    done = []

    def stop_after_first(n):
        done.append(n)
        if sum(done) > 8:  # the first jets of the second chunk
            raise Stop

    with pytest.raises(Stop):
        generate_jets(["QCD", "Wqq"], 16, resumed, seed=5, chunk_size=8, progress=stop_after_first)
    assert not resumed.exists()
    parts = tmp_path / f".{resumed.name}.parts"
    finished = sorted(p.name for p in parts.glob("*.parquet"))
    assert finished == ["QCD_00000.parquet"]
    mtime = (parts / finished[0]).stat().st_mtime_ns
    seen = []
    generate_jets(["QCD", "Wqq"], 16, resumed, seed=5, chunk_size=8, progress=seen.append)
    assert seen[0] == 8  # the finished chunk is reported at once, not regenerated
    _same(read_table(small), read_table(resumed))
    assert not parts.exists()
    assert mtime > 0


def test_different_seed_different_jets(tmp_path, small):
    out = tmp_path / "other.parquet"
    generate_jets(["QCD"], 8, out, seed=6, chunk_size=8)
    a = ak.to_numpy(read_table(small).jet_pt[:8])
    b = ak.to_numpy(read_table(out).jet_pt)
    assert not np.array_equal(a, b)


def test_flat_resonance_mass_moves_the_softdrop_mass(tmp_path):
    out = tmp_path / "mass.parquet"
    generate_jets(["Hbb"], 12, out, seed=3, chunk_size=4, resonance_mass="flat:40:80")
    t = read_table(out)
    m = ak.to_numpy(t.aux_resonance_mass)
    assert np.all((m > 39) & (m < 81))
    assert len(np.unique(np.round(m))) >= 2  # one mass per chunk
    assert np.median(ak.to_numpy(t.jet_sdmass)) < 90
    assert read_metadata(out)["chunk_resonance_masses"]


def test_cli_generate_jets(tmp_path):
    out = tmp_path / "cli.root"
    runner = CliRunner()
    res = runner.invoke(app, ["jets", "--classes", "Zqq", "--n-jets", "6", "--out", str(out), "--seed", "2"])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output
    assert len(read_table(out)) == 6
    res = runner.invoke(app, ["jets", "--classes", "Zqq", "--n-jets", "6", "--out", str(out), "--seed", "2"])
    assert res.exit_code != 0
    assert isinstance(res.exception, DataError)
    res = runner.invoke(app, ["jets", "--classes", "Nope", "--n-jets", "6", "--out", str(out), "--seed", "2"])
    assert isinstance(res.exception, ConfigError)


def test_labels_follow_the_decay_content():
    assert classify_decay_names(25, [5, -5]) == "Hbb"
    assert classify_decay_names(25, [1, -2, 3, -4]) == "H4q"
    assert classify_decay_names(25, [-11, 12, 1, -2]) == "Hqql"
    assert classify_decay_names(6, [5, 2, -1]) == "Tbqq"
    assert classify_decay_names(6, [5, -13, 14]) == "Tbl"
    assert classify_decay_names(24, [2, -1]) == "Wqq"
    assert classify_decay_names(23, [5, -5]) == "Zqq"
    assert classify_decay_names(25, [22, 22]) is None


def test_pileup_is_off_by_default_and_adds_neutral_energy_when_on(tmp_path, small):
    assert read_metadata(small)["settings"]["pileup"] == 0.0
    out = tmp_path / "pu.parquet"
    generate_jets(["QCD"], 12, out, seed=5, chunk_size=12, pileup=10)
    pu = read_table(out)
    nopu = read_table(small)[:16]
    n_neutral = [float(np.mean(ak.to_numpy(ak.sum(t.part_charge == 0, axis=1)))) for t in (pu, nopu)]
    assert n_neutral[0] > n_neutral[1] + 3

    # charged pile-up is removed (the card's TrackPileUpSubtractor): kept, pile-up tracks (σ(z) = 53 mm)
    # would put a third of all tracks at |dz| > 2 mm; hard-event tracks there come from K0S/Λ decays only
    def far(t):
        return float(np.mean(np.abs(ak.to_numpy(ak.flatten(t.part_dzval[t.part_charge != 0]))) > 2.0))

    assert far(pu) < far(nopu) + 0.05
    with pytest.raises(ConfigError, match="pileup"):
        generate_jets(["QCD"], 5, tmp_path / "bad.parquet", seed=5, pileup=-1)
