"""Known answers: hand-computed confusion matrices, AUROC, Brier and calibration; the
vectorised bootstrap against the plain definitions on the very same resamples."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from analytics.fairness import audit_predictions
from analytics.fairness._metrics import METRICS, metric_functions
from analytics.metrics import draw_counts, prepare, replicate

# Group A, threshold 0.5: flagged = rows 0, 1, 3, 7 -> TP 3 (0, 1, 7), FP 1 (3), FN 1 (2), TN 3.
A_Y = [1, 1, 1, 0, 0, 0, 0, 1]
A_S = [0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.4, 0.6]
# Group B: flagged = rows 0, 1, 2 -> TP 1 (0), FP 2 (1, 2), FN 2 (3, 4), TN 1 (5).
B_Y = [1, 0, 0, 1, 1, 0]
B_S = [0.55, 0.95, 0.5, 0.45, 0.05, 0.35]


def frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "y": A_Y + B_Y,
            "p": A_S + B_S,
            "g": ["A"] * len(A_Y) + ["B"] * len(B_Y),
        }
    )


def small_audit(**kwargs):
    return audit_predictions(
        frame(),
        label="y",
        score="p",
        attributes="g",
        min_cell_size=0,
        n_boot=50,
        mitigation=None,
        **kwargs,
    )


def test_hand_computed_confusion_matrices():
    result = small_audit()
    a = result.group("g=A").metrics
    b = result.group("g=B").metrics
    # A: TP 3, FP 1, FN 1, TN 3
    assert a["prevalence"].value == pytest.approx(4 / 8)
    assert a["selection_rate"].value == pytest.approx(4 / 8)
    assert a["tpr"].value == pytest.approx(3 / 4)
    assert a["fpr"].value == pytest.approx(1 / 4)
    assert a["fnr"].value == pytest.approx(1 / 4)
    assert a["ppv"].value == pytest.approx(3 / 4)
    # B: TP 1, FP 2, FN 2, TN 1
    assert b["prevalence"].value == pytest.approx(3 / 6)
    assert b["selection_rate"].value == pytest.approx(3 / 6)
    assert b["tpr"].value == pytest.approx(1 / 3)
    assert b["fpr"].value == pytest.approx(2 / 3)
    assert b["fnr"].value == pytest.approx(2 / 3)
    assert b["ppv"].value == pytest.approx(1 / 3)
    assert result.group("g=A").n == 8 and result.group("g=A").positives == 4
    # overall: TP 4, FP 3, FN 3, TN 4
    o = result.overall.metrics
    assert o["tpr"].value == pytest.approx(4 / 7) and o["fpr"].value == pytest.approx(3 / 7)


def test_hand_computed_auroc_brier_and_calibration():
    a = small_audit().group("g=A").metrics
    # positives .9 .8 .3 .6 vs negatives .7 .2 .1 .4: 4 + 4 + 2 + 3 = 13 of 16 pairs
    assert a["auroc"].value == pytest.approx(13 / 16)
    assert a["brier"].value == pytest.approx(
        (0.01 + 0.04 + 0.49 + 0.49 + 0.04 + 0.01 + 0.16 + 0.16) / 8
    )
    # ten bins, one score each except none: |observed - predicted| summed over bins / 8
    expected = (0.1 + 0.2 + 0.7 + 0.7 + 0.2 + 0.1 + 0.4 + 0.4) / 8
    assert a["calibration_error"].value == pytest.approx(expected)


def test_undefined_metrics_are_missing_not_zero():
    f = pl.DataFrame({"y": [0, 0, 0, 1, 1], "p": [0.1, 0.6, 0.2, 0.9, 0.8], "g": list("AAABB")})
    result = audit_predictions(
        f, label="y", score="p", attributes="g", min_cell_size=0, n_boot=20, mitigation=None
    )
    a = result.group("g=A").metrics
    assert a["tpr"].value is None and a["auroc"].value is None
    assert a["fpr"].value == pytest.approx(1 / 3)


@pytest.mark.parametrize("clustered", [False, True])
def test_bootstrap_replicates_equal_the_definitions_on_the_same_resamples(clustered):
    rng = np.random.default_rng(3)
    n = 60
    y = (rng.random(n) < 0.4).astype(int)
    s = np.round(rng.random(n), 2)  # ties on purpose
    unit = rng.integers(0, 25, n) if clustered else None
    sample = prepare(y, s, unit=unit)
    reps = replicate(
        sample, n_boot=30, rng=np.random.default_rng(11), threshold=0.5, curve_bins=[(0, 4), (5, 9)]
    )
    counts = draw_counts(np.random.default_rng(11), 30, sample.n_units)
    ys = np.r_[np.ones(len(sample.s_pos)), np.zeros(len(sample.s_neg))]
    ss = np.r_[sample.s_pos, sample.s_neg]
    functions = metric_functions(0.5)
    for b in range(30):
        w = counts[b] if sample.cluster is None else counts[b][sample.cluster]
        rows = np.repeat(np.arange(len(ys)), w.astype(int))
        for m in METRICS:
            expected = functions[m](ys[rows], ss[rows])
            got = reps.metrics[m][b]
            if np.isnan(expected):
                assert np.isnan(got), m
            else:
                assert got == pytest.approx(expected, abs=1e-12), (m, b)
        low = ss[rows] < 0.5
        assert reps.curve_observed[b, 0] == pytest.approx(ys[rows][low].mean())


def test_point_estimates_come_from_fairlearn_metricframe(monkeypatch):
    """The per-group figures are the ones fairlearn's MetricFrame returns for the audit's
    rows. MetricFrame is replaced, where it is looked up, by one that records its inputs
    and halves every value it returns: the report must show exactly the halves, so a
    per-group figure computed any other way (or MetricFrame called and then ignored)
    fails here."""
    import fairlearn.metrics

    import analytics.fairness._metrics as fairness_metrics

    real_frame = fairlearn.metrics.MetricFrame
    calls = []

    class HalvingMetricFrame:
        def __init__(self, **kwargs):
            self.real = real_frame(**kwargs)
            calls.append((kwargs, self.real))

        @property
        def by_group(self):
            return self.real.by_group.map(lambda values: values * 0.5)

    monkeypatch.setattr(fairlearn.metrics, "MetricFrame", HalvingMetricFrame)
    monkeypatch.setattr(fairness_metrics, "MetricFrame", HalvingMetricFrame)
    result = small_audit()

    assert len(calls) == 1, "one MetricFrame for the one attribute audited"
    kwargs, real = calls[0]
    # The inputs are the audit's rows (in its own order): each row's group, label, score.
    sensitive = kwargs["sensitive_features"]
    given = sorted(zip(sensitive["g"], kwargs["y_true"], kwargs["y_pred"], strict=True))
    f = frame()
    assert given == sorted(zip(f["g"], f["y"], f["p"], strict=True))
    for g in ("A", "B"):
        computed = dict(zip(METRICS, real.by_group["all"].loc[g], strict=True))
        reported = result.group(f"g={g}").metrics
        for m in METRICS:
            if np.isnan(computed[m]):
                assert reported[m].value is None, (g, m)
            else:
                assert reported[m].value == pytest.approx(0.5 * computed[m]), (g, m)
    # MetricFrame itself computed the hand-computed answers (before halving).
    assert real.by_group["all"].loc["A"][METRICS.index("tpr")] == pytest.approx(3 / 4)
    assert real.by_group["all"].loc["B"][METRICS.index("ppv")] == pytest.approx(1 / 3)
    # The overall row is not a group and does not come from MetricFrame.
    assert result.overall.metrics["tpr"].value == pytest.approx(4 / 7)
