"""Mitigation what-if: group-specific thresholds from fairlearn's ThresholdOptimizer.

The optimizer is fitted on a validation slice and applied to the test part; the report
shows the model's decisions before (one threshold for everyone) and after (thresholds
chosen per group, randomised between two where needed), overall and per group, with the
cost in accuracy and alerts. It is an analysis only: it never changes the scores or
decisions clinicians see.

Groups too small to fit their own thresholds (suppressed, or fewer than ``k`` patients
with or without the outcome in the validation slice) share pooled thresholds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from fairlearn.postprocessing import ThresholdOptimizer
from sklearn.base import BaseEstimator

from analytics import metrics as _metrics

CONSTRAINTS = {
    "equalized_odds": "equalized odds (equal true and false positive rates)",
    "true_positive_rate_parity": "equal true positive rate",
}
ALIASES = {
    "equalized_odds": "equalized_odds",
    "eo": "equalized_odds",
    "true_positive_rate_parity": "true_positive_rate_parity",
    "tpr": "true_positive_rate_parity",
    "equal_tpr": "true_positive_rate_parity",
    "equal_opportunity": "true_positive_rate_parity",
}
# What the thresholds maximise under the constraint. Accuracy matches a 0.5 threshold on
# calibrated probabilities, so "before" and "after" differ by the constraint alone; with a
# rare outcome it may buy parity by flagging fewer, which the report shows as its cost.
# Balanced accuracy weighs both outcomes equally (and usually flags more).
OBJECTIVES = {
    "accuracy": "accuracy_score",
    "accuracy_score": "accuracy_score",
    "balanced_accuracy": "balanced_accuracy_score",
    "balanced_accuracy_score": "balanced_accuracy_score",
}
DEFAULT_OBJECTIVE = "accuracy_score"
WHATIF_METRICS = ("selection_rate", "tpr", "fpr", "fnr", "ppv", "accuracy")
POOLED = "(small groups pooled)"


class ScoresAsPredictions(BaseEstimator):
    """A fitted 'estimator' whose prediction is the score already in column 0 of X."""

    def fit(self, X, y=None):
        return self

    def predict(self, X):
        return np.asarray(X, dtype=float)[:, 0]

    def __sklearn_is_fitted__(self) -> bool:
        return True


def _key(text: str) -> str:
    return text.strip().lower().replace("-", "_").replace(" ", "_")


def canonical(constraint: str) -> str:
    """fairlearn's name of a constraint given by any of its aliases."""
    if _key(constraint) not in ALIASES:
        raise ValueError(
            f"unknown mitigation {constraint!r}; expected one of {', '.join(sorted(ALIASES))}"
        )
    return ALIASES[_key(constraint)]


def canonical_objective(objective: str) -> str:
    if _key(objective) not in OBJECTIVES:
        raise ValueError(
            f"unknown objective {objective!r}; expected one of {', '.join(sorted(OBJECTIVES))}"
        )
    return OBJECTIVES[_key(objective)]


def rates(y: np.ndarray, decision: np.ndarray) -> dict[str, float | None]:
    """The what-if metrics of 0/1 labels and decisions (None where undefined)."""
    every = _metrics.rates(y, decision)
    return {m: None if np.isnan(every[m]) else every[m] for m in WHATIF_METRICS}


@dataclass(frozen=True)
class Fitted:
    decisions: np.ndarray  # the test part's decisions after mitigation
    pooled: tuple[str, ...]  # groups that shared pooled thresholds


def fit_and_apply(
    *,
    constraint: str,
    objective: str = DEFAULT_OBJECTIVE,
    fit_y: np.ndarray,
    fit_score: np.ndarray,
    fit_group: np.ndarray,
    test_score: np.ndarray,
    test_group: np.ndarray,
    own_thresholds: set[str],
    seed: int,
) -> Fitted:
    """Fit on the validation slice; decide on the test part. ``own_thresholds``: the
    groups allowed thresholds of their own (all others are pooled)."""

    fit_group = np.where(np.isin(fit_group, list(own_thresholds)), fit_group, POOLED)
    test_group = np.where(np.isin(test_group, list(own_thresholds)), test_group, POOLED)
    pooled_fit = fit_y[fit_group == POOLED]
    if (POOLED in test_group or POOLED in fit_group) and (
        pooled_fit.size == 0 or pooled_fit.min() == pooled_fit.max()
    ):
        # The pool cannot be fitted on its own: it joins the largest group.
        values, sizes = np.unique(fit_group[fit_group != POOLED], return_counts=True)
        largest = values[np.argmax(sizes)]
        fit_group = np.where(fit_group == POOLED, largest, fit_group)
        test_group = np.where(test_group == POOLED, largest, test_group)
    optimizer = ThresholdOptimizer(
        estimator=ScoresAsPredictions(),
        constraints=constraint,
        objective=objective,
        prefit=True,
        predict_method="predict",
    )
    optimizer.fit(fit_score.reshape(-1, 1), fit_y.astype(int), sensitive_features=fit_group)
    decisions = optimizer.predict(
        test_score.reshape(-1, 1), sensitive_features=test_group, random_state=seed
    )
    pooled = sorted(set(np.unique(test_group)) - set(own_thresholds))
    return Fitted(np.asarray(decisions).astype(bool), tuple(str(p) for p in pooled))
