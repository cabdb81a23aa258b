"""The mark: the first one (best first) whose checks all passed."""
from __future__ import annotations

from ..practical.config import Config, Experiments
from .results import CheckResult


def mark_for(checks: list[CheckResult], config: Config, other_variant: str | None = None) -> str | None:
    """A network of another variant than the one assigned (`other_variant`) never earns S+, whatever
    the policy asks of S+: it may be a copied solution."""
    passed = {c.name for c in checks if c.passed}
    return next((m for m, needed in config.marks.items()
                 if set(needed) <= passed and not (other_variant and m == "S+")), None)


def finished_runs(table: dict | None) -> int:
    """The rows of a handed-in experiments table (submission.experiments_table) with a test accuracy in [0, 1]."""
    if not table or "test_accuracy" not in table["columns"]:
        return 0
    col = table["columns"].index("test_accuracy")

    def accuracy(row):
        try:
            return float(row[col])
        except (IndexError, ValueError):
            return None
    return sum(1 for row in table["rows"] if (a := accuracy(row)) is not None and 0 <= a <= 1)


def experiments_verdict(table: dict | None, policy: Experiments) -> dict:
    """What the experiments table earns under the config's policy: {"earned", "points", "why"}."""
    runs, need = finished_runs(table), policy.min_runs
    earned = policy.points if runs >= need else 0
    if table is None:
        why = (f"no experiments.csv was handed in beside your solution; a table of at least {need} finished runs "
               f"(`python -m assignment experiments GRID.yml` writes it) earns {policy.points:g} point(s)")
    elif earned:
        why = f"{runs} finished run(s), at least the {need} asked for: {policy.points:g} point(s)"
    else:
        why = (f"{runs} finished run(s) (rows with a test_accuracy between 0 and 1), fewer than the {need} asked "
               f"for: no points yet; run more of your grid and hand in the experiments.csv it writes")
    return {"earned": earned, "points": policy.points, "why": why}
