"""The reference Boosted Information Tree algorithm, ported to Python 3 to be timed in the same run.

Credit: the algorithm is that of the reference implementation of Boosted Information Trees by S. Chatterjee,
N. Frohner, L. Lechner, R. Schöfbeck and D. Schwarz (Comput. Phys. Commun. 2022; github.com/HephyAnalysisSW/BIT,
``NodeP3.py`` with its ``"vectorized_split_and_weight_sums"`` node search and ``BoostedInformationTreeP3.py`` with
``weights_update_method="vectorized"``). It is written out here step by step, with nothing imported from that
repository, so that ``benchmarks/bit.py`` measures higgsflow's speed-up against the reference's own algorithm
rather than against a slower stand-in. What is kept as the reference does it:

- node search (per node, per feature): ``np.argsort`` with NumPy's default kind, cumulative sums of w and w' in
  that order, a mask of the allowed positions (at least ``min_size`` events on each side, no split inside a
  plateau of equal values), the gain (Σw')²_L/Σw_L + (Σw')²_R/Σw_R with the right sums taken as total − left,
  ``argmax`` of ``nan_to_num(gain) · mask`` (the first maximum) and its value as the threshold (``x <= value``
  goes left); a feature's best replaces the node's best only if strictly larger, starting from 0;
- recursion: depth-first, the root at depth 0; a node at depth ``max_depth − 1`` still runs the node search and
  then becomes a leaf holding all its events (as the reference does: its ``max_depth`` counts the root as depth
  1, so its ``max_depth = d + 1`` is higgsflow's ``max_depth = d``); a child with fewer than 2 ``min_size``
  events becomes a leaf without a search; the selected rows of features and weights are copied into each child;
- leaves: size, Σw'²/Σw and the score Σw'/Σw, the sums taken with Python's built-in ``sum`` in event order;
- weight update ("vectorized"): the tree is turned into one boolean mask per leaf (the AND of the comparisons
  on its path, evaluated on the whole feature matrix; the reference builds each mask as a Python expression
  string and ``eval``-uates it, here the same comparisons are applied directly), the tree's prediction is each
  leaf's score on its mask, and w' ← w' − η · w · prediction;
- forest prediction: ``np.dot(learning rates, per-tree predictions)``.

Not ported: bagging, the per-tree debug records, calibration, pickling and the progress bar (none of them is
used by the benchmark's configuration). One quirk is kept: if a feature has no allowed position, its candidate is
position 0 (``argmax`` of an all-zero product) with its unmasked gain; on continuous features with at least
2 ``min_size`` events per node this never happens.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ReferenceBIT", "ReferenceLeaf", "ReferenceNode"]


class ReferenceLeaf:
    """A terminal node: event count, Fisher information Σw'²/Σw and score Σw'/Σw of its events."""

    def __init__(self, weights: np.ndarray, diff_weights: np.ndarray, group: np.ndarray) -> None:
        self.size = int(np.count_nonzero(group))
        self.FI = _fisher(weights, diff_weights, group)
        self.score = _score(weights, diff_weights, group)


def _sums(weights: np.ndarray, diff_weights: np.ndarray, group: np.ndarray) -> tuple[float, float]:
    # built-in sum: sequential, in event order (as the reference)
    return sum(diff_weights[group]), sum(weights[group])


def _score(weights, diff_weights, group) -> float:
    s_diff, s = _sums(weights, diff_weights, group)
    return 0 if s == 0.0 else s_diff / s


def _fisher(weights, diff_weights, group) -> float:
    s_diff, s = _sums(weights, diff_weights, group)
    return 0 if s == 0.0 else s_diff**2 / s


class ReferenceNode:
    """One node, split recursively on construction (the reference's ``Node``)."""

    def __init__(
        self,
        features: np.ndarray,
        max_depth: int,
        min_size: int,
        weights: np.ndarray,
        diff_weights: np.ndarray,
        depth: int = 0,
    ) -> None:
        self.max_depth = max_depth
        self.min_size = min_size
        self.depth = depth
        self.size = len(features)
        self._split(features, weights, diff_weights)
        self._prune()

    def _search(self, features: np.ndarray, weights: np.ndarray, diff_weights: np.ndarray) -> np.ndarray:
        """Best (feature, value) of this node; returns the boolean 'left' group."""
        self.split_i_feature, self.split_value, self.split_gain = 0, -float("inf"), 0
        assert self.size >= 2 * self.min_size
        for i_feature in range(features.shape[1]):
            values = features[:, i_feature]
            order = np.argsort(values)
            w_sums = np.cumsum(weights[order])
            d_sums = np.cumsum(diff_weights[order])
            allowed = np.ones(self.size - 1, dtype=bool)
            if self.min_size > 1:
                allowed[0 : self.min_size - 1] = False
                allowed[-self.min_size + 1 :] = False
            allowed &= np.diff(values[order]) != 0
            allowed = allowed.astype(int)
            w_total, d_total = w_sums[-1], d_sums[-1]
            w_left, d_left = w_sums[:-1], d_sums[:-1]
            with np.errstate(divide="ignore", invalid="ignore"):
                gains = d_left * d_left / w_left + (d_total - d_left) * (d_total - d_left) / (
                    w_total - w_left
                )
            best = np.argmax(np.nan_to_num(gains) * allowed)
            gain = gains[best]
            if gain > self.split_gain:
                self.split_i_feature = i_feature
                self.split_value = values[order[best]]
                self.split_gain = gain
        assert not np.isnan(self.split_value)
        return features[:, self.split_i_feature] <= self.split_value

    def _split(self, features: np.ndarray, weights: np.ndarray, diff_weights: np.ndarray) -> None:
        left = self._search(features, weights, diff_weights)
        if self.max_depth <= self.depth + 1 or not any(left) or all(left):
            # stop here: everything in the left leaf (removed again by the parent's prune)
            self.split_value = float("inf")
            self.left = ReferenceLeaf(weights, diff_weights, np.ones(self.size, dtype=bool))
            self.right = ReferenceLeaf(weights, diff_weights, np.zeros(self.size, dtype=bool))
            return
        for side, group in (("left", left), ("right", ~left)):
            if np.count_nonzero(group) < 2 * self.min_size:
                child = ReferenceLeaf(weights, diff_weights, group)
            else:
                child = ReferenceNode(
                    features[group],
                    self.max_depth,
                    self.min_size,
                    weights[group],
                    diff_weights[group],
                    depth=self.depth + 1,
                )
            setattr(self, side, child)

    def _prune(self) -> None:
        """Replace children that stopped (split value +inf) by their left leaf."""
        for side in ("left", "right"):
            child = getattr(self, side)
            if isinstance(child, ReferenceNode):
                if child.split_value == float("inf"):
                    setattr(self, side, child.left)
                else:
                    child._prune()

    def vectorized_predict(self, features: np.ndarray) -> np.ndarray:
        """Score of every row: one mask per leaf path, evaluated on the whole matrix."""
        paths: list[tuple[list[tuple[int, float, bool]], float]] = []

        def walk(node, cuts):
            if isinstance(node, ReferenceLeaf):
                paths.append((cuts, node.score))
                return
            walk(node.left, [*cuts, (node.split_i_feature, node.split_value, True)])
            walk(node.right, [*cuts, (node.split_i_feature, node.split_value, False)])

        walk(self, [])
        out = np.zeros(len(features))
        for cuts, score in paths:
            mask = None
            for f, value, is_left in cuts:
                m = features[:, f] <= value if is_left else features[:, f] > value
                mask = m if mask is None else mask & m
            out[mask] = score
        return out

    def heap(self, max_depth: int) -> tuple[np.ndarray, np.ndarray]:
        """(feature, threshold) in higgsflow's heap layout (node k → 2k+1, 2k+2; −1 = leaf), ``max_depth`` as
        higgsflow counts it."""
        n_nodes = 2 ** (max_depth + 1) - 1
        feat = np.full(n_nodes, -1, np.int64)
        thr = np.zeros(n_nodes)

        def walk(node, k):
            if isinstance(node, ReferenceLeaf) or not np.isfinite(node.split_value):
                return
            feat[k], thr[k] = node.split_i_feature, node.split_value
            walk(node.left, 2 * k + 1)
            walk(node.right, 2 * k + 2)

        walk(self, 0)
        return feat, thr


class ReferenceBIT:
    """Boosting as the reference's ``BoostedInformationTree`` with the vectorized weight update.

    ``max_depth`` is the reference's (root = depth 1): pass higgsflow's depth + 1.
    """

    def __init__(
        self,
        features: np.ndarray,
        weights: np.ndarray,
        diff_weights: np.ndarray,
        n_trees: int = 100,
        learning_rate: float = 0.2,
        max_depth: int = 4,
        min_size: int = 50,
    ) -> None:
        self.n_trees = n_trees
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.min_size = min_size
        self.features = features
        self.weights = weights
        self.diff_weights = np.copy(diff_weights)
        self.trees: list[ReferenceNode] = []

    def boost(self) -> ReferenceBIT:
        for _ in range(self.n_trees):
            root = ReferenceNode(
                self.features, self.max_depth, self.min_size, self.weights, self.diff_weights
            )
            self.trees.append(root)
            delta = np.multiply(self.weights, root.vectorized_predict(self.features))
            self.diff_weights += -self.learning_rate * delta
        return self

    def vectorized_predict(self, features: np.ndarray) -> np.ndarray:
        rates = self.learning_rate * np.ones(len(self.trees))
        return np.dot(rates, np.array([t.vectorized_predict(features) for t in self.trees]))

    def heap(self) -> tuple[np.ndarray, np.ndarray]:
        """(feature, threshold) of every tree, shape (n_trees, nodes), in higgsflow's layout."""
        fs, ts = zip(*(t.heap(self.max_depth - 1) for t in self.trees), strict=True)
        return np.array(fs), np.array(ts)
