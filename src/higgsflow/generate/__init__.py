"""Realistic jet data: Pythia 8 events, a parametric CMS detector after the Delphes card of
JetClass-II, FastJet
jets, truth labels, and files in the JetClass schema (``higgsflow generate jets``), and whole events for event-level analyses
(``higgsflow generate events``; docs/generate.md).

The names below import on first use, so that ``higgsflow --help`` stays light.
"""

from __future__ import annotations

from higgsflow._lazy import lazy_exports

_EXPORTS = {
    "generate_events": "higgsflow.generate.events",
    "generate_jets": "higgsflow.generate.api",
    "parse_resonance_mass": "higgsflow.generate.api",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
