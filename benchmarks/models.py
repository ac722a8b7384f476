"""higgsflow vs weaver-core: jets/s of ParT and ParticleNet (JetClass defaults, 17 features, padded to 128).

Settings (both sides, one process, the same thread count): realistic multiplicities (mean ≈ 50, 20-128
particles: weaver-core's ParticleNet fails on a lone jet with ≤ k = 16),
eval mode for inference (weaver-core after its trimmer warm-up, ``trim=True``; under ``torch.no_grad`` as its
predict loop; higgsflow under ``torch.inference_mode``), training steps = forward + backward + AdamW step
in train
mode, batch 256, the two models' steps interleaved, each pair from the same random state (same trimmed
length). ``predict``: ``higgsflow predict`` (default backend ONNX Runtime, from file to scored
copy) vs
weaver-core's PyTorch model on the same file (reading with higgsflow's loader, batches of 512 padded to 128).

    PYTHONPATH=src python benchmarks/models.py [--threads 2] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def jets(n: int, seed: int, length: int = 128, n_features: int = 17):
    rng = np.random.default_rng(seed)
    counts = np.clip(np.round(rng.lognormal(np.log(45), 0.45, n)), 20, length).astype(int)
    mask = (np.arange(length)[None] < counts[:, None]).astype(np.float32)[:, None]
    x = rng.standard_normal((n, n_features, length)).astype(np.float32) * mask
    pt = rng.exponential(20, (n, length)) + 0.5
    eta, phi = rng.normal(0, 0.2, (2, n, length))
    v = np.stack([pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta)], 1).astype(
        np.float32
    )
    pts = np.stack([eta, phi], 1).astype(np.float32)
    return [torch.from_numpy(a) for a in (pts, x, v * mask, mask)], rng.integers(0, 10, n)


def _time(fn, n_jets: int, min_time: float) -> float:
    fn()
    t0 = time.perf_counter()
    done = 0
    while True:
        fn()
        done += n_jets
        dt = time.perf_counter() - t0
        if dt > min_time:
            return done / dt


def weaver_part():
    """weaver-core's ParT as particle_transformer configures it for JetClass (17 features, 10 classes)."""
    from weaver.nn.model.ParticleTransformer import ParticleTransformer as WPT

    return WPT(
        17,
        10,
        pair_input_dim=4,
        use_pre_activation_pair=False,
        cls_block_params={"dropout": 0, "attn_dropout": 0, "activation_dropout": 0},
        fc_params=[],
        trim=True,
    )


def models(name: str):
    from weaver.nn.model.ParticleNet import ParticleNet as WPN

    from higgsflow.models.part import ParticleTransformer
    from higgsflow.models.particlenet import ParticleNet

    torch.manual_seed(0)
    if name == "ParT":
        w = weaver_part()
        return (lambda p, x, v, m: w(x, v=v, mask=m)), w, ParticleTransformer(17, 10)
    conv = [(16, (64, 64, 64)), (16, (128, 128, 128)), (16, (256, 256, 256))]
    w = WPN(17, 10, conv_params=conv, fc_params=[(256, 0.1)], use_fusion=False)
    return (lambda p, x, v, m: w(p, x, m)), w, ParticleNet(17, 10)


def bench_model(name: str, min_time: float, n_batch1: int) -> list[tuple[str, float, float]]:
    wf, wmod, hf = models(name)
    rows = []
    # inference, batch 1 and 512
    for bs in (1, 512):
        inputs, _ = jets(bs if bs > 1 else n_batch1, seed=bs)
        wmod.eval()
        hf.eval()
        with torch.no_grad():
            for _ in range(6):  # weaver-core's trimmer warm-up
                wf(*[t[:1] for t in inputs])
        if bs == 1:
            singles = [[t[i : i + 1] for t in inputs] for i in range(n_batch1)]

            def run_w(singles=singles):
                with torch.no_grad():
                    for s in singles:
                        wf(*s)

            def run_h(singles=singles):
                with torch.inference_mode():
                    for s in singles:
                        hf(*s)

            n = n_batch1
        else:

            def run_w(inputs=inputs):
                with torch.no_grad():
                    wf(*inputs)

            def run_h(inputs=inputs):
                with torch.inference_mode():
                    hf(*inputs)

            n = bs
        w_rate, h_rate = _time(run_w, n, min_time), _time(run_h, n, min_time)
        rows.append((f"{name} inference batch {bs}", h_rate, w_rate))
    # training steps, batch 256
    inputs, labels = jets(256, seed=7)
    y = torch.from_numpy(labels)
    wmod.train()
    hf.train()
    opt_w = torch.optim.AdamW(wmod.parameters(), lr=1e-4)
    opt_h = torch.optim.AdamW(hf.parameters(), lr=1e-4)

    def step(f, opt):
        def run():
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(f(*inputs), y)
            loss.backward()
            opt.step()

        return run

    for _ in range(6):  # weaver-core's trimmer warm-up
        step(wf, opt_w)()
    step(hf, opt_h)()
    # interleaved steps, each pair from the same random state: both sides draw the same trimmed length (the
    # step time grows ~ P², so unpaired draws over a few steps decide the ratio more than the code does)
    t_h = t_w = 0.0
    n_steps = 0
    while n_steps < 3 or t_h + t_w < 2 * min_time:
        for run, is_h in ((step(hf, opt_h), True), (step(wf, opt_w), False)):
            torch.manual_seed(1000 + n_steps)
            t0 = time.perf_counter()
            run()
            dt = time.perf_counter() - t0
            t_h, t_w = (t_h + dt, t_w) if is_h else (t_h, t_w + dt)
        n_steps += 1
    rows.append((f"{name} training batch 256", 256 * n_steps / t_h, 256 * n_steps / t_w))
    return rows


def bench_predict(n_jets: int) -> tuple[str, float, float]:

    from higgsflow.data import load_arrays
    from higgsflow.data.toy import JETCLASS_LABELS, write_toy_jets
    from higgsflow.models.weaver import load_weaver_state_dict
    from higgsflow.train.inference import predict_files
    from higgsflow.train.loop import TrainSettings, train

    tmp = Path(tempfile.mkdtemp())
    cfg_path = Path(__file__).resolve().parents[1] / "tests/data/particle_transformer/JetClass_full.yaml"
    per = n_jets // 10
    f = write_toy_jets(tmp / "jets.root", list(JETCLASS_LABELS), per, seed=5, n_min=10, n_max=100)
    small = write_toy_jets(tmp / "small.root", list(JETCLASS_LABELS), 2, seed=6)
    # a run folder holding a JetClass-size ParT (one tiny training step: the weights do not matter for speed)
    run = train(
        cfg_path,
        [small],
        [small],
        tmp / "run",
        TrainSettings(network="part", epochs=1, batch_size=20, optimizer="adamw", scheduler="none"),
    )
    from higgsflow.data import DataConfig

    cfg = DataConfig.load(run.run_dir / "data_config.yaml")
    w = weaver_part()
    # weaver-core's model with the same weights
    state = torch.load(run.run_dir / "model.pt", weights_only=True)
    w.load_state_dict(state, strict=False)
    hf_check = load_weaver_state_dict  # noqa: F841  (same key names both ways)
    w.eval()
    with torch.no_grad():
        for _ in range(6):
            w(torch.zeros(1, 17, 128), v=torch.ones(1, 4, 128), mask=torch.ones(1, 1, 128))

    def weaver_predict():
        arrays = load_arrays([f], cfg, train=False)
        x, v, m = (torch.from_numpy(arrays.inputs[k]) for k in ("pf_features", "pf_vectors", "pf_mask"))
        out = []
        with torch.no_grad():
            for i in range(0, len(m), 512):
                out.append(torch.softmax(w(x[i : i + 512], v=v[i : i + 512], mask=m[i : i + 512]), 1))
        return torch.cat(out)

    t0 = time.perf_counter()
    weaver_predict()
    t_w = time.perf_counter() - t0
    from higgsflow.train.inference import export_onnx

    export_onnx(run.run_dir)  # exported once, as `higgsflow export` would
    t0 = time.perf_counter()
    predict_files(run.run_dir, [f], tmp / "pred")
    t_h = time.perf_counter() - t0
    return (f"predict, {n_jets} jets from a ROOT file (s/file → jets/s)", n_jets / t_h, n_jets / t_w)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="ParT,ParticleNet,predict")
    args = ap.parse_args()
    logging.getLogger("weaver").setLevel(logging.WARNING)
    torch.set_num_threads(args.threads)
    min_time = 3.0 if args.quick else 8.0
    rows = []
    for name in args.only.split(","):
        if name in ("ParT", "ParticleNet"):
            rows += bench_model(name, min_time, n_batch1=30 if args.quick else 100)
        elif name == "predict":
            rows.append(bench_predict(2000 if args.quick else 5000))
    print(f"torch {torch.__version__}, {args.threads} threads")
    print(f"{'setting':55s} {'higgsflow':>12s} {'weaver-core':>12s} {'ratio':>7s}")
    for label, h, w in rows:
        print(f"{label:55s} {h:10.1f}/s {w:10.1f}/s {h / w:6.2f}x")


if __name__ == "__main__":
    main()
