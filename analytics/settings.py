"""The one place for Caseload Insight's settings.

Defaults are the clinical conventions in the product design. A clinic overrides any of
them in ``settings.toml`` inside its data directory; the data directory itself comes from
``--data-dir``, then ``CASELOAD_DATA_DIR``, then the platform default below.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = [
    "ALERT_RESPONSE_HOURS",
    "ENV_AUDIT_ANCHOR_FILE",
    "ENV_AUDIT_KEY_FILE",
    "ENV_DATA_DIR",
    "SETTINGS_FILE",
    "Band",
    "ClinicalSettings",
    "Settings",
    "SettingsError",
    "audit_anchor_path",
    "audit_key_path",
    "default_data_dir",
    "load_settings",
    "resolve_data_dir",
    "response_hours",
]

ENV_DATA_DIR = "CASELOAD_DATA_DIR"
# The audit key and anchor can live outside the data directory (see docs/threat-model.md);
# the environment wins over settings.toml, which the data directory's owner can edit.
ENV_AUDIT_KEY_FILE = "CASELOAD_AUDIT_KEY_FILE"
ENV_AUDIT_ANCHOR_FILE = "CASELOAD_AUDIT_ANCHOR_FILE"
SETTINGS_FILE = "settings.toml"


class SettingsError(ValueError):
    """``settings.toml`` cannot be read or holds an unknown or mistyped setting."""


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/caseload-insight``, or ``~/.local/share/caseload-insight``."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "caseload-insight"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data directory in use: the argument, the environment, or the default."""
    if data_dir:
        return Path(data_dir).expanduser().resolve()
    env = os.environ.get(ENV_DATA_DIR)
    if env:
        return Path(env).expanduser().resolve()
    return default_data_dir()


Band = tuple[int, int, str]

# Defaults for Settings.alert_response_hours: a crisis message within 4 hours, a positive
# item 9 within a day, a concern or a message the detector could not screen within 3 days.
ALERT_RESPONSE_HOURS: tuple[tuple[str, float], ...] = (
    ("crisis", 4),
    ("item9", 24),
    ("concern", 72),
    ("not_screened", 72),
)


def response_hours(settings: Settings) -> dict[str, float]:
    """``alert_response_hours`` as a mapping, every level present."""
    return {**dict(ALERT_RESPONSE_HOURS), **dict(settings.alert_response_hours)}


@dataclass(frozen=True)
class ClinicalSettings:
    """Questionnaire bands and change thresholds (NHS Talking Therapies defaults)."""

    phq9_bands: tuple[Band, ...] = (
        (0, 4, "minimal"),
        (5, 9, "mild"),
        (10, 14, "moderate"),
        (15, 19, "moderately severe"),
        (20, 27, "severe"),
    )
    gad7_bands: tuple[Band, ...] = (
        (0, 4, "minimal"),
        (5, 9, "mild"),
        (10, 14, "moderate"),
        (15, 21, "severe"),
    )
    # Reliable change: a change of at least this many points.
    phq9_reliable_change: int = 6
    gad7_reliable_change: int = 4
    # Caseness: at or above these a patient is "a case" for recovery purposes.
    phq9_caseness: int = 10
    gad7_caseness: int = 8
    # An item-9 answer above 0 within this many days is a current safety flag.
    item9_lookback_days: int = 14


@dataclass(frozen=True)
class Settings:
    """Everything configurable, resolved once and passed down."""

    data_dir: Path = field(default_factory=default_data_dir)
    # Timestamps without an offset are read in this IANA time zone.
    clinic_timezone: str = "UTC"
    # Groups smaller than this are suppressed in aggregates and audits.
    min_cell_size: int = 11
    # Files larger than this are refused by ingest (megabytes).
    max_ingest_file_mb: int = 2048
    # Hostile-file limits, checked before a file is parsed: columns in the header, bytes in
    # any one line, and (Parquet) the uncompressed size its metadata declares.
    max_ingest_columns: int = 500
    max_ingest_line_kb: int = 1024
    max_ingest_decompressed_mb: int = 512
    # The audit trail's key and its anchor (signed checkpoints of the chain head). Empty:
    # audit.key and audit-anchor.log in the data directory. A clinic should point the key
    # outside the data directory and the anchor at append-only (WORM) storage.
    audit_key_file: str = ""
    audit_anchor_file: str = ""
    # The research export is refused unless every patient shares their quasi-identifiers
    # (site, demographics, age band) with at least this many others.
    export_min_k: int = 5
    # A timestamp may be at most this far in the future at ingest (clock skew).
    future_tolerance_days: int = 1
    # An alert nobody has acknowledged after this many hours counts as overdue.
    alert_overdue_hours: int = 48
    # Per alert level: hours within which someone must acknowledge a safety alert before
    # it shows as overdue (Alerts, the patient page, the manager's per-clinician count).
    # In settings.toml: [alert_response_hours] with any of these keys.
    alert_response_hours: tuple[tuple[str, float], ...] = ALERT_RESPONSE_HOURS
    clinical: ClinicalSettings = field(default_factory=ClinicalSettings)
    # Risk models: training refuses with fewer positive labels than this in training or test.
    min_positive_labels: int = 30
    # Shares of the active caseload a clinician can review: the "high" tier is the first
    # budget, "medium" the next; evaluation reports recall and PPV at each.
    alert_budgets: tuple[float, ...] = (0.10, 0.20)


def _coerce(cls: type, values: dict[str, Any], source: Path) -> dict[str, Any]:
    known = {f.name: f for f in fields(cls)}
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key not in known:
            raise SettingsError(
                f"{source}: unknown setting {key!r}; expected one of {', '.join(sorted(known))}"
            )
        if isinstance(value, list):
            value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        expected = known[key].type
        if not _type_ok(expected, value):
            raise SettingsError(
                f"{source}: setting {key!r} should be {_type_name(expected)}, "
                f"got {type(value).__name__}"
            )
        out[key] = value
    return out


def _response_hours(value: Any, source: Path) -> tuple[tuple[str, float], ...]:
    levels = dict(ALERT_RESPONSE_HOURS)
    if not isinstance(value, dict):
        raise SettingsError(f"{source}: alert_response_hours must be a table of level = hours")
    for key, hours in value.items():
        if key not in levels:
            raise SettingsError(
                f"{source}: unknown alert level {key!r} in alert_response_hours; "
                f"expected one of {', '.join(levels)}"
            )
        if isinstance(hours, bool) or not isinstance(hours, int | float) or hours <= 0:
            raise SettingsError(f"{source}: alert_response_hours.{key} must be a positive number")
        levels[key] = hours
    return tuple(levels.items())


_SCALARS = {"int": int, "float": (int, float), "str": str, "bool": bool}


def _type_ok(annotation: object, value: object) -> bool:
    # Annotations are strings here (postponed evaluation); only scalars are checked, the
    # nested bands and budgets are checked by the code that uses them.
    expected = _SCALARS.get(str(annotation))
    if expected is None:
        return not isinstance(value, dict)
    if isinstance(value, bool) and str(annotation) != "bool":
        return False
    return isinstance(value, expected)


def _type_name(annotation: object) -> str:
    return {
        "int": "a whole number",
        "float": "a number",
        "str": "text",
        "bool": "true or false",
    }.get(str(annotation), "a list")


def load_settings(data_dir: str | os.PathLike[str] | None = None) -> Settings:
    """Settings for a data directory, with ``settings.toml`` overrides applied."""
    root = resolve_data_dir(data_dir)
    settings = Settings(data_dir=root)
    path = root / SETTINGS_FILE
    if not path.is_file():
        return settings
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        # tomllib names the line and column; the text of the line is not repeated.
        raise SettingsError(f"{path}: not valid TOML ({exc})") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot be read ({exc.strerror})") from None
    clinical_raw = raw.pop("clinical", {})
    raw.pop("data_dir", None)  # the location is never taken from inside itself
    if not isinstance(clinical_raw, dict):
        raise SettingsError(f"{path}: [clinical] must be a table of settings")
    if "alert_response_hours" in raw:
        raw["alert_response_hours"] = _response_hours(raw["alert_response_hours"], path)
    top = _coerce(Settings, raw, path)
    clinical = replace(settings.clinical, **_coerce(ClinicalSettings, clinical_raw, path))
    return replace(settings, clinical=clinical, **top)


def audit_key_path(settings: Settings) -> Path:
    """Where the audit-chain key is: environment, then settings.toml, then the data dir."""
    chosen = os.environ.get(ENV_AUDIT_KEY_FILE) or settings.audit_key_file
    return Path(chosen).expanduser() if chosen else settings.data_dir / "audit.key"


def audit_anchor_path(settings: Settings) -> Path:
    """Where the audit chain's signed checkpoints are appended (same order of precedence)."""
    chosen = os.environ.get(ENV_AUDIT_ANCHOR_FILE) or settings.audit_anchor_file
    return Path(chosen).expanduser() if chosen else settings.data_dir / "audit-anchor.log"
