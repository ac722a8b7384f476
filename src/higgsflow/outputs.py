"""Check output paths before any work is done, so that a command fails in its first second, not after an hour.

Every command that writes files calls :func:`check_outputs` with all of them before computing anything: a file
that exists without ``overwrite``, a folder where a file should go, or a location the user cannot write to raises
a :class:`~higgsflow.errors.DataError` naming the path (exit code 1 on the command line). Together with writing each
file only once everything is computed, a command writes all its outputs or none.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> check_outputs([d / "a.json", d / "sub" / "b.png"])
[PosixPath('...a.json'), PosixPath('...b.png')]
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from higgsflow.errors import DataError

__all__ = ["check_output", "check_outputs"]


def _writable_dir(folder: Path) -> Path | None:
    """The nearest existing ancestor of ``folder`` if it cannot be written into (or is not a folder), else None."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return probe
    if not os.access(probe, os.W_OK | os.X_OK):
        return probe
    return None


def check_output(
    path: str | os.PathLike[str], *, overwrite: bool = False, folder: bool = False, what: str = "output"
) -> Path:
    """Raise :class:`DataError` unless ``path`` can be written; return it as a ``Path``.

    ``folder=True`` means ``path`` is an output folder (it may exist and be empty, or be replaced with
    ``overwrite``); otherwise a file. Nothing is created.
    """
    path = Path(path)
    if path.exists():
        if folder:
            if not path.is_dir():
                raise DataError(f"{what} folder is a file", file=path, expected="a folder or a new path")
            if any(path.iterdir()) and not overwrite:
                raise DataError(f"{what} folder exists and is not empty (use --overwrite)", file=path)
        else:
            if path.is_dir():
                raise DataError(f"{what} is a folder", file=path, expected="a file name")
            if not overwrite:
                raise DataError(f"{what} exists (use --overwrite)", file=path)
        target = path if folder else path.parent
        if not os.access(target, os.W_OK | os.X_OK) or (not folder and not os.access(path, os.W_OK)):
            raise DataError(f"cannot write {what}: permission denied", file=path)
        return path
    blocked = _writable_dir(path.parent)
    if blocked is not None:
        reason = "not a folder" if blocked.exists() and not blocked.is_dir() else "permission denied"
        raise DataError(f"cannot write {what}: {blocked} {reason}", file=path)
    return path


def check_outputs(
    paths: Iterable[str | os.PathLike[str] | None], *, overwrite: bool = False, what: str = "output"
) -> list[Path]:
    """:func:`check_output` on every path (None entries are skipped) and refuse the same path twice."""
    checked: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        if p is None:
            continue
        out = check_output(p, overwrite=overwrite, what=what)
        key = out.resolve()
        if key in seen:
            raise DataError(f"the same path is given for two {what}s", file=out)
        seen.add(key)
        checked.append(out)
    return checked
