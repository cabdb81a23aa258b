"""`python -m autograder lms push OUT`: post each student's final mark to a Canvas assignment, with canvasapi.

- The grade is posted as the assignment is set up (its grading_type): points (scaled to points_possible),
  a percentage (which Canvas turns into the letter or GPA grade of its scheme), or complete/incomplete.
- feedback.md (after the final mark and why) is the submission comment; report.html is attached on request.
- Students are matched through a roster column: canvas_id, sis_user_id or login_id. One who matches nobody
  is listed and skipped.
- The token comes from $CANVAS_TOKEN or a file, never from the command line (where `ps` shows it).

A push is safe to repeat. OUT/lms-ledger.jsonl records, per student, a line before posting and one after;
a second push posts only what changed. A push killed between the two lines is checked against Canvas
(the comment is there or not) before anything is posted again, so each grade and comment lands once.
429 (and Canvas's 403 "Rate Limit Exceeded"), 5xx and timeouts are retried with backoff, honouring
Retry-After; a request that may have landed (5xx, timeout) is checked before it is sent again. The course
and assignment are read before anything is posted, so a bad token or URL stops the push with nothing posted.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import requests
from canvasapi import Canvas
from canvasapi.exceptions import (CanvasException, Forbidden, InvalidAccessToken, RateLimitExceeded,
                                  ResourceDoesNotExist, Unauthorized)
from canvasapi.submission import Submission
from canvasapi.upload import Uploader

from .passback import FinalMark, identity
from ..reports import outputs

TOKEN_ENV = "CANVAS_TOKEN"
LEDGER = "lms-ledger.jsonl"
MATCH = {"canvas_id": "id", "sis_user_id": "sis_user_id", "login_id": "login_id"}  # roster column -> Canvas field
TRIES = 8  # tries of one request; the waits between them add up to about a minute without Retry-After


class PushError(RuntimeError):
    """The push cannot go on; the message says why and what was posted."""


def read_token(token_file: Path | None) -> str:
    """The token from `token_file`, else from $CANVAS_TOKEN."""
    if token_file is not None:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as err:
            raise PushError(f"cannot read the token file {token_file}: {err.strerror}") from err
    else:
        token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise PushError(f"no Canvas token: put it in ${TOKEN_ENV} or in a file given with --token-file (never on "
                        "the command line); make one in Canvas under Account > Settings > New access token")
    return token


def posted_grade(grading_type: str, mark: FinalMark, points_possible: float | None) -> str:
    """submission[posted_grade] for the assignment's grading_type."""
    if grading_type == "pass_fail":
        return "complete" if mark.mark != "none" and mark.points > 0 else "incomplete"
    if grading_type == "points":
        return f"{round(mark.fraction * (points_possible or 0), 2):g}"
    if grading_type in ("percent", "letter_grade", "gpa_scale"):  # Canvas maps a percentage onto its scheme
        return f"{round(mark.fraction * 100, 2):g}%"
    raise PushError(f"the assignment's grading type is {grading_type!r}, which takes no grade; choose points, "
                    "percentage, complete/incomplete, letter grade or GPA scale in its settings")


class Ledger:
    """OUT/lms-ledger.jsonl: per (assignment, student), the fingerprint of what is being posted and of what was."""

    def __init__(self, path: Path, target: str):
        self.path, self.target = path, target
        self.posting: dict[str, str] = {}
        self.posted: dict[str, str] = {}
        try:
            lines = path.read_text().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:  # a line cut short by a kill: it recorded nothing
                continue
            if entry.get("target") == target:
                (self.posted if entry["event"] == "posted" else self.posting)[entry["name"]] = entry["fingerprint"]

    def write(self, event: str, name: str, fingerprint: str, grade: str) -> None:
        line = {"event": event, "target": self.target, "name": name, "fingerprint": fingerprint, "grade": grade,
                "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        with open(self.path, "a") as f:
            f.write(json.dumps(line) + "\n")
            f.flush()
            os.fsync(f.fileno())
        (self.posted if event == "posted" else self.posting)[name] = fingerprint


@dataclass
class Item:
    mark: FinalMark
    user_id: int
    grade: str
    comment: str
    report: Path | None
    fingerprint: str


@dataclass
class Outcome:
    posted: list  # gradebook names posted now
    unchanged: list
    unmatched: list  # students found in no roster line or Canvas user
    planned: list  # Items that would be posted (a dry run's answer)


class _Timeout(requests.adapters.HTTPAdapter):
    """Every request gets a timeout (canvasapi gives none): a Canvas that hangs is retried, not waited on forever."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def send(self, request, **kwargs):
        kwargs["timeout"] = kwargs.get("timeout") or self.timeout
        return super().send(request, **kwargs)


class CanvasPush:
    def __init__(self, url: str, token: str, *, timeout: float = 30, backoff: float = 1.0, log=print):
        self.url, self.backoff, self.log = url.rstrip("/"), backoff, log
        self.canvas = Canvas(self.url, token)
        self.last: requests.Response | None = None
        session = self.canvas._Canvas__requester._session  # canvasapi's requests session: add a timeout, and
        session.mount("http://", _Timeout(timeout))  # keep the last response for its Retry-After
        session.mount("https://", _Timeout(timeout))
        session.hooks["response"].append(self._keep)

    def close(self) -> None:
        self.canvas._Canvas__requester._session.close()

    def _keep(self, response, *args, **kwargs):
        self.last = response

    def _wait(self, attempt: int) -> float:
        after = self.last.headers.get("Retry-After") if self.last is not None else None
        try:
            return max(0.0, float(after))
        except (TypeError, ValueError):
            return min(60.0, self.backoff * 2 ** attempt)

    def retried(self, what: str, call, landed=None, unreachable_fails: bool = False):
        """call(), retried on rate limits, 5xx and timeouts; before sending again what may have landed (5xx,
        timeout), landed() is asked, and True ends the retries. Other errors go through, and so does a refused
        connection where `unreachable_fails` (the first request: a wrong URL is said at once)."""
        for attempt in range(TRIES):
            self.last = None
            try:
                return call()
            except RateLimitExceeded:
                why, wait = "rate limited (429)", self._wait(attempt)
            except Forbidden as err:
                if "rate limit exceeded" not in str(err).lower():
                    raise
                why, wait = "rate limited (403 Rate Limit Exceeded)", self._wait(attempt)
            except (requests.Timeout, requests.ConnectionError) as err:
                if unreachable_fails and not isinstance(err, requests.ReadTimeout):
                    raise
                why, wait = f"no answer ({type(err).__name__})", self._wait(attempt)
                if landed is not None and landed():
                    return None
            except CanvasException as err:
                status = self.last.status_code if self.last is not None else 0
                if status < 500:
                    raise
                why, wait = f"server error {status}", self._wait(attempt)
                if landed is not None and landed():
                    return None
            if attempt == TRIES - 1:
                raise PushError(f"{what}: {why}, {TRIES} times; run the same push again later: it posts only "
                                "what is not posted yet")
            self.log(f"{what}: {why}; trying again in {wait:g} s", file=sys.stderr)
            time.sleep(wait)

    def open(self, course_id: int, assignment_id: int):
        """The course, the assignment and its students: read before anything is posted, so that a bad token,
        URL or id stops the push with nothing posted."""
        try:
            course = self.retried("reading the course", lambda: self.canvas.get_course(course_id),
                                  unreachable_fails=True)
            assignment = self.retried("reading the assignment", lambda: course.get_assignment(assignment_id))
            users = self.retried("listing the students",
                                 lambda: list(course.get_users(enrollment_type=["student"])))
        except (InvalidAccessToken, Unauthorized) as err:
            raise PushError(f"Canvas at {self.url} refused the token ({err}); nothing was posted. Make a new "
                            f"access token and put it in ${TOKEN_ENV} or the --token-file") from err
        except ResourceDoesNotExist as err:
            raise PushError(f"Canvas at {self.url} has no course {course_id} with an assignment {assignment_id} "
                            "that this token can see; nothing was posted. Both ids are in the assignment's "
                            "address: /courses/COURSE/assignments/ASSIGNMENT") from err
        except (requests.RequestException, ValueError) as err:
            raise PushError(f"cannot reach Canvas at {self.url} ({type(err).__name__}: {err}); nothing was posted. "
                            "Give your Canvas's address, e.g. https://canvas.example.edu") from err
        except CanvasException as err:
            raise PushError(f"Canvas at {self.url} refused to show course {course_id}, assignment {assignment_id} "
                            f"({err}); nothing was posted") from err
        return course, assignment, users

    def landed(self, assignment, item: Item) -> bool:
        """Whether the comment of `item` (posted in one request with its grade) is on the submission already."""
        try:
            submission = self.retried("checking a submission", lambda: assignment.get_submission(
                item.user_id, include=["submission_comments"]))
        except CanvasException:
            return False
        return any((c.get("comment") or "").strip() == item.comment.strip()
                   for c in getattr(submission, "submission_comments", None) or [])

    def post(self, assignment, item: Item) -> None:
        """One PUT with the grade and the comment (and the report, uploaded first)."""
        comment = {"text_comment": item.comment}
        endpoint = f"courses/{assignment.course_id}/assignments/{assignment.id}/submissions/{item.user_id}"
        if item.report is not None:
            ok, uploaded = self.retried(f"attaching {outputs.PAGE.name}", lambda: Uploader(
                assignment._requester, endpoint + "/comments/files", str(item.report)).start())
            if not ok or "id" not in uploaded:
                raise PushError(f"Canvas did not take {item.report} as an attachment: {uploaded}")
            comment["file_ids"] = [uploaded["id"]]
        submission = Submission(assignment._requester, {"course_id": assignment.course_id,
                                                         "assignment_id": assignment.id, "user_id": item.user_id})
        self.retried(f"posting {item.mark.name}'s grade",
                     lambda: submission.edit(submission={"posted_grade": item.grade}, comment=comment),
                     landed=lambda: self.landed(assignment, item))


def push(out: Path, marks: list[FinalMark], *, url: str, token: str, course_id: int, assignment_id: int,
         roster: dict | None, match: str = "sis_user_id", attach_report: bool = False, dry_run: bool = False,
         timeout: float = 30, backoff: float = 1.0, log=print) -> Outcome:
    """Post `marks` (the class's final marks, passback.final_marks) to the assignment; see the module's doc."""
    if match not in MATCH:
        raise PushError(f"--match must be one of {', '.join(MATCH)}, got {match!r}")
    canvas = CanvasPush(url, token, timeout=timeout, backoff=backoff, log=log)
    try:
        return _push(canvas, out, marks, url, course_id, assignment_id, roster, match, attach_report, dry_run, log)
    finally:
        canvas.close()


def _push(canvas: CanvasPush, out, marks, url, course_id, assignment_id, roster, match, attach_report, dry_run,
          log) -> Outcome:
    course, assignment, users = canvas.open(course_id, assignment_id)
    field = MATCH[match]
    by_key = {str(getattr(u, field, "") or ""): u for u in users}
    by_key.pop("", None)
    ledger = Ledger(Path(out) / LEDGER, f"{url.rstrip('/')}/courses/{course_id}/assignments/{assignment_id}")
    outcome = Outcome([], [], [], [])
    for mark in marks:
        user = by_key.get(identity(mark, roster, match))
        if user is None:
            outcome.unmatched.append(mark.student)
            continue
        grade = posted_grade(assignment.grading_type, mark, getattr(assignment, "points_possible", None))
        report = mark.report if attach_report and mark.report.is_file() else None
        comment = mark.comment()
        digest = hashlib.sha256(json.dumps([user.id, grade, comment, report and hashlib.sha256(
            report.read_bytes()).hexdigest()]).encode()).hexdigest()
        item = Item(mark, user.id, grade, comment, report, digest)
        (outcome.unchanged if ledger.posted.get(mark.name) == digest else outcome.planned).append(item)
    for student in outcome.unmatched:
        log(f"not matched, skipped: {student} (no Canvas student with that {match}"
            f"{'' if roster is None else ' in the roster'})", file=sys.stderr)
    verb = "would post" if dry_run else "posting"
    for item in outcome.planned:
        log(f"{verb}: {item.mark.student}: {item.grade} ({item.mark.mark})"
            f"{' with ' + outputs.PAGE.name if item.report else ''}")
    if dry_run:
        return outcome
    for item in outcome.planned:
        name = item.mark.name
        if ledger.posting.get(name) == item.fingerprint and canvas.landed(assignment, item):
            ledger.write("posted", name, item.fingerprint, item.grade)  # a killed push had posted it
            outcome.posted.append(name)
            continue
        ledger.write("posting", name, item.fingerprint, item.grade)
        canvas.post(assignment, item)
        ledger.write("posted", name, item.fingerprint, item.grade)
        outcome.posted.append(name)
    return outcome
