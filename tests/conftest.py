"""Shared fixtures: a fresh data directory, a tiny valid clinic, and store helpers."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

import duckdb
import pytest

from analytics.data.contract import TABLES
from analytics.data.store import DataDir
from analytics.settings import Settings, load_settings

CLINICIANS = [
    {
        "clinician_id": "c1",
        "display_name": "Dr Ada Quill",
        "site_id": "north",
        "email": "ada@example.org",
    },
    {"clinician_id": "c2", "display_name": "Dr Ben Rowe", "site_id": "south", "role": "therapist"},
]
PATIENTS = [
    {
        "patient_id": "p1",
        "clinician_id": "c1",
        "enrolled_on": "2026-01-05",
        "display_name": "Pat One",
    },
    {"patient_id": "p2", "clinician_id": "c1", "enrolled_on": "2026-02-01", "gender": "female"},
    {"patient_id": "p3", "clinician_id": "c2", "enrolled_on": "2026-03-01", "site_id": "east"},
]


# Fixtures that build a clinic (and tests/sample_data, which generates them in memory): a
# test using one depends on the generator's dates, so CI runs it a second time with the
# clock far ahead (`-m dates` under faketime, .ci/run). A test about "today" itself pins
# the clock with time-machine and carries the mark by hand.
CLINIC_FIXTURES = {"model_clinic", "trained_clinic", "small_demo", "full_demo"}
# Building the default-size demo clinic takes over a minute.
SLOW_FIXTURES = {"full_demo"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        if used & CLINIC_FIXTURES or "sample_data" in item.path.parts:
            item.add_marker(pytest.mark.dates)
        if used & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)


def csv_text(rows: Sequence[dict[str, object]], columns: Sequence[str] | None = None) -> str:
    """Rows as CSV text with a header (columns default to the union, in first-seen order)."""
    cols = list(columns) if columns else list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: row.get(c, "") for c in cols})
    return buf.getvalue()


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write rows (or raw text) to ``<tmp>/files/<name>``; returns the path."""

    def _write(name: str, rows: Sequence[dict[str, object]] | str, columns=None) -> Path:
        folder = tmp_path / "files"
        folder.mkdir(exist_ok=True)
        path = folder / name
        path.write_text(
            rows if isinstance(rows, str) else csv_text(rows, columns), encoding="utf-8"
        )
        return path

    return _write


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings(tmp_path / "data")


@pytest.fixture
def base_clinic(settings: Settings, write_csv) -> Settings:
    """A data directory holding two clinicians and three patients."""
    from analytics.data.ingest import ingest

    result = ingest(
        [write_csv("clinicians.csv", CLINICIANS), write_csv("patients.csv", PATIENTS)],
        settings=settings,
    )
    assert result.exit_code == 0, result
    return settings


def table_counts(settings: Settings) -> dict[str, int]:
    """Rows per contract table plus quarantine, read from the warehouse."""
    path = DataDir(settings.data_dir).warehouse
    if not path.exists():
        return {name: 0 for name in [*TABLES, "quarantine"]}
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            name: con.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0]
            for name in [*TABLES, "quarantine"]
        }
    finally:
        con.close()


def query(settings: Settings, sql: str, params: Sequence[object] | None = None) -> list[tuple]:
    """Run a read-only query against the warehouse."""
    con = duckdb.connect(str(DataDir(settings.data_dir).warehouse), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture
def counts(settings: Settings) -> Callable[[], dict[str, int]]:
    """Call to read the current row counts of the test's warehouse."""
    return lambda: table_counts(settings)


@pytest.fixture
def wh_query(settings: Settings) -> Callable[..., list[tuple]]:
    """Call with SQL (and params) to query the test's warehouse read-only, in UTC."""
    return lambda sql, params=None: query(settings, sql, params)


# --- risk models: in-memory warehouses and a generated clinic ---------------------------


@pytest.fixture
def make_warehouse() -> Callable[..., duckdb.DuckDBPyConnection]:
    """Call with {table: rows} to get an in-memory connection with a ``wh`` warehouse.

    Rows are dicts (or a DataFrame) with contract column names; the connection's time zone
    is UTC, so a timestamp's date is its UTC date.
    """
    import pandas as pd

    from analytics.data.store import table_ddl

    opened: list[duckdb.DuckDBPyConnection] = []

    def _make(tables: dict[str, object]) -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        con.execute("ATTACH ':memory:' AS wh")
        con.execute("USE wh")
        for name in TABLES:
            con.execute(table_ddl(name))
        con.execute("USE memory")
        for name, rows in tables.items():
            frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
            if frame.empty:
                continue
            con.register("_rows", frame)
            cols = ", ".join(f'"{c}"' for c in frame.columns)
            con.execute(f'INSERT INTO wh."{name}" ({cols}) SELECT {cols} FROM _rows')
            con.unregister("_rows")
        opened.append(con)
        return con

    yield _make
    for con in opened:
        con.close()


MODEL_CLINIC_SPEC = {"patients": 800, "days": 365, "seed": 0}
MODEL_CLINIC_END = date(2026, 10, 31)
# Every demo clinic the suite builds ends on this day, so its data (and every number read
# from it) is the same whatever today's date is.
DEMO_END_DATE = "2026-11-20"


@pytest.fixture(scope="session")
def model_clinic(tmp_path_factory) -> Settings:
    """A generated clinic (800 patients x 365 days, fixed end date) ingested once."""
    from analytics.data.ingest import ingest
    from sample_data.generator import ClinicSpec, generate, write_clinic

    root = tmp_path_factory.mktemp("model_clinic")
    spec = ClinicSpec(**MODEL_CLINIC_SPEC, end_date=MODEL_CLINIC_END, mess=False)
    data = root / "data"
    data.mkdir()
    (data / "settings.toml").write_text(f'clinic_timezone = "{spec.timezone}"\n')
    write_clinic(generate(spec), root / "files", fmt="parquet")
    settings = load_settings(data)
    result = ingest([root / "files"], settings=settings)
    assert result.exit_code == 0
    return settings


@pytest.fixture(scope="session")
def trained_clinic(model_clinic):
    """The generated clinic with both models trained: (settings, {model: TrainOutcome})."""
    from analytics.models.training import train_models

    outcomes = train_models(settings=model_clinic, resamples=200)
    return model_clinic, {o.model: o for o in outcomes}


@pytest.fixture(scope="session")
def small_demo(tmp_path_factory) -> Path:
    """A small demo clinic built once per run the way a user builds one (read it, do not
    change it: copy it first, as the browser tests do)."""
    import subprocess
    import sys

    data = tmp_path_factory.mktemp("small-demo") / "demo"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "analytics.cli",
            "demo",
            "--data-dir",
            str(data),
            "--no-serve",
            "--patients",
            "160",
            "--days",
            "200",
            "--end-date",
            DEMO_END_DATE,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return data


@pytest.fixture(scope="session")
def full_demo(tmp_path_factory) -> Path:
    """The demo clinic at its default size, exactly as `caseload demo` builds it."""
    import subprocess
    import sys

    data = tmp_path_factory.mktemp("full-demo") / "demo"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "analytics.cli",
            "demo",
            "--data-dir",
            str(data),
            "--no-serve",
            "--end-date",
            DEMO_END_DATE,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    return data


# --- the attack suite (issue 15): counts per row, wherever an attack test lives ----------
# Here rather than in tests/security/conftest.py: a conftest's report hook sees only the
# tests under its own folder, and rows 6 and 13 are proven in the browser (tests/browser/).

_TRIED: dict[int, int] = defaultdict(int)
_REFUSED: dict[int, int] = defaultdict(int)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("attack")
    if marker is None or report.when != "call":
        return
    row = marker.args[0]
    _TRIED[row] += 1
    if report.passed:
        _REFUSED[row] += 1


def pytest_terminal_summary(terminalreporter):
    if not _TRIED:
        return
    terminalreporter.section("attack suite (issue 15)")
    for row in sorted(_TRIED):
        # 15 stands for the closing point (models as pickles), not a table row.
        label = "models" if row == 15 else f"row {row:>2}"
        terminalreporter.write_line(
            f"{label:>6}: tried {_TRIED[row]:>3}, refused {_REFUSED[row]:>3}"
        )
    terminalreporter.write_line(
        f"total: tried {sum(_TRIED.values())}, refused {sum(_REFUSED.values())}"
    )
