"""Moves the clock of every Python process of a test run ahead, for CI's date-shifted pass.

Python imports ``sitecustomize`` at start-up from the first folder on ``sys.path`` that has
one; .ci/run puts this folder on ``PYTHONPATH`` (which every subprocess inherits: the demo
builder, the app server) and sets ``CASELOAD_CLOCK_SHIFT_DAYS``. time-machine moves the wall
clock (``time.time``, ``datetime.now``, ``date.today``) and leaves the monotonic clock alone,
so timeouts still measure real time. libfaketime was tried first and dropped: it drives the
monotonic clock from the faked wall clock, and the suite's subprocess timeouts fired early.
DuckDB's own ``now()`` is not moved; the product uses it only to stamp logs.
"""

from __future__ import annotations

import os

_DAYS = os.environ.get("CASELOAD_CLOCK_SHIFT_DAYS")
if _DAYS:
    import datetime as _dt

    import time_machine

    _traveller = time_machine.travel(
        _dt.datetime.now(_dt.UTC) + _dt.timedelta(days=int(_DAYS)), tick=True
    )
    _traveller.start()
