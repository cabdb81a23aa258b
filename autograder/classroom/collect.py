"""Reading the folder that Classroom 50's `gh teacher download ORG CLASSROOM ASSIGNMENT` writes.

That folder holds one git clone per student, named `<classroom>-<assignment>-<username>`, each with the
`submit/...` tags the autograde workflow made, `result.json` (the latest submission's result as the
student's own run published it) and `results.json` (every submission's, newest first), and `scores.csv`
at the top. `collect` yields, per student, the files of the submission to grade: those of the latest
`submit/` tag, or of the latest one at or before a deadline. It never changes the clones: the files are
exported with `git archive` into a folder of the caller's.

A tag's time is git's: the tagger's date of an annotated tag, else its commit's committer date. Both
are set by whoever made them (the runner, or a student pushing a tag by hand), so a time read from them
is advisory, as Classroom 50's own late flag is. The course policy (policy.py) is the one place that
compares it with a deadline; grade-all hands it the chosen tag's time.
"""
from __future__ import annotations

import io
import json
import re
import shutil
import tarfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from assignment.solution import EXPERIMENTS, MAX_HAND_IN_BYTES, NOTEBOOK, read_plain

from .student_git import GitError, git

SUBMIT_PREFIX = "submit/"  # the tags Classroom 50 records a submission at
RESULT, RESULTS = "result.json", "results.json"  # written into each clone by gh teacher download
RESULT_SCHEMA = "classroom50/result/v1"
GRADED_NAMES = ("cnn.py", EXPERIMENTS)  # with every notebook: what a hand-in is found among
MAX_RESULTS_BYTES = 16 * 2**20  # every attempt's result, a few kilobytes each


class CollectError(ValueError):
    """The folder cannot be read as gh teacher download's; the message says why and what to do."""


@dataclass(frozen=True)
class Collected:
    """One student's submission, as found in their clone."""
    username: str
    path: Path  # the files of the chosen submission (a folder with assignment/cnn.py, if they wrote one)
    tag: str  # the submit/ tag graded; "" when the clone has none (its default branch is graded)
    time: datetime | None  # the tag's time in UTC, from git; None without a tag
    reported: tuple[int, int] | None  # (score, max-score) that the student's own run reported for that tag
    problem: str = ""  # why the clone could not be read (then `path` holds nothing to grade)


def username_of(repo: str, classroom: str, assignment: str) -> str | None:
    """The <username> of a clone named <classroom>-<assignment>-<username> (case-insensitive prefix, as
    Classroom 50 compares it); None for any other name."""
    prefix = f"{classroom}-{assignment}-".lower()
    if repo.lower().startswith(prefix) and len(repo) > len(prefix):
        return repo[len(prefix):]
    return None


def submit_tags(clone: Path) -> list[tuple[str, datetime]]:
    """(tag, its UTC time) for every submit/ tag of the clone, oldest first (by time, then name)."""
    out = git(clone, "for-each-ref", "--format=%(refname:strip=2)%00%(creatordate:unix)", f"refs/tags/{SUBMIT_PREFIX}")
    tags = []
    for line in out.decode(errors="replace").splitlines():
        name, _, stamp = line.partition("\0")
        if name and stamp.strip().lstrip("-").isdigit():
            tags.append((name, datetime.fromtimestamp(int(stamp), timezone.utc)))
    return sorted(tags, key=lambda t: (t[1], t[0]))


def choose(tags: list[tuple[str, datetime]], deadline: datetime | None) -> tuple[str, datetime] | None:
    """The submission to grade: the latest tag at or before the deadline; with none by then (or no
    deadline), the latest of all (the course policy then finds it late)."""
    on_time = [t for t in tags if deadline is None or t[1] <= deadline]
    return (on_time or tags or [None])[-1]


def _json_in(path: Path):
    """The JSON in a file of the clone; None where it is missing, a link, not a regular file, larger than
    MAX_RESULTS_BYTES or not JSON. The clone is the student's: what it holds is read, never followed."""
    try:
        data = read_plain(path, MAX_RESULTS_BYTES + 1)
        return json.loads(data) if len(data) <= MAX_RESULTS_BYTES else None
    except (OSError, ValueError, RecursionError):  # HandInError is a ValueError
        return None


def reported_score(clone: Path, tag: str) -> tuple[int, int] | None:
    """(score, max-score) of the result the student's run published for `tag`: from results.json (every
    submission), else result.json when it is that tag's. None when neither has one."""
    candidates = []
    history = _json_in(clone / RESULTS)
    if isinstance(history, list):
        candidates += [e.get("result") for e in history if isinstance(e, dict) and e.get("submission_tag") == tag]
    candidates.append(_json_in(clone / RESULT))
    for doc in candidates:
        if (isinstance(doc, dict) and doc.get("schema") == RESULT_SCHEMA and doc.get("submission") == tag
                and all(type(doc.get(k)) is int for k in ("score", "max-score"))):
            return doc["score"], doc["max-score"]
    return None


def graded_files(clone: Path, ref: str) -> list[str]:
    """What grading reads of `ref` (assignment/solution.py): cnn.py, notebooks and experiments.csv at the
    top and in assignment/. A repository may hold datasets and weights; those are never exported. A file
    larger than a hand-in may be is refused here, before git writes it out."""
    names = []
    for folder in ("", "assignment/"):
        listing = git(clone, "ls-tree", "-z", "-l", ref, *([folder] if folder else []))
        for line in listing.split(b"\0"):
            meta, _, name = line.decode(errors="replace").partition("\t")
            if not name or len(meta.split()) != 4:
                continue
            mode, kind, _, size = meta.split()
            base = name.rsplit("/", 1)[-1]
            if kind != "blob" or base.startswith(".") or not (base in GRADED_NAMES or base.endswith(NOTEBOOK)):
                continue
            if size.isdigit() and int(size) > MAX_HAND_IN_BYTES:
                raise CollectError(f"{name} is larger than {MAX_HAND_IN_BYTES >> 20} MB: it is not exported")
            names.append(name)  # a link (mode 120000) too: grading then says why it is refused
    return names


def export(clone: Path, ref: str, dest: Path) -> None:
    """The files of `ref` that grading reads (graded_files) into `dest` (made anew), by git archive: the
    clone's working tree is untouched. Links that lead out of `dest` and special files are refused by
    tarfile's data filter."""
    if dest.exists() or dest.is_symlink():
        shutil.rmtree(dest) if dest.is_dir() and not dest.is_symlink() else dest.unlink()
    dest.mkdir(parents=True)
    names = graded_files(clone, ref)
    if not names:
        return
    data = git(clone, "--literal-pathspecs", "archive", "--format=tar", ref, "--", *names)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(dest, filter="data")


def nameless(text: str, username: str, *paths: Path) -> str:
    """`text` (a message of git's or the system's) without the student's paths or name, which a gradebook
    under --anonymous must not show (see columns)."""
    for path in sorted({str(p) for q in paths for p in (q, q.resolve())}, key=len, reverse=True):
        text = text.replace(path, "<clone>")
    return re.sub(re.escape(username), "<student>", text, flags=re.IGNORECASE)


def collect(folder: Path, classroom: str, assignment: str, work: Path,
            deadline_for: Callable[[str], datetime] | None = None) -> Iterator[Collected]:
    """Per student (sorted by username), their submission exported into work/<username>: the latest
    submit/ tag, or with `deadline_for` (the course policy's, extensions included) the latest by then.

    `folder` is what `gh teacher download ... ASSIGNMENT` wrote; entries not named
    <classroom>-<assignment>-<username> (scores.csv, other assignments' clones) are left out."""
    if not folder.is_dir():
        raise CollectError(f"{folder} is not a folder: give the one gh teacher download wrote")
    clones = {}
    for entry in sorted(folder.iterdir()):
        name = username_of(entry.name, classroom, assignment)
        if name is not None and entry.is_dir() and not entry.is_symlink():
            clones.setdefault(name.lower(), (name, entry))
    if not clones:
        raise CollectError(f"{folder} has no clone named {classroom}-{assignment}-USERNAME: is it the folder that "
                           f"`gh teacher download ORG {classroom} {assignment}` wrote?")
    for _, (username, clone) in sorted(clones.items()):
        dest = work / username
        try:
            chosen = choose(submit_tags(clone), deadline_for(username) if deadline_for else None)
            export(clone, chosen[0] if chosen else "HEAD", dest)
        except (CollectError, GitError, OSError, tarfile.TarError) as err:
            shutil.rmtree(dest, ignore_errors=True)  # nothing half-exported is graded
            yield Collected(username, dest, "", None, None, problem=f"could not read the clone: {nameless(str(err), username, clone, dest)}")
            continue
        if chosen is None:
            yield Collected(username, dest, "", None, None)
        else:
            yield Collected(username, dest, chosen[0], chosen[1], reported_score(clone, chosen[0]))


AGREES = "agrees"
DISAGREES = "DISAGREES"


def columns(c: Collected, row: dict, max_score: float) -> dict:
    """The collected columns of `c`'s gradebook row (gradebook.COLLECTED), whose usual columns are `row`.
    The last says whether the score the student's own run reported agrees with the instructor's grading
    (out of `max_score`): a forged or stale result.json stands out as DISAGREES. The row's name is the
    submission column's (a pseudonym under --anonymous), so no column here names the student."""
    from .gradebook import COLLECTED

    graded = row.get("score")
    if c.problem:
        check = c.problem
    elif not c.tag:
        check = "no submit/ tag: the default branch was graded"
    elif graded in ("", None) or not row.get("mark"):
        check = "not graded"
    elif c.reported is None:
        check = "no result.json for this tag"
    elif (float(graded), float(max_score)) == tuple(map(float, c.reported)):
        check = AGREES
    else:
        check = (f"{DISAGREES}: the student's run reported {c.reported[0]}/{c.reported[1]}, graded "
                 f"{float(graded):g}/{max_score:g}")
    return dict(zip(COLLECTED, (
        c.tag, c.time.strftime("%Y-%m-%dT%H:%M:%SZ") if c.time else "",
        f"{c.reported[0]}/{c.reported[1]}" if c.reported else "", check)))
