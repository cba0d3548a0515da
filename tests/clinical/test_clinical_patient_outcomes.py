"""patient_outcomes (polars) against known answers and against the scalar functions."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analytics.clinical import (
    normalise_instrument,
    paired_outcome,
    patient_outcomes,
    reliable_change,
    severity_band,
)
from analytics.settings import ClinicalSettings

DEFAULTS = ClinicalSettings()
T0 = datetime(2026, 1, 5, 9, 30)

OUTPUT_COLUMNS = [
    "patient_id",
    *[
        f"{p}_{c}"
        for p in ("phq9", "gad7")
        for c in (
            "n_assessments",
            "baseline_total",
            "baseline_at",
            "latest_total",
            "latest_at",
            "latest_band",
            "change",
            "reliable_change",
        )
    ],
    "item9_latest_value",
    "item9_last_positive_at",
    "item9_last_positive_value",
    "caseness_at_baseline",
    "recovered",
    "reliably_improved",
    "reliably_deteriorated",
    "reliably_recovered",
    "outcome_status",
]


def frame(rows: list[tuple[str, str, datetime, int | None, int | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "patient_id": pl.String,
            "instrument": pl.String,
            "completed_at": pl.Datetime("us"),
            "total": pl.Int64,
            "item_9": pl.Int64,
        },
        orient="row",
    )


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


def by_patient(out: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {row["patient_id"]: row for row in out.to_dicts()}


# --- known answers


def test_known_answers() -> None:
    rows = [
        # p1: reliable recovery; rows out of order and in mixed spellings
        ("p1", "phq9", day(28), 8, 0),
        ("p1", "PHQ-9", day(0), 15, 1),
        ("p1", "PHQ-9", day(14), 12, None),
        ("p1", "GAD-7", day(0), 12, None),
        ("p1", "gad 7", day(28), 6, None),
        # p2: a single PHQ-9 and nothing else
        ("p2", "PHQ-9", day(3), 11, 2),
        # p3: GAD-7 only
        ("p3", "GAD-7", day(1), 3, None),
        ("p3", "GAD-7", day(9), 9, None),
    ]
    out = patient_outcomes(frame(rows), settings=DEFAULTS)
    assert out.columns == OUTPUT_COLUMNS
    assert out["patient_id"].to_list() == ["p1", "p2", "p3"]
    got = by_patient(out)

    p1 = got["p1"]
    assert p1["phq9_n_assessments"] == 3
    assert (p1["phq9_baseline_total"], p1["phq9_baseline_at"]) == (15, day(0))
    assert (p1["phq9_latest_total"], p1["phq9_latest_at"]) == (8, day(28))
    assert p1["phq9_latest_band"] == "mild"
    assert p1["phq9_change"] == -7
    assert p1["phq9_reliable_change"] == "reliable improvement"
    assert p1["gad7_change"] == -6
    assert p1["gad7_reliable_change"] == "reliable improvement"
    assert p1["item9_latest_value"] == 0
    assert p1["item9_last_positive_at"] == day(0)
    assert p1["item9_last_positive_value"] == 1
    assert p1["caseness_at_baseline"] is True
    assert p1["recovered"] is True
    assert p1["reliably_improved"] is True
    assert p1["reliably_deteriorated"] is False
    assert p1["reliably_recovered"] is True
    assert p1["outcome_status"] == "reliable recovery"

    p2 = got["p2"]
    assert p2["phq9_n_assessments"] == 1
    assert p2["phq9_baseline_total"] == p2["phq9_latest_total"] == 11
    assert p2["phq9_latest_band"] == "moderate"
    # one assessment is not a change, nor a failure to recover
    assert p2["phq9_change"] is None
    assert p2["phq9_reliable_change"] is None
    assert p2["caseness_at_baseline"] is True
    assert p2["recovered"] is None
    assert p2["outcome_status"] == "undetermined"
    assert p2["item9_latest_value"] == 2
    assert p2["item9_last_positive_at"] == day(3)
    assert p2["gad7_n_assessments"] == 0
    assert p2["gad7_baseline_total"] is None

    p3 = got["p3"]
    assert p3["phq9_n_assessments"] == 0
    assert p3["phq9_latest_band"] is None
    assert p3["gad7_change"] == 6
    assert p3["gad7_reliable_change"] == "reliable deterioration"
    assert p3["item9_latest_value"] is None
    assert p3["item9_last_positive_at"] is None
    assert p3["caseness_at_baseline"] is None  # GAD-7 3 says nothing about depression
    assert p3["reliably_deteriorated"] is None  # PHQ-9 might have improved: mixed
    assert p3["outcome_status"] == "undetermined"


def test_item9_missing_on_latest_is_not_carried_forward_or_zeroed() -> None:
    rows = [
        ("p", "PHQ-9", day(0), 14, 2),
        ("p", "PHQ-9", day(7), 12, 0),
        ("p", "PHQ-9", day(14), 10, None),
        ("p", "GAD-7", day(14), 5, 3),  # GAD-7 has no item 9; ignored
    ]
    row = by_patient(patient_outcomes(frame(rows), settings=DEFAULTS))["p"]
    assert row["item9_latest_value"] is None
    assert row["item9_last_positive_at"] == day(0)
    assert row["item9_last_positive_value"] == 2


def test_settings_change_the_frame() -> None:
    rows = [
        ("p", "PHQ-9", day(0), 15, 0),
        ("p", "PHQ-9", day(30), 10, 0),
        ("p", "GAD-7", day(0), 9, None),
        ("p", "GAD-7", day(30), 8, None),
    ]
    default = by_patient(patient_outcomes(frame(rows), settings=DEFAULTS))["p"]
    assert default["phq9_reliable_change"] == "no reliable change"
    assert default["phq9_latest_band"] == "moderate"
    assert default["recovered"] is False

    custom = replace(
        DEFAULTS,
        phq9_reliable_change=5,
        phq9_caseness=12,
        gad7_caseness=10,
        phq9_bands=((0, 10, "low"), (11, 27, "high")),
    )
    changed = by_patient(patient_outcomes(frame(rows), settings=custom))["p"]
    assert changed["phq9_reliable_change"] == "reliable improvement"
    assert changed["phq9_latest_band"] == "low"
    assert changed["recovered"] is True
    assert changed["outcome_status"] == "reliable recovery"


def test_time_zones_and_dates_are_kept() -> None:
    aware = frame([("p", "PHQ-9", day(0), 5, 0), ("p", "PHQ-9", day(1), 6, 0)]).with_columns(
        pl.col("completed_at").dt.replace_time_zone("UTC")
    )
    out = patient_outcomes(aware, settings=DEFAULTS)
    assert out.schema["phq9_latest_at"] == pl.Datetime("us", "UTC")
    assert out["phq9_latest_at"][0] == day(1).replace(tzinfo=UTC)

    dated = pl.DataFrame(
        {
            "patient_id": ["p", "p"],
            "instrument": ["GAD-7", "GAD-7"],
            "completed_at": [date(2026, 2, 1), date(2026, 1, 1)],
            "total": [4, 12],
            "item_9": [None, None],
        }
    )
    row = by_patient(patient_outcomes(dated, settings=DEFAULTS))["p"]
    assert row["gad7_baseline_at"] == date(2026, 1, 1)
    assert row["gad7_change"] == -8


def test_empty_input_gives_empty_frame_with_the_columns() -> None:
    out = patient_outcomes(frame([]), settings=DEFAULTS)
    assert out.height == 0
    assert out.columns == OUTPUT_COLUMNS


def test_extra_columns_are_ignored() -> None:
    df = frame([("p", "PHQ-9", day(0), 5, 0)]).with_columns(item_1=pl.lit(1))
    assert patient_outcomes(df, settings=DEFAULTS).columns == OUTPUT_COLUMNS


@pytest.mark.parametrize(
    ("df", "message"),
    [
        (frame([("p", "PHQ-9", day(0), 5, 0)]).drop("item_9"), r"missing column\(s\) \['item_9'\]"),
        (frame([("p", "PHQ-8", day(0), 5, 0)]), r"unknown instrument \['PHQ-8'\]"),
        (frame([("p", "PHQ-9", day(0), 28, 0)]), "total out of range"),
        (frame([("p", "GAD-7", day(0), 22, None)]), "total out of range"),
        (frame([("p", "GAD-7", day(0), -1, None)]), "total out of range"),
        (frame([("p", "PHQ-9", day(0), 5, 4)]), "item 9 out of range"),
        (frame([(None, "PHQ-9", day(0), 5, 0)]), "no patient_id"),  # type: ignore[list-item]
        (frame([("p", "PHQ-9", None, 5, 0)]), "no completed_at"),  # type: ignore[list-item]
        (
            frame([("p", "PHQ-9", day(0), 5, 0), ("p", "phq9", day(0), 6, 0)]),
            "repeat a \\(patient_id, instrument, completed_at\\) key",
        ),
        (
            frame([("p", "PHQ-9", day(0), 5, 0)]).with_columns(
                pl.col("total").cast(pl.Float64) + 0.5
            ),
            "whole numbers",
        ),
        (
            frame([("p", "PHQ-9", day(0), 5, 0)]).with_columns(
                pl.col("completed_at").cast(pl.String)
            ),
            "must be a datetime",
        ),
    ],
)
def test_bad_input_raises(df: pl.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        patient_outcomes(df, settings=DEFAULTS)


def test_integral_float_totals_are_accepted() -> None:
    df = frame([("p", "PHQ-9", day(0), 5, None)]).with_columns(
        pl.col("total").cast(pl.Float64), pl.col("item_9").cast(pl.Float64)
    )
    row = by_patient(patient_outcomes(df, settings=DEFAULTS))["p"]
    assert row["phq9_latest_total"] == 5
    assert row["item9_latest_value"] is None


# --- the frame agrees with the scalar functions on random histories

SPELLINGS = {"PHQ-9": ["PHQ-9", "phq9", " phq 9 "], "GAD-7": ["GAD-7", "gad7", "GAD_7"]}


@st.composite
def clinical_settings(draw: st.DrawFn) -> ClinicalSettings:
    if draw(st.booleans()):
        return DEFAULTS

    def bands(top: int) -> tuple[tuple[int, int, str], ...]:
        cuts = sorted(draw(st.sets(st.integers(1, top), max_size=5)))
        edges = [0, *cuts, top + 1]
        return tuple((lo, hi - 1, f"band {i}") for i, (lo, hi) in enumerate(pairwise(edges)))

    return ClinicalSettings(
        phq9_bands=bands(27),
        gad7_bands=bands(21),
        phq9_reliable_change=draw(st.integers(1, 12)),
        gad7_reliable_change=draw(st.integers(1, 10)),
        phq9_caseness=draw(st.integers(1, 27)),
        gad7_caseness=draw(st.integers(1, 21)),
    )


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[str, str, datetime, int, int | None]]:
    rows = []
    for patient in range(draw(st.integers(1, 6))):
        for instrument, top in (("PHQ-9", 27), ("GAD-7", 21)):
            days = draw(st.lists(st.integers(0, 400), unique=True, max_size=4))
            for offset in days:
                item9 = draw(st.none() | st.integers(0, 3)) if instrument == "PHQ-9" else None
                rows.append(
                    (
                        f"p{patient}",
                        draw(st.sampled_from(SPELLINGS[instrument])),
                        day(offset),
                        draw(st.integers(0, top)),
                        item9,
                    )
                )
    return draw(st.permutations(rows))


def expected_row(
    patient: str, rows: list[tuple[str, str, datetime, int, int | None]], cfg: ClinicalSettings
) -> dict[str, Any]:
    mine = [r for r in rows if r[0] == patient]
    expected: dict[str, Any] = {"patient_id": patient}
    follow_up: dict[str, tuple[int | None, int | None]] = {}
    for instrument, p in (("PHQ-9", "phq9"), ("GAD-7", "gad7")):
        history = sorted(
            (r for r in mine if normalise_instrument(r[1]) == instrument), key=lambda r: r[2]
        )
        first, last = (history[0], history[-1]) if history else (None, None)
        two = len(history) >= 2
        expected |= {
            f"{p}_n_assessments": len(history),
            f"{p}_baseline_total": first[3] if first else None,
            f"{p}_baseline_at": first[2] if first else None,
            f"{p}_latest_total": last[3] if last else None,
            f"{p}_latest_at": last[2] if last else None,
            f"{p}_latest_band": severity_band(instrument, last[3], settings=cfg) if last else None,
            f"{p}_change": last[3] - first[3] if two else None,
            f"{p}_reliable_change": (
                reliable_change(instrument, first[3], last[3], settings=cfg) if two else None
            ),
        }
        follow_up[p] = (first[3] if first else None, last[3] if two else None)
        if instrument == "PHQ-9":
            positives = [r for r in history if r[4] is not None and r[4] > 0]
            expected |= {
                "item9_latest_value": last[4] if last else None,
                "item9_last_positive_at": positives[-1][2] if positives else None,
                "item9_last_positive_value": positives[-1][4] if positives else None,
            }
    pair = paired_outcome(
        phq9_baseline=follow_up["phq9"][0],
        phq9_latest=follow_up["phq9"][1],
        gad7_baseline=follow_up["gad7"][0],
        gad7_latest=follow_up["gad7"][1],
        settings=cfg,
    )
    expected |= {
        "caseness_at_baseline": pair.caseness_at_baseline,
        "recovered": pair.recovered,
        "reliably_improved": pair.reliably_improved,
        "reliably_deteriorated": pair.reliably_deteriorated,
        "reliably_recovered": pair.reliably_recovered,
        "outcome_status": pair.status,
    }
    return expected


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=histories(), cfg=clinical_settings())
def test_frame_matches_scalar_functions(
    rows: list[tuple[str, str, datetime, int, int | None]], cfg: ClinicalSettings
) -> None:
    out = patient_outcomes(frame(rows), settings=cfg)
    assert out.columns == OUTPUT_COLUMNS
    patients = sorted({r[0] for r in rows})
    assert out["patient_id"].to_list() == patients
    for got in out.to_dicts():
        assert got == expected_row(got["patient_id"], rows, cfg)


def test_incomplete_questionnaire_counts_for_item9_not_for_totals() -> None:
    # An incomplete PHQ-9 (no total: too many blanks to prorate) is the latest, with
    # item 9 = 3: the flag is raised; baseline and latest totals come from scored ones.
    df = frame(
        [
            ("p", "PHQ-9", day(0), 12, 0),
            ("p", "PHQ-9", day(10), 20, 0),
            ("p", "PHQ-9", day(20), None, 3),
        ]
    )
    out = patient_outcomes(df, settings=ClinicalSettings()).row(0, named=True)
    assert out["phq9_n_assessments"] == 2
    assert (out["phq9_baseline_total"], out["phq9_latest_total"]) == (12, 20)
    assert out["phq9_latest_at"] == day(10)
    assert out["item9_latest_value"] == 3
    assert out["item9_last_positive_value"] == 3 and out["item9_last_positive_at"] == day(20)
