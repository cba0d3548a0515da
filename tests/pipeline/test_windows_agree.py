"""One patient, one usual sleep: the caseload, the risk reasons and the chart band agree.

A planted patient whose usual sleep is known exactly (7.5 h over days 14-73 before the
as-of date), with different sleep just outside that window on both sides and a device
left off for the last three days, so any of the three places that counted other days (an
older baseline of days 15-60, or a band anchored at the last night recorded rather than
the as-of date) would show another number.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from analytics import views
from analytics.access.roles import Context, actor_for_email
from analytics.data.ingest import ingest
from analytics.data.store import DataDir, connect
from analytics.models.explain import describe
from analytics.models.features import build_features
from analytics.serving.pipeline import refresh
from dashboard import charts

AS_OF = date(2026, 4, 30)


def _night(k: int) -> int | None:
    """Planted minutes of sleep ``k`` days before the as-of date (None: device off)."""
    if k <= 2:
        return None  # the last three days: no wearable data, check-ins go on
    if k <= 6:
        return 300  # the recent week: 5 h on four nights
    if k <= 13:
        return 600  # the guard week: in neither window
    if k <= 43:
        return 420
    if k <= 73:
        return 480  # usual: 30 nights of 7 h and 30 of 8 h, 7.5 h exactly
    return 600  # older than the usual window


@pytest.fixture
def planted(base_clinic, write_csv):
    wear = [
        {
            "patient_id": "p1",
            "date": (AS_OF - timedelta(days=k)).isoformat(),
            "source": "ring",
            "sleep_minutes": _night(k),
            "wear_minutes": 1200,
        }
        for k in range(3, 91)
    ]
    checkins = [
        {"patient_id": "p1", "checked_in_at": f"{AS_OF - timedelta(days=k)}T09:00:00Z", "mood": 5}
        for k in range(3)
    ]
    files = [write_csv("wearable_daily.csv", wear), write_csv("checkins.csv", checkins)]
    result = ingest(files, settings=base_clinic)
    assert result.exit_code == 0 and sum(f.quarantined for f in result.files) == 0
    assert refresh(settings=base_clinic).as_of == AS_OF
    return base_clinic


def test_caseload_reason_and_chart_quote_the_same_usual_sleep(planted):
    usual_h, recent_h = 7.5, 5.0
    usual_sd_h = 0.5 * math.sqrt(60 / 59)  # 30 nights each at ±0.5 h, sample SD

    # The caseload: "Sleep vs usual", from the serving snapshot's patient summary.
    ctx = Context.open(planted)
    try:
        actor = actor_for_email(ctx, "ada@example.org")
        row = views.caseload(ctx, actor).filter(pl.col("patient_id") == "p1").row(0, named=True)
        view = views.patient(ctx, actor, "p1")
    finally:
        ctx.close()
    assert row["sleep_change_h"] == pytest.approx(recent_h - usual_h)
    assert view.summary["sleep_baseline_h"] == pytest.approx(usual_h)
    assert view.summary["sleep_recent_7d_h"] == pytest.approx(recent_h)

    # The risk reason: the model features at the same as-of date, put in words.
    con = connect(Path(":memory:"), settings=planted)
    try:
        con.execute("ATTACH ? AS wh (READ_ONLY)", [str(DataDir(planted.data_dir).warehouse)])
        build_features(con, as_of=view.as_of)
        features = con.execute("SELECT * FROM features WHERE patient_id = 'p1'").df()
    finally:
        con.close()
    recent, usual, sentence = describe("sleep", features.to_dict("records")[0])
    assert (recent, usual) == pytest.approx((recent_h, usual_h))
    assert sentence == "Sleep averaged 5.0 h over the last 7 days, 2.5 h below their usual 7.5 h"

    # The chart: the band the patient view hands to the chart, as drawn.
    assert view.as_of == AS_OF
    band = view.usual["sleep_minutes"]
    assert band is not None and band.n == 60
    assert (band.mean / 60, band.sd / 60) == pytest.approx((usual_h, usual_sd_h))
    fig = charts.metric_timeline(
        view.daily, column="sleep_minutes", title="Sleep", unit="hours", scale=1 / 60, usual=band
    )
    shaded, mean_line = fig.layout.shapes
    assert (shaded.y0, shaded.y1) == pytest.approx((usual_h - usual_sd_h, usual_h + usual_sd_h))
    assert mean_line.y0 == pytest.approx(usual_h)
