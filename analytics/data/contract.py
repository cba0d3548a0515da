"""The data contract (version 1) as data.

Ingest validates against these definitions and ``docs/data-contract.md`` is generated from
them (``caseload contract`` prints it), so the code and the users' reference cannot drift.
Every rule a table has lives here: column rules on :class:`Column`, rules across a row's
columns as :data:`Check` values on :class:`Table`, defaults taken from other tables as
:class:`Lookup`, derived keys as :class:`HashOf`. Ingest turns each kind into SQL and
never asks which table it is checking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "CONTRACT_VERSION",
    "CURRENT_YEAR",
    "DEMOGRAPHIC_COLUMNS",
    "INGEST_ORDER",
    "INSTRUMENTS",
    "INSTRUMENT_ITEMS",
    "ITEM_COLUMNS",
    "NULL_TOKENS",
    "TABLES",
    "WEARABLE_METRICS",
    "AnalysedText",
    "AtLeastOne",
    "Check",
    "ChoiceMatch",
    "Column",
    "ColumnType",
    "EmptyWhen",
    "HashOf",
    "InOrder",
    "ItemTotal",
    "Lookup",
    "OnExistingKey",
    "Table",
    "UniqueIgnoringCaseAndSpaces",
    "squash",
    "table_for_stem",
    "to_markdown",
]

CONTRACT_VERSION = 1

# Cells holding one of these (after trimming) are missing values.
NULL_TOKENS: tuple[str, ...] = ("", "NA", "N/A", "null", "None", "-")


class ColumnType(StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"
    DATE = "date"
    TIMESTAMP = "timestamp"


# Sentinel for "the current calendar year" as an upper bound (birth_year).
CURRENT_YEAR = "this year"


class ChoiceMatch(StrEnum):
    """How a cell is matched against a column's choices."""

    # Ignoring case; stored lower-case (every such choice list is lower-case).
    CASE = "case"
    # Ignoring case, spaces, underscores and hyphens (``phq 9``, ``PHQ_9``); stored as the
    # choice is spelled, so one instrument has one name in the warehouse.
    SPELLING = "spelling"


def squash(text: str) -> str:
    """``text`` as :attr:`ChoiceMatch.SPELLING` compares it."""
    return re.sub(r"[\s_-]", "", text).upper()


@dataclass(frozen=True)
class Lookup:
    """A default from another table: ``table.column`` of the row whose ``on`` column holds
    this row's ``on`` value (a patient's site is their clinician's)."""

    table: str
    column: str
    on: str


@dataclass(frozen=True)
class HashOf:
    """A key derived when the cell is blank: ``prefix`` and the first ``length`` hex digits
    of SHA-256 over ``columns`` joined by ``|`` (timestamps written in UTC to the
    microsecond), so the same row always gets the same key and a re-sent file dedupes."""

    columns: tuple[str, ...]
    prefix: str
    length: int


@dataclass(frozen=True)
class Column:
    """One column of a contract table and the rules its cells must follow."""

    name: str
    type: ColumnType
    required: bool = False
    minimum: float | None = None
    maximum: float | str | None = None
    choices: tuple[str, ...] | None = None
    min_length: int | None = None
    max_length: int | None = None
    references: str | None = None  # "table.column" that must hold the value
    default: str | None = None
    not_future: bool = False  # dates: not after today; timestamps: within the tolerance
    free_text: bool = False  # patient-written or identifying: never logged
    # Required in the file's header, but a cell may be blank (questionnaire items: a
    # partly answered questionnaire is stored, never quarantined for its blanks).
    blank_ok: bool = False
    match: ChoiceMatch = ChoiceMatch.CASE  # how a cell is matched against ``choices``
    default_from: Lookup | None = None  # a blank cell takes this value, else stays blank
    derive: HashOf | None = None  # a blank cell gets this derived key
    doc: str = ""

    def rule_text(self) -> str:
        """The column's rules in words, for the documentation."""
        parts: list[str] = []
        if self.choices:
            parts.append(", ".join(f"`{c}`" for c in self.choices))
        if self.minimum is not None or self.maximum is not None:
            parts.append(f"{_fmt(self.minimum)} to {_fmt(self.maximum)}")
        if self.min_length is not None and self.max_length is not None:
            parts.append(f"{self.min_length} to {self.max_length:,} characters")
        elif self.max_length is not None:
            parts.append(f"at most {self.max_length:,} characters")
        if self.references:
            parts.append(f"must exist in {self.references.split('.')[0]}")
        if self.not_future:
            parts.append(
                "not in the future"
                if self.type is ColumnType.DATE
                else "not more than 1 day in the future"
            )
        if self.default is not None and "missing becomes" not in self.doc:
            parts.append(f"default `{self.default}`")
        if self.doc:
            parts.append(self.doc)
        return "; ".join(parts)


def _fmt(value: float | str | None) -> str:
    if value is None:
        return "any"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}" if value >= 10000 else str(int(value))
    return str(value)


# --- rules across a row's columns ------------------------------------------------------
# Each is reported under one column name (or a name in parentheses for a group of columns)
# with a reason that starts with a short label, as every quarantine reason does.


@dataclass(frozen=True)
class EmptyWhen:
    """Each of ``columns`` must be blank when column ``when`` holds ``equals``; reported
    under the column that is not."""

    columns: tuple[str, ...]
    when: str
    equals: str
    reason: str


@dataclass(frozen=True)
class AtLeastOne:
    """At least one of ``columns`` holds a value; reported under ``report_as``."""

    columns: tuple[str, ...]
    report_as: str
    reason: str


@dataclass(frozen=True)
class InOrder:
    """``later`` is on or after ``earlier`` when both are given; reported under ``later``."""

    earlier: str
    later: str


@dataclass(frozen=True)
class UniqueIgnoringCaseAndSpaces:
    """No two rows of the table (stored or in the file) with different keys hold values of
    ``column`` that are equal ignoring case and white space; reported under ``column``.
    Within a file the first row keeps the value. Needs a one-column key."""

    column: str
    reason: str


@dataclass(frozen=True)
class ItemTotal:
    """``total``, when given, matches the questionnaire's items: their sum when the
    questionnaire is complete, else the sum of the answered items or the prorated total
    (the rule in :func:`analytics.clinical.prorated_total`). An instrument uses the first
    ``n`` of ``items`` (``items_per_instrument``); the items are named ``item_1`` ...,
    as the clinical scoring expects."""

    total: str
    instrument: str
    items: tuple[str, ...]
    items_per_instrument: tuple[tuple[str, int], ...]


Check = EmptyWhen | AtLeastOne | InOrder | UniqueIgnoringCaseAndSpaces | ItemTotal


@dataclass(frozen=True)
class AnalysedText:
    """Rows whose ``when`` column holds ``equals`` get the text analysis (language,
    sentiment, crisis language) of their ``text`` at ingest, stored on the row found by
    ``id``."""

    id: str
    text: str
    when: str
    equals: str


class OnExistingKey(StrEnum):
    """What ingest does with a row whose key is already stored with other values."""

    UPDATE = "update"  # the newer row replaces the stored one and is counted as updated
    KEEP = "keep"  # the stored row is kept; the differing row is quarantined


@dataclass(frozen=True)
class Table:
    """One contract table."""

    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]
    on_existing_key: OnExistingKey
    doc: str
    # The table's rules in words, for the reference; ``checks`` are the ones ingest
    # enforces beyond the column rules (``rules`` also says how blanks are scored).
    rules: tuple[str, ...] = field(default=())
    checks: tuple[Check, ...] = field(default=())
    analysed_text: AnalysedText | None = None

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.required)


T = ColumnType
ITEM_COLUMNS = tuple(f"item_{i}" for i in range(1, 10))
WEARABLE_METRICS = (
    "sleep_minutes",
    "steps",
    "resting_hr",
    "hrv_rmssd_ms",
    "active_minutes",
    "wear_minutes",
)
DEMOGRAPHIC_COLUMNS = ("gender", "race_ethnicity", "primary_language", "insurance")
INSTRUMENTS = ("PHQ-9", "GAD-7")
# The items each instrument uses, from item_1: a GAD-7 leaves items 8-9 empty.
INSTRUMENT_ITEMS: tuple[tuple[str, int], ...] = (("PHQ-9", 9), ("GAD-7", 7))

_category = "free categories, trimmed; missing becomes `Unknown`"

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            name="clinicians",
            doc="The care team and other staff who sign in.",
            key=("clinician_id",),
            on_existing_key=OnExistingKey.UPDATE,
            # Sign-in matches emails ignoring case and spaces, so two rows that fold to
            # the same email would let one person land on the other's caseload.
            checks=(
                UniqueIgnoringCaseAndSpaces(
                    "email",
                    reason="duplicate email: another clinician has this email (ignoring case "
                    "and spaces)",
                ),
            ),
            columns=(
                Column("clinician_id", T.TEXT, required=True, doc="unique"),
                Column("display_name", T.TEXT, required=True, free_text=True),
                Column("site_id", T.TEXT, required=True),
                Column(
                    "email",
                    T.TEXT,
                    free_text=True,
                    doc="maps a signed-in user to this row; unique ignoring case and spaces",
                ),
                Column(
                    "role",
                    T.TEXT,
                    choices=("therapist", "manager", "researcher", "admin"),
                    default="therapist",
                ),
                Column(
                    "active",
                    T.TEXT,
                    choices=("true", "false"),
                    default="true",
                    doc="false deactivates the clinician: sign-in and CLI access are refused "
                    "from the next request, before any refresh",
                ),
            ),
        ),
        Table(
            name="patients",
            doc="One row per patient; an existing patient_id is updated (upsert).",
            key=("patient_id",),
            on_existing_key=OnExistingKey.UPDATE,
            rules=("discharged_on is on or after enrolled_on",),
            checks=(InOrder(earlier="enrolled_on", later="discharged_on"),),
            columns=(
                Column("patient_id", T.TEXT, required=True, doc="unique"),
                Column("clinician_id", T.TEXT, required=True, references="clinicians.clinician_id"),
                Column("enrolled_on", T.DATE, required=True),
                Column(
                    "site_id",
                    T.TEXT,
                    default_from=Lookup("clinicians", "site_id", on="clinician_id"),
                    doc="default: the clinician's site",
                ),
                Column(
                    "display_name",
                    T.TEXT,
                    free_text=True,
                    doc="identifying: shown only to the treating clinician",
                ),
                Column("discharged_on", T.DATE, doc="on or after enrolled_on"),
                Column("birth_year", T.INTEGER, minimum=1900, maximum=CURRENT_YEAR),
                Column("gender", T.TEXT, default="Unknown", doc=_category),
                Column("race_ethnicity", T.TEXT, default="Unknown", doc=_category),
                Column(
                    "primary_language",
                    T.TEXT,
                    default="Unknown",
                    doc=_category + " (a name or a BCP 47 tag)",
                ),
                Column("insurance", T.TEXT, default="Unknown", doc=_category),
                Column(
                    "rurality", T.TEXT, choices=("urban", "suburban", "rural"), doc="or missing"
                ),
            ),
        ),
        Table(
            name="assessments",
            doc="Standardised questionnaires (PHQ-9, GAD-7).",
            key=("patient_id", "instrument", "completed_at"),
            on_existing_key=OnExistingKey.KEEP,
            rules=(
                "a questionnaire needs at least one answered item; GAD-7 leaves items 8-9 empty",
                "blank items are allowed: a partly answered questionnaire is stored, and an "
                "item-9 answer above 0 raises the safety flag whatever else is blank; a blank "
                'item 9 is shown as "item 9 not answered", never as 0',
                "the total used is computed from the items: their sum when all are answered; "
                "for a PHQ-9 with 1 or 2 blank items, the sum of the answered items x 9 / the "
                "number answered, rounded to the nearest whole number (halves up) (the scoring "
                "instructions of the APA DSM-5 severity measure built on the PHQ-9; Arrieta et "
                "al. 2017, doi:10.1002/jclp.22390); otherwise (3+ blank PHQ-9 items, any blank "
                "GAD-7 item: no published GAD-7 proration rule was found) the total is missing "
                "and the questionnaire shows as incomplete",
                "total, when present, equals the sum of the items (complete questionnaire) or "
                "either the sum of the answered items or the prorated total (partial one)",
            ),
            checks=(
                EmptyWhen(
                    ITEM_COLUMNS[7:],
                    when="instrument",
                    equals="GAD-7",
                    reason="not allowed: GAD-7 leaves items 8-9 empty",
                ),
                # Blank items alone never quarantine a questionnaire (an item-9 answer must
                # not be lost with it); only one with no answer at all, which says nothing.
                AtLeastOne(
                    ITEM_COLUMNS,
                    report_as="(items)",
                    reason="no answers: a questionnaire needs at least one answered item",
                ),
                ItemTotal(
                    total="total",
                    instrument="instrument",
                    items=ITEM_COLUMNS,
                    items_per_instrument=INSTRUMENT_ITEMS,
                ),
            ),
            columns=(
                Column("patient_id", T.TEXT, required=True, references="patients.patient_id"),
                Column("completed_at", T.TIMESTAMP, required=True, not_future=True),
                Column(
                    "instrument",
                    T.TEXT,
                    required=True,
                    choices=INSTRUMENTS,
                    match=ChoiceMatch.SPELLING,
                    doc="also `PHQ9`, `phq-9`, `GAD7`, ... (case, spaces and hyphens ignored)",
                ),
                *(
                    Column(
                        name,
                        T.INTEGER,
                        required=(i == 0),
                        blank_ok=True,
                        minimum=0,
                        maximum=3,
                        doc="the column is required; a cell may be blank" if i == 0 else "",
                    )
                    for i, name in enumerate(ITEM_COLUMNS)
                ),
                Column(
                    "total", T.INTEGER, doc="optional; if present it is checked against the items"
                ),
            ),
        ),
        Table(
            name="checkins",
            doc="Daily self-report from the patient app.",
            key=("patient_id", "checked_in_at"),
            on_existing_key=OnExistingKey.KEEP,
            columns=(
                Column("patient_id", T.TEXT, required=True, references="patients.patient_id"),
                Column("checked_in_at", T.TIMESTAMP, required=True, not_future=True),
                Column("mood", T.INTEGER, required=True, minimum=0, maximum=10, doc="0 worst"),
                Column("anxiety", T.INTEGER, minimum=0, maximum=10, doc="0 none, 10 worst"),
                Column("energy", T.INTEGER, minimum=0, maximum=10),
                Column("note", T.TEXT, max_length=2000, free_text=True),
            ),
        ),
        Table(
            name="wearable_daily",
            doc="One row per patient per day per source. A stored key is replaced by a newer row.",
            key=("patient_id", "date", "source"),
            on_existing_key=OnExistingKey.UPDATE,
            rules=("at least one metric is present",),
            checks=(
                AtLeastOne(
                    WEARABLE_METRICS,
                    report_as="(metrics)",
                    reason="no metric: expected at least one of " + ", ".join(WEARABLE_METRICS),
                ),
            ),
            columns=(
                Column("patient_id", T.TEXT, required=True, references="patients.patient_id"),
                Column("date", T.DATE, required=True, not_future=True),
                Column("source", T.TEXT, default="unknown", doc="device or vendor"),
                Column("sleep_minutes", T.NUMBER, minimum=0, maximum=1440),
                Column("steps", T.INTEGER, minimum=0, maximum=100000),
                Column("resting_hr", T.NUMBER, minimum=20, maximum=250, doc="beats/min"),
                Column("hrv_rmssd_ms", T.NUMBER, minimum=1, maximum=500, doc="ms"),
                Column("active_minutes", T.NUMBER, minimum=0, maximum=1440),
                Column("wear_minutes", T.NUMBER, minimum=0, maximum=1440),
            ),
        ),
        Table(
            name="messages",
            doc=(
                "Chat between patient and care team or assistant. Patient messages get a "
                "language, a sentiment score and a crisis-language flag at ingest."
            ),
            key=("message_id",),
            on_existing_key=OnExistingKey.KEEP,
            analysed_text=AnalysedText(
                id="message_id", text="text", when="sender", equals="patient"
            ),
            columns=(
                Column(
                    "message_id",
                    T.TEXT,
                    derive=HashOf(("patient_id", "sent_at", "text"), prefix="m-", length=24),
                    doc="unique; when absent it is derived from patient_id, sent_at and text",
                ),
                Column("patient_id", T.TEXT, required=True, references="patients.patient_id"),
                Column("sent_at", T.TIMESTAMP, required=True, not_future=True),
                Column(
                    "sender", T.TEXT, required=True, choices=("patient", "clinician", "assistant")
                ),
                Column(
                    "text", T.TEXT, required=True, min_length=1, max_length=10000, free_text=True
                ),
            ),
        ),
        Table(
            name="appointments",
            doc="Appointments; a stored (patient_id, scheduled_at) is updated by a newer row.",
            key=("patient_id", "scheduled_at"),
            on_existing_key=OnExistingKey.UPDATE,
            columns=(
                Column("patient_id", T.TEXT, required=True, references="patients.patient_id"),
                Column("scheduled_at", T.TIMESTAMP, required=True),
                Column(
                    "status",
                    T.TEXT,
                    required=True,
                    choices=("attended", "no_show", "cancelled", "scheduled"),
                ),
                Column(
                    "clinician_id",
                    T.TEXT,
                    references="clinicians.clinician_id",
                    doc="when given",
                ),
            ),
        ),
        Table(
            name="events",
            doc="Clinical outcomes recorded by the care team.",
            key=("patient_id", "occurred_at", "kind"),
            on_existing_key=OnExistingKey.KEEP,
            columns=(
                Column("patient_id", T.TEXT, required=True, references="patients.patient_id"),
                Column("occurred_at", T.TIMESTAMP, required=True, not_future=True),
                Column(
                    "kind",
                    T.TEXT,
                    required=True,
                    choices=(
                        "relapse",
                        "hospitalization",
                        "crisis_contact",
                        "self_harm",
                        "discharge",
                        "other",
                    ),
                ),
                Column("note", T.TEXT, max_length=2000, free_text=True),
            ),
        ),
    )
}

# Tables are ingested in this order so that references resolve within one batch.
INGEST_ORDER: tuple[str, ...] = tuple(TABLES)


def table_for_stem(stem: str) -> Table | None:
    """The table a file name's stem starts with (the longest match), or None."""
    lowered = stem.strip().lower()
    for name in sorted(TABLES, key=len, reverse=True):
        if lowered.startswith(name):
            return TABLES[name]
    return None


def to_markdown() -> str:
    """The contract as the users' reference document (docs/data-contract.md)."""
    out = [
        f"# Data contract (version {CONTRACT_VERSION})",
        "",
        "<!-- Generated from analytics/data/contract.py by `caseload contract`; do not edit. -->",
        "",
        "The public input format of Caseload Insight: the files a clinic hands to",
        "`caseload ingest`. Required columns are **bold**; ranges are inclusive.",
        "",
        "## Files",
        "",
        "- CSV (UTF-8, with or without BOM, comma separated, header row) or Parquet.",
        "- The table comes from the file name: the stem starts with the table name",
        "  (`patients.csv`, `checkins_2026-11.parquet`, `messages-week47.csv`), or from",
        "  `--table`. An unknown table name rejects the file.",
        "- Column names match case-insensitively after trimming spaces. Extra columns are",
        "  ignored and reported once in the summary. Column order does not matter.",
        "- Timestamps are ISO 8601. With an offset (`2026-11-03T21:14:00-05:00`, `...Z`) they",
        "  are stored as UTC; without one they are read in the clinic's time zone",
        "  (`clinic_timezone` in `settings.toml`, default UTC). Dates are `YYYY-MM-DD`.",
        "- Empty cells are missing values; so are "
        + ", ".join(f"`{t}`" for t in NULL_TOKENS if t)
        + ".",
        "- Integers may be written `3` or `3.0`; `3.5` is not an integer.",
        "",
        "## Tables",
        "",
    ]
    for table in TABLES.values():
        out += [f"### {table.name}", "", table.doc, ""]
        out += ["| column | type | rule |", "|---|---|---|"]
        for col in table.columns:
            name = f"**{col.name}**" if col.required else col.name
            out.append(f"| {name} | {col.type.value} | {col.rule_text()} |")
        out.append("")
        out.append(f"Key: ({', '.join(table.key)}). " + _key_doc(table))
        for rule in table.rules:
            out.append(f"Rule: {rule}.")
        out.append("")
    out += [
        "## What bad input gets",
        "",
        "Nothing already stored is ever lost or changed by a bad file.",
        "",
        "- **File-level problems** (unreadable, not CSV or Parquet, unknown table, a required",
        "  column missing, a column named twice): the whole file is rejected with a message",
        "  naming the file, the problem and what was expected. Nothing from the file is",
        "  written. `caseload ingest` exits with status 2.",
        "- **Row-level problems** (bad type, out of range, unknown patient or clinician, a key",
        "  repeated inside the file, a timestamp in the future, a total that does not match the",
        "  items, a row that conflicts with a stored row of a keep-first table): the row goes to",
        "  quarantine with its file, line, column and reason; the other rows are stored. For a",
        "  key repeated inside a file the first occurrence is stored and later ones are",
        "  quarantined, naming the first line. `caseload quarantine` lists quarantined rows;",
        "  `caseload quarantine --export DIR` writes them as contract files to fix and",
        "  re-ingest.",
        "- A quarantined PHQ-9 whose item 9 holds a valid answer above 0 (a total that does",
        "  not match its items, say) still raises its item-9 safety alert for the patient's",
        "  therapist, saying the questionnaire is held in quarantine; the row itself stays out",
        "  of the store until it is fixed and re-ingested.",
        "- Lines count the header as line 1 and follow quoted line breaks, so they match a",
        "  text editor; for Parquet files the line is the row number plus 1.",
        "- `--strict`: any quarantined row stops the whole batch: nothing is written, exit 1.",
        "- A file is stored all or nothing: a crash or interrupt in the middle leaves the",
        "  store as it was before the file.",
        "- Ingest is idempotent: a file whose content was already ingested is skipped, and",
        "  rows whose key is already stored with the same values count as duplicates.",
        "- Every run prints and records a summary per file: rows read, stored, updated,",
        "  duplicates skipped, quarantined (by reason).",
        "",
    ]
    return "\n".join(out)


def _key_doc(table: Table) -> str:
    if table.on_existing_key is OnExistingKey.UPDATE:
        return "A row whose key is stored with other values replaces it (counted as updated)."
    return "A row whose key is stored with other values is quarantined; the stored row is kept."
