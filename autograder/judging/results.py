"""What grading produces: one CheckResult per check, gathered in a GradeResult."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

PASSED, FAILED, ERROR = "passed", "failed", "error"  # ERROR: the student's code raised or never ran
GRADER_ERROR = "grader_error"  # the check itself failed to run: the grader's fault, not the student's
INCONCLUSIVE = "inconclusive"  # not judged: the machine was too busy for the code to finish; regrade it


@dataclass
class CheckResult:
    name: str  # key in grading.yml, e.g. "architecture"
    title: str  # shown to students, e.g. "Architecture"
    status: str  # PASSED, FAILED, ERROR, GRADER_ERROR or INCONCLUSIVE
    messages: list[str] = field(default_factory=list)  # one condition per message, student-facing
    visibility: str = "visible"  # Gradescope: visible, hidden, after_due_date, after_published

    @property
    def passed(self) -> bool:
        return self.status == PASSED


# how the optional challenge ended (ChallengeResult.status)
BADGE, NO_BADGE = "badge", "no badge"  # scored by the grader: a bar reached, or none
REFUSED = "refused"  # no score: over a cap, crashed, or not trained on the data it was given
ABSENT = "absent"  # the submission has no build_challenge_model(): the challenge is optional
NOT_RUN = "not run"  # the practical's run gave no chance to (cnn.py did not import, or a regrade is due)


@dataclass
class ChallengeResult:
    """The optional challenge's outcome: a badge beside the mark, never part of it."""
    status: str  # BADGE, NO_BADGE, REFUSED, ABSENT, NOT_RUN or GRADER_ERROR
    reason: str = ""  # student-facing: why there is no badge, or how the score was measured
    badge: str | None = None  # e.g. "99%"
    accuracy: float | None = None  # on the test images, scored by the grader from the model's logits
    parameters: int | None = None  # counted inside the sandbox, by the student's own process
    seconds: float | None = None  # the whole challenge run, by the grader's clock
    steps: int | None = None  # optimizer steps train() made, as counted inside the sandbox
    grader_error: str | None = None  # the grader's own failure here (the mark is untouched)

    @property
    def ranked(self) -> bool:
        """Whether it has a place on the leaderboard: a score within the caps."""
        return self.status in (BADGE, NO_BADGE)

    def summary(self) -> str:
        """One line: the badge and its numbers, or why there is none."""
        if not self.ranked:
            return self.reason.splitlines()[0]
        numbers = f"{self.accuracy:.2%}, {self.parameters:,} parameters, {self.seconds:g} s"
        return f"{self.badge} badge ({numbers})" if self.badge else f"no badge ({numbers})"


@dataclass
class GradeResult:
    submission: str  # path as given
    sha256: str  # of the file handed in (cnn.py or notebook); grade-all uses it to skip what is already graded
    mark: str | None = None  # "S+", "S" or None
    checks: list[CheckResult] = field(default_factory=list)
    test_accuracy: float | None = None
    accuracy_verified: bool = False  # measured by the grader's own network with the student's weights
    canary_accuracy: float | None = None  # share of the secret canaries classified (canaries.py)
    elapsed_s: float = 0.0
    isolation: dict[str, str] = field(default_factory=dict)  # protection -> what was in force
    provenance: dict = field(default_factory=dict)  # grader version, policy hash, torch, threads, seeds
    child: dict = field(default_factory=dict)  # exit code, timed_out, stdout/stderr tails, phase reached
    history: list[dict] = field(default_factory=list)  # the student's training history, validated
    cause: list[str] = field(default_factory=list)  # what stopped the student's code, then its likely fixes
    grader_error: str | None = None  # set only when the grader itself failed
    variant: str | None = None  # the spec's variant graded against (the student's assigned one)
    matches_variant: str | None = None  # the variant whose parameter shapes the network has, if any
    notes: list[str] = field(default_factory=list)  # about the hand-in: what was taken from a notebook
    regrade: str | None = None  # set when the result is inconclusive (an overloaded machine): why
    challenge: ChallengeResult | None = None  # None: the config has no challenge track
    experiments: dict | None = None  # the experiments table handed in (submission.py), shown
    experiments_marked: dict | None = None  # what it earned (marking.experiments_verdict); None: not marked

    @property
    def inconclusive(self) -> bool:
        return self.regrade is not None

    def to_dict(self) -> dict:
        return asdict(self)
