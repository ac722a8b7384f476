"""A trained SANNT (or CENNT) network as a tool: save, load, score numpy/awkward inputs and files.

A run folder written by ``higgsflow sannt train`` holds the network as ``network.pt`` (a torch state dict, loaded
with ``torch.load(weights_only=True)``: no pickle) and ``network.json`` (its architecture, the feature names in
input order, the classes and the binning of the output). :func:`load` returns a :class:`SanntModel`:

>>> model = load("runs/sannt")                        # doctest: +SKIP
>>> probs = model.predict(events)                     # doctest: +SKIP  softmax of the outputs, float64
>>> bins = model.bins(events)                         # doctest: +SKIP  the bin of each event (int)

The output is binned in one of two ways (``binning`` in ``network.json``; a file without it is ``"score"``):

- ``"nodes"`` (the default of ``higgsflow sannt train``): the network has ``n_outputs`` = C × ``n_bins`` output
  nodes (C = number of POIs + 1) and every node is one bin: an event goes to the bin of its highest output.
  ``predict`` gives the softmax over the nodes, ``bins`` the index of the highest node.
- ``"score"``: the network has C outputs, one class per POI and one for all backgrounds. An event goes to the
  category of its highest output (``category``) and is binned in that output (``score``, in [1/C, 1]) with
  ``n_bins`` equal bins per category, so the fit has C × ``n_bins`` bins.
"""

from __future__ import annotations

import json
import os
import pickle  # only for its UnpicklingError: torch.load(weights_only=True) raises it
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from higgsflow.errors import CheckpointError, DataError

__all__ = ["BINNINGS", "FORMAT", "SanntModel", "load", "predict_files"]

FORMAT = "higgsflow-sannt-network"
#: rows per network call; training and ``predict`` both score a file's rows in these chunks, so the scores of an
#: event are the same bits in both
CHUNK = 65536
#: how the output is binned: one bin per output node, or bins of the highest class score per category
BINNINGS = ("nodes", "score")


class SanntModel:
    """A trained network with its feature names, classes and output binning.

    Attributes
    ----------
    network: the :class:`~higgsflow.sannt.train.ScoreNetwork` (torch module).
    features: input column names, in the network's input order.
    classes: the classes of the training: the POI names, then ``background``.
    pois: the POIs.
    binning: ``"nodes"`` (every output node is a bin) or ``"score"`` (bins of the highest class score).
    n_bins: ``"nodes"``: output nodes per class, so the network has ``n_outputs`` = C × n_bins nodes, one bin
        each; ``"score"``: bins of the highest score per category (C categories, C × n_bins bins in all).
    score_branch: prefix of the branches ``predict`` writes (:meth:`branches`).
    method: ``CENNT``, ``SANNT`` or ``SANNT (fine-tuned)``.
    """

    def __init__(
        self,
        network: Any,
        *,
        features: Sequence[str],
        pois: Sequence[str],
        n_bins: int,
        score_branch: str = "sannt",
        method: str = "SANNT",
        hidden: Sequence[int] = (64, 64),
        binning: str = "score",
    ):
        if binning not in BINNINGS:
            raise DataError(f"binning {binning!r}", field="binning", expected=" or ".join(BINNINGS))
        self.network = network.eval()
        self.features = list(features)
        self.pois = list(pois)
        self.classes = [*self.pois, "background"]
        self.n_bins = int(n_bins)
        self.score_branch = score_branch
        self.method = method
        self.hidden = [int(h) for h in hidden]
        self.binning = binning

    @property
    def n_outputs(self) -> int:
        """Outputs of the network: C × ``n_bins`` nodes (``"nodes"``) or C class scores (``"score"``)."""
        return len(self.classes) * self.n_bins if self.binning == "nodes" else len(self.classes)

    @property
    def edges(self) -> np.ndarray:
        """``"score"``: the bin edges of the score in every category, ``n_bins`` equal bins on [1/C, 1];
        ``"nodes"``: the integer edges 0, 1, ..., ``n_outputs`` of the bin index (bin k is [k, k + 1))."""
        if self.binning == "nodes":
            return np.arange(self.n_outputs + 1, dtype=float)
        return np.linspace(1.0 / len(self.classes), 1.0, self.n_bins + 1)

    def config(self) -> dict[str, Any]:
        """What ``network.json`` holds."""
        return {
            "format": FORMAT,
            "version": 1,
            "features": self.features,
            "pois": self.pois,
            "classes": self.classes,
            "hidden": self.hidden,
            "binning": self.binning,
            "n_bins": self.n_bins,
            "n_outputs": self.n_outputs,
            "edges": self.edges.tolist(),
            "score_branch": self.score_branch,
            "method": self.method,
        }

    def _matrix(self, x: Any) -> np.ndarray:
        """The ``(N, F)`` float32 input matrix of ``x``; DataError (naming the column) for bad input."""
        names = self.features
        if isinstance(x, np.ndarray) and x.dtype.names is None:
            arr = x[:, None] if x.ndim == 1 and len(names) == 1 else x
            if arr.ndim != 2 or arr.shape[1] != len(names):
                raise DataError(
                    f"input of shape {x.shape}",
                    field="features",
                    expected=f"(N, {len(names)}) columns {', '.join(names)}",
                )
            if not np.issubdtype(arr.dtype, np.number):
                raise DataError(f"input of dtype {arr.dtype}", field="features", expected="numbers")
            cols = [arr[:, j] for j in range(len(names))]
        else:
            cols = [self._column(x, name) for name in names]
        out = np.empty((len(cols[0]) if cols else 0, len(names)), dtype=np.float32)
        for j, (name, col) in enumerate(zip(names, cols, strict=True)):
            col64 = np.asarray(col, dtype=np.float64)
            with np.errstate(over="ignore", invalid="ignore"):  # checked just below
                out[:, j] = col64
            bad = ~np.isfinite(out[:, j])
            if bad.any():
                row = int(np.flatnonzero(bad)[0])
                what = "NaN or inf" if not np.isfinite(col64[row]) else f"{col64[row]:g} (beyond float32)"
                raise DataError(f"{what} in input", field=name, row=row, expected="finite values")
        return out

    def _column(self, x: Any, name: str) -> np.ndarray:
        available: list[str]
        if isinstance(x, np.ndarray):  # structured array
            available = list(x.dtype.names or ())
            getter = x.__getitem__
        elif isinstance(x, Mapping):
            available = list(x)
            getter = x.__getitem__
        else:
            import awkward as ak

            if not isinstance(x, ak.Array):
                raise DataError(
                    f"input of type {type(x).__name__}",
                    field="features",
                    expected="a numpy array (N, F), an awkward record array or a mapping of columns",
                )
            available = list(x.fields)
            getter = x.__getitem__
        if name not in available:
            raise DataError(
                f"missing column {name!r}",
                field=name,
                expected="columns " + ", ".join(self.features),
            )
        col = getter(name)
        try:
            import awkward as ak

            if isinstance(col, ak.Array):
                col = ak.to_numpy(col)
        except ValueError as exc:  # jagged
            raise DataError("column is not flat (one number per event)", field=name) from exc
        col = np.asarray(col)
        if col.ndim != 1 or not np.issubdtype(col.dtype, np.number):
            raise DataError(f"column of shape {col.shape}, dtype {col.dtype}", field=name, expected="numbers")
        return col

    def predict(self, x: Any) -> np.ndarray:
        """Softmax of the network's outputs (float64), shape ``(N, n_outputs)``: with ``"nodes"`` binning the
        probability of every output node (bin), with ``"score"`` binning of every class (columns in the order of
        ``classes``). The bin of an event is the highest output (:meth:`bins`).

        ``x``: a numpy array ``(N, F)`` (float32, float64 or integers) with the columns in the order of
        ``features``, or an awkward record array / structured array / mapping with those fields. Raises
        :class:`~higgsflow.errors.DataError` naming the column for NaN or inf, a missing column or a wrong
        number of features.
        """
        import torch

        mat = self._matrix(x)
        out = np.empty((len(mat), self.n_outputs), dtype=np.float64)
        with torch.no_grad():
            for start in range(0, len(mat), CHUNK):
                chunk = torch.from_numpy(mat[start : start + CHUNK])
                out[start : start + CHUNK] = self.network.scores(chunk).numpy()
        return out

    def categorise(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(index, value)`` of the highest output: ``"score"``: the category (index in ``classes``) and its
        score; ``"nodes"``: the bin (output node) and its probability."""
        probs = self.predict(x)
        cat = probs.argmax(1)
        return cat, probs[np.arange(len(probs)), cat]

    def _bins(self, probs: np.ndarray) -> np.ndarray:
        cat = probs.argmax(1)
        if self.binning == "nodes":
            return cat.astype(np.int32)
        score = probs[np.arange(len(probs)), cat]  # open outer bins, as the training histograms
        within = np.searchsorted(self.edges[1:-1], score, side="right")
        return (cat * self.n_bins + within).astype(np.int32)

    def bins(self, x: Any) -> np.ndarray:
        """The bin of every event (int32, 0 ... C × ``n_bins`` − 1): ``"nodes"``: the index of the highest output
        node; ``"score"``: category × ``n_bins`` + the bin of its score."""
        return self._bins(self.predict(x))

    def branches(self, x: Any) -> dict[str, np.ndarray]:
        """The columns ``predict`` adds to a file.

        ``"nodes"``: ``<prefix>_bin`` (int32, the highest output node: the bin), ``<prefix>_score`` (its
        probability) and ``<prefix>_node<k>`` (the probability of every node k). ``"score"``:
        ``<prefix>_score`` (the highest class score), ``<prefix>_category`` (int32, its class index) and
        ``<prefix>_<class>`` per class.
        """
        probs = self.predict(x)
        cat = probs.argmax(1)
        p = self.score_branch
        if self.binning == "nodes":
            out = {
                f"{p}_bin": cat.astype(np.int32),
                f"{p}_score": probs[np.arange(len(probs)), cat],
            }
            for k in range(self.n_outputs):
                out[f"{p}_node{k}"] = np.ascontiguousarray(probs[:, k])
            return out
        out = {
            f"{p}_score": probs[np.arange(len(probs)), cat],
            f"{p}_category": cat.astype(np.int32),
        }
        for j, c in enumerate(self.classes):
            out[f"{p}_{c}"] = np.ascontiguousarray(probs[:, j])
        return out

    def save(self, folder: str | os.PathLike[str], *, overwrite: bool = False) -> tuple[Path, Path]:
        """Write ``network.pt`` (state dict) and ``network.json`` into ``folder``."""
        import torch

        from higgsflow.outputs import check_outputs

        folder = Path(folder)
        weights, config = check_outputs([folder / "network.pt", folder / "network.json"], overwrite=overwrite)
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.network.state_dict(), weights)
        config.write_text(json.dumps(self.config(), indent=1))
        return weights, config


def load(run_dir: str | os.PathLike[str]) -> SanntModel:
    """Load the network of a run folder (``network.json`` and ``network.pt``, no pickle)."""
    import torch

    from higgsflow.sannt.train import ScoreNetwork

    run_dir = Path(run_dir)
    cfg_path, weights = run_dir / "network.json", run_dir / "network.pt"
    for p in (cfg_path, weights):
        if not p.is_file():
            raise CheckpointError("not found", file=p, expected="a run folder of `higgsflow sannt train`")
    try:
        cfg = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"not JSON: {exc}", file=cfg_path) from exc
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise CheckpointError("not a SANNT network description", file=cfg_path, field="format")
    binning = cfg.get("binning", "score")  # saved before node binning existed: score-binned
    if binning not in BINNINGS:
        raise CheckpointError(f"{binning!r}", file=cfg_path, field="binning", expected=" or ".join(BINNINGS))
    try:
        n_feat, n_cls = len(cfg["features"]), len(cfg["pois"]) + 1
        n_out = n_cls * int(cfg["n_bins"]) if binning == "nodes" else n_cls
        net = ScoreNetwork(n_feat, n_out, cfg["hidden"], np.zeros(n_feat), np.ones(n_feat), binning=binning)
        state = torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
        return SanntModel(
            net,
            features=cfg["features"],
            pois=cfg["pois"],
            n_bins=cfg["n_bins"],
            score_branch=cfg.get("score_branch", "sannt"),
            method=cfg.get("method", "SANNT"),
            hidden=cfg["hidden"],
            binning=binning,
        )
    except KeyError as exc:
        raise CheckpointError("missing entry", file=cfg_path, field=str(exc.args[0])) from exc
    except (
        RuntimeError,
        OSError,
        EOFError,
        ValueError,
        pickle.UnpicklingError,
    ) as exc:  # a bad/mismatched file
        raise CheckpointError(f"cannot load the network: {exc}".splitlines()[0], file=weights) from exc


def predict_files(
    run: str | os.PathLike[str] | SanntModel,
    files: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    tree: str = "tree",
) -> list[Path]:
    """Write a copy of each file (ROOT or Parquet) into ``out_dir`` with the branches of
    :meth:`SanntModel.branches` added; never overwrites. All outputs are checked before anything is scored."""
    from higgsflow.data.io import read_metadata, read_table, write_table
    from higgsflow.outputs import check_outputs

    out_dir = Path(out_dir)
    files = [Path(f) for f in files]
    dests = check_outputs([out_dir / f.name for f in files])
    for f in files:
        if not f.is_file():
            raise DataError("file not found", file=f)
    model = run if isinstance(run, SanntModel) else load(run)
    written = []
    try:
        for f, dest in zip(files, dests, strict=True):
            table = read_table(f, tree=tree)
            cols = {name: table[name] for name in table.fields}
            try:
                new = model.branches(table)
            except DataError as exc:
                raise DataError(
                    exc.message, file=f, field=exc.field, row=exc.row, expected=exc.expected
                ) from exc
            clash = sorted(set(new) & set(cols))
            if clash:
                raise DataError(
                    "the file already has the score branches",
                    file=f,
                    field=clash[0],
                    expected="an unscored file",
                )
            cols.update(new)
            meta = {
                **read_metadata(f),
                "scored_by": os.fspath(run) if not isinstance(run, SanntModel) else "",
            }
            written.append(write_table(dest, cols, metadata=meta, tree=tree))
    except BaseException:
        for p in written:  # all or nothing
            p.unlink(missing_ok=True)
        raise
    return written
