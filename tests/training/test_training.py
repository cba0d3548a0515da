"""Training: time split, refusal, baselines beaten, planted mechanisms found, reproducible,
and any contract-conforming clinic trains or refuses cleanly."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from analytics.access.disclosure import AGE_BAND_LABELS
from analytics.data.ingest import ingest
from analytics.data.store import DataDir, open_snapshot
from analytics.models.evaluation import auroc
from analytics.models.features import FEATURES_BY_NAME
from analytics.models.training import (
    fit_model,
    load_training_data,
    time_split,
    train_models,
)
from analytics.serving.pipeline import refresh
from analytics.settings import load_settings

pytestmark = pytest.mark.slow


def test_time_split_leaves_a_full_horizon_between_periods():
    dates = [date(2026, 1, 4) + timedelta(weeks=i) for i in range(40)]
    s = time_split(dates, horizon_days=28)
    assert s.train_end + timedelta(days=28) <= s.validation_start
    assert s.validation_end + timedelta(days=28) <= s.test_start
    assert s.test_end == dates[-1]


def test_refuses_with_too_little_data(base_clinic, write_csv):
    checkins = [
        {"patient_id": p, "checked_in_at": f"2026-03-{d:02d}T09:00:00Z", "mood": 5}
        for p in ("p1", "p2", "p3")
        for d in range(1, 31)
    ]
    ingest([write_csv("checkins.csv", checkins)], settings=base_clinic)
    outcomes = train_models(settings=base_clinic, resamples=10)
    assert [o.status for o in outcomes] == ["refused", "refused"]
    for o in outcomes:
        assert o.model in o.message and "unavailable" in o.message
    assert not (DataDir(base_clinic.data_dir).models / "current.json").exists()


def _auroc(outcome, method):
    return next(e for e in outcome.trained.evaluations if e.method == method).get("auroc")


def test_models_beat_the_baselines_on_held_out_auroc(trained_clinic):
    _, outcomes = trained_clinic
    relapse, engagement = outcomes["relapse_risk"], outcomes["engagement_drop"]
    assert relapse.status == engagement.status == "ok"
    for o in (relapse, engagement):
        counts = o.trained.counts
        assert counts["train"]["positives"] >= 30 and counts["test"]["positives"] >= 30
    assert _auroc(engagement, "model").estimate > _auroc(engagement, "clinical_rule").estimate
    # Relapse (a new episode in a well patient, issue 14) has few, noisy positives on this
    # 800-patient clinic: the model is not yet clearly better than the baselines (see
    # benchmarks/RESULTS.md, truth stage); it must at least not be clearly worse.
    for method in ("clinical_rule", "logistic"):
        assert _auroc(relapse, "model").estimate > _auroc(relapse, method).ci_low
        assert _auroc(relapse, method).estimate < _auroc(relapse, "model").ci_high
    # Engagement drop is a mostly monotone signal a logistic regression also finds well;
    # on this small clinic the two are within each other's intervals.
    model, logistic = _auroc(engagement, "model"), _auroc(engagement, "logistic")
    assert model.estimate > logistic.ci_low and logistic.estimate < model.ci_high


# The generator's planted mechanisms (sample_data/_latent.py, _tables.py, _messages.py):
# relapse prodromes move sleep, steps, resting HR, HRV, mood, anxiety and message tone,
# and raise questionnaire scores; disengagement fades check-ins and messages first.
RELAPSE_MECHANISMS = {
    "sleep",
    "steps",
    "resting_hr",
    "hrv",
    "mood",
    "anxiety",
    "sentiment",
    "phq9",
    "gad7",
    "mood_variability",
    "sleep_variability",
    # issue 14: the hazard rises with residual severity (which falls with time in care)
    # and past episodes; deteriorating patients check in, message and answer less.
    "episode_history",
    "days_in_care",
    "checkins",
    "messages",
    "assessment_recency",
    "item9",
}
ENGAGEMENT_MECHANISMS = {"checkins", "messages", "appointments", "assessment_recency"}


def _top_groups(outcome, n=10):
    return [FEATURES_BY_NAME[f].group for f in outcome.trained.importance["feature"][:n]]


def test_planted_mechanisms_are_among_the_top_features(trained_clinic):
    _, outcomes = trained_clinic
    relapse = _top_groups(outcomes["relapse_risk"])
    engagement = _top_groups(outcomes["engagement_drop"])
    assert sum(g in RELAPSE_MECHANISMS for g in relapse) >= 6, relapse
    assert {"phq9", "gad7"} & set(_top_groups(outcomes["relapse_risk"], 15))
    assert {"mood", "anxiety"} & set(relapse)
    # wearable effects are now of realistic (small) size
    assert {"sleep", "hrv", "resting_hr", "steps"} & set(_top_groups(outcomes["relapse_risk"], 20))
    assert sum(g in ENGAGEMENT_MECHANISMS for g in engagement) >= 4, engagement
    assert engagement[0] in ENGAGEMENT_MECHANISMS or engagement[1] in ENGAGEMENT_MECHANISMS


def test_same_seed_same_metrics(trained_clinic):
    settings, outcomes = trained_clinic
    from analytics.data.store import connect

    con = connect(__import__("pathlib").Path(":memory:"), settings=settings)
    con.execute("ATTACH ? AS wh (READ_ONLY)", [str(DataDir(settings.data_dir).warehouse)])
    data = load_training_data(con, settings=settings)
    con.close()
    again = fit_model(data, "relapse_risk", settings=settings, resamples=200)
    first = outcomes["relapse_risk"].trained
    assert again.evaluations == first.evaluations
    assert again.thresholds == first.thresholds
    np.testing.assert_array_equal(again.heldout["probability"], first.heldout["probability"])


def test_heldout_predictions_are_test_period_only_with_audit_columns(trained_clinic):
    _, outcomes = trained_clinic
    t = outcomes["relapse_risk"].trained
    h = t.heldout
    assert h["as_of"].min() >= t.split.test_start
    assert {"gender", "race_ethnicity", "primary_language", "insurance", "rurality"} <= set(h)
    assert {"age_band", "label", "probability", "coverage_note"} <= set(h)
    assert auroc(h["label"].to_numpy(), h["probability"].to_numpy()) == pytest.approx(
        _auroc(outcomes["relapse_risk"], "model").estimate
    )
    assert all(g.patients >= 11 for g in t.groups if not g.suppressed)
    # the training query's bands are the shared table's (under-18s are not 'Unknown')
    assert set(h["age_band"]) <= set(AGE_BAND_LABELS)


def _hand_made_clinic(folder, rng):
    """A small clinic written by hand to the contract: other sizes, categories, gaps."""
    import csv

    start = date(2025, 6, 1)
    days, n = 200, 160
    rows = {k: [] for k in ("clinicians", "patients", "checkins", "assessments", "events")}
    rows["clinicians"] = [
        {"clinician_id": "T1", "display_name": "T One", "site_id": "main"},
        {"clinician_id": "T2", "display_name": "T Two", "site_id": "annex"},
    ]
    for i in range(n):
        pid = f"HM-{i:03d}"
        enrol = int(rng.integers(0, 60))
        rows["patients"].append(
            {
                "patient_id": pid,
                "clinician_id": "T1" if i % 2 else "T2",
                "enrolled_on": start + timedelta(days=enrol),
                "gender": ["woman", "man", "", "two-spirit"][i % 4],
                "primary_language": ["fr-CA", "Tagalog", "", "en"][i % 4],
                "insurance": ["Self-pay", "", "Provincial"][i % 3],
                "rurality": ["", "rural"][i % 2],
            }
        )
        stop = enrol + int(rng.integers(30, days - enrol))  # they stop using the app
        level = rng.uniform(4, 20)
        for d in range(enrol, days):
            if d < stop and rng.random() < 0.6:
                rows["checkins"].append(
                    {
                        "patient_id": pid,
                        "checked_in_at": f"{start + timedelta(days=d)}T20:00:00",
                        "mood": int(rng.integers(0, 11)),
                    }
                )
            if (d - enrol) % 14 == 0 and d < stop:
                level = float(np.clip(level + rng.normal(0, 4), 0, 27))
                total = int(round(level))
                items = [min(3, max(0, total - 3 * k)) for k in range(9)]
                rows["assessments"].append(
                    {
                        "patient_id": pid,
                        "completed_at": f"{start + timedelta(days=d)}T10:00:00",
                        "instrument": "phq9",
                        **{f"item_{k + 1}": v for k, v in enumerate(items)},
                    }
                )
            if rng.random() < 0.003:
                rows["events"].append(
                    {
                        "patient_id": pid,
                        "occurred_at": f"{start + timedelta(days=d)}T12:00:00",
                        "kind": "crisis_contact",
                    }
                )
    folder.mkdir()
    for name, table in rows.items():
        with open(folder / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for r in table for k in r)))
            writer.writeheader()
            writer.writerows(table)


@pytest.mark.parametrize("min_positives", [30, 5])
def test_a_hand_made_clinic_trains_or_refuses_cleanly(tmp_path, min_positives):
    data = tmp_path / "data"
    data.mkdir()
    (data / "settings.toml").write_text(
        f'clinic_timezone = "Europe/Paris"\nmin_positive_labels = {min_positives}\n'
    )
    _hand_made_clinic(tmp_path / "files", np.random.default_rng(5))
    settings = load_settings(data)
    assert ingest([tmp_path / "files"], settings=settings).exit_code == 0
    outcomes = {o.model: o for o in train_models(settings=settings, resamples=50)}
    for o in outcomes.values():
        assert o.status in ("ok", "refused")
        if o.status == "refused":
            assert "too little data" in o.message or "no labelled" in o.message
    if min_positives == 5:
        assert outcomes["engagement_drop"].status == "ok"
    refreshed = refresh(settings=settings)
    _, con = open_snapshot(DataDir(data), settings=settings)
    try:
        status = dict(con.execute("SELECT model, status FROM model_status").fetchall())
        assert status == {m: o.status for m, o in outcomes.items()}
        scored = con.execute("SELECT model, count(*) FROM predictions GROUP BY model").fetchall()
        for model, n in scored:
            assert outcomes[model].status == "ok" and n == refreshed.active_patients
    finally:
        con.close()
