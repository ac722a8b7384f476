"""SMEFT simulation-based inference.

Quadratic event weights (`weights`), the analytic ZH model (`zh`), Boosted Information Trees (`bit`). The
names below load on first use, so that ``higgsflow --help`` imports no heavy library.
"""

from higgsflow._lazy import lazy_exports

_EXPORTS = {
    "BITRegressor": "higgsflow.eft.bit",
    "BoostedInformationTree": "higgsflow.eft.bit",
    "EFTInformationTrees": "higgsflow.eft.bit",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
