"""higgsflow: the machine-learning analysis methods of CMS Higgs physics, end to end.

Sub-packages are imported on demand (``import higgsflow.stats``) so that ``import higgsflow`` stays light and
works without the optional extras (torch, pythia8mc, pyhf ...).
"""

from __future__ import annotations

import logging

from higgsflow._version import __version__
from higgsflow.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    FitError,
    HiggsflowError,
    ModelError,
    SchemaError,
)

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "FitError",
    "HiggsflowError",
    "ModelError",
    "SchemaError",
    "__version__",
]

# Library code logs through ``logging.getLogger(__name__)``; the application (CLI, notebook) decides what is shown.
logging.getLogger(__name__).addHandler(logging.NullHandler())
