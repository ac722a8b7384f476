"""Streaming vs in-memory training: peak resident memory on 1× and 4× the files, and training throughput.

    PYTHONPATH=src python benchmarks/stream.py [--jets-per-file 20000] [--fetch-jets 10000] [--epochs 2] [--repeat 3]

Writes toy jets in the JetClass schema (higgsflow.data.toy; 10 classes, up to 100 particles, padded to 128 by the
particle_transformer JetClass_full config: about 11 kB per jet in memory) into 4 Parquet files, then trains a
reduced ParT (2 particle-attention layers of width 64; the full size trains at ~50 jets/s on 2 cores) for
``--epochs`` epochs, each run in its own process (its peak RSS from getrusage, as ``/usr/bin/time -v`` reports it):

- ``stream 1×`` / ``stream 4×``: ``--load stream`` on 1 file and on all 4 (a window of ``--fetch-jets`` jets);
- ``memory 1×`` / ``memory 4×``: ``--load memory`` (every jet read first).

Prints the medians over ``--repeat`` runs of each setting, run interleaved. The issue's gates: stream 4× peak RSS
< 1.3 × stream 1×; stream throughput ≥ 0.9 × in-memory on the same file.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the networks (a small PFN by default: the cheaper the step, the more the reading shows)
NETWORKS = {
    "pfn": {},
    "part": {
        "embed_dims": [64, 64],
        "pair_embed_dims": [32, 32],
        "num_heads": 4,
        "num_layers": 2,
        "num_cls_layers": 1,
    },
    "particlenet": {"conv_params": [[16, [64, 64, 64]], [16, [128, 128, 128]]], "fc_params": [[128, 0.1]]},
}


def child(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    from higgsflow.train import TrainSettings, train

    s = TrainSettings(
        network=args.network,
        network_kwargs=NETWORKS[args.network],
        epochs=args.epochs,
        batch_size=256,
        optimizer="adamw",
        scheduler="none",
        load=args.load,
        fetch_jets=args.fetch_jets,
        checkpoint_every=None,
        max_memory_gb=args.max_memory_gb,
        seed=1,
    )
    t0 = time.perf_counter()
    r = train(args.config, args.train, [args.val], args.out, s)
    wall = time.perf_counter() - t0
    meta = json.loads((Path(args.out) / "train.json").read_text())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB -> GB
    print(json.dumps({"peak_gb": peak, "wall_s": wall, "n_train": meta["n_train"], "load": meta["load"],
                      "val_loss": r.history[-1]["val_loss"]}))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jets-per-file", type=int, default=20_000)
    ap.add_argument("--fetch-jets", type=int, default=10_000)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--network", default="pfn", choices=sorted(NETWORKS))
    ap.add_argument("--max-memory-gb", type=float, default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--load", default="stream", help=argparse.SUPPRESS)
    ap.add_argument("--config", help=argparse.SUPPRESS)
    ap.add_argument("--train", nargs="*", help=argparse.SUPPRESS)
    ap.add_argument("--val", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    sys.path.insert(0, str(ROOT / "src"))
    from higgsflow.data.toy import JETCLASS_LABELS, write_toy_jets

    labels = list(JETCLASS_LABELS)
    per_class = args.jets_per_file // len(labels)
    config = ROOT / "tests/data/particle_transformer/JetClass_full.yaml"
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as d:
        files = [
            str(
                write_toy_jets(
                    f"{d}/train_{k}.parquet", labels, per_class, seed=10 + k, n_max=100, label_names=labels
                )
            )
            for k in range(4)
        ]
        val = str(write_toy_jets(f"{d}/val.parquet", labels, 100, seed=99, n_max=100, label_names=labels))
        settings = [("stream", 1), ("memory", 1), ("stream", 4), ("memory", 4)]
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        for rep in range(args.repeat):
            for load, n in settings:
                out = f"{d}/run_{load}_{n}_{rep}"
                cmd = [sys.executable, __file__, "--child", "--load", load, "--config", str(config),
                       "--train", *files[:n], "--val", val, "--out", out, "--epochs", str(args.epochs),
                       "--fetch-jets", str(args.fetch_jets), "--threads", str(args.threads),
                       "--network", args.network]  # fmt: skip
                if args.max_memory_gb:
                    cmd += ["--max-memory-gb", str(args.max_memory_gb)]
                res = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
                if res.returncode:
                    sys.exit(f"{load} {n}x failed:\n{res.stderr[-3000:]}")
                r = json.loads(res.stdout.strip().splitlines()[-1])
                results.setdefault(f"{load} {n}x", []).append(r)
                print(f"run {rep + 1}: {load} {n}x: {r}", flush=True)

    def med(key: str, field: str) -> float:
        import statistics

        return statistics.median(r[field] for r in results[key])

    print(
        f"\n{args.jets_per_file} jets per file, window {args.fetch_jets} jets, {args.epochs} epochs, {args.network}, "
        f"{args.threads} threads; medians of {args.repeat}"
    )
    print(f"{'setting':12s} {'jets':>7s} {'peak RSS':>9s} {'jets/s':>8s}")
    for key in results:
        n = results[key][0]["n_train"]
        rate = n * args.epochs / med(key, "wall_s")
        print(f"{key:12s} {n:7d} {med(key, 'peak_gb'):7.2f} GB {rate:8.0f}")
    mem = med("stream 4x", "peak_gb") / med("stream 1x", "peak_gb")
    thr = med("memory 1x", "wall_s") / med("stream 1x", "wall_s")
    thr4 = med("memory 4x", "wall_s") / med("stream 4x", "wall_s")
    print(f"stream peak RSS 4x / 1x files: {mem:.2f} (gate < 1.3)")
    print(f"stream / memory throughput, 1x: {thr:.2f}, 4x: {thr4:.2f} (gate >= 0.9)")


if __name__ == "__main__":
    main()
