"""AK4 flavour tagging as CMS uses it: discriminants from class scores (BvsAll, CvsL, CvsB, QvsG and the ttH(cc)
p_B+C, p_BvsC), working points at fixed light-jet mistag with per-flavour efficiencies, (pT, |η|) efficiency maps as
``hist`` objects, and mutually exclusive categories in the (p_B+C, p_BvsC) plane; for higgsflow's scored files and
for CMS NanoAOD's stored scores; AK8 GloParT discriminants (``ak8``) and the emulation of the HH → 4b HLT paths
(``hlt``) (docs/tagging.md).

The names below import on first use, so that ``higgsflow --help`` stays light.
"""

from __future__ import annotations

from higgsflow._lazy import lazy_exports

_EXPORTS = {
    "DISCRIMINANTS": "higgsflow.tagging.formulas",
    "NANOAOD_TAGGERS": "higgsflow.tagging.formulas",
    "check_scores": "higgsflow.tagging.formulas",
    "class_groups": "higgsflow.tagging.formulas",
    "discriminants": "higgsflow.tagging.formulas",
    "from_stored": "higgsflow.tagging.formulas",
    "TaggedJets": "higgsflow.tagging.jets",
    "file_kind": "higgsflow.tagging.jets",
    "flavour_from_labels": "higgsflow.tagging.jets",
    "read_nanoaod_jets": "higgsflow.tagging.jets",
    "read_scored_jets": "higgsflow.tagging.jets",
    "DEFAULT_MISTAGS": "higgsflow.tagging.workingpoints",
    "WorkingPoint": "higgsflow.tagging.workingpoints",
    "efficiency_maps": "higgsflow.tagging.workingpoints",
    "flavour_efficiencies": "higgsflow.tagging.workingpoints",
    "map_efficiency": "higgsflow.tagging.workingpoints",
    "working_points": "higgsflow.tagging.workingpoints",
    "write_efficiency_maps": "higgsflow.tagging.workingpoints",
    "Category": "higgsflow.tagging.categories",
    "CategoryScheme": "higgsflow.tagging.categories",
    "assign_categories": "higgsflow.tagging.categories",
    "category_table": "higgsflow.tagging.categories",
    "check_categories": "higgsflow.tagging.categories",
    "derive_categories": "higgsflow.tagging.categories",
    "load_categories": "higgsflow.tagging.categories",
    "migration_matrix": "higgsflow.tagging.categories",
    "plot_migration": "higgsflow.tagging.categories",
    "plot_flavour_rocs": "higgsflow.tagging.plots",
    "AK8_DISCRIMINANTS": "higgsflow.tagging.ak8",
    "GLOPART3_CLASSES": "higgsflow.tagging.ak8",
    "ak8_discriminants": "higgsflow.tagging.ak8",
    "read_glopart_scores": "higgsflow.tagging.ak8",
    "NANOAOD_PATHS": "higgsflow.tagging.hlt",
    "TALK_PATHS": "higgsflow.tagging.hlt",
    "BTagRequirement": "higgsflow.tagging.hlt",
    "TriggerPath": "higgsflow.tagging.hlt",
    "emulate": "higgsflow.tagging.hlt",
    "emulate_nanoaod": "higgsflow.tagging.hlt",
    "load_paths": "higgsflow.tagging.hlt",
    "threshold_for_rate": "higgsflow.tagging.hlt",
    "rate_hz": "higgsflow.tagging.hlt",
}

__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
