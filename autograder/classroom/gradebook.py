"""The class gradebook: one row per submission, read from its results.json; written, read and merged.

Each column is declared once, in COLUMNS, with how it is read from results.json: a new column is one
line there. `merge` joins the output folders of several grade-all runs (shards of one class) into one.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Callable

GRADED = "graded"
NO_SOLUTION = "no cnn.py found"
NOT_IN_ROSTER = "not in the roster"
GRADER_ERROR = "grader error"
REGRADE = "regrade"  # `grade` exited 3: the machine was too busy; grade-all tries it again
DONE = (GRADED, NO_SOLUTION, NOT_IN_ROSTER)  # what a rerun does not grade again


def _accuracy(results: dict, extra: dict) -> str:
    return "" if extra.get("test_accuracy") is None else f"{extra['test_accuracy']:.4f}"


def _challenge(extra: dict) -> str:
    """The badge, else how the challenge ended ("" without a challenge track)."""
    challenge = extra.get("challenge")
    if not isinstance(challenge, dict):
        return ""
    return challenge.get("badge") or challenge.get("status", "")


# column -> its value from (results.json, its extra_data); the checks' columns follow, one per check
COLUMNS: dict[str, Callable[[dict, dict], object]] = {
    "mark": lambda results, extra: "" if extra.get("regrade") else extra.get("mark") or "none",
    "score": lambda results, extra: results.get("score", ""),
    "test_accuracy": _accuracy,
    "accuracy_verified": lambda results, extra: extra.get("accuracy_verified", ""),
    "seconds": lambda results, extra: results.get("execution_time", ""),
    "variant": lambda results, extra: extra.get("variant") or "",
    "matches_variant": lambda results, extra: extra.get("matches_variant") or "",
    "challenge": lambda results, extra: _challenge(extra),
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
        results = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return row
    extra = results.get("extra_data", {})
    if status == GRADED and extra.get("grader_error"):
        row["status"] = GRADER_ERROR
    row.update({column: value(results, extra) for column, value in COLUMNS.items()})
    row.update({c: s for c, s in extra.get("checks", {}).items() if c in checks})
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
        return json.loads((out / "results.json").read_text())["extra_data"].get("sha256")
    except (OSError, ValueError, KeyError, AttributeError):
        return None


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
