"""What a student handed in: a cnn.py or a notebook, found in a file, a folder or a repository.

`grade` and `grade-all` both go through here, so they find the same file and key resumed grading by
the same SHA-256: that of the file as handed in (the notebook itself, not the source taken from it),
which can be computed without reading the notebook and changes whenever the student's file does.
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from assignment.solution import (EXPERIMENTS, NOTEBOOK, HandInError, find_hand_in, hand_in_source, notebooks_in,
                                 read_hand_in, read_plain)

from ..judging.causes import one_message_per_cause
from ..judging.results import ERROR, CheckResult, GradeResult

MAX_TABLE_BYTES, MAX_TABLE_ROWS, MAX_TABLE_COLUMNS, MAX_CELL = 64 * 1024, 100, 20, 80
SubmissionError = HandInError  # something handed in that cannot be graded as it is (the student's side says it too)
find_submission = find_hand_in  # the file to grade: the one the public checks and the driver run


@dataclass
class HandIn:
    file: Path  # as handed in
    code: bytes  # what is graded as cnn.py
    notes: list[str] = field(default_factory=list)  # for the student: what was taken from a notebook
    experiments: dict | None = None  # the experiments table handed in beside it (experiments_table)


def submission_sha(path: str | Path) -> str | None:
    """SHA-256 of the file that grading `path` would grade; None when there is none. A hand-in that cannot
    be graded as it is (several notebooks, a link) gets a digest of what stands in the way: grading it
    reports the problem, and resuming skips it until it changes."""
    try:
        return hashlib.sha256(read_hand_in(find_submission(path))).hexdigest()
    except FileNotFoundError:
        return None
    except SubmissionError:
        path = Path(path)
        digest = hashlib.sha256()
        for file in [path / "cnn.py", path / "assignment" / "cnn.py",
                     *(nb for f in (path, path / "assignment") if f.is_dir() for nb in notebooks_in(f))]:
            name = os.fsencode(file.name)  # any bytes a file system allows
            if file.is_symlink():  # where it leads, never what it leads to
                digest.update(name + b"\0->" + os.fsencode(os.readlink(file)) + b"\0")
            elif file.is_file():
                try:
                    digest.update(name + b"\0" + read_hand_in(file) + b"\0")
                except (OSError, SubmissionError) as err:
                    digest.update(name + b"\0" + os.fsencode(str(err)) + b"\0")
        return digest.hexdigest()


def refused(submission: str, sha: str, config, practical, variant: str, why: str) -> GradeResult:
    """The result of a hand-in that cannot be graded as it is (none found, several notebooks, a link, too
    large): every check says why, so the student learns it in the same place as any other cause. Nothing of
    the student's has run."""
    return GradeResult(submission, sha, variant=variant, checks=one_message_per_cause(
        [CheckResult(n, s.title_for(practical), ERROR, [why], s.visibility) for n, s in config.checks.items()]))


def hand_in(file: Path) -> HandIn:
    """The code to grade as cnn.py: the file's bytes, or a notebook's definitions with notes on the rest,
    taken as the student's own checks take them (assignment/solution.py)."""
    code, notes = hand_in_source(file)
    return HandIn(file, code, notes, experiments_table(file.with_name(EXPERIMENTS)))


def experiments_table(path: Path) -> dict | None:
    """The table that `python -m assignment experiments` writes, if one was handed in at `path`: read as
    text, never run, and cut to a size a report can show. {"columns", "rows", "note"}; None without one."""
    if not path.is_file() and not path.is_symlink():
        return None
    try:
        data = read_plain(path, MAX_TABLE_BYTES + 1)
    except (OSError, HandInError) as err:
        return {"columns": [], "rows": [], "note": f"{EXPERIMENTS} cannot be read ({err}), so it is not shown"}
    note = f"only the first {MAX_TABLE_BYTES // 1024} KB were read; " if len(data) > MAX_TABLE_BYTES else ""
    try:
        rows = list(csv.reader(io.StringIO(data[:MAX_TABLE_BYTES].decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as err:
        return {"columns": [], "rows": [], "note": f"{EXPERIMENTS} is not a CSV text file ({err}), so it is not shown"}
    if not rows:
        return {"columns": [], "rows": [], "note": f"{EXPERIMENTS} is empty"}
    header, body = rows[0], rows[1:]
    keep = [i for i, name in enumerate(header) if name != "run"][:MAX_TABLE_COLUMNS]  # "run" is an id, for resuming
    if len(body) > MAX_TABLE_ROWS:
        note += f"only the first {MAX_TABLE_ROWS} of {len(body)} runs are shown; "
    return {"columns": [header[i][:MAX_CELL] for i in keep],
            "rows": [[row[i][:MAX_CELL] if i < len(row) else "" for i in keep] for row in body[:MAX_TABLE_ROWS]],
            "note": note.rstrip("; ")}
