"""Runs inside otter-grader (`otter run`, or Gradescope with the zip of otter_zip.py).

otter would execute a .py submission as a cell of its own kernel and then run the test files in that
same interpreter, where the submission could patch them, and `otter run` has no time limit. So the
plugin swaps the submission for one cell that creates `cnn_grade`, a GradedSubmission, and the test
files ask it for each check. It grades once, with `python -m autograder grade` in a subprocess: the
student's code runs only in our sandbox, under grading.yml's limits, and the marks are ours.

Layout (otter's): AG/submission/<the student's .py>, AG/source/<the unzipped autograder>, which holds
autograder/, assignment/ and grading.yml at its root.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from functools import cached_property
from pathlib import Path

import nbformat
from otter.plugins import AbstractOtterPlugin

from ..reports.outputs import FEEDBACK, RESULTS
from ..reports.results_file import Results, ResultsError, read

OVERHEAD_S = 300  # beyond the child's wall limit: the data, judging and reports (as batch.py allows)
SETUP_CELL = """\
import sys
sys.path.insert(0, {source!r})
from autograder.integrations.otter_plugin import GradedSubmission
cnn_grade = GradedSubmission({submission!r}, {source!r})
"""


class GraderFailed(RuntimeError):
    """The grader itself failed: not the student's fault."""


class GradedSubmission:
    """The grading of one submission, done on first use and kept in AG/cnn-grader/<sha256>/."""

    def __init__(self, submission: str, source: str):
        self.submission, self.source = Path(submission), Path(source)
        self.out = results_folder(self.submission)

    @cached_property
    def config(self):
        from autograder.practical.config import load_config

        return load_config(self.source / "grading.yml")

    @cached_property
    def results(self) -> Results:
        """results.json of our grader, grading now if it is not there yet."""
        if not (self.out / RESULTS.name).is_file():
            self._grade()
        try:
            results = read(self.out / RESULTS.name)
        except ResultsError as err:
            raise GraderFailed(f"the grader's results cannot be read (not your fault): {err.why}") from None
        if results is None:
            raise GraderFailed("the grader left no results (not your fault)")
        return results

    def _grade(self) -> None:
        tmp = self.out.with_name(f"{self.out.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [sys.executable, "-m", "autograder", "grade", str(self.submission), "--out", str(tmp),
               "--config", str(self.source / "grading.yml")]
        timeout = self.config.limits.wall_seconds + OVERHEAD_S
        try:  # cwd: `python -m` puts the zip's own autograder and assignment first on the path
            proc = subprocess.run(cmd, cwd=self.source, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise GraderFailed(f"the grader did not finish in {timeout:g} s (not your fault)") from None
        if proc.returncode == 3:  # cli.REGRADE: inconclusive, kept out of the cache so that a rerun grades again
            raise GraderFailed("regrade: the machine was too busy to finish grading in time (not your fault); "
                               "submit again later")
        if proc.returncode != 0 or not (tmp / RESULTS.name).is_file():
            raise GraderFailed(f"the grader failed (exit {proc.returncode}; not your fault):\n{proc.stderr[-3000:]}")
        tmp.replace(self.out)

    def check(self, name: str) -> None:
        """Prints "passed", or the check's status and messages."""
        status = self.results.extra_data.checks[name]
        if status == "passed":
            print("passed")
            return
        title = self.config.checks[name].title
        output = next((t.output for t in self.results.tests if t.name == title), "")
        print(f"{status}: {title}\n{output}")

    def has_mark(self, mark: str) -> None:
        """Prints "<mark> reached" when the mark is `mark` or better, else the mark and why."""
        order = list(self.config.marks)  # best first
        got = self.results.extra_data.mark
        if got is not None and order.index(got) <= order.index(mark):
            print(f"{mark} reached")
        else:
            print(f"{mark} not reached: the mark is {got or 'none'}. {self.results.output}")


def results_folder(submission: Path) -> Path:
    """AG/cnn-grader/<sha256 of the submission>: one grading per submission, whichever test asks first."""
    sha = hashlib.sha256(submission.read_bytes()).hexdigest()
    return submission.resolve().parents[1] / "cnn-grader" / sha


class GradeInSandbox(AbstractOtterPlugin):
    """otter plugin: the submission never runs in otter's kernel; feedback.md becomes Gradescope's output."""

    def before_execution(self, submission):
        sub = Path(self.submission_path)
        cell = SETUP_CELL.format(source=str(sub.parents[1] / "source"), submission=str(sub))
        return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])

    def after_grading(self, results):
        feedback = results_folder(Path(self.submission_path)) / FEEDBACK.name
        if feedback.is_file():
            results.set_output(feedback.read_text())
