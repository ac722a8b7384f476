"""Data access: readers and writers of jet/event files, data configs, loaders."""

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

__all__ = [
    "FileSummary",
    "describe_file",
    "file_format",
    "iter_tables",
    "num_entries",
    "read_metadata",
    "read_table",
    "write_table",
]
