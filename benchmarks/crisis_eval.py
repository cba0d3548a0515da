"""Evaluate crisis-language detection on a labelled CSV, per language group.

    .venv/bin/python -m benchmarks.crisis_eval MESSAGES.csv [--json]

The CSV has columns ``id,language,text,label,category,about_other,note`` with ``label``
one of ``crisis``, ``concern``, ``none``. Groups: ``en``, ``es`` (Spanish, including
mixed Spanish/English: a language value starting ``es`` or containing ``mixed``), and
each other language on its own. Per group it prints:

* crisis caught as crisis, and crisis surfaced (crisis or concern);
* concern surfaced (concern or crisis);
* ordinary flagged (a ``none`` message returned crisis or concern);
* silent misses: crisis or concern messages that came back ``none`` (not surfaced and
  not ``unchecked``): the acceptance asks for zero;
* unchecked counts, and every miss verbatim (id, gold, returned, text).

Run it once on a held-out set; never tune on it.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GroupReport", "evaluate", "group_of", "main"]

FLAGGED = ("crisis", "concern")


def group_of(language: str) -> str:
    """The report group of a CSV ``language`` value."""
    value = (language or "").strip().lower()
    if value.startswith("es") or "mixed" in value or value in ("spanglish",):
        return "es"
    return value or "unknown"


@dataclass
class GroupReport:
    group: str
    messages: int = 0
    crisis: int = 0
    crisis_caught: int = 0
    crisis_surfaced: int = 0
    concern: int = 0
    concern_surfaced: int = 0
    ordinary: int = 0
    ordinary_flagged: int = 0
    silent_misses: int = 0
    unchecked: int = 0
    misses: list[dict] = field(default_factory=list)

    @staticmethod
    def _rate(num: int, den: int) -> float | None:
        return round(num / den, 3) if den else None

    def rates(self) -> dict:
        return {
            "crisis_caught_as_crisis": self._rate(self.crisis_caught, self.crisis),
            "crisis_surfaced": self._rate(self.crisis_surfaced, self.crisis),
            "concern_surfaced": self._rate(self.concern_surfaced, self.concern),
            "ordinary_flagged": self._rate(self.ordinary_flagged, self.ordinary),
        }

    def to_json(self) -> dict:
        return {
            "group": self.group,
            "messages": self.messages,
            "crisis": self.crisis,
            "concern": self.concern,
            "ordinary": self.ordinary,
            **self.rates(),
            "silent_misses": self.silent_misses,
            "unchecked": self.unchecked,
            "misses": self.misses,
        }


def evaluate(rows: Sequence[dict]) -> list[GroupReport]:
    """Run the detector on every row and tally per language group."""
    from analytics.text import analyze_messages

    results = analyze_messages([row["text"] for row in rows])
    groups: dict[str, GroupReport] = {}
    for row, result in zip(rows, results, strict=True):
        label = row["label"].strip().lower()
        got = result.crisis_level
        report = groups.setdefault(
            group_of(row["language"]), GroupReport(group_of(row["language"]))
        )
        report.messages += 1
        report.unchecked += got == "unchecked"
        wrong = False
        if label == "crisis":
            report.crisis += 1
            report.crisis_caught += got == "crisis"
            report.crisis_surfaced += got in FLAGGED
            wrong = got != "crisis"
        elif label == "concern":
            report.concern += 1
            report.concern_surfaced += got in FLAGGED
            wrong = got not in FLAGGED
        else:
            report.ordinary += 1
            report.ordinary_flagged += got in FLAGGED
            wrong = got in FLAGGED
        if label in FLAGGED and got == "none":
            report.silent_misses += 1
        if wrong:
            report.misses.append(
                {
                    "id": row.get("id"),
                    "gold": label,
                    "returned": got,
                    "category": result.category,
                    "evidence": result.evidence,
                    "reason": result.reason,
                    "text": row["text"],
                }
            )
    order = {"en": 0, "es": 1}
    return sorted(groups.values(), key=lambda g: (order.get(g.group, 2), g.group))


def _print(reports: list[GroupReport], out) -> None:
    head = f"{'group':<8}{'n':>5}{'crisis→crisis':>15}{'crisis surf.':>14}{'concern surf.':>15}{'ordinary flagged':>18}{'silent':>8}{'unchecked':>11}"
    print(head, file=out)

    def fmt(num: int, den: int) -> str:
        return f"{num}/{den} ({num / den:.2f})" if den else "-"

    for r in reports:
        print(
            f"{r.group:<8}{r.messages:>5}{fmt(r.crisis_caught, r.crisis):>15}"
            f"{fmt(r.crisis_surfaced, r.crisis):>14}{fmt(r.concern_surfaced, r.concern):>15}"
            f"{fmt(r.ordinary_flagged, r.ordinary):>18}{r.silent_misses:>8}{r.unchecked:>11}",
            file=out,
        )
    for r in reports:
        if not r.misses:
            continue
        print(f"\nmisses, {r.group}:", file=out)
        for m in r.misses:
            print(
                f"  [{m['id']}] {m['gold']} -> {m['returned']}"
                f" ({m['category'] or m['reason'] or '-'}): {m['text']}",
                file=out,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Crisis-language detection, per language group.")
    parser.add_argument("csv", type=Path)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    with args.csv.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    missing = {"language", "text", "label"} - set(rows[0] if rows else {})
    if missing:
        print(f"{args.csv}: missing column(s) {', '.join(sorted(missing))}", file=sys.stderr)
        return 2
    reports = evaluate(rows)
    if args.json:
        print(json.dumps({"groups": [r.to_json() for r in reports]}, ensure_ascii=False, indent=2))
    else:
        _print(reports, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
