"""Suppression: small groups are shown by name only, in every output, and no published
total gives one away by subtraction."""

from __future__ import annotations

import copy
import csv
import io
import itertools
import json
import re
from dataclasses import asdict

import duckdb
import numpy as np
import polars as pl
import pytest

from analytics.access.disclosure import (
    complementary_note,
    outcome_note,
    size_note,
    suppress_table,
)
from analytics.fairness import audit_predictions, to_csv, to_html, to_json, write_audit_tables
from analytics.fairness._suppression import suppress_tables

ZETA = "Zeta"
# Five patients with scores far from everyone else's: their figures would be distinctive.
ZETA_Y = [0, 0, 1, 1, 1]
ZETA_S = [0.00137, 0.00211, 0.99863, 0.99789, 0.00173]


def planted(simulated) -> pl.DataFrame:
    base = simulated(4000, seed=21, groups={"A": 0.6, "B": 0.3, "C": 0.1})
    rng = np.random.default_rng(0)
    base = base.with_columns(pl.Series("has_wearable", rng.random(base.height) < 0.7))
    zeta = pl.DataFrame(
        {
            "patient_id": [f"z{i}" for i in range(5)],
            "label": pl.Series(ZETA_Y, dtype=pl.Int8),
            "probability": ZETA_S,
            "group": [ZETA] * 5,
            "has_wearable": [True, False, True, True, False],
        }
    )
    return pl.concat([base, zeta])


def run(frame, k: int):
    return audit_predictions(
        frame,
        label="label",
        score="probability",
        attributes="group",
        n_boot=60,
        min_cell_size=k,
        seed=3,
    )


NUMBER = re.compile(r"\d+\.\d+")


def renderings(value: float) -> set[str]:
    """How a figure may be written: 4 decimals (JSON, CSV), 3 or 2 (HTML), percent."""
    return {
        repr(round(value, 4)),
        f"{value:.4f}",
        f"{value:.3f}",
        f"{value:.2f}",
    }


def floats(doc) -> list[float]:
    if isinstance(doc, float):
        return [doc]
    if isinstance(doc, dict):
        return [v for x in doc.values() for v in floats(x)]
    if isinstance(doc, list | tuple):
        return [v for x in doc for v in floats(x)]
    return []


def without(doc: dict, label: str) -> dict:
    """The JSON document with every entry about ``label`` removed."""
    doc = copy.deepcopy(doc)
    doc["groups"] = [g for g in doc["groups"] if g["label"] != label]
    for section in ("disparities", "calibration", "coverage"):
        doc[section] = [r for r in doc[section] if label not in (r["group"], r.get("reference"))]
    doc["whatif"]["rows"] = [r for r in doc["whatif"]["rows"] if r["group"] != label]
    doc["findings"] = []
    return doc


def test_a_group_of_five_leaks_no_figure_in_any_format(simulated):
    frame = planted(simulated)
    label = f"group={ZETA}"
    unsuppressed = asdict(run(frame, 0))  # what Zeta's figures would be, unrounded
    mine = [g for g in unsuppressed["groups"] if g["label"] == label]
    mine += [
        r
        for s in ("disparities", "calibration", "coverage")
        for r in unsuppressed[s]
        if r["group"] == label
    ]
    mine += [r for r in unsuppressed["whatif"]["rows"] if r["group"] == label]
    background = {r for v in floats(without(unsuppressed, label)) for r in renderings(v)}
    distinctive = {r for v in floats(mine) for r in renderings(v)} - background
    result = run(frame, 11)
    # The what-if pools small groups' thresholds, so shown groups' what-if figures differ
    # from the unsuppressed run's: they are shown groups' figures, not Zeta's.
    distinctive -= {
        r for w in asdict(result)["whatif"]["rows"] for v in floats(w) for r in renderings(v)
    }
    assert len(distinctive) >= 10, distinctive

    outputs = {
        "json": json.dumps(to_json(result), indent=2),
        "csv": to_csv(result),
        "html": to_html(result),
    }
    for fmt, text in outputs.items():
        leaked = sorted(set(NUMBER.findall(text)) & distinctive)
        assert not leaked, f"{fmt} shows figures of a suppressed group: {leaked}"

    z = result.group(f"group={ZETA}")
    assert z.suppressed and z.note == size_note(11)
    assert (z.n, z.patients, z.positives, dict(z.metrics)) == (None, None, None, {})
    # JSON: the group's entry carries its name and note only; nothing else names it
    doc = to_json(result)
    entry = next(g for g in doc["groups"] if g["label"] == z.label)
    assert entry["note"] == "suppressed (n < 11)"
    assert entry["n"] is None and entry["metrics"] == {}
    for section in ("disparities", "calibration", "coverage"):
        assert not [r for r in doc[section] if z.label in (r.get("group"), r.get("reference"))]
    assert not [r for r in doc["whatif"]["rows"] if r["group"] == z.label]
    # CSV: its only row has no figure
    rows = [r for r in csv.DictReader(io.StringIO(to_csv(result))) if r["group"] == z.label]
    assert len(rows) == 1 and rows[0]["note"] == z.note
    assert all(rows[0][c] == "" for c in ("value", "ci_low", "ci_high", "n_valid", "metric"))
    # HTML: the group's table row holds its name and the note only
    html = to_html(result)
    row = html[html.index(f"<td>group={ZETA}</td>") :].split("</tr>", 1)[0]
    assert re.sub(r"<[^>]+>", " ", row).split() == ["group=Zeta", "suppressed", "(n", "&lt;", "11)"]


def test_suppressed_groups_write_null_figures_to_duckdb(simulated):
    result = run(planted(simulated), 11)
    con = duckdb.connect()
    write_audit_tables(con, result, model="m", version="1")
    row = con.execute(
        "SELECT suppressed, note, n, patients, positives, tpr, tpr_low, auroc, brier "
        "FROM fairness_groups WHERE group_label = ?",
        [f"group={ZETA}"],
    ).fetchone()
    assert row == (True, "suppressed (n < 11)", None, None, None, None, None, None, None)
    for table in (
        "fairness_disparities",
        "fairness_calibration",
        "fairness_coverage",
        "fairness_whatif",
    ):
        n = con.execute(
            f"SELECT count(*) FROM {table} WHERE group_label = ?", [f"group={ZETA}"]
        ).fetchone()[0]
        assert n == 0, table


def test_no_suppressed_count_can_be_derived_by_subtraction(simulated):
    frame = planted(simulated).with_columns(
        pl.Series(
            "sex", np.random.default_rng(4).choice(["f", "m", "x"], 4005, p=[0.5, 0.48, 0.02])
        )
    )
    k = 11
    result = audit_predictions(
        frame,
        label="label",
        score="probability",
        attributes=["group", "sex"],
        intersections=True,
        n_boot=20,
        min_cell_size=k,
        mitigation=None,
    )
    assert result.suppressed()

    def residual(total, parts):
        rest = total - sum(parts)
        return rest == 0 or rest >= k

    singles = {t.name: t for t in result.tables if t.kind == "attribute"}
    for name in singles:
        shown = [g for g in result.groups if g.table == name and not g.suppressed]
        o = result.overall
        assert residual(o.n, [g.n for g in shown]), name
        assert residual(o.positives, [g.positives for g in shown]), name
        assert residual(o.n - o.positives, [g.n - g.positives for g in shown]), name
    # every published margin of the intersection table
    cells = [g for g in result.groups if g.table == "group & sex"]
    for margin_attr, pos in (("group", 0), ("sex", 1)):
        for margin in (g for g in result.groups if g.table == margin_attr and not g.suppressed):
            inside = [c for c in cells if c.values[pos] == margin.values[0]]
            shown = [c for c in inside if not c.suppressed]
            assert residual(margin.n, [c.n for c in shown]), margin.label
            assert residual(margin.positives, [c.positives for c in shown]), margin.label


def test_rule_primary_and_complementary():
    y = np.array([1, 0] * 30 + [1, 0, 0] + [1] * 5 + [0] * 20)
    groups = ["big"] * 60 + ["tiny"] * 3 + ["few_pos"] * 25
    values = [(g,) for g in ("big", "few_pos", "tiny")]
    rows = [np.flatnonzero(np.array(groups) == v[0]) for v in values]
    notes = suppress_table(values, rows, y, None, 11)
    assert notes[2] == size_note(11)
    assert notes[1] == outcome_note(11)  # 25 patients, but only 5 with the outcome
    # pooled tiny + few_pos have 8 with the outcome: 'big' would give them away
    assert notes[0] == complementary_note(11)
    assert suppress_table(values, rows, y, None, 0) == {}


def test_patients_not_rows_are_counted(simulated):
    # 40 predictions from 4 patients: too few people to show
    frame = simulated(3000, seed=8)
    few = pl.DataFrame(
        {
            "patient_id": [f"q{i % 4}" for i in range(40)],
            "label": pl.Series([i % 2 for i in range(40)], dtype=pl.Int8),
            "probability": np.linspace(0.05, 0.95, 40),
            "group": ["D"] * 40,
        }
    )
    result = audit_predictions(
        pl.concat([frame, few]),
        label="label",
        score="probability",
        attributes="group",
        n_boot=10,
        mitigation=None,
    )
    assert result.group("group=D").suppressed


@pytest.mark.parametrize("k", [5, 11, 20])
def test_every_shown_group_meets_the_minimum(simulated, k):
    frame = simulated(2000, seed=9, groups={"A": 0.9, "B": 0.05, "C": 0.03, "D": 0.02})
    result = audit_predictions(
        frame,
        label="label",
        score="probability",
        attributes="group",
        n_boot=10,
        min_cell_size=k,
        mitigation=None,
    )
    for g in result.groups:
        if not g.suppressed:
            assert g.n >= k and g.positives >= k and g.n - g.positives >= k
    labels = [g.label for g in result.groups]
    assert labels == sorted(labels)  # every group is listed, shown or not
    assert all(itertools.chain(g.label for g in result.suppressed()))


def _linked_clinic() -> pl.DataFrame:
    """Cells of A & B as (positives, negatives), one row per patient. a2 (6 patients)
    fails the rule; in A's table a1 is hidden to protect it. In the intersection, a3b1
    is the smallest cell beside a2b1, so per table it would be the one hidden with it,
    leaving both cells of a1 shown: their sum is a1, and the total minus a1 and a3 is a2."""
    cells = {
        ("a1", "b1"): (12, 12),
        ("a1", "b2"): (12, 12),
        ("a2", "b1"): (3, 3),
        ("a3", "b1"): (11, 11),
        ("a3", "b2"): (40, 40),
    }
    rows = [(a, b, 1) for (a, b), (pos, _) in cells.items() for _ in range(pos)]
    rows += [(a, b, 0) for (a, b), (_, neg) in cells.items() for _ in range(neg)]
    return pl.DataFrame(
        {
            "patient_id": [f"p{i}" for i in range(len(rows))],
            "A": [r[0] for r in rows],
            "B": [r[1] for r in rows],
            "label": pl.Series([r[2] for r in rows], dtype=pl.Int8),
            "probability": np.linspace(0.01, 0.99, len(rows)),
        }
    )


def test_an_intersection_cannot_add_up_to_a_hidden_margin():
    frame = _linked_clinic()
    y = frame["label"].to_numpy()
    a, b = frame["A"].to_numpy(), frame["B"].to_numpy()
    single = [("a1",), ("a2",), ("a3",)]
    single_rows = [np.flatnonzero(a == v[0]) for v in single]
    cross = [("a1", "b1"), ("a1", "b2"), ("a2", "b1"), ("a3", "b1"), ("a3", "b2")]
    cross_rows = [np.flatnonzero((a == u) & (b == v)) for u, v in cross]
    assert suppress_table(single, single_rows, y, None, 11) == {
        0: complementary_note(11),
        1: size_note(11),
    }
    # the attack, table by table: both cells of a1 shown
    alone = suppress_table(cross, cross_rows, y, None, 11)
    assert 0 not in alone and 1 not in alone and set(alone) == {2, 3}
    # linked (listed finest first: the order of the tables does not matter)
    notes = suppress_tables(
        [(("A", "B"), cross, cross_rows, True), (("A",), single, single_rows, True)], y, None, 11
    )
    assert set(notes[1]) == {0, 1}
    assert notes[0][0] == notes[0][1] == complementary_note(11)  # under the hidden a1
    assert 2 in notes[0]
    # and through the whole audit
    result = audit_predictions(
        frame,
        label="label",
        score="probability",
        attributes=["A", "B"],
        intersections=True,
        n_boot=10,
        mitigation=None,
    )
    hidden = {g.label for g in result.groups if g.suppressed}
    assert {"A=a1", "A=a2", "A=a1 & B=b1", "A=a1 & B=b2", "A=a2 & B=b1"} <= hidden
