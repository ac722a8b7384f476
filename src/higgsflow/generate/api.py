"""``generate_jets``: seeded chunks of jets per class, run in-process or on Dask, merged into one file or shards.

The work is cut into chunks (a class and a chunk number); the seed of each chunk comes from the
master seed, the class name and the chunk number through :class:`numpy.random.SeedSequence`, so the output of a
seed is identical whatever the number of workers. Finished chunks are kept in a hidden folder next to the output
(``.<name>.parts``), so an interrupted run resumes where it stopped; the folder is removed once the output is
written (atomically, by :func:`higgsflow.data.io.write_table`).

With ``shard_size`` the output is a set of shard files (``NAME_00000.root``, ...) of about ``shard_size`` jets, each
holding every class in proportion, shuffled, plus a manifest ``NAME.manifest.json`` listing them. A shard is
written as soon as the chunks it takes jets from are finished, and those chunks are then deleted: the submitting
process holds one shard at a time, never the whole output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import shutil
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.data.io import file_format, read_metadata, read_table, write_table
from higgsflow.errors import ConfigError, DataError

__all__ = ["MANIFEST_SUFFIX", "generate_jets", "parse_resonance_mass"]

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
    shard_size: int | None = None,
    **options: Any,
) -> Path:
    """Generate ``n_jets`` jets of each class into one JetClass-schema file (ROOT or Parquet by suffix), or shards.

    Parameters
    ----------
    classes:
        Class names (``QCD, Hbb, Hcc, Hgg, H4q, Hqql, Zqq, Wqq, Tbqq, Tbl``, the options ``Hss, Hqq,
        Htautau`` and the 37 GloParT classes of :data:`higgsflow.generate.processes.GLOPART_CLASSES`), as a list
        or a comma-separated string.
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
    shard_size:
        Write shards of about this many jets instead of one file: ``NAME_00000.SUFFIX``, ``NAME_00001.SUFFIX``, ...
        next to ``output`` (``NAME.SUFFIX``), each with every class in proportion and shuffled (seeded), and the
        manifest ``NAME.manifest.json`` listing them (a file list for ``higgsflow train --train``). Must be at
        least the number of classes. The returned path is the manifest's.
    progress:
        Called with the number of jets finished, as they finish.
    options:
        ``pythia_settings`` (extra Pythia settings for every chunk, e.g. ``["Tune:pp = 21"]``), ``pileup``
        (mean number of minimum-bias interactions per event; 0, the default, means none), ``detector_shift``
        (a shifted detector as a mismodelling proxy, e.g. ``{"ip_resolution": 1.2, "tracking_efficiency": 0.97,
        "neutral_energy_scale": 1.05}``: the same events as with the nominal detector, see
        :func:`higgsflow.generate.detector.simulate`),
        ``max_events`` (per chunk, safety limit), ``store_truth`` (add the true pT of each track).

    Returns the path written (the manifest with ``shard_size``). Without shards, jets are ordered by class (in the
    order given), then by chunk.
    """
    from higgsflow.generate.jets import JET_TYPES, ChunkSpec
    from higgsflow.generate.processes import (
        AK4_CLASSES,
        CLASSES,
        GLOPART_CLASSES,
        JETCLASS_LABELS,
        parse_classes,
    )
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
    unknown = set(options) - {"max_events", "store_truth", "pythia_settings", "pileup", "detector_shift"}
    if unknown:
        raise ConfigError(
            f"unknown option {sorted(unknown)[0]!r}",
            field="options",
            expected="max_events, store_truth, pythia_settings, pileup, detector_shift",
        )
    from higgsflow.generate.detector import parse_shift

    shift = parse_shift(options.get("detector_shift"))
    user_settings = tuple(str(x) for x in (options.get("pythia_settings") or ()))
    pileup = float(options.get("pileup") or 0.0)
    if not (0.0 <= pileup <= 200.0):
        raise ConfigError(
            f"bad pile-up {pileup!r}", field="pileup", expected="a mean number of interactions 0–200"
        )
    if shard_size is not None and (
        isinstance(shard_size, bool)
        or not isinstance(shard_size, (int, np.integer))
        or shard_size < len(names)
    ):
        raise ConfigError(
            f"bad shard size {shard_size!r}",
            field="shard_size",
            expected=f"an integer ≥ the number of classes ({len(names)}), so that every shard holds every class",
        )
    mass_range = parse_resonance_mass(resonance_mass) if isinstance(resonance_mass, str) else resonance_mass
    output = Path(output)
    if shard_size is None:
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
                low = min(max(mass_range[0], all_classes[name].mass_min), mass_range[1])
                u = np.random.default_rng(np.random.SeedSequence([seed, crc, k, 99])).uniform(
                    low, mass_range[1]
                )
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
                    detector_shift=tuple(sorted(shift.items())),
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
        **({"detector_shift": shift} if shift else {}),
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    parts_dir = output.parent / f".{output.name}.parts"
    base_labels = AK4_LABELS if jet_type == "ak4" else JETCLASS_LABELS
    label_names = list(base_labels) + [n for n in names if n not in base_labels]
    if any(n in GLOPART_CLASSES for n in names):  # all 37, so that any GloParT file fits the 37-class config
        label_names += [g for g in GLOPART_CLASSES if g not in label_names]
    metadata = {
        "generator": "higgsflow.generate.generate_jets",
        "settings": settings,
        "versions": _versions(),
        "detector": "parametric CMS model after the Delphes card of JetClass-II (docs/generate.md)",
        "processes": {
            n: {"process": all_classes[n].process, "pythia": list(all_classes[n].settings)} for n in names
        },
    }
    if shard_size is not None:
        plan = _ShardPlan(output, names, int(n_jets), int(chunk_size), int(shard_size))
        resuming = _matching_parts_dir(parts_dir, digest)
        plan.check_outputs(overwrite, resuming)
        _prepare_parts_dir(parts_dir, digest)
        return _generate_shards(
            plan, specs, parts_dir, resuming, label_names, metadata, int(seed), workers, scheduler, progress
        )
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

    columns, n_events = _merge(chunk_files, specs, label_names)
    metadata = {
        **metadata,
        "events_generated": n_events,
        "chunk_resonance_masses": {
            f"{s.name}_{s.meta['chunk']}": s.meta["resonance_mass"] for s in specs if s.meta["resonance_mass"]
        },
    }
    write_table(output, columns, metadata=metadata, overwrite=overwrite)
    shutil.rmtree(parts_dir, ignore_errors=True)
    log.info("wrote %s: %d jets", output, len(columns["jet_pt"]))
    return output


def _matching_parts_dir(parts_dir: Path, digest: str) -> bool:
    """True if ``parts_dir`` holds the chunks of an interrupted run with the same settings."""
    manifest = parts_dir / "settings.sha256"
    return parts_dir.is_dir() and manifest.is_file() and manifest.read_text().strip() == digest


def _prepare_parts_dir(parts_dir: Path, digest: str) -> None:
    manifest = parts_dir / "settings.sha256"
    if parts_dir.exists():
        if _matching_parts_dir(parts_dir, digest):
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


def _run_dask(
    todo,
    workers: int,
    scheduler: str | None,
    progress: ProgressCallback | None,
    on_chunk: Callable[[Any], None] | None = None,
    task: Callable[..., int] | None = None,
) -> None:
    """Run ``task(spec, path, None)`` (default :func:`_run_and_write`) for every (spec, path) of ``todo`` on
    Dask workers; ``progress`` gets each task's return value (a count) as tasks finish."""
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
                task or _run_and_write, spec, str(path), None, key=f"higgsflow-jets-{path.name}-{os.getpid()}"
            ): spec
            for spec, path in todo
        }
        for fut in as_completed(futures):
            n = fut.result()
            if progress is not None:
                progress(n)
            if on_chunk is not None:  # e.g. write the shards this chunk completes
                on_chunk(futures[fut])
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


def _read_chunk(f: Path, spec) -> tuple[ak.Array, int]:
    """A finished chunk's jets and the number of events generated for them; its size is checked."""
    t = read_table(f)
    if len(t) != spec.n_jets:
        raise DataError(f"chunk has {len(t)} jets", file=f, expected=f"{spec.n_jets}")
    return t, int(read_metadata(f).get("n_events", 0))


def _labelled(t: ak.Array, name: str, label_names: list[str]) -> dict[str, Any]:
    cols = {k: t[k] for k in t.fields}
    for lab in label_names:
        cols[f"label_{lab}"] = np.full(len(t), 1.0 if lab == name else 0.0, dtype=np.float32)
    return cols


def _merge(chunk_files: list[Path], specs, label_names: list[str]) -> tuple[dict, dict[str, int]]:
    tables = []
    n_events: dict[str, int] = {}
    for f, spec in zip(chunk_files, specs, strict=True):
        t, events = _read_chunk(f, spec)
        n_events[spec.name] = n_events.get(spec.name, 0) + events
        tables.append(_labelled(t, spec.name, label_names))
    return _concatenate(tables), n_events


def _concatenate(tables: list[dict[str, Any]]) -> dict[str, Any]:
    """Columns of several pieces joined, in the JetClass order: part_, label_, jet_, aux_, the rest."""
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
    return merged


#: the suffix of a shard manifest (``higgsflow.data.loader.expand_files`` expands it into the shards it lists)
MANIFEST_SUFFIX = ".manifest.json"
#: entropy that separates the within-shard shuffle from the chunks' seeds
_SHUFFLE_TAG = 0x5348_4152


class _ShardPlan:
    """Which jets go to which shard: shard s takes class c's jets [s·N/S, (s+1)·N/S) (N jets per class, S shards),
    so every shard holds every class in proportion and the shards together hold each jet exactly once."""

    def __init__(self, output: Path, names: list[str], n_jets: int, chunk_size: int, shard_size: int) -> None:
        self.output = output
        self.names = list(names)
        self.n_jets = n_jets
        self.chunk_size = chunk_size
        self.shard_size = shard_size
        self.n_chunks = math.ceil(n_jets / chunk_size)
        self.n_shards = math.ceil(len(names) * n_jets / shard_size)
        self.manifest = output.parent / f"{output.stem}{MANIFEST_SUFFIX}"
        self.paths = [self.shard_path(s) for s in range(self.n_shards)]

    def shard_path(self, s: int) -> Path:
        return self.output.parent / f"{self.output.stem}_{s:05d}{self.output.suffix}"

    def bounds(self, s: int) -> tuple[int, int]:
        return s * self.n_jets // self.n_shards, (s + 1) * self.n_jets // self.n_shards

    def pieces(self, s: int) -> list[tuple[int, int, int]]:
        """(chunk index in class-major order, first row, end row) of every chunk slice shard ``s`` takes."""
        a, b = self.bounds(s)
        cs = self.chunk_size
        out = []
        for ci in range(len(self.names)):
            for k in range(a // cs, (b - 1) // cs + 1):
                out.append((ci * self.n_chunks + k, max(a, k * cs) - k * cs, min(b, (k + 1) * cs) - k * cs))
        return out

    def class_counts(self, s: int) -> dict[str, int]:
        a, b = self.bounds(s)
        return {name: b - a for name in self.names}

    def existing_shards(self) -> list[Path]:
        """Files next to the output named like one of its shards (of this or another shard count)."""
        pattern = re.compile(re.escape(self.output.stem) + r"_\d{5}" + re.escape(self.output.suffix) + "$")
        if not self.output.parent.is_dir():
            return []
        return sorted(p for p in self.output.parent.iterdir() if pattern.match(p.name))

    def check_outputs(self, overwrite: bool, resuming: bool) -> None:
        from higgsflow.outputs import check_output

        file_format(self.output)
        if self.output.is_dir():
            raise DataError(
                "output is a directory", file=self.output, expected="a .root or .parquet file path"
            )
        check_output(self.manifest, overwrite=overwrite, what="manifest")
        existing = self.existing_shards()
        if existing and not (
            resuming or overwrite
        ):  # shards of an interrupted run with these settings resume
            raise DataError("output exists (use --overwrite)", file=existing[0])


def _shard_is_finished(path: Path, s: int, n_shards: int, settings: dict[str, Any]) -> bool:
    """True if ``path`` is shard ``s`` of ``n_shards`` written with ``settings`` (by an interrupted run)."""
    try:
        meta = read_metadata(path)
    except (DataError, OSError, ValueError):  # unreadable: written again
        return False
    return meta.get("shard") == s and meta.get("n_shards") == n_shards and meta.get("settings") == settings


def _generate_shards(
    plan: _ShardPlan,
    specs,
    parts_dir: Path,
    resuming: bool,
    label_names: list[str],
    metadata: dict[str, Any],
    seed: int,
    workers: int,
    scheduler: str | None,
    progress: ProgressCallback | None,
) -> Path:
    """Run the chunks the unfinished shards need and write each shard as soon as its chunks are done."""
    settings = {**metadata["settings"], "shard_size": plan.shard_size}
    metadata = {**metadata, "settings": settings}
    n_shards = plan.n_shards
    chunk_files = [parts_dir / f"{s.name}_{s.meta['chunk']:05d}.parquet" for s in specs]
    pieces = [plan.pieces(s) for s in range(n_shards)]
    # shards of an interrupted run with the same settings are kept; any other file named like a shard is replaced
    finished = [
        resuming and p.is_file() and _shard_is_finished(p, s, n_shards, settings)
        for s, p in enumerate(plan.paths)
    ]
    for p in plan.existing_shards():
        if p not in plan.paths or not finished[plan.paths.index(p)]:
            p.unlink()
    users: dict[int, set[int]] = {}  # chunk → the unfinished shards that take jets from it
    for s in range(n_shards):
        if not finished[s]:
            for i, _, _ in pieces[s]:
                users.setdefault(i, set()).add(s)
    done = {i for i in users if chunk_files[i].is_file()}
    missing = [0 if finished[s] else sum(i not in done for i, _, _ in pieces[s]) for s in range(n_shards)]
    # the chunks of the first shards run first, so that shards are written (and their chunks freed) early
    todo = sorted((i for i in users if i not in done), key=lambda i: (min(users[i]), i))
    if any(finished) or done:
        log.info("resuming: %d of %d shards and %d chunks already done", sum(finished), n_shards, len(done))
    if progress is not None and len(todo) < len(specs):
        progress(sum(s.n_jets for s in specs) - sum(specs[i].n_jets for i in todo))

    def write(s: int) -> None:
        _write_shard(plan, s, pieces[s], specs, chunk_files, label_names, metadata, seed)
        finished[s] = True
        for i, _, _ in pieces[s]:
            users[i].discard(s)
            if not users[i]:  # no unfinished shard needs it any more
                chunk_files[i].unlink(missing_ok=True)

    def chunk_done(i: int) -> None:
        done.add(i)
        for s in sorted(users[i]):
            missing[s] -= 1
            if missing[s] == 0:
                write(s)

    index = {(s.name, s.meta["chunk"]): i for i, s in enumerate(specs)}
    try:
        for s in range(n_shards):  # shards whose chunks were all finished before an interruption
            if not finished[s] and missing[s] == 0:
                write(s)
        if todo and workers == 1 and scheduler is None:
            for i in todo:
                _run_and_write(specs[i], str(chunk_files[i]), progress)
                chunk_done(i)
        elif todo:
            _run_dask(
                [(specs[i], chunk_files[i]) for i in todo],
                workers,
                scheduler,
                progress,
                on_chunk=lambda spec: chunk_done(index[spec.name, spec.meta["chunk"]]),
            )
    except BaseException:
        if not any(finished) and not any(parts_dir.glob("*.parquet")):  # nothing worth resuming
            shutil.rmtree(parts_dir, ignore_errors=True)
        raise
    if not all(finished):  # pragma: no cover - every chunk ran, so every shard was written
        raise DataError("some shards were not written", file=parts_dir)
    _write_manifest(plan, metadata, seed)
    shutil.rmtree(parts_dir, ignore_errors=True)
    log.info("wrote %s: %d jets in %d shards", plan.manifest, len(plan.names) * plan.n_jets, n_shards)
    return plan.manifest


def _write_shard(
    plan: _ShardPlan,
    s: int,
    pieces: list[tuple[int, int, int]],
    specs,
    chunk_files: list[Path],
    label_names: list[str],
    metadata: dict[str, Any],
    seed: int,
) -> None:
    """Shard ``s`` from its chunk slices: classes mixed, rows in a seeded random order."""
    tables = []
    events: dict[str, float] = {}
    masses: dict[str, float] = {}
    for i, lo, hi in pieces:
        spec = specs[i]
        t, n_events = _read_chunk(chunk_files[i], spec)
        tables.append(_labelled(t[lo:hi], spec.name, label_names))
        # each chunk's events are shared among the shards in proportion to the jets they take from it
        events[spec.name] = events.get(spec.name, 0.0) + n_events * (hi - lo) / spec.n_jets
        if spec.meta["resonance_mass"]:
            masses[f"{spec.name}_{spec.meta['chunk']}"] = spec.meta["resonance_mass"]
    cols = _concatenate(tables)
    n = len(cols["jet_pt"]) if "jet_pt" in cols else len(next(iter(cols.values())))
    perm = np.random.default_rng(np.random.SeedSequence([seed, _SHUFFLE_TAG, s])).permutation(n)
    cols = {k: ak.to_packed(v[perm]) if isinstance(v, ak.Array) else v[perm] for k, v in cols.items()}
    meta = {
        **metadata,
        "shard": s,
        "n_shards": plan.n_shards,
        "events_generated": {k: round(v, 6) for k, v in events.items()},
        "chunk_resonance_masses": masses,
    }
    write_table(plan.paths[s], cols, metadata=meta, overwrite=True)
    log.info("wrote shard %s (%d jets)", plan.paths[s], n)


def _write_manifest(plan: _ShardPlan, metadata: dict[str, Any], seed: int) -> None:
    """``NAME.manifest.json``: the shards (paths relative to the manifest), their jet counts, settings and seed."""
    events: dict[str, float] = {}
    shards = []
    for s, path in enumerate(plan.paths):
        for name, e in (read_metadata(path).get("events_generated") or {}).items():
            events[name] = events.get(name, 0.0) + float(e)
        counts = plan.class_counts(s)
        shards.append({"file": path.name, "entries": sum(counts.values()), "class_counts": counts})
    manifest = {
        "format": "higgsflow jet shards",
        "version": 1,
        "generator": metadata["generator"],
        "seed": seed,
        "entries": len(plan.names) * plan.n_jets,
        "class_counts": {name: plan.n_jets for name in plan.names},
        "events_generated": {name: round(events.get(name, 0.0)) for name in plan.names},
        "settings": metadata["settings"],
        "versions": metadata["versions"],
        "shards": shards,
    }
    tmp = plan.manifest.parent / f".{plan.manifest.name}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(manifest, indent=2) + "\n")
        tmp.replace(plan.manifest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
