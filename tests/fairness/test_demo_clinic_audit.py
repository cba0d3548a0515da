"""On the demo clinic the coverage audit finds the generator's planted cause of bias
(sample_data/README.md: Medicaid/uninsured and rural patients own and wear devices less;
true risk does not differ by group), and the audit claims no performance disparity that
its intervals cannot support.

Since the relapse outcome became a new episode among patients who are well (issue 14),
the held-out relapse set is small: the rural and Spanish-speaking groups fall under
primary or complementary suppression, so the coverage-driven TPR gap the old label showed
can no longer be confirmed or refuted on this clinic. Since the demo holds partly
answered questionnaires (some totals missing or lower), the Medicaid group of that set
has 10 patients with a new episode (11 before), one under the minimum cell of 11, so the
relapse audit suppresses it too and the planted Medicaid wearable gap is shown by the
engagement_drop audit. The tests say so rather than look the groups up."""

from __future__ import annotations

import polars as pl
import pytest

from analytics import views
from analytics.access.roles import Context, actor_for_clinician
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


MODELS = ("relapse_risk", "engagement_drop")


def test_coverage_audit_shows_the_planted_cause(researcher_view):
    ctx, researcher = researcher_view
    by_insurance = views.fairness_audit(
        ctx, researcher, model="engagement_drop", attributes=("insurance",), budget=0.1
    )
    medicaid = _coverage(by_insurance, "insurance=Medicaid", "wearable data")
    assert medicaid["flag"] == "disparity" and medicaid["ratio"] < 0.6
    commercial = _coverage(by_insurance, "insurance=Commercial", "wearable data")
    assert commercial["ratio"] == pytest.approx(1.0)  # the reference group


def test_relapse_audit_suppresses_medicaid_for_too_few_new_episodes(researcher_view):
    """10 Medicaid patients with a new episode in the held-out relapse set, under the
    minimum cell of 11: listed as suppressed with that reason, no figure shown."""
    ctx, researcher = researcher_view
    view = views.fairness_audit(
        ctx, researcher, model="relapse_risk", attributes=("insurance",), budget=0.1
    )
    assert "insurance=Medicaid" in view.suppressed
    medicaid = view.groups.filter(pl.col("group") == "insurance=Medicaid").row(0, named=True)
    assert medicaid["note"] == "suppressed (fewer than 11 with or without the outcome)"
    for frame in (view.disparities, view.coverage, view.calibration):
        assert "insurance=Medicaid" not in set(frame["group"])
    commercial = _coverage(view, "insurance=Commercial", "wearable data")
    assert commercial["ratio"] == pytest.approx(1.0)  # the reference group is still shown


@pytest.mark.parametrize("model", MODELS)
def test_no_tpr_disparity_is_claimed_beyond_its_interval(researcher_view, model):
    """A group is flagged as a TPR disparity only when its interval excludes parity."""
    ctx, researcher = researcher_view
    for attributes in (("insurance",), ("rurality",), ("insurance", "rurality")):
        view = views.fairness_audit(ctx, researcher, model=model, attributes=attributes, budget=0.1)
        tpr = view.disparities.filter(pl.col("metric") == "tpr")
        for row in tpr.iter_rows(named=True):
            excludes_parity = row["ratio_high"] < 1 or row["ratio_low"] > 1
            if row["flag"] == "disparity":
                assert excludes_parity, row


def test_small_groups_are_suppressed_not_shown(researcher_view):
    """The rural group of the held-out relapse set is below the disclosure threshold: it is
    listed as suppressed and has no figures anywhere in the view."""
    ctx, researcher = researcher_view
    view = views.fairness_audit(
        ctx, researcher, model="relapse_risk", attributes=("rurality",), budget=0.1
    )
    assert "rurality=rural" in view.suppressed
    # listed among the groups with the reason, every figure blank
    rural = view.groups.filter(pl.col("group") == "rurality=rural").row(0, named=True)
    assert rural["note"].startswith("suppressed")
    assert all(v is None for k, v in rural.items() if k not in ("group", "note")), rural
    for frame in (view.disparities, view.coverage, view.calibration):
        assert "rurality=rural" not in set(frame["group"])
