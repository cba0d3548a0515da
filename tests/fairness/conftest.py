"""Simulated predictions frames for the fairness tests."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest


def simulate(
    n: int = 4000,
    *,
    seed: int = 0,
    groups: dict[str, float] | None = None,
    noise: dict[str, float] | None = None,
    prevalence_shift: float = -0.8,
    patients: int | None = None,
) -> pl.DataFrame:
    """Predictions with a logistic signal; ``noise`` adds score noise per group."""
    rng = np.random.default_rng(seed)
    groups = groups or {"A": 0.5, "B": 0.3, "C": 0.2}
    names = list(groups)
    group = rng.choice(names, n, p=np.array(list(groups.values())) / sum(groups.values()))
    signal = rng.normal(0.0, 1.0, n)
    label = rng.random(n) < 1.0 / (1.0 + np.exp(-(1.8 * signal + prevalence_shift)))
    sd = np.array([(noise or {}).get(g, 0.5) for g in group])
    score = 1.0 / (1.0 + np.exp(-(1.8 * signal + prevalence_shift + rng.normal(0, 1, n) * sd)))
    ids = rng.integers(0, patients, n) if patients else np.arange(n)
    return pl.DataFrame(
        {
            "patient_id": [f"p{i:05d}" for i in ids],
            "label": label.astype(np.int8),
            "probability": score,
            "group": group,
        }
    )


@pytest.fixture
def simulated():
    return simulate
