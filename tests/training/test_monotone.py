"""Clinically fixed directions: raising a monotone feature never lowers a patient's score,
for the model that scores patients (the refit) and the calibrated probability shown."""

from __future__ import annotations

import numpy as np
import pytest

from analytics.models.features import feature_matrix
from analytics.models.training import MONOTONE, monotonic_cst

pytestmark = pytest.mark.slow

CASES = [
    (model, feature, sign) for model, fixed in MONOTONE.items() for feature, sign in fixed.items()
]


def test_constraints_follow_the_declared_directions():
    cst = monotonic_cst("relapse_risk", ("mood_7d", "phq9_latest", "episodes_so_far"))
    assert cst == [0, 1, 1]


@pytest.mark.parametrize(("model", "feature", "sign"), CASES)
def test_raising_a_monotone_feature_never_lowers_the_score(
    trained_clinic, training_frame, model, feature, sign
):
    _, outcomes = trained_clinic
    trained = outcomes[model].trained
    assert trained.params["monotonic_cst"].get(feature) == sign
    heldout = trained.heldout
    assert len(heldout) > 0
    j = list(trained.features).index(feature)
    # Real patients' rows from the held-out period, with the feature swept over its range
    # (missing included, as the model sees it) from low to high.
    keys = heldout[["patient_id", "as_of"]].head(200)
    frame = keys.merge(training_frame, on=["patient_id", "as_of"], how="left")
    x = feature_matrix(frame, trained.features)
    observed = x[:, j][~np.isnan(x[:, j])]
    grid = np.unique(np.quantile(observed, np.linspace(0, 1, 9))) if len(observed) else [0.0]
    grid = np.concatenate([grid, [grid[-1] + 5.0]])
    raw, prob = [], []
    for v in grid:
        xv = x.copy()
        xv[:, j] = v
        raw.append(trained.estimator.decision_function(xv))
        prob.append(trained.calibrator.predict_proba(xv)[:, 1])
    raw, prob = np.asarray(raw), np.asarray(prob)
    step = np.diff(raw, axis=0) * sign
    assert (step >= -1e-9).all(), f"{feature}: raising it lowered a raw score"
    assert (np.diff(prob, axis=0) * sign >= -1e-12).all()


@pytest.fixture(scope="module")
def training_frame(trained_clinic):
    from pathlib import Path

    from analytics.data.store import DataDir, connect
    from analytics.models.training import load_training_data

    settings = trained_clinic[0]
    con = connect(Path(":memory:"), settings=settings)
    con.execute("ATTACH ? AS wh (READ_ONLY)", [str(DataDir(settings.data_dir).warehouse)])
    try:
        return load_training_data(con, settings=settings).frame
    finally:
        con.close()
