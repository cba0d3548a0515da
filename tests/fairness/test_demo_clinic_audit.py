"""On the demo clinic the audit finds the generator's coverage-driven disparity and the
coverage audit shows its cause (sample_data/README.md: Medicaid/uninsured and rural
patients own and wear devices less; Spanish speakers write in a language VADER does not
score; true risk does not differ by group)."""

from __future__ import annotations

import polars as pl
import pytest

from analytics import views
from analytics.access import Context, actor_for_clinician
from analytics.settings import load_settings


@pytest.fixture(scope="module")
def researcher_view(full_demo):
    ctx = Context.open(load_settings(full_demo))
    researcher = ctx.snapshot.execute(
        "SELECT clinician_id FROM clinicians WHERE role = 'researcher' LIMIT 1"
    ).fetchone()[0]
    yield ctx, actor_for_clinician(ctx, researcher)
    ctx.close()


def _only_row(view, frame: pl.DataFrame, group: str, what: str) -> dict:
    """The one row of ``frame`` for ``group``; if there is none, say what was there instead
    (the groups shown and the ones suppressed), not an IndexError."""
    rows = frame.filter(pl.col("group") == group)
    assert rows.height == 1, (
        f"{rows.height} rows for {group!r} ({what}); groups shown: "
        f"{sorted(set(frame['group']))}; suppressed: {sorted(view.suppressed)}"
    )
    return rows.row(0, named=True)


def _coverage(view, group, measure):
    frame = view.coverage.filter(pl.col("measure").str.starts_with(measure))
    return _only_row(view, frame, group, f"coverage of {measure}")


def test_coverage_audit_shows_the_planted_cause(researcher_view):
    ctx, researcher = researcher_view
    by_insurance = views.fairness_audit(
        ctx, researcher, model="relapse_risk", attributes=("insurance",), budget=0.1
    )
    medicaid = _coverage(by_insurance, "insurance=Medicaid", "wearable data")
    assert medicaid["flag"] == "disparity" and medicaid["ratio"] < 0.6
    by_rurality = views.fairness_audit(
        ctx, researcher, model="relapse_risk", attributes=("rurality",), budget=0.1
    )
    rural = _coverage(by_rurality, "rurality=rural", "wearable data")
    assert rural["flag"] == "disparity" and rural["ratio"] < 0.7
    by_language = views.fairness_audit(
        ctx, researcher, model="relapse_risk", attributes=("primary_language",), budget=0.1
    )
    spanish = _coverage(by_language, "primary_language=Spanish", "sentiment available")
    assert spanish["flag"] == "disparity" and spanish["ratio"] < 0.7


def test_low_coverage_groups_are_found_less_often(researcher_view):
    """The model catches fewer relapses where data is thin: the rural group's TPR is below
    the reference's, and on the insurance x rurality intersection a group with low
    coverage is flagged as a disparity whose interval excludes parity."""
    ctx, researcher = researcher_view
    by_rurality = views.fairness_audit(
        ctx, researcher, model="relapse_risk", attributes=("rurality",), budget=0.1
    )
    tprs = by_rurality.disparities.filter(pl.col("metric") == "tpr")
    assert _only_row(by_rurality, tprs, "rurality=rural", "TPR disparity")["ratio"] < 0.9
    crossed = views.fairness_audit(
        ctx, researcher, model="relapse_risk", attributes=("insurance", "rurality"), budget=0.1
    )
    flagged = crossed.disparities.filter(
        (pl.col("flag") == "disparity") & (pl.col("metric") == "tpr")
    )
    assert flagged.height >= 1
    for group in flagged["group"]:
        # the flagged group has less wearable data
        assert _coverage(crossed, group, "wearable")["ratio"] < 0.8, group
    assert any("missing data is a likely cause" in line for line in crossed.summary.splitlines())
