"""Audits of this product's own models at refresh."""

from __future__ import annotations

import pandas as pd

from analytics.access.disclosure import ATTRIBUTES
from analytics.models.model_audits import _fold_categories


def test_spellings_differing_in_case_or_spaces_are_one_group_named_by_the_commonest():
    frame = pd.DataFrame({a: ["x"] * 6 for a in ATTRIBUTES})
    frame["insurance"] = ["Medicaid", "MEDICAID", " Medicaid ", "Medicaid", "Commercial", None]
    out = _fold_categories(frame.copy())
    assert out["insurance"].tolist()[:5] == [
        "Medicaid",
        "Medicaid",
        "Medicaid",
        "Medicaid",
        "Commercial",
    ]
    assert pd.isna(out["insurance"].iloc[5])
