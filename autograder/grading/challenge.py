"""The optional challenge: build_challenge_model(), trained by the student's own train(), in a sandboxed
child of its own after the practical has been graded; its badge sits beside the mark.

Nothing here can change the practical's mark: its child is another process with its own limits, run
once the mark is known, and any failure in it (a crash, a hang, memory, a cap breached, the grader's own
bug) ends as a ChallengeResult that says why there is no badge. As for the practical, the child only
reports; the grader scores the model's logits on the test images itself, against the labels train()
was given (relabel.py), with the same code that scores a model the canonical network cannot run
(judging.predictions_from_logits). The parameter count is the child's, the seconds the grader's clock.
"""
from __future__ import annotations

import dataclasses
import shutil
import traceback
from collections.abc import Callable

import torch

from ..sandbox import isolation as sandbox, watch
from ..judging.causes import scrub
from ..judging.ending import challenge_end
from ..practical import phases
from ..practical.config import Challenge, Config, Limits
from .job import job_folder, load_results, write_inputs
from ..judging.context import StudentError, predictions_from_logits
from ..judging.relabel import provenance
from ..judging.results import ABSENT, BADGE, GRADER_ERROR, NO_BADGE, NOT_RUN, REFUSED, ChallengeResult
from ..practical.spec import Practical

ABSENT_WORDS = ("The challenge is optional: your code defines no build_challenge_model(), so it was not entered. "
                "It never changes the mark.")
GRADER_FAULT = "the grader failed while judging the challenge (not your fault; your mark stands)"


def challenge_limits(config: Config, threads: int) -> Limits:
    """The practical's limits, with the challenge's wall time, and the CPU time its threads could use in it."""
    wall = config.challenge.wall_seconds
    return dataclasses.replace(config.limits, wall_seconds=wall, cpu_seconds=wall * threads)


def enter(res: dict, config: Config, practical: Practical, code: bytes, data: dict, relabel_seed: bytes,
          run_child: Callable, *, threads: int, uid: int | None, regrade: bool = False, live=None
          ) -> ChallengeResult:
    """The challenge of a submission whose practical child returned `res`. `run_child(job, base, limits,
    on_progress)` runs a prepared job folder in the sandbox and returns its Outcome."""
    if regrade:
        return ChallengeResult(NOT_RUN, "not run: the submission is to be graded again")
    if res.get("challenge_defined") is not True:
        if "challenge_defined" not in res:
            return ChallengeResult(NOT_RUN, "not run: the practical's run did not get past importing cnn.py")
        return ChallengeResult(ABSENT, ABSENT_WORDS)
    try:
        return _run(config, practical, code, data, relabel_seed, run_child, threads, uid, live)
    except sandbox.GraderStopped:
        raise
    except Exception:  # the grader's bug: the practical's result stands, and says so
        return ChallengeResult(GRADER_ERROR, GRADER_FAULT, grader_error=traceback.format_exc())


def _run(config: Config, practical: Practical, code: bytes, data: dict, relabel_seed: bytes, run_child,
         threads: int, uid: int | None, live) -> ChallengeResult:
    challenge = config.challenge
    # log_every = the budget: one history entry, one validation pass; the challenge does not judge the history
    budget = dataclasses.replace(config, training=dataclasses.replace(
        config.training, iterations=challenge.iterations, log_every=challenge.iterations))
    job, base = job_folder(code, practical, uid)
    inputs = write_inputs(job, budget, practical, data, [], threads, uid, relabel_seed,
                          extra={"challenge": {"max_parameters": challenge.max_parameters}})
    limits = challenge_limits(config, threads)
    if live is not None:
        live.note(f"challenge (optional, the mark above stands): build_challenge_model(), train() for up to "
                  f"{challenge.iterations} steps")

    def progress(p: watch.Progress) -> None:
        if live is not None and p.phase == "train":
            live.steps(p.steps, challenge.iterations)
    try:
        outcome = run_child(job, base, limits, progress)
        res, problem = load_results(inputs.results)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if live is not None:
            live.close()
    data_labels = data["test_y"]
    result = judge(res, problem, outcome, challenge, limits, inputs.perm, data_labels, inputs.relabel,
                   practical.classes, inputs.canaries.test_y, config.accuracy.canaries)
    if live is not None:
        live.note(f"challenge: {result.summary()}")
    return result


def judge(res: dict, problem: str | None, outcome: sandbox.Outcome, challenge: Challenge, limits: Limits,
          perm: torch.Tensor, test_labels: torch.Tensor, relabel: torch.Tensor, classes: int,
          canary_labels: torch.Tensor | None = None, canary_bar: float = 0.0) -> ChallengeResult:
    """The challenge's outcome from what its child returned: the caps first, then the grader's own score."""
    seconds = round(outcome.wall_s, 1)
    count = res.get("param_count")
    count = count if type(count) is int else None
    steps = res.get("optimizer_steps")
    steps = steps if type(steps) is int else None

    def refused(reason: str) -> ChallengeResult:
        return ChallengeResult(REFUSED, reason, parameters=count, seconds=seconds, steps=steps)

    if problem:
        return refused(f"no result: {problem}")
    errors = res.get("errors", {})
    for phase in phases.CHALLENGE:
        if isinstance(errors.get(phase), dict):
            return refused(crash_message(phase, errors[phase]))
    if count is not None and count > challenge.max_parameters:
        return refused(f"over the parameter cap: your challenge model has {count:,} parameters (as counted in "
                       f"the sandbox), the cap is {challenge.max_parameters:,}; it was not trained")
    stopped = challenge_end(outcome, res.get("phase", phases.START), limits, challenge.iterations,
                            challenge.wall_seconds)
    if stopped:
        return refused(stopped)
    if steps is not None and steps > challenge.iterations:
        return refused(f"over the step budget: train() made {steps:,} optimizer steps on the challenge model; "
                       f"it may make at most {challenge.iterations:,}")
    try:
        predicted = predictions_from_logits(res.get("test_logits"), perm, classes)
    except StudentError as err:
        return refused(f"no score: {err}")
    n = len(test_labels)  # the dataset's test images come first, the canaries (canaries.py) after them
    canaries = None if canary_labels is None else (predicted[n:], canary_labels)
    scored = provenance(predicted[:n], test_labels, relabel, canaries, canary_bar, challenge.badges[0])
    if scored.trained_elsewhere:
        return refused(scored.message())
    badge = challenge.badge_for(scored.given)
    accuracy = round(scored.given, 4)
    if badge is None:
        lowest = Challenge.badge_name(challenge.badges[0])
        return ChallengeResult(NO_BADGE, f"no badge: {accuracy:.2%} of the test images right, below the lowest "
                               f"bar, {lowest}", None, accuracy, count, seconds, steps)
    return ChallengeResult(BADGE, f"the {badge} badge: {accuracy:.2%} of the test images right", badge, accuracy,
                           count, seconds, steps)


def crash_message(phase: str, err: dict) -> str:
    kind, text = err.get("type", "Exception"), scrub(str(err.get("message", "")))
    trace = scrub(str(err.get("trace") or ""))
    return f"crashed: {phases.CHALLENGE_WORDS.get(phase, phase)} raised {kind}: {text}" + (f"\n{trace}" if trace else "")
