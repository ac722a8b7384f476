"""numba kernels of the Boosted Information Tree: level-wise exact and histogram split search, prediction.

A tree of depth d is stored heap-style: node k has children 2k+1 and 2k+2; ``feature[k] < 0`` marks a leaf.
The split of a node with summed weights W_0 (SM) and W_1 … W_K (derivatives) into L and R maximises

    gain = Wᵀ_L G W_L / W_0,L + Wᵀ_R G W_R / W_0,R

with G = CᵀC (K×K); K = 1, G = 1 is the single-coefficient Fisher-information gain (Σw')²/Σw.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_NB = {"nogil": True, "cache": True}
_NBP = {"nogil": True, "cache": True, "parallel": True}


@nb.njit(**_NB)
def _quad(g, sums, k):
    """sums[1:]ᵀ G sums[1:] for one node."""
    s = 0.0
    for a in range(k):
        ta = 0.0
        for b in range(k):
            ta += g[a, b] * sums[1 + b]
        s += sums[1 + a] * ta
    return s


@nb.njit(**_NB)
def _gain(g, left, tot, k, min_w):
    w0l = left[0]
    w0r = tot[0] - left[0]
    if w0l <= min_w or w0r <= min_w:
        return -np.inf
    if k == 1:
        wl = left[1]
        wr = tot[1] - left[1]
        return g[0, 0] * (wl * wl / w0l + wr * wr / w0r)
    right = tot - left
    return _quad(g, left, k) / w0l + _quad(g, right, k) / w0r


@nb.njit(**_NB)
def stable_ties(order, xs, x):
    """Make an unstable per-feature argsort stable: equal values ordered by event index.

    order, xs: (F, n) sorted event indices and values (modified in place); x: (n, F) the features.
    """
    nf, n = xs.shape
    for f in range(nf):
        p = 0
        while p < n:
            q = p + 1
            while q < n and xs[f, q] == xs[f, p]:
                q += 1
            if q - p > 1:
                order[f, p:q] = np.sort(order[f, p:q])
                for r in range(p, q):
                    xs[f, r] = x[order[f, r], f]  # ±0 compare equal: keep each event's own value
            p = q


@nb.njit(**_NB)
def node_totals(w, node_of, level_first, n_level):
    """Summed weights and counts of the nodes of one level, in event order (as the reference sums)."""
    kk = w.shape[1]
    tot = np.zeros((n_level, kk))
    cnt = np.zeros(n_level, np.int64)
    for e in range(w.shape[0]):
        j = node_of[e] - level_first
        if 0 <= j < n_level:
            cnt[j] += 1
            for c in range(kk):
                tot[j, c] += w[e, c]
    return tot, cnt


@nb.njit(**_NBP)
def exact_level(xs, ws, seg, tot, cnt, min_size, g, min_w):
    """Best split of every node of one level.

    xs: (F, n) feature values and ws: (F, n, K+1) weights, each feature sorted (stably) by value *within* the
    contiguous segment of every node: node j holds positions seg[j] … seg[j+1]−1 for every feature. Every
    split of a node is scored in one pass over its segment with running sums (no re-sort). Features run in
    parallel; the reduction keeps the first maximum (lowest feature, then lowest threshold).
    Returns (best_feature, best_threshold, best_gain) per node.
    """
    nf = xs.shape[0]
    n_level = seg.shape[0] - 1
    kk = ws.shape[2]
    k = kk - 1
    fg = np.full((nf, n_level), -np.inf)
    ft = np.zeros((nf, n_level))
    g00 = g[0, 0]
    for f in nb.prange(nf):
        cum = np.zeros(kk)
        for j in range(n_level):
            lo = seg[j]
            hi = seg[j + 1]
            if cnt[j] < 2 * min_size:
                continue
            cum[:] = 0.0
            bg = -np.inf
            bt = 0.0
            t0 = tot[j, 0]
            if k == 1:
                t1 = tot[j, 1]
                c0 = 0.0
                c1 = 0.0
                for p in range(lo, hi):
                    s = p - lo
                    if s >= min_size and hi - p >= min_size and xs[f, p] != xs[f, p - 1]:
                        r0 = t0 - c0
                        if c0 > min_w and r0 > min_w:
                            r1 = t1 - c1
                            gn = g00 * (c1 * c1 / c0 + r1 * r1 / r0)
                            if gn > bg:
                                bg = gn
                                bt = xs[f, p - 1]
                    c0 += ws[f, p, 0]
                    c1 += ws[f, p, 1]
            else:
                for p in range(lo, hi):
                    s = p - lo
                    if s >= min_size and hi - p >= min_size and xs[f, p] != xs[f, p - 1]:
                        gn = _gain(g, cum, tot[j], k, min_w)
                        if gn > bg:
                            bg = gn
                            bt = xs[f, p - 1]
                    for c in range(kk):
                        cum[c] += ws[f, p, c]
            fg[f, j] = bg
            ft[f, j] = bt
    best_f = np.full(n_level, -1, np.int64)
    best_t = np.zeros(n_level)
    best_g = np.full(n_level, -np.inf)
    for j in range(n_level):
        for f in range(nf):
            if fg[f, j] > best_g[j]:
                best_g[j] = fg[f, j]
                best_f[j] = f
                best_t[j] = ft[f, j]
    return best_f, best_t, best_g


@nb.njit(**_NB)
def local_nodes(node_of, level_first, n_level, out):
    """out[e] = node_of[e] − level_first for events of this level, −1 otherwise (int8: cache-friendly)."""
    for e in range(node_of.shape[0]):
        j = node_of[e] - level_first
        out[e] = j if 0 <= j < n_level else -1


@nb.njit(**_NBP)
def exact_level_lookup(xs, order, ws, loc, tot, cnt, min_size, min_w):
    """Single-coefficient exact split search of one level on the *global* sorted order (no partition).

    Walks each feature's presorted events once and keeps running sums per node, found through ``loc``
    (:func:`local_nodes`, ≤ 127 nodes per level). Same splits as :func:`exact_level`: the events of a node
    appear in the same order in both.
    """
    nf, n = xs.shape
    n_level = tot.shape[0]
    fg = np.full((nf, n_level), -np.inf)
    ft = np.zeros((nf, n_level))
    for f in nb.prange(nf):
        st = np.zeros((n_level, 4))  # running Σw0, Σw', count, last value: one cache line per node
        for p in range(n):
            j = loc[order[f, p]]
            if j < 0:
                continue
            xe = xs[f, p]
            s = st[j, 2]
            if s >= min_size and cnt[j] - s >= min_size and xe != st[j, 3]:
                a0 = st[j, 0]
                r0 = tot[j, 0] - a0
                if a0 > min_w and r0 > min_w:
                    a1 = st[j, 1]
                    r1 = tot[j, 1] - a1
                    gn = a1 * a1 / a0 + r1 * r1 / r0
                    if gn > fg[f, j]:
                        fg[f, j] = gn
                        ft[f, j] = st[j, 3]
            st[j, 0] += ws[f, p, 0]
            st[j, 1] += ws[f, p, 1]
            st[j, 2] = s + 1
            st[j, 3] = xe
    best_f = np.full(n_level, -1, np.int64)
    best_t = np.zeros(n_level)
    best_g = np.full(n_level, -np.inf)
    for j in range(n_level):
        for f in range(nf):
            if fg[f, j] > best_g[j]:
                best_g[j] = fg[f, j]
                best_f[j] = f
                best_t[j] = ft[f, j]
    return best_f, best_t, best_g


@nb.njit(**_NBP)
def partition(src_idx, src_x, src_w, seg, go_left, dst_idx, dst_x, dst_w, new_seg):
    """Stable partition of every node segment into (left, right) children, for every feature.

    go_left[e] is 1 (left), 0 (right) or 2 (node not split: the segment moves as its left child and the right
    child is empty). new_seg receives 2·n_level + 1 boundaries.
    """
    nf = src_idx.shape[0]
    n_level = seg.shape[0] - 1
    kk = src_w.shape[2]
    # child boundaries from the first feature (the node populations are the same for every feature)
    new_seg[0] = seg[0]
    for j in range(n_level):
        n_left = 0
        for p in range(seg[j], seg[j + 1]):
            if go_left[src_idx[0, p]] != 0:
                n_left += 1
        new_seg[2 * j + 1] = seg[j] + n_left
        new_seg[2 * j + 2] = seg[j + 1]
    for f in nb.prange(nf):
        if kk == 2:
            _partition_feature_2(
                src_idx[f], src_x[f], src_w[f], seg, go_left, dst_idx[f], dst_x[f], dst_w[f], new_seg
            )
        else:
            _partition_feature(
                src_idx[f], src_x[f], src_w[f], seg, go_left, dst_idx[f], dst_x[f], dst_w[f], new_seg
            )


@nb.njit(**_NBP)
def boost_update_sorted(order, node_of, ws, values):
    """The boosting update of :func:`boost_update` applied to the per-feature sorted weight copies."""
    nf, n = order.shape
    kk = ws.shape[2]
    for f in nb.prange(nf):
        for p in range(n):
            k = node_of[order[f, p]]
            if k < 0:
                k = -1 - k
            w0 = ws[f, p, 0]
            for c in range(1, kk):
                ws[f, p, c] -= w0 * values[k, c - 1]


@nb.njit(**_NB)
def go_left_of(x, node_of, level_first, n_level, feat, thr, out):
    """1 if the event goes to the left child, 0 if right, 2 if its node is not split."""
    for e in range(x.shape[0]):
        j = node_of[e] - level_first
        if j < 0 or j >= n_level:
            out[e] = 2
            continue
        f = feat[j]
        if f < 0:
            out[e] = 2
        elif x[e, f] <= thr[j]:
            out[e] = 1
        else:
            out[e] = 0


@nb.njit(**_NB)
def _partition_feature(src_idx, src_x, src_w, seg, go_left, dst_idx, dst_x, dst_w, new_seg):
    """Stable partition of one feature's node segments (see :func:`partition`)."""
    kk = src_w.shape[1]
    for j in range(seg.shape[0] - 1):
        li = seg[j]
        ri = new_seg[2 * j + 1]
        for p in range(seg[j], seg[j + 1]):
            e = src_idx[p]
            gl = np.int64(go_left[e] != 0)
            q = gl * li + (1 - gl) * ri  # branchless: go_left is random, a branch would mispredict
            li += gl
            ri += 1 - gl
            dst_idx[q] = e
            dst_x[q] = src_x[p]
            for c in range(kk):
                dst_w[q, c] = src_w[p, c]


@nb.njit(**_NB)
def _partition_feature_2(src_idx, src_x, src_w, seg, go_left, dst_idx, dst_x, dst_w, new_seg):
    for j in range(seg.shape[0] - 1):
        li = seg[j]
        ri = new_seg[2 * j + 1]
        for p in range(seg[j], seg[j + 1]):
            e = src_idx[p]
            gl = np.int64(go_left[e] != 0)
            q = gl * li + (1 - gl) * ri
            li += gl
            ri += 1 - gl
            dst_idx[q] = e
            dst_x[q] = src_x[p]
            dst_w[q, 0] = src_w[p, 0]
            dst_w[q, 1] = src_w[p, 1]


@nb.njit(**_NB)
def hist_level_rows(rxb, rw, seg, edges, n_edges, min_size, g, min_w, parent, h):
    """Histogram split search of one level with the events stored in node order (rows partitioned).

    rxb: (n, F) uint8 bins and rw: (n, K+1) weights, both in node order; node j owns rows seg[j] … seg[j+1]−1.
    h: (n_level, F, n_bins, K+2) receives the histograms (weights, then counts); below the root only left
    children are filled from their rows and right children are parent − left. Returns (feature, bin, gain).
    """
    n_level = seg.shape[0] - 1
    nf = rxb.shape[1]
    kk = rw.shape[1]
    k = kk - 1
    nb_ = edges.shape[1] + 1
    sub = n_level > 1
    h[:, :, :, :] = 0.0
    for j in range(n_level):
        if sub and (j & 1) == 1:
            continue
        if kk == 2:
            _fill_rows_2(rxb, rw, seg[j], seg[j + 1], h[j])
        else:
            for p in range(seg[j], seg[j + 1]):
                for f in range(nf):
                    b = rxb[p, f]
                    for c in range(kk):
                        h[j, f, b, c] += rw[p, c]
                    h[j, f, b, kk] += 1.0
    if sub:
        for j in range(1, n_level, 2):
            if seg[j] == seg[j + 1]:
                continue  # empty right child (parent not split, or nothing went right)
            for f in range(nf):
                for b in range(nb_):
                    for c in range(kk + 1):
                        h[j, f, b, c] = parent[j // 2, f, b, c] - h[j - 1, f, b, c]
    best_f = np.full(n_level, -1, np.int64)
    best_b = np.zeros(n_level, np.int64)
    best_g = np.full(n_level, -np.inf)
    cum = np.zeros(kk + 1)
    tot = np.zeros(kk + 1)
    g00 = g[0, 0]
    for j in range(n_level):
        ntot = seg[j + 1] - seg[j]
        if ntot < 2 * min_size:
            continue
        for f in range(nf):
            tot[:] = 0.0
            for b in range(nb_):
                for c in range(kk + 1):
                    tot[c] += h[j, f, b, c]
            cum[:] = 0.0
            for b in range(n_edges[f]):
                for c in range(kk + 1):
                    cum[c] += h[j, f, b, c]
                s = cum[kk]
                if s >= min_size - 0.5 and ntot - s >= min_size - 0.5 and h[j, f, b, kk] > 0.5:
                    if k == 1:
                        r0 = tot[0] - cum[0]
                        if cum[0] > min_w and r0 > min_w:
                            r1 = tot[1] - cum[1]
                            gn = g00 * (cum[1] * cum[1] / cum[0] + r1 * r1 / r0)
                        else:
                            gn = -np.inf
                    else:
                        gn = _gain(g, cum[:kk], tot[:kk], k, min_w)
                    if gn > best_g[j]:
                        best_g[j] = gn
                        best_f[j] = f
                        best_b[j] = b
    return best_f, best_b, best_g


@nb.njit(**_NB)
def _fill_rows_2(rxb, rw, lo, hi, hj):
    nf = rxb.shape[1]
    for p in range(lo, hi):
        w0 = rw[p, 0]
        w1 = rw[p, 1]
        for f in range(nf):
            b = rxb[p, f]
            hj[f, b, 0] += w0
            hj[f, b, 1] += w1
            hj[f, b, 2] += 1.0


@nb.njit(**_NB)
def partition_rows(ridx, rxb, rw, seg, feat, bin_thr, dst_idx, dst_xb, dst_w, new_seg):
    """Stable partition of the node-ordered rows by each node's split (bin ≤ bin_thr goes left).

    Unsplit nodes (feat < 0) keep all rows in their left child. new_seg gets 2·n_level + 1 boundaries.
    """
    n_level = seg.shape[0] - 1
    nf = rxb.shape[1]
    kk = rw.shape[1]
    new_seg[0] = seg[0]
    for j in range(n_level):
        f = feat[j]
        n_left = 0
        for p in range(seg[j], seg[j + 1]):
            if f < 0 or rxb[p, f] <= bin_thr[j]:
                n_left += 1
        li = seg[j]
        ri = seg[j] + n_left
        new_seg[2 * j + 1] = ri
        new_seg[2 * j + 2] = seg[j + 1]
        for p in range(seg[j], seg[j + 1]):
            gl = np.int64(f < 0 or rxb[p, f] <= bin_thr[j])
            q = gl * li + (1 - gl) * ri
            li += gl
            ri += 1 - gl
            dst_idx[q] = ridx[p]
            for c in range(nf):
                dst_xb[q, c] = rxb[p, c]
            for c in range(kk):
                dst_w[q, c] = rw[p, c]


@nb.njit(**_NB)
def assign_last_level(ridx, rxb, seg, feat, bin_thr, level_first, node_of):
    """node_of of every event after the last level's splits (no copy of the rows needed)."""
    for j in range(seg.shape[0] - 1):
        f = feat[j]
        for p in range(seg[j], seg[j + 1]):
            go_right = f >= 0 and rxb[p, f] > bin_thr[j]
            node_of[ridx[p]] = 2 * (level_first + j) + 1 + go_right


@nb.njit(**_NB)
def apply_split(x, node_of, level_first, n_level, feat, thr):
    """Move events of the split nodes to their children; events of unsplit nodes get node -1-leaf."""
    for e in range(x.shape[0]):
        k = node_of[e]
        j = k - level_first
        if j < 0 or j >= n_level:
            continue
        f = feat[j]
        if f < 0:
            node_of[e] = -1 - k  # frozen in leaf k
        elif x[e, f] <= thr[j]:
            node_of[e] = 2 * k + 1
        else:
            node_of[e] = 2 * k + 2


@nb.njit(**_NB)
def leaf_sums(node_of, w, n_nodes):
    """Summed weights per final node (events frozen as -1-k count for node k)."""
    kk = w.shape[1]
    s = np.zeros((n_nodes, kk))
    for e in range(w.shape[0]):
        k = node_of[e]
        if k < 0:
            k = -1 - k
        for c in range(kk):
            s[k, c] += w[e, c]
    return s


@nb.njit(**_NB)
def boost_update(node_of, w, values):
    """w' ← w' − w0 · t̂(x) for the training events, with t̂ the leaf value (already × learning rate)."""
    kk = w.shape[1]
    for e in range(w.shape[0]):
        k = node_of[e]
        if k < 0:
            k = -1 - k
        for c in range(1, kk):
            w[e, c] -= w[e, 0] * values[k, c - 1]


@nb.njit(**_NB)
def predict_forest(x, feature, threshold, values, offsets):
    """Sum of the leaf values of all trees.

    feature/threshold: (n_nodes_total,); values: (n_nodes_total, K); offsets: first node of every tree.
    """
    n = x.shape[0]
    k = values.shape[1]
    out = np.zeros((n, k))
    n_trees = offsets.shape[0] - 1
    for e in range(n):
        for t in range(n_trees):
            base = offsets[t]
            node = 0
            while feature[base + node] >= 0:
                go_right = x[e, feature[base + node]] > threshold[base + node]
                node = 2 * node + 1 + go_right
            for c in range(k):
                out[e, c] += values[base + node, c]
    return out
