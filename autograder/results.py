"""What grading produces: one CheckResult per check, gathered in a GradeResult."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

PASSED, FAILED, ERROR = "passed", "failed", "error"  # ERROR: the student's code raised or never ran
GRADER_ERROR = "grader_error"  # the check itself failed to run: the grader's fault, not the student's


@dataclass
class CheckResult:
    name: str  # key in grading.yml, e.g. "architecture"
    title: str  # shown to students, e.g. "Architecture"
    status: str  # PASSED, FAILED, ERROR or GRADER_ERROR
    messages: list[str] = field(default_factory=list)  # one condition per message, student-facing
    visibility: str = "visible"  # Gradescope: visible, hidden, after_due_date, after_published

    @property
    def passed(self) -> bool:
        return self.status == PASSED


@dataclass
class GradeResult:
    submission: str  # path as given
    sha256: str  # of the submitted cnn.py; grade-all uses it to skip what is already graded
    mark: str | None = None  # "S+", "S" or None
    checks: list[CheckResult] = field(default_factory=list)
    test_accuracy: float | None = None
    accuracy_verified: bool = False  # measured by the grader's own network with the student's weights
    elapsed_s: float = 0.0
    isolation: dict[str, str] = field(default_factory=dict)  # protection -> what was in force
    child: dict = field(default_factory=dict)  # exit code, timed_out, stdout/stderr tails, phase reached
    history: list[dict] = field(default_factory=list)  # the student's training history, validated
    cause: list[str] = field(default_factory=list)  # what stopped the student's code, then its likely fixes
    grader_error: str | None = None  # set only when the grader itself failed

    def to_dict(self) -> dict:
        return asdict(self)
