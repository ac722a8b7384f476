"""UParT-AK4 (Unified Particle Transformer, CMS-DP-2024-066): ParT over charged PF, neutral PF and secondary-vertex
tokens with a flavour head and flavour-aware p_T regression heads.

As CMSSW's ParT-AK4/UParT producers, the three collections have their own embeddings (each its own feature
list: the producer uses up to 29 charged × 25, 25 neutral × 8 and 5 SV × 14 features); their tokens are
concatenated (charged, neutral, SV) into one sequence whose pair features (ln k_T, ln z, ln Δ, ln m²) are
computed from the four-vectors of every pair of real tokens. The blocks are those of :mod:`higgsflow.models.part`
through :class:`higgsflow.models.part_sv.TokenParT`. Heads: ``logits`` (the flavour classes of the config's
labels, e.g. b, bb, c, cc, s, ud, g, τh) and one linear output per regression head the config's ``loss`` names
(``pt_corr`` trained with log-cosh, ``pt_q16``/``pt_q84`` with the pinball loss, as the talk's
L = CE + γ_regr·logcosh(y − y_truth) + γ_q·[p₀.₁₆(z − z_truth) + p₀.₈₄(z − z_truth)]).

Input groups: ``cpf_features, cpf_vectors, cpf_mask`` (charged), ``npf_*`` (neutral), ``sv_*``. The data config
makes the charged and neutral collections from the PF candidates by selecting on the charge
(``examples/tagging/upart_ak4.yaml``). Adversarial training is not part of this model.
"""

from __future__ import annotations

from typing import Any

from higgsflow.models.part_sv import TokenParT

__all__ = ["COLLECTIONS", "UParT"]

#: the token collections, in sequence order
COLLECTIONS = ("cpf", "npf", "sv")


class UParT(TokenParT):
    """UParT-AK4 on the model contract; ``forward(inputs)`` returns ``{"logits": (N, K), <head>: (N,)}``.

    ``UParT(cpf_input_dim, npf_input_dim, sv_input_dim, num_classes, **kwargs)``, the keyword arguments of
    :class:`~higgsflow.models.part_sv.TokenParT` (full ParT size by default). Input sizes, classes and regression
    heads come from the data config through :meth:`~higgsflow.models.part_sv.TokenParT.from_config`; the PF
    candidates (charged and neutral) are trimmed at random in training, as ParT's particles."""

    collections = COLLECTIONS
    particle_collections = frozenset({"cpf", "npf"})

    def __init__(
        self, cpf_input_dim: int, npf_input_dim: int, sv_input_dim: int, num_classes: int, **kwargs: Any
    ) -> None:
        super().__init__(
            (cpf_input_dim, npf_input_dim, sv_input_dim), num_classes, **{**self.defaults, **kwargs}
        )
