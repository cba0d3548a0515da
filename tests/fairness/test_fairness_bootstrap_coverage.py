"""Simulation: the bootstrap intervals cover the true value about 95% of the time."""

from __future__ import annotations

import numpy as np

from analytics.metrics import percentile_interval, prepare, replicate

TRUE_TPR = 0.7
DATASETS = 200


def dataset(rng: np.random.Generator, n: int = 600):
    """Positives score above 0.5 with probability exactly TRUE_TPR."""
    y = rng.random(n) < 0.4
    caught = rng.random(n) < TRUE_TPR
    score = np.where(y & caught, 0.5 + 0.5 * rng.random(n), 0.5 * rng.random(n))
    score = np.where(~y, rng.random(n), score)
    return y.astype(int), score


def test_intervals_cover_the_true_tpr_close_to_95_percent():
    rng = np.random.default_rng(2024)
    covered = 0
    for i in range(DATASETS):
        y, score = dataset(rng)
        reps = replicate(prepare(y, score), n_boot=400, rng=np.random.default_rng(i), threshold=0.5)
        low, high, n_valid = percentile_interval(reps.metrics["tpr"])
        assert n_valid == 400
        covered += low <= TRUE_TPR <= high
    coverage = covered / DATASETS
    print(
        f"bootstrap 95% interval coverage of the true TPR: {coverage:.3f} over {DATASETS} datasets"
    )
    assert 0.90 <= coverage <= 0.98
