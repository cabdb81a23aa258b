"""`python -m autograder lms csv OUT --format moodle|canvas`: the final marks as the CSV an LMS imports, for
courses without API access.

- Moodle (Grades > Import > CSV file): its import reads the columns of its own CSV export: identity columns
  (ID number, Email address), then one column per grade item, named "Assignment: NAME", and its feedback
  column "Assignment: NAME (Feedback)". At import, map "ID number" to useridnumber (or "Email address" to
  useremail) and the item's column to the grade item.
- Canvas (Grades > Import): the columns of its gradebook export: Student, ID, SIS User ID, SIS Login ID,
  Section, then one column per assignment, "NAME (ASSIGNMENT_ID)"; Canvas matches a row by ID, SIS User ID
  or SIS Login ID.
The ids come from the roster (passback.read_roster); grades are points out of `points_possible`.
"""
from __future__ import annotations

import csv
from pathlib import Path

from .passback import FinalMark

MOODLE_IDS = ("ID number", "Email address")  # export's identity columns -> roster columns below
MOODLE_ROSTER = {"ID number": "id_number", "Email address": "email"}
CANVAS_IDS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_ROSTER = {"Student": "name", "ID": "canvas_id", "SIS User ID": "sis_user_id", "SIS Login ID": "login_id",
                 "Section": "section"}


def _points(mark: FinalMark, points_possible: float) -> str:
    return f"{round(mark.fraction * points_possible, 2):g}"


def moodle_rows(marks: list[FinalMark], roster: dict, item: str, points_possible: float) -> tuple[list, list, list]:
    """(header, rows, students left out: no ID number or email in the roster)."""
    header = [*MOODLE_IDS, item, f"{item} (Feedback)"]
    rows, missing = [], []
    for mark in marks:
        ids = [roster.get(mark.student, {}).get(MOODLE_ROSTER[c], "") for c in MOODLE_IDS]
        if not any(ids):
            missing.append(mark.student)
            continue
        rows.append([*ids, _points(mark, points_possible), mark.comment().split("\n\n", 1)[0]])
    return header, rows, missing


def canvas_rows(marks: list[FinalMark], roster: dict, assignment: str, assignment_id: str,
                points_possible: float) -> tuple[list, list, list]:
    """(header, rows, students left out: none of ID, SIS User ID or SIS Login ID in the roster)."""
    header = [*CANVAS_IDS, f"{assignment} ({assignment_id})"]
    rows, missing = [], []
    for mark in marks:
        ids = [roster.get(mark.student, {}).get(CANVAS_ROSTER[c], "") for c in CANVAS_IDS]
        if not any(ids[1:4]):
            missing.append(mark.student)
            continue
        rows.append([*ids, _points(mark, points_possible)])
    return header, rows, missing


def write_csv(path: Path, header: list, rows: list) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
