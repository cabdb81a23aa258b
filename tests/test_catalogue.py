"""Every catalogue submission gets its expected mark, with its phrase in the feedback.

The whole catalogue is graded once, by `grade-all --jobs 2` under the short-budget config
(tests/grading-fast.yml), but for the entries whose verdict does not depend on how far training gets
(`budget: tiny`), graded by another `grade-all` under tests/grading-tiny.yml; each entry is then its own test.
"""
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.judging.results import ABSENT
from catalogue import build
from specs import FAST

ROOT = Path(__file__).resolve().parents[1]
ENTRIES = build.entries()
pytestmark = pytest.mark.slow  # grades about sixty submissions: several minutes


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Materialise the entries into one class folder per budget and grade each with its config; yield
    (name -> the entry's report folder, gradebook rows of both)."""
    for entry in ENTRIES:
        for marker in build.markers(entry):
            marker.unlink(missing_ok=True)
    folders, rows = {}, {}
    for budget, config in build.BUDGETS.items():
        entries = [e for e in ENTRIES if e["budget"] == budget]
        folder = tmp_path_factory.mktemp(f"class-{budget}")
        for entry in entries:
            build.materialise(entry, folder / entry["name"])
        out = tmp_path_factory.mktemp(f"graded-{budget}")
        start = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", str(folder), "--out", str(out),
                               "--jobs", "2", "--config", str(config)], capture_output=True, text=True, cwd=ROOT)
        print(f"graded {len(entries)} submissions under {config.name} in {time.monotonic() - start:.0f} s")
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        with open(out / "gradebook.csv") as f:
            rows.update({r["submission"]: r for r in csv.DictReader(f)})
        folders.update({e["name"]: out / "submissions" / e["name"] for e in entries})
    yield folders, rows


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_entry_gets_its_mark_and_phrase(graded, entry):
    folders, rows = graded
    row = rows[entry["name"]]
    assert row["status"] == "graded", row
    feedback = (folders[entry["name"]] / "feedback.md").read_text()
    expected = entry["mark"] or "none"
    assert row["mark"] == expected, f"{entry['why']}\n--- feedback ---\n{feedback}"
    assert entry["phrase"] in feedback.lower(), f"{entry['phrase']!r} not in feedback:\n{feedback}"


def test_gradebook_is_complete(graded):
    folders, rows = graded
    assert sorted(rows) == sorted(e["name"] for e in ENTRIES)
    for name in rows:
        results = json.loads((folders[name] / "results.json").read_text())
        assert results["score"] == sum(t["score"] for t in results["tests"])


def test_no_attack_left_a_trace(graded):
    left = [str(m) for e in ENTRIES for m in build.markers(e) if m.exists()]
    assert not left, f"attack markers exist: {left}"
    ps = subprocess.run(["ps", "-eo", "uid=,args="], capture_output=True, text=True).stdout.splitlines()
    strays = [line for line in ps if int(line.split()[0]) >= 200_000]
    assert not strays, f"sandboxed processes survived: {strays}"


def test_the_class_leaderboard_puts_the_challenger_above_the_correct_variants(graded):
    # the short-budget class holds every correct variant and the example challenge submission: only the
    # example is ranked, and each variant follows, unranked, as not entered (it has no challenge model)
    folders, _ = graded
    with open(folders["challenge_allconv"].parents[1] / "leaderboard.csv") as f:
        board = list(csv.DictReader(f))
    assert (board[0]["rank"], board[0]["submission"], board[0]["badge"]) == ("1", "challenge_allconv", "90%")
    variants = sorted(e["name"] for e in ENTRIES if e["kind"] == "variant" and e["name"] != "challenge_allconv")
    listed = [r for r in board if r["submission"] in variants]
    assert [r["submission"] for r in listed] == variants  # unranked rows follow by name
    assert all(r["rank"] == "" and r["status"] == ABSENT for r in listed), listed


JOB_PATH = re.compile(r"cnn-grader-\w+/|/submission/cnn\.py")
SHARED = ("not run:", "not counted:")  # pointers to the one cause: the same words under each blocked check


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e["kind"] != "variant"], ids=lambda e: e["name"])
def test_each_cause_is_said_once_and_no_job_path_leaks(graded, entry):
    folders, _ = graded
    folder = folders[entry["name"]]
    feedback = (folder / "feedback.md").read_text()
    results = json.loads((folder / "results.json").read_text())
    for text in (feedback, json.dumps(results)):
        assert not JOB_PATH.search(text), f"a path inside the grader's job folder reaches the student:\n{feedback}"
    seen: dict[str, str] = {}
    for test in results["tests"][1:]:  # each check; the first test is the mark
        if test["status"] == "passed":
            continue
        heads = [line for line in test["output"].splitlines() if line.strip() and not line[0].isspace()]
        for message in heads:  # each message's first line (tracebacks are indented)
            if message.startswith(SHARED):
                continue
            assert message not in seen, (f"said under both {seen[message]!r} and {test['name']!r}: "
                                         f"{message}\n--- feedback ---\n{feedback}")
            seen[message] = test["name"]
    cause = results["extra_data"]["cause"]
    if cause:
        assert feedback.count(cause[0].splitlines()[0]) == 1, feedback
