"""The one error hierarchy of higgsflow.

Every problem a user can cause or fix (a bad config, a file that lacks a branch, a corrupt checkpoint, a fit that
cannot converge) raises a subclass of :class:`HiggsflowError`. Its message names *where* (file, field, row) and
*what was expected*, so the command line can print it as one line without a traceback.

>>> err = SchemaError("branch not found", file="jets.root", field="part_d0val", expected="a jagged float branch")
>>> str(err)
'jets.root: part_d0val: branch not found (expected a jagged float branch)'
>>> isinstance(err, DataError) and isinstance(err, HiggsflowError)
True
"""

from __future__ import annotations

import os

__all__ = [
    "CheckpointError",
    "ConfigError",
    "DataError",
    "FitError",
    "HiggsflowError",
    "ModelError",
    "SchemaError",
    "UsageError",
]


class HiggsflowError(Exception):
    """Base class of every error higgsflow raises on purpose.

    Parameters
    ----------
    message:
        What went wrong, in one sentence without a trailing full stop.
    file:
        The file (config, data, checkpoint) concerned, if any.
    field:
        The key, branch, variable or parameter concerned, if any.
    expected:
        What would have been valid, e.g. ``"one of: QCD, Hbb"`` or ``"a positive integer"``.
    row:
        The entry (jet, event, bin) where the problem was found, if any.
    """

    #: the exit code the command line returns for this kind of error
    exit_code: int = 1

    def __init__(
        self,
        message: str,
        *,
        file: str | os.PathLike[str] | None = None,
        field: str | None = None,
        expected: str | None = None,
        row: int | None = None,
    ) -> None:
        self.message = message
        self.file = os.fspath(file) if file is not None else None
        self.field = field
        self.expected = expected
        self.row = row
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.field is not None:
            where.append(self.field)
        if self.row is not None:
            where.append(f"row {self.row}")
        text = ": ".join([*where, self.message])
        if self.expected is not None:
            text += f" (expected {self.expected})"
        return text

    def __reduce__(self):  # keeps the keyword arguments across pickling (Dask workers, DataLoader workers)
        return (
            _rebuild,
            (type(self), self.message, self.file, self.field, self.expected, self.row),
        )


def _rebuild(cls, message, file, field, expected, row):
    return cls(message, file=file, field=field, expected=expected, row=row)


class ConfigError(HiggsflowError):
    """A configuration (YAML, CLI option, settings dictionary) is invalid or inconsistent."""


class UsageError(ConfigError):
    """The command line itself is wrong (a required option missing): exit code 2, as a usage error."""

    exit_code = 2


class DataError(HiggsflowError):
    """Input data are missing, unreadable, empty or hold invalid values (NaN, inf, negative yields...)."""


class SchemaError(DataError):
    """A file does not follow the expected schema: a branch or column is missing or has the wrong type."""


class ModelError(HiggsflowError):
    """A model cannot be built, loaded or exported."""


class CheckpointError(ModelError):
    """A checkpoint is corrupt, incomplete, or belongs to another architecture."""


class FitError(HiggsflowError):
    """A statistical model cannot be built or a fit / limit / scan failed."""
