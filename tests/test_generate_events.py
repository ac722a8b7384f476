"""``generate events``: whole events (ttH, tt̄+jets, ...) with jets, leptons, MET, gen-jet truth and weights."""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np
import pytest

pytest.importorskip("pythia8mc")

from higgsflow.cli import main
from higgsflow.data.io import read_metadata, read_table
from higgsflow.data.loader import expand_files
from higgsflow.errors import ConfigError, DataError
from higgsflow.generate.events import (
    EVENT_LABELS,
    count_extra_hadrons,
    generate_events,
    heavy_hadron_origins,
    jets_path,
    ttbar_category,
)
from higgsflow.physics import constants as C

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "tagging"


@pytest.fixture(scope="module")
def gen(tmp_path_factory):
    """Small samples, generated once: {name: (events, jets, metadata)}."""
    folder = tmp_path_factory.mktemp("events")
    samples = {
        "ttHbb": dict(process="ttHbb", n_events=40),
        "semilep": dict(process="tt", n_events=60, top_decays="semileptonic"),
        "hadronic": dict(process="tt", n_events=40, top_decays="hadronic"),
    }
    out = {}
    for name, kw in samples.items():
        ev, jets = generate_events(
            kw.pop("process"), kw.pop("n_events"), folder / f"{name}.parquet", seed=3, **kw
        )
        out[name] = (read_table(ev), read_table(jets), read_metadata(ev))
    return out


# --- tt̄+jets truth -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("nb", "nc", "category"),
    [
        ([0, 0, 0], [0, 0, 0], "ttlf"),
        ([1, 0], [0, 0], "ttb"),
        ([2, 0], [0, 0], "tt2b"),
        ([1, 1], [0, 0], "tt2b"),
        ([1, 0], [0, 3], "ttb"),  # b first
        ([0, 0], [1, 0], "ttc"),
        ([0, 0], [1, 1], "tt2c"),
        ([0, 0], [2, 0], "tt2c"),
        ([], [], "ttlf"),
    ],
)
def test_ttbar_category_follows_the_genttbarid_rules(nb, nc, category):
    assert ttbar_category(nb, nc) == category


def _hand_event():
    """A tt̄ record by hand: the top's b radiates a gluon that splits into bb̄ (through a B* → B γ chain), the W⁺
    decays to cs̄, a B decays to a D, and an initial-state gluon splits into cc̄. Returns the event and the
    (η, φ) of each weakly decaying heavy hadron by its record index."""
    import pythia8mc

    ev = pythia8mc.Event()
    rec = [
        (90, -11, 0, 0), (2212, -12, 0, 0), (2212, -12, 0, 0), (21, -21, 1, 0), (21, -21, 2, 0),
        (6, -22, 3, 4), (-6, -22, 3, 4), (5, -23, 5, 0), (24, -22, 5, 0), (-5, -23, 6, 0), (-24, -22, 6, 0),
        (4, -23, 8, 0), (-3, -23, 8, 0), (5, -51, 7, 0), (21, -51, 7, 0), (5, -51, 14, 0), (-5, -51, 14, 0),
        (21, -41, 3, 0), (4, -51, 17, 0), (-4, -51, 17, 0),
    ]  # fmt: skip
    for pid, st, m1, m2 in rec:
        ev.append(pid, st, m1, m2, 0, 0, 0, 0, 0.0, 0.0, 10.0, 10.0, 0.0)
    where = {}

    def hadron(pid, st, m1, m2, eta, phi, d1=0, d2=0):
        pt = 30.0
        px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
        e = float(np.sqrt(px * px + py * py + pz * pz + 25.0))
        k = ev.append(pid, st, m1, m2, d1, d2, 0, 0, px, py, pz, e, 5.0)
        where[k] = (eta, phi)
        return k

    hadron(-511, -83, 13, 13, 0.0, 0.0, 25, 25)  # 20: from the top's b; decays to the D at 25
    hadron(511, -83, 9, 9, 1.0, 2.0)  # 21: from the t̄'s b̄
    hadron(-523, -83, 15, 16, -1.0, -2.0, 28, 28)  # 22: B*⁻ from the string of the g → bb̄ pair
    hadron(521, -83, 13, 16, -1.2, -1.0)  # 23: B⁺ = ub̄ from a string from the top's b to the gluon's b̄
    hadron(421, -83, 11, 12, 0.5, 1.0)  # 24: from the W⁺ → cs̄ string
    hadron(-421, -91, 20, 20, 0.1, 0.1)  # 25: from the B decay
    hadron(421, -83, 18, 18, 2.0, -2.9)  # 26: from the initial-state g → cc̄
    hadron(-421, -83, 19, 19, 1.9, 2.9)  # 27
    hadron(-521, -91, 22, 22, -1.0, -2.0)  # 28: B*⁻ → B⁻ γ
    return ev, where


def test_extra_heavy_hadrons_and_the_category_on_a_hand_made_record():
    ev, where = _hand_event()
    rows = heavy_hadron_origins(ev)
    got = {(round(r[2], 3), round(r[3], 3)): (int(r[0]), int(r[4])) for r in rows}
    expected = {
        20: (5, 0), 21: (5, 0), 23: (5, 1), 28: (5, 1),  # the top's b̄ pair no, the gluon's bb̄ yes
        24: (4, 0), 25: (4, 0), 26: (4, 1), 27: (4, 1),  # c from W or B no, from the gluon yes
    }  # fmt: skip
    assert got == {(round(where[k][0], 3), round(where[k][1], 3)): v for k, v in expected.items()}
    assert len(rows) == 8  # the B*⁻ (22) decays to a b hadron: not weakly decaying

    def category(jets):
        eta = np.array([where[k][0] for k in jets])
        phi = np.array([where[k][1] for k in jets])
        return ttbar_category(*count_extra_hadrons(rows, eta, phi))

    assert category([20, 21]) == "ttlf"  # gen jets at the top b's only
    assert category([20, 21, 23]) == "ttb"  # one extra b jet with one b hadron; B⁻ (28) at ΔR 1.02: outside
    assert category([20, 23, 28]) == "tt2b"  # two extra b jets
    assert category([20, 24, 26]) == "ttc"
    assert category([24, 25, 26, 27]) == "tt2c"  # the W's and the B's D do not count, the gluon's cc̄ do
    nb, nc = count_extra_hadrons(rows, np.array([-1.1]), np.array([-1.5]))  # one wide jet between 23 and 28
    assert (nb.tolist(), nc.tolist()) == ([0], [0])  # both hadrons are > 0.4 away: nothing counted
    nb, _ = count_extra_hadrons(rows, np.array([-1.1, -1.1]), np.array([-1.1, -1.9]))
    assert nb.tolist() == [1, 1]  # each hadron in its nearest jet only


def test_lepton_selection_and_isolation_on_hand_made_candidates():
    from higgsflow.generate.detector import EFlow
    from higgsflow.generate.events import _leptons

    def cand(event, pt, eta, phi, kind, charge):
        return (event, pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta), pt * np.cosh(eta), charge, kind)

    rows = [
        cand(0, 40.0, 0.5, 0.0, 2, -1.0),  # isolated μ⁻
        cand(0, 4.0, 0.7, 0.1, 0, 1.0),  # 4 GeV of hadrons at ΔR 0.22: isolation 0.1 for the μ
        cand(0, 30.0, -1.0, 2.0, 1, 1.0),  # e⁺ with 6 GeV around: isolation 0.2, not isolated
        cand(0, 6.0, -1.1, 2.1, 4, 0.0),
        cand(0, 8.0, 0.0, -2.0, 2, 1.0),  # μ below 10 GeV
        cand(1, 25.0, 2.6, 1.0, 1, -1.0),  # e outside |η| < 2.5
        cand(1, 50.0, 1.0, 1.0, 1, -1.0),  # isolated e⁻ (the hadron below is at ΔR 0.5)
        cand(1, 20.0, 1.0, 1.5, 0, 1.0),
        cand(1, 60.0, -2.0, -1.0, 2, 1.0),  # isolated μ⁺, harder: first
    ]
    a = np.array(rows)
    n = len(a)
    flow = EFlow(
        event=a[:, 0].astype(np.int64), px=a[:, 1], py=a[:, 2], pz=a[:, 3], energy=a[:, 4], charge=a[:, 5],
        kind=a[:, 6].astype(np.int8), d0=np.zeros(n), d0err=np.zeros(n), dz=np.zeros(n), dzerr=np.zeros(n),
        gen_index=np.zeros(n, np.int64),
    )  # fmt: skip
    lep = _leptons(flow, 2)
    assert lep["counts"].tolist() == [1, 2]
    assert np.allclose(lep["lep_pt"], [40.0, 60.0, 50.0])
    assert lep["lep_pdgId"].tolist() == [13, -13, 11]
    assert lep["lep_charge"].tolist() == [-1, 1, -1]
    assert np.allclose(lep["lep_mass"], [0.10566, 0.10566, 0.000511])


# --- physics of generated events --------------------------------------------------------------------------------
def test_tthbb_events_have_two_b_jets_from_the_higgs_near_its_mass(gen):
    ev, _, _ = gen["ttHbb"]
    n_b = ak.to_numpy(ak.sum(ev.jet_hadronFlavour == 5, axis=1))
    assert np.mean(n_b >= 2) > 0.7
    # the H → bb̄ b hadrons are the "extra" ones: the reconstructed b jets at the gen jets holding them
    masses = []
    for e in range(len(ev)):
        g = ev[e]
        gj = np.flatnonzero(ak.to_numpy(g.genjet_nb_extra) >= 1)
        jets = []
        for k in np.flatnonzero(ak.to_numpy(g.jet_hadronFlavour) == 5):
            deta = ak.to_numpy(g.genjet_eta)[gj] - g.jet_eta[k]
            dphi = (ak.to_numpy(g.genjet_phi)[gj] - g.jet_phi[k] + np.pi) % (2 * np.pi) - np.pi
            if gj.size and np.hypot(deta, dphi).min() < 0.2:
                jets.append(k)
        if len(jets) == 2:
            pt, eta, phi, m = (ak.to_numpy(g[f])[jets] for f in ("jet_pt", "jet_eta", "jet_phi", "jet_mass"))
            px, py, pz = pt * np.cos(phi), pt * np.sin(phi), pt * np.sinh(eta)
            e_ = np.sqrt(px**2 + py**2 + pz**2 + m**2)
            masses.append(np.sqrt(e_.sum() ** 2 - px.sum() ** 2 - py.sum() ** 2 - pz.sum() ** 2))
    assert len(masses) >= 10
    assert 90 < np.median(masses) < 140
    # extra b hadrons come from the Higgs in ttH(bb) and hardly ever in tt̄
    tthb = ak.to_numpy(ak.sum(ev.genjet_nb_extra, axis=1)).mean()
    ttb = ak.to_numpy(ak.sum(gen["semilep"][0].genjet_nb_extra, axis=1)).mean()
    assert tthb > 1.0 > 0.3 > ttb
    assert ak.all(ev.label_ttHbb == 1) and sum(int(ak.sum(ev[f"label_{x}"])) for x in EVENT_LABELS) == len(ev)


def test_leptons_and_met_follow_the_top_decays(gen):
    semi, had = gen["semilep"][0], gen["hadronic"][0]
    n_semi = ak.to_numpy(ak.num(semi.lep_pt))
    n_had = ak.to_numpy(ak.num(had.lep_pt))
    # ℓ = e, μ, τ: a third of the leptons are τ; e/μ in the acceptance with ~80% isolation efficiency
    assert np.mean(n_semi == 1) > 0.4 and np.mean(n_semi >= 2) < 0.1
    assert np.mean(n_had == 0) > 0.9
    assert np.median(ak.to_numpy(semi.met_pt)) > 1.5 * np.median(ak.to_numpy(had.met_pt))
    leps = ak.flatten(semi.lep_pdgId)
    assert set(np.abs(ak.to_numpy(leps)).tolist()) <= {11, 13}
    assert ak.all(ak.flatten(semi.lep_charge) == -np.sign(leps))
    assert ak.all(ak.flatten(semi.lep_pt) > 10) and ak.all(abs(ak.flatten(semi.lep_eta)) < 2.5)
    # categories: mostly tt+light; the label is one of the five tt̄+jets classes
    labels = np.column_stack(
        [ak.to_numpy(semi[f"label_{c}"]) for c in ("ttlf", "ttb", "tt2b", "ttc", "tt2c")]
    )
    assert (labels.sum(axis=1) == 1).all() and labels[:, 0].mean() > 0.6


def test_weights_sum_to_the_stated_cross_section(gen):
    ev, _, meta = gen["ttHbb"]
    w = ak.to_numpy(ev.weight)
    assert np.allclose(w.sum(), meta["cross_section_pb"] * C.BR_H_BB, rtol=1e-9)
    assert meta["sum_weights_pb"] == pytest.approx(w.sum())
    assert 0.25 < meta["cross_section_pb"] < 0.5  # LO σ(tt̄H) at 13 TeV (NLO: 0.507 pb)
    assert meta["cross_section_pb"] == pytest.approx(
        meta["pythia_sigma_gen_pb"] / meta["pythia_open_fraction"]
    )
    ev, _, meta = gen["semilep"]
    br = meta["top_decay_branching_ratio"]
    assert br == pytest.approx(2 * 0.324 * 0.676, abs=0.01)
    assert ak.sum(ev.weight) == pytest.approx(meta["cross_section_pb"] * br, rel=1e-9)
    assert 400 < meta["cross_section_pb"] < 700  # LO σ(tt̄) at 13 TeV


def test_ttz_proxy_is_normalised_to_the_ttz_cross_section(tmp_path):
    ev, _ = generate_events("ttZcc", 4, tmp_path / "z.parquet", seed=1)
    t, meta = read_table(ev), read_metadata(ev)
    assert ak.sum(t.weight) == pytest.approx(C.XSEC_TTZ_13TEV_PB * C.BR_Z_CC, rel=1e-9)
    assert ak.all(t.label_ttZcc == 1)
    assert "25:m0 = 91.1876" in meta["pythia"] and "25:oneChannel = 1 1.0 100 4 -4" in meta["pythia"]


def test_tt_enrichment_keeps_the_rare_categories_and_weights_carry_the_efficiency(tmp_path):
    ev, _ = generate_events("tt", 3, tmp_path / "b.parquet", seed=2, tt_enrich="b")
    t, meta = read_table(ev), read_metadata(ev)
    assert ak.all((t.label_ttb + t.label_tt2b) == 1)
    eff = meta["filter_efficiency"]
    assert 0.005 < eff < 0.25
    assert ak.sum(t.weight) == pytest.approx(
        meta["cross_section_pb"] * meta["top_decay_branching_ratio"] * eff
    )
    assert meta["events_generated"] > 6 / 0.3


def test_jets_file_has_one_row_per_event_jet(gen):
    ev, jets, meta = gen["ttHbb"]
    assert len(jets) == int(ak.sum(ak.num(ev.jet_pt)))
    pairs_ev = set(
        zip(
            ak.to_numpy(ak.flatten(ak.broadcast_arrays(ev.event_id, ev.jet_pt)[0])).tolist(),
            ak.to_numpy(ak.flatten(ev.jet_index)).tolist(),
            strict=True,
        )
    )
    pairs_j = list(
        zip(ak.to_numpy(jets.event_id).tolist(), ak.to_numpy(jets.jet_index).tolist(), strict=True)
    )
    assert len(set(pairs_j)) == len(pairs_j) and set(pairs_j) == pairs_ev
    assert np.allclose(ak.to_numpy(jets.jet_pt), ak.to_numpy(ak.flatten(ev.jet_pt)))
    # jets are pT-ordered and inside the selection; the jets file has the generate-jets AK4 schema
    assert ak.all(ev.jet_pt[:, 1:] <= ev.jet_pt[:, :-1])
    assert ak.all(ak.flatten(ev.jet_pt) > 20) and ak.all(abs(ak.flatten(ev.jet_eta)) < 2.5)
    for f in (
        "part_px",
        "part_btagSip3dSig",
        "sv_mass",
        "jet_sdmass",
        "label_b",
        "label_tauh",
        "aux_n_bhadrons",
    ):
        assert f in jets.fields
    from higgsflow.data.config import DataConfig

    for config in ("particlenet_ak4.yaml", "upart_ak4.yaml"):  # the AK4 taggers can read every jet
        need = DataConfig.load(EXAMPLES / config).file_branches(labelled=True)
        assert need <= set(jets.fields), config
    # a jet of hadron flavour 5 has the AK4 label b or bb (which a b quark without its hadron may also give)
    is_b = ak.to_numpy(jets.label_b + jets.label_bb) == 1
    hf5 = ak.to_numpy(ak.flatten(ev.jet_hadronFlavour)) == 5
    assert is_b[hf5].all() and np.mean(is_b == hf5) > 0.95
    assert meta["jets_file"] == "ttHbb_jets.parquet"
    assert ev.fields[:2] == ["event_id", "weight"]
    assert [f for f in ev.fields if f.startswith("label_")] == [f"label_{x}" for x in EVENT_LABELS]
    assert np.array_equal(ak.to_numpy(ev.event_id), np.arange(len(ev)))


def test_same_seed_same_events_and_an_interrupted_run_resumes(tmp_path, monkeypatch):
    import higgsflow.generate.events as E

    a, _ = generate_events("ttHcc", 6, tmp_path / "a.parquet", seed=9, chunk_size=3)
    real = E.run_event_chunk
    ran = []

    def interrupted(spec, **kw):
        if spec.chunk == 1:
            raise KeyboardInterrupt
        ran.append(spec.chunk)
        return real(spec, **kw)

    monkeypatch.setattr(E, "run_event_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        generate_events("ttHcc", 6, tmp_path / "b.parquet", seed=9, chunk_size=3)
    assert not (tmp_path / "b.parquet").exists() and (tmp_path / ".b.parquet.parts").is_dir()

    def counted(spec, **kw):
        ran.append(spec.chunk)
        return real(spec, **kw)

    monkeypatch.setattr(E, "run_event_chunk", counted)
    b, _ = generate_events("ttHcc", 6, tmp_path / "b.parquet", seed=9, chunk_size=3)
    assert ran == [0, 1]  # chunk 0 was not run again
    ta, tb = read_table(a), read_table(b)
    for f in ta.fields:
        assert ak.all(ak.flatten(ta[f], axis=None) == ak.flatten(tb[f], axis=None)), f
    ja, jb = read_table(jets_path(a)), read_table(jets_path(b))
    assert ak.all(ja.event_id == jb.event_id) and ak.all(ak.flatten(ja.part_px) == ak.flatten(jb.part_px))
    assert not list(tmp_path.glob(".*parts"))
    # shards: the same events, ids and weights, split in two pairs of files with manifests
    ev_m, jets_m = generate_events("ttHcc", 6, tmp_path / "s.parquet", seed=9, chunk_size=3, shard_size=3)
    assert (ev_m.name, jets_m.name) == ("s.manifest.json", "s_jets.manifest.json")
    ev_files, jet_files = expand_files([ev_m]), expand_files([jets_m])
    assert [Path(f).name for f in ev_files] == ["s_00000.parquet", "s_00001.parquet"]
    assert [Path(f).name for f in jet_files] == ["s_00000_jets.parquet", "s_00001_jets.parquet"]
    tc = ak.concatenate([read_table(f) for f in ev_files])
    for f in ta.fields:
        assert ak.all(ak.flatten(ta[f], axis=None) == ak.flatten(tc[f], axis=None)), f
    jc = ak.concatenate([read_table(f) for f in jet_files])
    assert ak.all(ja.event_id == jc.event_id) and ak.all(ja.jet_index == jc.jet_index)
    with pytest.raises(DataError, match="exists"):
        generate_events("ttHcc", 6, tmp_path / "s.parquet", seed=9, chunk_size=3, shard_size=3)


def test_events_without_jets_have_no_rows_in_the_jets_file(tmp_path, monkeypatch):
    import higgsflow.generate.events as E

    real = E._process_events

    def no_jets_in_chunk_0(batch, spec, rng, charge_of, first_id):
        monkeypatch.setattr(E, "JET_PT_MIN", 1e6 if spec.chunk == 0 else 20.0)
        return real(batch, spec, rng, charge_of, first_id)

    monkeypatch.setattr(E, "_process_events", no_jets_in_chunk_0)
    ev, jets = generate_events("QCD", 4, tmp_path / "q.parquet", seed=1, chunk_size=2)
    t, j = read_table(ev), read_table(jets)
    assert ak.num(t.jet_pt).tolist()[:2] == [0, 0] and ak.all(ak.num(t.jet_pt)[2:] > 0)
    assert len(j) == int(ak.sum(ak.num(t.jet_pt))) and set(ak.to_numpy(j.event_id).tolist()) == {2, 3}
    # QCD: p̂T-biased events carry Pythia's weights, which still add up to its cross section
    w, meta = ak.to_numpy(t.weight), read_metadata(ev)
    assert np.ptp(w) > 0 and w.sum() == pytest.approx(meta["cross_section_pb"], rel=1e-9)
    assert "PhaseSpace:bias2Selection = on" in meta["pythia"] and ak.all(t.label_QCD == 1)


def test_hh4b_is_a_heavy_scalar_to_two_higgs_bosons_to_four_b(tmp_path):
    ev, _ = generate_events("HH4b", 3, tmp_path / "hh.parquet", seed=1, hh_mass=500)
    t, meta = read_table(ev), read_metadata(ev)
    assert ak.sum(t.weight) == pytest.approx(1.0 * C.BR_H_BB**2, rel=1e-9)  # the 1 pb reference
    assert "35:m0 = 500.0000" in meta["pythia"] and "35:onIfMatch = 25 25" in meta["pythia"]
    assert ak.all(t.label_HH4b == 1)
    assert ak.sum(t.genjet_nb_extra) >= 6  # four b hadrons per event, none from a top


@pytest.mark.slow
def test_dask_workers_give_the_same_events(tmp_path):
    a, _ = generate_events("tt", 8, tmp_path / "a.parquet", seed=4, chunk_size=4)
    b, _ = generate_events("tt", 8, tmp_path / "b.parquet", seed=4, chunk_size=4, workers=2)
    ta, tb = read_table(a), read_table(b)
    for f in ta.fields:
        assert ak.all(ak.flatten(ta[f], axis=None) == ak.flatten(tb[f], axis=None)), f


# --- the command line ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["--process", "ttHxx"],
        ["--process", "tt", "--top-decays", "leptonic"],
        ["--process", "QCD", "--top-decays", "hadronic"],
        ["--process", "QCD", "--tt-enrich", "b"],
        ["--process", "tt", "--tt-enrich", "x"],
        ["--process", "HH4b", "--hh-mass", "100"],
        ["--process", "QCD", "--pthat-min", "-5"],
        ["--process", "tt", "--n-events", "0"],
    ],
)
def test_bad_cli_input_exits_1_with_one_line(tmp_path, capsys, args):
    base = {"--n-events": "3", "--out": str(tmp_path / "e.parquet"), "--seed": "1"}
    base.update(zip(args[::2], args[1::2], strict=True))
    argv = ["generate", "events", *(x for kv in base.items() for x in kv)]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
    assert not list(tmp_path.iterdir())


def test_cli_usage_errors_and_existing_outputs(tmp_path, capsys):
    out = tmp_path / "e.parquet"
    assert (
        main(["generate", "events", "--process", "tt", "--n-events", "x", "--out", str(out), "--seed", "1"])
        == 2
    )
    jets = jets_path(out)
    jets.write_text("keep me")
    argv = ["generate", "events", "--process", "tt", "--n-events", "2", "--out", str(out), "--seed", "1"]
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "e_jets.parquet" in err[0] and "exists" in err[0]
    assert jets.read_text() == "keep me" and not out.exists()
    with pytest.raises(ConfigError, match="tt_enrich"):
        generate_events("ttHbb", 2, tmp_path / "f.parquet", seed=1, tt_enrich="b")
