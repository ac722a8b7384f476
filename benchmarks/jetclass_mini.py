"""PFN, DNN, ParticleNet and ParT on the same generated sample, several seeds: a JetClass-style table.

Sample: ``higgsflow.generate`` (Pythia 8, detector), or the toy jets of ``higgsflow.data.toy`` with ``--toy``.
Network sizes are reduced for a CPU (printed with the results).

    PYTHONPATH=src python benchmarks/jetclass_mini.py [--toy] [--jets-per-class 300] [--epochs 5] [--seeds 3]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np

from higgsflow.data.toy import JETCLASS_LABELS

CLASSES = list(JETCLASS_LABELS)
SMALL = {
    "part": {
        "embed_dims": [32, 64, 32],
        "pair_embed_dims": [16, 16],
        "num_heads": 4,
        "num_layers": 2,
        "num_cls_layers": 1,
    },
    "particlenet": {"conv_params": [[8, [32, 32]], [8, [64, 64]]], "fc_params": [[64, 0.1]]},
    "pfn": {"phi_sizes": [64, 64, 64], "f_sizes": [64, 64]},
    "dnn": {"hidden": [64, 64]},
}


def dnn_config(classes):
    from higgsflow.data import DataConfig

    return DataConfig.from_dict(
        {
            "new_variables": {
                "jet_tau21": "jet_tau2 / jet_tau1",
                "jet_tau32": "jet_tau3 / jet_tau2",
                "jet_tau43": "jet_tau4 / jet_tau3",
                "jet_logpt": "np.log(jet_pt)",
                "jet_n": "jet_nparticles",
            },
            "inputs": {
                "jet_features": {
                    "length": 1,
                    "vars": [
                        ["jet_logpt", 6, 1],
                        ["jet_sdmass", 100, 0.01],
                        "jet_tau21",
                        "jet_tau32",
                        "jet_tau43",
                        ["jet_n", 40, 0.05],
                    ],
                }
            },
            "labels": {"type": "simple", "value": [f"label_{c}" for c in classes]},
        }
    )


def make_sample(d: Path, n: int, toy: bool, seed: int) -> dict[str, Path]:
    from higgsflow.data import read_table, write_table

    if toy:
        from higgsflow.data.toy import write_toy_jets

        src = write_toy_jets(d / "all.parquet", CLASSES, n, seed=seed)
    else:
        from higgsflow.generate import generate_jets

        src = d / "all.parquet"
        generate_jets(CLASSES, n * len(CLASSES), src, seed=seed)
    table = read_table(src)
    order = np.random.default_rng(seed).permutation(len(table))
    cut = [0, int(0.6 * len(order)), int(0.8 * len(order)), len(order)]
    out = {}
    for i, name in enumerate(("train", "val", "test")):
        part = table[np.sort(order[cut[i] : cut[i + 1]])]
        out[name] = write_table(d / f"{name}.parquet", {k: part[k] for k in part.fields})
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--toy", action="store_true")
    ap.add_argument("--jets-per-class", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--networks", default="dnn,pfn,particlenet,part")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import torch

    from higgsflow.train import TrainSettings, evaluate_run, train
    from higgsflow.train.demo import demo_data_config

    d = Path(tempfile.mkdtemp())
    files = make_sample(d, args.jets_per_class, args.toy, seed=123)
    print(
        f"sample: {args.jets_per_class} jets x {len(CLASSES)} classes ({'toy' if args.toy else 'generated'}),"
        f" {args.epochs} epochs, {args.seeds} seeds, torch threads {torch.get_num_threads()}"
    )
    print("networks:", SMALL)
    results: dict[str, list[dict]] = {}
    for net in args.networks.split(","):
        cfg = dnn_config(CLASSES) if net == "dnn" else demo_data_config(CLASSES, length=64)
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            run = train(
                cfg,
                [files["train"]],
                [files["val"]],
                d / f"{net}_{seed}",
                TrainSettings(
                    network=net,
                    network_kwargs=SMALL[net],
                    epochs=args.epochs,
                    batch_size=128,
                    lr=2e-3,
                    seed=seed,
                ),
            )
            m = evaluate_run(run.run_dir, [files["test"]]).metrics
            results.setdefault(net, []).append(
                {
                    "acc": m.accuracy,
                    "auc": m.auc,
                    **{f"rej_{k}": v for k, v in m.rejection.items()},
                    "time": time.perf_counter() - t0,
                }
            )
    cols = ["acc", "auc", "rej_Hbb", "rej_Tbqq", "rej_Wqq", "time"]
    print(f"{'network':12s}" + "".join(f"{c:>18s}" for c in cols))
    for net, rows in results.items():
        cells = []
        for c in cols:
            v = np.array([r.get(c, np.nan) for r in rows], float)
            v = v[np.isfinite(v)]
            cells.append(f"{v.mean():9.3f} ± {v.std():6.3f}" if v.size else f"{'n/a':>18s}")
        print(f"{net:12s}" + "".join(f"{c:>18s}" for c in cells))


if __name__ == "__main__":
    main()
