"""The challenge's leaderboard: Gradescope's `leaderboard` entries for one submission, and the class's
board that grade-all writes beside the gradebook (leaderboard.csv and leaderboard.html).

The ranking is declared once, in RANKING: the test accuracy (higher first), then the parameters and the
seconds (fewer first). Only a challenge scored within its caps is ranked; the others follow with the
reason they have no place. Light on purpose (no torch): the worker imports it through report.py.
"""
from __future__ import annotations

import csv
import os
from pathlib import Path

from .outputs import RESULTS
from .results_file import ResultsError, read

# (Gradescope's name, ChallengeResult field, order): the columns, in the order they break ties
RANKING = (("Accuracy", "accuracy", "desc"), ("Parameters", "parameters", "asc"), ("Seconds", "seconds", "asc"))
FIELDS = ("rank", "submission", "badge", *(field for _, field, _ in RANKING), "status", "reason")
TEMPLATE = "leaderboard.html.j2"


def gradescope_entries(challenge) -> list[dict]:
    """results.json's `leaderboard` for a ChallengeResult (none for a challenge without a score)."""
    if challenge is None or not challenge.ranked:
        return []
    return [{"name": name, "value": getattr(challenge, field), "order": order} for name, field, order in RANKING]


def rank_key(row: dict) -> tuple:
    return tuple(-row[field] if order == "desc" else row[field] for _, field, order in RANKING)


def class_rows(submissions: Path, names: list[str]) -> list[dict]:
    """One row per graded submission whose results.json has a challenge: the ranked ones in order, then the
    others by name."""
    ranked, others = [], []
    for name in names:
        try:
            results = read(submissions / name / RESULTS.name)
        except ResultsError:  # the gradebook says so; it has no place here
            continue
        challenge = None if results is None else results.extra_data.challenge
        if challenge is None:
            continue
        row = {"submission": name, "badge": challenge.badge or "", "status": challenge.status,
               "reason": challenge.reason.splitlines()[0] if challenge.reason else "",
               **{field: getattr(challenge, field) for _, field, _ in RANKING}}
        scored = challenge.ranked and all(row[field] is not None for _, field, _ in RANKING)
        (ranked if scored else others).append(row)
    ranked.sort(key=lambda r: (*rank_key(r), r["submission"]))
    for i, row in enumerate(ranked, start=1):
        row["rank"] = i
    for row in others:
        row["rank"] = ""
    return ranked + sorted(others, key=lambda r: r["submission"])


def write_leaderboard(out: Path, names: list[str]) -> list[dict]:
    """Write out/leaderboard.csv and out/leaderboard.html from out/submissions/NAME/results.json, if any
    submission has a challenge; returns the rows."""
    rows = class_rows(out / "submissions", names)
    if not rows:
        return rows
    tmp = out / ".leaderboard.csv.tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({k: row[k] for k in FIELDS} for row in rows)
    os.replace(tmp, out / "leaderboard.csv")
    tmp = out / ".leaderboard.html.tmp"
    tmp.write_text(leaderboard_html(rows))
    os.replace(tmp, out / "leaderboard.html")
    return rows


def leaderboard_html(rows: list[dict]) -> str:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).parent),
                             autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template(TEMPLATE).render(ranked=[r for r in rows if r["rank"] != ""],
                                             others=[r for r in rows if r["rank"] == ""])
