"""Realistic jet data: Pythia 8 events, a parametric CMS detector after the Delphes card of
JetClass-II, FastJet
jets, truth labels, and files in the JetClass schema (``higgsflow generate jets``; docs/generate.md)."""

from higgsflow.generate.api import generate_jets, parse_resonance_mass

__all__ = ["generate_jets", "parse_resonance_mass"]
