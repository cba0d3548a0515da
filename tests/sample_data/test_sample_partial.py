"""Partly answered questionnaires: the demo clinic holds them, and they change nothing else.

The demo is the clinic `caseload demo` builds by default (its size, seed and mess), with
the end date pinned so the numbers never depend on today's date.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import duckdb
import polars as pl
import pytest

from analytics.cli import build_parser
from sample_data.generator import CLINIC_TZ, ClinicSpec, generate_with_truth

ITEMS = [f"item_{i}" for i in range(1, 10)]
DEMO_END = dt.date(2026, 11, 20)  # the end date every demo clinic in the suite uses


def _demo_spec() -> ClinicSpec:
    args = build_parser().parse_args(["demo", "--end-date", DEMO_END.isoformat()])
    return ClinicSpec(
        patients=args.patients, days=args.days, seed=args.seed, end_date=args.end_date
    )


@pytest.fixture(scope="module")
def demo_pair():
    """The default demo clinic, and the same clinic with every questionnaire complete."""
    spec = _demo_spec()
    return (
        generate_with_truth(spec),
        generate_with_truth(dataclasses.replace(spec, partial_questionnaires=False)),
    )


def _canonical(frame: pl.DataFrame) -> pl.Series:
    """Instrument as PHQ9 / GAD7, whatever the planted spelling."""
    return frame["instrument"].str.to_uppercase().str.replace_all(r"[\s-]", "")


def _blanks(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with, per row: ``kind`` (PHQ9 or GAD7), ``blank`` (how many of the
    instrument's own items are blank) and ``recent`` (in the last 14 days of data)."""
    kind = _canonical(frame)
    day = frame["completed_at"].dt.date()
    return frame.with_columns(
        kind.alias("kind"),
        pl.when(kind == "PHQ9")
        .then(pl.sum_horizontal(pl.col(ITEMS).is_null()))
        .otherwise(pl.sum_horizontal(pl.col(ITEMS[:7]).is_null()))
        .alias("blank"),
        (day > day.max() - dt.timedelta(days=14)).alias("recent"),
    )


def test_demo_has_partial_phq9_and_gad7_at_a_small_rate(demo_pair):
    rows = _blanks(demo_pair[0][0]["assessments"])
    for kind in ("PHQ9", "GAD7"):
        mine = rows.filter(pl.col("kind") == kind)
        partial = mine.filter(pl.col("blank") > 0)
        assert 0.02 <= partial.height / mine.height <= 0.04, kind
        # One to three blanks: PHQ-9s with 1-2 (prorated) and 3 (incomplete) both occur.
        assert set(partial["blank"].unique().to_list()) == {1, 2, 3}, kind


def test_demo_has_item9_positive_partial_phq9s_and_item9_blank_phq9s(demo_pair):
    rows = _blanks(demo_pair[0][0]["assessments"]).filter(pl.col("kind") == "PHQ9")
    partial = rows.filter(pl.col("blank") > 0)
    positive = partial.filter(pl.col("item_9") > 0)
    blank9 = partial.filter(pl.col("item_9").is_null())
    assert positive.height >= 3 and blank9.height >= 3
    # At least a few of each in the last two weeks, where the patient is most likely still
    # in care, so they show on the caseload and the alerts list.
    assert positive["recent"].sum() >= 3 and blank9["recent"].sum() >= 3
    # Item-9 answers of 2 and 3 occur, in complete questionnaires and in partial ones.
    assert {2, 3} <= set(positive["item_9"].to_list())
    assert rows.filter(pl.col("item_9") == 2).height > 100
    assert rows.filter(pl.col("item_9") == 3).height > 100


def test_blanking_changes_only_the_blanked_cells_and_their_totals(demo_pair):
    (tables, truth), (full, full_truth) = demo_pair
    assert tables.keys() == full.keys()
    for name in tables:
        if name != "assessments":
            assert tables[name].equals(full[name]), name
    for name, frame in truth.frames().items():
        assert frame.equals(full_truth.frames()[name]), name

    a, b = tables["assessments"], full["assessments"]
    assert a.columns == b.columns and a.height == b.height
    others = [c for c in a.columns if c not in [*ITEMS, "total"]]
    assert a.select(others).equals(b.select(others))
    changed = pl.DataFrame({c: a[c].ne_missing(b[c]) for c in ITEMS})
    # A changed item cell is always a blank where an answer was.
    for c in ITEMS:
        assert a[c].filter(changed[c]).null_count() == int(changed[c].sum()), c
    blanked = changed.select(pl.any_horizontal(pl.all())).to_series()
    assert 0 < int(blanked.sum()) < a.height
    # A total that was given becomes the sum of the answers left: the old total less the
    # blanked answers (so unchanged when they were all 0), and never appears or vanishes.
    removed = (
        b.select(pl.sum_horizontal(ITEMS)).to_series()
        - a.select(pl.sum_horizontal(ITEMS)).to_series()
    )
    assert a["total"].is_null().equals(b["total"].is_null())
    assert (a["total"] == b["total"] - removed).fill_null(True).all()
    assert not ((a["total"] != b["total"]).fill_null(False) & ~blanked).any()


def test_blanks_never_touch_planted_mess(demo_pair):
    # Only complete, valid rows are blanked: every planted row is left as it was, so it
    # keeps exactly its one mistake and the mess still counts back (test_sample_mess).
    (tables, truth), (full, _) = demo_pair
    a, b = tables["assessments"], full["assessments"]
    blanked = pl.DataFrame({c: a[c].ne_missing(b[c]) for c in ITEMS}).select(
        pl.any_horizontal(pl.all())
    )
    kind = _canonical(b)
    patients = full["patients"]["patient_id"].implode()
    planted_here = b.select(
        (pl.col("total").is_not_null() & (pl.col("total") != pl.sum_horizontal(ITEMS)))
        | pl.any_horizontal(pl.col(ITEMS) > 3)
        | ((kind == "GAD7") & pl.col("item_8").is_not_null())
        | pl.struct("patient_id", kind.alias("k"), "completed_at").is_duplicated()
        | ~pl.col("patient_id").is_in(patients)
    ).to_series()
    log = truth.mess.filter(pl.col("table") == "assessments")
    invalid = log.filter(~pl.col("valid_under_contract"))["count"].sum()
    # A duplicate_key plant makes two rows with the key (the original and its copy).
    copies = log.filter(pl.col("kind") == "duplicate_key")["count"].sum()
    assert int(planted_here.sum()) == invalid + copies
    assert not (planted_here & blanked.to_series()).any()


def test_mess_on_or_off_the_same_questionnaires_are_partial(clean, messy):
    # Blanks are drawn over the table before the mess, so mess=True is still mess=False
    # plus the planted rows: every partial row of the messy clinic is partial in the
    # clean one with the same blanks, and the only ones it lacks are planted rows.
    key = ["patient_id", "kind", "completed_at"]
    messy_rows = _blanks(messy[0]["assessments"])
    messy_rows = messy_rows.with_columns(pl.struct(key).is_duplicated().alias("repeated"))
    in_messy = messy_rows.filter(pl.col("blank") > 0)
    in_clean = _blanks(clean[0]["assessments"]).filter(pl.col("blank") > 0)
    assert in_messy.height > 0
    both = in_messy.join(in_clean, on=key, suffix="_clean")
    assert both.height == in_messy.height
    for c in ITEMS:
        assert both[c].is_null().equals(both[f"{c}_clean"].is_null()), c
    only_clean = in_clean.join(in_messy, on=key, how="anti").select(key)
    lacking = messy_rows.join(only_clean, on=key)
    # Each is a planted mistake: a total off the item sum, an item out of range, a GAD-7
    # item 8, or a repeated key.
    planted = lacking.select(
        (pl.col("total") != pl.sum_horizontal(ITEMS)).fill_null(False)
        | pl.any_horizontal(pl.col(ITEMS) > 3)
        | ((pl.col("kind") == "GAD7") & pl.col("item_8").is_not_null())
        | pl.col("repeated")
    ).to_series()
    assert lacking.height >= only_clean.height and planted.all()


def test_a_small_clinic_still_gets_each_kind(clean):
    # The floors: a clinic too small for the rate alone still holds each safety case
    # (test_sample_contract checks that it conforms to the contract).
    rows = _blanks(clean[0]["assessments"])
    phq = rows.filter((pl.col("kind") == "PHQ9") & (pl.col("blank") > 0))
    assert phq.filter(pl.col("item_9") > 0).height >= 3
    assert phq.filter(pl.col("item_9").is_null()).height >= 3
    assert rows.filter((pl.col("kind") == "GAD7") & (pl.col("blank") > 0)).height >= 3


def test_ingest_stores_every_generated_partial_questionnaire_as_written(clean, tmp_path):
    from analytics.data.ingest import ingest
    from analytics.settings import load_settings
    from sample_data.generator import write_clinic

    data = tmp_path / "data"
    data.mkdir()
    (data / "settings.toml").write_text(f'clinic_timezone = "{CLINIC_TZ}"\n')
    settings = load_settings(data)
    # Only what a questionnaire needs: message analysis would make this slow.
    needed = ("clinicians", "patients", "assessments")
    write_clinic({t: clean[0][t] for t in needed}, tmp_path / "files", fmt="csv")
    result = ingest([tmp_path / "files"], settings=settings)
    assert result.exit_code == 0
    assert sum(f.quarantined for f in result.files) == 0

    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        stored = con.sql(
            f"SELECT patient_id, instrument, completed_at, {', '.join(ITEMS)}, total "
            "FROM assessments"
        ).pl()
    finally:
        con.close()
    written = clean[0]["assessments"].with_columns(
        pl.col("completed_at").dt.convert_time_zone("UTC")
    )
    key = ["patient_id", "instrument", "completed_at"]
    stored = stored.with_columns(pl.col("completed_at").dt.convert_time_zone("UTC"))
    # Every row, blanks stored as missing (a blank item 9 never becomes 0), totals as given.
    assert stored.sort(key).select(written.columns).equals(written.sort(key))
    assert _blanks(stored)["blank"].sum() == _blanks(written)["blank"].sum() > 0


def test_the_contract_check_refuses_a_partial_row_with_its_old_total(
    clean, small_spec, contract_violations
):
    # The checker in conftest must tell a valid partial row from a bad one, or the
    # conformance tests above would pass whatever the generator wrote. Three blanks, so
    # no prorated total can match the old one by chance.
    tables = dict(clean[0])
    a = tables["assessments"]
    row = (
        a.with_row_index()
        .filter(pl.col("instrument") == "PHQ-9")
        .filter(pl.all_horizontal(pl.col(ITEMS).is_not_null()) & pl.col("total").is_not_null())
        .filter(pl.sum_horizontal(ITEMS[:3]) > 0)["index"][0]
    )
    three = a.with_columns(*(a[c].scatter(row, None) for c in ITEMS[:3]))
    tables["assessments"] = three
    assert contract_violations(tables, small_spec.end_date, CLINIC_TZ) == [
        "assessments: total differs from the item sum"
    ]
    answered = three.select(pl.sum_horizontal(ITEMS)).to_series()[row]
    tables["assessments"] = three.with_columns(three["total"].scatter(row, answered))
    assert contract_violations(tables, small_spec.end_date, CLINIC_TZ) == []
    empty = a.with_columns(*(a[c].scatter(row, None) for c in [*ITEMS, "total"]))
    tables["assessments"] = empty
    assert contract_violations(tables, small_spec.end_date, CLINIC_TZ) == [
        "assessments: PHQ-9 row with no answered item"
    ]
