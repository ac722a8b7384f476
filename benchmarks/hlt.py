"""HH → 4b trigger benchmark: the ParticleNet 2023-like HLT path against the legacy path at the same QCD rate.

What it does, end to end on simulated events (``higgsflow generate events``, √s = 13 TeV, no pile-up):

1. **Events.** HH → 4b: gg → X → hh → bb̄bb̄ with a heavy scalar of mass ``HH_MASS`` = 400 GeV (Pythia's H2,
   width 1% of the mass; Pythia 8 has no SM gg → hh, so a narrow resonance stands in: 400 GeV is near the peak of
   the SM m_hh spectrum, which rises from 250 GeV, peaks around 400 GeV and has a long tail, so the efficiencies
   here are those of typical SM-like kinematics, not of its high-mass tail). QCD multijets: ``HardQCD:all`` with
   p̂T > ``PTHAT_MIN`` = 50 GeV, far below what the paths need (HT > 280–330 GeV with 4 jets above 30–75 GeV:
   a 2 → 2 event at p̂T = 50 GeV has HT ≈ 100 GeV plus radiation), generated with Pythia's p̂T bias
   (``bias2Selection``, power 4: events at high p̂T are made more often) and the compensating weights, so that
   Σ weight = Pythia's σ(p̂T > 50 GeV) and every rate below is the WEIGHTED passing fraction × σ × L.
2. **Taggers.** Both are trained here on the AK4 jets of separate HH → 4b and QCD events (other seeds) with the
   eight flavour classes and the shipped configs, or taken from ``--tagger-run`` / ``--legacy-run``:
   ParticleNet-AK4 (``particlenet_sv``, ``higgsflow/configs/particlenet_ak4.yaml``) for the PNet paths and a
   DeepJet-like tagger (``deepjet``, ``upart_ak4.yaml``'s inputs) for the legacy path's three b tags. Each jet's
   b score is BvsAll = (p_b + p_bb) / Σ p (``higgsflow.events.attach_scores``).
3. **Working point.** The legacy path cuts at DeepJet's medium working point, defined by CMS as 1% light-jet
   mistag; the same definition is applied to the DeepJet-like score: the threshold above which 1% of the light
   jets (hadron flavour 0, p_T > 30 GeV, |η| < 2.5, unweighted) of the QCD sample lie.
4. **Rates.** R = ε_QCD · σ_QCD · L with L = ``INST_LUMI`` = 2.0e34 cm⁻² s⁻¹ (Run 3 levelling) and σ_QCD Pythia's
   LO cross section above the p̂T cut. The legacy path's rate fixes the target; ``threshold_for_rate`` gives the
   lowest cut on the mean of the two highest ParticleNet scores of the 2023-like path (HT > 280 GeV, 4 jets
   > 30 GeV) whose QCD rate is at most the legacy one. Printed: both rates, the HH → 4b efficiency of both
   paths at that rate and the gain ε_2023 / ε_legacy (the talk: 52% → 82%), with the 2022 and nominal 2023 paths
   (ParticleNet cut 0.65 / 0.55) for reference.
5. **Uncertainties.** HH efficiencies: Clopper–Pearson 68%. QCD rate: √(Σ w²) of the passing events. Gain and
   rate-matched efficiency: a bootstrap (``N_BOOT`` Poisson replicas of both samples, the threshold refound in
   each), 16–84% interval. The QCD statistics are the limit: the number of QCD events passing each path is printed.

Gate: the 2023-like efficiency exceeds the legacy one at equal QCD rate. Goal: gain ≥ 82/52.

Sizes (top of the file: ``SIZES``). Default: 1,000 HH → 4b and 6,000 QCD events to measure, plus 400 HH → 4b and
800 QCD events whose jets train the taggers (80/20 train/validation), 4 epochs, batch 256; about 15 min on 2
shared cores. ``--quick``: 100 HH, 300 QCD, 60 + 120 training events, 1 epoch; a smoke run of a few minutes whose
figures are noise (few or no QCD events pass the b-tagged paths). Larger samples belong on more cores
(``--workers``) or a GPU (``--device cuda``).

    PYTHONPATH=src python benchmarks/hlt.py --quick --out /tmp/hlt.json
    PYTHONPATH=src python benchmarks/hlt.py --work hlt_runs --out hlt.json
    PYTHONPATH=src python benchmarks/hlt.py --qcd-events 50000 --workers 16 --device cuda --out hlt.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

# ---------------------------------------------------------------- configuration (one place) -------------------
HH_MASS = 400.0  # GeV, the heavy scalar X → hh (near the peak of the SM m_hh spectrum)
PTHAT_MIN = 50.0  # GeV, QCD p̂T threshold (biased with power 4, weighted back)
INST_LUMI = 2.0e34  # cm⁻² s⁻¹
LIGHT_MISTAG = 0.01  # the legacy b tag's working point (DeepJet medium: 1% light-jet mistag)
TALK_GAIN = 82.0 / 52.0  # the talk: HH(4b) efficiency 52% (legacy) → 82% (2023)
N_BOOT = 200
LOW_PTHAT = 70.0  # GeV: the printout gives the share of each path's QCD rate from events below it
SIZES = {  # events to measure, training events (HH, QCD), epochs
    "default": {"hh": 2000, "qcd": 12000, "train_hh": 600, "train_qcd": 1200, "epochs": 5},
    "quick": {"hh": 100, "qcd": 300, "train_hh": 60, "train_qcd": 120, "epochs": 1},
}
TAGGERS = {  # name: (network, shipped config, network options); the b score is BvsAll of the 8 classes
    "ParticleNet": ("particlenet_sv", "particlenet_ak4", {}),  # weaver-core ParticleNetTagger defaults
    "DeepJet-like": ("deepjet", "upart_ak4", {}),  # full size (docs/models.md)
}
SETTINGS = {"batch_size": 256, "lr": 1e-3, "optimizer": "ranger", "scheduler": "flat+decay", "seed": 42,
            "checkpoint_every": None}  # fmt: skip
LABELS = ["label_b", "label_bb", "label_c", "label_cc", "label_s", "label_ud", "label_g", "label_tauh"]


# ---------------------------------------------------------------- data -----------------------------------------
def make_events(data: Path, sizes: dict, workers: int, seed: int) -> dict[str, tuple[Path, Path]]:
    """(event file, jets file) for hh, qcd, train_hh, train_qcd; reused if present."""
    from higgsflow.generate.events import generate_events, jets_path

    plan = {
        "hh": ("HH4b", sizes["hh"], seed),
        "qcd": ("QCD", sizes["qcd"], seed + 1),
        "train_hh": ("HH4b", sizes["train_hh"], seed + 2),
        "train_qcd": ("QCD", sizes["train_qcd"], seed + 3),
    }
    data.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (process, n, s) in plan.items():
        path = data / f"{name}.parquet"
        if path.is_file() and jets_path(path).is_file():
            print(f"  reusing {path}", flush=True)
            out[name] = (path, jets_path(path))
            continue
        t0 = time.time()
        out[name] = generate_events(
            process, n, path, seed=s, workers=workers, pthat_min=PTHAT_MIN, hh_mass=HH_MASS,
            chunk_size=min(n, 200), overwrite=True,
        )  # fmt: skip
        print(f"  generated {name}: {n} {process} events in {time.time() - t0:.0f} s", flush=True)
    return out


def training_jets(files: dict, work: Path, seed: int) -> dict[str, Path]:
    """The labelled jets of the training events, shuffled and split 80/20 into train / val files."""
    import awkward as ak

    from higgsflow.data.io import read_table, write_table

    tables = [read_table(files[k][1]) for k in ("train_hh", "train_qcd")]
    common = [f for f in tables[0].fields if f in set(tables[1].fields)]
    table = ak.concatenate([t[common] for t in tables])
    labelled = np.sum([ak.to_numpy(table[c]) for c in LABELS], axis=0) == 1
    table = table[labelled]
    idx = np.random.default_rng(seed).permutation(len(table))
    n_val = max(len(idx) // 5, 1)
    out = {}
    work.mkdir(parents=True, exist_ok=True)
    for name, sel in (("val", idx[:n_val]), ("train", idx[n_val:])):
        out[name] = write_table(work / f"tagger_{name}.parquet", table[np.sort(sel)], overwrite=True)
    print(f"  training jets: {len(idx) - n_val} train, {n_val} validation", flush=True)
    return out


def train_tagger(name: str, jets: dict, work: Path, epochs: int, device: str) -> Path:
    from higgsflow.configs import config_path
    from higgsflow.train import TrainSettings, train

    network, config, kwargs = TAGGERS[name]
    settings = TrainSettings(network=network, network_kwargs=kwargs, epochs=epochs, device=device, **SETTINGS)
    t0 = time.time()
    result = train(
        config_path(config), [jets["train"]], [jets["val"]], work / network, settings, overwrite=True
    )
    print(f"  trained {name} ({network}) in {time.time() - t0:.0f} s", flush=True)
    return Path(result.run_dir)


def scored_events(run: Path, files: tuple[Path, Path]):
    """The event file with ``jet_btagB`` (BvsAll) ... from the run's class scores on every jet of its jets file.

    Scored here rather than with ``predict_files``: the jets file has jets without a generator jet (no flavour
    label), which the training selection (``jet_genjet_wnu_pt > 0``) drops and ``predict`` refuses as not one-hot;
    the trigger needs every jet, so the jets are scored without labels."""
    from higgsflow.data.config import DataConfig
    from higgsflow.data.io import read_table
    from higgsflow.data.loader import build_arrays
    from higgsflow.events import attach_scores
    from higgsflow.train.inference import score_heads
    from higgsflow.train.loop import load_run_model

    cfg, model = load_run_model(run)
    cfg = DataConfig({**cfg.options, "selection": None, "test_time_selection": None}, source=cfg.source)
    raw = read_table(files[1], sorted(cfg.file_branches(train=False, labelled=False)))
    arrays = build_arrays(cfg, raw, train=False, file=files[1], reweight=False, labelled=False)
    probs = score_heads(model, cfg, arrays)["softmax"]
    keys = read_table(files[1], ["event_id", "jet_index"])
    cols = {"event_id": keys["event_id"], "jet_index": keys["jet_index"]}
    cols |= {f"score_{n.removeprefix('label_')}": probs[:, i] for i, n in enumerate(cfg.label_names)}
    return attach_scores(read_table(files[0]), cols, file=files[1])


# ---------------------------------------------------------------- trigger quantities ---------------------------
def light_threshold(btag, flavour, pt, eta, mistag: float = LIGHT_MISTAG) -> float:
    """The score above which a fraction ``mistag`` of the light jets (flavour 0, p_T > 30 GeV, |η| < 2.5) lies."""
    light = (np.asarray(flavour) == 0) & (np.asarray(pt) > 30.0) & (np.abs(np.asarray(eta)) < 2.5)
    if not light.any():
        return float("nan")
    return float(np.quantile(np.asarray(btag, dtype=np.float64)[light], 1.0 - mistag))


def rate_matched(
    legacy_pass: np.ndarray,
    value_2023: np.ndarray,
    qcd_w: np.ndarray,
    hh_legacy: np.ndarray,
    hh_value: np.ndarray,
    sigma_pb: float,
    hh_w: np.ndarray | None = None,
    lumi: float = INST_LUMI,
) -> dict:
    """The rate matching on per-event quantities: ``legacy_pass`` (the legacy decision per QCD event),
    ``value_2023`` (the 2023-like path's b-tag value per QCD event, −inf where its kinematics fail), the QCD
    weights (pb); ``hh_legacy`` / ``hh_value`` the same for the signal events. Returns the legacy QCD rate (Hz),
    the threshold t whose weighted QCD fraction with value > t is at most the legacy one (the lowest such value,
    as :func:`higgsflow.tagging.hlt.threshold_for_rate`), the 2023-like rate at t and both signal efficiencies."""
    w = np.asarray(qcd_w, dtype=np.float64)
    hw = np.ones(len(hh_legacy)) if hh_w is None else np.asarray(hh_w, dtype=np.float64)
    scale = sigma_pb / w.sum() if w.sum() > 0 else 0.0
    eps_legacy = float(w[legacy_pass].sum() / w.sum()) if w.sum() > 0 else float("nan")
    v = np.asarray(value_2023, dtype=np.float64)
    ok = np.isfinite(v)
    order = np.argsort(v[ok], kind="stable")
    s, cw = v[ok][order], np.cumsum(w[ok][order])
    if not s.size:
        thr = float("-inf")
    elif cw[-1] / w.sum() <= eps_legacy + 1e-12:  # every event passing the kinematics may pass
        thr = float(np.nextafter(s[0], -np.inf))
    else:
        u = np.unique(s)
        frac_gt = (cw[-1] - cw[np.searchsorted(s, u, side="right") - 1]) / w.sum()
        thr = float(u[np.flatnonzero(frac_gt <= eps_legacy + 1e-12)[0]])
    pass_2023 = v > thr
    return {
        "legacy_rate_hz": eps_legacy * sigma_pb * 1e-36 * lumi,
        "threshold": thr,
        "rate_2023_hz": float(w[pass_2023].sum() * scale) * 1e-36 * lumi,
        "eff_legacy": float(hw[np.asarray(hh_legacy, bool)].sum() / hw.sum()),
        "eff_2023": float(hw[np.asarray(hh_value) > thr].sum() / hw.sum()),
    }


def bootstrap(args: tuple, sigma_pb: float, n: int, seed: int) -> dict:
    """16–84% intervals of the rate-matched quantities over Poisson replicas of both samples."""
    legacy_pass, value_2023, qcd_w, hh_legacy, hh_value = args
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        wq = qcd_w * rng.poisson(1.0, len(qcd_w))
        wh = rng.poisson(1.0, len(hh_legacy)).astype(np.float64)
        if wq.sum() <= 0 or wh.sum() <= 0:
            continue
        r = rate_matched(legacy_pass, value_2023, wq, hh_legacy, hh_value, sigma_pb, hh_w=wh)
        r["gain"] = r["eff_2023"] / r["eff_legacy"] if r["eff_legacy"] > 0 else float("nan")
        rows.append(r)
    out = {}
    for key in ("legacy_rate_hz", "threshold", "eff_legacy", "eff_2023", "gain"):
        vals = np.array([r[key] for r in rows], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        out[key] = [float(x) for x in np.quantile(vals, [0.16, 0.84])] if vals.size else [float("nan")] * 2
    out["replicas"] = len(rows)
    return out


def hlt_jets(events, pnet, deepjet):
    """Jagged trigger jets (pt, eta, btagPNetB, btagDeepFlavB) of the event file."""
    import awkward as ak

    return ak.zip(
        {
            "pt": events["jet_pt"],
            "eta": events["jet_eta"],
            "btagPNetB": pnet["jet_btagB"],
            "btagDeepFlavB": deepjet["jet_btagB"],
        }
    )


def measure(hh, qcd, sigma_pb: float, wp: float, seed: int, n_boot: int) -> dict:
    """Every number of the printout from the trigger jets of the two samples."""
    from higgsflow.tagging.hlt import (
        TALK_PATHS,
        btag_value,
        efficiency,
        emulate,
        kinematics,
        threshold_for_rate,
    )

    hh_jets, qcd_jets, qcd_w = hh["jets"], qcd["jets"], qcd["weight"]
    legacy = TALK_PATHS["legacy"].with_threshold(wp)
    p23 = TALK_PATHS["HH2023"]
    leg_q, leg_h = emulate(qcd_jets, legacy), emulate(hh_jets, legacy)

    def value(jets):
        return np.where(kinematics(jets, p23), btag_value(jets, p23), -np.inf)

    val_q, val_h = value(qcd_jets), value(hh_jets)
    args = (leg_q, val_q, qcd_w, leg_h, val_h)
    main = rate_matched(*args, sigma_pb)
    main["gain"] = main["eff_2023"] / main["eff_legacy"] if main["eff_legacy"] > 0 else float("nan")
    # the library's rate matching on the jets themselves gives the same threshold
    main["threshold_for_rate"] = threshold_for_rate(
        qcd_jets, p23, main["legacy_rate_hz"], sigma_pb, INST_LUMI, weights=qcd_w
    )
    boot = bootstrap(args, sigma_pb, n_boot, seed)
    pass_23 = val_q > main["threshold"]
    rows = {}

    def row(name, q_pass, h_pass, threshold):
        w2 = float(np.sum(qcd_w[q_pass] ** 2))
        to_hz = sigma_pb / qcd_w.sum() * 1e-36 * INST_LUMI
        rows[name] = {
            "threshold": threshold,
            "qcd_rate_hz": float(qcd_w[q_pass].sum() * to_hz),
            "qcd_rate_err_hz": float(np.sqrt(w2) * to_hz),
            "qcd_events_passing": int(q_pass.sum()),
            "qcd_effective_events_passing": float(qcd_w[q_pass].sum() ** 2 / w2) if w2 > 0 else 0.0,
            "hh": efficiency(h_pass),
        }

    row("legacy", leg_q, leg_h, wp)
    row("2023-like at the legacy rate", pass_23, val_h > main["threshold"], main["threshold"])
    for name in ("HH2023", "HH2022"):
        p = TALK_PATHS[name]
        row(
            f"{name} (PNet > {p.btag.threshold:g})",
            emulate(qcd_jets, p),
            emulate(hh_jets, p),
            p.btag.threshold,
        )
    # offline-like denominator: HH events with 4 b jets (hadron flavour 5) above 30 GeV within |η| < 2.5
    import awkward as ak

    ev = hh["events"]
    bjet = (ev["jet_hadronFlavour"] == 5) & (ev["jet_pt"] > 30.0) & (abs(ev["jet_eta"]) < 2.5)
    four_b = ak.to_numpy(ak.sum(bjet, axis=1)) >= 4
    main["offline_events"] = int(four_b.sum())
    main["eff_legacy_offline"] = float(leg_h[four_b].mean()) if four_b.any() else float("nan")
    main["eff_2023_offline"] = (
        float((val_h > main["threshold"])[four_b].mean()) if four_b.any() else float("nan")
    )
    # p̂T of each QCD event from its weight (∝ p̂T⁻⁴ from the bias; the heaviest events sit at the p̂T cut)
    pthat = PTHAT_MIN * (qcd_w.max() / qcd_w) ** 0.25
    low = pthat < LOW_PTHAT
    kin = {"legacy": TALK_PATHS["legacy"], "HH2023": p23}
    kinematic = {n: {"hh": float(kinematics(hh_jets, p).mean()), "qcd_events": int(kinematics(qcd_jets, p).sum()),
                     "qcd_rate_hz": float(qcd_w[kinematics(qcd_jets, p)].sum() / qcd_w.sum() * sigma_pb * 1e-36
                                          * INST_LUMI),
                     "low_pthat_share": float(qcd_w[kinematics(qcd_jets, p) & low].sum()
                                              / max(qcd_w[kinematics(qcd_jets, p)].sum(), 1e-300))}
                 for n, p in kin.items()}  # fmt: skip
    return {"rate_matched": main, "bootstrap": boot, "paths": rows, "kinematics_only": kinematic}


# ---------------------------------------------------------------- report ---------------------------------------
def fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "n/a"
    if isinstance(x, float) and np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def checks(res: dict) -> list[dict]:
    m, b = res["rate_matched"], res["bootstrap"]
    n_leg = res["paths"]["legacy"]["qcd_events_passing"]
    known = n_leg > 0 and np.isfinite(m["gain"])
    value = (
        f"{fmt(m['eff_2023'])} vs {fmt(m['eff_legacy'])} (gain {fmt(m['gain'])}, 68% interval "
        f"{fmt(b['gain'][0])}–{fmt(b['gain'][1])}; {n_leg} QCD events pass the legacy path)"
    )
    out = [
        {"kind": "gate", "what": "HH→4b efficiency, 2023-like > legacy at the legacy QCD rate", "value": value,
         "ok": bool(m["eff_2023"] > m["eff_legacy"]) if known else None},
        {"kind": "goal", "what": f"gain ε_2023 / ε_legacy ≥ 82/52 = {TALK_GAIN:.3f}", "value": fmt(m["gain"]),
         "ok": bool(m["gain"] >= TALK_GAIN) if known else None},
    ]  # fmt: skip
    for c in out:
        c["verdict"] = "n/a" if c["ok"] is None else ("PASS" if c["ok"] else "FAIL")
    return out


def report(res: dict, gates: list[dict], info: dict) -> None:
    print(f"\n{info['sizes']}")
    print(
        f"QCD: σ(p̂T > {PTHAT_MIN:g} GeV) = {info['sigma_qcd_pb']:.4g} pb (Pythia 8 LO), {info['n_qcd']} events "
        f"(effective {info['n_eff_qcd']:.0f}); L = {INST_LUMI:.1e} cm⁻²s⁻¹: σL = "
        f"{info['sigma_qcd_pb'] * 1e-36 * INST_LUMI:.4g} Hz; HH → 4b (m_X = {HH_MASS:g} GeV): {info['n_hh']} events"
    )
    print(
        f"legacy b tag: DeepJet-like BvsAll > {fmt(info['wp'], 4)} (1% of the QCD sample's light jets above; "
        f"{info['n_light']} light jets)"
    )
    for name, k in res["kinematics_only"].items():
        print(
            f"  {name} kinematics only (no b tag): HH eff {k['hh']:.3f}, QCD rate {fmt(k['qcd_rate_hz'])} Hz"
            f" ({k['qcd_events']} QCD events; {k['low_pthat_share']:.1%} of it from p̂T < {LOW_PTHAT:g} GeV)"
        )
    head = f"\n{'path':34s} {'b-tag cut':>9s} {'QCD rate [Hz]':>18s} {'QCD ev.':>8s} {'(eff.)':>7s} {'HH→4b eff.':>22s}"
    print(head)
    for name, r in res["paths"].items():
        h = r["hh"]
        rate = f"{fmt(r['qcd_rate_hz'])} ± {fmt(r['qcd_rate_err_hz'], 2)}"
        eff = f"{h['efficiency']:.3f} [{h['low']:.3f}, {h['high']:.3f}]"
        print(
            f"{name:34s} {fmt(r['threshold'], 4):>9s} {rate:>18s} {r['qcd_events_passing']:8d}"
            f" {r['qcd_effective_events_passing']:7.1f} {eff:>22s}"
        )
    b, m = res["bootstrap"], res["rate_matched"]
    print(
        f"\nbootstrap ({b['replicas']} Poisson replicas of both samples, 16–84%): legacy rate "
        f"{fmt(b['legacy_rate_hz'][0])}–{fmt(b['legacy_rate_hz'][1])} Hz, rate-matched threshold "
        f"{fmt(b['threshold'][0])}–{fmt(b['threshold'][1])}, ε_legacy {fmt(b['eff_legacy'][0])}–"
        f"{fmt(b['eff_legacy'][1])}, ε_2023 {fmt(b['eff_2023'][0])}–{fmt(b['eff_2023'][1])}, gain "
        f"{fmt(b['gain'][0])}–{fmt(b['gain'][1])}"
    )
    print(
        f"on the {m['offline_events']} HH events with 4 b jets > 30 GeV (|η| < 2.5): ε_legacy "
        f"{fmt(m['eff_legacy_offline'])}, ε_2023 at the legacy rate {fmt(m['eff_2023_offline'])}"
    )
    print("\nGate and goal:")
    for g in gates:
        print(f"  [{g['verdict']:4s}] {g['kind']}: {g['what']}: {g['value']}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("hlt_runs"), help="folder of the events, jets and runs")
    ap.add_argument(
        "--data", type=Path, help="folder of the event files (generated there if missing, else reused)"
    )
    ap.add_argument("--quick", action="store_true", help="smoke run (minutes; its figures are noise)")
    ap.add_argument("--hh-events", type=int, help="HH → 4b events to measure")
    ap.add_argument("--qcd-events", type=int, help="QCD events to measure")
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--tagger-run", type=Path, help="a trained AK4 ParticleNet run (8 flavour classes)")
    ap.add_argument("--legacy-run", type=Path, help="a trained DeepJet-like run for the legacy path")
    ap.add_argument("--workers", type=int, default=1, help="generator processes")
    ap.add_argument("--seed", type=int, default=1, help="generator seed")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, help="write the results as JSON")
    a = ap.parse_args(argv)
    sizes = dict(SIZES["quick" if a.quick else "default"])
    for key, opt in (("hh", a.hh_events), ("qcd", a.qcd_events), ("epochs", a.epochs)):
        if opt is not None:
            sizes[key] = opt
    if a.out:
        from higgsflow.outputs import check_output

        check_output(a.out, overwrite=True)
    t0 = time.time()
    print(f"HH → 4b trigger benchmark: {sizes}", flush=True)
    files = make_events(a.data or a.work / "data", sizes, a.workers, a.seed)
    t_gen = time.time() - t0
    runs = {"ParticleNet": a.tagger_run, "DeepJet-like": a.legacy_run}
    if any(r is None for r in runs.values()):
        jets = training_jets(files, a.work, a.seed)
        for name in runs:
            if runs[name] is None:
                runs[name] = train_tagger(name, jets, a.work, sizes["epochs"], a.device)
    t_train = time.time() - t0 - t_gen

    from higgsflow.data.io import read_metadata

    samples = {}
    for key in ("hh", "qcd"):
        pnet = scored_events(runs["ParticleNet"], files[key])
        dj = scored_events(runs["DeepJet-like"], files[key])
        samples[key] = {"jets": hlt_jets(pnet, pnet, dj), "weight": np.asarray(pnet["weight"], np.float64),
                        "events": pnet, "deepjet": dj}  # fmt: skip
    sigma = float(read_metadata(files["qcd"][0])["sum_weights_pb"])
    import awkward as ak

    dj_q = samples["qcd"]["deepjet"]
    flat = {k: ak.to_numpy(ak.flatten(dj_q[c])) for k, c in
            (("b", "jet_btagB"), ("f", "jet_hadronFlavour"), ("pt", "jet_pt"), ("eta", "jet_eta"))}  # fmt: skip
    wp = light_threshold(flat["b"], flat["f"], flat["pt"], flat["eta"])
    n_light = int(((flat["f"] == 0) & (flat["pt"] > 30) & (np.abs(flat["eta"]) < 2.5)).sum())
    res = measure(samples["hh"], samples["qcd"], sigma, wp, a.seed, 50 if a.quick else N_BOOT)
    w = samples["qcd"]["weight"]
    sizes_line = (
        f"sizes: {sizes['hh']} HH→4b and {sizes['qcd']} QCD events measured; taggers trained on the jets of "
        f"{sizes['train_hh']} HH→4b + {sizes['train_qcd']} QCD events, {sizes['epochs']} epoch(s), batch "
        f"{SETTINGS['batch_size']}"
        + ("" if a.tagger_run is None else f"; ParticleNet run {a.tagger_run}")
        + ("" if a.legacy_run is None else f"; DeepJet-like run {a.legacy_run}")
    )
    info = {"sizes": sizes_line, "sigma_qcd_pb": sigma, "n_qcd": len(w), "n_eff_qcd": w.sum() ** 2 / (w**2).sum(),
            "n_hh": len(samples["hh"]["weight"]), "wp": wp, "n_light": n_light}  # fmt: skip
    gates = checks(res)
    report(res, gates, info)
    total = time.time() - t0
    print(f"\ntime: generation {t_gen:.0f} s, training {t_train:.0f} s, total {total:.0f} s")
    if a.out:
        payload = {**info, "hh_mass_gev": HH_MASS, "pthat_min_gev": PTHAT_MIN, "inst_lumi_cm2s": INST_LUMI,
                   "runs": {k: str(v) for k, v in runs.items()}, **res, "checks": gates,
                   "generation_s": t_gen, "training_s": t_train, "total_s": total}  # fmt: skip
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(payload, indent=2, default=float, allow_nan=True))
        print(f"written {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
