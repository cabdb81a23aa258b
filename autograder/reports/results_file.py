"""results.json as typed data: the fields of Gradescope's results that report.gradescope writes, declared once
here, and `read`, which the gradebook, grade-all, the leaderboard and the integrations read it back with.

A results file lies in a report folder that others copy around (grade-all's output, a shard to merge, otter's
cache, a runner's checkout), so it is read as claims.py reads the child's results: within bounds (a regular
file, not a link, of at most MAX_BYTES), each value checked for the type its field declares. A field the file
lacks takes its default (an older grader wrote fewer), a key not declared here is ignored, and anything else
refuses the file with a ResultsError that says in a few words what is wrong.
"""
from __future__ import annotations

import errno
import json
import os
import stat
from dataclasses import MISSING, asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

from ..judging.results import ChallengeResult

MAX_BYTES = 16 * 2**20  # a grading writes a few kilobytes; the experiments table and messages are bounded


class ResultsError(ValueError):
    """A results.json that is not what the grader writes; the message names the file and says what is wrong."""

    def __init__(self, why: str, path: Path | None = None):
        super().__init__(why if path is None else f"{path}: {why}")
        self.why, self.path = why, path


@dataclass(frozen=True)
class Test:
    """One of Gradescope's tests: the "Mark" first, then one 0-point test per check, then the experiments."""
    name: str
    score: float = 0
    max_score: float = 0
    status: str = ""
    output: str = ""
    visibility: str = "visible"


@dataclass(frozen=True)
class Extra:
    """extra_data: what the grader found, beyond Gradescope's own fields."""
    mark: str | None = None  # "S+", "S" or None
    test_accuracy: float | None = None
    accuracy_verified: bool | None = None
    sha256: str | None = None  # of the file handed in: grade-all skips what is already graded
    canary_accuracy: float | None = None
    checks: dict[str, str] = field(default_factory=dict)  # check name -> its status
    isolation: object = None
    provenance: object = None
    child: object = None
    cause: object = None
    grader_error: str | None = None
    regrade: str | None = None  # why the result is inconclusive
    variant: str | None = None
    matches_variant: str | None = None
    challenge: ChallengeResult | None = None
    experiments: object = None
    experiments_marked: object = None


@dataclass(frozen=True)
class Results:
    leaderboard: object = ()  # Gradescope's leaderboard entries; the file has the key only where there are some
    score: float | None = None
    execution_time: float | None = None
    output: str = ""
    output_format: str = "md"
    visibility: str = "visible"
    tests: tuple[Test, ...] = ()
    extra_data: Extra = field(default_factory=Extra)

    def as_json(self) -> dict:
        """What the file holds, in this order (report.gradescope writes it)."""
        doc = _json(self)
        if not self.leaderboard:
            del doc["leaderboard"]
        return doc


def _json(value):
    if isinstance(value, ChallengeResult):
        return asdict(value)
    if is_dataclass(value):
        return {f.name: _json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return value


def read(path: Path) -> Results | None:
    """The results file at `path`; None where there is none. A ResultsError where it is not what the grader
    writes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as err:
        why = "it is a symbolic link" if err.errno == errno.ELOOP else f"cannot read it: {err.strerror}"
        raise ResultsError(why, path) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ResultsError("it is not a regular file", path)
        data = b""
        while len(data) <= MAX_BYTES and (chunk := os.read(fd, MAX_BYTES + 1 - len(data))):
            data += chunk
    except OSError as err:
        raise ResultsError(f"cannot read it: {err.strerror}", path) from None
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:
        raise ResultsError(f"it is larger than {MAX_BYTES >> 20} MB, more than a grading writes", path)
    try:
        doc = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise ResultsError("it is not UTF-8 text", path) from None
    except json.JSONDecodeError as err:
        raise ResultsError(f"it is not JSON ({err.msg} at line {err.lineno}, column {err.colno})", path) from None
    except RecursionError:
        raise ResultsError("it is nested too deeply to be a grader's results", path) from None
    except ValueError as err:  # NaN or Infinity
        raise ResultsError(str(err), path) from None
    try:
        return _build(Results, doc, "the file")
    except ResultsError as err:
        raise ResultsError(err.why, path) from None


def _no_constant(name: str):
    raise ValueError(f"it holds {name}, which is no JSON number")


def _kind(value) -> str:
    return {dict: "an object", list: "a list", str: "a text", bool: "true or false", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _of(types: tuple, what: str):
    def check(value, where: str):
        if type(value) not in types:
            raise ResultsError(f"{where} is {_kind(value)} where {what} belongs")
        return value
    return check


def _maybe(check):
    return lambda value, where: None if value is None else check(value, where)


def _tests(value, where: str) -> tuple[Test, ...]:
    return tuple(_build(Test, v, f"{where}[{i}]") for i, v in enumerate(_of((list,), "a list")(value, where)))


def _checks(value, where: str) -> dict[str, str]:
    return {k: _TEXT(v, f"{where}[{k!r}]") for k, v in _of((dict,), "an object")(value, where).items()}


_TEXT, _NUMBER, _INTEGER = _of((str,), "a text"), _of((int, float), "a number"), _of((int,), "a whole number")
# each declared field type (as written in the dataclasses above and in ChallengeResult) -> how a value is checked
CHECKS = {
    "str": _TEXT, "str | None": _maybe(_TEXT),
    "float": _NUMBER, "float | None": _maybe(_NUMBER), "int | None": _maybe(_INTEGER),
    "bool | None": _maybe(_of((bool,), "true or false")),
    "object": lambda value, where: value,  # any JSON value: kept as it is, for a reader that wants it
    "tuple[Test, ...]": _tests,
    "dict[str, str]": _checks,
    "Extra": lambda value, where: _build(Extra, value, where),
    "ChallengeResult | None": lambda value, where: None if value is None else _build(ChallengeResult, value, where),
}


def _build(cls, value, where: str):
    """An instance of dataclass `cls` from the JSON object `value`, each field checked by its declared type."""
    value = _of((dict,), "an object")(value, where)
    kept = {}
    for f in fields(cls):
        if f.name in value:
            kept[f.name] = CHECKS[f.type](value[f.name], f.name if where == "the file" else f"{where}.{f.name}")
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ResultsError(f"{where} has no {f.name}")
    return cls(**kept)
