"""Disparity: ratios, flags, the reference group, and the no-disparity known answers."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analytics.fairness import AuditInputError, audit_predictions
from analytics.fairness._disparity import flag


def test_flag_rule():
    assert flag(1.1, 0.9, 1.3) == "ok"
    assert flag(0.7, 0.6, 0.8) == "disparity"
    assert flag(1.4, 1.1, 1.7) == "disparity"
    assert flag(0.7, 0.5, 1.05) == "uncertain"
    assert flag(1.3, None, None) == "uncertain"
    assert flag(None, None, None) == "undefined"
    assert flag(0.8, 0.7, 0.9) == "ok" and flag(1.25, 1.2, 1.3) == "ok"


def test_identical_groups_give_ratio_one_and_no_flags(simulated):
    base = simulated(1500, seed=1, groups={"A": 1.0})
    twin = pl.concat([base, base.with_columns(pl.lit("B").alias("group"))])
    result = audit_predictions(
        twin,
        label="label",
        score="probability",
        attributes="group",
        n_boot=200,
        reference="A",
        mitigation=None,
        id_column=None,
    )
    rows = [d for d in result.disparities if d.table == "group"]
    assert rows
    for d in rows:
        assert d.ratio.value == pytest.approx(1.0)
        assert d.difference.value == pytest.approx(0.0)
        assert d.flag == "ok"
    assert not any(f.kind in ("disparity", "uncertain") for f in result.findings)


def test_permuted_group_labels_on_large_data_give_no_disparity_flags(simulated):
    frame = simulated(30_000, seed=2, noise={"A": 0.4, "B": 1.6, "C": 1.0})
    assert any(
        d.flag == "disparity"
        for d in audit_predictions(
            frame,
            label="label",
            score="probability",
            attributes="group",
            n_boot=100,
            mitigation=None,
        ).disparities
    ), "the unpermuted data has real disparities"
    permuted = frame.with_columns(
        pl.Series("group", np.random.default_rng(5).permutation(frame["group"].to_numpy()))
    )
    result = audit_predictions(
        permuted,
        label="label",
        score="probability",
        attributes="group",
        n_boot=200,
        mitigation=None,
    )
    flags = {d.flag for d in result.disparities}
    assert flags == {"ok"}, [
        (d.group, d.metric, d.ratio) for d in result.disparities if d.flag != "ok"
    ]


def test_reference_defaults_to_the_largest_group_and_can_be_named(simulated):
    frame = simulated(3000, seed=3)
    default = audit_predictions(
        frame, label="label", score="probability", attributes="group", n_boot=20, mitigation=None
    )
    assert default.tables[0].reference == "group=A"
    assert default.tables[0].reference_reason == "largest group"
    for spec in ("group=C", "C", {"group": "C"}, ["group=C"]):
        named = audit_predictions(
            frame,
            label="label",
            score="probability",
            attributes="group",
            n_boot=20,
            reference=spec,
            mitigation=None,
        )
        assert named.tables[0].reference == "group=C"
        assert named.group("group=C").is_reference
        assert {d.reference for d in named.disparities if d.table == "group"} == {"group=C"}


def test_a_bad_or_suppressed_reference_is_a_clear_error(simulated):
    frame = simulated(3000, seed=4)
    with pytest.raises(AuditInputError, match="not a group of any audited attribute"):
        audit_predictions(
            frame, label="label", score="probability", attributes="group", reference="Z", n_boot=5
        )
    with pytest.raises(AuditInputError, match="no such group"):
        audit_predictions(
            frame,
            label="label",
            score="probability",
            attributes="group",
            reference="group=Z",
            n_boot=5,
        )
    tiny = pl.concat([frame, simulated(6, seed=5, groups={"T": 1.0})])
    with pytest.raises(AuditInputError, match="suppressed"):
        audit_predictions(
            tiny,
            label="label",
            score="probability",
            attributes="group",
            reference="group=T",
            n_boot=5,
        )


def test_ratio_interval_pairs_resamples_and_reports_how_many_were_used(simulated):
    frame = simulated(4000, seed=6, noise={"B": 2.0})
    result = audit_predictions(
        frame, label="label", score="probability", attributes="group", n_boot=150, mitigation=None
    )
    d = next(d for d in result.disparities if d.group == "group=B" and d.metric == "auroc")
    assert d.ratio.low < d.ratio.value < d.ratio.high
    assert d.ratio.n_valid == 150
    assert d.value / d.reference_value == pytest.approx(d.ratio.value)


def test_intersections_are_audited_with_their_own_reference(simulated):
    frame = simulated(6000, seed=7).with_columns(
        pl.Series("sex", np.random.default_rng(1).choice(["f", "m"], 6000))
    )
    result = audit_predictions(
        frame,
        label="label",
        score="probability",
        attributes=["group", "sex"],
        intersections=True,
        n_boot=30,
        mitigation=None,
    )
    table = next(t for t in result.tables if t.kind == "intersection")
    assert table.name == "group & sex" and table.groups == 6
    assert result.group("group=B & sex=m").n is not None
    assert any(d.table == "group & sex" for d in result.disparities)
