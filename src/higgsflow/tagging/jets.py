"""Jets with flavour truth and discriminants, read from a scored higgsflow file or from CMS NanoAOD.

Both readers go through :mod:`higgsflow.data.io` and return a :class:`TaggedJets`: one row per jet (NanoAOD's
per-event ``Jet_*`` collections are flattened), the hadron flavour (5 b, 4 c, 0 light, the CMS
``Jet_hadronFlavour`` convention) and the discriminants of :mod:`higgsflow.tagging.formulas`, with -1 for a
jet the tagger did not run on.

- higgsflow files (``higgsflow predict`` output): the class scores ``score_<class>`` give the discriminants, the
  one-hot ``label_<class>`` branches the flavour (b, bb → 5; c, cc → 4; every other class → 0, as CMS counts
  τh, s, ud and g jets as light).
- NanoAOD (tree ``Events`` with ``Jet_pt``): ``Jet_pt``, ``Jet_eta``, ``Jet_hadronFlavour``,
  ``Jet_partonFlavour`` and the stored discriminants of one tagger (``PNet``, ``UParTAK4`` or ``DeepFlav``), from
  which p_B+C and p_BvsC are rebuilt (:func:`~higgsflow.tagging.formulas.from_stored`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np

from higgsflow.errors import DataError, SchemaError
from higgsflow.tagging.formulas import NANOAOD_TAGGERS, discriminants, from_stored

__all__ = [
    "FLAVOURS",
    "TaggedJets",
    "file_kind",
    "flavour_from_labels",
    "read_nanoaod_jets",
    "read_scored_jets",
]

#: hadron flavour → name, in table order
FLAVOURS = {5: "b", 4: "c", 0: "light"}
_NANO_JET = ("Jet_pt", "Jet_eta", "Jet_hadronFlavour", "Jet_partonFlavour")


@dataclass
class TaggedJets:
    """Flat per-jet arrays: ``pt`` (GeV), ``eta``, ``flavour`` (5/4/0, or -1 where unknown) and the discriminants
    (-1 where the tagger did not run)."""

    pt: np.ndarray
    eta: np.ndarray
    flavour: np.ndarray
    disc: dict[str, np.ndarray]
    source: str
    tagger: str = ""
    parton_flavour: np.ndarray | None = None
    path: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.pt.size)

    @property
    def evaluated(self) -> np.ndarray:
        """Jets where every discriminant was computed (no -1 default)."""
        ok = np.ones(len(self), dtype=bool)
        for key in ("BvsAll", "pBplusC", "pBvsC"):
            if key in self.disc:
                ok &= self.disc[key] >= 0
        return ok

    def select(self, mask: np.ndarray) -> TaggedJets:
        """The jets of ``mask``."""
        return TaggedJets(
            pt=self.pt[mask],
            eta=self.eta[mask],
            flavour=self.flavour[mask],
            disc={k: v[mask] for k, v in self.disc.items()},
            source=self.source,
            tagger=self.tagger,
            parton_flavour=None if self.parton_flavour is None else self.parton_flavour[mask],
            path=self.path,
            meta=dict(self.meta),
        )


def _flat(x: Any) -> np.ndarray:
    if isinstance(x, ak.Array) and x.ndim > 1:
        x = ak.flatten(x, axis=None)
    return np.asarray(ak.to_numpy(x) if isinstance(x, ak.Array) else x, dtype=np.float64)


def file_kind(path: str | os.PathLike[str], tree: str | None = None) -> tuple[str, str, list[str]]:
    """``("nanoaod" | "higgsflow", tree, columns)``: NanoAOD is a ROOT file with a tree ``Events`` holding
    ``Jet_pt``; anything else is read as a higgsflow file (tree ``tree`` unless ``tree`` is given)."""
    from higgsflow.data.io import file_format, list_columns

    path = Path(path)
    if tree is None and file_format(path) == "root":
        try:
            cols = list_columns(path, tree="Events")
        except SchemaError as exc:
            if exc.field != "Events":
                raise
        else:
            if "Jet_pt" in cols:
                return "nanoaod", "Events", cols
    tree = tree or "tree"
    cols = list_columns(path, tree=tree)
    if "Jet_pt" in cols and "Jet_hadronFlavour" in cols:
        return "nanoaod", tree, cols
    return "higgsflow", tree, cols


def read_nanoaod_jets(
    path: str | os.PathLike[str], *, tagger: str = "PNet", tree: str = "Events"
) -> TaggedJets:
    """The AK4 jets of a NanoAOD file, flattened over events, with the discriminants of ``tagger`` rebuilt from
    its stored scores (``PNet``: ``Jet_btagPNetB/CvL/CvB/QvG``; ``UParTAK4``: ``Jet_btagUParTAK4B/CvL/CvB/QvG``;
    ``DeepFlav``: ``Jet_btagDeepFlavB/CvL/CvB/QG``)."""
    from higgsflow.data.io import read_table

    if tagger not in NANOAOD_TAGGERS:
        raise SchemaError(
            f"unknown NanoAOD tagger {tagger!r}",
            field="tagger",
            expected="one of: " + ", ".join(NANOAOD_TAGGERS),
        )
    branches = NANOAOD_TAGGERS[tagger]
    table = read_table(path, [*_NANO_JET, *branches.values()], tree=tree)
    stored = {key: _flat(table[b]) for key, b in branches.items()}
    for key, branch in branches.items():
        bad = np.flatnonzero(np.isnan(stored[key]))
        if bad.size:
            raise DataError(f"{bad.size} NaN score(s), first at jet {int(bad[0])}", file=path, field=branch)
    return TaggedJets(
        pt=_flat(table["Jet_pt"]),
        eta=_flat(table["Jet_eta"]),
        flavour=_flat(table["Jet_hadronFlavour"]).astype(np.int64),
        parton_flavour=_flat(table["Jet_partonFlavour"]).astype(np.int64),
        disc={k: np.asarray(v, dtype=np.float64) for k, v in from_stored(stored).items()},
        source="nanoaod",
        tagger=tagger,
        path=os.fspath(path),
    )


def flavour_from_labels(labels: dict[str, np.ndarray], *, file: Any = None) -> np.ndarray:
    """Hadron flavour (5/4/0) from one-hot ``label_<class>`` columns: b, bb, lepb → 5; c, cc → 4; other → 0."""
    from higgsflow.tagging.formulas import _GROUP_OF, _class_name

    if not labels:
        raise SchemaError(
            "no truth labels", file=file, field="label_*", expected="one-hot label_<class> branches"
        )
    names = list(labels)
    mat = np.stack([np.asarray(labels[n], dtype=np.float64) for n in names], axis=1)
    bad = np.flatnonzero(mat.sum(axis=1) != 1)
    if bad.size:
        raise DataError(
            f"{bad.size} jet(s) without exactly one label (first: jet {int(bad[0])})",
            file=file,
            field=", ".join(names),
            expected="one-hot labels",
        )
    code = np.array([{"B": 5, "C": 4}.get(_GROUP_OF.get(_class_name(n), ""), 0) for n in names])
    return code[np.argmax(mat, axis=1)]


def read_scored_jets(
    path: str | os.PathLike[str],
    *,
    tagger: str = "PNet",
    tree: str | None = None,
    sum_to_one: bool = True,
) -> TaggedJets:
    """Jets of a scored higgsflow file (``score_<class>`` + ``label_<class>``) or of a NanoAOD file (``tagger``
    picks the stored scores), by content (:func:`file_kind`)."""
    from higgsflow.data.io import read_table

    kind, tree, cols = file_kind(path, tree)
    if kind == "nanoaod":
        return read_nanoaod_jets(path, tagger=tagger, tree=tree)
    score_cols = [c for c in cols if c.startswith("score_")]
    if not score_cols:
        raise SchemaError(
            "no class scores",
            file=path,
            field="score_*",
            expected="score_<class> branches (higgsflow predict) or a NanoAOD file",
        )
    label_cols = [c for c in cols if c.startswith("label_")]
    kin = [c for c in ("jet_pt", "jet_eta") if c in cols]
    table = read_table(path, [*score_cols, *label_cols, *kin], tree=tree)
    scores = {c: _flat(table[c]) for c in score_cols}
    disc = discriminants(scores, sum_to_one=sum_to_one, file=path)
    n = next(iter(scores.values())).size
    flavour = (
        flavour_from_labels({c: _flat(table[c]) for c in label_cols}, file=path)
        if label_cols
        else np.full(n, -1, dtype=np.int64)
    )
    return TaggedJets(
        pt=_flat(table["jet_pt"]) if "jet_pt" in cols else np.full(n, np.nan),
        eta=_flat(table["jet_eta"]) if "jet_eta" in cols else np.full(n, np.nan),
        flavour=flavour,
        disc={k: np.asarray(v, dtype=np.float64) for k, v in disc.items()},
        source="higgsflow",
        tagger="score_*",
        path=os.fspath(path),
    )
