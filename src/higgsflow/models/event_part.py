"""The event-level Particle Transformer of the ttH(cc) search (CMS-PAS-HIG-24-018): the event's objects as tokens
with pair features for every object pair, a multi-class head over ttH(cc), ttH(bb), ttZ(cc), ttZ(bb) and the
tt+jets classes (tt+light, tt+b, tt+≥2b, tt+c, tt+≥2c; QCD optional).

Three token collections, each with its own embedding (its own feature list), concatenated (jets, leptons, MET)
into one sequence as :class:`higgsflow.models.upart.UParT` does through :class:`TokenParT`:

- ``jet``: the selected AK4 jets, kinematics and the four flavour discriminants of the AK4 tagger (BvsAll, CvsL,
  CvsB, QvsG; ``jet_btagB/CvL/CvB/QvG`` of the event file);
- ``lep``: the isolated electrons and muons (kinematics, charge, flavour);
- ``met``: the missing transverse momentum, one token, a massless object with η = 0.

Pair features (ln k_T, ln z, ln Δ, ln m²) of every pair of real tokens come from their four-vectors
(``*_vectors`` = px, py, pz, E; :mod:`higgsflow.physics.pairs`, :mod:`higgsflow.events.pairs`). No token is
trimmed at random in training (an event has few objects, each matters). The data config is
``examples/tthcc/event_part.yaml``.

Input groups: ``jet_features, jet_vectors, jet_mask``, ``lep_*``, ``met_*``. Head: ``logits``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from higgsflow.models.part_sv import TokenParT

__all__ = ["COLLECTIONS", "EventParT"]

#: the token collections, in sequence order
COLLECTIONS = ("jet", "lep", "met")


class EventParT(TokenParT):
    """Event ParT on the model contract; ``forward(inputs)`` returns ``{"logits": (N, K)}``.

    ``EventParT(jet_input_dim, lep_input_dim, met_input_dim, num_classes, **kwargs)``, the keyword arguments of
    :class:`~higgsflow.models.part_sv.TokenParT` with smaller defaults (``defaults``: embeddings (64, 128, 64),
    pair embeddings (32, 32, 32), 4 particle-attention blocks); no token is trimmed."""

    collections = COLLECTIONS
    defaults: ClassVar[dict[str, Any]] = {
        "embed_dims": (64, 128, 64),
        "pair_embed_dims": (32, 32, 32),
        "num_layers": 4,
        "train_trim": False,
    }

    def __init__(
        self, jet_input_dim: int, lep_input_dim: int, met_input_dim: int, num_classes: int, **kwargs: Any
    ) -> None:
        super().__init__(
            (jet_input_dim, lep_input_dim, met_input_dim), num_classes, **{**self.defaults, **kwargs}
        )
