"""The fairness benchmark's input and its baseline.

``synthetic_predictions`` makes a deterministic predictions frame (100,000 rows, four
demographic attributes, probabilities whose noise depends on the group). The baseline
is fairlearn's own bootstrap: one ``MetricFrame`` per attribute with the same metric
functions as our audit, ``n_boot`` resamples and the same 95% quantiles.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import polars as pl

ATTRIBUTES = ("gender", "race_ethnicity", "insurance", "age_band")


def synthetic_predictions(rows: int = 100_000, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    levels = {
        "gender": (["female", "male", "nonbinary"], [0.55, 0.42, 0.03]),
        "race_ethnicity": (
            ["White", "Hispanic", "Black", "Asian", "Other"],
            [0.55, 0.18, 0.14, 0.08, 0.05],
        ),
        "insurance": (["Private", "Medicaid", "Medicare", "Uninsured"], [0.5, 0.25, 0.15, 0.1]),
        "age_band": (["18-29", "30-44", "45-64", "65+"], [0.25, 0.35, 0.3, 0.1]),
    }
    cols = {a: rng.choice(v, rows, p=p) for a, (v, p) in levels.items()}
    low = np.isin(cols["insurance"], ["Medicaid", "Uninsured"])
    signal = rng.normal(0.0, 1.0, rows)
    label = rng.random(rows) < 1.0 / (1.0 + np.exp(-(1.6 * signal - 1.0)))
    noise = rng.normal(0.0, 1.0, rows) * np.where(low, 1.4, 0.6)
    probability = 1.0 / (1.0 + np.exp(-(1.6 * signal - 1.0 + noise)))
    return pl.DataFrame({"label": label.astype(np.int8), "probability": probability, **cols})


def fairlearn_bootstrap(frame: pl.DataFrame, *, n_boot: int | None, seed: int = 0) -> dict:
    """fairlearn MetricFrame bootstrap of the audit's metrics, one frame per attribute
    (``n_boot=None``: the point estimates only). Returns the seconds and the groups."""
    from fairlearn.metrics import MetricFrame

    from analytics.fairness._metrics import metric_functions

    metrics = metric_functions(0.5)
    y = frame["label"].to_numpy()
    score = frame["probability"].to_numpy()
    started = time.perf_counter()
    groups = 0
    for attribute in ATTRIBUTES:
        mf = MetricFrame(
            metrics=metrics,
            y_true=y,
            y_pred=score,
            sensitive_features=pd.Series(frame[attribute].to_numpy(), name=attribute),
            n_boot=n_boot,
            ci_quantiles=[0.025, 0.975] if n_boot else None,
            random_state=seed,
        )
        groups += len(mf.by_group)
    return {"seconds": time.perf_counter() - started, "groups": groups}
