"""Chart builders are pure functions: check what they draw, not how it looks."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import polars as pl
import pytest

from analytics.models.windows import UsualRange
from analytics.settings import ClinicalSettings
from dashboard import charts

CLIN = ClinicalSettings()


def _assessments(totals, instrument="PHQ-9"):
    start = datetime(2026, 1, 1)
    bands = {t: "x" for t in totals}
    return pl.DataFrame(
        {
            "completed_at": [start + timedelta(days=14 * i) for i in range(len(totals))],
            "instrument": [instrument] * len(totals),
            "total": totals,
            "band": [bands[t] for t in totals],
            "item_9": [0] * len(totals),
        }
    )


def test_score_timeline_shades_every_band_and_marks_reliable_change():
    fig = charts.score_timeline(
        _assessments([18, 14, 12, 25]), instrument="PHQ-9", bands=CLIN.phq9_bands, reliable_change=6
    )
    shapes = fig.layout.shapes
    assert len(shapes) == 5  # one shaded rectangle per PHQ-9 band
    assert [(s.y0, s.y1) for s in shapes][0] == (-0.5, 4.5)
    labels = [a.text for a in fig.layout.annotations]
    assert labels == ["minimal", "mild", "moderate", "moderately severe", "severe"]
    symbols = list(fig.data[0].marker.symbol)
    # Change from 18: 0, -4, -6 (reliable improvement), +7 (reliable deterioration).
    assert symbols == ["circle", "circle", "triangle-down", "triangle-up"]
    assert tuple(fig.layout.yaxis.range) == (-0.5, 27.5)


def test_score_timeline_filters_instrument_and_handles_none():
    fig = charts.score_timeline(
        _assessments([5, 6], instrument="GAD-7"),
        instrument="PHQ-9",
        bands=CLIN.phq9_bands,
        reliable_change=6,
    )
    assert len(fig.data) == 0 and len(fig.layout.shapes) == 5


def test_metric_timeline_draws_the_usual_range_it_is_given():
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(90)]
    # The data's own spread would give another band: the chart must not compute one.
    sleep = [420.0 if i % 2 else 480.0 for i in range(76)] + [300.0] * 14
    usual = UsualRange(
        mean=450.0, sd=30.0, n=60, first_day=date(2026, 1, 1), last_day=date(2026, 3, 1)
    )
    fig = charts.metric_timeline(
        pl.DataFrame({"date": days, "sleep_minutes": sleep}),
        column="sleep_minutes",
        title="Sleep",
        unit="hours",
        scale=1 / 60,
        usual=usual,
    )
    band, mean_line = fig.layout.shapes
    assert (band.y0, band.y1) == pytest.approx((7.0, 8.0))  # (450 ± 30) min in hours
    assert (mean_line.y0, mean_line.y1) == pytest.approx((7.5, 7.5))
    assert [a.text for a in fig.layout.annotations] == ["usual range"]
    assert fig.data[0].y[-1] == pytest.approx(5.0)


def test_metric_timeline_without_a_usual_range_has_no_band():
    days = [date(2026, 1, 1) + timedelta(days=i) for i in range(90)]
    fig = charts.metric_timeline(
        pl.DataFrame({"date": days, "steps": [1000.0] * 90}),
        column="steps",
        title="Steps",
        unit="steps",
        usual=None,
    )
    assert len(fig.layout.shapes) == 0 and len(fig.data) == 1


def test_engagement_chart_counts_days_and_messages_per_week():
    days = [date(2026, 3, 2) + timedelta(days=i) for i in range(14)]  # Monday to Sunday, two weeks
    daily = pl.DataFrame({"date": days, "checkins": [1, 0] * 7, "messages": [2] * 14})
    fig = charts.engagement_chart(daily)
    assert list(fig.data[0].y) == [4, 3]
    assert list(fig.data[1].y) == [14, 14]
    assert fig.data[1].marker.pattern.shape == "/"  # not colour alone


def test_mood_sparkline_values_are_aligned_by_day():
    daily = pl.DataFrame({"date": [date(2026, 3, 10), date(2026, 3, 8)], "mood": [7.0, 3.0]})
    values = charts.mood_sparkline_values(daily, as_of=date(2026, 3, 10), days=5)
    assert values == [None, None, 3.0, None, 7.0]


def test_metrics_table_formats_intervals_per_method():
    metrics = pl.DataFrame(
        {
            "model": ["m"] * 3,
            "version": ["v"] * 3,
            "method": ["model", "logistic", "clinical_rule"],
            "metric": ["auroc"] * 3,
            "estimate": [0.8123, 0.7, 0.6],
            "ci_low": [0.78, 0.66, 0.55],
            "ci_high": [0.84, 0.74, 0.65],
        }
    )
    table = charts.metrics_table(metrics)
    assert table.columns == [
        "metric",
        "gradient boosting (calibrated)",
        "logistic regression",
        "clinical rule",
    ]
    assert table.row(0) == ("auroc", "0.812 (0.78–0.84)", "0.7 (0.66–0.74)", "0.6 (0.55–0.65)")


def test_curve_chart_styles_differ_beyond_colour():
    curves = pl.DataFrame(
        {
            "model": ["m"] * 4,
            "method": ["model", "model", "logistic", "logistic"],
            "curve": ["roc"] * 4,
            "x": [0.0, 1.0, 0.0, 1.0],
            "y": [0.0, 1.0, 0.0, 1.0],
        }
    )
    fig = charts.curve_chart(curves, kind="roc")
    dashes = [t.line.dash for t in fig.data[1:]]
    assert dashes == ["solid", "dash"]
    assert [t.name for t in fig.data] == [
        "chance",
        "gradient boosting (calibrated)",
        "logistic regression",
    ]
