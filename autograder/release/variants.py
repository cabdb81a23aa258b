"""`python -m autograder variants ROSTER.csv --secret-file F --out DIR`: a variant for each student.

Each student gets one of the spec's variants (v1, v2, ... as `spec.enumerate_variants` numbers
them), chosen by a keyed hash of their id: HMAC-SHA256 with the instructor's secret, taken modulo the
number of variants. The same secret and id always give the same variant, so a late addition to the
roster changes nobody else's; without the secret, nobody can work out (or choose) a variant.

Writes DIR/variants.csv (`student,variant`, the mapping the instructor keeps and `grade-all --roster`
reads) and the template of every variant given to someone, DIR/templates/vN/ (release.py).
Imports no torch.
"""
from __future__ import annotations

import csv
import hashlib
import hmac
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..practical.config import Config
from .release import ReleaseError, write_template
from ..practical.spec import enumerate_variants

STUDENT_COLUMN = "student"
MAPPING = "variants.csv"


class VariantsError(ValueError):
    """The roster, the secret or the output folder is unusable; the message says which and why."""


@dataclass
class Written:
    """What `write_variants` wrote."""
    mapping: Path
    assignment: dict[str, str]  # student -> variant id, in roster order
    templates: dict[str, Path] = field(default_factory=dict)  # variant id -> its template folder
    n_variants: int = 0

    def summary(self) -> str:
        counts = Counter(self.assignment.values())
        spread = ", ".join(f"{vid}: {counts[vid]}" for vid in self.templates)
        return (f"Assigned {len(self.assignment)} students to {len(counts)} of {self.n_variants} variants ({spread}).\n"
                f"Wrote {self.mapping}: keep it, and the secret, for grading (grade-all --roster {self.mapping}).\n"
                f"Templates: {', '.join(str(p) for p in self.templates.values())}")


def read_secret(path: Path) -> bytes:
    """The key: the file's bytes, surrounding whitespace left out. A missing or empty file is refused."""
    try:
        secret = path.read_bytes().strip()
    except OSError as err:
        raise VariantsError(f"cannot read the secret file {path}: {err.strerror}. Write a long random key into "
                            "it once (for example `python -c \"import secrets; print(secrets.token_hex(32))\" > "
                            f"{path}`) and keep it: the same key always gives the same variants") from err
    if not secret:
        raise VariantsError(f"the secret file {path} is empty: put a long random key in it (for example "
                            "`python -c \"import secrets; print(secrets.token_hex(32))\"`)")
    return secret


def read_roster(path: Path) -> list[str]:
    """The student ids of a CSV roster with a header and a column `student`, in its order."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's export may start with a byte-order mark
    except (OSError, UnicodeDecodeError) as err:
        raise VariantsError(f"cannot read the roster {path}: {getattr(err, 'strerror', None) or err}") from err
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in reader.fieldnames or []]
    if STUDENT_COLUMN not in columns:
        raise VariantsError(f"the roster {path} has no column '{STUDENT_COLUMN}' in its header (found: "
                            f"{', '.join(map(repr, columns)) or 'no header'}); its first line must name the "
                            f"columns, one of them '{STUDENT_COLUMN}' with each student's GitHub username or id")
    reader.fieldnames = columns
    students, rows = [], {}
    for row in reader:
        line = reader.line_num
        student = (row.get(STUDENT_COLUMN) or "").strip()
        if not student:
            raise VariantsError(f"the roster {path}, line {line}: the '{STUDENT_COLUMN}' column is empty")
        if student in rows:
            raise VariantsError(f"the roster {path}, line {line}: student {student!r} is listed already on line "
                                f"{rows[student]}")
        rows[student] = line
        students.append(student)
    if not students:
        raise VariantsError(f"the roster {path} lists no students")
    return students


def variant_of(student: str, secret: bytes, variant_ids: list[str]) -> str:
    """The variant id for `student`: HMAC-SHA256(secret, id), its first 8 bytes modulo the number of variants."""
    digest = hmac.new(secret, student.encode("utf-8"), hashlib.sha256).digest()
    return variant_ids[int.from_bytes(digest[:8], "big") % len(variant_ids)]


def assign(students: list[str], secret: bytes, variant_ids: list[str]) -> dict[str, str]:
    return {student: variant_of(student, secret, variant_ids) for student in students}


def write_variants(roster: Path, secret_file: Path, out: Path, config: Config) -> Written:
    """Assign the roster's students their variants; write DIR/variants.csv and one template per variant given."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise VariantsError(f"{out} already exists and is not empty: give a new folder. The same secret gives "
                            "the same variants, so a new folder with a longer roster changes nobody's")
    students, secret = read_roster(roster), read_secret(secret_file)
    variant_ids = list(enumerate_variants(config.practical, config.variants))
    assignment = assign(students, secret, variant_ids)
    written = Written(out / MAPPING, assignment, n_variants=len(variant_ids))
    try:
        for vid in variant_ids:
            if vid in assignment.values():
                written.templates[vid] = out / "templates" / vid
                write_template(written.templates[vid], config, vid)
    except ReleaseError as err:
        raise VariantsError(f"the template of {vid} could not be written: {err}") from err
    out.mkdir(parents=True, exist_ok=True)
    with written.mapping.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([STUDENT_COLUMN, "variant"])
        writer.writerows(assignment.items())
    return written
