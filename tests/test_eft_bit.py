"""Boosted Information Trees: analytic toys, exactness vs a straightforward implementation, backends, I/O."""

from __future__ import annotations

import numpy as np
import pytest

from higgsflow.eft.bit import (
    BoostedInformationTree,
    EFTInformationTrees,
    fisher_information,
    reference_exact_boost,
)
from higgsflow.eft.toys import TOYS, make_toy, multi_exponential
from higgsflow.errors import CheckpointError, ConfigError, DataError


@pytest.mark.parametrize("name", sorted(TOYS))
@pytest.mark.parametrize("mode", ["exact", "hist"])
def test_toy_fisher_information_at_least_95_percent(name, mode):
    train = make_toy(name, 20_000, seed=1)
    test = make_toy(name, 50_000, seed=2)
    model = BoostedInformationTree(
        n_trees=50, learning_rate=0.3, max_depth=3, min_size=50, mode=mode, n_bins=128
    )
    model.fit(train.x, train.w0, train.w1)
    learned = fisher_information(model.predict(test.x), test.w0, test.w1)
    exact = fisher_information(test.w1 / test.w0, test.w0, test.w1)  # = the analytic one on this sample
    assert exact == pytest.approx(test.fisher, rel=0.05)
    assert learned >= 0.95 * exact
    # the learned score is the score, not only proportional to it: E[t̂ t]/E[t²] ≈ 1
    t = test.w1 / test.w0
    slope = np.sum(test.w0 * model.predict(test.x) * t) / np.sum(test.w0 * t * t)
    assert slope == pytest.approx(1.0, abs=0.1)


def test_exact_mode_has_the_splits_of_the_straightforward_implementation():
    s = multi_exponential(3000, 4, seed=5)
    x = np.round(s.x, 1)  # many ties: exercises the tie rule
    model = BoostedInformationTree(n_trees=4, learning_rate=0.3, max_depth=3, min_size=40).fit(x, s.w0, s.w1)
    ref_f, ref_t = reference_exact_boost(x, s.w0, s.w1, 4, 0.3, 3, 40)
    f, t = model.splits
    np.testing.assert_array_equal(f, ref_f)
    np.testing.assert_array_equal(t, ref_t)
    # thresholds are training values and every leaf respects min_size
    assert np.all(np.isin(t[f >= 0], x))
    for k in range(4):
        leaves = _leaf_counts(model, x, k)
        assert leaves.min() >= 40 and len(leaves) <= 2**3


def test_benchmark_port_of_the_reference_grows_the_trees_of_exact_mode(load_script):
    """benchmarks/bit.py times exact mode against this port of the reference algorithm: same trees, same t̂."""
    ref_mod = load_script("benchmarks/_bit_reference.py")
    train = multi_exponential(3000, 4, seed=11)
    test = multi_exponential(2000, 4, seed=12)
    ref = ref_mod.ReferenceBIT(
        train.x, train.w0, train.w1, n_trees=6, learning_rate=0.3, max_depth=4, min_size=40
    )
    ref.boost()
    model = BoostedInformationTree(n_trees=6, learning_rate=0.3, max_depth=3, min_size=40)
    model.fit(train.x, train.w0, train.w1)
    ref_f, ref_t = ref.heap()
    f, t = model.splits
    assert (f >= 0).sum() >= 6 * 5  # real trees: most nodes split
    np.testing.assert_array_equal(f, ref_f)
    np.testing.assert_array_equal(t, ref_t)
    np.testing.assert_allclose(ref.vectorized_predict(test.x), model.predict(test.x), rtol=1e-12, atol=1e-15)
    # the port is the reference's algorithm, not a copy of ours: its own depth convention and recursion
    assert ref.trees[0].depth == 0 and isinstance(ref.trees[0].left, ref_mod.ReferenceNode)


def _leaf_counts(model, x, tree):
    f, t = model.splits
    node = np.zeros(len(x), int)
    for _ in range(model.max_depth):
        inner = f[tree, node] >= 0
        left = x[np.arange(len(x)), np.maximum(f[tree, node], 0)] <= t[tree, node]
        node = np.where(inner, np.where(left, 2 * node + 1, 2 * node + 2), node)
    return np.bincount(node)[np.bincount(node) > 0]


def test_n_jobs_does_not_change_the_result():
    s = multi_exponential(5000, 6, seed=3)
    a = BoostedInformationTree(n_trees=5, n_jobs=1).fit(s.x, s.w0, s.w1)
    b = BoostedInformationTree(n_trees=5, n_jobs=2).fit(s.x, s.w0, s.w1)
    np.testing.assert_array_equal(a.splits[0], b.splits[0])
    np.testing.assert_array_equal(a.predict(s.x), b.predict(s.x))


def test_backends_agree_on_fisher_information():
    train = multi_exponential(30_000, 5, seed=1)
    test = multi_exponential(30_000, 5, seed=2)
    infos = {}
    for name, kw in {
        "exact": {},
        "hist": {"mode": "hist", "n_bins": 128},
        "xgboost": {"backend": "xgboost", "n_bins": 128},
    }.items():
        m = BoostedInformationTree(n_trees=40, learning_rate=0.3, max_depth=3, min_size=50, **kw)
        infos[name] = fisher_information(m.fit(train.x, train.w0, train.w1).predict(test.x), test.w0, test.w1)
    assert infos["exact"] >= 0.95 * test.fisher
    assert infos["hist"] == pytest.approx(infos["exact"], rel=0.02)
    assert infos["xgboost"] == pytest.approx(infos["exact"], rel=0.02)


def test_first_xgboost_tree_equals_bit_leaf_values():
    """One round, depth 1: XGBoost's weighted squared-error stump is the BIT stump (same leaf values)."""
    s = multi_exponential(4000, 1, seed=9)
    s.x = np.minimum(np.floor(2 * s.x), 7)  # 8 distinct values: both binnings are exact
    bit = BoostedInformationTree(
        n_trees=1, learning_rate=1.0, max_depth=1, min_size=1, mode="hist", n_bins=16
    )
    xgbm = BoostedInformationTree(n_trees=1, learning_rate=1.0, max_depth=1, backend="xgboost", n_bins=16)
    pb = bit.fit(s.x, s.w0, s.w1).predict(s.x)
    px = xgbm.fit(s.x, s.w0, s.w1).predict(s.x)
    assert len(np.unique(np.round(pb, 12))) == 2
    np.testing.assert_allclose(
        np.sort(np.unique(np.round(px, 6))), np.sort(np.unique(np.round(pb, 6))), rtol=1e-4
    )


def _gauss2d(n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2))
    w0 = np.full(n, 1.0 / n)
    # p(x|θ)/p(x|0) = exp(θ·x − θ²/2): R_i = x_i, R_ij = x_i x_j − δ_ij
    r = np.column_stack([x[:, 0], x[:, 1], x[:, 0] ** 2 - 1, x[:, 0] * x[:, 1], x[:, 1] ** 2 - 1])
    return x, np.column_stack([w0, w0[:, None] * r]), r


@pytest.mark.parametrize(("joint", "mode"), [(False, "exact"), (True, "exact"), (True, "hist")])
def test_eft_trees_learn_all_coefficients_and_round_trip(tmp_path, joint, mode):
    x, coeffs, _ = _gauss2d(20_000, 1)
    xt, _, rt = _gauss2d(10_000, 2)
    model = EFTInformationTrees(
        ["a", "b"], joint=joint, mode=mode, n_trees=60, learning_rate=0.3, max_depth=4, min_size=30
    )
    pred = model.fit(x, coeffs).predict_coefficients(xt)
    for k in range(5):
        assert np.corrcoef(pred[:, k], rt[:, k])[0, 1] > 0.9
    theta = np.array([0.3, -0.2])
    expect = 1 + pred @ np.array([0.3, -0.2, 0.5 * 0.09, -0.06, 0.5 * 0.04])
    np.testing.assert_allclose(model.predict_ratio(xt, theta), expect, rtol=1e-12)
    path = model.save(tmp_path / "m.npz")
    again = EFTInformationTrees.load(path)
    np.testing.assert_array_equal(again.predict_coefficients(xt), pred)
    with pytest.raises(CheckpointError, match="exists"):
        model.save(path)


def test_xgboost_save_load_and_joint(tmp_path):
    x, coeffs, r = _gauss2d(5000, 3)
    m = EFTInformationTrees(["a", "b"], joint=True, backend="xgboost", n_trees=20, max_depth=3).fit(x, coeffs)
    p = m.predict_coefficients(x)
    assert np.corrcoef(p[:, 0], r[:, 0])[0, 1] > 0.9
    again = EFTInformationTrees.load(m.save(tmp_path / "x.npz"))
    np.testing.assert_allclose(again.predict_coefficients(x), p, rtol=1e-6)


def test_bad_inputs_and_files(tmp_path):
    s = multi_exponential(200, 2, seed=0)
    with pytest.raises(ConfigError, match="max_depth"):
        BoostedInformationTree(max_depth=0).fit(s.x, s.w0, s.w1)
    with pytest.raises(ConfigError, match="mode"):
        BoostedInformationTree(mode="approx").fit(s.x, s.w0, s.w1)
    bad = s.x.copy()
    bad[7, 1] = np.nan
    with pytest.raises(DataError, match="row 7"):
        BoostedInformationTree().fit(bad, s.w0, s.w1)
    with pytest.raises(DataError, match="one weight per event"):
        BoostedInformationTree().fit(s.x, s.w0[:-1], s.w1)
    with pytest.raises(ConfigError, match="not fitted"):
        BoostedInformationTree().predict(s.x)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(CheckpointError):
        BoostedInformationTree.load(junk)
    m = BoostedInformationTree(n_trees=2, min_size=5).fit(s.x, s.w0, s.w1)
    again = BoostedInformationTree.load(m.save(tmp_path / "b.npz"))
    np.testing.assert_array_equal(again.predict(s.x), m.predict(s.x))
    assert again.get_params() == m.get_params()
    with pytest.raises(DataError, match="feature shape"):
        again.predict(s.x[:, :1])


def _route(model, x, tree):
    """Heap node of every event in one tree, from ``model.splits`` (x <= threshold goes left)."""
    f, t = model.splits
    node = np.zeros(len(x), int)
    for _ in range(model.max_depth):
        inner = f[tree, node] >= 0
        left = x[np.arange(len(x)), np.maximum(f[tree, node], 0)] <= t[tree, node]
        node = np.where(inner, np.where(left, 2 * node + 1, 2 * node + 2), node)
    return node


def test_xgboost_backend_honours_min_size():
    import xgboost as xgb

    s = multi_exponential(4000, 3, seed=21)  # equal SM weights: min_size is an exact event count
    for min_size in (1, 400):
        m = BoostedInformationTree(n_trees=3, max_depth=3, min_size=min_size, backend="xgboost").fit(
            s.x, s.w0, s.w1
        )
        leaves = m._booster.predict(xgb.DMatrix(s.x), pred_leaf=True)
        counts = [np.bincount(np.unique(leaves[:, k], return_inverse=True)[1]) for k in range(3)]
        smallest = min(c.min() for c in counts)
        if min_size == 1:
            assert smallest < 400  # the constraint below does bite on this sample
        else:
            assert smallest >= 400
            assert max(len(c) for c in counts) >= 4  # still real trees


@pytest.mark.parametrize(
    "kw",
    [{}, {"mode": "hist", "n_bins": 32}, {"backend": "xgboost", "n_bins": 32}],
    ids=["exact", "hist", "xgb"],
)
def test_splits_describe_the_trees_of_every_backend(kw):
    """Routing events with .splits gives the model's leaves: one learned value per leaf, Σw'/Σw of its events."""
    s = multi_exponential(5000, 3, seed=22)
    x = s.x.astype(np.float32).astype(np.float64)  # float32-exact values: XGBoost compares float32(x)
    m = BoostedInformationTree(n_trees=2, learning_rate=1.0, max_depth=3, min_size=100, **kw).fit(
        x, s.w0, s.w1
    )
    f, t = m.splits
    assert f.shape == t.shape == (2, 15) and f.dtype.kind == "i"
    assert (f[:, 0] >= 0).all() and ((f >= 0).sum(axis=1) >= 4).all()
    node = _route(m, x, 0)
    first = BoostedInformationTree(n_trees=1, learning_rate=1.0, max_depth=3, min_size=100, **kw).fit(
        x, s.w0, s.w1
    )
    np.testing.assert_array_equal(_route(first, x, 0), node)  # the same first tree
    pred = first.predict(x)
    counts = np.bincount(node)
    assert counts[counts > 0].min() >= 100
    for leaf in np.unique(node):
        sel = node == leaf
        np.testing.assert_allclose(pred[sel], pred[sel][0], rtol=1e-6)  # constant on the leaf
        np.testing.assert_allclose(pred[sel][0], s.w1[sel].sum() / s.w0[sel].sum(), rtol=2e-4, atol=1e-6)
    assert len(np.unique(np.round(pred, 5))) == len(np.unique(node))


def test_splits_of_a_joint_xgboost_forest():
    x, coeffs, _ = _gauss2d(3000, 5)
    m = EFTInformationTrees(["a", "b"], joint=True, backend="xgboost", n_trees=2, max_depth=2, min_size=100)
    f, t = m.fit(x, coeffs).models_[0].splits
    assert f.shape == (2, 7) and (f[:, 0] >= 0).all()
    np.testing.assert_array_equal(t, t.astype(np.float32))  # XGBoost's float32 thresholds
    node = _route(m.models_[0], x.astype(np.float32).astype(float), 0)
    assert np.bincount(node)[np.bincount(node) > 0].min() >= 100


def test_bit_regressor_is_a_scikit_learn_estimator_equal_to_the_native_fit():
    from sklearn.base import clone
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from higgsflow.eft import BITRegressor

    train = multi_exponential(4000, 3, seed=31)
    test = multi_exponential(2000, 3, seed=32)
    y = train.w1 / train.w0
    params = {"n_trees": 8, "learning_rate": 0.3, "max_depth": 3, "min_size": 40}
    native = BoostedInformationTree(**params).fit(train.x, train.w0, train.w1)
    reg = BITRegressor(**params).fit(train.x, y, sample_weight=train.w0)
    np.testing.assert_array_equal(reg.splits[0], native.splits[0])
    np.testing.assert_allclose(reg.predict(test.x), native.predict(test.x), rtol=1e-9, atol=1e-12)
    # clone: same parameters, unfitted, refits to the same model
    again = clone(reg)
    assert again.get_params() == reg.get_params() and not hasattr(again, "n_features_in_")
    np.testing.assert_array_equal(
        again.fit(train.x, y, sample_weight=train.w0).predict(test.x), reg.predict(test.x)
    )
    # in a pipeline: scaler + BIT, sample weights routed to the BIT, parameters set through the pipeline
    pipe = Pipeline([("scale", StandardScaler()), ("bit", BITRegressor())])
    pipe.set_params(**{f"bit__{k}": v for k, v in params.items()})
    pipe.fit(train.x, y, bit__sample_weight=train.w0)
    assert "BITRegressor(n_trees=8, learning_rate=0.3, min_size=40)" in repr(pipe)
    scaler = StandardScaler().fit(train.x)
    ref = BoostedInformationTree(**params).fit(scaler.transform(train.x), train.w0, train.w1)
    np.testing.assert_allclose(
        pipe.predict(test.x), ref.predict(scaler.transform(test.x)), rtol=1e-9, atol=1e-12
    )
    # it learns the ratio: weighted R² against the exact ratio on held-out events
    assert pipe.score(test.x, test.w1 / test.w0, sample_weight=test.w0) > 0.8
    with pytest.raises(DataError, match="sample weights"):
        BITRegressor().fit(train.x, y, sample_weight=train.w0[:-1])
