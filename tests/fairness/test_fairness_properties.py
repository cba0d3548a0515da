"""Properties: the audit does not depend on row order; a group compared with itself has
ratio 1; every estimate is a rate with an ordered interval."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.fairness import audit_predictions, to_json

rows = st.lists(
    st.tuples(
        st.integers(0, 1),  # label
        st.integers(0, 20).map(lambda i: i / 20),  # score, with ties
        st.sampled_from(["a", "b", "c"]),  # group
        st.integers(0, 15),  # patient
    ),
    min_size=12,
    max_size=60,
)


def frame(data) -> pl.DataFrame:
    y, s, g, p = zip(*data, strict=True)
    return pl.DataFrame(
        {"y": list(y), "s": list(s), "g": list(g), "patient_id": [f"p{i}" for i in p]}
    )


def audit(f: pl.DataFrame, **kwargs):
    return audit_predictions(
        f,
        label="y",
        score="s",
        attributes="g",
        n_boot=25,
        min_cell_size=0,
        mitigation=None,
        **kwargs,
    )


def comparable(result) -> dict:
    doc = to_json(result)
    doc["meta"].pop("created_at")
    return doc


@settings(max_examples=30, deadline=None)
@given(rows, st.randoms(use_true_random=False), st.booleans())
def test_the_audit_does_not_depend_on_row_order(data, random, by_patient):
    f = frame(data)
    shuffled = list(range(f.height))
    random.shuffle(shuffled)
    id_column = "patient_id" if by_patient else None
    assert comparable(audit(f, id_column=id_column)) == comparable(
        audit(f[shuffled], id_column=id_column)
    )


@settings(max_examples=30, deadline=None)
@given(rows)
def test_a_group_compared_with_itself_has_ratio_one(data):
    f = frame(data).with_columns(pl.lit("one").alias("g"))
    twin = pl.concat([f, f.with_columns(pl.lit("two").alias("g"))])
    result = audit(twin, reference="g=one", id_column=None)
    for d in result.disparities:
        if d.ratio.value is not None:
            assert d.ratio.value == pytest.approx(1.0)
            assert d.difference.value == pytest.approx(0.0)
            assert d.flag == "ok"


@settings(max_examples=30, deadline=None)
@given(rows)
def test_estimates_are_rates_with_ordered_intervals(data):
    result = audit(frame(data))
    for g in (result.overall, *result.groups):
        for name, e in g.metrics.items():
            if e.value is None:
                continue
            assert 0.0 <= e.value <= 1.0 + 1e-12, name
            if e.low is not None:
                assert e.low <= e.high
                assert 0 < e.n_valid <= 25


def test_a_metric_undefined_in_some_resamples_uses_the_others():
    # one positive in 40 rows: most resamples draw it, some do not
    y = np.zeros(40, dtype=int)
    y[0] = 1
    f = pl.DataFrame({"y": y, "s": np.linspace(0.9, 0.0, 40), "g": ["a"] * 40})
    tpr = audit(f, id_column=None).group("g=a").metrics["tpr"]
    assert tpr.value == 1.0
    assert 10 < tpr.n_valid < 25  # about 1 - (39/40)^40 = 64% of resamples
