"""The instructor's mapping of students to variants (a CSV with header `student,variant`), as grade-all
reads it. The variant a student is graded against comes from here, never from their submission."""
from __future__ import annotations

import csv
from pathlib import Path

from ..practical.config import ConfigError

HEADER = ["student", "variant"]


def read_roster(path: Path, known: list[str]) -> dict[str, str]:
    """student -> variant id. Refuses, naming the line: another header, an empty or repeated student,
    a variant the config does not have."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as err:
        raise ConfigError(f"cannot read the roster {path}: {err.strerror}") from err
    if not rows or [c.strip() for c in rows[0]] != HEADER:
        raise ConfigError(f"{path}: the first line must be the header {','.join(HEADER)}, "
                          f"got {','.join(rows[0]) if rows else 'an empty file'}")
    assigned = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 2:
            raise ConfigError(f"{path}, line {line}: expected student,variant, got {','.join(row)}")
        student, variant = (cell.strip() for cell in row)
        if not student:
            raise ConfigError(f"{path}, line {line}: no student")
        if student in assigned:
            raise ConfigError(f"{path}, line {line}: {student} is listed twice")
        if variant not in known:
            raise ConfigError(f"{path}, line {line}: {student}'s variant {variant!r} is not one of the "
                              f"config's variants ({', '.join(known)})")
        assigned[student] = variant
    return assigned
