"""The end-to-end demo: generate a small JetClass-like sample, train a small ParT, evaluate it.

It is what the README runs first; on 2 CPU cores it finishes in a few minutes.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from higgsflow.data.config import DataConfig
from higgsflow.data.io import read_table, write_table
from higgsflow.errors import ConfigError, DataError

__all__ = ["DEMO_CLASSES", "DemoResult", "demo_data_config", "run_demo"]

log = logging.getLogger(__name__)

DEMO_CLASSES = ("QCD", "Hbb", "Hcc", "Tbqq", "Wqq")
_MARKER = ".higgsflow-demo"
DEMO_PART = {
    "embed_dims": [64, 128, 64],
    "pair_embed_dims": [32, 32],
    "num_heads": 4,
    "num_layers": 3,
    "num_cls_layers": 1,
}


def demo_data_config(classes=DEMO_CLASSES, length: int = 64) -> DataConfig:
    """The JetClass_full inputs (17 particle features, four-vectors, mask) padded to ``length``."""
    return DataConfig.from_dict(
        {
            "new_variables": {
                "part_mask": "ak.ones_like(part_energy)",
                "part_pt": "np.hypot(part_px, part_py)",
                "part_pt_log": "np.log(part_pt)",
                "part_e_log": "np.log(part_energy)",
                "part_logptrel": "np.log(part_pt/jet_pt)",
                "part_logerel": "np.log(part_energy/jet_energy)",
                "part_deltaR": "np.hypot(part_deta, part_dphi)",
                "part_d0": "np.tanh(part_d0val)",
                "part_dz": "np.tanh(part_dzval)",
            },
            "preprocess": {"method": "manual", "data_fraction": 0.5},
            "inputs": {
                "pf_points": {
                    "length": length,
                    "pad_mode": "wrap",
                    "vars": [["part_deta", None], ["part_dphi", None]],
                },
                "pf_features": {
                    "length": length,
                    "pad_mode": "wrap",
                    "vars": [
                        ["part_pt_log", 1.7, 0.7],
                        ["part_e_log", 2.0, 0.7],
                        ["part_logptrel", -4.7, 0.7],
                        ["part_logerel", -4.7, 0.7],
                        ["part_deltaR", 0.2, 4.0],
                        ["part_charge", None],
                        ["part_isChargedHadron", None],
                        ["part_isNeutralHadron", None],
                        ["part_isPhoton", None],
                        ["part_isElectron", None],
                        ["part_isMuon", None],
                        ["part_d0", None],
                        ["part_d0err", 0, 1, 0, 1],
                        ["part_dz", None],
                        ["part_dzerr", 0, 1, 0, 1],
                        ["part_deta", None],
                        ["part_dphi", None],
                    ],
                },
                "pf_vectors": {
                    "length": length,
                    "pad_mode": "wrap",
                    "vars": [["part_px", None], ["part_py", None], ["part_pz", None], ["part_energy", None]],
                },
                "pf_mask": {"length": length, "pad_mode": "constant", "vars": [["part_mask", None]]},
            },
            "labels": {"type": "simple", "value": [f"label_{c}" for c in classes]},
            "observers": ["jet_pt", "jet_eta", "jet_sdmass"],
        }
    )


@dataclass
class DemoResult:
    run_dir: Path
    metrics: Any
    plots: dict[str, Path]
    n_test: int


def _generate(classes, jets_per_class: int, path: Path, *, seed: int, workers: int, toy: bool) -> list[Path]:
    if toy:
        from higgsflow.data.toy import write_toy_jets

        return [write_toy_jets(path, list(classes), jets_per_class, seed=seed)]
    try:
        from higgsflow.generate import generate_jets
    except ImportError as exc:
        raise ConfigError(
            f"the jet generator is not available ({exc})",
            field="higgsflow.generate",
            expected="higgsflow installed with the [gen] extra (pythia8mc, fastjet), or `demo --toy`",
        ) from None
    # n_jets is per class; the generator returns the one file it wrote
    return [Path(generate_jets(list(classes), jets_per_class, path, seed=seed, workers=workers))]


def run_demo(
    out: str | os.PathLike[str],
    *,
    jets_per_class: int = 300,
    epochs: int = 6,
    seed: int = 1,
    workers: int = 1,
    toy: bool = False,
    overwrite: bool = False,
    progress: Callable[[str], None] | None = None,
) -> DemoResult:
    """Generate ``jets_per_class`` jets of each of :data:`DEMO_CLASSES`, split 60/20/20, train a small ParT
    for
    ``epochs`` epochs, evaluate on the test split (``out/run/eval``)."""
    from higgsflow.train.inference import evaluate_run
    from higgsflow.train.loop import TrainSettings, train

    say = progress or (lambda msg: log.info(msg))
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise DataError("demo folder exists", file=out, expected="a new --out folder or --overwrite")
        # only a folder that an earlier demo made is ever deleted, never an arbitrary one
        if not (out / _MARKER).is_file():
            raise DataError(
                "folder is not empty and was not made by higgsflow demo; refusing to delete it",
                file=out,
                expected="a new or empty --out folder",
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).write_text(
        "made by higgsflow demo; `higgsflow demo --overwrite` may delete this folder\n"
    )
    say(f"generating {jets_per_class} jets for each of {', '.join(DEMO_CLASSES)}")
    files = _generate(DEMO_CLASSES, jets_per_class, out / "jets.parquet", seed=seed, workers=workers, toy=toy)
    table = read_table(files[0])
    for f in files[1:]:
        import awkward as ak

        table = ak.concatenate([table, read_table(f)])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(table))
    n_tr, n_va = int(0.6 * len(order)), int(0.2 * len(order))
    splits = {"train": order[:n_tr], "val": order[n_tr : n_tr + n_va], "test": order[n_tr + n_va :]}
    paths = {}
    for name, idx in splits.items():
        part = table[np.sort(idx)]
        paths[name] = write_table(out / f"{name}.parquet", {k: part[k] for k in part.fields})
    cfg = demo_data_config()
    cfg.dump(out / "data_config.yaml")
    cfg = DataConfig.load(out / "data_config.yaml")
    say(f"training a small ParT on {n_tr} jets for {epochs} epochs")
    settings = TrainSettings(
        network="part",
        network_kwargs=DEMO_PART,
        epochs=epochs,
        batch_size=64,
        lr=2e-3,
        optimizer="ranger",
        scheduler="flat+decay",
        seed=seed,
    )
    run = train(cfg, [paths["train"]], [paths["val"]], out / "run", settings)
    say("evaluating on the test split")
    ev = evaluate_run(run.run_dir, [paths["test"]])
    return DemoResult(run.run_dir, ev.metrics, ev.plots, len(splits["test"]))
