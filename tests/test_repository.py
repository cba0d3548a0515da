"""Repository-level promises: the README's commands, CI, lint, docs and the one-way
dependency from dashboard to analytics."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from analytics.data.contract import to_markdown

ROOT = Path(__file__).resolve().parents[1]


def _quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    commands = _quick_start_commands()
    assert len(commands) == 2
    demo, tests = commands
    assert "caseload demo" in demo and "pip install" in demo
    assert "pytest" in tests and "pip install" in tests
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert tests in ci.splitlines()


def test_contract_reference_matches_the_code():
    doc = (ROOT / "docs" / "data-contract.md").read_text(encoding="utf-8")
    assert doc == to_markdown(), "regenerate with: caseload contract > docs/data-contract.md"


def test_ruff_is_clean():
    # ruff is in the test extra, installed beside this interpreter.
    ruff = Path(sys.executable).with_name("ruff")
    proc = subprocess.run(
        [str(ruff), "check", "--quiet", str(ROOT)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
