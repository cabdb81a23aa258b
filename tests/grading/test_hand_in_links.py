"""A hand-in is read as the files it holds, never through a link: a student repository cloned onto the
grading machine keeps its symbolic links, and a cnn.py that links to the reference (or any file of the
machine's) must not be graded, shown or compared. One hand-in that cannot be used never stops grade-all."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from assignment.solution import MAX_HAND_IN_BYTES
from autograder.grading.submission import SubmissionError, find_submission, hand_in, submission_sha
from specs import TINY

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "reference" / "cnn.py"


def grade(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)


def linked_repo(tmp_path: Path, how: str) -> Path:
    """A student repository whose hand-in leads to the reference through a link, in one of three ways."""
    repo = tmp_path / how
    if how == "file":
        repo.mkdir()
        (repo / "cnn.py").symlink_to(REFERENCE)
    elif how == "folder":  # assignment/ itself links to the reference's folder
        repo.mkdir()
        (repo / "assignment").symlink_to(REFERENCE.parent)
    else:  # relative, as a repository would carry it
        (repo / "assignment").mkdir(parents=True)
        (repo / "assignment" / "cnn.py").symlink_to(os.path.relpath(REFERENCE, repo / "assignment"))
    return repo


@pytest.mark.parametrize("how, named", [("file", "cnn.py"), ("folder", "assignment"),
                                        ("relative", "assignment/cnn.py")])
def test_a_hand_in_reached_through_a_link_is_refused(tmp_path, how, named):
    repo = linked_repo(tmp_path, how)
    with pytest.raises(SubmissionError, match=f"^{named} is a symbolic link: hand in the file itself"):
        find_submission(repo)
    assert submission_sha(repo) not in (None, submission_sha(REFERENCE))  # keyed by the link, not its target


def test_a_linked_notebook_and_an_oversized_file_are_refused(tmp_path):
    notebook = tmp_path / "elsewhere.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "cnn.ipynb").symlink_to(notebook)
    with pytest.raises(SubmissionError, match="cnn.ipynb is a symbolic link"):
        find_submission(tmp_path / "nb")

    (tmp_path / "big").mkdir()
    with open(tmp_path / "big" / "cnn.py", "wb") as f:  # sparse: no disk is used
        f.truncate(MAX_HAND_IN_BYTES + 1)
    with pytest.raises(SubmissionError, match="larger than 32 MB"):
        hand_in(find_submission(tmp_path / "big"))


def test_a_linked_experiments_table_is_not_read(tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("run,token\n1,SECRET-TOKEN\n")
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / "cnn.py").write_text("X = 1\n")
    (tmp_path / "student" / "experiments.csv").symlink_to(secret)
    table = hand_in(find_submission(tmp_path / "student")).experiments
    assert table["rows"] == [] and "symbolic link" in table["note"]
    assert "SECRET" not in json.dumps(table)


def test_grade_gives_no_mark_to_a_link_to_the_reference(tmp_path):
    repo = linked_repo(tmp_path, "relative")
    out = tmp_path / "out"
    done = grade("grade", str(repo), "--out", str(out), "--config", str(TINY))
    assert done.returncode == 0, done.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["extra_data"]["mark"] is None, results["extra_data"]
    feedback = (out / "feedback.md").read_text()
    assert feedback.count("assignment/cnn.py is a symbolic link") == 1  # said once; the other checks point to it
    assert "not run: the same cause as under 'output_shape matches PyTorch' above" in feedback
    assert "def build_model" not in feedback + (out / "report.html").read_text()


def test_grade_all_grades_the_class_around_hand_ins_it_cannot_use(tmp_path):
    folder = tmp_path / "class"
    (folder / "alice").mkdir(parents=True)  # two notebooks, no cnn.py: which one counts is unclear
    for name in ("a.ipynb", "b.ipynb"):
        nbformat.write(nbformat.v4.new_notebook(), folder / "alice" / name)
    linked_repo(folder, "relative").rename(folder / "bob")
    (folder / "carol").mkdir()
    (folder / "carol" / "cnn.py").write_text(REFERENCE.read_text())
    out = tmp_path / "out"
    done = grade("grade-all", str(folder), "--out", str(out), "--config", str(TINY))
    assert done.returncode == 0, done.stdout + done.stderr
    with open(out / "gradebook.csv") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert {n: rows[n]["mark"] for n in rows} == {"alice": "none", "bob": "none", "carol": "S+"}, rows
    assert rows["alice"]["status"] == rows["bob"]["status"] == "graded"
    said = (out / "submissions" / "alice" / "feedback.md").read_text()
    assert "alice holds 2 notebooks (a.ipynb, b.ipynb)" in said and str(folder) not in said  # as `grade alice` says it
    assert "assignment/cnn.py is a symbolic link" in (out / "submissions" / "bob" / "feedback.md").read_text()

    again = grade("grade-all", str(folder), "--out", str(out), "--config", str(TINY))
    assert "3 already graded" in again.stdout, again.stdout  # resumed: keyed by what stands in the way


def test_an_anonymous_grade_all_says_why_without_the_real_name(tmp_path):
    folder = tmp_path / "class"
    (folder / "mallory-smith" / "assignment").mkdir(parents=True)
    for name in ("a.ipynb", "b.ipynb"):
        nbformat.write(nbformat.v4.new_notebook(), folder / "mallory-smith" / "assignment" / name)
    (tmp_path / "secret").write_text("course secret 1234\n")
    out = tmp_path / "out"
    done = grade("grade-all", str(folder), "--out", str(out), "--config", str(TINY), "--anonymous",
                 str(tmp_path / "pseudonyms.csv"), "--secret-file", str(tmp_path / "secret"))
    assert done.returncode == 0, done.stdout + done.stderr
    (feedback,) = out.glob("submissions/*/feedback.md")
    assert "assignment holds 2 notebooks (a.ipynb, b.ipynb)" in feedback.read_text()
    for path in (p for p in out.rglob("*") if p.is_file()):
        assert "mallory" not in str(path) + path.read_bytes().decode("utf-8", "replace"), path


def test_names_no_text_can_hold_are_reported_not_a_crash(tmp_path):
    folder = os.fsencode(tmp_path / "odd")
    os.mkdir(folder)
    for name in (b"a.ipynb", b"\xff.ipynb"):  # a byte that is not UTF-8: Python holds it as a lone surrogate
        with open(os.path.join(folder, name), "w") as f:
            nbformat.write(nbformat.v4.new_notebook(), f)
    os.symlink(b"/nowhere/\xfe", os.path.join(folder, b"cnn.py"))
    out = tmp_path / "out"
    done = grade("grade", str(tmp_path / "odd"), "--out", str(out), "--config", str(TINY))
    assert done.returncode == 0, done.stderr
    assert "holds 2 notebooks (a.ipynb, \\udcff.ipynb)" in (out / "feedback.md").read_text()
