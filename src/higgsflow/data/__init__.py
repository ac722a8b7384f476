"""Data access: readers and writers of jet/event files, data configs, loaders."""

from higgsflow.data.config import DataConfig, InputGroup, InputVariable
from higgsflow.data.io import (
    FileSummary,
    describe_file,
    file_format,
    iter_tables,
    num_entries,
    read_metadata,
    read_table,
    write_table,
)
from higgsflow.data.loader import (
    JetArrays,
    auto_standardize,
    build_arrays,
    iter_arrays,
    load_arrays,
    pad_jagged,
)

__all__ = [
    "DataConfig",
    "FileSummary",
    "InputGroup",
    "InputVariable",
    "JetArrays",
    "auto_standardize",
    "build_arrays",
    "describe_file",
    "file_format",
    "iter_arrays",
    "iter_tables",
    "load_arrays",
    "num_entries",
    "pad_jagged",
    "read_metadata",
    "read_table",
    "write_table",
]
