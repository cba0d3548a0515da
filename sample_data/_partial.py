"""Partly answered questionnaires: a few PHQ-9s and GAD-7s come back with items blank.

This is the generator's last step, drawn from its own random stream, so it changes
nothing else: every other cell of every file, and the ground truth, are exactly what they
would be without it. The blanks are drawn over the table before any mess (so mess on or
off, the same questionnaires are partial) and applied only to complete, contract-valid
rows, so a row carrying planted mess keeps exactly its one mistake and the mess log
still counts back.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from ._util import choice_index

ITEMS = tuple(f"item_{i}" for i in range(1, 10))
PHQ, GAD = "PHQ9", "GAD7"  # instrument names with case, spaces and hyphens dropped

# Share of complete questionnaires that come back with items blank: small, as from a
# paper form or an app that lets a patient skip a question. Independent of severity and
# of the instrument: the point is to exercise storage and scoring of partial sittings,
# not to plant a missingness mechanism a model could learn from.
PARTIAL_P = 0.03
# How many items a partial sitting leaves blank (1, 2 or 3), each item equally likely.
# With one or two blanks a PHQ-9 total is prorated at ingest, with three it is missing;
# a GAD-7 with any blank has no total.
BLANKS_P = (0.65, 0.25, 0.10)
# Floors, capped at the rows available, so that even a small clinic holds the cases the
# app must get right: item 9 answered above 0 on a partial PHQ-9 (a safety flag whatever
# else is blank), item 9 itself blank ("not answered", never read as 0), a partial GAD-7.
MIN_ITEM9_POSITIVE = 3
MIN_ITEM9_BLANK = 3
MIN_GAD = 3
# The floors count, and top up from, the last days of data first: a patient seen then is
# most likely still in care, so the cases show on the current caseload and the alerts
# list (a discharged patient's alerts are not listed). 14 is the product's default
# item-9 look-back for a *current* flag.
RECENT_DAYS = 14


def blank(
    rng: np.random.Generator,
    clean: pl.DataFrame,
    finished: pl.DataFrame,
    patient_ids: pl.Series,
) -> pl.DataFrame:
    """``finished`` (the assessments table as written, mess and all) with items blanked
    on a few complete questionnaires.

    Which rows and items are blanked is drawn over ``clean`` (the table before any mess),
    so a clinic with mess has exactly the blanks of the same clinic without it, except
    on planted rows: only a row that is complete and contract-valid in ``finished`` is
    blanked. The total of a blanked row, where given, becomes the sum of the answered
    items (which the contract accepts for a partial questionnaire), so it changes only
    when a blanked answer was above 0.
    """
    mask = _plan(rng, clean, patient_ids)
    if not mask.any():
        return finished
    # Find each finished row's clean row by its key (planted copies under unknown
    # patients match none; a planted repeated key is not complete-and-valid below).
    key = ["patient_id", "_kind", "completed_at"]
    source = (
        finished.select("patient_id", _kind(finished).alias("_kind"), "completed_at")
        .with_row_index("_row")
        .join(
            clean.select("patient_id", _kind(clean).alias("_kind"), "completed_at").with_row_index(
                "_clean"
            ),
            on=key,
            how="left",
        )
        .sort("_row")["_clean"]
    )
    matched = source.is_not_null().to_numpy()
    ok = matched & _complete_and_valid(finished, _kind(finished).to_numpy(), patient_ids)
    rows = np.where(ok, source.fill_null(0).to_numpy(), 0)
    applied = mask[rows] & ok[:, None]
    values = finished.select(pl.col(ITEMS).fill_null(0)).to_numpy()
    removed = np.where(applied, values, 0).sum(axis=1)
    return finished.with_columns(
        *(
            pl.when(pl.Series(applied[:, j])).then(None).otherwise(pl.col(c)).alias(c)
            for j, c in enumerate(ITEMS)
        ),
        (pl.col("total") - pl.Series(removed)).alias("total"),
    )


def _plan(rng: np.random.Generator, clean: pl.DataFrame, patient_ids: pl.Series) -> np.ndarray:
    """Rows x items of ``clean`` to leave blank."""
    n = clean.height
    if n == 0:  # a clinic too small or short for any questionnaire
        return np.zeros((0, len(ITEMS)), dtype=bool)
    # Every draw has a fixed size and is made before any row is chosen, so the rows taken
    # at the rate never depend on how many the floors add.
    u = rng.random(n)
    count = choice_index(rng.random(n), np.asarray(BLANKS_P)) + 1
    keys = rng.random((n, len(ITEMS)))
    order = rng.permutation(n)

    kind = _kind(clean).to_numpy()
    phq, gad = kind == PHQ, kind == GAD
    keys[gad, 7:] = np.inf  # a GAD-7 has no items 8-9 to leave blank
    ok = _complete_and_valid(clean, kind, patient_ids)
    partial = ok & (u < PARTIAL_P)
    item9 = clean["item_9"].fill_null(0).to_numpy()
    day = clean["completed_at"].dt.date()
    recent = (day > day.max() - dt.timedelta(days=RECENT_DAYS)).fill_null(False).to_numpy()
    order = order[np.argsort(~recent[order], kind="stable")]  # recent rows first

    def blanks() -> np.ndarray:
        # An item is blank when its random key ranks among the row's first ``count``.
        rank = np.argsort(np.argsort(keys, axis=1), axis=1)
        return partial[:, None] & (rank < count[:, None])

    have = recent & partial & phq & (item9 > 0) & ~blanks()[:, 8]
    extra = _take(order, ok & ~partial & phq & (item9 > 0), MIN_ITEM9_POSITIVE - have.sum())
    keys[extra, 8] = np.inf  # item 9 stays answered on these
    partial[extra] = True

    have = recent & partial & phq & blanks()[:, 8]
    extra = _take(order, ok & ~partial & phq, MIN_ITEM9_BLANK - have.sum())
    keys[extra, 8] = -1.0  # item 9 is the first blank on these
    partial[extra] = True

    have = recent & partial & gad
    extra = _take(order, ok & ~partial & gad, MIN_GAD - have.sum())
    partial[extra] = True
    return blanks()


def _kind(frame: pl.DataFrame) -> pl.Series:
    """The instrument with case, spaces and hyphens dropped (planted spellings included)."""
    return frame["instrument"].str.to_uppercase().str.replace_all(r"[\s-]", "")


def _take(order: np.ndarray, candidates: np.ndarray, k: int) -> np.ndarray:
    """Up to ``k`` candidate rows, in ``order`` (recent rows first, each part shuffled)."""
    return order[candidates[order]][: max(int(k), 0)]


def _complete_and_valid(
    frame: pl.DataFrame, kind: np.ndarray, patient_ids: pl.Series
) -> np.ndarray:
    """Rows the contract accepts as they stand, with every item of the instrument
    answered: a known patient, a key used once, items 0 to 3 (none on a GAD-7's 8-9), and
    a total that is absent or the item sum. Anything else is planted mess."""
    answered = frame.select(pl.col(ITEMS).is_not_null()).to_numpy()
    in_range = frame.select(pl.col(ITEMS).is_between(0, 3).fill_null(True)).to_numpy()
    phq, gad = kind == PHQ, kind == GAD
    complete = (phq & answered.all(axis=1)) | (
        gad & answered[:, :7].all(axis=1) & ~answered[:, 7:].any(axis=1)
    )
    item_sum = frame.select(pl.sum_horizontal(ITEMS)).to_series()
    total_ok = (frame["total"].is_null() | (frame["total"] == item_sum)).to_numpy()
    key = pl.DataFrame(
        {"p": frame["patient_id"], "i": kind, "t": frame["completed_at"]}
    ).is_duplicated()
    known = frame["patient_id"].is_in(patient_ids.implode()).to_numpy()
    return complete & in_range.all(axis=1) & total_ok & ~key.to_numpy() & known
