"""The model cards' group results follow the one disclosure rule: a small group is
suppressed, and so is the next smallest where the card's test totals would otherwise give
it away by subtraction; categories are folded as in the bias audit, which hides the same
groups of the same predictions."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pandas as pd
import pytest

from analytics.access.disclosure import ATTRIBUTES, counts, passes
from analytics.fairness import audit_predictions
from analytics.models import registry
from analytics.models.model_audits import _fold_categories
from analytics.models.training import _group_metrics

K = 11
PLANTED = "Tricare"  # four patients: their figures must not be recoverable
# insurance -> patients; each patient has two test rows (two as-of dates)
INSURANCE = {"Commercial": 60, "Medicaid": 40, "Medicare": 24, PLANTED: 4}
SPANISH = ["es", "Español", "spanish", "ES"]  # one language, four spellings


def _heldout() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    rows = []
    pid = 0
    for insurance, n in INSURANCE.items():
        for _ in range(n):
            pid += 1
            language = SPANISH[pid % 4] if pid % 3 == 0 else "English"
            label = int(pid % 2 == 0)  # half the patients have the outcome, in both rows
            for week in range(2):
                rows.append(
                    {
                        "patient_id": f"p{pid:03d}",
                        "as_of": f"2026-0{week + 1}-04",
                        "label": label,
                        "probability": float(np.clip(0.3 + 0.4 * label + rng.normal(0, 0.2), 0, 1)),
                        "gender": ["Female", "Male"][pid % 2],
                        "race_ethnicity": "Unknown",
                        "primary_language": language,
                        "insurance": insurance,
                        "rurality": ["urban", "rural"][pid % 5 == 0],
                        "age_band": "25-34",
                    }
                )
    return pd.DataFrame(rows)


def _by(groups, attribute):
    return {g.group: g for g in groups if g.attribute == attribute}


def test_a_planted_small_group_cannot_be_recovered_from_the_card_totals():
    heldout = _heldout()
    groups = _group_metrics(heldout, min_cell=K)
    insurance = _by(groups, "insurance")
    assert insurance[PLANTED].suppressed and insurance[PLANTED].note == "suppressed (n < 11)"
    # Medicare (24 patients, 12 with the outcome) passes on its own, but hidden alone the planted group would be
    # the test total minus the shown groups: the smallest shown group is hidden with it.
    assert insurance["Medicare"].suppressed
    assert insurance["Medicare"].note.startswith("suppressed (complementary")
    assert not insurance["Commercial"].suppressed and not insurance["Medicaid"].suppressed
    for g in (insurance[PLANTED], insurance["Medicare"]):
        figures = asdict(g)
        assert all(figures[f] is None for f in ("patients", "rows", "positives", "prevalence",
                                                "mean_probability", "auroc", "brier"))  # fmt: skip

    # What subtraction from the card's test totals gives: the hidden groups together only.
    y = heldout["label"].to_numpy()
    unit = pd.factorize(heldout["patient_id"])[0]
    shown = [g for g in insurance.values() if not g.suppressed]
    total_patients = heldout["patient_id"].nunique()
    total_positives = int(y.sum())
    residual_patients = total_patients - sum(g.patients for g in shown)
    residual_positives = total_positives - sum(g.positives for g in shown)
    planted = heldout["insurance"] == PLANTED
    assert residual_patients == INSURANCE[PLANTED] + INSURANCE["Medicare"] != INSURANCE[PLANTED]
    assert residual_positives != int(y[planted.to_numpy()].sum())
    hidden = np.flatnonzero(heldout["insurance"].isin([PLANTED, "Medicare"]).to_numpy())
    assert passes(counts(hidden, y, unit), K)  # the residual is itself a safe group


@pytest.mark.slow
def test_the_card_shows_the_note_and_no_figure_of_a_suppressed_group(trained_clinic):
    _, outcomes = trained_clinic
    path = outcomes["relapse_risk"].path
    card = json.loads((path / "model_card.json").read_text())
    card["by_group"] = [asdict(g) for g in _group_metrics(_heldout(), min_cell=K)]
    text = registry.model_card_markdown(card)
    row = next(line for line in text.splitlines() if f"| insurance | {PLANTED} |" in line)
    assert "suppressed (n < 11)" in row
    assert not any(c.isdigit() for c in row.replace("(n < 11)", ""))
    medicare = next(line for line in text.splitlines() if "| insurance | Medicare |" in line)
    assert "complementary" in medicare and "24" not in medicare


def test_card_groups_are_folded_like_the_audit():
    groups = _by(_group_metrics(_heldout(), min_cell=K), "primary_language")
    assert set(groups) == {"English", "Spanish"}
    # every third of the 128 patients writes one of the four spellings of Spanish
    assert not groups["Spanish"].suppressed and groups["Spanish"].patients == 42


def test_the_card_and_the_bias_audit_hide_the_same_groups():
    """No audience sees a group another may not: a researcher reading the card and the
    Fairness page of the same model sees the same groups suppressed."""
    heldout = _heldout()
    card = {(g.attribute, g.group) for g in _group_metrics(heldout, min_cell=K) if g.suppressed}
    audit = audit_predictions(
        _fold_categories(heldout.copy()),
        label="label",
        score="probability",
        attributes=list(ATTRIBUTES),
        n_boot=10,
        mitigation=None,
        min_cell_size=K,
        time_column=None,
    )
    audited = {
        (g.attributes[0], g.values[0])
        for g in audit.groups
        if g.suppressed and g.kind == "attribute"
    }
    assert card == audited and (("insurance", PLANTED) in card)


@pytest.mark.slow
def test_the_trained_cards_groups_pass_and_their_hidden_pools_pass(trained_clinic):
    """On the generated clinic's real card: every shown group passes the rule, and the
    hidden groups of each attribute pooled (what the totals give away) pass it too."""
    _, outcomes = trained_clinic
    for outcome in outcomes.values():
        heldout = pd.read_parquet(outcome.path / registry.HELDOUT_FILE)
        y = heldout["label"].to_numpy()
        unit = pd.factorize(heldout["patient_id"])[0]
        folded = _fold_categories(heldout.copy())
        for attribute in ATTRIBUTES:
            groups = _by(outcome.trained.groups, attribute)
            hidden = [g for g, m in groups.items() if m.suppressed]
            for group, metric in groups.items():
                rows = np.flatnonzero((folded[attribute] == group).to_numpy())
                assert metric.suppressed or passes(counts(rows, y, unit), K), group
            if hidden:
                rows = np.flatnonzero(folded[attribute].isin(hidden).to_numpy())
                assert len(hidden) == len(groups) or passes(counts(rows, y, unit), K)
