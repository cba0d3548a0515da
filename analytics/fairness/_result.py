"""The audit result: computed once by ``audit_predictions``, then read by every output
(JSON, CSV, HTML, DuckDB tables). A suppressed group carries its name and note only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap percentile interval.

    ``n_valid`` is the number of resamples in which the value was defined (fewer than
    ``n_boot`` when, say, a resample drew no positives); the interval uses only those.
    """

    value: float | None
    low: float | None = None
    high: float | None = None
    n_valid: int | None = None


@dataclass(frozen=True)
class TableInfo:
    """One partition of the predictions: an attribute, an intersection, or a coverage split."""

    name: str  # "insurance", "gender & insurance", "coverage: wearable data"
    kind: str  # "attribute" | "intersection" | "coverage"
    attributes: tuple[str, ...]
    reference: str | None  # the reference group's label
    reference_reason: str | None
    groups: int
    suppressed: int


@dataclass(frozen=True)
class GroupResult:
    table: str
    kind: str
    attributes: tuple[str, ...]
    values: tuple[str, ...]
    label: str  # "insurance=Medicaid", "gender=female & insurance=Medicaid"
    suppressed: bool
    note: str | None = None  # the suppression note
    is_reference: bool = False
    n: int | None = None  # predictions
    patients: int | None = None  # distinct patients (None without a patient id)
    positives: int | None = None  # predictions with the outcome
    metrics: Mapping[str, Estimate] = field(default_factory=dict)


@dataclass(frozen=True)
class Disparity:
    table: str
    group: str
    reference: str
    metric: str
    value: float | None
    reference_value: float | None
    ratio: Estimate
    difference: Estimate
    flag: str  # "disparity" | "uncertain" | "ok" | "undefined"


@dataclass(frozen=True)
class CalibrationBin:
    table: str
    group: str
    bin: int
    score_low: float
    score_high: float
    mean_predicted: float
    observed: Estimate


@dataclass(frozen=True)
class CoverageShare:
    table: str
    group: str
    measure: str  # "wearable data"
    column: str
    kind: str  # "share" (of patients with it) | "mean" (mean share over patients)
    share: Estimate
    reference: str | None
    reference_share: float | None
    ratio: Estimate
    flag: str  # as for disparities: "disparity" (lower or higher coverage) | "uncertain" | "ok" | "undefined"


@dataclass(frozen=True)
class WhatIfRow:
    attribute: str
    group: str  # a group label, "overall", or "largest gap" (max minus min over shown groups)
    metric: str
    before: float | None
    after: float | None


@dataclass(frozen=True)
class WhatIf:
    """fairlearn's ThresholdOptimizer fitted on a validation slice and applied to the
    test part: an analysis only; clinicians' scores never change."""

    constraint: str
    objective: str
    split: str  # how the validation slice was chosen
    validation_rows: int
    test_rows: int
    rows: tuple[WhatIfRow, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    kind: (
        str  # "overview" | "disparity" | "uncertain" | "coverage" | "suppression" | "whatif" | "ok"
    )
    text: str
    table: str | None = None
    group: str | None = None
    metric: str | None = None


@dataclass(frozen=True)
class AuditMeta:
    source: str
    label: str
    score: str
    attributes: tuple[str, ...]
    threshold: float | None
    score_is_binary: bool
    n_boot: int
    seed: int
    confidence: float
    min_cell_size: int
    band: tuple[float, float]
    rows: int
    rows_dropped: int  # rows without a label or a score
    patients: int | None
    id_column: str | None
    time_column: str | None
    window_start: str | None  # "YYYY-MM": months, never exact dates
    window_end: str | None
    model: str | None
    version: str | None
    resampling: str  # "patients within groups" | "rows within groups"
    fairlearn_version: str
    created_at: str


@dataclass(frozen=True)
class AuditResult:
    meta: AuditMeta
    overall: GroupResult
    tables: tuple[TableInfo, ...]
    groups: tuple[GroupResult, ...]
    disparities: tuple[Disparity, ...]
    calibration: tuple[CalibrationBin, ...]
    coverage: tuple[CoverageShare, ...]
    whatif: WhatIf | None
    findings: tuple[Finding, ...]

    def group(self, label: str, table: str | None = None) -> GroupResult:
        """The group with this label (in ``table`` when given)."""
        for g in self.groups:
            if g.label == label and (table is None or g.table == table):
                return g
        raise KeyError(label)

    def suppressed(self) -> tuple[GroupResult, ...]:
        return tuple(g for g in self.groups if g.suppressed)
