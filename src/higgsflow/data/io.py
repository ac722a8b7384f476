"""Reading and writing columnar files (ROOT via uproot, Parquet via awkward/pyarrow), chosen by suffix.

This is the one reader and the one writer of tables in higgsflow: every stage that reads or writes jet or event
files goes through :func:`read_table`, :func:`iter_tables` and :func:`write_table`.

- ROOT files hold one TTree (``tree`` by default, as in JetClass) and the metadata as a JSON ``TObjString`` named
  ``higgsflow_metadata``.
- Parquet files hold one table with the same column names and the metadata as the key ``higgsflow`` of the
  Parquet key-value metadata.

Writing is atomic: the file is written next to its destination under a temporary name and renamed when complete,
so an interrupted run never leaves a half-written file under the final name; an existing file is only replaced with
``overwrite=True``.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.errors import DataError, SchemaError

__all__ = [
    "FileSummary",
    "describe_file",
    "file_format",
    "iter_tables",
    "list_columns",
    "num_entries",
    "read_metadata",
    "read_table",
    "reading",
    "write_table",
]

log = logging.getLogger(__name__)

METADATA_KEY = "higgsflow_metadata"
PARQUET_METADATA_KEY = b"higgsflow"
_SUFFIXES = {".root": "root", ".parquet": "parquet", ".pq": "parquet"}


def file_format(path: str | os.PathLike[str]) -> str:
    """Return ``"root"`` or ``"parquet"`` from the file suffix, or raise :class:`DataError`."""
    suffix = Path(path).suffix.lower()
    try:
        return _SUFFIXES[suffix]
    except KeyError:
        raise DataError(
            f"unknown file type {suffix!r}", file=path, expected="a .root or .parquet file"
        ) from None


#: modules whose exceptions mean a corrupt input (decompressors, binary unpacking, uproot itself)
_DECOMPRESSORS = frozenset({"zlib", "struct", "lz4", "zstandard", "cramjam", "uproot"})


@contextmanager
def reading(path: str | os.PathLike[str], what: str = "ROOT") -> Iterator[None]:
    """Turn a failure *while reading* a file into a :class:`DataError` naming it (a user's file, not a bug).

    uproot and pyarrow raise many kinds for truncated or corrupt files (``OSError: expected Chunk of length ...``,
    ``ValueError``, ``zlib.error``, ``struct.error``, ``ArrowInvalid``); a higgsflow error passes through unchanged.
    """
    try:
        yield
    except DataError:
        raise
    except Exception as exc:
        # what uproot/pyarrow raise on a bad file; zlib/struct/lz4/zstd errors have no common base: their module
        known = (ValueError, EOFError, IndexError, KeyError, TypeError, RuntimeError)
        reader_error = isinstance(exc, known) or type(exc).__module__.split(".")[0] in _DECOMPRESSORS
        # an OSError about another file (e.g. an output) is not a corrupt input
        reader_error |= isinstance(exc, OSError) and (
            exc.filename is None or Path(exc.filename) == Path(path)
        )
        if not reader_error:
            raise
        detail = " ".join(str(exc).split())[:200]
        raise DataError(
            f"cannot read as {what} (truncated or corrupt file?): {type(exc).__name__}: {detail}", file=path
        ) from exc


def _check_exists(path: Path) -> None:
    file_format(path)
    if not path.exists():
        raise DataError("file not found", file=path)
    if path.is_dir():
        raise DataError("is a directory", file=path, expected="a .root or .parquet file")


def _open_tree(path: Path, tree: str):
    import uproot

    try:
        f = uproot.open(path)
    except Exception as exc:  # uproot raises many kinds for corrupt files
        raise DataError(f"cannot open as ROOT: {exc}", file=path) from exc
    keys = {k.split(";")[0] for k in f.keys(recursive=False)}
    if tree not in keys:
        raise SchemaError(
            "tree not found",
            file=path,
            field=tree,
            expected=f"one of the file's objects: {', '.join(sorted(keys)) or 'none'}",
        )
    return f, f[tree]


def _check_complete(path: Path, f, t) -> None:
    """Raise :class:`DataError` if a basket of the tree lies beyond the end of the file (a truncated copy).

    Reads only the branch headers, so it is cheap even for large files.
    """
    size = getattr(f.file.source, "num_bytes", None)
    if size is None:
        return
    # every branch, not only those read: a truncated file is a bad copy, whatever a command reads of it
    for branch in t.branches:
        n = branch.num_baskets
        if not n:
            continue
        ends = np.asarray(branch.member("fBasketSeek")[:n], dtype=np.int64) + np.asarray(
            branch.member("fBasketBytes")[:n], dtype=np.int64
        )
        if ends.max() > size:
            raise DataError(
                f"file is truncated: branch data end at byte {int(ends.max())} but the file "
                f"has {size} bytes (an incomplete copy or download?)",
                file=path,
                field=branch.name,
            )


def _data_branches(t) -> list[str]:
    """The branches of a TTree without the counters uproot adds for jagged groups (``npart``)."""
    counters = {b.count_branch.name for b in t.values() if b.count_branch is not None}
    return [k for k in t.keys() if k not in counters]  # noqa: SIM118 (iterating a TTree yields branches)


def _check_columns(path: Path, available: Sequence[str], columns: Sequence[str] | None) -> None:
    if columns is None:
        return
    missing = [c for c in columns if c not in set(available)]
    if missing:
        raise SchemaError(
            "branch not found" if len(missing) == 1 else f"{len(missing)} branches not found",
            file=path,
            field=", ".join(missing),
            expected="a branch of the file",
        )


def num_entries(path: str | os.PathLike[str], *, tree: str = "tree") -> int:
    """Number of rows (jets or events) in the file."""
    path = Path(path)
    _check_exists(path)
    if file_format(path) == "root":
        f, t = _open_tree(path, tree)
        with f:
            return int(t.num_entries)
    import pyarrow.parquet as pq

    try:
        return int(pq.ParquetFile(path).metadata.num_rows)
    except Exception as exc:
        raise DataError(f"cannot open as Parquet: {exc}", file=path) from exc


def list_columns(path: str | os.PathLike[str], *, tree: str = "tree") -> list[str]:
    """The column (branch) names of the file, without uproot's jagged counters; nothing else is read.

    Raises :class:`DataError` for a missing/unreadable file and :class:`SchemaError` for a missing tree.
    """
    path = Path(path)
    _check_exists(path)
    if file_format(path) == "root":
        f, t = _open_tree(path, tree)
        with f, reading(path):
            return _data_branches(t)
    import pyarrow.parquet as pq

    with reading(path, "Parquet"):
        return list(pq.ParquetFile(path).schema_arrow.names)


def read_table(
    path: str | os.PathLike[str],
    columns: Sequence[str] | None = None,
    *,
    tree: str = "tree",
    entry_start: int | None = None,
    entry_stop: int | None = None,
) -> ak.Array:
    """Read ``columns`` (all if None) of rows ``[entry_start, entry_stop)`` as an awkward record array.

    Raises :class:`DataError` for a missing/unreadable file and :class:`SchemaError` for a missing tree or branch.
    """
    path = Path(path)
    _check_exists(path)
    fmt = file_format(path)
    if fmt == "root":
        f, t = _open_tree(path, tree)
        with f, reading(path):
            _check_columns(path, list(t.keys()), columns)
            _check_complete(path, f, t)
            return t.arrays(
                filter_name=list(columns) if columns is not None else _data_branches(t),
                entry_start=entry_start,
                entry_stop=entry_stop,
                library="ak",
            )
    try:
        import pyarrow.parquet as pq

        available = pq.ParquetFile(path).schema_arrow.names
    except Exception as exc:
        raise DataError(f"cannot open as Parquet: {exc}", file=path) from exc
    _check_columns(path, available, columns)
    cols = list(columns) if columns is not None else None
    if entry_start is None and entry_stop is None:
        with reading(path, "Parquet"):
            return ak.from_parquet(path, columns=cols)
    # a row range reads only the row groups that overlap it
    with reading(path, "Parquet"):
        pf = pq.ParquetFile(path)
        meta = pf.metadata
        n = meta.num_rows
        start, stop, _ = slice(entry_start, entry_stop).indices(n)
        groups, first, offset = [], None, 0
        for g in range(meta.num_row_groups):
            rows = meta.row_group(g).num_rows
            if offset < stop and offset + rows > start:
                groups.append(g)
                first = offset if first is None else first
            offset += rows
        if not groups:
            table = pf.schema_arrow.empty_table()
            table = table.select(cols) if cols is not None else table
            return ak.from_arrow(table)
        table = pf.read_row_groups(groups, columns=cols)
    return ak.from_arrow(table)[start - first : stop - first]


def iter_tables(
    path: str | os.PathLike[str],
    columns: Sequence[str] | None = None,
    *,
    step: int = 100_000,
    tree: str = "tree",
) -> Iterator[ak.Array]:
    """Yield the file in chunks of at most ``step`` rows (lazily; the whole file is never held in memory)."""
    if step <= 0:
        raise DataError("chunk size must be positive", field="step", expected="an integer > 0")
    path = Path(path)
    _check_exists(path)
    if file_format(path) == "root":
        f, t = _open_tree(path, tree)
        with f:
            _check_columns(path, list(t.keys()), columns)
            _check_complete(path, f, t)
            chunks = t.iterate(
                filter_name=list(columns) if columns is not None else _data_branches(t),
                step_size=step,
                library="ak",
            )
            while True:
                with reading(path):
                    chunk = next(chunks, None)
                if chunk is None:
                    return
                yield chunk
    import pyarrow.parquet as pq

    with reading(path, "Parquet"):
        pf = pq.ParquetFile(path)
    _check_columns(path, pf.schema_arrow.names, columns)
    batches = pf.iter_batches(batch_size=step, columns=list(columns) if columns is not None else None)
    while True:
        with reading(path, "Parquet"):
            batch = next(batches, None)
        if batch is None:
            return
        yield ak.from_arrow(batch)


def _as_columns(arrays: Mapping[str, Any] | ak.Array) -> dict[str, Any]:
    if isinstance(arrays, ak.Array):
        return {name: arrays[name] for name in arrays.fields}
    return dict(arrays)


def _validate_lengths(path: Path, cols: Mapping[str, Any]) -> int:
    if not cols:
        raise DataError("nothing to write", file=path, expected="at least one column")
    lengths = {name: len(col) for name, col in cols.items()}
    n = next(iter(lengths.values()))
    bad = [name for name, length in lengths.items() if length != n]
    if bad:
        raise DataError(
            "columns have different lengths",
            file=path,
            field=", ".join(bad),
            expected=f"{n} rows like the first column",
        )
    return n


def write_table(
    path: str | os.PathLike[str],
    arrays: Mapping[str, Any] | ak.Array,
    *,
    metadata: Mapping[str, Any] | None = None,
    tree: str = "tree",
    overwrite: bool = False,
) -> Path:
    """Write flat and jagged columns to ROOT or Parquet (by suffix), atomically, with JSON-able ``metadata``.

    Returns the path written. Raises :class:`DataError` if the file exists and ``overwrite`` is False, if the
    directory cannot be written, or if the columns have different lengths.
    """
    path = Path(path)
    fmt = file_format(path)
    if path.exists() and not overwrite:
        raise DataError("output exists", file=path, expected="a new path, or overwrite=True (--overwrite)")
    cols = _as_columns(arrays)
    _validate_lengths(path, cols)
    parent = path.parent if str(path.parent) else Path()
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the output directory: {exc.strerror}", file=parent) from exc
    if not os.access(parent, os.W_OK):
        raise DataError("directory is not writable", file=parent)
    meta_json = json.dumps(dict(metadata or {}), sort_keys=True, default=_json_default)
    tmp = parent / f".{path.name}.{os.getpid()}.tmp"
    try:
        if fmt == "root":
            _write_root(tmp, cols, meta_json, tree)
        else:
            _write_parquet(tmp, cols, meta_json)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    log.debug("wrote %s (%d columns)", path, len(cols))
    return path


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"metadata value of type {type(obj).__name__} is not JSON-serialisable")


def _write_root(tmp: Path, cols: Mapping[str, Any], meta_json: str, tree: str) -> None:
    import uproot

    branches = _root_branches(cols)
    with uproot.recreate(tmp) as f:
        # mktree makes a TTree (JetClass's layout); assigning a dict would make an RNTuple in recent uproot
        f.mktree(
            tree, {k: v.type.content if isinstance(v, ak.Array) else v.dtype for k, v in branches.items()}
        )
        f[tree].extend(branches)
        f[METADATA_KEY] = meta_json


def _root_branches(cols: Mapping[str, Any]) -> dict[str, Any]:
    """Group jagged columns that share a prefix and counts (``part_px, part_py``) into one record, so uproot writes
    them as ``part_px, part_py`` with a single counter ``npart``, as the JetClass files are laid out."""
    flat: dict[str, Any] = {}
    jagged: dict[str, dict[str, ak.Array]] = {}
    for name, col in cols.items():
        arr = np.ascontiguousarray(col) if isinstance(col, np.ndarray) else ak.to_packed(ak.Array(col))
        if isinstance(arr, ak.Array) and arr.ndim > 1:
            prefix, _, rest = name.partition("_")
            jagged.setdefault(prefix if rest else name, {})[rest or name] = arr
        else:
            flat[name] = ak.to_numpy(arr) if isinstance(arr, ak.Array) else arr
    out = dict(flat)
    for prefix, members in jagged.items():
        counts = [ak.to_numpy(ak.num(a, axis=1)) for a in members.values()]
        same = all(np.array_equal(counts[0], c) for c in counts[1:])
        if same and f"n{prefix}" not in out and prefix not in out:
            out[prefix] = ak.zip(members, depth_limit=2)
        else:
            out.update({f"{prefix}_{k}" if k != prefix else k: v for k, v in members.items()})
    return out


def _write_parquet(tmp: Path, cols: Mapping[str, Any], meta_json: str) -> None:
    import pyarrow.parquet as pq

    columns = {
        k: ak.Array(np.ascontiguousarray(v) if isinstance(v, np.ndarray) else v) for k, v in cols.items()
    }
    table = ak.to_arrow_table(ak.zip(columns, depth_limit=1))
    existing = table.schema.metadata or {}
    table = table.replace_schema_metadata({**existing, PARQUET_METADATA_KEY: meta_json.encode()})
    pq.write_table(table, tmp)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata dictionary higgsflow stored in the file (empty if it holds none)."""
    path = Path(path)
    _check_exists(path)
    if file_format(path) == "root":
        import uproot

        with reading(path), uproot.open(path) as f:
            if METADATA_KEY not in {k.split(";")[0] for k in f.keys(recursive=False)}:
                return {}
            return json.loads(str(f[METADATA_KEY]))
    import pyarrow.parquet as pq

    with reading(path, "Parquet"):
        meta = pq.ParquetFile(path).schema_arrow.metadata or {}
    raw = meta.get(PARQUET_METADATA_KEY)
    return json.loads(raw) if raw else {}


@dataclass
class FileSummary:
    """What a jet/event file holds, grouped by the JetClass prefixes."""

    path: str
    format: str
    entries: int
    groups: dict[str, list[str]] = field(default_factory=dict)
    label_counts: dict[str, int] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


_GROUPS = ("part_", "sv_", "jet_", "label_", "aux_")


def describe_file(path: str | os.PathLike[str], *, tree: str = "tree") -> FileSummary:
    """Summarise a file: branches grouped by JetClass prefix, label counts, stored metadata.

    Labels must be one-hot (exactly one ``label_*`` equal to 1 per row): a row that is not raises
    :class:`DataError` naming it.
    """
    path = Path(path)
    fmt = file_format(path)
    n = num_entries(path, tree=tree)
    if fmt == "root":
        f, t = _open_tree(path, tree)
        with f:
            _check_complete(path, f, t)
            names = _data_branches(t)
    else:
        import pyarrow.parquet as pq

        with reading(path, "Parquet"):
            names = pq.ParquetFile(path).schema_arrow.names
    groups: dict[str, list[str]] = {g: [] for g in (*_GROUPS, "other")}
    for name in names:
        groups[next((g for g in _GROUPS if name.startswith(g)), "other")].append(name)
    groups = {g: v for g, v in groups.items() if v}
    label_counts: dict[str, int] = {}
    labels = groups.get("label_", [])
    if labels and n:
        table = read_table(path, labels, tree=tree)
        mat = np.stack([ak.to_numpy(table[c]).astype(np.float64) for c in labels], axis=1)
        total = mat.sum(axis=1)
        bad = np.flatnonzero((total != 1) | ((mat != 0) & (mat != 1)).any(axis=1))
        if bad.size:
            raise DataError(
                "labels are not one-hot",
                file=path,
                field=", ".join(labels),
                row=int(bad[0]),
                expected="exactly one label_* equal to 1 per row",
            )
        label_counts = {c: int(mat[:, i].sum()) for i, c in enumerate(labels)}
    return FileSummary(
        path=os.fspath(path),
        format=fmt,
        entries=n,
        groups=groups,
        label_counts=label_counts,
        metadata=read_metadata(path),
    )
