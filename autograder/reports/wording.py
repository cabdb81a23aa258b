"""The words the student's reports share (feedback.md, results.json's output, report.html): the mark, each
check's status, the challenge, the experiments table."""
from __future__ import annotations

from ..judging.results import ERROR, GRADER_ERROR, INCONCLUSIVE, PASSED, GradeResult

MARK_WORDS = {
    "S+": "S+: a correct and complete solution.",
    "S": "S: conceptually right, but not everything works yet. Fix what is listed below to reach S+.",
    None: "No mark yet: the checks that S needs do not all pass. Start with the first problem listed below.",
}
REGRADE_WORDS = ("Regrade: the machine was too busy to finish grading this submission in time. This is not "
                 "a problem with your code; it will be graded again.")
STATUS_WORDS = {PASSED: "passed", "failed": "FAILED", ERROR: "ERROR", GRADER_ERROR: "GRADER ERROR",
                INCONCLUSIVE: "not judged (regrade)"}
CHALLENGE_HOW = ("The grader scored your challenge model itself, from its outputs on the test images (shown to it "
                 "in an order the grader kept secret), against the labels train() was given. The parameter count "
                 "is your model's own, counted inside the sandbox; the seconds are the grader's clock for the "
                 "whole challenge run. The challenge never changes the mark.")
# Gradescope visibility -> when a failing check's details reach the student there ("visible": now)
HELD_BACK = {"hidden": "are not shown to you", "after_due_date": "are shown after the due date",
             "after_published": "are shown once grades are published"}
KIND_WORDS = {"failed": "failed", ERROR: "your code raised an error or stopped",
              GRADER_ERROR: "the grader failed here, not your code",
              INCONCLUSIVE: "not judged: the machine was too busy"}


def mark_words(result: GradeResult) -> str:
    return REGRADE_WORDS if result.inconclusive else MARK_WORDS[result.mark]


EXPERIMENTS_WORDS = "The experiments table you handed in, as you handed it in: shown, not marked."
EXPERIMENTS_MARKED = ("The experiments table you handed in, as you handed it in. It earns points for holding enough "
                      "finished runs; the grader does not rerun them, and the table never changes the mark.")


def experiments_heading(result: GradeResult) -> tuple[str, str]:
    """The section's heading and its explanation."""
    marked = result.experiments_marked
    if not marked:
        return "Your experiments (not marked)", EXPERIMENTS_WORDS
    return f"Your experiments ({marked['earned']:g} of {marked['points']:g} point(s))", EXPERIMENTS_MARKED
