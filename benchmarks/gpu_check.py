"""GPU checks for the tagger framework: AMP training, AMP vs fp32 scores, GPU throughput against weaver-core.

Run on a machine with an NVIDIA GPU (falls back to the CPU, where AMP is off and the check is moot):

    PYTHONPATH=src python benchmarks/gpu_check.py [--out DIR]

1. trains the demo-size ParT on toy jets with AMP on and off (same seed) and prints accuracy, loss and time;
2. scores the same jets with a full-size ParT in fp32 and under autocast (fp16, bf16): max |Δ softmax|;
3. jets/s of full-size ParT and ParticleNet, higgsflow vs weaver-core, inference (batch 512) and training steps
   (batch 256), fp32 and AMP, same inputs (benchmarks/models.py's realistic multiplicities).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from models import jets, models


def _rate(fn, n_jets: int, device: torch.device, min_time: float = 2.0) -> float:
    for _ in range(3):
        fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0, done = time.perf_counter(), 0
    while True:
        fn()
        done += n_jets
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if dt > min_time:
            return done / dt


def amp_training(out: Path, device: torch.device) -> None:
    from higgsflow.data.toy import write_toy_jets
    from higgsflow.train import TrainSettings, evaluate_run, train
    from higgsflow.train.demo import DEMO_PART, demo_data_config

    classes = ("QCD", "Hbb", "Hcc", "Tbqq", "Wqq")
    files = {
        split: write_toy_jets(out / f"{split}.parquet", classes, n, seed=seed, overwrite=True)
        for split, n, seed in (("train", 3000, 1), ("val", 600, 2), ("test", 1000, 3))
    }
    cfg = demo_data_config(classes)
    print("## 1. AMP training (demo-size ParT, toy jets, 5 classes)")
    for amp in (False, True):
        settings = TrainSettings(
            network="part",
            network_kwargs=DEMO_PART,
            epochs=8,
            batch_size=256,
            lr=2e-3,
            seed=1,
            amp=amp,
            device=device.type,
        )
        t0 = time.perf_counter()
        run = train(cfg, [files["train"]], [files["val"]], out / f"run_amp{int(amp)}", settings)
        dt = time.perf_counter() - t0
        ev = evaluate_run(run.run_dir, [files["test"]])
        last = run.history[-1]
        print(
            f"amp={amp!s:5} train {dt:6.1f} s  final train loss {last.get('train_loss', float('nan')):.4f}  "
            f"test accuracy {ev.metrics.accuracy:.4f}  macro AUC {ev.metrics.auc:.4f}"
        )


def amp_scores(device: torch.device) -> None:
    from higgsflow.models.part import ParticleTransformer

    print("## 2. full-size ParT scores: autocast vs fp32 (512 jets)")
    torch.manual_seed(0)
    model = ParticleTransformer(17, 10).to(device).eval()
    pts, x, v, m = (t.to(device) for t in jets(512, seed=11)[0])
    with torch.inference_mode():
        ref = torch.softmax(model(pts, x, v, m).float(), -1)
        for dtype in (torch.float16, torch.bfloat16):
            with torch.autocast(device.type, dtype=dtype):
                got = torch.softmax(model(pts, x, v, m).float(), -1)
            same = (got.argmax(-1) == ref.argmax(-1)).float().mean().item()
            print(
                f"{dtype!s:15} max |Δ softmax| {(got - ref).abs().max().item():.2e}  same argmax {same:.4f}"
            )


def throughput(device: torch.device) -> None:
    print("## 3. GPU throughput, jets/s (higgsflow / weaver-core)")
    print(f"{'setting':44} {'higgsflow':>10} {'weaver':>10} {'ratio':>6}")
    for name in ("ParT", "ParticleNet"):
        wf, wmod, hf = models(name)
        wmod.to(device)
        hf.to(device)
        for amp in (False, True):
            inputs = [t.to(device) for t in jets(512, seed=5)[0]]
            wmod.eval()
            hf.eval()
            with torch.no_grad():
                for _ in range(6):  # weaver-core's trimmer warm-up
                    wf(*[t[:1] for t in inputs])

            def inf(f, inputs=inputs, amp=amp):
                def run():
                    with torch.inference_mode(), torch.autocast(device.type, enabled=amp):
                        f(*inputs)

                return run

            h = _rate(inf(hf), 512, device)
            try:
                w = _rate(inf(wf), 512, device)
            except RuntimeError as exc:  # weaver-core's ParticleNet overflows fp16 (its coord_shift = 1e9)
                print(f"{name + f' inference b512 amp={amp}':44} {h:10.0f} {'fails':>10}  ({str(exc)[:50]})")
                continue
            print(f"{name + f' inference b512 amp={amp}':44} {h:10.0f} {w:10.0f} {h / w:6.2f}")
            tin, labels = jets(256, seed=7)
            tin = [t.to(device) for t in tin]
            y = torch.from_numpy(labels).to(device)
            wmod.train()
            hf.train()

            def step(f, params, tin=tin, y=y, amp=amp):
                opt = torch.optim.AdamW(params, lr=1e-4)
                scaler = torch.amp.GradScaler(device.type, enabled=amp and device.type == "cuda")

                def run():
                    opt.zero_grad()
                    with torch.autocast(device.type, enabled=amp):
                        loss = torch.nn.functional.cross_entropy(f(*tin).float(), y)
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()

                return run

            h = _rate(step(hf, list(hf.parameters())), 256, device)
            w = _rate(step(wf, list(wmod.parameters())), 256, device)
            print(f"{name + f' training b256 amp={amp}':44} {h:10.0f} {w:10.0f} {h / w:6.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="folder for the toy files and runs")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: train,scores,throughput")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"device: {name}, torch {torch.__version__}")
    skip = set(args.skip.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        if "train" not in skip:
            amp_training(out, device)
        if "scores" not in skip:
            amp_scores(device)
        if "throughput" not in skip:
            throughput(device)


if __name__ == "__main__":
    main()
