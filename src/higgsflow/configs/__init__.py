"""Data configs shipped with higgsflow, so that the demos and the event chain work from an installed package.

``examples/tagging/upart_ak4.yaml`` and ``examples/tagging/particlenet_ak4.yaml`` in the repository are links to
these files, and so are ``examples/tthcc/event_part.yaml``, ``dnn.yaml`` and ``regions.yaml`` (``tthcc_event_part``,
``tthcc_dnn``: the event classifier's data configs; ``tthcc_regions``: the 27 regions of the fit).
"""

from __future__ import annotations

from pathlib import Path

from higgsflow.errors import ConfigError

__all__ = ["config_path", "shipped_configs"]

_HERE = Path(__file__).resolve().parent


def shipped_configs() -> list[str]:
    """Names of the shipped data configs (``upart_ak4``, ``particlenet_ak4`` ...)."""
    return sorted(p.stem for p in _HERE.glob("*.yaml"))


def config_path(name: str) -> Path:
    """The path of the shipped data config ``name`` (without ``.yaml``)."""
    path = _HERE / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(
            f"no shipped data config {name!r}", field="config", expected=", ".join(shipped_configs())
        )
    return path
