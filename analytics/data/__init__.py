"""The data layer: the public input contract, ingest into the warehouse, the stores.

``contract`` (what a clinic may send), ``ingest`` (read, validate, load, quarantine),
``store`` (the data directory, the warehouse, snapshots and the workspace, the one-writer
lock), ``status`` (what the data directory holds, for ``caseload status``).
"""

__all__ = ["contract", "ingest", "status", "store"]
