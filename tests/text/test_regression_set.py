"""The December 2026 held-out set, now a regression set: per language, crisis and concern
messages surfaced never fall below, and ordinary messages flagged never rise above, the
figures of its one held-out run (tests/text/regression/README.md)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks.crisis_eval import evaluate

HERE = Path(__file__).parent / "regression"


@pytest.fixture(scope="module")
def reports():
    with (HERE / "heldout_2026_12.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 371
    return {r.group: r.rates() for r in evaluate(rows)}


def test_every_language_of_the_set_is_reported(reports):
    floors = json.loads((HERE / "heldout_2026_12_floors.json").read_text(encoding="utf-8"))
    assert set(reports) == set(floors) and len(floors) == 11


@pytest.mark.parametrize(
    "group", ["en", "es", "ar", "fr", "ht", "ko", "pt", "ru", "tl", "vi", "zh"]
)
def test_no_language_gets_worse(reports, group):
    floor = json.loads((HERE / "heldout_2026_12_floors.json").read_text(encoding="utf-8"))[group]
    got = reports[group]
    assert got["crisis_surfaced"] >= floor["crisis_surfaced"], got
    assert got["concern_surfaced"] >= floor["concern_surfaced"], got
    assert got["ordinary_flagged"] <= floor["ordinary_flagged"], got
