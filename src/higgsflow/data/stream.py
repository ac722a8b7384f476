"""Streaming training data: the files are read a window at a time, so a dataset larger than memory trains.

weaver-core's fetch-step idea, made exactly reproducible. The files are cut into chunks of consecutive rows
(``chunk_jets``); each epoch the chunks are shuffled and grouped into windows of at most ``fetch_jets`` rows;
one window is in memory (and the next one is read in a background thread while the model trains on it),
its jets are shuffled, and batches are cut from the concatenated window order. Nothing else is held: the
peak memory is about two windows, whatever the number of files.

Before the first epoch one cheap pass reads only the branches of the selection and of the reweighting: it
counts the jets each chunk keeps (so an epoch's number of steps is known in advance) and fills the
reweighting histograms, so the weights of every jet equal those :func:`higgsflow.data.loader.flat_weights`
gives on the whole dataset in memory.

The epoch's jet order is a pure function of ``(seed, epoch)``: batch ``k`` is jets ``[k·B, (k+1)·B)`` of it,
so a resumed run reads only the windows from its position on, and under ``torchrun`` every process reads
the same windows and takes its share (every ``world``-th jet) of each batch, as one process would see it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.data.config import DataConfig
from higgsflow.data.expr import evaluate
from higgsflow.data.io import num_entries, read_table
from higgsflow.data.loader import JetArrays, _Table, _TorchDataset, build_arrays
from higgsflow.errors import DataError

__all__ = ["Chunk", "FlatReweighter", "StreamingData"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Chunk:
    """Rows ``[start, stop)`` of ``file``, of which ``kept`` jets pass the selection."""

    file: str
    start: int
    stop: int
    kept: int

    @property
    def rows(self) -> int:
        return self.stop - self.start


class FlatReweighter:
    """weaver-style flat reweighting from histograms filled chunk by chunk: the same weights as
    :func:`higgsflow.data.loader.flat_weights` gives on all jets at once (per class ∝ 1/(jets in the
    (var1, var2) bin), capped at the ``reweight_threshold`` percentile, times the class weight, normalised to
    mean 1 over the jets with a weight)."""

    def __init__(self, config: DataConfig) -> None:
        w = config.weights
        assert w is not None
        self.w = w
        (self.v1, b1), (self.v2, b2) = list(w["reweight_vars"].items())
        self.b1, self.b2 = np.asarray(b1, float), np.asarray(b2, float)
        n_cls = len(w["class_weights"])
        self.hist = np.zeros((n_cls, len(self.b1) - 1, len(self.b2) - 1))
        self.ratio: np.ndarray | None = None

    def _bins(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b1, b2 = self.b1, self.b2
        if not self.w["reweight_discard_under_overflow"]:
            x, y = np.clip(x, b1[0], b1[-1]), np.clip(y, b2[0], b2[-1])
        ix = np.searchsorted(b1, x, side="right") - 1
        iy = np.searchsorted(b2, y, side="right") - 1
        ix = np.where(x == b1[-1], len(b1) - 2, ix)
        iy = np.where(y == b2[-1], len(b2) - 2, iy)
        inside = (ix >= 0) & (ix < len(b1) - 1) & (iy >= 0) & (iy < len(b2) - 1)
        return ix, iy, inside

    def fill(self, x: np.ndarray, y: np.ndarray, cls: np.ndarray) -> None:
        ix, iy, inside = self._bins(x, y)
        for c in range(len(self.hist)):
            sel = (cls == c) & inside
            np.add.at(self.hist[c], (ix[sel], iy[sel]), 1.0)

    def finish(self) -> None:
        """Turn the histograms into per-bin weights (call once, after the last :meth:`fill`)."""
        w = self.w
        ratio = np.zeros_like(self.hist)
        ref = None
        total = kept = 0.0
        for c, cw in enumerate(w["class_weights"]):
            hist = self.hist[c]
            if not (hist > 0).any():
                continue
            if w["reweight_method"] == "ref" and ref is None:
                ref = hist
            floor = np.percentile(hist[hist > 0], w["reweight_threshold"])
            target = ref if ref is not None else np.ones_like(hist)
            r = np.where(hist > 0, target / np.maximum(hist, floor), 0.0)
            ratio[c] = cw * r / (hist * r).sum()
            total += cw
            kept += hist[ratio[c] > 0].sum()
        if total <= 0:
            raise DataError("all weights are zero after reweighting", field=f"{self.v1}, {self.v2}")
        self.ratio = ratio * kept / total

    def weights(self, x: np.ndarray, y: np.ndarray, cls: np.ndarray) -> np.ndarray:
        assert self.ratio is not None, "FlatReweighter.finish() was not called"
        ix, iy, inside = self._bins(x, y)
        out = np.zeros(len(x))
        out[inside] = self.ratio[cls[inside], ix[inside], iy[inside]]
        return out.astype(np.float32)


class StreamingData:
    """Jets of ``files`` for training, read a window at a time (see the module docstring).

    ``batches(epoch, start=k)`` yields the dict batches (as :func:`higgsflow.data.loader.make_dataloader`)
    of an epoch from batch ``k`` on; ``batch_size`` is the global batch, of which this process (``rank`` of
    ``world``) gets every ``world``-th jet. ``shuffle=False`` keeps the file order (validation).
    """

    def __init__(
        self,
        files: Sequence[str | os.PathLike[str]],
        config: DataConfig,
        input_names: Sequence[str],
        *,
        batch_size: int,
        fetch_jets: int = 100_000,
        chunk_jets: int | None = None,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        train: bool = True,
        max_jets: int | None = None,
        reweighter: FlatReweighter | None = None,
    ) -> None:
        if not files:
            raise DataError("no input files given", expected="at least one .root or .parquet file")
        if fetch_jets <= 0:
            raise DataError("must be positive", field="fetch_jets (--fetch-jets)", expected="jets > 0")
        self.config, self.names = config, list(input_names)
        self.batch_size, self.fetch_jets = int(batch_size), int(fetch_jets)
        # chunks of an eighth of a window (at least 5000 rows: each read has a fixed cost), at most 50 000 rows
        self.chunk_jets = int(
            chunk_jets or min(self.fetch_jets, max(5000, min(50_000, self.fetch_jets // 8)))
        )
        self._cached: tuple[tuple[int, int], JetArrays] | None = None  # a window read ahead (first_window)
        self.shuffle, self.drop_last, self.seed = shuffle, drop_last, seed
        self.rank, self.world, self.train = rank, world, train
        self.branches = sorted(config.file_branches(train=train))
        self.reweight = (
            train and config.weights is not None and not config.weights.get("use_precomputed_weights")
        )
        self.reweighter = reweighter
        self.chunks = self._scan([os.fspath(f) for f in files], max_jets)
        self.n_jets = sum(c.kept for c in self.chunks)
        if self.n_jets == 0:
            raise DataError("no jets left after the selection", file=os.fspath(files[0]), field="selection")
        if self.n_jets < world:
            raise DataError("fewer jets than processes", file=os.fspath(files[0]))
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="higgsflow-fetch")

    # ------------------------------------------------------------------ the pass before the first epoch
    def _scan(self, files: list[str], max_jets: int | None) -> list[Chunk]:
        cfg = self.config
        sel = cfg.selection if self.train else cfg.test_time_selection
        fill = self.reweight and self.reweighter is None
        names: set[str] = set()
        if sel:
            from higgsflow.data.expr import compile_expression

            names |= set(compile_expression(sel))
        if fill:
            names |= set(cfg.weights["reweight_vars"]) | set(cfg.weights["reweight_classes"])
        branches = sorted(cfg.resolve_branches(names))
        rw = FlatReweighter(cfg) if fill else None
        chunks: list[Chunk] = []
        total = 0
        for f in files:
            n = num_entries(f, tree=cfg.treename)
            if n == 0:
                raise DataError("file holds no jets", file=f, expected="at least one entry")
            for a in range(0, n, self.chunk_jets):
                b = min(a + self.chunk_jets, n)
                if max_jets is not None and total >= max_jets:
                    break
                if branches:
                    raw = read_table(f, branches, tree=cfg.treename, entry_start=a, entry_stop=b)
                    table = _Table(raw, cfg, f)
                    keep = (
                        ak.to_numpy(ak.Array(evaluate(sel, table, field="selection"))).astype(bool)
                        if sel
                        else np.ones(b - a, dtype=bool)
                    )
                else:
                    keep = np.ones(b - a, dtype=bool)
                kept = int(keep.sum())
                if max_jets is not None and total + kept > max_jets:
                    # the last chunk is cut at the row where the limit is reached
                    b = a + int(np.flatnonzero(keep)[max_jets - total - 1]) + 1
                    keep, kept = keep[: b - a], max_jets - total
                if rw is not None and kept:
                    ws = cfg.weights
                    x, y = (ak.to_numpy(table[v]).astype(np.float64)[keep] for v in ws["reweight_vars"])
                    cls = np.stack([ak.to_numpy(table[c]) for c in ws["reweight_classes"]], axis=1)
                    rw.fill(x, y, cls.argmax(axis=1)[keep])
                chunks.append(Chunk(f, a, b, kept))
                total += kept
        if rw is not None:
            rw.finish()
            self.reweighter = rw
        return [c for c in chunks if c.kept]

    # ------------------------------------------------------------------ epochs
    def __len__(self) -> int:
        """Batches per epoch."""
        n, b = self.n_jets, self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def windows(self, epoch: int) -> list[list[Chunk]]:
        """The chunks of each window of ``epoch``, in order."""
        order = (
            np.random.default_rng([self.seed, epoch]).permutation(len(self.chunks))
            if self.shuffle
            else np.arange(len(self.chunks))
        )
        out: list[list[Chunk]] = []
        rows = 0
        for i in order:
            c = self.chunks[i]
            if not out or rows + c.rows > self.fetch_jets:
                out.append([])
                rows = 0
            out[-1].append(c)
            rows += c.rows
        return out

    def load_window(self, chunks: Sequence[Chunk], epoch: int = 0, index: int = 0) -> JetArrays:
        """The jets of a window (weights applied), shuffled when the data are."""
        parts = []
        for c in chunks:
            raw = read_table(
                c.file, self.branches, tree=self.config.treename, entry_start=c.start, entry_stop=c.stop
            )
            parts.append(
                build_arrays(
                    self.config, raw, train=self.train, file=c.file, row_offset=c.start, reweight=True
                )
            )
        arr = JetArrays.concatenate(parts)
        if len(arr) != sum(c.kept for c in chunks):
            raise DataError("a file changed while training", file=chunks[0].file)
        if self.reweight and self.reweighter is not None:
            rw = self.reweighter
            arr.weight = rw.weights(
                arr.observers[f"_rw_{rw.v1}"], arr.observers[f"_rw_{rw.v2}"], arr.observers["_rw_class"]
            )
        arr.observers = {k: v for k, v in arr.observers.items() if not k.startswith("_rw_")}
        if self.shuffle:
            arr = arr.subset(np.random.default_rng([self.seed, epoch, index]).permutation(len(arr)))
        return arr

    def batches(self, epoch: int, start: int = 0) -> Iterator[dict[str, Any]]:
        """The batches of ``epoch`` from batch ``start`` on (this process's share of each)."""
        wins = self.windows(epoch)
        n_batches = len(self)
        end = min(n_batches * self.batch_size, self.n_jets)
        pos = start * self.batch_size  # the first jet of the next batch, in the epoch's order
        if pos >= end:
            return
        bounds = np.cumsum([0] + [sum(c.kept for c in w) for w in wins])
        w = int(np.searchsorted(bounds, pos, side="right")) - 1
        if self._cached is not None and self._cached[0] != (epoch, w):
            self._cached = None  # read ahead for another start (a resumed run): not needed
        pending: list[dict[str, Any]] = []  # pieces of the next batch
        have = 0
        future: Future | None = self._submit(wins, epoch, w)
        try:
            while pos < end and future is not None:
                arr = future.result()
                nxt = w + 1
                future = self._submit(wins, epoch, nxt) if nxt < len(wins) else None
                data = _TorchDataset(arr, self.names)
                local = pos - int(bounds[w])  # the window's first jet not yet used
                stop_here = min(int(bounds[w + 1]), end) - int(bounds[w])
                while local < stop_here:
                    take = min(self.batch_size - have, stop_here - local)
                    idx = np.arange(local, local + take)
                    if (
                        self.world > 1
                    ):  # the batch's jets at positions ≡ rank (mod world), as DistributedSampler
                        idx = idx[(int(bounds[w]) + idx) % self.world == self.rank]
                    pending.append(data[idx])
                    have += take
                    local += take
                    if have == self.batch_size or int(bounds[w]) + local == end:
                        yield _merge(pending)
                        pending, have = [], 0
                pos = int(bounds[w + 1])
                w = nxt
        finally:
            if future is not None:
                future.cancel()

    def _submit(self, wins: list[list[Chunk]], epoch: int, index: int) -> Future:
        """Read window ``index`` of ``epoch`` in the background (or hand over the one read ahead)."""
        if self._cached is not None and self._cached[0] == (epoch, index):
            done: Future = Future()
            done.set_result(self._cached[1])
            self._cached = None
            return done
        return self._pool.submit(self.load_window, wins[index], epoch, index)

    def first_window(self) -> JetArrays:
        """The jets of the first window of epoch 0 (to plan the memory of a step); kept until that epoch
        starts, so it is read once."""
        if self._cached is None or self._cached[0] != (0, 0):
            self._cached = ((0, 0), self.load_window(self.windows(0)[0], 0, 0))
        return self._cached[1]

    def close(self) -> None:
        self._cached = None
        self._pool.shutdown(wait=False, cancel_futures=True)


def _merge(pieces: list[dict[str, Any]]) -> dict[str, Any]:
    if len(pieces) == 1:
        return pieces[0]
    import torch

    out: dict[str, Any] = {}
    for k, v in pieces[0].items():
        if isinstance(v, dict):
            out[k] = {n: torch.cat([p[k][n] for p in pieces]) for n in v}
        else:
            out[k] = torch.cat([p[k] for p in pieces])
    return out
