"""Shared fixtures for the message-analysis tests: the labelled corpus and its results."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from analytics.text import MessageAnalysis, analyze_messages

CORPUS_PATH = Path(__file__).with_name("crisis_corpus.csv")
LABELS = ("none", "concern", "crisis")


@dataclass(frozen=True)
class CorpusRow:
    line: int  # line number in the CSV, for failure messages
    text: str
    language: str
    label: str
    category: str


def load_corpus() -> list[CorpusRow]:
    with CORPUS_PATH.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["text", "language", "label", "category"]
        return [CorpusRow(line=i + 2, **row) for i, row in enumerate(reader)]


@pytest.fixture(scope="session")
def corpus() -> list[CorpusRow]:
    return load_corpus()


@pytest.fixture(scope="session")
def corpus_results(corpus: list[CorpusRow]) -> list[MessageAnalysis]:
    return analyze_messages([row.text for row in corpus])


Report = Callable[[Sequence[CorpusRow], Sequence[MessageAnalysis]], str]


def _report(rows: Sequence[CorpusRow], results: Sequence[MessageAnalysis]) -> str:
    """Confusion matrix and the first misclassified rows, for assertion messages only."""
    cells = Counter((row.label, res.crisis_level) for row, res in zip(rows, results, strict=True))
    lines = ["gold \\ predicted  " + "  ".join(f"{p:>8}" for p in LABELS)]
    for gold in LABELS:
        lines.append(f"{gold:<17} " + "  ".join(f"{cells[(gold, p)]:>8}" for p in LABELS))
    wrong = [
        f"  line {row.line}: {row.label} -> {res.crisis_level} [{row.category}] {row.text!r}"
        for row, res in zip(rows, results, strict=True)
        if row.label != res.crisis_level
    ]
    if wrong:
        lines.append(f"{len(wrong)} misclassified (first 25):")
        lines.extend(wrong[:25])
    return "\n".join(lines)


@pytest.fixture(scope="session")
def confusion_report() -> Report:
    return _report
