"""The course policy applied to the gradebook: the deadline, the late rule, extensions and overrides.

grading.yml's `course:` section (config.Course) names the deadline, its time zone and the late rule; the
instructor keeps two CSVs beside it, read and checked here when grade-all starts:
- extensions: `student,deadline,reason`: that student's own deadline;
- overrides: `student,mark,points,reason,by,when`: a mark (or points, or both) given by hand, e.g. after a
  discussion; `reason`, `by` and `when` are required, so that every override says who gave it and why.
A malformed file is refused with its path, line and column named.

The time of a submission comes from what the platform recorded, never from a file the student wrote
(`submission_time`). The final mark is `final(...)`: the automatic mark, capped or docked if late, then
any override. Its inputs are kept (audit.py), so that the gradebook can be rebuilt from them.
"""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from .student_git import GitError, git
from ..practical.config import MARK_ORDER, Config, ConfigError, Course, parse_time

# The gradebook's columns that the policy adds, after the automatic ones
FIELDS = ("submitted", "deadline", "final_mark", "final_points", "why")
EXTENSION_HEADER = ("student", "deadline", "reason")
OVERRIDE_HEADER = ("student", "mark", "points", "reason", "by", "when")


class PolicyError(ConfigError):
    """An extensions or overrides CSV is malformed; the message names the file, line and column."""


@dataclass(frozen=True)
class Extension:
    deadline: datetime
    reason: str


@dataclass(frozen=True)
class Override:
    mark: str | None  # S+, S or none; None: only the points are set
    points: float | None
    reason: str
    by: str
    when: str

    def describe(self) -> str:
        given = " and ".join(x for x in (self.mark and f"mark {self.mark}",
                                         self.points is not None and f"{self.points:g} points") if x)
        return f"override ({given}) by {self.by} on {self.when}: {self.reason}"

    def as_dict(self) -> dict:
        return {"mark": self.mark, "points": self.points, "reason": self.reason, "by": self.by, "when": self.when}


@dataclass(frozen=True)
class Policy:
    """The course's policy with its CSVs read: what grade-all applies to every row."""
    course: Course
    points: dict  # mark -> points (config.points; none scores 0)
    extensions: dict  # student -> Extension
    overrides: dict  # student -> Override
    source: str = ""  # the config file

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.course.timezone)

    def deadline_for(self, student: str) -> datetime:
        extension = self.extensions.get(student)
        return extension.deadline if extension else self.course.deadline

    def show(self, moment: datetime | None) -> str:
        """A time as the gradebook shows it: ISO, in the course's time zone."""
        return moment.astimezone(self.zone).isoformat(timespec="minutes") if moment else ""


def load_policy(config: Config) -> Policy | None:
    """The config's course policy with its CSVs read and checked; None without a `course:` section."""
    course = config.course
    if course is None:
        return None
    zone = ZoneInfo(course.timezone)
    extensions = {s: Extension(parse_time(r["deadline"], zone, f"{w}, column deadline"), r["reason"])
                  for s, (r, w) in _read_csv(course.extensions, EXTENSION_HEADER, ("reason",)).items()}
    overrides = {s: _override(r, w) for s, (r, w) in _read_csv(course.overrides, OVERRIDE_HEADER).items()}
    return Policy(course, {**config.points, "none": 0}, extensions, overrides, config.path)


def _read_csv(path: Path | None, header: tuple, optional: tuple = ()) -> dict[str, tuple[dict, str]]:
    """student -> (its row, 'FILE, line N'); refuses another header or a repeated or empty student."""
    if path is None:
        return {}
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as err:
        raise PolicyError(f"cannot read {path}: {getattr(err, 'strerror', None) or err}") from err
    reader = csv.DictReader(text.splitlines())
    columns = tuple(c.strip() for c in reader.fieldnames or ())
    if columns != header:
        raise PolicyError(f"{path}, line 1: the header must be {','.join(header)}, got {','.join(columns) or 'nothing'}")
    reader.fieldnames = list(columns)
    rows: dict[str, tuple[dict, str]] = {}
    for row in reader:
        where = f"{path}, line {reader.line_num}"
        if None in row or any(v is None for v in row.values()):
            raise PolicyError(f"{where}: expected {len(header)} fields ({','.join(header)})")
        row = {k: v.strip() for k, v in row.items()}
        if not any(row.values()):
            continue
        for column in header:
            if not row[column] and column not in optional and column not in ("mark", "points"):
                raise PolicyError(f"{where}, column {column}: empty")
        if row["student"] in rows:
            raise PolicyError(f"{where}, column student: {row['student']} is listed already on "
                              f"{rows[row['student']][1].rsplit(', ', 1)[1]}")
        rows[row["student"]] = (row, where)
    return rows


def _override(row: dict, where: str) -> Override:
    mark, points = row["mark"] or None, None
    if mark is not None and mark not in MARK_ORDER:
        raise PolicyError(f"{where}, column mark: {mark!r} is not one of {', '.join(MARK_ORDER)}")
    if row["points"]:
        try:
            points = float(row["points"])
        except ValueError:
            points = -1.0
        if not math.isfinite(points) or points < 0:
            raise PolicyError(f"{where}, column points: {row['points']!r} is not a number of points >= 0")
    if mark is None and points is None:
        raise PolicyError(f"{where}, columns mark and points: give a mark, points, or both")
    return Override(mark, points, row["reason"], row["by"], row["when"])


def final(policy: Policy, student: str, automatic: str, submitted: datetime | None,
          deadline: datetime | None = None, override: Override | None = None) -> tuple[str, float, list[str]]:
    """(final mark, final points, why) for `student` whose automatic mark is `automatic` (S+, S or none),
    handed in at `submitted` (None: the platform recorded no time) against `deadline` (default: theirs)."""
    course = policy.course
    deadline = deadline or policy.deadline_for(student)
    mark, why = automatic or "none", []
    points = float(policy.points[mark])
    extension = deadline != course.deadline
    if submitted is None:
        why.append("no submission time recorded: not judged late")
    elif submitted > deadline:
        days = math.ceil((submitted - deadline).total_seconds() / 86400)
        late = f"late by {days} day{'s' * (days != 1)}" + (" (after the extension)" if extension else "")
        if course.late_counts_as and MARK_ORDER.index(mark) < MARK_ORDER.index(course.late_counts_as):
            mark = course.late_counts_as
            points = float(policy.points[mark])
            late += f": a late {automatic} counts as {mark}"
        elif course.points_per_day and points > 0:
            off = min(course.max_points_off, course.points_per_day * days, points)
            points -= off
            late += f": {off:g} points off"
        why.append(late)
    elif extension:
        why.append(f"on time with an extension to {policy.show(deadline)}")
    if override is not None:
        if override.mark is not None:
            mark, points = override.mark, float(policy.points[override.mark])
        if override.points is not None:
            points = override.points
        why.append(override.describe())
    return mark, points, why


def policy_columns(policy: Policy, student: str, automatic: str, submitted: datetime | None,
                   deadline: datetime, override: Override | None) -> dict:
    """The gradebook's policy columns (FIELDS) for one student."""
    mark, points, why = final(policy, student, automatic, submitted, deadline, override)
    return {"submitted": policy.show(submitted), "deadline": policy.show(deadline), "final_mark": mark,
            "final_points": f"{points:g}", "why": "; ".join(why)}


def submission_time(path: Path) -> datetime | None:
    """When the platform recorded the submission at `path` (a class folder's entry), or None if it records none.

    - a git repository (GitHub Classroom): the time of the latest `submit/` tag, else HEAD's commit time;
    - Gradescope's layout (the files in `submission/`, with `submission_metadata.json` beside it, which
      Gradescope writes, not the student): its `created_at`.
    Never a file among the student's own. This is the one place that says where the time comes from."""
    path = Path(path)
    if path.is_dir() and (path / ".git").exists():
        return _git_time(path)
    metadata = path / "submission_metadata.json"
    if path.is_dir() and (path / "submission").is_dir() and metadata.is_file():
        try:
            created = json.loads(metadata.read_text())["created_at"]
            moment = datetime.fromisoformat(created)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return None


def _git(path: Path, *args: str) -> str:
    try:
        return git(path, *args).decode(errors="replace").strip()
    except GitError:
        return ""


def _git_time(path: Path) -> datetime | None:
    tags = _git(path, "for-each-ref", "--sort=-creatordate", "--count=1", "--format=%(creatordate:unix)",
                "refs/tags/submit/")
    stamp = tags or _git(path, "log", "-1", "--format=%ct", "HEAD")
    try:
        return datetime.fromtimestamp(int(stamp.splitlines()[0]), timezone.utc)
    except (ValueError, IndexError):
        return None
