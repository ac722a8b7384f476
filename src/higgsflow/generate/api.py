"""``generate_jets``: seeded chunks of jets per class, run in-process or on Dask, merged into one file.

The work is cut into chunks (a class and a chunk number); the seed of each chunk comes from the
master seed, the
class name and the chunk number through :class:`numpy.random.SeedSequence`, so the output of a seed
is identical
whatever the number of workers. Finished chunks are kept in a hidden folder next to the output
(``.<name>.parts``), so an interrupted run resumes where it stopped; the folder is removed once the
output file is
written (atomically, by :func:`higgsflow.data.io.write_table`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.data.io import file_format, read_metadata, read_table, write_table
from higgsflow.errors import ConfigError, DataError

__all__ = ["generate_jets", "parse_resonance_mass"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int], None]


def parse_resonance_mass(text: str | None) -> tuple[float, float] | None:
    """``"flat:LOW:HIGH"`` → (LOW, HIGH) in GeV; None stays None."""
    if text is None or text == "":
        return None
    parts = str(text).split(":")
    try:
        if len(parts) != 3 or parts[0] != "flat":
            raise ValueError
        low, high = float(parts[1]), float(parts[2])
    except ValueError:
        raise ConfigError(
            f"bad resonance mass {text!r}",
            field="resonance_mass",
            expected="flat:LOW:HIGH in GeV, e.g. flat:15:250",
        ) from None
    if not (0 < low < high):
        raise ConfigError(
            f"bad resonance mass range {text!r}", field="resonance_mass", expected="0 < LOW < HIGH"
        )
    return low, high


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    from higgsflow._version import __version__

    out = {"higgsflow": __version__}
    for pkg in ("pythia8mc", "fastjet", "numpy", "awkward", "uproot"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:  # pragma: no cover
            out[pkg] = "missing"
    return out


def _check_output(output: Path, overwrite: bool) -> None:
    file_format(output)
    if output.exists() and not overwrite:
        raise DataError("output exists", file=output, expected="a new path, or overwrite=True (--overwrite)")
    if output.is_dir():
        raise DataError("output is a directory", file=output, expected="a .root or .parquet file path")
    parent = output.parent if str(output.parent) else Path()
    probe = parent
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        raise DataError("directory is not writable", file=probe, expected="a writable output location")


def _mass_settings(pid: int, mass: float) -> tuple[str, ...]:
    return (f"{pid}:m0 = {mass:.4f}", f"{pid}:mMin = {0.5 * mass:.4f}", f"{pid}:mMax = {1.5 * mass:.4f}")


def generate_jets(
    classes: Sequence[str] | str,
    n_jets: int,
    output: str | os.PathLike[str],
    *,
    seed: int,
    workers: int = 1,
    jet_type: str = "ak8",
    overwrite: bool = False,
    progress: ProgressCallback | None = None,
    chunk_size: int = 500,
    scheduler: str | None = None,
    resonance_mass: str | tuple[float, float] | None = None,
    **options: Any,
) -> Path:
    """Generate ``n_jets`` jets of each class into one JetClass-schema file (ROOT or Parquet by suffix).

    Parameters
    ----------
    classes:
        Class names (``QCD, Hbb, Hcc, Hgg, H4q, Hqql, Zqq, Wqq, Tbqq, Tbl`` and the options ``Hss, Hqq,
        Htautau``), as a list or a comma-separated string.
    n_jets:
        Jets per class (> 0).
    output:
        The file to write (``.root`` or ``.parquet``); it must not exist unless ``overwrite``.
    seed:
        Master seed; the same seed gives the same file for any ``workers``.
    workers:
        1 runs in this process; more starts a Dask ``LocalCluster`` with that many single-threaded processes.
    scheduler:
        Address of a running Dask scheduler to use instead of a local cluster.
    chunk_size:
        Jets per chunk (the unit of parallel work and of resuming).
    resonance_mass:
        ``"flat:LOW:HIGH"``: draw the resonance mass (GeV) of each chunk uniformly in [LOW, HIGH] (H for the
        Higgs classes, Z, W, t for the others; QCD unaffected), for mass-decorrelated training sets.
    progress:
        Called with the number of jets finished, as they finish.
    options:
        ``pythia_settings`` (extra Pythia settings for every chunk, e.g. ``["Tune:pp = 21"]``), ``pileup``
        (mean number of minimum-bias interactions per event; 0, the default, means none),
        ``max_events`` (per chunk, safety limit), ``store_truth`` (add the true pT of each track).

    Returns the path written. Jets are ordered by class (in the order given), then by chunk.
    """
    from higgsflow.generate.jets import JET_TYPES, ChunkSpec
    from higgsflow.generate.processes import AK4_CLASSES, CLASSES, JETCLASS_LABELS, parse_classes
    from higgsflow.generate.truth import AK4_LABELS

    if jet_type not in JET_TYPES:
        raise ConfigError(
            f"unknown jet type {jet_type!r}", field="jet_type", expected="one of: " + ", ".join(JET_TYPES)
        )
    names = parse_classes(classes, jet_type)
    all_classes = {**CLASSES, **AK4_CLASSES}
    if isinstance(n_jets, bool) or not isinstance(n_jets, (int, np.integer)) or n_jets <= 0:
        raise ConfigError(f"bad number of jets {n_jets!r}", field="n_jets", expected="a positive integer")
    if not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ConfigError(f"bad number of workers {workers!r}", field="workers", expected="an integer ≥ 1")
    if chunk_size < 1:
        raise ConfigError("bad chunk size", field="chunk_size", expected="an integer ≥ 1")
    unknown = set(options) - {"max_events", "store_truth", "pythia_settings", "pileup"}
    if unknown:
        raise ConfigError(
            f"unknown option {sorted(unknown)[0]!r}",
            field="options",
            expected="max_events, store_truth, pythia_settings, pileup",
        )
    user_settings = tuple(str(x) for x in (options.get("pythia_settings") or ()))
    pileup = float(options.get("pileup") or 0.0)
    if not (0.0 <= pileup <= 200.0):
        raise ConfigError(
            f"bad pile-up {pileup!r}", field="pileup", expected="a mean number of interactions 0–200"
        )
    mass_range = parse_resonance_mass(resonance_mass) if isinstance(resonance_mass, str) else resonance_mass
    output = Path(output)
    _check_output(output, overwrite)

    specs: list[ChunkSpec] = []
    for name in names:
        crc = zlib.crc32(name.encode())
        for k in range(math.ceil(n_jets / chunk_size)):
            n_k = min(chunk_size, n_jets - k * chunk_size)
            extra: tuple[str, ...] = user_settings
            mass = None
            res = all_classes[name].resonance
            if mass_range is not None and res:
                u = np.random.default_rng(np.random.SeedSequence([seed, crc, k, 99])).uniform(*mass_range)
                mass = float(u)
                extra = (*user_settings, *_mass_settings(res, mass))
            specs.append(
                ChunkSpec(
                    name=name,
                    n_jets=n_k,
                    seed_entropy=(int(seed), crc, k),
                    jet_type=jet_type,
                    extra_settings=extra,
                    max_events=options.get("max_events"),
                    store_truth_index=bool(options.get("store_truth", False)),
                    pileup=pileup,
                    meta={"chunk": k, "resonance_mass": mass},
                )
            )
    settings = {
        "classes": names,
        "n_jets_per_class": int(n_jets),
        "seed": int(seed),
        "jet_type": jet_type,
        "chunk_size": int(chunk_size),
        "resonance_mass": list(mass_range) if mass_range else None,
        "store_truth": bool(options.get("store_truth", False)),
        "max_events": options.get("max_events"),
        "pythia_settings": list(user_settings),
        "pileup": pileup,
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    parts_dir = output.parent / f".{output.name}.parts"
    _prepare_parts_dir(parts_dir, digest)
    chunk_files = [parts_dir / f"{s.name}_{s.meta['chunk']:05d}.parquet" for s in specs]
    todo = [(s, f) for s, f in zip(specs, chunk_files, strict=True) if not f.exists()]
    if len(todo) < len(specs):
        log.info("resuming: %d of %d chunks already done", len(specs) - len(todo), len(specs))
        if progress is not None:
            progress(sum(s.n_jets for s, f in zip(specs, chunk_files, strict=True) if f.exists()))
    try:
        if todo and workers == 1 and scheduler is None:
            for spec, path in todo:
                _run_and_write(spec, str(path), progress)
        elif todo:
            _run_dask(todo, workers, scheduler, progress)
    except BaseException:
        if not any(parts_dir.glob("*.parquet")):  # nothing worth resuming
            shutil.rmtree(parts_dir, ignore_errors=True)
        raise

    base_labels = AK4_LABELS if jet_type == "ak4" else JETCLASS_LABELS
    label_names = list(base_labels) + [n for n in names if n not in base_labels]
    columns, n_events = _merge(chunk_files, specs, label_names)
    metadata = {
        "generator": "higgsflow.generate.generate_jets",
        "settings": settings,
        "versions": _versions(),
        "detector": "parametric CMS model after the Delphes card of JetClass-II (docs/generate.md)",
        "processes": {
            n: {"process": all_classes[n].process, "pythia": list(all_classes[n].settings)} for n in names
        },
        "events_generated": n_events,
        "chunk_resonance_masses": {
            f"{s.name}_{s.meta['chunk']}": s.meta["resonance_mass"] for s in specs if s.meta["resonance_mass"]
        },
    }
    write_table(output, columns, metadata=metadata, overwrite=overwrite)
    shutil.rmtree(parts_dir, ignore_errors=True)
    log.info("wrote %s: %d jets", output, len(columns["jet_pt"]))
    return output


def _prepare_parts_dir(parts_dir: Path, digest: str) -> None:
    manifest = parts_dir / "settings.sha256"
    if parts_dir.exists():
        if manifest.exists() and manifest.read_text().strip() == digest:
            return
        log.info("discarding chunks of a run with other settings in %s", parts_dir)
        shutil.rmtree(parts_dir)
    try:
        parts_dir.mkdir(parents=True)
    except OSError as exc:
        raise DataError(f"cannot create the work directory: {exc.strerror}", file=parts_dir) from exc
    manifest.write_text(digest + "\n")


def _run_and_write(spec, path: str, progress: ProgressCallback | None = None) -> int:
    """Run one chunk and write it (atomically) to ``path``; returns the number of jets."""
    from higgsflow.generate.jets import run_chunk

    cols = run_chunk(spec, progress=progress)
    n_events = int(cols.pop("_n_events"))
    write_table(
        path,
        cols,
        metadata={"n_events": n_events, "name": spec.name, "chunk": spec.meta["chunk"]},
        overwrite=True,
    )
    return len(cols["jet_pt"])


def _run_dask(todo, workers: int, scheduler: str | None, progress: ProgressCallback | None) -> None:
    import dask
    from dask.distributed import Client, LocalCluster, as_completed

    # The worker processes stay quiet: their tasks' errors reach this process through the futures, and what they
    # would log on a Ctrl-C (cancelled tasks, a heartbeat to a scheduler that has gone) says nothing to the user.
    # A worker that dies is still reported by its nanny, which runs in this process.
    dask.config.set({"logging.distributed": "error"})
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "critical")  # read by the worker processes at start-up
    if scheduler is not None:
        client = Client(scheduler)
        cluster = None
    else:
        cluster = LocalCluster(
            n_workers=int(workers), threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
    try:
        futures = {
            client.submit(
                _run_and_write, spec, str(path), None, key=f"higgsflow-jets-{path.name}-{os.getpid()}"
            ): spec
            for spec, path in todo
        }
        for fut in as_completed(futures):
            n = fut.result()
            if progress is not None:
                progress(n)
    except BaseException:
        # interrupted or failed: stop the workers without Dask's shutdown warnings (cancelled tasks, killed
        # workers), which say nothing the user needs after a Ctrl-C
        for name in ("distributed", "tornado", "asyncio"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        raise
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _merge(chunk_files: list[Path], specs, label_names: list[str]) -> tuple[dict, dict[str, int]]:
    tables = []
    n_events: dict[str, int] = {}
    for f, spec in zip(chunk_files, specs, strict=True):
        t = read_table(f)
        n_events[spec.name] = n_events.get(spec.name, 0) + int(read_metadata(f).get("n_events", 0))
        n = len(t)
        if n != spec.n_jets:
            raise DataError(f"chunk has {n} jets", file=f, expected=f"{spec.n_jets}")
        cols = {k: t[k] for k in t.fields}
        for lab in label_names:
            cols[f"label_{lab}"] = np.full(n, 1.0 if lab == spec.name else 0.0, dtype=np.float32)
        tables.append(cols)
    keys = list(tables[0])
    order = [k for k in keys if k.startswith("part_")] + [k for k in keys if k.startswith("label_")]
    order += [k for k in keys if k.startswith("jet_")] + [k for k in keys if k.startswith("aux_")]
    order += [k for k in keys if k not in order]
    merged: dict[str, Any] = {}
    for k in order:
        vals = [t[k] for t in tables]
        if isinstance(vals[0], ak.Array) and vals[0].ndim > 1:
            merged[k] = ak.concatenate(vals)
        else:
            merged[k] = np.concatenate([ak.to_numpy(v) if isinstance(v, ak.Array) else v for v in vals])
    return merged, n_events
