"""Pythia 8 showering of the ZH LHE events and particle-level reconstruction (weights ride along)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pythia8mc")
pytest.importorskip("fastjet")

from higgsflow.eft import zh
from higgsflow.eft.shower import particle_level_features, shower_lhe
from higgsflow.eft.weights import read_sample


def test_shower_keeps_event_order_and_reconstructs_zh(tmp_path):
    ev = zh.generate(150, seed=4)
    path = zh.write_lhe(ev, tmp_path / "zh.lhe")
    obj = shower_lhe(path, seed=1)
    assert len(obj["ok"]) == len(ev) and obj["ok"].all()
    sel = obj["selected"]
    assert 0.1 < sel.mean() < 0.6
    # the dressed leptons are the hard-process leptons of the same event (order preserved)
    has = obj["p_lminus"][:, 0] > 0
    a, b = obj["p_lminus"][has, 1:], ev.p_lminus[has, 1:]
    cos = np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert np.mean(cos > 0.99) > 0.7
    feats = particle_level_features(obj)
    m = feats["m_bb"][sel]
    assert 95 < np.median(m) < 130  # b-jet response below 1 (neutrinos, out-of-cone radiation)
    np.testing.assert_allclose(np.median(feats["m_zh"][sel] / ev.features["m_zh"][sel]), 1.0, atol=0.15)


def test_generate_with_shower(tmp_path):
    from higgsflow.eft.pipeline import generate_zh_sample

    out = generate_zh_sample(tmp_path / "s.parquet", 60, seed=2, shower=True)
    feats, coeffs, _, meta = read_sample(out)
    assert "pythia8" in meta["settings"] and (tmp_path / "s.lhe").exists()
    assert len(coeffs) == len(feats["reco_selected"]) == 60
