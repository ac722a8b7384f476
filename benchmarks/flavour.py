"""AK4 flavour tagging benchmark: DeepJet-like, ParticleNet-AK4, UParT-AK4 without and with adversarial training.

Generates (or reuses, ``--data DIR``) an AK4 sample of the eight flavour classes (b, bb, c, cc, s, ud, g, τh)
with ``higgsflow generate jets --jet-type ak4``: training, validation and test files, and the SAME test events
simulated with a shifted detector (impact-parameter resolution ×1.2, tracking efficiency ×0.97, neutral energy
scale ×1.05; the mismodelling proxy). It trains the four taggers below on the same jets, with the same task (the
eight classes plus the flavour-aware p_T regression ``pt_corr`` and its quantiles ``pt_q16``/``pt_q84``, the
linear ratio jet_genjet_wnu_pt / jet_pt) and prints, on the same test jets:

- b-vs-light and c-vs-light rejection (1/ε_light, light = ud + s + g) at 70 % and 30 % signal efficiency, with
  the CMS discriminants BvsAll (b jets = b + bb) and CvsL (c jets = c + cc) of ``higgsflow.tagging``;
- the s-vs-(ud, g) AUC (p_s / (p_s + p_ud + p_g)) and the τh-vs-jet AUC (p_τh, τh against every other jet);
- the p_T resolution, half the 16–84 % width of p_T / p_T,gen (p_T,gen = jet_genjet_wnu_pt) divided by its
  median (so a response offset does not count as resolution), raw (jet_pt) and regressed (jet_pt · pt_corr) per
  flavour, and the quantile coverage (fraction of jets whose truth ratio lies in
  [pt_q16, pt_q84]; target 68 % ± 3 %);
- the mean one-vs-rest AUC under an input attack (``evaluate_run(..., attack_eps=ATTACK_EPS)``: one normalised
  gradient step, ‖δ/s‖₂ = ε per jet in units of each feature's spread s; the talk gives no ε, this benchmark
  uses ATTACK_EPS = ADV_EPS below) and the relative drop of the b-vs-light rejection at 70 % from the nominal to
  the shifted test sample, without and with adversarial training;
- the gates and goals of the issue with PASS/FAIL beside each.

``--models UParT`` (comma-separated) trains only some of the four; the checks that compare a model not run
are n/a. The table is also written as JSON (``--out``). Every model's network options and training settings are in
``MODELS`` / ``SETTINGS`` at the top; the printout states the sizes used.

Sizes. Default (``python benchmarks/flavour.py``): 500 training jets per class (+ 125 validation per class) and
2,500 test and 2,500 shifted test jets per class (``--test-jets-per-class``: 7,500 light test jets, so that light
rejections near 10³ rest on several passing jets), 10 epochs, batch 64, training seed 42 (``--train-seed``);
UParT reduced to embeddings (64, 128, 64), pair embedding (32, 32, 32), 4 + 1 blocks of 4 heads; ParticleNet
(weaver-core's ParticleNetTagger defaults) and the DeepJet-like baseline at their full sizes. ``--full-size``
gives UParT ParT's full size (128, 512, 128; 8 + 2 blocks of 8 heads) and belongs on a GPU. ``--quick`` is a smoke
run (60 training and 30 test jets per class, 1 epoch, batch 64, a tiny UParT of 16-wide embeddings and one block):
it only shows that the chain runs, its figures are noise. Data files are named by their jets per class
(``train_500.root``) and reused from ``--data`` when that size is there.

Time (2 CPU cores). Generation of the 45,000 jets about 10 min with ``--workers 2`` on an idle machine (25 and 11
min for the two test files when they shared the cores with training jobs). Training and evaluation of the four
models at the default size: 14 min (DeepJet-like 1.5 min, ParticleNet 2 min, UParT 4.5 min, UParT+adv 6 min;
another training job shared the cores for part of it); two runs side by side with ``OMP_NUM_THREADS=1`` each took 20 and 34 min. Several torch
processes with the default thread count on the same 2 cores slow each other down far more than 2× (the first
default-size run took 66 min that way). Larger samples (``--jets-per-class 5000`` and more, ``--full-size``)
belong on a GPU (``--device cuda``, generation with ``--workers``).

    python benchmarks/flavour.py --quick --out /tmp/flavour.json
    python benchmarks/flavour.py --jets-per-class 5000 --epochs 20 --full-size --device cuda --workers 8 \\
        --data data/ak4 --out flavour.json   # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLASSES = ["b", "bb", "c", "cc", "s", "ud", "g", "tauh"]
SHIFT = "ip_resolution=1.2,tracking_efficiency=0.97,neutral_energy_scale=1.05"

# ---------------------------------------------------------------- configuration (one place) -------------------
UPART_CONFIG = ROOT / "examples/tagging/upart_ak4.yaml"  # charged PF, neutral PF, SV (+ jet features)
PNET_CONFIG = ROOT / "examples/tagging/particlenet_ak4.yaml"  # PF (charged + neutral) and SV, with points

ADV_EPS = 0.5  # adversarial training: normalised gradient step, ‖δ/s‖₂ = ε per jet (spread units)
ADV_EVERY = 3  # on every third batch (the default)
ATTACK_EPS = ADV_EPS  # the attack at evaluation, same method and size
UPART_REDUCED = {
    "embed_dims": [64, 128, 64],
    "pair_embed_dims": [32, 32, 32],
    "num_heads": 4,
    "num_layers": 4,
    "num_cls_layers": 1,
}
UPART_FULL: dict = {}  # ParT's defaults: (128, 512, 128), (64, 64, 64), 8 heads, 8 + 2 blocks
UPART_TINY = {
    "embed_dims": [16, 16],
    "pair_embed_dims": [8],
    "num_heads": 2,
    "num_layers": 1,
    "num_cls_layers": 1,
}

# name: (network, data config, network options (None: size-dependent UParT), adversarial)
MODELS = {
    "DeepJet-like": (
        "deepjet",
        UPART_CONFIG,
        {},
        False,
    ),  # full size: convs 64-32-32-8 / 32-16-4 / 64-32-32-8,
    # LSTMs 150/50/50, dense 200 + 7x100 (docs/models.md)
    "ParticleNet": ("particlenet_sv", PNET_CONFIG, {}, False),  # weaver-core ParticleNetTagger defaults
    "UParT": ("upart", UPART_CONFIG, None, False),
    "UParT+adv": ("upart", UPART_CONFIG, None, True),
}
SETTINGS = {  # TrainSettings common to all models
    "batch_size": 64,  # 4,000 training jets: 63 steps an epoch (at 256 the models saw 128 steps in all)
    "lr": 1e-3,
    "optimizer": "ranger",
    "scheduler": "flat+decay",
    "seed": 42,
    "checkpoint_every": None,
}
FLAVOURS = {"b": ["b", "bb"], "c": ["c", "cc"], "s": ["s"], "ud": ["ud"], "g": ["g"], "tauh": ["tauh"]}
LIGHT = ["ud", "s", "g"]


# ---------------------------------------------------------------- data -----------------------------------------
def make_data(data: Path, n_train: int, n_test: int, workers: int, seed: int) -> dict[str, Path]:
    """train / val / test / test_shifted files (the shifted test: same seed, shifted detector), named by their
    jets per class (``train_500.root``): reused when a file of that size is there, generated otherwise."""
    from higgsflow.generate.api import generate_jets

    n_val = max(n_train // 4, 10)
    plan = {
        "train": (n_train, seed, None),
        "val": (n_val, seed + 1, None),
        "test": (n_test, seed + 2, None),
        "test_shifted": (n_test, seed + 2, SHIFT),
    }
    files = {}
    data.mkdir(parents=True, exist_ok=True)
    for name, (n, s, shift) in plan.items():
        path = data / f"{name}_{n}.root"
        if not path.is_file():
            t0 = time.time()
            extra = {"detector_shift": shift} if shift else {}
            generate_jets(
                CLASSES, n, path, seed=s, jet_type="ak4", workers=workers, chunk_size=min(n, 500), **extra
            )
            print(f"  generated {path.name}: {n} jets per class in {time.time() - t0:.0f} s", flush=True)
        else:
            print(f"  reusing {path}", flush=True)
        files[name] = path
    return files


# ---------------------------------------------------------------- metrics --------------------------------------
def auc(score: np.ndarray, is_sig: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if is_sig.all() or not is_sig.any():
        return float("nan")
    return float(roc_auc_score(is_sig, score))


def rejection(disc: np.ndarray, sig: np.ndarray, bkg: np.ndarray, eff: float) -> float:
    """1 / (light efficiency) at the cut keeping ``eff`` of the signal jets (inf if no background passes)."""
    if not sig.any() or not bkg.any():
        return float("nan")
    cut = np.quantile(disc[sig], 1 - eff)
    passed = np.count_nonzero(disc[bkg] >= cut)
    return float(bkg.sum() / passed) if passed else float("inf")


def half_width(ratio: np.ndarray) -> float:
    """Half the 16-84 % width of ``ratio`` divided by its median (a regression that shrinks every p_T would
    otherwise look precise)."""
    if ratio.size < 2:
        return float("nan")
    q16, q50, q84 = np.quantile(ratio, [0.16, 0.5, 0.84])
    return float(0.5 * (q84 - q16) / q50) if q50 > 0 else float("nan")


def tagging_metrics(heads: dict, arrays) -> dict:
    """Rejections, AUCs, p_T resolution and coverage on one scored test sample."""
    from higgsflow.tagging import discriminants

    probs = heads["softmax"]
    label = arrays.label
    scores = {f"score_{c}": probs[:, i] for i, c in enumerate(CLASSES)}
    d = discriminants(scores)
    of = {c: np.isin(label, [CLASSES.index(k) for k in ks]) for c, ks in FLAVOURS.items()}
    light = np.isin(label, [CLASSES.index(k) for k in LIGHT])
    out: dict = {"jets": int(label.size)}
    for eff in (0.7, 0.3):
        out[f"b_vs_light_rej@{eff:.0%}"] = rejection(d["BvsAll"], of["b"], light, eff)
        out[f"c_vs_light_rej@{eff:.0%}"] = rejection(d["CvsL"], of["c"], light, eff)
    p = {c: probs[:, CLASSES.index(c)] for c in CLASSES}
    ud_g = of["ud"] | of["g"]
    keep = of["s"] | ud_g
    svs = p["s"] / np.maximum(p["s"] + p["ud"] + p["g"], 1e-12)
    out["s_vs_udg_auc"] = auc(svs[keep], of["s"][keep])
    out["tauh_vs_jet_auc"] = auc(p["tauh"], of["tauh"])
    # p_T: raw jet_pt / p_T,gen against the regressed jet_pt * pt_corr / p_T,gen
    pt, gen = arrays.observers["jet_pt"], arrays.observers["jet_genjet_wnu_pt"]
    truth = gen / pt  # the regression target
    reg = heads.get("pt_corr")
    res = {}
    for c, m in of.items():
        row = {"raw": half_width(pt[m] / gen[m])}
        if reg is not None:
            row["regressed"] = half_width(pt[m] * reg[m] / gen[m])
        res[c] = row
    out["pt_resolution"] = res
    if "pt_q16" in heads and "pt_q84" in heads:
        lo, hi = np.minimum(heads["pt_q16"], heads["pt_q84"]), np.maximum(heads["pt_q16"], heads["pt_q84"])
        out["coverage_16_84"] = float(np.mean((truth >= lo) & (truth <= hi)))
    return out


# ---------------------------------------------------------------- training -------------------------------------
def run_model(
    name,
    spec,
    files,
    work: Path,
    epochs: int,
    upart_kwargs: dict,
    device: str,
    batch: int,
    seed: int = SETTINGS["seed"],
) -> dict:
    from higgsflow.data.loader import load_arrays
    from higgsflow.train import TrainSettings, evaluate_run, train
    from higgsflow.train.inference import score_heads
    from higgsflow.train.loop import load_run_model

    network, config, kwargs, adversarial = spec
    kwargs = dict(upart_kwargs if kwargs is None else kwargs)
    settings = TrainSettings(
        network=network,
        network_kwargs=kwargs,
        epochs=epochs,
        device=device,
        adversarial_eps=ADV_EPS if adversarial else None,
        adversarial_every=ADV_EVERY,
        **{**SETTINGS, "batch_size": batch, "seed": seed},
    )
    run_dir = work / name.replace("+", "_")
    t0 = time.time()
    result = train(config, [files["train"]], [files["val"]], run_dir, settings, overwrite=True)
    t_train = time.time() - t0
    cfg, model = load_run_model(result.run_dir)
    n_par = sum(p.numel() for p in model.parameters())
    row: dict = {"network": network, "options": kwargs, "adversarial_eps": settings.adversarial_eps,
                 "parameters": n_par, "train_s": round(t_train, 1)}  # fmt: skip
    for sample in ("test", "test_shifted"):
        arrays = load_arrays([files[sample]], cfg, train=False)
        row[sample] = tagging_metrics(score_heads(model, cfg, arrays), arrays)
    ev = evaluate_run(result.run_dir, [files["test"]], attack_eps=ATTACK_EPS, overwrite=True)
    metrics = json.loads(ev.metrics_path.read_text())
    attack = metrics["attack"]
    row["attack"] = {
        "epsilon": attack["epsilon"],
        "method": attack["method"],
        "spreads_from": attack["spreads_from"],
        "auc_nominal": attack["auc"] + attack["auc_drop"],
        "auc_attacked": attack["auc"],
        "auc_drop": attack["auc_drop"],
    }
    r_nom, r_shift = row["test"]["b_vs_light_rej@70%"], row["test_shifted"]["b_vs_light_rej@70%"]
    row["shift_rej_drop"] = (
        float(1 - r_shift / r_nom)
        if np.isfinite(r_nom) and np.isfinite(r_shift) and r_nom > 0
        else float("nan")
    )
    row["total_s"] = round(time.time() - t0, 1)
    print(
        f"  {name}: {n_par} parameters, trained in {t_train:.0f} s, done in {row['total_s']:.0f} s",
        flush=True,
    )
    return row


# ---------------------------------------------------------------- report ---------------------------------------
def fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "n/a"
    if isinstance(x, float) and np.isinf(x):
        return "inf"
    return f"{x:.{digits}g}"


def verdict(ok) -> str:
    return "n/a" if ok is None else ("PASS" if ok else "FAIL")


def checks(rows: dict) -> list[dict]:
    """The issue's gates and goals; a check whose models were not run (``--models``) is n/a."""

    def rej(n):
        return rows[n]["test"]["b_vs_light_rej@70%"]

    def order():
        r = [rej(n) for n in ("UParT", "ParticleNet", "DeepJet-like")]
        ok = (r[0] >= r[1] >= r[2]) if all(np.isfinite(v) for v in r) else None
        return " / ".join(fmt(v) for v in r), ok

    def b_regression():
        b_res = rows["UParT"]["test"]["pt_resolution"]["b"]
        ok = bool(b_res.get("regressed", np.inf) < b_res["raw"]) if np.isfinite(b_res["raw"]) else None
        return f"{fmt(b_res.get('regressed'))} vs raw {fmt(b_res['raw'])}", ok

    def attack():
        drop, drop_adv = rows["UParT"]["attack"]["auc_drop"], rows["UParT+adv"]["attack"]["auc_drop"]
        return f"{fmt(drop_adv)} with vs {fmt(drop)} without", bool(drop_adv < drop)

    def pnet_ratio():
        r, d = rej("ParticleNet"), rej("DeepJet-like")
        finite = np.isfinite(r) and np.isfinite(d)
        return (fmt(r / d) if finite else "n/a"), (bool(r >= 2 * d) if finite else None)

    def shift():
        sh, sh_adv = rows["UParT"]["shift_rej_drop"], rows["UParT+adv"]["shift_rej_drop"]
        ok = bool(sh_adv <= 0.5 * sh) if np.isfinite(sh) and np.isfinite(sh_adv) and sh > 0 else None
        return f"{fmt(sh_adv)} with vs {fmt(sh)} without", ok

    def coverage():
        cov = rows["UParT"]["test"].get("coverage_16_84", float("nan"))
        return fmt(cov), (bool(abs(cov - 0.68) <= 0.03) if np.isfinite(cov) else None)

    specs = [
        ("gate", "b-vs-light rejection at 70 %: UParT >= ParticleNet >= DeepJet-like",
         ("UParT", "ParticleNet", "DeepJet-like"), order),
        ("gate", "UParT regressed p_T resolution better than raw for b jets", ("UParT",), b_regression),
        ("gate", f"adversarial training shrinks the attacked-AUC drop (eps = {ATTACK_EPS})",
         ("UParT", "UParT+adv"), attack),
        ("goal", "light rejection ParticleNet / DeepJet-like >= 2 at 70 % b efficiency",
         ("ParticleNet", "DeepJet-like"), pnet_ratio),
        ("goal", "adversarial training halves the nominal-to-shifted rejection drop", ("UParT", "UParT+adv"), shift),
        ("goal", "UParT [q16, q84] coverage 68 % +- 3 %", ("UParT",), coverage),
    ]  # fmt: skip
    out = []
    for kind, what, needs, get in specs:
        missing = [n for n in needs if n not in rows]
        value, ok = (f"not run: {', '.join(missing)}", None) if missing else get()
        out.append({"kind": kind, "what": what, "value": value, "ok": ok, "verdict": verdict(ok)})
    return out


def report(rows: dict, gates: list[dict], sizes: str) -> None:
    names = list(rows)
    w = 14
    print(f"\n{sizes}")
    head = f"{'':34s}" + "".join(f"{n:>{w}s}" for n in names)
    print(head)

    def line(label, get):
        print(f"{label:34s}" + "".join(f"{fmt(get(rows[n])):>{w}s}" for n in names))

    for key in ("b_vs_light_rej@70%", "b_vs_light_rej@30%", "c_vs_light_rej@70%", "c_vs_light_rej@30%"):
        line(key.replace("_", " ").replace("rej@", "rejection @ "), lambda r, k=key: r["test"][k])
    line("s vs (ud, g) AUC", lambda r: r["test"]["s_vs_udg_auc"])
    line("tau_h vs jet AUC", lambda r: r["test"]["tauh_vs_jet_auc"])
    for c in FLAVOURS:
        line(f"pT resolution {c}: raw", lambda r, c=c: r["test"]["pt_resolution"][c]["raw"])
        line(f"pT resolution {c}: regressed", lambda r, c=c: r["test"]["pt_resolution"][c].get("regressed"))
    line("coverage [q16, q84] (target 0.68)", lambda r: r["test"].get("coverage_16_84"))
    line("mean AUC nominal", lambda r: r["attack"]["auc_nominal"])
    line(f"mean AUC attacked (eps={ATTACK_EPS})", lambda r: r["attack"]["auc_attacked"])
    line("attacked AUC drop", lambda r: r["attack"]["auc_drop"])
    line("b-vs-light rej @70% shifted", lambda r: r["test_shifted"]["b_vs_light_rej@70%"])
    line("shifted rejection drop (rel.)", lambda r: r["shift_rej_drop"])
    jets = {n: f"{rows[n]['test']['jets']}/{rows[n]['test_shifted']['jets']}" for n in names}
    print(f"{'test jets (nominal/shifted)':34s}" + "".join(f"{jets[n]:>{w}s}" for n in names))
    print(
        "\nattack: one normalised-gradient step (ngm), ‖δ/s‖₂ = eps per jet, spreads s of the training jets for the"
        " adversarially trained run, of the test jets otherwise; shifted: " + SHIFT
    )
    print("\nGates and goals:")
    for g in gates:
        print(f"  [{g['verdict']:4s}] {g['kind']}: {g['what']}: {g['value']}")


def _model_list(text: str) -> list[str]:
    """``--models``: names of ``MODELS``, comma-separated, in the table's order."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    bad = [n for n in names if n not in MODELS]
    if bad or not names:
        raise argparse.ArgumentTypeError(
            f"unknown model {', '.join(repr(b) for b in bad) or 'list (empty)'} (expected some of {', '.join(MODELS)})"
        )
    return [n for n in MODELS if n in names]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, help="folder of the AK4 files (generated there if missing, else reused)"
    )
    ap.add_argument("--work", type=Path, default=Path("flavour_runs"), help="folder of the training runs")
    ap.add_argument("--jets-per-class", type=int, default=500, help="training jets per class (default 500)")
    ap.add_argument(
        "--test-jets-per-class",
        type=int,
        default=2500,
        help="test jets per class, nominal and shifted each (default 2500: 7,500 light jets, so that light"
        " rejections up to ~10^3 rest on several passing jets)",
    )
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=SETTINGS["batch_size"])
    ap.add_argument("--quick", action="store_true", help="smoke run: 60 jets per class, 1 epoch, tiny UParT")
    ap.add_argument("--full-size", action="store_true", help="UParT at ParT's full size (a GPU run)")
    ap.add_argument("--workers", type=int, default=1, help="generator processes")
    ap.add_argument("--seed", type=int, default=1, help="generator seed")
    ap.add_argument(
        "--train-seed", type=int, default=SETTINGS["seed"], help=f"training seed (default {SETTINGS['seed']})"
    )
    ap.add_argument(
        "--models",
        type=_model_list,
        default=list(MODELS),
        help=f"comma-separated models to train (default all: {','.join(MODELS)}); checks that need a model not"
        " run are n/a",
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, help="write the table as JSON")
    a = ap.parse_args(argv)
    batch = a.batch_size
    if a.quick:  # batches of 64 so that the adversarial run takes some adversarial steps
        a.jets_per_class, a.test_jets_per_class, a.epochs, batch = 60, 30, 1, 64
    upart = UPART_TINY if a.quick else (UPART_FULL if a.full_size else UPART_REDUCED)
    data = a.data or a.work / "data"
    t0 = time.time()
    print(
        f"AK4 flavour benchmark: {a.jets_per_class} training jets per class, {a.epochs} epoch(s)", flush=True
    )
    files = make_data(data, a.jets_per_class, a.test_jets_per_class, a.workers, a.seed)
    t_gen = time.time() - t0
    rows = {}
    for name in a.models:
        rows[name] = run_model(
            name, MODELS[name], files, a.work, a.epochs, upart, a.device, batch, a.train_seed
        )
    sizes = (
        f"sizes: {a.jets_per_class} training and {a.test_jets_per_class} test jets per class, {a.epochs} epoch(s),"
        f" batch {batch}, training seed {a.train_seed};"
        f" UParT options {upart or 'ParT defaults (full size)'}; ParticleNet: ParticleNetTagger defaults;"
        f" DeepJet-like: full size; adversarial eps {ADV_EPS} every {ADV_EVERY} batches"
    )
    gates = checks(rows)
    report(rows, gates, sizes)
    total = time.time() - t0
    print(f"\ntime: generation {t_gen:.0f} s, total {total:.0f} s")
    if a.out:
        payload = {"sizes": sizes, "jets_per_class": a.jets_per_class, "test_jets_per_class": a.test_jets_per_class,
                   "epochs": a.epochs, "models": rows,
                   "checks": gates, "shift": SHIFT, "generation_s": t_gen, "total_s": total}  # fmt: skip
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(payload, indent=2, default=float, allow_nan=True))
        print(f"written {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
