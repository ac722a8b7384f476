"""HH → 4b trigger benchmark: the ParticleNet 2023-like HLT path against the legacy path at the same QCD rate.

What it does, end to end on simulated events (``higgsflow generate events``, √s = 13 TeV, no pile-up):

1. **Events.** HH → 4b: gg → X → hh → bb̄bb̄ with a heavy scalar of mass ``HH_MASS`` = 400 GeV (Pythia's H2,
   width 1% of the mass; Pythia 8 has no SM gg → hh, so a narrow resonance stands in: 400 GeV is near the peak of
   the SM m_hh spectrum, which rises from 250 GeV, peaks around 400 GeV and has a long tail, so the efficiencies
   here are those of typical SM-like kinematics, not of its high-mass tail). QCD multijets: ``HardQCD:all`` with
   p̂T > ``PTHAT_MIN`` = 50 GeV, far below what the paths need (HT > 280–330 GeV with 4 jets above 30–75 GeV:
   a 2 → 2 event at p̂T = 50 GeV has HT ≈ 100 GeV plus radiation), generated with Pythia's p̂T bias
   (``bias2Selection``, power 4: events at high p̂T are made more often) and the compensating weights, so that
   Σ weight = Pythia's σ(p̂T > 50 GeV) and every rate below is the WEIGHTED passing fraction × σ × L. The
   printout gives the share of each path's kinematic QCD rate from events with p̂T < 70 GeV (p̂T read back from
   the weight, ∝ p̂T⁻⁴): if it is small, the part below 50 GeV is negligible.
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
5. **QCD statistics.** Few QCD events pass three b tags (or a tight mean of two): the legacy rate of the sample
   itself rests on a handful of events, often none. So the rate matching is done twice: on the QCD events as
   generated (``direct``, with the number of passing events) and on ``K_RESAMPLE`` = 100 copies of each QCD event
   that passes either path's kinematics, whose jets take the (ParticleNet, DeepJet-like) score pair of a random
   jet of the sample with the same hadron flavour (b, c, light), p_T bin and |η| bin (``resample_scores``, a
   "truth-tagging"-like estimate: it assumes the jets' scores are independent given flavour, p_T and |η|). The
   gate and goal are judged on the resampled QCD (``--resample 0``: on the generated one).
6. **Uncertainties.** HH efficiencies: Clopper–Pearson 68%. QCD rate: √(Σ w²) over the QCD events (a resampled
   event counts with the summed weight of its passing copies). Gain and rate-matched efficiencies: a bootstrap
   (``N_BOOT`` Poisson replicas of the HH and QCD events, the copies of one event sharing its count; the donor
   jets are not redrawn), the threshold refound in each, 16–84% interval. The number of QCD events behind each
   rate and their effective number (Σw)² / Σw² are printed.

Gate: the 2023-like efficiency exceeds the legacy one at equal QCD rate. Goal: gain ≥ 82/52.

Sizes (top of the file: ``SIZES``, ``SETTINGS``). Default: 2,000 HH → 4b and 12,000 QCD events to measure, plus
600 HH → 4b and 1,200 QCD events whose ~6,600 labelled jets train the taggers (80/20 train/validation), 4
epochs, batch 64, learning rate 2e-3; about 19 min on 2 shared cores (generation 7 min with ``--workers 2``,
training 8.5 min, scoring, resampling and the efficiency-rate scan 3 min). It also scans the b-tag cut of both
paths and prints the HH → 4b efficiency against QCD rate (figure ``WORK/hlt_rate_efficiency.png``). ``--quick``: 100 HH, 300 QCD, 60 + 120 training events, 1 epoch;
a smoke run of 1–2 minutes whose figures are noise (its taggers are untrained). Larger samples belong on more
cores (``--workers``) or a GPU (``--device cuda``). Event files are reused when ``--data`` holds the same process,
size and seed (generation is seeded, so they are the files a new run would make).

    PYTHONPATH=src python benchmarks/hlt.py --quick --out /tmp/hlt.json
    PYTHONPATH=src python benchmarks/hlt.py --work hlt_runs --workers 2 --out hlt.json
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
K_RESAMPLE = 100  # score-resampled copies of each QCD event (resample_scores)
PT_EDGES = np.array([20.0, 30.0, 40.0, 50.0, 70.0, 100.0, 150.0, 200.0, 300.0])  # GeV, last bin open
ETA_EDGES = np.array([0.0, 1.5])  # |η| bins, last open
SCAN_MISTAGS = (
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.3,
)  # legacy WPs of the efficiency-rate scan
LOW_PTHAT = 70.0  # GeV: the printout gives the share of each path's QCD rate from events below it
SIZES = {  # events to measure, training events (HH, QCD), epochs
    "default": {"hh": 2000, "qcd": 12000, "train_hh": 600, "train_qcd": 1200, "epochs": 4},
    "quick": {"hh": 100, "qcd": 300, "train_hh": 60, "train_qcd": 120, "epochs": 1},
}
TAGGERS = {  # name: (network, shipped config, network options); the b score is BvsAll of the 8 classes
    "ParticleNet": ("particlenet_sv", "particlenet_ak4", {}),  # weaver-core ParticleNetTagger defaults
    "DeepJet-like": ("deepjet", "upart_ak4", {}),  # full size (docs/models.md)
}
SETTINGS = {"batch_size": 64, "lr": 2e-3, "optimizer": "ranger", "scheduler": "flat+decay", "seed": 42,
            "checkpoint_every": None}  # fmt: skip
LABELS = ["label_b", "label_bb", "label_c", "label_cc", "label_s", "label_ud", "label_g", "label_tauh"]


# ---------------------------------------------------------------- data -----------------------------------------
def make_events(data: Path, sizes: dict, workers: int, seed: int) -> dict[str, tuple[Path, Path]]:
    """(event file, jets file) for hh, qcd, train_hh, train_qcd; reused if present."""
    from higgsflow.data.io import read_metadata
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
            settings = read_metadata(path).get("settings", {})
            if (settings.get("process"), settings.get("n_events"), settings.get("seed")) == (process, n, s):
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
    qcd_total: float | None = None,
) -> dict:
    """The rate matching on per-event quantities: ``legacy_pass`` (the legacy decision per QCD event),
    ``value_2023`` (the 2023-like path's b-tag value per QCD event, −inf where its kinematics fail), the QCD
    weights (pb; ``qcd_total``: their sum over the whole sample if ``qcd_w`` covers only part of it);
    ``hh_legacy`` / ``hh_value`` the same for the signal events. Returns the legacy QCD rate (Hz), the threshold
    t whose weighted QCD fraction with value > t is at most the legacy one (the lowest such value, as
    :func:`higgsflow.tagging.hlt.threshold_for_rate`), the 2023-like rate at t and both signal efficiencies."""
    w = np.asarray(qcd_w, dtype=np.float64)
    total = float(w.sum()) if qcd_total is None else float(qcd_total)
    hw = np.ones(len(hh_legacy)) if hh_w is None else np.asarray(hh_w, dtype=np.float64)
    eps_legacy = float(w[np.asarray(legacy_pass, bool)].sum() / total) if total > 0 else float("nan")
    v = np.asarray(value_2023, dtype=np.float64)
    ok = np.isfinite(v)
    order = np.argsort(v[ok], kind="stable")
    s, cw = v[ok][order], np.cumsum(w[ok][order])
    if not s.size:
        thr = float("-inf")
    elif cw[-1] / total <= eps_legacy + 1e-12:  # every event passing the kinematics may pass
        thr = float(np.nextafter(s[0], -np.inf))
    else:
        u = np.unique(s)
        frac_gt = (cw[-1] - cw[np.searchsorted(s, u, side="right") - 1]) / total
        thr = float(u[np.flatnonzero(frac_gt <= eps_legacy + 1e-12)[0]])
    eff_legacy = float(hw[np.asarray(hh_legacy, bool)].sum() / hw.sum())
    eff_2023 = float(hw[np.asarray(hh_value) > thr].sum() / hw.sum())
    return {
        "legacy_rate_hz": eps_legacy * sigma_pb * 1e-36 * lumi,
        "threshold": thr,
        "rate_2023_hz": float(w[v > thr].sum() / total) * sigma_pb * 1e-36 * lumi if total > 0 else 0.0,
        "eff_legacy": eff_legacy,
        "eff_2023": eff_2023,
        "gain": eff_2023 / eff_legacy if eff_legacy > 0 else float("nan"),
    }


def bootstrap(
    args: tuple, sigma_pb: float, n: int, seed: int, group: np.ndarray | None = None, event_w=None
) -> dict:
    """16–84% intervals of the rate-matched quantities over Poisson replicas of both samples. ``group``: the
    QCD event each row of ``args`` comes from (resampled copies share their event's Poisson count) and
    ``event_w`` the weights of all QCD events (default: one row per event)."""
    legacy_pass, value_2023, qcd_w, hh_legacy, hh_value = args
    qcd_w = np.asarray(qcd_w, dtype=np.float64)
    group = np.arange(len(qcd_w)) if group is None else np.asarray(group)
    event_w = qcd_w if event_w is None else np.asarray(event_w, dtype=np.float64)
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        m = rng.poisson(1.0, len(event_w))
        wh = rng.poisson(1.0, len(hh_legacy)).astype(np.float64)
        total = float((event_w * m).sum())
        if total <= 0 or wh.sum() <= 0:
            continue
        rows.append(
            rate_matched(
                legacy_pass,
                value_2023,
                qcd_w * m[group],
                hh_legacy,
                hh_value,
                sigma_pb,
                hh_w=wh,
                qcd_total=total,
            )
        )
    out: dict = {}
    for key in ("legacy_rate_hz", "threshold", "eff_legacy", "eff_2023", "gain"):
        vals = np.array([r[key] for r in rows], dtype=np.float64)
        vals = vals[np.isfinite(vals)]
        out[key] = [float(x) for x in np.quantile(vals, [0.16, 0.84])] if vals.size else [float("nan")] * 2
    out["replicas"] = len(rows)
    return out


def resample_scores(jets, flavour, weight, keep, k: int, seed: int, fields=("btagPNetB", "btagDeepFlavB")):
    """``k`` copies of each event of ``keep`` (bool per event) whose jets' scores (``fields``, drawn together,
    so the two taggers' correlation stays) are those of a random donor jet of the same hadron flavour (b, c,
    light), p_T bin (``PT_EDGES``) and |η| bin (``ETA_EDGES``) among all jets of the sample. Each copy weighs
    ``weight / k``. Returns (jets, weights, the event each copy comes from).

    The b-tag requirements are met ~``k`` times more often than in the sample itself, at the price of assuming
    that the jets' scores are independent of each other given flavour, p_T and |η| (no correlation between the
    jets of an event beyond their flavours)."""
    import awkward as ak

    rng = np.random.default_rng(seed)
    flat_pt = ak.to_numpy(ak.flatten(jets.pt)).astype(np.float64)
    flat_eta = np.abs(ak.to_numpy(ak.flatten(jets.eta)).astype(np.float64))
    flat_f = ak.to_numpy(ak.flatten(flavour)).astype(np.int64)

    def bins(pt, eta, f):
        fl = np.where(f == 5, 2, np.where(f == 4, 1, 0))
        ipt = np.clip(np.searchsorted(PT_EDGES, pt, side="right") - 1, 0, len(PT_EDGES) - 1)
        ieta = np.clip(np.searchsorted(ETA_EDGES, eta, side="right") - 1, 0, len(ETA_EDGES) - 1)
        return (fl * len(PT_EDGES) + ipt) * len(ETA_EDGES) + ieta

    donor_bin = bins(flat_pt, flat_eta, flat_f)
    order = np.argsort(donor_bin, kind="stable")
    n_bins = 3 * len(PT_EDGES) * len(ETA_EDGES)
    size = np.bincount(donor_bin, minlength=n_bins)
    start = np.r_[0, np.cumsum(size)[:-1]]
    donor_scores = {f: ak.to_numpy(ak.flatten(jets[f])).astype(np.float64)[order] for f in fields}
    events = np.flatnonzero(np.asarray(keep, bool))
    group = np.repeat(events, k)
    rep = jets[group]
    rep_f = flavour[group]
    counts = ak.to_numpy(ak.num(rep.pt))
    b = bins(
        ak.to_numpy(ak.flatten(rep.pt)).astype(np.float64),
        np.abs(ak.to_numpy(ak.flatten(rep.eta)).astype(np.float64)),
        ak.to_numpy(ak.flatten(rep_f)).astype(np.int64),
    )
    pick = start[b] + np.minimum((rng.random(b.size) * size[b]).astype(np.int64), size[b] - 1)
    new = {"pt": rep.pt, "eta": rep.eta}
    for f in fields:
        new[f] = ak.unflatten(donor_scores[f][pick], counts)
    return ak.zip(new), np.asarray(weight, np.float64)[group] / k, group


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


def _path_row(q_pass, group, qcd_w, total, h_pass, threshold, sigma_pb) -> dict:
    """A path's QCD rate (per QCD event: the weight of its passing copies, so resampled copies add up), its
    √Σw² error, the QCD events behind it and the HH efficiency."""
    from higgsflow.tagging.hlt import efficiency

    per_event = np.bincount(group, weights=np.where(q_pass, qcd_w, 0.0), minlength=int(group.max()) + 1)
    to_hz = sigma_pb / total * 1e-36 * INST_LUMI
    w2 = float(np.sum(per_event**2))
    return {
        "threshold": threshold,
        "qcd_rate_hz": float(per_event.sum() * to_hz),
        "qcd_rate_err_hz": float(np.sqrt(w2) * to_hz),
        "qcd_events_passing": int(np.count_nonzero(per_event)),
        "qcd_effective_events_passing": float(per_event.sum() ** 2 / w2) if w2 > 0 else 0.0,
        "hh": efficiency(h_pass),
    }


def measure(
    hh,
    qcd,
    sigma_pb: float,
    wp: float,
    seed: int,
    n_boot: int,
    k_resample: int,
    legacy_wps: dict | None = None,
) -> dict:
    """Every number of the printout from the trigger jets of the two samples: the rate matching on the QCD
    events as they are (``direct``) and on ``k_resample`` score-resampled copies of each QCD event that passes
    either path's kinematics (``resampled``, :func:`resample_scores`)."""
    import awkward as ak

    from higgsflow.tagging.hlt import TALK_PATHS, btag_value, emulate, kinematics, threshold_for_rate

    hh_jets, qcd_jets, qcd_w = hh["jets"], qcd["jets"], qcd["weight"]
    total = float(qcd_w.sum())
    legacy = TALK_PATHS["legacy"].with_threshold(wp)
    p23 = TALK_PATHS["HH2023"]
    leg_h = emulate(hh_jets, legacy)

    def value(jets):
        return np.where(kinematics(jets, p23), btag_value(jets, p23), -np.inf)

    val_h = value(hh_jets)
    kin_any = kinematics(qcd_jets, TALK_PATHS["legacy"]) | kinematics(qcd_jets, p23)
    samples = {"direct": (qcd_jets, qcd_w, np.arange(len(qcd_w)))}
    if k_resample > 0:
        samples["resampled"] = resample_scores(
            qcd_jets, qcd["events"]["jet_hadronFlavour"], qcd_w, kin_any, k_resample, seed
        )
    out: dict = {}
    for name, (jets, w, group) in samples.items():
        leg_q, val_q = emulate(jets, legacy), value(jets)
        args = (leg_q, val_q, w, leg_h, val_h)
        main = rate_matched(*args, sigma_pb, qcd_total=total)
        boot = bootstrap(args, sigma_pb, n_boot, seed, group=group, event_w=qcd_w)
        rows = {
            "legacy": _path_row(leg_q, group, w, total, leg_h, wp, sigma_pb),
            "2023-like at the legacy rate": _path_row(
                val_q > main["threshold"],
                group,
                w,
                total,
                val_h > main["threshold"],
                main["threshold"],
                sigma_pb,
            ),
        }
        for path_name in ("HH2023", "HH2022"):
            p = TALK_PATHS[path_name]
            rows[f"{path_name} (PNet > {p.btag.threshold:g})"] = _path_row(
                emulate(jets, p), group, w, total, emulate(hh_jets, p), p.btag.threshold, sigma_pb
            )
        out[name] = {"rate_matched": main, "bootstrap": boot, "paths": rows}
    # the library's rate matching on the QCD jets themselves gives the same threshold as the direct one
    direct = out["direct"]["rate_matched"]
    direct["threshold_for_rate"] = threshold_for_rate(
        qcd_jets, p23, direct["legacy_rate_hz"], sigma_pb, INST_LUMI, weights=qcd_w
    )
    # offline-like denominator: HH events with 4 b jets (hadron flavour 5) above 30 GeV within |η| < 2.5
    ev = hh["events"]
    bjet = (ev["jet_hadronFlavour"] == 5) & (ev["jet_pt"] > 30.0) & (abs(ev["jet_eta"]) < 2.5)
    four_b = ak.to_numpy(ak.sum(bjet, axis=1)) >= 4
    for res in out.values():
        m = res["rate_matched"]
        m["offline_events"] = int(four_b.sum())
        m["eff_legacy_offline"] = float(leg_h[four_b].mean()) if four_b.any() else float("nan")
        m["eff_2023_offline"] = (
            float((val_h > m["threshold"])[four_b].mean()) if four_b.any() else float("nan")
        )
    # p̂T of each QCD event from its weight (∝ p̂T⁻⁴ from the bias; the heaviest events sit at the p̂T cut)
    low = PTHAT_MIN * (qcd_w.max() / qcd_w) ** 0.25 < LOW_PTHAT
    out["kinematics_only"] = {}
    for n, p in {"legacy": TALK_PATHS["legacy"], "HH2023": p23}.items():
        kq = kinematics(qcd_jets, p)
        out["kinematics_only"][n] = {
            "hh": float(kinematics(hh_jets, p).mean()),
            "qcd_events": int(kq.sum()),
            "qcd_rate_hz": float(qcd_w[kq].sum() / total * sigma_pb * 1e-36 * INST_LUMI),
            "low_pthat_share": float(qcd_w[kq & low].sum() / max(qcd_w[kq].sum(), 1e-300)),
        }
    if legacy_wps:
        jets, w, _ = samples["resampled" if "resampled" in samples else "direct"]
        out["curves"] = rate_curves((jets, w, total), hh_jets, legacy_wps, sigma_pb)
        out["crossing_rate_hz"] = crossing_rate(out["curves"])
    out["resample_copies"] = k_resample
    out["resampled_events"] = int(kin_any.sum())
    return out


def rate_curves(samples: dict, hh_jets, legacy_wps: dict, sigma_pb: float) -> dict:
    """HH → 4b efficiency against QCD rate for both paths, scanning the b-tag cut: the legacy path over
    DeepJet-like working points (``legacy_wps``: light mistag → threshold), the 2023-like path over cuts on the
    mean of its two highest ParticleNet scores. ``samples``: (QCD jets, weights, total weight)."""
    from higgsflow.tagging.hlt import TALK_PATHS, btag_value, kinematics

    jets, w, total = samples
    to_hz = sigma_pb / total * 1e-36 * INST_LUMI
    out = {}
    for name, path, cuts in (
        ("legacy", TALK_PATHS["legacy"], sorted(legacy_wps.values())),
        ("2023-like", TALK_PATHS["HH2023"], list(np.linspace(0.0, 0.99, 100))),
    ):
        vq = np.where(kinematics(jets, path), btag_value(jets, path), -np.inf)
        vh = np.where(kinematics(hh_jets, path), btag_value(hh_jets, path), -np.inf)
        out[name] = [
            {
                "threshold": float(t),
                "qcd_rate_hz": float(w[vq > t].sum() * to_hz),
                "hh_eff": float(np.mean(vh > t)),
            }
            for t in cuts
        ]
    return out


def crossing_rate(curves: dict) -> tuple[float, float]:
    """Where the 2023-like path becomes more efficient than the legacy one at equal QCD rate: (the highest rate
    of the legacy scan at which it is not, the next scan rate, from which on it is), comparing at each legacy
    point with the 2023-like curve interpolated in log rate. (-inf, lowest) if it always is, (highest, nan) if it
    never is, (nan, nan) without overlap."""
    c23 = sorted((r["qcd_rate_hz"], r["hh_eff"]) for r in curves["2023-like"] if r["qcd_rate_hz"] > 0)
    nan = float("nan")
    if len(c23) < 2:
        return nan, nan
    x, y = np.log([r for r, _ in c23]), np.array([e for _, e in c23])
    better = []
    for r in sorted(curves["legacy"], key=lambda r: r["qcd_rate_hz"]):
        if r["qcd_rate_hz"] <= 0 or not x[0] <= np.log(r["qcd_rate_hz"]) <= x[-1]:
            continue
        better.append((r["qcd_rate_hz"], bool(np.interp(np.log(r["qcd_rate_hz"]), x, y) > r["hh_eff"])))
    if not better:
        return nan, nan
    worse = [i for i, (_, b) in enumerate(better) if not b]
    if not worse:
        return float("-inf"), float(better[0][0])
    i = worse[-1]
    return float(better[i][0]), float(better[i + 1][0]) if i + 1 < len(better) else nan


def plot_curves(curves: dict, matched: dict, path: Path, nominal: dict | None = None) -> Path:
    """HH → 4b efficiency against QCD rate of both paths (the b-tag cut scanned), the rate-matched point marked."""
    from higgsflow.plotting import cms_label, save_figure, style

    plt, _ = style()
    fig, ax = plt.subplots(figsize=(9, 7))
    for name, style_kw, label in (
        (
            "legacy",
            {"marker": "o", "color": "tab:blue"},
            "legacy: HT > 330, 4 jets 75/60/45/40, 3 DeepJet-like tags",
        ),
        ("2023-like", {"marker": "", "color": "tab:red"}, "2023-like: HT > 280, 4 jets > 30, PNet mean of 2"),
    ):
        pts = sorted((r["qcd_rate_hz"], r["hh_eff"]) for r in curves[name] if r["qcd_rate_hz"] > 0)
        if pts:
            ax.plot(*zip(*pts, strict=True), label=label, **style_kw)
    ax.plot([matched["legacy_rate_hz"]] * 2, [matched["eff_legacy"], matched["eff_2023"]], "k:", lw=1)
    ax.plot(
        matched["legacy_rate_hz"],
        matched["eff_legacy"],
        "ks",
        ms=9,
        label=f"1% mistag WP: {matched['legacy_rate_hz']:.3g} Hz, ε = {matched['eff_legacy']:.3f}",
    )
    ax.plot(matched["legacy_rate_hz"], matched["eff_2023"], "k*", ms=12,
            label=f"2023-like at that rate: ε = {matched['eff_2023']:.3f} (cut {matched['threshold']:.3f})")  # fmt: skip
    ax.set_xscale("log")
    mant, expo = f"{INST_LUMI:.1e}".split("e")
    ax.set_xlabel(f"QCD rate at L = ${mant}\\times10^{{{int(expo)}}}$ cm$^{{-2}}$s$^{{-1}}$ [Hz]")
    ax.set_ylabel("HH → 4b efficiency")
    if nominal is not None:
        ax.plot(nominal["qcd_rate_hz"], nominal["hh"]["efficiency"], "r^", ms=10,
                label=f"2023-like, PNet cut 0.55: {nominal['qcd_rate_hz']:.3g} Hz, ε = {nominal['hh']['efficiency']:.3f}")  # fmt: skip
    ax.set_ylim(0, 1.5 * ax.get_ylim()[1])
    ax.legend(fontsize=12, loc="upper left", title=f"HH → 4b at m$_X$ = {HH_MASS:g} GeV; QCD $\\hat{{p}}_T$ > {PTHAT_MIN:g} GeV",
              title_fontsize=12)  # fmt: skip
    cms_label(ax, com=13.0)
    return save_figure(fig, path, overwrite=True)


def tagger_quality(hh_events, qcd_events) -> dict:
    """Per tagger: b-jet (hadron flavour 5) against light-jet AUC and the b efficiency at 1% light mistag, on
    all jets above 30 GeV of both samples."""
    import awkward as ak
    from sklearn.metrics import roc_auc_score

    out = {}
    for name, key in (("ParticleNet", "pnet"), ("DeepJet-like", "deepjet")):
        cols = {}
        for ev in (hh_events[key], qcd_events[key]):
            for c in ("jet_btagB", "jet_hadronFlavour", "jet_pt", "jet_eta"):
                cols.setdefault(c, []).append(ak.to_numpy(ak.flatten(ev[c])))
        s, f, pt = (np.concatenate(cols[c]) for c in ("jet_btagB", "jet_hadronFlavour", "jet_pt"))
        eta = np.concatenate(cols["jet_eta"])
        sel = (pt > 30) & (np.abs(eta) < 2.5)
        b, light = sel & (f == 5), sel & (f == 0)
        thr = light_threshold(s, f, pt, eta)
        auc = roc_auc_score(np.r_[np.ones(b.sum()), np.zeros(light.sum())], np.r_[s[b], s[light]])
        out[name] = {"auc_b_vs_light": float(auc), "threshold_1pct": thr, "eff_b_1pct": float((s[b] > thr).mean()),
                     "b_jets": int(b.sum()), "light_jets": int(light.sum())}  # fmt: skip
    return out


# ---------------------------------------------------------------- report ---------------------------------------
def fmt(x, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and np.isnan(x)):
        return "n/a"
    if isinstance(x, float) and np.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.{digits}g}"


def headline(res: dict) -> str:
    """The sample the gate is judged on: the score-resampled QCD if made, else the QCD events as they are."""
    return "resampled" if "resampled" in res else "direct"


def checks(res: dict) -> list[dict]:
    key = headline(res)
    m, b = res[key]["rate_matched"], res[key]["bootstrap"]
    n_leg = res[key]["paths"]["legacy"]["qcd_events_passing"]
    known = n_leg > 0 and np.isfinite(m["gain"])
    where = "score-resampled QCD" if key == "resampled" else "QCD as generated"
    value = (
        f"{fmt(m['eff_2023'])} vs {fmt(m['eff_legacy'])} (gain {fmt(m['gain'])}, 68% interval "
        f"{fmt(b['gain'][0])}–{fmt(b['gain'][1])}; {where}: {n_leg} QCD events pass the legacy path)"
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
    for name, q in info["taggers"].items():
        print(
            f"{name}: b vs light AUC {q['auc_b_vs_light']:.3f}, b efficiency {q['eff_b_1pct']:.3f} at 1% light "
            f"mistag (score > {q['threshold_1pct']:.4f}); {q['b_jets']} b and {q['light_jets']} light jets > 30 GeV"
        )
    print(
        f"legacy b tag: DeepJet-like BvsAll > {fmt(info['wp'], 4)} (1% of the QCD sample's light jets above)"
    )
    for name, k in res["kinematics_only"].items():
        print(
            f"  {name} kinematics only (no b tag): HH eff {k['hh']:.3f}, QCD rate {fmt(k['qcd_rate_hz'])} Hz"
            f" ({k['qcd_events']} QCD events; {k['low_pthat_share']:.1%} of it from p̂T < {LOW_PTHAT:g} GeV)"
        )
    titles = {
        "direct": "QCD events as generated",
        "resampled": f"QCD with resampled scores ({res['resample_copies']} copies of each of the "
        f"{res['resampled_events']} QCD events passing either path's kinematics)",
    }
    for key in ("direct", "resampled"):
        if key not in res:
            continue
        print(f"\n{titles[key]}:")
        print(
            f"{'path':30s} {'b-tag cut':>9s} {'QCD rate [Hz]':>18s} {'QCD ev.':>8s} {'(eff.)':>7s} "
            f"{'HH→4b eff. [68%]':>22s}"
        )
        for name, r in res[key]["paths"].items():
            h = r["hh"]
            rate = f"{fmt(r['qcd_rate_hz'])} ± {fmt(r['qcd_rate_err_hz'], 2)}"
            eff = f"{h['efficiency']:.3f} [{h['low']:.3f}, {h['high']:.3f}]"
            print(
                f"{name:30s} {fmt(r['threshold'], 4):>9s} {rate:>18s} {r['qcd_events_passing']:8d}"
                f" {r['qcd_effective_events_passing']:7.1f} {eff:>22s}"
            )
        b, m = res[key]["bootstrap"], res[key]["rate_matched"]
        print(
            f"bootstrap ({b['replicas']} Poisson replicas of both samples, 16–84%): legacy rate "
            f"{fmt(b['legacy_rate_hz'][0])}–{fmt(b['legacy_rate_hz'][1])} Hz, matched threshold "
            f"{fmt(b['threshold'][0])}–{fmt(b['threshold'][1])}, ε_legacy {fmt(b['eff_legacy'][0])}–"
            f"{fmt(b['eff_legacy'][1])}, ε_2023 {fmt(b['eff_2023'][0])}–{fmt(b['eff_2023'][1])}, gain "
            f"{fmt(b['gain'][0])}–{fmt(b['gain'][1])} (central {fmt(m['gain'])})"
        )
        print(
            f"on the {m['offline_events']} HH events with 4 b jets > 30 GeV (|η| < 2.5): ε_legacy "
            f"{fmt(m['eff_legacy_offline'])}, ε_2023 at the legacy rate {fmt(m['eff_2023_offline'])}"
        )
        if "threshold_for_rate" in m:
            print(
                f"higgsflow.tagging.hlt.threshold_for_rate on these QCD jets: {fmt(m['threshold_for_rate'], 4)}"
            )
    if "curves" in res:
        print("\nHH → 4b efficiency against QCD rate, b-tag cut scanned (same QCD as the gate):")
        leg = sorted(res["curves"]["legacy"], key=lambda r: r["qcd_rate_hz"])
        c23 = res["curves"]["2023-like"]
        print(f"  {'legacy WP (mistag)':>18s} {'cut':>7s} {'rate [Hz]':>10s} {'ε legacy':>9s} | "
              f"{'2023-like cut':>13s} {'rate [Hz]':>10s} {'ε 2023':>7s}")  # fmt: skip
        mistag = {round(v, 6): k for k, v in info["legacy_wps"].items()}
        for r in leg:
            ok = [c for c in c23 if c["qcd_rate_hz"] <= r["qcd_rate_hz"]]
            best = max(ok, key=lambda c: c["hh_eff"]) if ok else None
            right = (
                f"{best['threshold']:13.2f} {fmt(best['qcd_rate_hz']):>10s} {best['hh_eff']:7.3f}"
                if best
                else "-"
            )
            m = mistag.get(round(r["threshold"], 6), float("nan"))
            print(
                f"  {m:18.3f} {r['threshold']:7.4f} {fmt(r['qcd_rate_hz']):>10s} {r['hh_eff']:9.3f} | {right}"
            )
        lo, hi = res["crossing_rate_hz"]
        if np.isnan(hi):
            where = "at no rate of the scan" if np.isfinite(lo) else "(no overlap of the scans)"
        elif np.isinf(lo):
            where = "at every rate of the scan"
        else:
            where = f"from between {fmt(lo)} and {fmt(hi)} Hz of QCD rate up"
        print(
            f"  the 2023-like path (cuts 0 to 0.99 in steps of 0.01) is more efficient at equal rate {where}"
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
    ap.add_argument(
        "--resample",
        type=int,
        default=K_RESAMPLE,
        help=f"score-resampled copies of each QCD event (default {K_RESAMPLE}; 0: the QCD events as they are)",
    )
    ap.add_argument("--out", type=Path, help="write the results as JSON")
    ap.add_argument("--plot", type=Path, help="efficiency-rate figure (default WORK/hlt_rate_efficiency.png)")
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
                        "events": pnet, "pnet": pnet, "deepjet": dj}  # fmt: skip
    sigma = float(read_metadata(files["qcd"][0])["sum_weights_pb"])
    import awkward as ak

    dj_q = samples["qcd"]["deepjet"]
    flat = {k: ak.to_numpy(ak.flatten(dj_q[c])) for k, c in
            (("b", "jet_btagB"), ("f", "jet_hadronFlavour"), ("pt", "jet_pt"), ("eta", "jet_eta"))}  # fmt: skip
    wp = light_threshold(flat["b"], flat["f"], flat["pt"], flat["eta"])
    quality = tagger_quality(samples["hh"], samples["qcd"])
    wps = {m: light_threshold(flat["b"], flat["f"], flat["pt"], flat["eta"], m) for m in SCAN_MISTAGS}
    n_boot = N_BOOT // 4 if a.quick else N_BOOT
    res = measure(samples["hh"], samples["qcd"], sigma, wp, a.seed, n_boot, a.resample, wps)
    key = headline(res)
    plot = plot_curves(
        res["curves"],
        res[key]["rate_matched"],
        a.plot or a.work / "hlt_rate_efficiency.png",
        res[key]["paths"]["HH2023 (PNet > 0.55)"],
    )
    w = samples["qcd"]["weight"]
    sizes_line = (
        f"sizes: {sizes['hh']} HH→4b and {sizes['qcd']} QCD events measured; taggers trained on the jets of "
        f"{sizes['train_hh']} HH→4b + {sizes['train_qcd']} QCD events, {sizes['epochs']} epoch(s), batch "
        f"{SETTINGS['batch_size']}"
        + ("" if a.tagger_run is None else f"; ParticleNet run {a.tagger_run}")
        + ("" if a.legacy_run is None else f"; DeepJet-like run {a.legacy_run}")
    )
    info = {"sizes": sizes_line, "sigma_qcd_pb": sigma, "n_qcd": len(w), "n_eff_qcd": w.sum() ** 2 / (w**2).sum(),
            "n_hh": len(samples["hh"]["weight"]), "wp": wp, "taggers": quality, "legacy_wps": wps}  # fmt: skip
    gates = checks(res)
    report(res, gates, info)
    total = time.time() - t0
    print(f"\nfigure: {plot}")
    print(f"time: generation {t_gen:.0f} s, training {t_train:.0f} s, total {total:.0f} s")
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
