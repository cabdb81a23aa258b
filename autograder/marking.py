"""The mark: the first one (best first) whose checks all passed."""
from __future__ import annotations

from .config import Config
from .results import CheckResult


def mark_for(checks: list[CheckResult], config: Config, other_variant: str | None = None) -> str | None:
    """A network of another variant than the one assigned (`other_variant`) never earns S+, whatever
    the policy asks of S+: it may be a copied solution."""
    passed = {c.name for c in checks if c.passed}
    return next((m for m, needed in config.marks.items()
                 if set(needed) <= passed and not (other_variant and m == "S+")), None)
