"""From files to padded tensors: new variables, selection, standardisation, padding, labels, weights,
DataLoader.

Padding is done on whole jagged arrays with one numpy gather (no per-jet Python loop): for ``constant``
mode the
slots past a jet's last particle hold ``pad_value``; for ``wrap`` mode they repeat the jet's particles from
the
start, as weaver-core does (the mask input is always ``constant``, so the model ignores them either way).
"""

from __future__ import annotations

import functools
import glob
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.data.config import DataConfig
from higgsflow.data.expr import evaluate
from higgsflow.data.io import iter_tables, list_columns, num_entries
from higgsflow.errors import ConfigError, DataError, SchemaError

__all__ = [
    "JetArrays",
    "auto_standardize",
    "build_arrays",
    "expand_files",
    "iter_arrays",
    "load_arrays",
    "make_dataloader",
    "pad_jagged",
]

log = logging.getLogger(__name__)


@dataclass
class JetArrays:
    """Model-ready arrays for N jets: ``inputs[name]`` (N, C, L) float32, ``label`` (N,) int64 (simple
    labels) or
    ``targets`` (N, K) float32 (custom labels), ``weight`` (N,) float32, ``observers[name]`` (N,),
    ``target_values[name]`` (N,) float32 (the config's regression ``targets``)."""

    inputs: dict[str, np.ndarray]
    label: np.ndarray | None
    weight: np.ndarray
    observers: dict[str, np.ndarray] = field(default_factory=dict)
    targets: np.ndarray | None = None
    target_values: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.weight)

    @staticmethod
    def concatenate(parts: Sequence[JetArrays]) -> JetArrays:
        if not parts:
            raise DataError("no jets to concatenate")
        p0 = parts[0]
        return JetArrays(
            inputs={k: np.concatenate([p.inputs[k] for p in parts]) for k in p0.inputs},
            label=None if p0.label is None else np.concatenate([p.label for p in parts]),
            weight=np.concatenate([p.weight for p in parts]),
            observers={k: np.concatenate([p.observers[k] for p in parts]) for k in p0.observers},
            targets=None if p0.targets is None else np.concatenate([p.targets for p in parts]),
            target_values={k: np.concatenate([p.target_values[k] for p in parts]) for k in p0.target_values},
        )

    def subset(self, index: np.ndarray) -> JetArrays:
        return JetArrays(
            inputs={k: v[index] for k, v in self.inputs.items()},
            label=None if self.label is None else self.label[index],
            weight=self.weight[index],
            observers={k: v[index] for k, v in self.observers.items()},
            targets=None if self.targets is None else self.targets[index],
            target_values={k: v[index] for k, v in self.target_values.items()},
        )


def expand_files(patterns: Sequence[str | os.PathLike[str]], *, field: str | None = None) -> list[str]:
    """File names from names, glob patterns (``train_*.root``, ``data/**/*.parquet``) and shard manifests
    (``jets.manifest.json``, written by ``higgsflow generate jets --shard-size``), each pattern's matches sorted, a
    manifest's shards in its order, in the order given; a pattern that matches nothing, or a manifest that is
    unreadable or lists a missing shard, raises :class:`DataError` naming it."""
    out: list[str] = []
    for p in patterns:
        p = os.fspath(p)
        if glob.has_magic(p):
            found = sorted(glob.glob(os.path.expanduser(p), recursive=True))  # noqa: PTH207, PTH111 (absolute patterns)
            if not found:
                raise DataError("no file matches the pattern", file=p, field=field)
        else:
            found = [p]
        for f in found:
            out.extend(manifest_files(f, field=field) if f.endswith(MANIFEST_SUFFIX) else [f])
    return list(dict.fromkeys(out))


#: the suffix of a shard manifest written by ``generate_jets(..., shard_size=N)``
MANIFEST_SUFFIX = ".manifest.json"


def manifest_files(path: str | os.PathLike[str], *, field: str | None = None) -> list[str]:
    """The shard files a manifest lists (``{"shards": [{"file": "jets_00000.root", ...}, ...]}``), resolved
    relative to the manifest's folder; each must exist."""
    import json

    path = os.fspath(path)
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as fh:  # noqa: PTH123, PTH111
            data = json.load(fh)
    except FileNotFoundError:
        raise DataError("shard manifest not found", file=path, field=field) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"unreadable shard manifest ({exc})", file=path, field=field) from None
    shards = data.get("shards") if isinstance(data, dict) else None
    if not isinstance(shards, list) or not all(
        isinstance(s, dict) and isinstance(s.get("file"), str) for s in shards
    ):
        raise DataError(
            "not a shard manifest",
            file=path,
            field="shards",
            expected='a list of {"file": NAME, ...} entries',
        )
    folder = os.path.dirname(path)  # noqa: PTH120
    files = []
    for s in shards:
        f = os.path.join(folder, os.path.expanduser(s["file"]))  # noqa: PTH118, PTH111 (absolute names stay so)
        if not os.path.isfile(f):  # noqa: PTH113
            raise DataError(f"shard {f} listed in the manifest is missing", file=path, field=field)
        files.append(f)
    return files


def pad_jagged(
    values: Any,
    length: int,
    *,
    mode: str = "constant",
    pad_value: float = 0.0,
    transform: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Pad/truncate a jagged (or flat: one element per row) array to ``(N, length)`` float32, vectorised.

    ``transform`` (e.g. the standardisation) is applied to the real values only, before padding.
    """
    arr = values if isinstance(values, ak.Array) else ak.Array(values)
    if arr.ndim == 1:
        x = ak.to_numpy(arr).astype(np.float32)
        return _flat_padded(transform(x) if transform else x, length, mode, pad_value)
    counts = ak.to_numpy(ak.num(arr, axis=1)).astype(np.int64)
    flat = ak.to_numpy(ak.flatten(arr, axis=1)).astype(np.float32, copy=False)
    if transform is not None:
        flat = np.asarray(transform(flat), dtype=np.float32)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    pos = np.arange(length, dtype=np.int64)[None, :]
    n = counts[:, None]
    if mode == "wrap":
        idx = offsets[:-1, None] + pos % np.maximum(n, 1)
        valid = np.broadcast_to(n > 0, idx.shape)
    else:
        idx = offsets[:-1, None] + pos
        valid = pos < n
    out = np.full((len(counts), length), pad_value, dtype=np.float32)
    if flat.size:
        out[valid] = flat[idx[valid]]
    return out


def _flat_padded(x: np.ndarray, length: int, mode: str, pad_value: float) -> np.ndarray:
    out = np.full((len(x), length), pad_value, dtype=np.float32)
    if mode == "wrap":
        out[:] = x[:, None]
    else:
        out[:, 0] = x
    return out


class _Table(Mapping):
    """Lazily computes new variables (in dependency order) on top of the file's branches."""

    def __init__(self, raw: ak.Array, config: DataConfig, file: str | None) -> None:
        self.raw, self.config, self.file = raw, config, file
        self.cache: dict[str, Any] = {}
        self._active: set[str] = set()
        self._fields = set(raw.fields)

    def __getitem__(self, name: str) -> Any:
        if name in self.cache:
            return self.cache[name]
        if name in self.config.new_variables:
            if name in self._active:
                raise ConfigError("new variable depends on itself", file=self.config.source, field=name)
            self._active.add(name)
            try:
                value = evaluate(self.config.new_variables[name], self, field=f"new_variables.{name}")
            except (ConfigError, DataError):
                raise
            except Exception as exc:
                raise ConfigError(
                    f"cannot evaluate {self.config.new_variables[name]!r}: {exc}",
                    file=self.file,
                    field=f"new_variables.{name}",
                ) from None
            finally:
                self._active.discard(name)
        elif name in self._fields:
            value = self.raw[name]
        else:
            raise SchemaError(
                "variable not found",
                file=self.file,
                field=name,
                expected="a branch of the file or a new_variable",
            )
        self.cache[name] = value
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields | set(self.config.new_variables))

    def __len__(self) -> int:
        return len(self._fields | set(self.config.new_variables))


def _check_finite(values: Any, *, file: str | None, name: str, row_offset: int) -> None:
    if isinstance(values, ak.Array):
        flat = ak.to_numpy(ak.flatten(values, axis=None)) if values.ndim > 1 else ak.to_numpy(values)
    else:
        flat = np.asarray(values)
    if (
        flat.dtype.kind not in "fc" or np.isfinite(flat).all()
    ):  # the common case, without awkward broadcasting
        return
    arr = values if isinstance(values, ak.Array) else ak.Array(np.asarray(values))
    bad = ~np.isfinite(arr)
    row_bad = ak.to_numpy(ak.any(bad, axis=1)) if arr.ndim > 1 else ak.to_numpy(bad)
    if row_bad.any():
        row = int(np.flatnonzero(row_bad)[0])
        raise DataError(
            "NaN or inf value", file=file, field=name, row=row + row_offset, expected="finite values"
        )


def _standardize(x: Any, var) -> Any:
    if var.center is None:
        return x
    if var.center == "auto":
        raise ConfigError(
            "auto standardisation parameters are missing; run auto_standardize first",
            field=var.name,
        )
    return np.clip((x - var.center) * var.scale, var.clip_min, var.clip_max)


def build_arrays(
    config: DataConfig,
    raw: ak.Array,
    *,
    train: bool = True,
    file: str | os.PathLike[str] | None = None,
    row_offset: int = 0,
    reweight: bool = True,
    labelled: bool = True,
) -> JetArrays:
    """Turn a table read from a file into model-ready arrays following ``config``. With ``labelled=False``
    (scoring files without truth, e.g. real data) the labels and regression targets are not read.

    Raises :class:`SchemaError` for a variable the file lacks, :class:`DataError` for NaN/inf or labels
    that are
    not one-hot (naming file, variable and row).
    """
    file = os.fspath(file) if file is not None else None
    table = _Table(raw, config, file)
    n = len(raw)
    sel_expr = config.selection if train else config.test_time_selection
    keep = None
    if sel_expr:
        keep = ak.to_numpy(ak.Array(evaluate(sel_expr, table, field="selection"))).astype(bool)
    labels = targets = None
    if not labelled:
        pass
    elif config.label_type == "simple":
        mat = np.stack([ak.to_numpy(table[c]).astype(np.float64) for c in config.label_names], axis=1)
        bad = (mat.sum(axis=1) != 1) | ((mat != 0) & (mat != 1)).any(axis=1)
        if keep is not None:
            bad &= keep
        if bad.any():
            raise DataError(
                "labels are not one-hot",
                file=file,
                field=", ".join(config.label_names),
                row=int(np.flatnonzero(bad)[0]) + row_offset,
                expected="exactly one of the label branches equal to 1",
            )
        labels = mat.argmax(axis=1).astype(np.int64)
    else:
        cols = []
        for k, e in config.label_exprs.items():
            v = ak.to_numpy(ak.Array(evaluate(e, table, field=f"labels.{k}"))).astype(np.float32)
            _check_finite(v, file=file, name=k, row_offset=row_offset)
            cols.append(v.reshape(n, -1))
        targets = np.concatenate(cols, axis=1)
    target_values = {}
    for k, e in getattr(config, "targets", {}).items() if labelled else ():
        v = ak.to_numpy(ak.Array(evaluate(e, table, field=f"targets.{k}"))).astype(np.float32).reshape(n)
        _check_finite(v if keep is None else np.where(keep, v, 0.0), file=file, name=k, row_offset=row_offset)
        target_values[k] = v
    inputs = {}
    for gname, g in config.inputs.items():
        rows = []
        for var in g.variables:
            x = table[var.name]
            _check_finite(x, file=file, name=var.name, row_offset=row_offset)
            rows.append(
                pad_jagged(
                    x,
                    g.length,
                    mode=g.pad_mode,
                    pad_value=var.pad_value,
                    transform=None if var.center is None else functools.partial(_standardize, var=var),
                )
            )
        inputs[gname] = np.stack(rows, axis=1)
    observers = {o: ak.to_numpy(table[o]) for o in (*config.observers, *config.monitor_variables)}
    weight = np.ones(n, dtype=np.float32)
    if train and config.weights is not None and config.weights.get("use_precomputed_weights"):
        for b in config.weights["weight_branches"]:
            weight = weight * ak.to_numpy(table[b]).astype(np.float32)
    out = JetArrays(
        inputs=inputs,
        label=labels,
        weight=weight,
        observers=observers,
        targets=targets,
        target_values=target_values,
    )
    if (
        train
        and reweight
        and config.weights is not None
        and not config.weights.get("use_precomputed_weights")
    ):
        out.observers.update(
            {f"_rw_{b}": ak.to_numpy(table[b]).astype(np.float64) for b in config.weights["reweight_vars"]}
        )
        out.observers["_rw_class"] = np.stack(
            [ak.to_numpy(table[c]) for c in config.weights["reweight_classes"]], axis=1
        ).argmax(axis=1)
    if keep is not None:
        out = out.subset(np.flatnonzero(keep))
    return out


def flat_weights(config: DataConfig, arrays: JetArrays) -> np.ndarray:
    """weaver-style flat reweighting: per class, weight ∝ 1/(jets in the (var1, var2) bin), so every class
    is flat
    in the two variables, times the class weight; jets outside the bins get weight 0 when
    ``reweight_discard_under_overflow`` (weaver drops them). Normalised to mean 1 over weighted jets."""
    w = config.weights
    assert w is not None
    (v1, b1), (v2, b2) = list(w["reweight_vars"].items())
    x, y = arrays.observers[f"_rw_{v1}"], arrays.observers[f"_rw_{v2}"]
    b1, b2 = np.asarray(b1, float), np.asarray(b2, float)
    if not w["reweight_discard_under_overflow"]:
        x = np.clip(x, b1[0], b1[-1])
        y = np.clip(y, b2[0], b2[-1])
    cls = arrays.observers["_rw_class"]
    ix = np.searchsorted(b1, x, side="right") - 1
    iy = np.searchsorted(b2, y, side="right") - 1
    ix = np.where(x == b1[-1], len(b1) - 2, ix)
    iy = np.where(y == b2[-1], len(b2) - 2, iy)
    inside = (ix >= 0) & (ix < len(b1) - 1) & (iy >= 0) & (iy < len(b2) - 1)
    weight = np.zeros(len(x))
    ref = None
    for c, cw in enumerate(w["class_weights"]):
        sel = (cls == c) & inside
        if not sel.any():
            continue
        hist = np.zeros((len(b1) - 1, len(b2) - 1))
        np.add.at(hist, (ix[sel], iy[sel]), 1.0)
        if w["reweight_method"] == "ref" and ref is None:
            ref = hist
        # bins with very few jets would get huge weights: cap at the threshold's percentile like weaver
        floor = np.percentile(hist[hist > 0], w["reweight_threshold"])
        target = ref if ref is not None else np.ones_like(hist)
        ratio = np.where(hist > 0, target / np.maximum(hist, floor), 0.0)
        wc = ratio[ix[sel], iy[sel]]
        weight[sel] = cw * wc / wc.sum()
    if weight.sum() <= 0:
        raise DataError("all weights are zero after reweighting", field=f"{v1}, {v2}")
    nz = weight > 0
    return (weight * nz.sum() / weight.sum()).astype(np.float32)


def iter_arrays(
    files: Sequence[str | os.PathLike[str]],
    config: DataConfig,
    *,
    train: bool = True,
    step: int = 50_000,
    reweight: bool = True,
    labelled: bool | None = None,
) -> Iterator[tuple[str, JetArrays]]:
    """Yield ``(file, arrays)`` chunk by chunk (at most ``step`` jets each), reading only the needed
    branches. ``labelled=False`` never reads the labels and targets (scoring: rows without a class, such as
    the jets of an event file that match no flavour class, are scored too); None reads them when present."""
    branches = sorted(config.file_branches(train=train))
    for f in files:
        f = os.fspath(f)
        if num_entries(f, tree=config.treename) == 0:
            raise DataError("file holds no jets", file=f, expected="at least one entry")
        read, labelled_f = branches, True
        if labelled is False and not train:
            read, labelled_f = sorted(config.file_branches(train=False, labelled=False)), False
        elif not train:  # scoring: a file without the truth (real data) is scored without labels
            without = config.file_branches(train=False, labelled=False)
            missing = set(branches) - without - set(list_columns(f, tree=config.treename))
            if missing:  # only truth branches are missing (anything else fails when read, naming it)
                read, labelled_f = sorted(without), False
                log.info("%s has no %s: scored without labels", f, ", ".join(sorted(missing)))
        offset = 0
        for raw in iter_tables(f, read, step=step, tree=config.treename):
            yield (
                f,
                build_arrays(
                    config,
                    raw,
                    train=train,
                    file=f,
                    row_offset=offset,
                    reweight=reweight,
                    labelled=labelled_f,
                ),
            )
            offset += len(raw)


def load_arrays(
    files: Sequence[str | os.PathLike[str]],
    config: DataConfig,
    *,
    train: bool = True,
    step: int = 50_000,
    max_jets: int | None = None,
) -> JetArrays:
    """Read all ``files`` (in chunks) into one :class:`JetArrays`; with ``train``, sample weights are
    computed."""
    if not files:
        raise DataError("no input files given", expected="at least one .root or .parquet file")
    parts = []
    total = 0
    for _, arr in iter_arrays(files, config, train=train, step=step):
        parts.append(arr)
        total += len(arr)
        if max_jets is not None and total >= max_jets:
            break
    out = JetArrays.concatenate(parts)
    if max_jets is not None:
        out = out.subset(np.arange(min(max_jets, len(out))))
    if train and config.weights is not None and not config.weights.get("use_precomputed_weights"):
        out.weight = flat_weights(config, out)
    out.observers = {k: v for k, v in out.observers.items() if not k.startswith("_rw_")}
    if len(out) == 0:
        raise DataError("no jets left after the selection", file=os.fspath(files[0]), field="selection")
    return out


def auto_standardize(
    config: DataConfig,
    files: Sequence[str | os.PathLike[str]],
    *,
    save: bool = True,
    max_jets: int = 200_000,
    seed: int = 0,
) -> DataConfig:
    """Compute the auto standardisation (median, 1/max(p84 − p50, p50 − p16)) of every ``auto`` variable on
    the
    given training files, store it next to the config (``<config>.auto.yaml``) with ``save``, return the
    config."""
    if not config.needs_auto_standardization:
        return config
    names = [v.name for g in config.inputs.values() for v in g.variables if v.center == "auto"]
    branches = sorted(config.file_branches(train=True))
    values: dict[str, list[np.ndarray]] = {n: [] for n in names}
    total = 0
    for f in files:
        for raw in iter_tables(f, branches, step=50_000, tree=config.treename):
            table = _Table(raw, config, os.fspath(f))
            for n in names:
                x = table[n]
                x = ak.flatten(x, axis=None) if isinstance(x, ak.Array) else np.ravel(x)
                values[n].append(ak.to_numpy(x).astype(np.float64))
            total += len(raw)
            if total >= max_jets:
                break
    params = {}
    for n in names:
        a = np.concatenate(values[n])
        a = a[np.isfinite(a)]
        if a.size == 0:
            raise DataError("no finite values to standardise", field=n)
        low, center, high = np.percentile(a, [16, 50, 84])
        scale = max(high - center, center - low)
        params[n] = {"center": float(center), "scale": float(1.0 if scale == 0 else 1.0 / scale)}
        log.info("auto standardisation %s: center=%g scale=%g", n, center, params[n]["scale"])
    out = config.with_params(params)
    if save and config.source:
        src = Path(config.source)
        dest = src if src.name.endswith(".auto.yaml") else src.with_name(src.name + ".auto.yaml")
        out.dump(dest)
        out.source = os.fspath(dest)
    return out


class _TorchDataset:
    """Map-style dataset whose items are whole batches (indexed by a list of jet indices): one numpy gather
    per batch instead of one Python call per jet. A batch is a dict: ``inputs`` (name → tensor), ``label``,
    ``targets`` (name → tensor), ``weight`` and the numeric per-jet ``observers`` (never model inputs)."""

    def __init__(self, arrays: JetArrays, input_names: Sequence[str]) -> None:
        self.arrays, self.names = arrays, list(input_names)
        self.observers = [
            k
            for k, v in arrays.observers.items()
            if not k.startswith("_rw_")
            and isinstance(v, np.ndarray)
            and v.ndim == 1
            and v.dtype.kind in "biuf"
        ]

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index):
        import torch

        a = self.arrays
        index = np.asarray(index)
        y = a.label[index] if a.label is not None else a.targets[index]
        return {
            "inputs": {n: torch.from_numpy(a.inputs[n][index]) for n in self.names},
            "label": torch.from_numpy(np.asarray(y)),
            "targets": {k: torch.from_numpy(v[index]) for k, v in a.target_values.items()},
            "weight": torch.from_numpy(a.weight[index]),
            "observers": {k: torch.from_numpy(np.asarray(a.observers[k][index])) for k in self.observers},
        }


def make_dataloader(
    arrays: JetArrays,
    input_names: Sequence[str],
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    num_workers: int = 0,
    drop_last: bool = False,
    sampler: Any = None,
):
    """A torch DataLoader over in-memory arrays yielding dict batches (``inputs``, ``label``, ``targets``,
    ``weight``, ``observers``).

    Shuffling uses a generator seeded with ``seed`` (call ``loader.generator.manual_seed(seed + epoch)``
    per epoch
    for reproducible epochs); ``sampler`` (e.g. a DistributedSampler) replaces the default one.
    """
    import torch

    gen = torch.Generator()
    gen.manual_seed(seed)
    if sampler is None:
        sampler = (
            torch.utils.data.RandomSampler(range(len(arrays)), generator=gen)
            if shuffle
            else torch.utils.data.SequentialSampler(range(len(arrays)))
        )
    batches = torch.utils.data.BatchSampler(sampler, batch_size=batch_size, drop_last=drop_last)
    loader = torch.utils.data.DataLoader(
        _TorchDataset(arrays, input_names), sampler=batches, batch_size=None, num_workers=num_workers
    )
    loader.seed_generator = gen  # type: ignore[attr-defined]
    return loader
