"""Boosted Information Trees (Chatterjee, Frohner, Lechner, Schöfbeck, Schwarz, CPC 2022).

A BIT learns the derivative ratio t(x) = E[w'|x] / E[w|x] (for example R_i(x) = w_i/w0 of the EFT weight
convention in ``docs/conventions.md``) from weighted events, with

- split gain (Σw')²_L/Σw_L + (Σw')²_R/Σw_R: the Poisson Fisher information of the two children,
- leaf value Σw'/Σw,
- boosting on the residual derivative weights w' ← w' − η w t̂(x).

``max_depth = d`` means up to 2^d leaves (d levels of splits). The reference code (HephyAnalysisSW/BIT)
counts the root as depth 1, so its ``max_depth = d`` gives up to 2^(d−1) leaves: its depth 4 is our depth 3.

Split search:

- ``mode="exact"``: every feature is sorted once per fit (ties by event index, as a stable sort). Each level of
  a tree scans, per feature, the sorted values of every node (kept contiguous by a stable partition, never
  re-sorted) with running sums, so every split of a node is scored in one pass. A split is ``x_f <= t`` with t
  a training value; between equal gains the first maximum wins (lowest feature index, then lowest threshold).
- ``mode="hist"``: features are binned at ``n_bins`` quantiles once; splits are at bin edges.
- ``backend="xgboost"``: the gain above equals XGBoost's squared-error gain for the regression target t = w'/w
  with sample weights w (gradient w(t̂ − t), hessian w), and the leaf values agree with ``reg_lambda = 0``. So
  XGBoost trained that way learns the same function (its ``hist`` splits, its ``max_bin`` quantiles);
  ``min_size`` becomes ``min_child_weight`` on the SM weights scaled to mean 1.

The *joint* BIT (:class:`EFTInformationTrees` with ``joint=True``) fits one tree per boosting round whose
leaves hold all K = N(N+3)/2 coefficients, with gain Σ_b (Σ_d c_{b,d} W_d)² / W_0 summed over the base points
θ_b ∈ {±e_i, e_i + e_j (i<j)} (scaled by ``base_scale``): c_{b,d} are the linear and quadratic monomials of
θ_b, so Σ_d c_{b,d} W_d = W(θ_b) − W_0 is the weight change at θ_b and the gain is the summed Poisson
information of those changes.

Saved models are ``.npz`` files holding plain arrays and a JSON header (no pickle, no code).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from higgsflow.errors import CheckpointError, ConfigError, DataError

__all__ = [
    "BITRegressor",
    "BoostedInformationTree",
    "EFTInformationTrees",
    "fisher_information",
    "joint_base_points",
    "reference_exact_boost",
    "reference_exact_tree",
]

log = logging.getLogger(__name__)

_FORMAT = "higgsflow.eft.bit/1"


def _check_inputs(x: Any, w0: Any, derivatives: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    w0 = np.asarray(w0, dtype=np.float64).ravel()
    d = np.asarray(derivatives, dtype=np.float64)
    if x.ndim != 2:
        raise DataError("features must be a 2D array", field="X", expected="shape (n_events, n_features)")
    if d.ndim == 1:
        d = d[:, None]
    if len(w0) != len(x) or len(d) != len(x):
        raise DataError(
            f"{len(x)} events in X but {len(w0)} weights and {len(d)} derivative rows",
            field="w0",
            expected="one weight per event",
        )
    for name, arr in (("X", x), ("w0", w0), ("derivatives", d)):
        if not np.all(np.isfinite(arr)):
            row = int(np.argwhere(~np.isfinite(arr))[0][0])
            raise DataError("non-finite value", field=name, row=row, expected="finite numbers")
    if np.any(w0 < 0):
        raise DataError(
            "negative SM weights are not supported", field="w0", row=int(np.argmax(w0 < 0)), expected="w0 ≥ 0"
        )
    if len(x) < 2:
        raise DataError("need at least two events", field="X")
    return x, w0, d


def fisher_information(score: np.ndarray, w0: np.ndarray, derivative: np.ndarray) -> float:
    """Fisher information (per unit Σw0) of the observable ``score`` about one coefficient.

    I[t̂] = (Σ w' t̂)² / (Σ w t̂²) / Σw: the information of the best linear use of t̂, which equals
    Σ w'²/w / Σw (the full information) when t̂ = w'/w, and is smaller for any other function.
    """
    score = np.asarray(score, float).ravel()
    w0 = np.asarray(w0, float).ravel()
    derivative = np.asarray(derivative, float).ravel()
    den = float(np.sum(w0 * score**2))
    if den <= 0:
        return 0.0
    return float(np.sum(derivative * score) ** 2 / den / np.sum(w0))


class BoostedInformationTree:
    """Boosted Information Tree regressing the derivative ratio w'/w (scikit-learn style).

    Parameters
    ----------
    n_trees:
        Number of boosting rounds.
    learning_rate:
        Shrinkage η of every tree.
    max_depth:
        Up to 2^max_depth leaves per tree (see the module docstring for the reference code's convention).
    min_size:
        Minimum number of training events in each child of a split. With ``backend="xgboost"`` it is XGBoost's
        ``min_child_weight`` (minimum hessian sum of a child, the hessian being the SM weight) set to
        ``min_size − ½`` on the SM weights scaled to mean 1: exactly ``min_size`` events for equal weights,
        otherwise the SM weight of ``min_size`` average events.
    mode:
        ``"exact"`` or ``"hist"`` split search (native backend only).
    n_bins:
        Quantile bins per feature in ``"hist"`` mode (≤ 256).
    backend:
        ``"native"`` (numba) or ``"xgboost"``.
    gain_matrix:
        K×K positive semi-definite matrix G of the gain WᵀGW/W0 for K derivative columns (default identity);
        set by :class:`EFTInformationTrees` for the joint fit.
    random_state:
        Seed (used by XGBoost; the native fit is deterministic).
    n_jobs:
        Threads (numba's feature-parallel split search, XGBoost). Results do not depend on it.
    """

    def __init__(
        self,
        n_trees: int = 100,
        learning_rate: float = 0.2,
        max_depth: int = 3,
        min_size: int = 50,
        mode: str = "exact",
        n_bins: int = 64,
        backend: str = "native",
        gain_matrix: np.ndarray | None = None,
        random_state: int | None = 0,
        n_jobs: int = 1,
    ) -> None:
        self.n_trees = n_trees
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_size = min_size
        self.mode = mode
        self.n_bins = n_bins
        self.backend = backend
        self.gain_matrix = gain_matrix
        self.random_state = random_state
        self.n_jobs = n_jobs

    # -- scikit-learn protocol -------------------------------------------------------------------------------
    _PARAMS = (
        "n_trees",
        "learning_rate",
        "max_depth",
        "min_size",
        "mode",
        "n_bins",
        "backend",
        "gain_matrix",
        "random_state",
        "n_jobs",
    )

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyperparameters as a dict."""
        return {p: getattr(self, p) for p in self._PARAMS}

    def set_params(self, **params: Any) -> BoostedInformationTree:
        """Set hyperparameters; returns self."""
        for k, v in params.items():
            if k not in self._PARAMS:
                raise ConfigError(f"unknown parameter {k!r}", field=k, expected=", ".join(self._PARAMS))
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        import inspect

        defaults = {k: p.default for k, p in inspect.signature(type(self).__init__).parameters.items()}
        shown = []
        for k, v in self.get_params().items():
            d = defaults.get(k, inspect.Parameter.empty)
            if isinstance(v, np.ndarray) or isinstance(d, np.ndarray) or v != d:
                shown.append(f"{k}={v!r}")
        return f"{type(self).__name__}({', '.join(shown)})"

    def _validate(self) -> None:
        if not (isinstance(self.n_trees, int | np.integer) and self.n_trees >= 1):
            raise ConfigError("n_trees must be a positive integer", field="n_trees")
        if not (isinstance(self.max_depth, int | np.integer) and 1 <= self.max_depth <= 20):
            raise ConfigError("max_depth out of range", field="max_depth", expected="an integer in 1..20")
        if not self.learning_rate > 0:
            raise ConfigError("learning_rate must be positive", field="learning_rate")
        if not (isinstance(self.min_size, int | np.integer) and self.min_size >= 1):
            raise ConfigError("min_size must be a positive integer", field="min_size")
        if self.mode not in ("exact", "hist"):
            raise ConfigError(f"unknown mode {self.mode!r}", field="mode", expected="'exact' or 'hist'")
        if self.backend not in ("native", "xgboost"):
            raise ConfigError(
                f"unknown backend {self.backend!r}", field="backend", expected="'native' or 'xgboost'"
            )
        if not 2 <= self.n_bins <= 256:
            raise ConfigError("n_bins out of range", field="n_bins", expected="2..256")

    # -- fitting ---------------------------------------------------------------------------------------------
    def fit(
        self,
        X: np.ndarray,
        w0: np.ndarray,
        derivatives: np.ndarray,
        callback: Callable[[int, int], None] | None = None,
    ) -> BoostedInformationTree:
        """Fit on features X (n, F), SM weights w0 (n,) and derivative weights (n,) or (n, K).

        ``callback(i_tree, n_trees)`` is called after every tree (progress bars).
        """
        self._validate()
        x, w0, d = _check_inputs(X, w0, derivatives)
        k = d.shape[1]
        g = np.eye(k) if self.gain_matrix is None else np.asarray(self.gain_matrix, dtype=float)
        if g.shape != (k, k):
            raise ConfigError("gain_matrix does not match the derivative columns", field="gain_matrix")
        self.n_features_in_ = x.shape[1]
        self.n_outputs_ = k
        self._squeeze = np.asarray(derivatives).ndim == 1
        if self.backend == "xgboost":
            self._fit_xgboost(x, w0, d, g, callback)
        else:
            import numba

            prev = numba.get_num_threads()
            numba.set_num_threads(max(1, min(int(self.n_jobs), numba.config.NUMBA_NUM_THREADS)))
            try:
                self._fit_native(x, w0, d, g, callback)
            finally:
                numba.set_num_threads(prev)
        return self

    def _fit_native(self, x, w0, d, g, callback) -> None:
        from higgsflow.eft import _bit_kernels as K

        n, nf = x.shape
        depth = int(self.max_depth)
        n_nodes = 2 ** (depth + 1) - 1
        w = np.ascontiguousarray(np.column_stack([w0, d]))
        min_w = 0.0
        if self.mode == "exact":
            # per-feature order of the events, ties by event index (a stable sort; the unstable one + the tie
            # fix is ~4× faster)
            xt = np.ascontiguousarray(x.T)
            order = np.argsort(xt, axis=1).astype(np.int32)
            xs = np.take_along_axis(xt, order, axis=1)
            K.stable_ties(order, xs, x)
            ws = np.ascontiguousarray(w[order])  # (F, n, K+1)
        else:
            edges, n_edges = _quantile_edges(x, self.n_bins)
            xb_rows = np.ascontiguousarray(_bin(x, edges, n_edges).T)  # (n, F), row-major
            all_rows = np.arange(n, dtype=np.int32)
            rbuf = [
                (np.empty(n, np.int32), np.empty_like(xb_rows), np.empty_like(w)),
                (np.empty(n, np.int32), np.empty_like(xb_rows), np.empty_like(w)),
            ]
        feats = np.full((self.n_trees, n_nodes), -1, np.int64)
        thrs = np.zeros((self.n_trees, n_nodes))
        vals = np.zeros((self.n_trees, n_nodes, d.shape[1]))
        eta = float(self.learning_rate)
        if self.mode == "exact":
            # double buffers for the node-partitioned copies of the sorted arrays
            buf = [
                (np.empty_like(order), np.empty_like(xs), np.empty_like(ws)),
                (np.empty_like(order), np.empty_like(xs), np.empty_like(ws)),
            ]
            go_left = np.empty(n, np.uint8)
        # single coefficient with the plain Fisher gain: the lookup scan beats partition + contiguous scan
        lookup = d.shape[1] == 1 and float(g[0, 0]) == 1.0 and depth <= 7
        loc = np.empty(n, np.int8)
        for t in range(self.n_trees):
            node_of = np.zeros(n, np.int32)
            parent = np.zeros((1, nf, self.n_bins, w.shape[1] + 1))
            if self.mode == "hist":
                rsrc = (all_rows, xb_rows, w)  # read-only here: partitions write to rbuf
                rseg = np.array([0, n], np.int64)
            if self.mode == "exact":
                src = (order, xs, ws)
                seg = np.array([0, n], np.int64)
            for level in range(depth):
                first, n_level = 2**level - 1, 2**level
                if self.mode == "exact" and lookup and level > 0:
                    # one coefficient: scan the global sorted order with per-node running sums (no copies)
                    tot, cnt = K.node_totals(w, node_of, first, n_level)
                    K.local_nodes(node_of, first, n_level, loc)
                    bf, bt, _ = K.exact_level_lookup(xs, order, ws, loc, tot, cnt, self.min_size, min_w)
                elif self.mode == "exact":
                    tot, cnt = K.node_totals(w, node_of, first, n_level)
                    bf, bt, _ = K.exact_level(src[1], src[2], seg, tot, cnt, self.min_size, g, min_w)
                    if level + 1 < depth and not lookup:
                        K.go_left_of(x, node_of, first, n_level, bf, bt, go_left)
                        dst = buf[level % 2]
                        new_seg = np.empty(2 * n_level + 1, np.int64)
                        K.partition(*src, seg, go_left, *dst, new_seg)
                        src, seg = dst, new_seg
                else:
                    h = np.empty((n_level, nf, self.n_bins, w.shape[1] + 1))
                    bf, bb, _ = K.hist_level_rows(
                        rsrc[1], rsrc[2], rseg, edges, n_edges, self.min_size, g, min_w, parent, h
                    )
                    parent = h
                    bt = np.where(bf >= 0, edges[np.maximum(bf, 0), bb], 0.0)
                    if level + 1 < depth:
                        rdst = rbuf[level % 2]
                        new_seg = np.empty(2 * n_level + 1, np.int64)
                        K.partition_rows(*rsrc, rseg, bf, bb, *rdst, new_seg)
                        rsrc, rseg = rdst, new_seg
                    else:
                        K.assign_last_level(rsrc[0], rsrc[1], rseg, bf, bb, first, node_of)
                feats[t, first : first + n_level] = bf
                thrs[t, first : first + n_level] = bt
                if self.mode == "exact":
                    K.apply_split(x, node_of, first, n_level, bf, bt)
            if self.mode == "hist":
                # leaves: the last level's children; unsplit nodes' rows sit in their (virtual) left children,
                # so map every final segment back to the deepest *split-reachable* node
                _freeze_unsplit(node_of, feats[t], depth)
            sums = K.leaf_sums(node_of, w, n_nodes)
            with np.errstate(invalid="ignore", divide="ignore"):
                v = np.where(sums[:, :1] > 0, sums[:, 1:] / sums[:, :1], 0.0) * eta
            vals[t] = v
            K.boost_update(node_of, w, v)
            if self.mode == "exact":
                K.boost_update_sorted(order, node_of, ws, v)
            if callback is not None:
                callback(t + 1, self.n_trees)
        # unsplit nodes keep feature −1 and act as leaves; nodes below them are never reached
        self._trees = {"feature": feats, "threshold": thrs, "value": vals}
        self._booster = None

    def _fit_xgboost(self, x, w0, d, g, callback) -> None:
        import xgboost as xgb

        k = d.shape[1]
        pos = w0 > 0
        # joint gain WᵀGW/W0 = Σ_b (c_b·W)²/W0 with G = CᵀC: train on the rotated targets C t and rotate back
        c = np.linalg.cholesky(g + 1e-300 * np.eye(k)).T if k > 1 else np.sqrt(g)
        t = (d[pos] / w0[pos, None]) @ c.T
        if not pos.any():
            raise DataError("all SM weights are zero", field="w0", expected="some w0 > 0")
        # hessian = sample weight: with the weights scaled to mean 1, a leaf's hessian sum counts its events
        # (exactly for equal weights), so min_size is XGBoost's min_child_weight (−½ against rounding)
        weight = w0[pos] / np.mean(w0[pos])
        params = {
            "objective": "reg:squarederror",
            "eta": float(self.learning_rate),
            "max_depth": int(self.max_depth),
            "min_child_weight": float(self.min_size) - 0.5,
            "lambda": 0.0,
            "alpha": 0.0,
            "gamma": 0.0,
            "tree_method": "hist",
            "max_bin": int(self.n_bins) if self.mode == "hist" else 256,
            "base_score": 0.0,
            "seed": int(self.random_state or 0),
            "nthread": int(self.n_jobs),
        }
        if k > 1:
            params["multi_strategy"] = "multi_output_tree"
        dtrain = xgb.DMatrix(x[pos], label=t if k > 1 else t[:, 0], weight=weight)
        cbs = []
        if callback is not None:

            class _CB(xgb.callback.TrainingCallback):
                def after_iteration(self, model, epoch, evals_log):
                    callback(epoch + 1, n_rounds)
                    return False

            cbs.append(_CB())
        n_rounds = int(self.n_trees)
        self._booster = xgb.train(params, dtrain, num_boost_round=n_rounds, callbacks=cbs)
        self._rotation_inv = np.linalg.inv(c)
        self._trees = None

    # -- prediction ------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise ModelNotFitted(
                "BoostedInformationTree is not fitted", expected="call fit() or load() first"
            )

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Learned ratio t̂(x) ≈ E[w'|x]/E[w|x]; shape (n,) for one derivative column, else (n, K)."""
        self._check_fitted()
        x = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise DataError(
                "wrong feature shape", field="X", expected=f"shape (n_events, {self.n_features_in_})"
            )
        if self._booster is not None:
            import xgboost as xgb

            p = np.asarray(self._booster.predict(xgb.DMatrix(x)), dtype=float).reshape(len(x), -1)
            out = p @ self._rotation_inv.T
        else:
            from higgsflow.eft import _bit_kernels as K

            tr = self._trees
            n_t, n_nodes = tr["feature"].shape
            offsets = np.arange(n_t + 1, dtype=np.int64) * n_nodes
            out = K.predict_forest(
                x,
                tr["feature"].reshape(-1),
                tr["threshold"].reshape(-1),
                tr["value"].reshape(n_t * n_nodes, -1),
                offsets,
            )
        return out[:, 0] if self._squeeze else out

    @property
    def splits(self) -> tuple[np.ndarray, np.ndarray]:
        """(feature, threshold) of every node of every tree, shape (n_trees, 2^(d+1)−1); feature −1 = leaf.

        Heap layout: node k has children 2k+1 (``x[feature] <= threshold``) and 2k+2. With the XGBoost backend
        the thresholds are float32 values and the comparison is on float32(x), as XGBoost makes it (its
        ``x < split_condition`` is ``float32(x) <= threshold`` with threshold the float32 below the condition).
        """
        self._check_fitted()
        if self._trees is None:
            return _xgboost_splits(self._booster, int(self.max_depth))
        return self._trees["feature"], self._trees["threshold"]

    # -- persistence -----------------------------------------------------------------------------------------
    def _state(self, prefix: str = "") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check_fitted()
        params = self.get_params()
        params["gain_matrix"] = None if self.gain_matrix is None else np.asarray(self.gain_matrix).tolist()
        header = {
            "params": params,
            "n_features_in": int(self.n_features_in_),
            "n_outputs": int(self.n_outputs_),
            "squeeze": bool(self._squeeze),
        }
        arrays: dict[str, np.ndarray] = {}
        if self._booster is not None:
            arrays[prefix + "xgboost_json"] = np.frombuffer(bytes(self._booster.save_raw("json")), np.uint8)
            arrays[prefix + "rotation_inv"] = self._rotation_inv
        else:
            for key, val in self._trees.items():
                arrays[prefix + key] = val
        return header, arrays

    @classmethod
    def _from_state(cls, header: dict, arrays: Any, prefix: str = "") -> BoostedInformationTree:
        params = dict(header["params"])
        if params.get("gain_matrix") is not None:
            params["gain_matrix"] = np.asarray(params["gain_matrix"])
        model = cls(**params)
        model.n_features_in_ = header["n_features_in"]
        model.n_outputs_ = header["n_outputs"]
        model._squeeze = header["squeeze"]
        if prefix + "xgboost_json" in arrays:
            import xgboost as xgb

            booster = xgb.Booster()
            booster.load_model(bytearray(arrays[prefix + "xgboost_json"].tobytes()))
            model._booster = booster
            model._rotation_inv = np.asarray(arrays[prefix + "rotation_inv"])
            model._trees = None
        else:
            model._booster = None
            model._trees = {k: np.asarray(arrays[prefix + k]) for k in ("feature", "threshold", "value")}
        return model

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Save to a portable ``.npz`` (arrays + JSON header; XGBoost models as their JSON)."""
        header, arrays = self._state()
        return _save_npz(path, {"kind": "BoostedInformationTree", **header}, arrays, overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> BoostedInformationTree:
        """Load a model written by :meth:`save`."""
        header, arrays = _load_npz(path, "BoostedInformationTree")
        try:
            return cls._from_state(header, arrays)
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"incomplete BIT file: {exc}", file=path) from exc


class BITRegressor(BoostedInformationTree):
    """scikit-learn estimator of a Boosted Information Tree: ``fit(X, y, sample_weight)``, ``predict(X)``.

    ``fit(X, y=w'/w0, sample_weight=w0)`` is :meth:`BoostedInformationTree.fit` on (w0, w' = y·w0): the split
    gain (Σw')²/Σw0 + … and the leaf values Σw'/Σw0 are those of a weighted least-squares regression tree for y
    with weights w0, so a BIT is the weighted regression of the ratio y = w'/w0. Same parameters as
    :class:`BoostedInformationTree` (``get_params``/``set_params``, so ``sklearn.base.clone``, pipelines and
    grid searches work); ``y`` may be (n,) or (n, K) for K ratios; ``sample_weight`` defaults to ones.
    scikit-learn is needed only for its own tools (``score`` uses ``sklearn.metrics.r2_score``).
    """

    _estimator_type = "regressor"

    def __sklearn_tags__(self) -> Any:
        from sklearn.base import BaseEstimator, RegressorMixin

        class _Regressor(RegressorMixin, BaseEstimator):
            pass

        return _Regressor().__sklearn_tags__()

    def fit(  # type: ignore[override]
        self,
        X: np.ndarray,
        y: np.ndarray,
        sample_weight: np.ndarray | None = None,
        callback: Callable[[int, int], None] | None = None,
    ) -> BITRegressor:
        """Fit the ratio y = w'/w0 with sample weights w0 (default 1): a BIT on (w0, y·w0)."""
        y = np.asarray(y, dtype=np.float64)
        w0 = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64).ravel()
        if len(w0) != len(y):
            raise DataError(
                f"{len(y)} targets but {len(w0)} sample weights",
                field="sample_weight",
                expected="one per event",
            )
        if not np.all(np.isfinite(y)):
            row = int(np.argwhere(~np.isfinite(y))[0][0])
            raise DataError("non-finite value", field="y", row=row, expected="finite ratios w'/w0")
        derivatives = y * (w0 if y.ndim == 1 else w0[:, None])
        super().fit(X, w0, derivatives, callback=callback)
        return self

    def score(self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None) -> float:
        """Weighted R² of the prediction (scikit-learn's regressor score)."""
        from sklearn.metrics import r2_score

        return float(r2_score(y, self.predict(X), sample_weight=sample_weight))


class ModelNotFitted(ConfigError):
    """The model is used before ``fit``/``load``."""


def _xgboost_splits(booster: Any, max_depth: int) -> tuple[np.ndarray, np.ndarray]:
    """(feature, threshold) of an XGBoost booster's trees in the heap layout of the native trees."""
    model = json.loads(bytes(booster.save_raw("json")))
    trees = model["learner"]["gradient_booster"]["model"]["trees"]
    n_nodes = 2 ** (max_depth + 1) - 1
    feats = np.full((len(trees), n_nodes), -1, np.int64)
    thrs = np.zeros((len(trees), n_nodes))
    below = np.float32(-np.inf)
    for i, tree in enumerate(trees):
        left, right = tree["left_children"], tree["right_children"]
        stack = [(0, 0)]
        while stack:
            node, k = stack.pop()
            if left[node] == -1:  # a leaf
                continue
            feats[i, k] = tree["split_indices"][node]
            thrs[i, k] = float(np.nextafter(np.float32(tree["split_conditions"][node]), below))
            stack += [(left[node], 2 * k + 1), (right[node], 2 * k + 2)]
    return feats, thrs


def _freeze_unsplit(node_of: np.ndarray, feature: np.ndarray, depth: int) -> None:
    """Move events from virtual descendants of unsplit nodes up to the unsplit node (the real leaf)."""
    k = node_of.astype(np.int64)
    for _ in range(depth):
        parent = (k - 1) // 2
        up = (k > 0) & (feature[np.maximum(parent, 0)] < 0)
        # a node is virtual if any ancestor is unsplit: climb while the parent is not split
        if not up.any():
            break
        k = np.where(up, parent, k)
    node_of[:] = np.where(k >= 0, k, node_of)


def _quantile_edges(x: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature unique quantile edges (upper edges of bins 0 … n_bins−2), padded with +inf."""
    qs = np.linspace(0, 1, n_bins + 1)[1:-1]
    edges = np.full((x.shape[1], n_bins - 1), np.inf)
    n_edges = np.zeros(x.shape[1], np.int64)
    for f in range(x.shape[1]):
        e = np.unique(np.quantile(x[:, f], qs, method="lower"))
        e = e[e < x[:, f].max()]  # an edge at the maximum would leave an empty right side
        edges[f, : len(e)] = e
        n_edges[f] = len(e)
    return edges, n_edges


def _bin(x: np.ndarray, edges: np.ndarray, n_edges: np.ndarray) -> np.ndarray:
    """Bin indices, shape (F, n)."""
    xb = np.empty((x.shape[1], x.shape[0]), np.uint8)
    for f in range(x.shape[1]):
        xb[f] = np.searchsorted(edges[f, : n_edges[f]], x[:, f], side="left")
    return xb


def _save_npz(path, header: dict, arrays: dict, overwrite: bool) -> Path:
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(path.suffix + ".npz") if path.suffix else path.with_suffix(".npz")
    if path.exists() and not overwrite:
        raise CheckpointError("output exists; pass overwrite=True to replace it", file=path)
    header = {"format": _FORMAT, **header}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, header=np.array(json.dumps(header)), **arrays)
    return path


def _load_npz(path, kind: str) -> tuple[dict, dict]:
    path = Path(path)
    if not path.exists():
        raise CheckpointError("model file not found", file=path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        header = json.loads(str(arrays.pop("header")))
    except (ValueError, OSError, KeyError) as exc:
        raise CheckpointError(f"not a readable BIT file: {exc}", file=path) from exc
    if header.get("format") != _FORMAT or header.get("kind") != kind:
        raise CheckpointError(
            "unexpected model format", file=path, field="header", expected=f"{_FORMAT} {kind}"
        )
    return header, arrays


def reference_exact_tree(
    x: np.ndarray, w0: np.ndarray, d: np.ndarray, max_depth: int, min_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """A straightforward exact single-coefficient tree (re-sorts every node), for validating the fast one.

    Returns (feature, threshold) in the heap layout of :class:`BoostedInformationTree`. Pure NumPy, slow.
    """
    x = np.asarray(x, float)
    n_nodes = 2 ** (max_depth + 1) - 1
    feat = np.full(n_nodes, -1, np.int64)
    thr = np.zeros(n_nodes)
    members = {0: np.arange(len(x))}
    for level in range(max_depth):
        for k in range(2**level - 1, 2 ** (level + 1) - 1):
            idx = members.pop(k, None)
            if idx is None or len(idx) < 2 * min_size:
                continue
            tot0 = 0.0
            tot1 = 0.0
            for e in idx:  # same summation order as the fast kernel (event index order)
                tot0 += w0[e]
                tot1 += d[e]
            best = (-np.inf, -1, 0.0)
            for f in range(x.shape[1]):
                o = idx[np.argsort(x[idx, f], kind="stable")]
                xs = x[o, f]
                c0 = np.cumsum(w0[o])[:-1]
                c1 = np.cumsum(d[o])[:-1]
                pos = np.arange(1, len(o))  # number of events on the left
                ok = (xs[1:] != xs[:-1]) & (pos >= min_size) & (len(o) - pos >= min_size)
                r0 = tot0 - c0
                r1 = tot1 - c1
                ok &= (c0 > 0) & (r0 > 0)
                with np.errstate(divide="ignore", invalid="ignore"):
                    gain = np.where(ok, c1 * c1 / c0 + r1 * r1 / r0, -np.inf)
                if np.any(ok):
                    j = int(np.argmax(gain))
                    if gain[j] > best[0]:
                        best = (gain[j], f, xs[j])
            if best[1] >= 0:
                feat[k], thr[k] = best[1], best[2]
                left = x[idx, best[1]] <= best[2]
                members[2 * k + 1] = idx[left]
                members[2 * k + 2] = idx[~left]
    return feat, thr


def reference_exact_boost(
    x: np.ndarray,
    w0: np.ndarray,
    d: np.ndarray,
    n_trees: int,
    learning_rate: float,
    max_depth: int,
    min_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Boosting with :func:`reference_exact_tree` (pure NumPy).

    Returns (feature, threshold), each of shape (n_trees, nodes).
    """
    d = np.array(d, dtype=float)
    x = np.asarray(x, float)
    feats, thrs = [], []
    for _ in range(n_trees):
        f, t = reference_exact_tree(x, w0, d, max_depth, min_size)
        node = np.zeros(len(x), np.int64)
        while True:  # route events to their leaves
            inner = f[node] >= 0
            if not inner.any():
                break
            go_left = x[np.arange(len(x)), np.maximum(f[node], 0)] <= t[node]
            node = np.where(inner, np.where(go_left, 2 * node + 1, 2 * node + 2), node)
        s0 = np.bincount(node, weights=w0, minlength=len(f))
        s1 = np.bincount(node, weights=d, minlength=len(f))
        val = np.where(s0 > 0, s1 / np.where(s0 > 0, s0, 1.0), 0.0) * learning_rate
        d -= w0 * val[node]
        feats.append(f)
        thrs.append(t)
    return np.array(feats), np.array(thrs)


def joint_base_points(n_params: int, scale: float = 1.0) -> np.ndarray:
    """Base points θ_b of the joint gain: ±scale·e_i and scale·(e_i + e_j), i < j (N(N+3)/2 points)."""
    from higgsflow.eft.weights import basis_points

    return basis_points(n_params, scale)[1:]


class EFTInformationTrees:
    """BITs for all coefficients R_i, R_ij of the ratio R(x|θ) = 1 + Σθ_i R_i + ½Σ_{i,j} θ_iθ_j R_ij.

    ``joint=False``: N_T = N(N+3)/2 separate trainings, one per stored coefficient column.
    ``joint=True``: one forest whose leaves hold all coefficients (gain summed over
    :func:`joint_base_points`).
    """

    def __init__(self, names: Sequence[str], joint: bool = False, base_scale: float = 1.0, **bit_params: Any):
        self.names = list(names)
        self.joint = joint
        self.base_scale = base_scale
        self.bit_params = bit_params

    def fit(
        self, X: np.ndarray, coeffs: np.ndarray, callback: Callable[[int, int], None] | None = None
    ) -> EFTInformationTrees:
        """Fit on features X and coefficients (n, P) ordered as ``weights.coefficient_columns``."""
        from higgsflow.eft.weights import n_coefficients, quadratic_design

        coeffs = np.asarray(coeffs, float)
        n = len(self.names)
        if coeffs.ndim != 2 or coeffs.shape[1] != n_coefficients(n):
            raise DataError(
                "coefficient array does not match the names",
                field="coeffs",
                expected=f"shape (n_events, {n_coefficients(n)})",
            )
        w0, d = coeffs[:, 0], coeffs[:, 1:]
        if self.joint:
            c = quadratic_design(joint_base_points(n, self.base_scale))[:, 1:]
            model = BoostedInformationTree(**{**self.bit_params, "gain_matrix": c.T @ c})
            self.models_ = [model.fit(X, w0, d, callback=callback)]
        else:
            self.models_ = []
            for k in range(d.shape[1]):
                cb = None if callback is None else (lambda i, m, k=k: callback(k * m + i, d.shape[1] * m))
                self.models_.append(
                    BoostedInformationTree(**self.bit_params).fit(X, w0, d[:, k], callback=cb)
                )
        return self

    def predict_coefficients(self, X: np.ndarray) -> np.ndarray:
        """Learned (R_1 … R_N, R_11, R_12, …, R_NN), shape (n, N(N+3)/2)."""
        if not hasattr(self, "models_"):
            raise ModelNotFitted("EFTInformationTrees is not fitted", expected="call fit() or load() first")
        if self.joint:
            return self.models_[0].predict(X).reshape(len(X), -1)
        return np.column_stack([m.predict(X) for m in self.models_])

    def predict_ratio(self, X: np.ndarray, theta: Sequence[float] | np.ndarray) -> np.ndarray:
        """r̂(x|θ, 0) = 1 + Σθ_i R̂_i + ½Σ_{i,j} θ_iθ_j R̂_ij (convention of docs/conventions.md)."""
        from higgsflow.eft.weights import quadratic_design

        theta = np.asarray(theta, float).reshape(1, -1)
        if theta.shape[1] != len(self.names):
            raise ConfigError("θ has the wrong length", field="theta", expected=f"{len(self.names)} values")
        return 1.0 + self.predict_coefficients(X) @ quadratic_design(theta)[0, 1:]

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
        """Save all forests to one ``.npz``."""
        headers, arrays = [], {}
        for k, m in enumerate(self.models_):
            h, a = m._state(prefix=f"m{k}_")
            headers.append(h)
            arrays.update(a)
        header = {
            "kind": "EFTInformationTrees",
            "names": self.names,
            "joint": self.joint,
            "base_scale": self.base_scale,
            "models": headers,
        }
        return _save_npz(path, header, arrays, overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> EFTInformationTrees:
        """Load what :meth:`save` wrote."""
        header, arrays = _load_npz(path, "EFTInformationTrees")
        try:
            obj = cls(header["names"], joint=header["joint"], base_scale=header["base_scale"])
            obj.models_ = [
                BoostedInformationTree._from_state(h, arrays, prefix=f"m{k}_")
                for k, h in enumerate(header["models"])
            ]
            obj.bit_params = {k: v for k, v in header["models"][0]["params"].items() if k != "gain_matrix"}
        except (KeyError, ValueError, TypeError) as exc:
            raise CheckpointError(f"incomplete model file: {exc}", file=path) from exc
        return obj
