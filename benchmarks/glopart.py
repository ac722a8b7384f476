"""GloParT benchmark: a mass-decorrelated AK8 tagger against a non-decorrelated baseline.

Generates (or reuses, ``--data DIR``) AK8 jets of the GloParT classes in ``CLASSES`` below with
``higgsflow generate jets`` (docs/generate.md): signal classes twice, with a flat resonance mass
(``resonance_mass="flat:15:250"``, one mass per chunk of ``CHUNK`` jets) and at the nominal masses (X = the SM-like
scalar at 125 GeV, t at Pythia's 173 GeV), and the QCD classes once. It trains, on the same QCD jets and with the same
task (the classes plus the mass regression ``mass_corr``, loss CE + γ·log-cosh, examples/tagging/glopart.yaml cut
to ``CLASSES``):

- **GloParT**: the two-collection ParT (``part_sv``: PF ≤ 128 and SV ≤ 7 tokens) on the flat-mass signals, every
  class reweighted flat in (p_T, m_SD) by the data config (p_T 200–2500 GeV, m_SD 20–260 GeV in 10 GeV bins; p_T
  in one bin when the config's 16 p_T bins would hold fewer than ``MIN_JETS_PER_BIN`` jets per non-empty bin,
  ``reweight_pt_bins``: weights ∝ 1/count do not flatten m_SD from ~2 jets per bin);
- **baseline**: the same network on the fixed-mass signals, without the reweighting,

and prints, on the same test jets (flat-mass signals and QCD):

- the accuracy (arg-max class) and per-class AUC against QCD (score p_c / (p_c + p_QCD), p_QCD the sum of the QCD
  classes; class-c jets against all QCD jets);
- the mass resolution for signal jets, half the 16–84 % width of m / m_true divided by its median, m = the
  regressed mass (``mass_corr`` × the ungroomed jet mass, as CMS's ``massCorr``) and m = the soft-drop mass,
  m_true = the generated resonance mass;
- QCD mass sculpting on XbbVsQCD (``higgsflow.tagging.ak8``, on the class scores merged to NanoAOD's GloParT-3
  classes by ``merged_scores``): 1/JSD between the m_SD distributions of the QCD jets passing and failing the cut
  at 1 % and 0.5 % QCD efficiency (``higgsflow.evaluate.decorrelation``, natural log), and the m_SD shapes in
  score slices (``--plots DIR``);
- the gates (GloParT's 1/JSD ≥ 5× the baseline's at 1 % QCD efficiency; regressed-mass resolution better than
  the soft-drop mass for signal) and the goal (≥ 10×), PASS/FAIL beside each. The table is also written as JSON
  (``--out``).

Sizes. Default: 500 training jets per class, in files of TRAIN_PART = 250 jets per class with their own seeds
(``--jets-per-class`` adds files and keeps those of a smaller run), 62 validation and 125 test jets per class
(those of the first file's size), and ``--qcd-test-jets`` = 60,000 extra light-flavour QCD test jets for the JSD,
in files of 20,000: ~61,000 QCD test jets, so ~600 pass at 1 % and ~300 at 0.5 % QCD efficiency; 10 classes, 20
epochs, batch 32, ParT reduced to embeddings (64, 128, 64), pair embedding (32, 32, 32), 4 + 1 blocks of 4 heads.
``--full-size`` gives ParT's full size (128, 512, 128; 8 + 2 blocks of 8 heads) and belongs on a GPU. ``--quick``
is a smoke run (30 jets per class, 480 extra QCD jets, 1 epoch, batch 32, a tiny ParT of 16-wide embeddings and
one block): it only shows that the chain runs; its numbers are noise, and its 1/JSD is n/a (a 1/JSD from fewer
than MIN_PASS = 10 passing QCD jets is not reported). Files are named by their jets per class and reused from
``--data`` when that size is there. Beside each 1/JSD the benchmark prints what a random score reaches on the same
test jets (``jsd_floor``): no tagger's 1/JSD can be told apart from a perfectly decorrelated one above that ceiling
(~112 at 1 % with the default test jets, ~35 with 20,000).

Measured at this default (generator seed 1, docs/tagging.md), training seeds 42 / 43 / 44: 1/JSD at 1 % QCD
efficiency 56.5 / 72.6 / 63.2 (GloParT) against 8.6 / 8.2 / 9.3 (baseline), ratios 6.5 / 8.8 / 6.8 (median 6.8:
the gate of 5 passes with every seed, the goal of 10 with none), and regressed-mass resolution 0.142 / 0.145 /
0.143 against m_SD's 0.186 and the ungroomed jet mass's 0.175 (PASS with every seed). At 250 training jets per
class (``--jets-per-class 250``) the same seeds gave 85.4 / 35.5 / 36.0 against 13.3 / 10.2 / 16.7, ratios 6.4 /
3.5 / 2.2: the median fails the gate there. Earlier runs at 250, training seed 42: γ = 1 and 16 p_T bins gave
1/JSD 22.7 against 5.6 (×4.0) and a regressed mass of 0.217; γ = 30 with 16 p_T bins gave 25.4 against 13.3 (×1.9)
and 0.151 (docs/tagging.md says why).

Time (2 cores). Generation (``--workers 2``): the second training file of 250 jets per class (all 15 class
samples) took 4 min on idle cores; the training, validation and test files of the first took 33 min on shared
cores (signals 10–30 jets/s, a Pythia start per flat-mass chunk of 10 jets; QCD_b and QCD_bb ~2.5 jets/s); light
QCD runs at ~80 jets/s on 2 idle cores, 12 min for the 60,000 test jets. Training at 500 jets per class on the
idle cores (a 2-epoch run): 37 s an epoch, so ~12.5 min for 20 epochs per model; each evaluation on the 61,000
test jets ~2 min (1.8 and 2.3 min): ~29 min for both models, about 1 h 15 min from scratch with the generation.
Three seeds side by side on the 2 cores took 74 min each. At 250 jets per class, ~11 min of training per model.
The quick run takes about 4.5 min. CMS-scale figures need thousands of jets per class: on a GPU machine, e.g. ``--jets-per-class 5000 --epochs
20 --full-size --device cuda --workers 8``; do not run that on a 2-core machine.

    python benchmarks/glopart.py --quick --out /tmp/glopart.json
    python benchmarks/glopart.py --jets-per-class 5000 --epochs 20 --full-size --device cuda --workers 8 \\
        --data data/glopart --out glopart.json   # on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------- configuration (one place) -------------------
BASE_CONFIG = ROOT / "examples/tagging/glopart.yaml"  # 37 classes, mass head, (p_T, m_SD) reweighting
SIGNALS = ["Xbb", "Xcc", "Xqq", "XWW4q_0c", "Topbqq_0c"]  # the fast-generating signal classes
QCD = ["QCD_bb", "QCD_b", "QCD_cc", "QCD_c", "QCD_light"]
CLASSES = SIGNALS + QCD
FLAT_MASS = "flat:15:250"  # GeV, the decorrelated training signals and the test signals
CHUNK = 10  # jets per generator chunk = per drawn resonance mass
EFFICIENCIES = (0.01, 0.005)  # QCD efficiencies of the XbbVsQCD cut for the JSD
GATE_RATIO, GOAL_RATIO = 5.0, 10.0  # 1/JSD GloParT / baseline at 1 % QCD efficiency
TRAIN_PART = 250  # training jets per class per file (file k > 0: "_part{k}", seeds + TRAIN_PART_SEED_STEP k)
# seeds of training file k: + 999 k, clear of the validation (+10..12), test (+20..22) and light-QCD (+23 + 100 k) ones
TRAIN_PART_SEED_STEP = 999
QCD_LIGHT_PART = 20_000  # light QCD test jets per file (file k > 0: "_part{k}", seed + 23 + 100 k)
QCD_LIGHT_TEST = 60_000  # extra light-flavour QCD test jets (--qcd-test-jets): 600 pass at 1 % QCD efficiency
MIN_JETS_PER_BIN = 10  # fewer training jets per non-empty (p_T, m_SD) bin: reweight in one p_T bin
MIN_PASS = 10  # fewer QCD test jets passing the cut: no 1/JSD (n/a)
PART_REDUCED = {
    "embed_dims": [64, 128, 64],
    "pair_embed_dims": [32, 32, 32],
    "num_heads": 4,
    "num_layers": 4,
    "num_cls_layers": 1,
}
PART_FULL: dict = {}  # ParT's defaults: (128, 512, 128), (64, 64, 64), 8 heads, 8 + 2 blocks
PART_TINY = {
    "embed_dims": [16, 16],
    "pair_embed_dims": [8],
    "num_heads": 2,
    "num_layers": 1,
    "num_cls_layers": 1,
}
SETTINGS = {  # TrainSettings common to both models
    "batch_size": 32,  # 2,500 training jets: 78 steps an epoch (at 128 the first run saw 100 steps in all)
    "lr": 1e-3,
    "optimizer": "ranger",
    "scheduler": "flat+decay",
    "seed": 42,
    "checkpoint_every": None,
}
#: GloParT training class → the NanoAOD GloParT-3 class its score is summed into (higgsflow.tagging.ak8)
NANO_CLASS = {
    "Xbb": "Xbb",
    "Xcc": "Xcc",
    "Xqq": "Xqq",
    "Xtauhtaue": "Xtauhtaue",
    "Xtauhtaum": "Xtauhtaum",
    "Xtauhtauh": "Xtauhtauh",
    "XWW4q": "XWW4q",
    "XWW3q": "XWW3q",
    "XWWevqq": "XWWqqev",
    "XWWmvqq": "XWWqqmv",
    "Topbqq": "TopbWqq",
    "Topbq": "TopbWq",
    "Topbev": "TopbWev",
    "Topbmv": "TopbWmv",
    "Topbtauhv": "TopbWtauhv",
    "QCD": "QCD",
}


def merged_scores(probs: np.ndarray, classes: list[str]) -> dict[str, np.ndarray]:
    """Per-class probabilities (N, K) of the GloParT training ``classes`` summed into NanoAOD's GloParT-3
    classes (``Xbb``, ..., ``QCD``: charm-count variants ``_0c``/``_1c``/``_2c`` together, every ``QCD_*``
    into ``QCD``); classes NanoAOD does not store (``Xss``, ``Topbtauev``, ...) are left out, classes not trained
    are zero. The input of :func:`higgsflow.tagging.ak8.ak8_discriminants`."""
    from higgsflow.tagging.ak8 import GLOPART3_CLASSES

    out = {c: np.zeros(len(probs)) for c in GLOPART3_CLASSES}
    for i, c in enumerate(classes):
        base = "QCD" if c.startswith("QCD") else c.rsplit("_", 1)[0] if c[-3:] in ("_0c", "_1c", "_2c") else c
        if base in NANO_CLASS:
            out[NANO_CLASS[base]] = out[NANO_CLASS[base]] + probs[:, i]
    return out


def reweight_occupancy(files: list[Path], pt_bins) -> float:
    """The smallest, over the classes, mean number of training jets per non-empty (p_T, m_SD) bin of the
    reweighting (m_SD bins of examples/tagging/glopart.yaml): how well the flat reweighting can be estimated."""
    from higgsflow.data.io import list_columns, read_table

    msd_bins = yaml.safe_load(BASE_CONFIG.read_text())["weights"]["reweight_vars"]["jet_sdmass"]
    per_class: dict[str, list] = {}
    for f in files:
        labels = [c for c in (f"label_{c}" for c in CLASSES) if c in set(list_columns(f))]
        a = read_table(f, ["jet_pt", "jet_sdmass", *labels])
        for lab in labels:
            sel = np.asarray(a[lab]) > 0
            per_class.setdefault(lab, []).append(
                (np.asarray(a["jet_pt"])[sel], np.asarray(a["jet_sdmass"])[sel])
            )
    occupancy = []
    for parts in per_class.values():
        pt, msd = (np.concatenate(x) for x in zip(*parts, strict=True))
        h, _, _ = np.histogram2d(pt, msd, bins=[pt_bins, msd_bins])
        if (h > 0).any():
            occupancy.append(h.sum() / (h > 0).sum())
    return float(min(occupancy)) if occupancy else 0.0


def reweight_pt_bins(files: list[Path]) -> tuple[list[float], str]:
    """The p_T bins of the flat (p_T, m_SD) reweighting for these training jets: the config's 16 bins when every
    class has at least MIN_JETS_PER_BIN jets per non-empty bin on average, else one bin over 200–2500 GeV (flat in
    m_SD alone). With too few jets per bin, weight ∝ 1/count gives every non-empty bin the same weight, and the
    m_SD distribution ends up shaped by how many p_T bins each m_SD bin spans instead of flat."""
    raw = yaml.safe_load(BASE_CONFIG.read_text())
    pt_bins = [float(x) for x in raw["weights"]["reweight_vars"]["jet_pt"]]
    occ = reweight_occupancy(files, pt_bins)
    if occ >= MIN_JETS_PER_BIN:
        return pt_bins, f"{len(pt_bins) - 1} p_T bins ({occ:.1f} jets per non-empty bin)"
    return [pt_bins[0], pt_bins[-1]], (
        f"one p_T bin, {pt_bins[0]:g}-{pt_bins[-1]:g} GeV: {len(pt_bins) - 1} p_T bins would hold {occ:.1f} jets per"
        f" non-empty bin (< {MIN_JETS_PER_BIN})"
    )


def write_config(path: Path, *, decorrelated: bool, pt_bins=None) -> Path:
    """examples/tagging/glopart.yaml cut to ``CLASSES`` (labels, reweighted classes and their weights); without
    the reweighting for the baseline; ``pt_bins`` replaces the p_T bins of the reweighting."""
    raw = yaml.safe_load(BASE_CONFIG.read_text())
    labels = [f"label_{c}" for c in CLASSES]
    missing = [c for c in labels if c not in raw["labels"]["value"]]
    if missing:
        raise SystemExit(f"{BASE_CONFIG}: no class {missing}")
    raw["labels"]["value"] = labels
    if decorrelated:
        raw["weights"]["reweight_classes"] = labels
        raw["weights"]["class_weights"] = [1] * len(labels)
        if pt_bins is not None:
            raw["weights"]["reweight_vars"]["jet_pt"] = [float(x) for x in pt_bins]
    else:
        raw.pop("weights")
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


# ---------------------------------------------------------------- data -----------------------------------------
def file_parts(n: int, size: int) -> list[tuple[int, int, str]]:
    """``n`` jets per class in files of at most ``size``: (k, jets in file k, name suffix: "" for the first,
    ``_part{k}`` after it)."""
    return [
        (k, min(size, n - start), "" if k == 0 else f"_part{k}") for k, start in enumerate(range(0, n, size))
    ]


def make_data(
    data: Path, n_train: int, n_qcd_light: int, workers: int, seed: int
) -> dict[str, Path | list[Path]]:
    """{train,val}_{flat,fixed,qcd}, test_{flat,qcd} and test_qcd_light files, named by their jets per class
    (``train_flat_250.root``): reused when a file of that size is there, generated otherwise. The training jets
    come in files of at most TRAIN_PART jets per class, each with its own seeds (file k > 0: ``_part{k}``, seeds
    + TRAIN_PART_SEED_STEP·k), so a larger ``--jets-per-class`` adds files and keeps the first; the validation
    and test files are those of the first file's size. ``train_*`` and ``test_qcd_light`` are lists."""
    from higgsflow.generate.api import generate_jets

    first = min(n_train, TRAIN_PART)
    n_val, n_test = max(first // 4, 10), max(first // 2, 20)
    plan, names = {}, {}
    for k, n, suffix in file_parts(n_train, TRAIN_PART):
        s = seed + TRAIN_PART_SEED_STEP * k
        for kind, classes, offset, mass in (
            ("flat", SIGNALS, 0, FLAT_MASS),
            ("fixed", SIGNALS, 1, None),
            ("qcd", QCD, 2, None),
        ):
            plan[f"train_{kind}{k}"] = (classes, n, s + offset, mass)
            names[f"train_{kind}{k}"] = f"train_{kind}_{n}{suffix}.root"
    for split, n, s in (("val", n_val, seed + 10), ("test", n_test, seed + 20)):
        plan[f"{split}_flat"] = (SIGNALS, n, s, FLAT_MASS)
        if split != "test":
            plan[f"{split}_fixed"] = (SIGNALS, n, s + 1, None)
        plan[f"{split}_qcd"] = (QCD, n, s + 2, None)
        names.update({k: f"{k}_{n}.root" for k in plan if k.startswith(split)})
    # the JSD at 1 % and 0.5 % QCD efficiency needs 10^4 QCD test jets: light-flavour QCD (fast to generate), in
    # files of at most QCD_LIGHT_PART jets with their own seeds, so that a larger --qcd-test-jets adds files
    for k, n, suffix in file_parts(n_qcd_light, QCD_LIGHT_PART):
        plan[f"test_qcd_light{k}"] = (["QCD_light"], n, seed + 23 + 100 * k, None)
        names[f"test_qcd_light{k}"] = f"test_qcd_light_{n}{suffix}.root"
    files: dict = {}
    data.mkdir(parents=True, exist_ok=True)
    for name, (classes, n, s, mass) in plan.items():
        path = data / names[name]
        if not path.is_file():
            t0 = time.time()
            chunk = min(
                n, CHUNK if mass else 500
            )  # one drawn mass per chunk; fixed masses: fewer Pythia starts
            generate_jets(classes, n, path, seed=s, workers=workers, chunk_size=chunk, resonance_mass=mass)
            print(f"  generated {path.name}: {n} jets per class in {time.time() - t0:.0f} s", flush=True)
        else:
            print(f"  reusing {path}", flush=True)
        files[name] = path
    for group in ("train_flat", "train_fixed", "train_qcd", "test_qcd_light"):
        files[group] = [
            files.pop(k) for k in list(files) if k[: len(group)] == group and k[len(group) :].isdigit()
        ]
    return files


# ---------------------------------------------------------------- metrics --------------------------------------
def auc(score: np.ndarray, is_sig: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if is_sig.all() or not is_sig.any():
        return float("nan")
    return float(roc_auc_score(is_sig, score))


def half_width(ratio: np.ndarray) -> float:
    """Half the 16–84 % width of ``ratio`` divided by its median (a scale offset is not resolution)."""
    ratio = ratio[np.isfinite(ratio)]
    if ratio.size < 2:
        return float("nan")
    q16, q50, q84 = np.quantile(ratio, [0.16, 0.5, 0.84])
    return float(0.5 * (q84 - q16) / q50) if q50 > 0 else float("nan")


def tagging_metrics(heads: dict, arrays, plot: Path | None, name: str) -> dict:
    from higgsflow.evaluate.decorrelation import jsd_at_efficiency, jsd_floor, plot_mass_sculpting
    from higgsflow.tagging.ak8 import ak8_discriminants

    probs, label = heads["softmax"], arrays.label
    is_qcd = np.isin(label, [CLASSES.index(c) for c in QCD])
    p_qcd = probs[:, is_qcd_cols()].sum(1)
    out: dict = {"jets": int(label.size), "qcd_jets": int(is_qcd.sum())}
    out["accuracy"] = float(np.mean(probs.argmax(1) == label))
    out["auc_vs_qcd"] = {}
    for c in SIGNALS:
        i = CLASSES.index(c)
        keep = (label == i) | is_qcd
        s = probs[:, i] / np.maximum(probs[:, i] + p_qcd, 1e-12)
        out["auc_vs_qcd"][c] = auc(s[keep], (label == i)[keep])
    obs = arrays.observers
    sig = ~is_qcd
    m_true, msd = obs["aux_resonance_mass"], obs["jet_sdmass"]
    out["mass_resolution"] = {  # regressed mass = mass_corr × the ungroomed jet mass (as CMS's massCorr)
        "regressed": half_width(heads["mass_corr"][sig] * obs["jet_mass"][sig] / m_true[sig])
        if "mass_corr" in heads
        else float("nan"),
        "soft_drop": half_width(msd[sig] / m_true[sig]),
        # what mass_corr multiplies: without pile-up in these samples it is already better than m_SD, so the
        # regression has to beat it too to have learnt anything
        "jet_mass": half_width(obs["jet_mass"][sig] / m_true[sig]),
    }
    xbb = ak8_discriminants(merged_scores(probs, CLASSES))["XbbVsQCD"]
    out["sculpting"] = {
        f"{e:.1%}": jsd_at_efficiency(xbb[is_qcd], msd[is_qcd], e) if is_qcd.sum() > 1 else None
        for e in EFFICIENCIES
    }
    # what statistics alone give on these test jets (a random score): 1/JSD is measurable up to about 1/floor
    out["jsd_floor"] = {
        f"{e:.1%}": jsd_floor(msd[is_qcd], e) if is_qcd.sum() > 1 else None for e in EFFICIENCIES
    }
    if plot is not None and is_qcd.sum() > 1:
        plot_mass_sculpting(
            xbb[is_qcd],
            msd[is_qcd],
            plot / f"msd_sculpting_{name}.png",
            efficiencies=(0.5, 0.1, 0.01),
            discriminant=f"Xbb vs QCD ({name})",
            overwrite=True,
        )
    return out


def is_qcd_cols() -> list[int]:
    return [CLASSES.index(c) for c in QCD]


# ---------------------------------------------------------------- training -------------------------------------
def finished_run(run: Path, settings, config: Path | None = None) -> bool:
    """Whether ``run`` holds a finished training with ``settings`` (for ``--reuse-runs``): its ``train.json``
    records the same settings, its ``log.csv`` has every epoch and, given ``config``, its ``data_config.yaml`` is
    that data config (the same classes, loss weights and reweighting)."""
    from dataclasses import asdict

    try:
        saved = json.loads((run / "train.json").read_text())["settings"]
        epochs_done = len((run / "log.csv").read_text().strip().splitlines()) - 1
        same_config = config is None or yaml.safe_load(
            (run / "data_config.yaml").read_text()
        ) == yaml.safe_load(Path(config).read_text())
    except (OSError, ValueError, KeyError, yaml.YAMLError):
        return False
    same = json.loads(json.dumps(asdict(settings), default=str)) == saved
    return same and same_config and epochs_done == settings.epochs and (run / "model.pt").is_file()


def run_model(
    name,
    config,
    train_files,
    val_files,
    test_files,
    work,
    epochs,
    kwargs,
    device,
    batch,
    plot,
    reuse=False,
    train_seed=SETTINGS["seed"],
) -> dict:
    from higgsflow.data.loader import load_arrays
    from higgsflow.train import TrainSettings, train
    from higgsflow.train.inference import score_heads
    from higgsflow.train.loop import load_run_model

    settings = TrainSettings(
        network="part_sv",
        network_kwargs=dict(kwargs),
        epochs=epochs,
        device=device,
        **{**SETTINGS, "batch_size": batch, "seed": train_seed},
    )
    t0 = time.time()
    if reuse and finished_run(work / name, settings, config):
        print(f"  {name}: reusing the finished training in {work / name}", flush=True)
        run_dir = work / name
    else:
        run_dir = train(config, train_files, val_files, work / name, settings, overwrite=True).run_dir
    t_train = time.time() - t0
    cfg, model = load_run_model(run_dir)
    arrays = load_arrays(test_files, cfg, train=False)
    row: dict = {"network": "part_sv", "options": kwargs, "parameters": sum(p.numel() for p in model.parameters()),
                 "train_s": round(t_train, 1)}  # fmt: skip
    row["test"] = tagging_metrics(score_heads(model, cfg, arrays), arrays, plot, name)
    row["total_s"] = round(time.time() - t0, 1)
    print(
        f"  {name}: {row['parameters']} parameters, trained in {t_train:.0f} s, done in {row['total_s']:.0f} s"
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


def inv_jsd(row: dict, eff: float) -> float:
    """1/JSD at QCD efficiency ``eff``; NaN when fewer than MIN_PASS QCD test jets pass the cut (or none fails,
    or the passing ones lie outside the m_SD bins): a JSD from a handful of jets is noise, not decorrelation."""
    s = row["test"]["sculpting"].get(f"{eff:.1%}")
    if s is None or s["n_pass"] < MIN_PASS or not np.isfinite(s["jsd"]) or s["jsd"] <= 0:
        return float("nan")
    return 1.0 / float(s["jsd"])


def checks(rows: dict) -> list[dict]:
    g, b = rows["GloParT"], rows["baseline"]
    out = []
    for eff in EFFICIENCIES:
        ig, ib = inv_jsd(g, eff), inv_jsd(b, eff)
        ratio = ig / ib if np.isfinite(ig) and np.isfinite(ib) and ib > 0 else float("nan")
        for kind, need in (("gate", GATE_RATIO), ("goal", GOAL_RATIO)):
            if kind == "gate" and eff != EFFICIENCIES[0]:
                continue
            out.append({
                "kind": kind,
                "what": f"1/JSD GloParT / baseline >= {need:g} at {eff:.1%} QCD efficiency (XbbVsQCD)",
                "value": f"{fmt(ratio)} ({fmt(ig)} / {fmt(ib)})",
                "ok": bool(ratio >= need) if np.isfinite(ratio) else None,
            })  # fmt: skip
    res = g["test"]["mass_resolution"]
    out.append({
        "kind": "gate",
        "what": "GloParT regressed-mass resolution better than the soft-drop mass for signal",
        "value": f"{fmt(res['regressed'])} vs m_SD {fmt(res['soft_drop'])}",
        "ok": bool(res["regressed"] < res["soft_drop"]) if np.isfinite(res["regressed"]) else None,
    })  # fmt: skip
    if "jet_mass" in res:  # not a gate of the issue: whether the correction learnt something
        out.append({
            "kind": "check",
            "what": "GloParT regressed mass better than the ungroomed jet mass it corrects",
            "value": f"{fmt(res['regressed'])} vs {fmt(res['jet_mass'])}",
            "ok": bool(res["regressed"] < res["jet_mass"]) if np.isfinite(res["regressed"]) else None,
        })  # fmt: skip
    for c in out:
        c["verdict"] = verdict(c["ok"])
    return out


def report(rows: dict, gates: list[dict], sizes: str) -> None:
    names = list(rows)
    w = 14
    print(f"\n{sizes}")
    print(f"{'':40s}" + "".join(f"{n:>{w}s}" for n in names))

    def line(label, get):
        print(f"{label:40s}" + "".join(f"{fmt(get(rows[n]['test'])):>{w}s}" for n in names))

    line("accuracy", lambda t: t["accuracy"])
    for c in SIGNALS:
        line(f"AUC {c} vs QCD", lambda t, c=c: t["auc_vs_qcd"][c])
    line("signal mass resolution: regressed", lambda t: t["mass_resolution"]["regressed"])
    line("signal mass resolution: m_SD", lambda t: t["mass_resolution"]["soft_drop"])
    line("signal mass resolution: ungroomed jet mass", lambda t: t["mass_resolution"].get("jet_mass"))
    for e in EFFICIENCIES:
        k = f"{e:.1%}"
        print(
            f"{f'XbbVsQCD 1/JSD @ {k} QCD eff.':40s}"
            + "".join(f"{fmt(inv_jsd(rows[n], e)):>{w}s}" for n in names)
        )
        line(f"  QCD jets passing @ {k}", lambda t, k=k: (t["sculpting"][k] or {}).get("n_pass"))
        line(
            f"  ceiling: 1/JSD of a random score @ {k}",
            lambda t, k=k: (t.get("jsd_floor", {}).get(k) or {}).get("inverse_jsd"),
        )
    line("test jets", lambda t: t["jets"])
    line("  of which QCD", lambda t: t["qcd_jets"])
    print("\nGates and goals:")
    for g in gates:
        print(f"  [{g['verdict']:4s}] {g['kind']}: {g['what']}: {g['value']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--data", type=Path, help="folder of the AK8 files (generated there if missing, else reused)"
    )
    ap.add_argument("--work", type=Path, default=Path("glopart_runs"), help="folder of the training runs")
    ap.add_argument(
        "--jets-per-class",
        type=int,
        default=500,
        help=f"training jets per class (default 500, in files of {TRAIN_PART})",
    )
    ap.add_argument(
        "--qcd-test-jets",
        type=int,
        default=QCD_LIGHT_TEST,
        help=f"extra light-flavour QCD test jets for the JSD (default {QCD_LIGHT_TEST})",
    )
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--quick", action="store_true", help="smoke run: 30 jets per class, 1 epoch, tiny ParT")
    ap.add_argument("--full-size", action="store_true", help="ParT at its full size (a GPU run)")
    ap.add_argument("--workers", type=int, default=1, help="generator processes")
    ap.add_argument("--seed", type=int, default=1, help="generator seed")
    ap.add_argument("--train-seed", type=int, default=SETTINGS["seed"], help="training seed of both models")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--plots", type=Path, help="folder for the QCD m_SD shapes in XbbVsQCD slices")
    ap.add_argument("--out", type=Path, help="write the table as JSON")
    ap.add_argument(
        "--reuse-runs",
        action="store_true",
        help="evaluate a model whose training in --work finished with the same settings instead of training it again",
    )
    a = ap.parse_args(argv)
    batch = SETTINGS["batch_size"]
    if a.quick:
        a.jets_per_class, a.qcd_test_jets, a.epochs, batch = 30, 480, 1, 32
    kwargs = PART_TINY if a.quick else (PART_FULL if a.full_size else PART_REDUCED)
    data = a.data or a.work / "data"
    a.work.mkdir(parents=True, exist_ok=True)
    if a.plots:
        a.plots.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    print(f"GloParT benchmark: {a.jets_per_class} training jets per class, {a.epochs} epoch(s)", flush=True)
    f = make_data(data, a.jets_per_class, a.qcd_test_jets, a.workers, a.seed)
    t_gen = time.time() - t0
    test = [f["test_flat"], f["test_qcd"], *f["test_qcd_light"]]
    pt_bins, binning = reweight_pt_bins([*f["train_flat"], *f["train_qcd"]])
    print(f"  GloParT reweighting: flat in m_SD (20-260 GeV, 10 GeV bins) and p_T in {binning}", flush=True)
    rows = {
        "GloParT": run_model(
            "GloParT", write_config(a.work / "glopart.yaml", decorrelated=True, pt_bins=pt_bins),
            [*f["train_flat"], *f["train_qcd"]],
            [f["val_flat"], f["val_qcd"]], test, a.work, a.epochs, kwargs, a.device, batch, a.plots, a.reuse_runs,
            a.train_seed,
        ),
        "baseline": run_model(
            "baseline", write_config(a.work / "baseline.yaml", decorrelated=False),
            [*f["train_fixed"], *f["train_qcd"]], [f["val_fixed"], f["val_qcd"]], test, a.work, a.epochs, kwargs,
            a.device, batch, a.plots, a.reuse_runs, a.train_seed,
        ),
    }  # fmt: skip
    sizes = (
        f"sizes: {a.jets_per_class} training jets per class, {len(CLASSES)} classes, {a.epochs} epoch(s),"
        f" training seed {a.train_seed},"
        f" batch {batch}; part_sv options {kwargs or 'ParT defaults (full size)'}; GloParT: signals {FLAT_MASS} GeV,"
        f" (p_T, m_SD) reweighting with {binning}; baseline: signals at the nominal masses, no reweighting"
    )
    for row in rows.values():
        row["inverse_jsd"] = {f"{e:.1%}": inv_jsd(row, e) for e in EFFICIENCIES}  # NaN below MIN_PASS jets
    gates = checks(rows)
    report(rows, gates, sizes)
    total = time.time() - t0
    print(f"\ntime: generation {t_gen:.0f} s, total {total:.0f} s")
    if a.out:
        payload = {"sizes": sizes, "classes": CLASSES, "jets_per_class": a.jets_per_class, "epochs": a.epochs,
                   "models": rows, "checks": gates, "generation_s": t_gen, "total_s": total}  # fmt: skip
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(payload, indent=2, default=float, allow_nan=True))
        print(f"written {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
