"""Anonymous grading: each student is known by a pseudonym in everything grade-all and similarity write.

The pseudonym is a keyed hash of the student's id with the course secret that per-student variants
already use (variants.py): HMAC-SHA256(secret, "pseudonym:" + id), so the same secret always gives the
same pseudonym, and without it nobody can tell who is who. The salt keeps it apart from the variant's
hash of the same id. The mapping back is written to one file the instructor keeps, outside the output
folder; passback (integrations/) reads it only at the moment of posting.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import os
from pathlib import Path

from ..practical.config import ConfigError

HEADER = ["pseudonym", "student"]
PREFIX = "anon-"


def pseudonym(student: str, secret: bytes) -> str:
    digest = hmac.new(secret, b"pseudonym:" + student.encode("utf-8"), hashlib.sha256).hexdigest()
    return PREFIX + digest[:12]


def read_mapping(path: Path) -> dict[str, str]:
    """pseudonym -> student, from the instructor's mapping file."""
    try:
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
    except OSError as err:
        raise ConfigError(f"cannot read the pseudonym mapping {path}: {err.strerror}") from err
    if not rows or rows[0] != HEADER:
        raise ConfigError(f"{path}: the first line must be {','.join(HEADER)}; is it the file grade-all --anonymous wrote?")
    mapping = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != 2 or not all(row):
            raise ConfigError(f"{path}, line {line}: expected pseudonym,student")
        mapping[row[0]] = row[1]
    return mapping


def write_mapping(path: Path, students: list[str], secret: bytes, out: Path) -> dict[str, str]:
    """Add `students` to the mapping at `path` (kept: a later run adds, never drops); returns student -> pseudonym.
    Refused inside `out`, whose files must name nobody."""
    path, out = Path(path), Path(out)
    if path.resolve().is_relative_to(out.resolve()):
        raise ConfigError(f"the pseudonym mapping {path} would be inside the output folder {out}, whose files must "
                          "name nobody: keep it elsewhere (it is the instructor's)")
    known = read_mapping(path) if path.exists() else {}
    given = {student: pseudonym(student, secret) for student in students}
    clash = {p for p, s in known.items() if p in given.values() and given.get(s) != p}
    if clash:
        raise ConfigError(f"{path} maps {', '.join(sorted(clash))} to another student: was it written with another "
                          "secret? Give the same --secret-file, or a new mapping file")
    known.update({p: s for s, p in given.items()})
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(sorted(known.items(), key=lambda kv: kv[1]))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return given


def pseudonymise_report(report, alias: dict[str, str]):
    """The similarity report (similarity.Report) with each submission under its pseudonym (`alias`: student ->
    pseudonym); known solutions keep their names."""
    from dataclasses import replace

    renamed = {id(s): replace(s, name=alias[s.name]) for s in report.submissions}
    report.submissions = [renamed[id(s)] for s in report.submissions]
    for match in report.matches:
        match.a, match.b = renamed.get(id(match.a), match.a), renamed.get(id(match.b), match.b)
    report.skipped = {alias.get(name, name): why for name, why in report.skipped.items()}
    return report
