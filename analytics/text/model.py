"""A learned second opinion on crisis language: character n-grams and a logistic regression.

Character n-grams (2-5, within word boundaries) see through typos and unseen spellings
that the lexicons miss. The model is trained at first use from the labelled CSV files
shipped in ``analytics/text/training/`` (deterministic: the same data gives the same
model, in about a second), so no pickled model is ever loaded. It answers one question:
does this message read like the flagged ones (concern or crisis)?

It is combined so that the rules are a floor: the model may raise ``none`` to
``concern`` (category ``model``, and the evidence says so), and never lowers or changes a
level a rule set. Its threshold is strict (``THRESHOLD``) so that ordinary messages are
rarely raised. Measured on a generated clinic's distinct patient messages that pass the
screen (``worth_a_second_look``), C=1 and 0.8 raise about 0.5% of them; C=4 raised 7%
(mostly ordinary "sleep schedule" updates), so the stronger regularisation stays.
"""

from __future__ import annotations

import csv
import threading
from dataclasses import dataclass
from importlib import resources

import numpy as np

from analytics.text.crisis import canonical

__all__ = ["THRESHOLD", "CrisisModel", "get_model", "training_rows"]

THRESHOLD = 0.8
FLAGGED = frozenset({"concern", "crisis"})


@dataclass(frozen=True)
class TrainingRow:
    text: str
    language: str
    label: str


def training_rows() -> list[TrainingRow]:
    """Every labelled message in the shipped training files."""
    rows: list[TrainingRow] = []
    folder = resources.files("analytics.text").joinpath("training")
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not entry.name.endswith(".csv"):
            continue
        with entry.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh):
                rows.append(TrainingRow(row["text"], row["language"], row["label"]))
    return rows


class CrisisModel:
    """Probability that a normalised message reads like a flagged one."""

    def __init__(self) -> None:
        # lazy: scikit-learn only when the second opinion is first needed, not at import
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        rows = training_rows()
        texts = [canonical(r.text) for r in rows]
        labels = [int(r.label in FLAGGED) for r in rows]
        self.vectorizer = TfidfVectorizer(
            analyzer="char_wb", ngram_range=(2, 5), min_df=2, sublinear_tf=True, dtype=np.float64
        )
        features = self.vectorizer.fit_transform(texts)
        self.classifier = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced")
        self.classifier.fit(features, labels)

    def probabilities(self, normalised: list[str]) -> list[float]:
        if not normalised:
            return []
        features = self.vectorizer.transform(normalised)
        return [float(p) for p in self.classifier.predict_proba(features)[:, 1]]


_model: CrisisModel | None = None
_lock = threading.Lock()


def get_model() -> CrisisModel:
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                _model = CrisisModel()
    return _model
