"""The lazy exports of higgsflow.tagging stay functions whatever was imported before."""

from __future__ import annotations

import importlib
import pkgutil

import pytest


@pytest.mark.parametrize(
    "package", ["tagging", "events", "stats", "sannt", "eft", "generate", "train", "data"]
)
def test_no_exported_name_is_also_a_submodule(package):
    # importing a submodule sets the package attribute of that name to the module, hiding an export of that name
    pkg = importlib.import_module(f"higgsflow.{package}")
    subs = {m.name for m in pkgutil.iter_modules(pkg.__path__)}
    assert not set(getattr(pkg, "__all__", [])) & subs


def test_discriminants_is_the_function_after_every_submodule_import():
    import higgsflow.tagging as tagging

    for m in pkgutil.iter_modules(tagging.__path__):
        importlib.import_module(f"higgsflow.tagging.{m.name}")
    from higgsflow.tagging import discriminants, rate_hz

    d = discriminants({"b": [0.5], "c": [0.2], "uds": [0.2], "g": [0.1]})
    assert float(d["BvsAll"][0]) == pytest.approx(0.5)
    assert rate_hz(0.5, 2.0, 1e34) == pytest.approx(0.5 * 2.0e-36 * 1e34)  # ε · σ[pb → cm²] · L
