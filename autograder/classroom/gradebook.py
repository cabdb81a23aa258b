"""The class gradebook: one row per submission, read from its results.json; written, read and merged.

Each column is declared once, in COLUMNS, with how it is read from results.json: a new column is one
line there. `merge` joins the output folders of several grade-all runs (shards of one class) into one.
"""
from __future__ import annotations

import csv
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Callable

from ..reports.outputs import RESULTS
from ..reports.results_file import Extra, Results, ResultsError, read

GRADED = "graded"
NO_SOLUTION = "no cnn.py found"
NOT_IN_ROSTER = "not in the roster"
GRADER_ERROR = "grader error"
REGRADE = "regrade"  # `grade` exited 3: the machine was too busy; grade-all tries it again
DONE = (GRADED, NO_SOLUTION, NOT_IN_ROSTER)  # what a rerun does not grade again


def _blank(value) -> object:
    return "" if value is None else value


def _challenge(extra: Extra) -> str:
    """The badge, else how the challenge ended ("" without a challenge track)."""
    return "" if extra.challenge is None else extra.challenge.badge or extra.challenge.status


# column -> its value from results.json (results_file.py); the checks' columns follow, one per check
COLUMNS: dict[str, Callable[[Results], object]] = {
    "mark": lambda r: "" if r.extra_data.regrade else r.extra_data.mark or "none",
    "score": lambda r: _blank(r.score),
    "test_accuracy": lambda r: "" if r.extra_data.test_accuracy is None else f"{r.extra_data.test_accuracy:.4f}",
    "accuracy_verified": lambda r: _blank(r.extra_data.accuracy_verified),
    "seconds": lambda r: _blank(r.execution_time),
    "variant": lambda r: r.extra_data.variant or "",
    "matches_variant": lambda r: r.extra_data.matches_variant or "",
    "challenge": lambda r: _challenge(r.extra_data),
}
FIELDS = ("submission", "status", *COLUMNS)  # then one column per check, in grading.yml's order
# a class collected from Classroom 50 has these after the checks' (classroom/collect.py); a merge keeps them
COLLECTED = ("submission_tag", "tag_time", "reported_score", "reported_check")


class MergeError(ValueError):
    """The folders given to merge cannot be joined; the message names the folder and the problem."""


def gradebook_row(name: str, out: Path, status: str, checks: list[str]) -> dict:
    """The row of submission `name`, whose reports are in `out`, graded with outcome `status`; a column for
    each of `checks`."""
    row = dict.fromkeys((*FIELDS, *checks), "")
    row.update(submission=name, status=status)
    try:
        results = read(out / RESULTS.name)
    except ResultsError as err:  # not what the grader wrote: graded again on a rerun
        row["status"] = f"{GRADER_ERROR}: {RESULTS.name}: {err.why}" if status == GRADED else status
        return row
    if results is None:
        return row
    if status == GRADED and results.extra_data.grader_error:
        row["status"] = GRADER_ERROR
    row.update({column: value(results) for column, value in COLUMNS.items()})
    row.update({c: s for c, s in results.extra_data.checks.items() if c in checks})
    return row


def write_gradebook(path: Path, rows: list[dict]) -> None:
    """Write `rows` as CSV, atomically: a reader never sees half a gradebook."""
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else list(FIELDS))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def read_gradebook(path: Path) -> dict[str, dict]:
    """submission name -> its row, as written by write_gradebook."""
    with open(path, newline="") as f:
        return {row["submission"]: row for row in csv.DictReader(f)}


def needs_regrading(row: dict) -> bool:
    """Whether a rerun would grade this row again: its grading did not complete."""
    return row["status"] not in DONE


def summary(rows: list[dict]) -> str:
    """'S+: 3, none: 1, worker died (signal 9): 1': the marks, and the statuses of rows without one."""
    counts = Counter(row["mark"] or row["status"] for row in rows)
    return ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))


def _sha256(out: Path) -> str | None:
    try:
        results = read(out / RESULTS.name)
    except ResultsError:
        return None
    return None if results is None else results.extra_data.sha256


def merge(outputs: list[Path], out: Path) -> list[dict]:
    """Join grade-all output folders into `out`: their reports under out/submissions/, one gradebook.

    A submission found in several folders keeps its graded row over one that did not finish (a shard
    rerun elsewhere, say); two graded rows for it must agree on the file (sha256) and the mark.
    """
    if not outputs:
        raise MergeError("nothing to merge: give the output folders of grade-all (one per shard)")
    chosen: dict[str, tuple[Path, dict]] = {}  # name -> (folder it comes from, its row there)
    checks: list[str] = []  # the check columns, in the order the gradebooks give them
    for folder in outputs:
        if folder.resolve() == out.resolve():
            raise MergeError(f"{folder} is both an input and --out; merge into another folder")
        book = folder / "gradebook.csv"
        if not book.is_file():
            raise MergeError(f"{folder} has no gradebook.csv: expected a folder written by "
                             "`grade-all --out`")
        try:
            rows = read_gradebook(book)
        except (csv.Error, KeyError, UnicodeDecodeError) as err:
            raise MergeError(f"{book} is not a gradebook written by grade-all: {err}") from err
        for name, row in rows.items():
            checks += [c for c in row if c not in FIELDS and c not in COLLECTED and c not in checks]
            if "status" not in row or "mark" not in row:
                raise MergeError(f"{book} is not a gradebook written by grade-all: no status or mark column")
            if name in chosen:
                first, kept = chosen[name]
                if row["status"] == GRADED and kept["status"] == GRADED:
                    a, b = _sha256(first / "submissions" / name), _sha256(folder / "submissions" / name)
                    if a != b or row["mark"] != kept["mark"]:
                        raise MergeError(f"{name} is graded in both {first} and {folder}, with different "
                                         f"results (mark {kept['mark']} vs {row['mark']}, sha256 {a} vs {b}); "
                                         "merge only the folder whose grading you want")
                if kept["status"] == GRADED and row["status"] != GRADED:
                    continue
            chosen[name] = (folder, row)

    (out / "submissions").mkdir(parents=True, exist_ok=True)
    merged = []
    for name in sorted(chosen):
        folder, row = chosen[name]
        source, dest = folder / "submissions" / name, out / "submissions" / name
        if dest.exists():
            shutil.rmtree(dest)
        if source.is_dir():
            shutil.copytree(source, dest)
        merged.append({**gradebook_row(name, dest, row["status"], checks), **{c: row[c] for c in COLLECTED if c in row}})
    write_gradebook(out / "gradebook.csv", merged)
    return merged
