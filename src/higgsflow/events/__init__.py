"""Event-level objects of the ttH(cc) search (docs/tthcc.md): the tt̄+jets truth split (``truth``), reading event
files and CMS NanoAOD into one set of columns, the AK4 tagger's discriminants attached to the jets, the object
selection and the 0L/1L/2L channels (``objects``, ``nano``), pair features of every object pair (``pairs``) and the
27 analysis regions with their pyhf fit (``regions``); the jet-energy-scale and tagger-score variations of the
fit's shape systematics (``systematics``).

The names below import on first use, so that ``higgsflow --help`` stays light.
"""

from __future__ import annotations

from higgsflow._lazy import lazy_exports

_EXPORTS = {
    "TTBAR_CATEGORIES": "higgsflow.events.truth",
    "ttbar_category": "higgsflow.events.truth",
    "CHANNELS": "higgsflow.events.objects",
    "CLASSES": "higgsflow.events.objects",
    "EVENT_FEATURES": "higgsflow.events.objects",
    "LABELS": "higgsflow.events.objects",
    "REQUIRED": "higgsflow.events.objects",
    "TAGGER_FIELDS": "higgsflow.events.objects",
    "Selection": "higgsflow.events.objects",
    "attach_scores": "higgsflow.events.objects",
    "event_features": "higgsflow.events.objects",
    "prepare_events": "higgsflow.events.objects",
    "read_events": "higgsflow.events.objects",
    "select": "higgsflow.events.objects",
    "read_nanoaod_events": "higgsflow.events.nano",
    "event_pair_features": "higgsflow.events.pairs",
    "event_tokens": "higgsflow.events.pairs",
    "TOY_XSEC_PB": "higgsflow.events.toy",
    "SIGNALS": "higgsflow.events.regions",
    "TTJETS": "higgsflow.events.regions",
    "analysis_config": "higgsflow.events.regions",
    "assign_regions": "higgsflow.events.regions",
    "build_fit": "higgsflow.events.regions",
    "check_regions": "higgsflow.events.regions",
    "default_regions": "higgsflow.events.regions",
    "load_regions": "higgsflow.events.regions",
    "read_scored_events": "higgsflow.events.regions",
    "region_columns": "higgsflow.events.regions",
    "write_fit": "higgsflow.events.regions",
    "toy_events": "higgsflow.events.toy",
    "JES_UNCERTAINTY": "higgsflow.events.systematics",
    "TAGGER_SHIFTS": "higgsflow.events.systematics",
    "VARIATIONS": "higgsflow.events.systematics",
    "shift_jes": "higgsflow.events.systematics",
    "shift_tagger": "higgsflow.events.systematics",
    "scored_variations": "higgsflow.events.systematics",
    "vary": "higgsflow.events.systematics",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
