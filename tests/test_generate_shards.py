"""``generate_jets(shard_size=N)`` / ``generate jets --shard-size``: shards with every class, the manifest as a file
list for training, determinism across workers, resuming without rewriting finished shards, flat memory."""

from __future__ import annotations

import json
import shutil
import tracemalloc

import awkward as ak
import numpy as np
import pytest

pytest.importorskip("pythia8mc")

import higgsflow.generate.jets as jets_module
from higgsflow.cli import main
from higgsflow.data import DataConfig
from higgsflow.data.io import read_metadata, read_table
from higgsflow.data.loader import expand_files
from higgsflow.errors import ConfigError, DataError
from higgsflow.generate import generate_jets

CLASSES = ["QCD", "Wqq"]
#: 2 classes × 30 jets in chunks of 10, shards of 20 jets: 3 shards of 10 jets of each class
RUN = {"seed": 7, "chunk_size": 10}


def _shards(manifest):
    return expand_files([manifest])


def _concat(files):
    return ak.concatenate([read_table(f) for f in files])


def _by_class_and_pt(t):
    """Rows sorted by class, then jet pT: the order-free content of a file."""
    cls = np.argmax(np.stack([ak.to_numpy(t[f"label_{c}"]) for c in CLASSES], axis=1), axis=1)
    return t[np.lexsort((ak.to_numpy(t.jet_pt), cls))]


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    out = tmp_path_factory.mktemp("shards") / "jets.parquet"
    return generate_jets(CLASSES, 30, out, shard_size=20, **RUN)


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    return generate_jets(CLASSES, 30, tmp_path_factory.mktemp("merged") / "jets.parquet", **RUN)


def _fake_chunk(spec, progress=None):
    """A stand-in for Pythia (same seeding, no physics): a chunk of jets with jagged particle columns in no time."""
    rng = np.random.default_rng(np.random.SeedSequence(list(spec.seed_entropy)))
    n = spec.n_jets
    counts = rng.integers(20, 60, n)
    cols = {
        f"part_{v}": ak.unflatten(rng.normal(size=counts.sum()), counts) for v in ("px", "py", "pz", "energy")
    }
    if progress is not None:
        progress(n)
    return {**cols, "jet_pt": rng.uniform(500, 1000, n), "_n_events": 3 * n}


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(jets_module, "run_chunk", _fake_chunk)


def test_shards_hold_every_class_in_proportion_shuffled_and_the_manifest_lists_them(sharded):
    assert sharded.name == "jets.manifest.json"
    folder = sharded.parent
    names = [f"jets_{i:05d}.parquet" for i in range(3)]
    assert sorted(p.name for p in folder.iterdir()) == sorted([*names, sharded.name])  # no work folder left
    manifest = json.loads(sharded.read_text())
    assert [s["file"] for s in manifest["shards"]] == names
    assert all(s["entries"] == 20 and s["class_counts"] == {"QCD": 10, "Wqq": 10} for s in manifest["shards"])
    assert manifest["entries"] == 60 and manifest["class_counts"] == {"QCD": 30, "Wqq": 30}
    assert manifest["seed"] == 7 and manifest["settings"]["shard_size"] == 20
    assert all(manifest["events_generated"][c] >= 30 for c in CLASSES)
    events = {c: 0.0 for c in CLASSES}
    for i, name in enumerate(names):
        t = read_table(folder / name)
        qcd = ak.to_numpy(t.label_QCD)
        assert len(t) == 20 and qcd.sum() == 10 and ak.to_numpy(t.label_Wqq).sum() == 10
        assert np.all(ak.to_numpy(t.label_Hbb) == 0)  # labels one-hot over all JetClass classes, as unsharded
        assert not np.array_equal(qcd, np.sort(qcd))  # mixed, not in blocks of one class
        meta = read_metadata(folder / name)
        assert meta["shard"] == i and meta["n_shards"] == 3 and meta["settings"] == manifest["settings"]
        assert meta["processes"]["Wqq"]["pythia"]
        for c in CLASSES:
            events[c] += meta["events_generated"][c]
    assert {c: round(e) for c, e in events.items()} == manifest["events_generated"]


def test_the_shards_together_hold_the_jets_of_the_unsharded_file(sharded, merged):
    whole, union = read_table(merged), _concat(_shards(sharded))
    for c in CLASSES:
        pts = [np.sort(ak.to_numpy(t.jet_pt[t[f"label_{c}"] == 1])) for t in (whole, union)]
        assert len(pts[0]) == 30 and np.array_equal(*pts)
    a, b = _by_class_and_pt(whole), _by_class_and_pt(union)
    assert a.fields == b.fields
    for f in a.fields:  # every column, jagged ones included, jet by jet
        assert ak.all(ak.flatten(a[f], axis=None) == ak.flatten(b[f], axis=None)), f


def test_two_dask_workers_write_byte_identical_shards(sharded, tmp_path):
    pytest.importorskip("dask.distributed")
    out = generate_jets(CLASSES, 30, tmp_path / "jets.parquet", shard_size=20, workers=2, **RUN)
    for a, b in zip(_shards(sharded), _shards(out), strict=True):
        assert open(a, "rb").read() == open(b, "rb").read(), b  # noqa: PTH123, SIM115


def test_the_manifest_is_a_file_list_for_training(sharded, tmp_path, monkeypatch, capsys):
    folder = sharded.parent
    shards = [str(folder / f"jets_{i:05d}.parquet") for i in range(3)]
    assert expand_files([sharded]) == shards
    assert (
        expand_files([folder / "*.manifest.json", folder / "jets_00000.parquet"]) == shards
    )  # glob, no repeats
    monkeypatch.chdir(folder.parent)  # relative to the manifest's folder, not to the working directory
    assert expand_files([f"{folder.name}/jets.manifest.json"]) == [
        f"{folder.name}/{s.split('/')[-1]}" for s in shards
    ]
    monkeypatch.undo()

    cfg = tmp_path / "cfg.yaml"
    DataConfig.from_dict(
        {
            "inputs": {
                "pf_features": {
                    "length": 16,
                    "vars": [["part_deta", None], ["part_dphi", None], "part_charge"],
                },
                "pf_mask": {"length": 16, "vars": [["part_energy", None]]},
            },
            "labels": {"type": "simple", "value": [f"label_{c}" for c in CLASSES]},
        }
    ).dump(cfg)
    run = tmp_path / "run"
    args = ["train", "-c", str(cfg), "--train", str(sharded), "--val", str(folder / "jets_00002.parquet")]
    args += ["-n", "pfn", "--network-options", '{"phi_sizes": [8], "f_sizes": [8]}', "--epochs", "1"]
    assert main([*args, "--batch-size", "16", "-o", str(run)]) == 0
    info = json.loads((run / "train.json").read_text())
    assert info["train_files"] == shards and info["n_train"] == 60
    assert (
        main(["predict", str(run), str(sharded), "-o", str(tmp_path / "scored"), "--backend", "torch"]) == 0
    )
    scored = sorted((tmp_path / "scored").iterdir())
    assert [p.name for p in scored] == [f"jets_{i:05d}.parquet" for i in range(3)]
    assert all("score_QCD" in read_table(p).fields and len(read_table(p)) == 20 for p in scored)
    assert main(["inspect", str(sharded)]) == 0
    text = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "manifest of 3 shards, 60 entries" in text and "jets_00000.parquet … jets_00002.parquet" in text


def test_a_missing_shard_is_one_error_line_naming_the_manifest(sharded, tmp_path, capsys):
    folder = tmp_path / "copy"
    shutil.copytree(sharded.parent, folder)
    (folder / "jets_00001.parquet").unlink()
    manifest = folder / sharded.name
    with pytest.raises(
        DataError, match=r"jets.manifest.json: --train: shard .*jets_00001.parquet .* is missing"
    ):
        expand_files([manifest], field="--train")
    capsys.readouterr()
    for argv in (["inspect", str(manifest)], ["train", "-c", "nothing.yaml", "--train", str(manifest)]):
        if argv[0] == "train":  # a real config, so that the manifest is what fails
            cfg = tmp_path / "cfg.yaml"
            DataConfig.from_dict(
                {
                    "inputs": {"jet_features": {"length": 1, "vars": ["jet_pt"]}},
                    "labels": {"type": "simple", "value": ["label_QCD"]},
                }
            ).dump(cfg)
            argv = [
                "train",
                "-c",
                str(cfg),
                "--train",
                str(manifest),
                "--val",
                str(manifest),
                "-o",
                str(tmp_path / "r"),
                "-n",
                "dnn",
            ]
        assert main(argv) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and "jets.manifest.json" in err[0], err
        assert "jets_00001.parquet" in err[0] and "missing" in err[0]
    (folder / "jets.manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="unreadable shard manifest"):
        expand_files([manifest])


def test_an_interrupted_run_resumes_without_rewriting_finished_shards(fake, tmp_path, monkeypatch):
    class Stop(Exception):
        pass

    calls = []

    def failing(spec, progress=None):
        calls.append(spec)
        if len(calls) == 5:  # the first chunk of the third shard; shards 0 and 1 are written by then
            raise Stop
        return _fake_chunk(spec, progress)

    out = tmp_path / "jets.root"
    monkeypatch.setattr(jets_module, "run_chunk", failing)
    with pytest.raises(Stop):
        generate_jets(CLASSES, 40, out, shard_size=20, **RUN)
    # chunks run shard by shard, classes interleaved
    assert [(s.name, s.meta["chunk"]) for s in calls[:4]] == [("QCD", 0), ("Wqq", 0), ("QCD", 1), ("Wqq", 1)]
    assert sorted(p.name for p in tmp_path.glob("jets_*.root")) == ["jets_00000.root", "jets_00001.root"]
    assert not (tmp_path / "jets.manifest.json").exists()
    parts = tmp_path / ".jets.root.parts"
    assert not list(parts.glob("*.parquet"))  # the chunks of written shards are deleted
    mtimes = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("jets_*.root")}

    monkeypatch.setattr(jets_module, "run_chunk", _fake_chunk)
    calls.clear()
    seen = []
    manifest = generate_jets(CLASSES, 40, out, shard_size=20, progress=seen.append, **RUN)
    assert seen[0] == 40  # the jets of the finished shards are reported at once
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("jets_0000[01].root")} == mtimes
    assert not parts.exists()

    other = tmp_path / "once" / "jets.root"  # the same run without interruption
    generate_jets(CLASSES, 40, other, shard_size=20, **RUN)
    for a, b in zip(_shards(manifest), _shards(other.parent / "jets.manifest.json"), strict=True):
        ta, tb = read_table(a), read_table(b)
        assert ta.fields == tb.fields
        for f in ta.fields:
            assert ak.all(ak.flatten(ta[f], axis=None) == ak.flatten(tb[f], axis=None)), (a, f)


def test_bad_shard_size_and_existing_outputs(fake, tmp_path, capsys):
    for bad in (0, 1, 2.5, True):  # 1 < two classes: a shard could not hold every class
        with pytest.raises(ConfigError, match="shard_size"):
            generate_jets(CLASSES, 10, tmp_path / "a.root", seed=1, shard_size=bad)
    out = tmp_path / "a.parquet"
    generate_jets(CLASSES, 4, out, seed=1, chunk_size=2, shard_size=4)
    with pytest.raises(DataError, match=r"a\.manifest\.json.*exists"):
        generate_jets(CLASSES, 4, out, seed=1, chunk_size=2, shard_size=4)
    (tmp_path / "a.manifest.json").unlink()
    # shards of an unknown run are not replaced
    with pytest.raises(DataError, match=r"a_00000\.parquet.*exists"):
        generate_jets(CLASSES, 4, out, seed=1, chunk_size=2, shard_size=4)
    (tmp_path / "a_00005.parquet").write_bytes(b"stale")  # of a run with more shards: gone after --overwrite
    generate_jets(CLASSES, 4, out, seed=2, chunk_size=2, shard_size=4, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.manifest.json",
        "a_00000.parquet",
        "a_00001.parquet",
    ]
    assert read_metadata(tmp_path / "a_00000.parquet")["settings"]["seed"] == 2
    (tmp_path / "afile").write_text("")
    argv = ["generate", "jets", "--classes", "QCD,Wqq", "--n-jets", "4", "--seed", "1", "--shard-size", "4"]
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "afile" / "b.root")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a folder" in err[0]
    assert main([*argv, "--chunk-size", "2", "--out", str(tmp_path / "c" / "b.root")]) == 0
    assert "wrote 2 shards and their manifest" in capsys.readouterr().out
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "b.manifest.json",
        "b_00000.root",
        "b_00001.root",
    ]


def _peak_bytes(out, shard_size, n_jets):
    tracemalloc.start()
    try:
        generate_jets(CLASSES, n_jets, out, seed=3, chunk_size=250, shard_size=shard_size)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_submitting_process_memory_stays_flat_as_the_shards_grow_in_number(fake, tmp_path):
    """Peak (Python-tracked: numpy, awkward) memory of 6 shards against 2 shards of the same size; the unsharded
    merge of the same jets, which holds everything at once, shows that the measurement sees the difference."""
    generate_jets(CLASSES, 10, tmp_path / "warm" / "j.parquet", seed=3, shard_size=10)  # imports, caches
    small = _peak_bytes(tmp_path / "a" / "j.parquet", 1000, 1000)  # 2 shards of 1000 jets
    large = _peak_bytes(tmp_path / "b" / "j.parquet", 1000, 3000)  # 6 shards
    assert large < 1.3 * small, (small, large)
    merged_small = _peak_bytes(tmp_path / "c" / "j.parquet", None, 1000)
    merged_large = _peak_bytes(tmp_path / "d" / "j.parquet", None, 3000)
    assert merged_large > 2 * merged_small and merged_large > 2 * large, (merged_small, merged_large, large)
