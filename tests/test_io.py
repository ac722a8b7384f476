import awkward as ak
import numpy as np
import pytest
import uproot

from higgsflow.data.io import (
    describe_file,
    iter_tables,
    num_entries,
    read_metadata,
    read_table,
    write_table,
)
from higgsflow.errors import DataError, SchemaError


def _jets(n=50, seed=0):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 40, n)
    px = ak.unflatten(rng.normal(0, 10, counts.sum()), counts)
    labels = np.eye(2)[rng.integers(0, 2, n)]
    return {
        "part_px": px,
        "part_d0val": ak.unflatten(rng.normal(0, 0.05, counts.sum()), counts),
        "jet_pt": rng.uniform(500, 1000, n),
        "jet_nparticles": counts.astype(np.float32),
        "label_QCD": labels[:, 0],
        "label_Hbb": labels[:, 1],
    }


@pytest.mark.parametrize("suffix", [".root", ".parquet"])
def test_round_trip_keeps_values_and_metadata(tmp_path, suffix):
    cols = _jets()
    path = write_table(
        tmp_path / f"jets{suffix}", cols, metadata={"seed": 7, "settings": {"classes": ["QCD"]}}
    )
    table = read_table(path)
    assert set(cols) == set(table.fields)  # no uproot counter leaks into the data
    for name, col in cols.items():
        assert ak.all(ak.isclose(table[name], col)), name
    assert read_metadata(path) == {"seed": 7, "settings": {"classes": ["QCD"]}}
    assert num_entries(path) == 50
    chunks = list(iter_tables(path, ["jet_pt"], step=20))
    assert [len(c) for c in chunks] == [20, 20, 10]
    assert np.allclose(np.concatenate([ak.to_numpy(c.jet_pt) for c in chunks]), cols["jet_pt"])


def test_root_layout_is_jetclass_like(tmp_path):
    path = write_table(tmp_path / "jets.root", _jets())
    with uproot.open(path) as f:
        tree = f["tree"]
        assert type(tree).__name__.startswith("Model_TTree")
        # jagged particle branches share one counter, as in the JetClass files
        assert tree["part_px"].count_branch.name == tree["part_d0val"].count_branch.name == "npart"


def test_refuses_to_overwrite_and_leaves_no_partial_file(tmp_path):
    path = write_table(tmp_path / "jets.parquet", _jets())
    before = path.read_bytes()
    with pytest.raises(DataError, match="output exists"):
        write_table(path, _jets(seed=1))
    assert path.read_bytes() == before
    bad = {"jet_pt": np.ones(3), "jet_eta": np.ones(4)}
    with pytest.raises(DataError, match="different lengths"):
        write_table(tmp_path / "bad.root", bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jets.parquet"]
    write_table(path, _jets(seed=1), overwrite=True)
    assert path.read_bytes() != before


def test_missing_branch_and_tree_are_named(tmp_path):
    path = write_table(tmp_path / "jets.root", _jets())
    with pytest.raises(SchemaError, match=r"part_dzval: branch not found"):
        read_table(path, ["part_px", "part_dzval"])
    with pytest.raises(SchemaError, match=r"Events: tree not found \(expected one of the file's objects"):
        read_table(path, tree="Events")
    with pytest.raises(DataError, match="unknown file type"):
        read_table(tmp_path / "jets.h5")


def test_describe_checks_one_hot_labels(tmp_path):
    cols = _jets(10)
    summary = describe_file(write_table(tmp_path / "ok.parquet", cols))
    assert summary.label_counts["label_QCD"] + summary.label_counts["label_Hbb"] == 10
    assert summary.groups["part_"] == ["part_px", "part_d0val"]
    cols["label_Hbb"] = cols["label_Hbb"].copy()
    cols["label_Hbb"][3] = 1.0
    cols["label_QCD"][3] = 1.0
    with pytest.raises(DataError, match=r"row 3: labels are not one-hot"):
        describe_file(write_table(tmp_path / "bad.parquet", cols))


def test_reads_real_nanoaod(real_data_dir):
    """The same reader opens a real CMS NanoAODv15 file (tree Events)."""
    path = real_data_dir / "nano_tt_v15.root"
    jets = read_table(path, ["nJet", "Jet_pt", "Jet_hadronFlavour"], tree="Events")
    assert len(jets) == 200
    assert ak.sum(jets.nJet) == 1636
    flav = ak.flatten(jets.Jet_hadronFlavour)
    assert set(np.unique(ak.to_numpy(flav))) <= {0, 4, 5}
    # all-hadronic ttbar: b-flavoured jets are common, about two per event
    assert 1.0 < ak.sum(flav == 5) / 200 < 3.0


def _truncated_copy(src, dst, fraction):
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


@pytest.fixture
def jagged_root(tmp_path):
    rng = np.random.default_rng(3)
    counts = rng.integers(5, 60, size=4000)
    pts = ak.unflatten(rng.exponential(20.0, counts.sum()), counts)
    return write_table(
        tmp_path / "full.root",
        {"part_pt": pts, "jet_pt": rng.uniform(500, 1000, 4000), "label_QCD": np.ones(4000)},
    )


@pytest.mark.parametrize("fraction", [0.3, 0.6, 0.9])
def test_truncated_root_file_is_a_data_error_naming_it(jagged_root, tmp_path, fraction):
    bad = _truncated_copy(jagged_root, tmp_path / "cut.root", fraction)
    with pytest.raises(DataError) as info:
        read_table(bad)
        for _ in iter_tables(bad, step=500):
            pass
    message = str(info.value)
    assert message.startswith(str(bad)) and any(w in message for w in ("truncated", "corrupt", "cannot open"))


def test_corrupt_basket_is_a_data_error_naming_the_file(jagged_root, tmp_path):
    """Garbage in the middle of the compressed particle data: the decompressor's error becomes a DataError."""
    data = bytearray(jagged_root.read_bytes())
    with uproot.open(jagged_root) as f:
        branch = f["tree"]["part_pt"]
        start = int(branch.member("fBasketSeek")[0])
    data[start + 200 : start + 400] = bytes(range(200))
    bad = tmp_path / "garbled.root"
    bad.write_bytes(bytes(data))
    with pytest.raises(DataError) as info:
        read_table(bad, ["part_pt"])
    assert str(info.value).startswith(str(bad)) and "corrupt" in str(info.value)


def test_truncated_parquet_file_is_a_data_error_naming_it(tmp_path):
    good = write_table(tmp_path / "full.parquet", {"jet_pt": np.arange(50_000.0)})
    bad = _truncated_copy(good, tmp_path / "cut.parquet", 0.5)
    with pytest.raises(DataError, match=r"cut\.parquet"):
        read_table(bad)


def test_cli_on_a_truncated_root_file_exits_1_with_one_line(jagged_root, tmp_path, capsys):
    from higgsflow.cli import main

    bad = _truncated_copy(jagged_root, tmp_path / "cut.root", 0.6)
    assert main(["inspect", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("error:") and str(bad) in err
    assert "bug" not in err
