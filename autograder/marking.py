"""The mark: the first one (best first) whose checks all passed."""
from __future__ import annotations

from .config import Config
from .results import CheckResult


def mark_for(checks: list[CheckResult], config: Config) -> str | None:
    passed = {c.name for c in checks if c.passed}
    return next((m for m, needed in config.marks.items() if set(needed) <= passed), None)

