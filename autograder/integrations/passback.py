"""What goes to the LMS: each student's final mark, points and feedback, read from a grade-all output folder,
and who they are there, from the instructor's roster.

The final mark is the gradebook's final_mark/final_points (with a course policy), else the automatic mark
and its points. Under `grade-all --anonymous` the gradebook names pseudonyms; the mapping file turns them
back into students here, at the moment of posting, and nothing else sees it.

The roster is a CSV with a column `student` (the name grade-all knows) and the student's ids at the LMS:
any of canvas_id, sis_user_id, login_id, email, id_number, name, section.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from ..classroom.anonymous import read_mapping
from ..reports import outputs
from ..practical.config import Config, ConfigError
from ..classroom.gradebook import DONE, read_gradebook

ROSTER_COLUMNS = ("canvas_id", "sis_user_id", "login_id", "email", "id_number", "name", "section")


@dataclass(frozen=True)
class FinalMark:
    name: str  # the gradebook's name (a pseudonym under --anonymous)
    student: str  # the student's own id, as in the roster
    mark: str  # S+, S or none
    points: float
    max_points: float
    why: str
    feedback: Path  # OUT/submissions/NAME/feedback.md (may be missing)
    report: Path  # OUT/submissions/NAME/report.html (may be missing)

    @property
    def fraction(self) -> float:
        return self.points / self.max_points if self.max_points else 0.0

    def comment(self) -> str:
        """The submission comment: the final mark and why, then feedback.md."""
        head = f"Mark: {self.mark}" + (f" ({self.why})" if self.why else "")
        try:
            body = self.feedback.read_text(errors="replace").strip()
        except OSError:
            body = ""
        return head + ("\n\n" + body if body else "")


def final_marks(out: Path, config: Config, mapping: Path | None = None) -> list[FinalMark]:
    """One FinalMark per graded row of OUT/gradebook.csv, in its order."""
    try:
        rows = read_gradebook(Path(out) / "gradebook.csv")
    except OSError as err:
        raise ConfigError(f"cannot read {Path(out) / 'gradebook.csv'}: {err.strerror}; run grade-all --out {out} first")
    names = read_mapping(mapping) if mapping else None
    top = max(config.points.values())
    marks = []
    for name, row in rows.items():
        if row["status"] not in DONE:
            continue
        if names is not None and name not in names:
            raise ConfigError(f"{mapping} has no line for {name}: is it the mapping grade-all --anonymous wrote for {out}?")
        if row.get("final_mark"):
            mark, points = row["final_mark"], float(row["final_points"])
        else:
            mark = row["mark"] or "none"
            points = float(config.points.get(mark, 0))
        folder = Path(out) / "submissions" / name
        marks.append(FinalMark(name, names[name] if names else name, mark, points, float(top), row.get("why", ""),
                               folder / outputs.FEEDBACK.name, folder / outputs.PAGE.name))
    return marks


def read_roster(path: Path) -> dict[str, dict]:
    """student -> their row (the ROSTER_COLUMNS it has). Refuses, naming the line: no `student` column, an
    unknown column, an empty or repeated student."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the roster {path}: {getattr(err, 'strerror', None) or err}") from err
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in reader.fieldnames or []]
    unknown = set(columns) - {"student", *ROSTER_COLUMNS}
    if "student" not in columns or unknown:
        raise ConfigError(f"{path}, line 1: the header needs 'student' and may have {', '.join(ROSTER_COLUMNS)}; "
                          f"got {','.join(columns) or 'nothing'}")
    reader.fieldnames = columns
    roster: dict[str, dict] = {}
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            raise ConfigError(f"{path}, line {reader.line_num}: expected {len(columns)} fields ({','.join(columns)})")
        row = {k: v.strip() for k, v in row.items()}
        if not row["student"]:
            raise ConfigError(f"{path}, line {reader.line_num}, column student: empty")
        if row["student"] in roster:
            raise ConfigError(f"{path}, line {reader.line_num}, column student: {row['student']} is listed twice")
        roster[row["student"]] = row
    return roster


def identity(mark: FinalMark, roster: dict[str, dict] | None, column: str) -> str:
    """The student's id in `column` of the roster ("" if they have none); without a roster, their own id."""
    if roster is None:
        return mark.student
    return roster.get(mark.student, {}).get(column, "")
