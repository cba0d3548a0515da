"""What the app reads: the serving snapshot, how it is built and published, and the
safety alerts raised from it.

``snapshot`` (the serving tables, built in full or updated), ``pipeline`` (``caseload
refresh``: plan, build in a new file, publish atomically), ``alerts`` (alert ids, levels,
actions and response times over the snapshot and the workspace).
"""

__all__ = ["alerts", "pipeline", "snapshot"]
