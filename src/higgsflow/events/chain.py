"""Several event files (or CMS NanoAOD files) to the file(s) the event classifier trains on and the fit reads:
:func:`prepare_files`, what ``higgsflow events prepare`` runs.

For each input: read it (:func:`~higgsflow.events.read_events`, or
:func:`~higgsflow.events.nano.read_nanoaod_events` for a NanoAOD file, whose tagger scores are stored), attach
the AK4 tagger's discriminants from its scored jets file (:func:`~higgsflow.events.attach_scores`), select the
objects and the channel (:func:`~higgsflow.events.select`), keep the events of ``channels`` and add the
high-level features ``hl_<name>``. The inputs are concatenated into one file, or split at random into several
(``split``: e.g. train/val/test). With ``variation`` (``jes:up``, ``tag_c:down`` ...) the events are shifted
before the selection (:mod:`higgsflow.events.systematics`): the inputs of the fit's shape systematics.

**Weights stay cross sections.** Each event's ``weight`` (pb) is rescaled so that every output still adds up to
the inputs' cross sections:

- ``split``: an input's events are divided among the outputs by exact counts; the weights of the events an output
  receives are multiplied by N/N_k (all events of the input / those sent to output k), before the selection;
- ``stitch`` (default on): when several tt̄ files hold events of the same tt̄+jets category — an inclusive file
  and one made with ``--tt-enrich b`` both have tt+b events — each file's events of that category are weighted by
  its share n_f,c / Σ_f' n_f',c of that category's generated events, so that the category's cross section is
  counted once (the estimates of the files are averaged with weights by their numbers of events).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.errors import ConfigError, DataError, HiggsflowError, SchemaError

__all__ = ["fillable_regions", "is_nanoaod", "parse_split", "prepare_files", "split_paths", "stitch_factors"]

log = logging.getLogger(__name__)

_TT_LABELS = ("label_ttlf", "label_ttb", "label_tt2b", "label_ttc", "label_tt2c")


def is_nanoaod(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a CMS NanoAOD file (a ROOT file with an ``Events`` tree holding ``Jet_pt``)."""
    from higgsflow.data.io import file_format, list_columns

    if file_format(path) != "root":
        return False
    try:
        return "Jet_pt" in list_columns(path, tree="Events")
    except SchemaError:
        return False


def parse_split(text: str | Sequence[float] | None) -> dict[str, float] | None:
    """``"0.6,0.2,0.2"`` → {train: 0.6, val: 0.2, test: 0.2}; ``"train=0.5,test=0.5"`` names the parts. The
    fractions must be positive and add up to 1."""
    if text is None:
        return None
    items = text.split(",") if isinstance(text, str) else list(text)
    default = ("train", "val", "test") if len(items) == 3 else ("train", "test") if len(items) == 2 else ()
    out: dict[str, float] = {}
    for i, item in enumerate(items):
        name, _, value = str(item).partition("=") if "=" in str(item) else ("", "", str(item))
        name = name.strip() or (default[i] if i < len(default) else f"part{i}")
        try:
            out[name] = float(value)
        except ValueError:
            raise ConfigError(f"bad fraction {item!r}", field="split", expected="e.g. 0.6,0.2,0.2") from None
    if len(out) < 2 or any(v <= 0 for v in out.values()) or abs(sum(out.values()) - 1.0) > 1e-6:
        raise ConfigError(
            f"bad split {text!r}", field="split", expected="two or more positive fractions adding up to 1"
        )
    return out


def split_paths(out: str | os.PathLike[str], split: Mapping[str, float] | None) -> dict[str, Path]:
    """The output of each part: ``OUT`` itself without ``split``, else ``OUT_<part>.SUFFIX``."""
    out = Path(out)
    if not split:
        return {"all": out}
    return {name: out.with_name(f"{out.stem}_{name}{out.suffix}") for name in split}


def stitch_factors(
    labels: Mapping[str, np.ndarray], processes: Sequence[str | None]
) -> list[dict[str, float]]:
    """Per input file, the factor of each tt̄+jets category's weights (``stitch`` in the module docstring).

    ``labels``: per file (same order as ``processes``) a mapping of the tt̄ label columns to their per-event
    values; ``processes``: each file's process (only ``tt`` files are stitched)."""
    counts = []
    for lab, proc in zip(labels.values(), processes, strict=True):
        counts.append({c: int(np.sum(lab[c] == 1)) if proc == "tt" else 0 for c in _TT_LABELS})
    total = {c: sum(k[c] for k in counts) for c in _TT_LABELS}
    return [
        {c: (k[c] / total[c] if k[c] and proc == "tt" else 1.0) for c in _TT_LABELS}
        for k, proc in zip(counts, processes, strict=True)
    ]


def _read_one(path: Path, scores: Path | None, tagger: str) -> tuple[ak.Array, dict[str, Any]]:
    from higgsflow.data.io import read_metadata
    from higgsflow.events.nano import read_nanoaod_events
    from higgsflow.events.objects import TAGGER_FIELDS, attach_scores, read_events

    if is_nanoaod(path):
        if scores is not None:
            raise ConfigError(
                "a NanoAOD file carries its tagger scores: no scored jets file for it",
                file=path,
                field="--scores",
            )
        return read_nanoaod_events(path, tagger=tagger), {"process": "NanoAOD"}
    events = read_events(path)
    if scores is not None:
        events = attach_scores(events, scores)
    missing = [c for c in TAGGER_FIELDS.values() if c not in events.fields]
    if missing:
        raise SchemaError(
            "no tagger discriminants on the jets",
            file=path,
            field=", ".join(missing),
            expected="--scores <the scored jets file> (higgsflow predict on the events' jets file)",
        )
    try:
        meta = read_metadata(path)
    except HiggsflowError:
        meta = {}
    return events, meta


def prepare_files(
    events: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    scores: Sequence[str | os.PathLike[str] | None] | None = None,
    split: Mapping[str, float] | str | None = None,
    selection: Any = None,
    channels: Sequence[int] = (0, 1, 2),
    stitch: bool = True,
    tagger: str = "PNet",
    seed: int = 1,
    variation: str | tuple[str, str] | None = None,
    variation_sizes: Mapping[str, float] | None = None,
    parts: Sequence[str] | None = None,
    overwrite: bool = False,
) -> dict[str, tuple[Path, int]]:
    """Prepare the event files ``events`` (module docstring) into ``out`` (or ``OUT_<part>`` per part of
    ``split``): ``scores`` gives each event file's scored jets file (same order; None for a file that has its
    discriminants, e.g. NanoAOD). Every output is checked before anything is read, and written only once all
    are computed (a failure leaves none behind). Returns ``{part: (path, events written)}``.

    ``variation`` (``"jes:up"``, ``("tag_c", "down")`` ...: :mod:`higgsflow.events.systematics`) shifts the
    events before the selection (δ from ``variation_sizes`` or the module's defaults): with the same inputs,
    ``split`` and ``seed`` every part holds the same events as the nominal one, re-selected. ``parts`` writes
    only those parts of the split (e.g. ``["test"]``: the events the fit reads)."""
    from higgsflow.data.io import write_table
    from higgsflow.events.objects import LABELS, Selection, event_features, select
    from higgsflow.outputs import check_outputs

    if variation is not None:
        from higgsflow.events.systematics import parse_variation, vary

        variation = parse_variation(variation)
    if split is not None:
        split = parse_split(split if isinstance(split, str) else [f"{k}={v}" for k, v in split.items()])
    paths = split_paths(out, split)
    if parts is not None:
        unknown = [p for p in parts if p not in paths]
        if unknown or not parts:
            raise ConfigError(
                f"unknown part {unknown[0] if unknown else ''!r}", field="parts", expected=", ".join(paths)
            )
    wanted = [name for name in paths if parts is None or name in parts]
    check_outputs([paths[name] for name in wanted], overwrite=overwrite)
    files = [Path(e) for e in events]
    if not files:
        raise ConfigError("no event file given", field="EVENTS")
    scored = list(scores) if scores else [None] * len(files)
    if len(scored) != len(files):
        raise ConfigError(
            f"{len(files)} event files but {len(scored)} scored jets files",
            field="--scores",
            expected="one scored jets file per event file, in the same order",
        )
    sel = (
        selection
        if isinstance(selection, Selection) or selection is None
        else Selection.from_mapping(selection)
    )
    loaded = [
        _read_one(f, None if s is None else Path(s), tagger) for f, s in zip(files, scored, strict=True)
    ]
    processes = [m.get("process") for _, m in loaded]
    factors = (
        stitch_factors(
            {str(i): {c: np.asarray(ev[c]) for c in _TT_LABELS} for i, (ev, _) in enumerate(loaded)},
            processes,
        )
        if stitch
        else [dict.fromkeys(_TT_LABELS, 1.0) for _ in files]
    )
    rng = np.random.default_rng(seed)
    chunks_of: dict[str, list[ak.Array]] = {name: [] for name in wanted}
    info = []
    for f, (ev, meta), fac in zip(files, loaded, factors, strict=True):
        w = np.asarray(ev["weight"], dtype=np.float64)
        for c, k in fac.items():
            if k != 1.0:
                w = np.where(np.asarray(ev[c]) == 1, w * k, w)
        # which part each event goes to (exact counts), and the weight factor of each part
        n = len(ev)
        if split:
            sizes = np.floor(np.array(list(split.values())) * n).astype(int)
            sizes[0] += n - sizes.sum()
            order = rng.permutation(n)
            part_of = np.empty(n, dtype=np.int64)
            start = 0
            for k, size in enumerate(sizes):
                part_of[order[start : start + size]] = k
                start += size
        else:
            sizes = np.array([n])
            part_of = np.zeros(n, dtype=np.int64)
        ev = ak.with_field(ev, w, "weight")
        if variation is not None:
            ev = vary(ev, *variation, sizes=variation_sizes)
        chosen = select(ev, sel)
        keep = np.isin(np.asarray(chosen["channel"]), np.asarray(list(channels)))
        for k, name in enumerate(paths):
            if name not in wanted:
                continue
            mask = keep & (part_of == k)
            if not mask.any():
                continue
            part = chosen[mask]
            scale = n / sizes[k] if sizes[k] else 0.0
            part = ak.with_field(part, np.asarray(part["weight"], dtype=np.float64) * scale, "weight")
            chunks_of[name].append(part)
        info.append(
            {
                "file": os.fspath(f),
                "process": meta.get("process"),
                "tt_enrich": meta.get("tt_enrich"),
                "events": n,
                "selected": int(keep.sum()),
                "stitch": {c.removeprefix("label_"): k for c, k in fac.items() if k != 1.0},
            }
        )
    tables = {}
    for name, chunks in chunks_of.items():
        if not chunks:
            raise DataError(
                "no selected event" + (f" in part {name}" if name != "all" else ""),
                file=", ".join(map(os.fspath, files)),
                field="channel",
                expected="events in the channels " + ", ".join(str(c) for c in channels),
            )
        common = [c for c in chunks[0].fields if all(c in x.fields for x in chunks[1:])]
        table = ak.concatenate([x[common] for x in chunks]) if len(chunks) > 1 else chunks[0]
        feats = event_features(table)
        cols = {c: table[c] for c in table.fields}
        for label in LABELS:  # NanoAOD and generator files alike carry all labels; keep them in order
            if label in cols:
                cols[label] = np.asarray(cols[label], dtype=np.int32)
        cols.update({f"hl_{k}": v for k, v in feats.items()})
        tables[name] = cols
    meta_out = {
        "inputs": info,
        "selection": (sel or Selection()).as_dict(),
        "channels": list(channels),
        "split": split,
        "seed": seed,
    }
    if variation is not None:
        meta_out["variation"] = ":".join(variation)
    written: list[Path] = []
    result = {}
    try:
        for name, cols in tables.items():
            written.append(
                write_table(
                    paths[name], cols, metadata={**meta_out, "part": name}, tree="events", overwrite=overwrite
                )
            )
            result[name] = (paths[name], len(cols["weight"]))
    except BaseException:
        for p in written:
            p.unlink(missing_ok=True)
        raise
    return result


def fillable_regions(
    columns: Mapping[str, Any], regions: Sequence[Mapping[str, Any]], *, file: Any = None
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The regions of ``regions`` the fit can use with these scored events, and the others with the reason: a
    region needs expected events and some tt̄+jets (or QCD) background, as the fit cannot normalise a region
    holding signal only. At full scale every region is kept; small samples leave some without background."""
    from higgsflow.events.regions import SIGNALS, assign_regions, region_columns

    cols = region_columns(columns)
    idx = assign_regions(cols, regions, file=file)
    w = np.asarray(cols["weight"], dtype=np.float64)
    is_sig = np.zeros(len(w), dtype=bool)
    for c in SIGNALS:
        if f"label_{c}" in cols:
            is_sig |= np.asarray(cols[f"label_{c}"]) == 1
    keep, dropped = [], {}
    for i, r in enumerate(regions):
        here = idx == i
        if not np.any(w[here] > 0):
            dropped[r["Name"]] = "no events"
        elif not np.any(w[here & ~is_sig] > 0):
            dropped[r["Name"]] = "no background events"
        else:
            keep.append(dict(r))
    return keep, dropped
