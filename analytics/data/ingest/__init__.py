"""Files -> validated rows -> warehouse, exactly as the data contract's bad-input rules say.

Every rule lives in :mod:`analytics.data.contract`; this package only applies them, along
its seams:

- ``_read``: find, open, limit and parse files into cells as text with their lines;
- ``_validate``: the contract's checks, as one DuckDB query per file -> good rows and
  problems;
- ``_load``: upsert good rows into the warehouse (with the text analysis);
- ``_quarantine``: keep the rows that broke a rule, and the ingest log;
- ``_run``: one run under the pipeline lock, each file all or nothing.
"""

from analytics.data.ingest._load import reanalyse_messages
from analytics.data.ingest._quarantine import (
    QuarantinedRow,
    export_quarantine,
    quarantined_rows,
)
from analytics.data.ingest._read import Limits, RawFile, expand_paths, read_raw
from analytics.data.ingest._run import ingest
from analytics.data.ingest._summary import (
    FileRejected,
    FileSummary,
    IngestResult,
    reason_counts,
)
from analytics.data.ingest._validate import normalise_columns, validation_sql

__all__ = [
    "FileRejected",
    "FileSummary",
    "IngestResult",
    "Limits",
    "QuarantinedRow",
    "RawFile",
    "expand_paths",
    "export_quarantine",
    "ingest",
    "normalise_columns",
    "quarantined_rows",
    "read_raw",
    "reanalyse_messages",
    "reason_counts",
    "validation_sql",
]
