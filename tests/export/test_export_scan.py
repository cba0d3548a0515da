"""The research export leaks nothing: identifiers planted in a clinic never reach a byte
of the export, and pseudonyms are keyed by the data directory.

The clinic is a copy of the shared demo clinic plus a planted clinician and planted
patients whose names, ids, emails, dates, messages and notes are distinctive strings; a
relapse model is trained so the export holds held-out predictions too. Every file the
export writes is scanned twice: its raw bytes, and (for Parquet, whose pages are
compressed) every decoded value, statistic and metadata entry.
"""

from __future__ import annotations

import base64
import csv
import io
import re
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import time_machine

from analytics.access.roles import Actor, Context, Role, actor_for_clinician
from analytics.data.ingest import ingest
from analytics.data.store import DataDir
from analytics.files import write_private
from analytics.models.training import train_models
from analytics.serving.pipeline import refresh
from analytics.settings import load_settings
from analytics.views import act_on_alert, add_note
from analytics.views.export import censor_days, export_research

RESEARCHER = Actor(user="researcher@planted-clinic.example", role=Role.RESEARCHER)

CLINICIAN_ID = "PLANT-CLIN-ZW4409"
CLINICIAN_NAME = "Dr Wilhelmina Vexcombe"
CLINICIAN_EMAIL = "w.vexcombe@planted-clinic.example"
SITE_ID = "planted-site-zanzibar-heights"
PATIENTS = {  # id -> display name
    "PLANT-PAT-QX7731-A": "Bartholomew Quillfeather",
    "PLANT-PAT-QX7731-B": "Philippa Grindlewood",
    "PLANT-PAT-QX7731-C": "Ignatius Marchbanks",
}
GENDER = "Zorblaxian"  # a category held by three patients: must be pooled away
MESSAGE_TOKEN = "KUMQUAT-TOKEN-9918"
CHECKIN_TOKEN = "FLAMINGO-TOKEN-4412"
EVENT_TOKEN = "MARZIPAN-TOKEN-3321"
NOTE_TOKEN = "PERSIMMON-TOKEN-7781"
ALERT_TOKEN = "TANGERINE-TOKEN-5150"
CRISIS_MESSAGE_ID = "PLANT-MSG-CRISIS-0001"

STRING_COLUMNS = {
    "patient_key",
    "clinician_key",
    "site",
    "gender",
    "race_ethnicity",
    "primary_language",
    "insurance",
    "rurality",
    "age_band",
    "model",
    "version",
    "attribute",
    "group",
    "outcome",
    "note",
}


def _csv(path: Path, rows: list[dict[str, object]]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _data_end(data: Path) -> date:
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        con.execute("SET TimeZone = 'America/New_York'")
        return con.execute("SELECT max(CAST(checked_in_at AS DATE)) FROM checkins").fetchone()[0]
    finally:
        con.close()


def _planted_files(folder: Path, end: date) -> dict[str, object]:
    """Contract files for the planted clinician and patients; returns what was planted."""
    folder.mkdir()
    enrolled = end - timedelta(days=150)
    _csv(
        folder / "clinicians.csv",
        [
            {
                "clinician_id": CLINICIAN_ID,
                "display_name": CLINICIAN_NAME,
                "site_id": SITE_ID,
                "email": CLINICIAN_EMAIL,
                "role": "therapist",
            }
        ],
    )
    _csv(
        folder / "patients.csv",
        [
            {
                "patient_id": pid,
                "clinician_id": CLINICIAN_ID,
                "enrolled_on": enrolled.isoformat(),
                "display_name": name,
                "birth_year": 1931,
                "gender": GENDER,
                "insurance": "Commercial",
            }
            for pid, name in PATIENTS.items()
        ],
    )
    checkins, messages, assessments, events = [], [], [], []
    stamps = []
    for i, pid in enumerate(PATIENTS):
        for day in range(151):
            d = enrolled + timedelta(days=day)
            checkins.append(
                {
                    "patient_id": pid,
                    "checked_in_at": f"{d.isoformat()}T20:15:00",
                    "mood": (day + i) % 9,
                    "anxiety": (day * 3 + i) % 10,
                    "note": f"Checkin note {CHECKIN_TOKEN} from {PATIENTS[pid]}",
                }
            )
            if day % 3 == 0:
                stamp = f"{d.isoformat()}T19:42:17"
                stamps.append(stamp)
                messages.append(
                    {
                        "message_id": f"PLANT-MSG-{i}-{day:03d}",
                        "patient_id": pid,
                        "sent_at": stamp,
                        "sender": "patient",
                        "text": f"Message {MESSAGE_TOKEN}: I told my sister Philippa about "
                        f"{PATIENTS[pid]}'s week",
                    }
                )
            if day % 14 == 0:
                score = 1 if day < 100 else 3
                assessments.append(
                    {
                        "patient_id": pid,
                        "completed_at": f"{d.isoformat()}T09:05:00",
                        "instrument": "PHQ-9",
                        **{f"item_{k}": score for k in range(1, 10)},
                    }
                )
        events.append(
            {
                "patient_id": pid,
                "occurred_at": f"{(enrolled + timedelta(days=120 + i)).isoformat()}T11:30:00",
                "kind": "relapse",
                "note": f"Event note {EVENT_TOKEN} about {PATIENTS[pid]}",
            }
        )
    crisis_day = end - timedelta(days=2)
    messages.append(
        {
            "message_id": CRISIS_MESSAGE_ID,
            "patient_id": next(iter(PATIENTS)),
            "sent_at": f"{crisis_day.isoformat()}T23:11:05",
            "sender": "patient",
            "text": f"I have a plan to end my life tonight {MESSAGE_TOKEN}",
        }
    )
    stamps.append(f"{crisis_day.isoformat()}T23:11:05")
    _csv(folder / "checkins.csv", checkins)
    _csv(folder / "messages.csv", messages)
    _csv(folder / "assessments.csv", assessments)
    _csv(folder / "events.csv", events)
    return {"enrolled": enrolled, "stamps": stamps}


PSEUDONYM_KEY_HEX = "5ca1ab1e" * 8


@pytest.fixture(scope="module")
def planted(model_clinic, tmp_path_factory):
    """(settings, planted facts): a copy of the generated 800-patient clinic with planted
    identifiers, trained, refreshed. (The 160-patient demo has too few new-episode labels
    for the relapse model to train, and the planted patients must reach its predictions.)"""
    root = tmp_path_factory.mktemp("planted")
    data = root / "data"
    shutil.copytree(model_clinic.data_dir, data)
    # A fixed pseudonym key: each patient's export cut-off (15-44 days before the end,
    # keyed by it) decides who is in the export, and with it whether the small planted
    # group reaches k-anonymity. A random key made the fixture pass or fail by the draw.
    (data / "pseudonym.key").unlink(missing_ok=True)
    write_private(data / "pseudonym.key", PSEUDONYM_KEY_HEX, exclusive=True, encoding="ascii")
    with open(data / "settings.toml", "a", encoding="utf-8") as fh:
        fh.write("min_positive_labels = 5\n")  # a test clinic, smaller than a real one
    settings = load_settings(data)
    facts = _planted_files(root / "files", _data_end(data))
    result = ingest([root / "files"], settings=settings)
    assert result.exit_code == 0, [f.message for f in result.files]
    assert sum(f.quarantined for f in result.files) == 0
    outcomes = {o.model: o for o in train_models(settings=settings, resamples=20)}
    assert outcomes["relapse_risk"].status == "ok", outcomes["relapse_risk"].message
    # The copied clinic may hold models trained by other tests: these are the new versions.
    facts["versions"] = {m: o.version for m, o in outcomes.items() if o.status == "ok"}
    refresh(settings=settings)
    ctx = Context.open(settings)
    try:
        therapist = actor_for_clinician(ctx, CLINICIAN_ID)
        add_note(ctx, therapist, next(iter(PATIENTS)), f"Clinical note {NOTE_TOKEN}")
        act_on_alert(
            ctx, therapist, f"msg:{CRISIS_MESSAGE_ID}", "acknowledge", f"Called {ALERT_TOKEN}"
        )
    finally:
        ctx.close()
    return settings, facts


# The day the export is written (the clock is pinned to it): that date must not be in it.
EXPORT_DAY = date(2027, 2, 9)


@pytest.fixture(scope="module")
def exported(planted, tmp_path_factory):
    settings, _ = planted
    with time_machine.travel(datetime(2027, 2, 9, 15, 0, tzinfo=UTC)):
        return export_research(
            settings=settings,
            out_dir=tmp_path_factory.mktemp("exports") / "one",
            actor=RESEARCHER,
        )


# --- the scanner ----------------------------------------------------------------------------


def _renderings(d: date) -> list[str]:
    return [
        d.isoformat(),
        d.strftime("%Y%m%d"),
        d.strftime("%m/%d/%Y"),
        d.strftime("%d/%m/%Y"),
        d.strftime("%Y/%m/%d"),
    ]


# Pseudonyms and SHA-256 digests are lowercase hex, which a short id or a date written as
# digits can match by chance ("c0027" inside "P-3fc0027a..."); they are masked before the
# text search. Numbers are compared as numbers, not as digit strings.
_SAFE_HEX = re.compile(rb"[PCS]-[0-9a-f]{8,16}|[0-9a-f]{64}")


def _mask(data: bytes) -> bytes:
    return _SAFE_HEX.sub(b" ", data)


def _decoded(path: Path) -> tuple[str, set[float]]:
    """Every value, statistic and metadata entry of a Parquet file: (text, numbers)."""
    pf = pq.ParquetFile(path)
    parts = [str(pf.schema_arrow), str(pf.metadata)]
    numbers: set[float] = set()
    for key, value in (pf.metadata.metadata or {}).items():
        parts += [key.decode("utf-8", "replace"), value.decode("utf-8", "replace")]
        if key == b"ARROW:schema":
            parts.append(base64.b64decode(value).decode("latin-1"))
    for rg in range(pf.metadata.num_row_groups):
        group = pf.metadata.row_group(rg)
        for c in range(group.num_columns):
            stats = group.column(c).statistics
            if stats is not None and stats.has_min_max:
                for v in (stats.min, stats.max):
                    if isinstance(v, int | float):
                        numbers.add(v)
                    else:
                        parts.append(str(v))
    table = pf.read()
    for column in table.columns:
        for value in column.to_pylist():
            if isinstance(value, bool) or value is None:
                continue
            if isinstance(value, int | float):
                numbers.add(value)
            elif isinstance(value, date | datetime):
                parts += _renderings(value if isinstance(value, date) else value.date())
            else:
                parts.append(str(value))
    text = _mask("\n".join(parts).encode("utf-8", "replace")).decode("utf-8", "replace")
    return text, numbers


def find_leaks(
    out: Path,
    needles: set[str],
    binary: set[bytes] = frozenset(),
    numbers: set[int] = frozenset(),
) -> list[str]:
    """Needles found in any file under ``out``: in its raw bytes, and in the decoded
    values of a Parquet file (text needles as text, ``numbers`` as numeric values)."""
    lowered = {n: n.lower() for n in needles if n}
    leaks = []
    files = [p for p in sorted(out.rglob("*")) if p.is_file()]
    assert files, f"nothing was written to {out}"
    for path in files:
        raw = path.read_bytes()
        low = _mask(raw).lower()
        leaks += [f"{path.name}: {n!r} (bytes)" for n, ln in lowered.items() if ln.encode() in low]
        leaks += [f"{path.name}: key bytes" for b in binary if b in raw]
        if path.suffix == ".parquet":
            text, values = _decoded(path)
            text = text.lower()
            leaks += [f"{path.name}: {n!r} (decoded)" for n, ln in lowered.items() if ln in text]
            leaks += [f"{path.name}: {n} (number)" for n in numbers if n in values]
    return leaks


def _date_numbers(dates) -> set[int]:
    """Dates written as numbers: 20260314."""
    return {int(d.strftime("%Y%m%d")) for d in dates}


def _warehouse_dates(settings) -> set[date]:
    """Every enrolment and discharge date in the clinic."""
    con = duckdb.connect(str(DataDir(settings.data_dir).warehouse), read_only=True)
    try:
        rows = con.execute(
            """SELECT enrolled_on FROM patients
               UNION SELECT discharged_on FROM patients WHERE discharged_on IS NOT NULL"""
        ).fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}


def _warehouse_needles(settings) -> set[str]:
    """Identifiers, free text and dates already in the clinic (the demo's own as well as
    the planted ones)."""
    con = duckdb.connect(str(DataDir(settings.data_dir).warehouse), read_only=True)
    try:
        rows = con.execute(
            """SELECT patient_id FROM patients UNION SELECT display_name FROM patients
               UNION SELECT clinician_id FROM clinicians UNION SELECT display_name FROM clinicians
               UNION SELECT email FROM clinicians UNION SELECT site_id FROM clinicians
               UNION SELECT text FROM messages WHERE length(text) >= 12
               UNION SELECT note FROM checkins WHERE length(note) >= 12
               UNION SELECT note FROM events WHERE length(note) >= 12"""
        ).fetchall()
    finally:
        con.close()
    needles = {r[0] for r in rows if r[0]}
    for d in _warehouse_dates(settings):
        needles.update(_renderings(d))
    return needles


def _planted_needles(facts: dict) -> set[str]:
    needles = {
        CLINICIAN_ID,
        CLINICIAN_NAME,
        CLINICIAN_EMAIL,
        SITE_ID,
        GENDER,
        MESSAGE_TOKEN,
        CHECKIN_TOKEN,
        EVENT_TOKEN,
        NOTE_TOKEN,
        ALERT_TOKEN,
        CRISIS_MESSAGE_ID,
        "Wilhelmina",
        "Vexcombe",
        "planted-clinic.example",
        "zanzibar",
        *PATIENTS,
        *PATIENTS.values(),
        *(name.split()[1] for name in PATIENTS.values()),
        *facts["stamps"],
        *_renderings(facts["enrolled"]),
        *_renderings(EXPORT_DAY),  # the export date is not recorded either
    }
    return needles


def _key_material(settings) -> tuple[set[str], set[bytes]]:
    root = Path(settings.data_dir)
    texts, raws = set(), set()
    for name in ("pseudonym.key", "audit.key"):
        hexed = (root / name).read_text(encoding="ascii").strip()
        texts.add(hexed)
        raws.add(bytes.fromhex(hexed))
    return texts, raws


# --- tests ----------------------------------------------------------------------------------


def test_planted_identifiers_are_really_in_the_clinic(planted):
    """Sanity: the scan looks for things that are there, so a leak could be seen."""
    settings, facts = planted
    found = _warehouse_needles(settings)
    assert CLINICIAN_EMAIL in found and CLINICIAN_NAME in found and SITE_ID in found
    assert set(PATIENTS) <= found and set(PATIENTS.values()) <= found
    assert any(MESSAGE_TOKEN in n for n in found) and any(CHECKIN_TOKEN in n for n in found)
    assert any(EVENT_TOKEN in n for n in found)
    assert facts["enrolled"].isoformat() in found
    ws = DataDir(settings.data_dir).workspace.read_bytes()
    wal = Path(str(DataDir(settings.data_dir).workspace) + "-wal")
    workspace = ws + (wal.read_bytes() if wal.exists() else b"")
    assert NOTE_TOKEN.encode() in workspace and ALERT_TOKEN.encode() in workspace
    # the planted patients are in the trained model's held-out predictions
    models = DataDir(settings.data_dir).models
    version = facts["versions"]["relapse_risk"]
    heldout = pl.read_parquet(models / "relapse_risk" / version / "heldout_predictions.parquet")
    assert set(PATIENTS) & set(heldout["patient_id"])


def test_scanner_sees_through_parquet_compression(tmp_path):
    """The scanner itself: a name inside a compressed Parquet page is found."""
    out = tmp_path / "leaky"
    out.mkdir()
    name = "Bartholomew Quillfeather"
    table = pa.table({"x": [f"{name} {i}" for i in range(5000)], "d": [date(2026, 3, 14)] * 5000})
    pq.write_table(table, out / "leak.parquet", compression="zstd")
    pq.write_table(pa.table({"n": [1, 20260314, 3]}), out / "numbers.parquet")
    leaks = find_leaks(out, {name, "03/14/2026"}, numbers={20260314})
    assert any("decoded" in leak and name in leak for leak in leaks)
    assert any("03/14/2026" in leak for leak in leaks)
    assert "numbers.parquet: 20260314 (number)" in leaks


def test_no_planted_identifier_in_any_byte_of_the_export(planted, exported):
    settings, facts = planted
    key_texts, key_bytes = _key_material(settings)
    needles = _planted_needles(facts) | _warehouse_needles(settings) | key_texts
    assert len(needles) > 500
    dates = _warehouse_dates(settings) | {facts["enrolled"], EXPORT_DAY}
    leaks = find_leaks(exported.out_dir, needles, key_bytes, _date_numbers(dates))
    assert leaks == []
    # and the planted patients are in it, under their pseudonyms
    ctx = Context.open(settings)
    try:
        keys = {ctx.pseudonym(pid) for pid in PATIENTS}
    finally:
        ctx.close()
    patients = pl.read_parquet(exported.out_dir / "patients.parquet")
    assert keys <= set(patients["patient_key"])
    predictions = pl.read_parquet(exported.out_dir / "predictions.parquet")
    assert keys & set(predictions["patient_key"])
    assert exported.model_versions == facts["versions"]
    assert set(facts["versions"]) == {"relapse_risk", "engagement_drop"}


def test_export_has_no_dates_and_no_free_text_columns(exported):
    for path in exported.files:
        if path.suffix != ".parquet":
            continue
        schema = pq.read_schema(path)
        for field in schema:
            assert not (
                pa.types.is_temporal(field.type)  # date, time, timestamp, duration
            ), f"{path.name}: {field.name} is {field.type}"
            if pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
                assert field.name in STRING_COLUMNS, f"{path.name}: text column {field.name}"


def test_planted_category_is_pooled_and_ages_banded(planted, exported):
    settings, _ = planted
    ctx = Context.open(settings)
    try:
        keys = [ctx.pseudonym(pid) for pid in PATIENTS]
    finally:
        ctx.close()
    patients = pl.read_parquet(exported.out_dir / "patients.parquet")
    mine = patients.filter(pl.col("patient_key").is_in(keys))
    assert mine["gender"].to_list() == ["Other (suppressed)"] * 3
    assert mine["site"].to_list() == ["Other (suppressed)"] * 3  # a site of 3 patients
    # born 1931: in the 65+ band (every age over 64 together, which k-anonymity may still
    # suppress for these three, alone at their site)
    assert set(mine["age_band"]) <= {"65+", "Other (suppressed)"}
    # 150 days to the end of data, less each patient's keyed cut-off (15-44 days).
    expected = {
        ctx_key: 150 - censor_days(settings_key(settings), pid)
        for pid, ctx_key in zip(PATIENTS, keys, strict=True)
    }
    assert dict(mine.select("patient_key", "days_enrolled").rows()) == expected


def settings_key(settings) -> bytes:
    from analytics.access.keys import pseudonym_key

    return pseudonym_key(settings.data_dir)


def test_export_files_are_owner_only_and_listed(exported):
    assert exported.out_dir.stat().st_mode & 0o777 == 0o700
    names = sorted(p.name for p in exported.out_dir.iterdir())
    assert names == sorted(p.name for p in exported.files)
    assert names == [
        "aggregates.parquet",
        "features.parquet",
        "labels.parquet",
        "manifest.json",
        "patients.parquet",
        "predictions.parquet",
    ]
    for path in exported.files:
        assert path.stat().st_mode & 0o777 == 0o600, path.name


def test_key_file_never_exported(planted, exported):
    settings, _ = planted
    key = (Path(settings.data_dir) / "pseudonym.key").read_bytes()
    for path in exported.out_dir.rglob("*"):
        assert "key" not in path.name
        if path.is_file():
            assert path.read_bytes() != key


def test_pseudonyms_stable_across_exports(planted, exported, tmp_path):
    settings, _ = planted
    again = export_research(settings=settings, out_dir=tmp_path / "again", actor=RESEARCHER)
    for name in ("patients", "features", "labels", "predictions", "aggregates"):
        first = pl.read_parquet(exported.out_dir / f"{name}.parquet")
        second = pl.read_parquet(again.out_dir / f"{name}.parquet")
        assert first.equals(second), name


def test_pseudonyms_differ_across_data_directories(small_demo, planted, exported, tmp_path):
    """Another data directory has another key: the same patient ids get other keys."""
    settings, _ = planted
    other = tmp_path / "other"
    shutil.copytree(small_demo, other)
    (other / "pseudonym.key").unlink()  # a new clinic install generates its own key
    result = export_research(
        settings=load_settings(other), out_dir=tmp_path / "out", actor=RESEARCHER
    )
    mine = set(pl.read_parquet(exported.out_dir / "patients.parquet")["patient_key"])
    theirs = set(pl.read_parquet(result.out_dir / "patients.parquet")["patient_key"])
    # Every patient enrolled by their own keyed cut-off (15-44 days before the end).
    key = settings_key(load_settings(other))
    from analytics.data.store import connect
    from analytics.models.windows import data_as_of

    con = connect(Path(":memory:"), settings=load_settings(other))
    try:
        con.execute("ATTACH ? AS wh (READ_ONLY)", [str(other / "warehouse.duckdb")])
        end = data_as_of(con)
        con.complete()
        enrolled = con.execute("SELECT patient_id, enrolled_on FROM wh.patients").fetchall()
    finally:
        con.close()
    expected = sum(e <= end - timedelta(days=censor_days(key, pid)) for pid, e in enrolled)
    assert len(enrolled) == 160 and 130 < expected < 160
    assert len(theirs) == expected
    assert not mine & theirs
    clinicians_mine = set(pl.read_parquet(exported.out_dir / "patients.parquet")["clinician_key"])
    clinicians_theirs = set(pl.read_parquet(result.out_dir / "patients.parquet")["clinician_key"])
    assert not clinicians_mine & clinicians_theirs
    # the same key gives the same pseudonyms: a copy of the exported directory keeps them
    same = tmp_path / "same"
    shutil.copytree(settings.data_dir, same)
    kept = export_research(
        settings=load_settings(same), out_dir=tmp_path / "out2", actor=RESEARCHER
    )
    assert set(pl.read_parquet(kept.out_dir / "patients.parquet")["patient_key"]) == mine
