"""SMEFT simulation-based inference.

Quadratic event weights (`weights`), the analytic ZH model (`zh`), Boosted Information Trees (`bit`).
"""

from higgsflow.eft.bit import BITRegressor, BoostedInformationTree, EFTInformationTrees

__all__ = ["BITRegressor", "BoostedInformationTree", "EFTInformationTrees"]
