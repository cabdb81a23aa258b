"""`lms push` against a local Canvas (canvas_server.py) through the real canvasapi client: a dry run, a push
of six grades and comments, a second push, a push killed halfway and restarted, 429s, 500s and timeouts, a
bad token or URL, an unmatched student, the grading types, and anonymous grading mapped back at posting."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.classroom.batch import grade_all
from autograder.practical.config import load_config
from autograder.integrations.canvas import LEDGER, PushError, posted_grade, push
from autograder.integrations.passback import final_marks, read_roster
from canvas_server import TOKEN, FakeCanvas
from classroom_fixtures import ROOT, graded, student_repo
from specs import TINY

MARKS = {"ana": "S+", "ben": "S", "cat": "none", "dan": "S+", "eve": "S", "fay": "none"}
IDS = {name: 101 + i for i, name in enumerate(MARKS)}
pytestmark = pytest.mark.filterwarnings("ignore:Canvas may respond unexpectedly:UserWarning")  # the local one is http


def users():
    return [{"id": IDS[n], "name": f"Student {n}", "sortable_name": n, "sis_user_id": f"S-{n}",
             "login_id": f"{n}@uni.example"} for n in MARKS]


@pytest.fixture
def klass(tmp_path):
    """A graded class of six (OUT) and its roster (student -> SIS id)."""
    folder, out = tmp_path / "class", tmp_path / "out"
    for name, mark in MARKS.items():
        graded(out, name, student_repo(folder, name, "2025-03-07T16:00:00+00:00"), mark)
    assert grade_all(folder, out, config_path=str(TINY)) == 0
    roster = tmp_path / "roster.csv"
    with open(roster, "w", newline="") as f:
        csv.writer(f).writerows([["student", "sis_user_id", "canvas_id"], *[[n, f"S-{n}", IDS[n]] for n in MARKS]])
    return out, roster


@pytest.fixture
def canvas():
    server = FakeCanvas(users())
    yield server
    server.close()


def run_push(out, roster, server, token=TOKEN, **kwargs):
    config = load_config(TINY)
    return push(out, final_marks(out, config, kwargs.pop("pseudonyms", None)), url=server.url, token=token,
                course_id=1, assignment_id=7, roster=read_roster(roster), backoff=0.05, timeout=1.0,
                log=lambda *a, **k: None, **kwargs)


def posted(server) -> dict:
    """user id -> the grades applied to it, and the number of its comments."""
    return {uid: (server.grades.get(uid, []), len(server.comments.get(uid, []))) for uid in IDS.values()}


EXPECTED = {IDS[n]: ([g], 1) for n, g in zip(MARKS, ["10", "5", "0", "10", "5", "0"])}


def test_a_dry_run_posts_nothing(klass, canvas):
    out, roster = klass
    outcome = run_push(out, roster, canvas, dry_run=True)
    assert len(outcome.planned) == 6
    assert {m for m, _, _ in canvas.requests} == {"GET"}
    assert not (out / LEDGER).exists()


def test_a_push_posts_six_grades_and_comments_once_and_a_second_push_nothing(klass, canvas):
    out, roster = klass
    outcome = run_push(out, roster, canvas)
    assert sorted(outcome.posted) == sorted(MARKS)
    assert posted(canvas) == EXPECTED
    assert len(canvas.puts()) == 6
    first = canvas.comments[IDS["ana"]][0]["comment"]
    assert first.startswith("Mark: S+") and "Your mark: S+." in first  # the mark, then feedback.md
    # users were listed page by page (Link headers): 3 pages of 2
    assert sum(1 for m, p, _ in canvas.requests if p.endswith("users")) == 3

    before = len(canvas.requests)
    again = run_push(out, roster, canvas)
    assert again.posted == [] and len(again.unchanged) == 6
    assert all(m == "GET" for m, _, _ in canvas.requests[before:])

    # a changed mark is posted again, and only that one
    results = out / "submissions" / "cat" / "results.json"
    results.write_text(results.read_text().replace('"mark": null', '"mark": "S"'))
    assert grade_all(out.parent / "class", out, config_path=str(TINY)) == 0
    third = run_push(out, roster, canvas)
    assert third.posted == ["cat"] and canvas.grades[IDS["cat"]] == ["0", "5"]


@pytest.mark.parametrize("applied", [False, True], ids=["hung-before-applying", "hung-after-applying"])
def test_a_push_killed_after_three_grades_posts_the_rest_once_when_restarted(klass, canvas, tmp_path, applied):
    out, roster = klass
    canvas.hang_after_puts, canvas.apply_hung = 3, applied
    env = {**os.environ, "CANVAS_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "autograder", "lms", "push", str(out), "--url", canvas.url, "--course", "1",
               "--assignment", "7", "--roster", str(roster), "--config", str(TINY)]
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert canvas.hanging.wait(60), proc.communicate(timeout=5)
        assert len(canvas.puts()) == 4 and len(canvas.grades) == 3 + applied
    finally:
        proc.send_signal(signal.SIGKILL)  # as a kill -9 or a lost machine would
        proc.communicate()
    canvas.released.set()
    canvas.hang_after_puts = None
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert posted(canvas) == EXPECTED  # each of the six: one grade, one comment
    assert len(canvas.puts()) == 6 + (not applied)  # the hung request, and the other two or three


def test_429s_with_retry_after_500s_and_timeouts_are_survived(klass, canvas):
    out, roster = klass
    canvas.fail = [("GET", 429, {"Retry-After": "0.2"}), *[("PUT", 429, {"Retry-After": "0.2"})] * 3,
                   ("PUT", 500, {}), ("PUT", 503, {"Retry-After": "0.1"})]
    canvas.slow = {"PUT"}
    start = time.monotonic()
    outcome = run_push(out, roster, canvas)
    assert sorted(outcome.posted) == sorted(MARKS)
    assert posted(canvas) == EXPECTED
    assert canvas.fail == [] and not canvas.slow
    assert time.monotonic() - start >= 0.8  # Retry-After was waited for: 4 x 0.2 s


def test_a_bad_token_or_url_posts_nothing_and_says_why(klass, canvas, capsys):
    out, roster = klass
    with pytest.raises(PushError, match="refused the token.*nothing was posted"):
        run_push(out, roster, canvas, token="expired")
    with pytest.raises(PushError, match="cannot reach Canvas.*nothing was posted"):
        run_push(out, roster, FakeCanvasAt("http://127.0.0.1:9"))
    assert canvas.puts() == [] and not (out / LEDGER).exists()
    # the command line: exit 2 and the reason, the token only from the environment or a file
    from autograder.cli import main
    os.environ.pop("CANVAS_TOKEN", None)
    args = ["lms", "push", str(out), "--url", canvas.url, "--course", "1", "--assignment", "7", "--config", str(TINY)]
    assert main(args) == 2 and "no Canvas token" in capsys.readouterr().err
    token_file = out.parent / "token"
    token_file.write_text("wrong\n")
    assert main([*args, "--token-file", str(token_file)]) == 2
    assert "refused the token" in capsys.readouterr().err and canvas.puts() == []


class FakeCanvasAt:
    def __init__(self, url):
        self.url = url


def test_an_unmatched_student_is_listed_and_skipped(klass, canvas, tmp_path):
    out, _ = klass
    roster = tmp_path / "partial.csv"
    roster.write_text("student,sis_user_id\n" + "".join(f"{n},S-{n}\n" for n in MARKS if n != "eve")
                      + "eve,S-nobody\n")
    outcome = run_push(out, roster, canvas)
    assert outcome.unmatched == ["eve"] and "eve" not in outcome.posted and IDS["eve"] not in canvas.grades
    assert len(canvas.puts()) == 5


def test_the_grade_follows_the_assignments_grading_type_and_the_report_is_attached(klass, tmp_path):
    out, roster = klass
    server = FakeCanvas(users(), grading_type="pass_fail")
    try:
        run_push(out, roster, server, attach_report=True)
        assert {n: server.grades[IDS[n]] for n in MARKS} == {
            "ana": ["complete"], "ben": ["complete"], "cat": ["incomplete"], "dan": ["complete"],
            "eve": ["complete"], "fay": ["incomplete"]}
        assert all(c[0]["attachments"] == [str(900 + uid)] for uid, c in server.comments.items())
        assert "report of ana" in server.files[IDS["ana"]]
    finally:
        server.close()
    marks = {m.name: m for m in final_marks(out, load_config(TINY))}
    assert posted_grade("letter_grade", marks["ben"], None) == "50%"
    assert posted_grade("percent", marks["ana"], None) == "100%"
    with pytest.raises(PushError, match="takes no grade"):
        posted_grade("not_graded", marks["ana"], None)


REAL = {f"student-{n}-7731": n for n in MARKS}  # distinctive ids, so that a search for them cannot hit by chance


def test_anonymous_grading_names_nobody_and_the_push_still_reaches_each_student(tmp_path, canvas, capsys):
    from autograder.classroom.anonymous import pseudonym, read_mapping
    from autograder.cli import main

    folder, out, secret = tmp_path / "class", tmp_path / "out", tmp_path / "secret"
    secret.write_text("course secret 1234\n")
    mapping = tmp_path / "instructor" / "pseudonyms.csv"
    mapping.parent.mkdir()
    for real, short in REAL.items():
        repo = student_repo(folder, real, "2025-03-07T16:00:00+00:00")
        (repo / "assignment" / "cnn.py").write_text(f"import torch\n\nWIDTH = {len(short)}\n" + "x = 1\n" * 30)
        graded(out, pseudonym(real, b"course secret 1234"), repo, MARKS[short], challenge=True)
    args = [str(folder), "--out", str(out), "--config", str(TINY), "--anonymous", str(mapping), "--secret-file", str(secret)]
    assert main(["grade-all", *args]) == 0
    assert main(["similarity", str(folder), "--out", str(out / "similarity"), "--anonymous", str(mapping),
                 "--secret-file", str(secret)]) == 0
    assert main(["grade-all", str(folder), "--out", str(out), "--config", str(TINY), "--anonymous",
                 str(out / "map.csv"), "--secret-file", str(secret)]) == 2  # the mapping may not lie in OUT

    names = read_mapping(mapping)
    assert sorted(names.values()) == sorted(REAL) and all(p.startswith("anon-") for p in names)
    written = [p for p in out.rglob("*") if p.is_file()]
    assert {"gradebook.csv", "leaderboard.csv", "leaderboard.html", "similarity.csv", "similarity.html"} <= {
        p.name for p in written}
    for path in written:
        text = path.read_bytes().decode("utf-8", "replace")
        assert not any(real in text or real in str(path) for real in REAL), path
    assert not any(real in capsys.readouterr().out for real in REAL)
    assert sorted(p.name for p in (out / "submissions").iterdir()) == sorted(names)

    roster = tmp_path / "roster.csv"
    roster.write_text("student,sis_user_id\n" + "".join(f"{real},S-{short}\n" for real, short in REAL.items()))
    outcome = run_push(out, roster, canvas, pseudonyms=mapping)
    assert sorted(outcome.posted) == sorted(names)
    assert posted(canvas) == EXPECTED  # each student's own mark, at their own Canvas id
