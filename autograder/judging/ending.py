"""Why a sandboxed run ended before its end: decided once (`ending`: which limit stopped it), and said in
the student's terms, for the practical (`practical_end`, the cause at the top of the feedback) and for
the challenge (`challenge_end`, why it earned no badge). Every message said when a run ends early lives
here."""
from __future__ import annotations

import signal

from ..practical.config import Limits
from ..practical.phases import CHALLENGE_WORDS, DONE, IMPORT, WORDS
from ..sandbox import watch
from ..sandbox.isolation import Outcome

PHASE_TIME, WALL, OUTPUT, CPU, MEMORY, EARLY = "phase time", "wall", "output", "cpu", "memory", "early"

# The words for each ending; {phase} and {budget}: the phase stopped by its own budget, and that budget.
PRACTICAL_WORDS = {
    PHASE_TIME: "time limit: {phase} took more than its {budget:g} s and was stopped",
    WALL: "time limit: your code was stopped after {wall:g} s, during {during}",
    OUTPUT: ("output limit: your code printed more than {output_kb} KB and was stopped, during {during}; "
             "print less (a line every log_every iterations is plenty)"),
    CPU: "CPU time limit: your code used more than {cpu:g} s of CPU, during {during}",
    MEMORY: "memory limit: your code ran out of its {memory_mb} MB, during {during}",
    EARLY: "your code ended early ({how}) during {during}: do not exit or kill the process",
}
PHASE_STARVED = ("regrade: the machine was too busy: {phase} took more than its {budget:g} s, while waiting for a "
                 "CPU at least half as long as it ran; this is not a problem with your code, and it will be graded "
                 "again")
IMPORT_HINT = ("; importing cnn.py should take seconds: put any code that trains, downloads, plots or waits at the "
               "top level under `if __name__ == \"__main__\":`")
CHALLENGE_END_WORDS = {
    PHASE_TIME: "over time: {phase} took more than its {budget:g} s and was stopped",
    WALL: ("over the time cap: the challenge run (importing cnn.py, build_challenge_model(), train() for up "
           "to {iterations:,} steps, the test images) took more than its {wall:g} s on the grading machine, "
           "and was stopped during {during}"),
    OUTPUT: "crashed: it printed more than {output_kb} KB and was stopped, during {during}",
    CPU: "crashed: it used more than its {cpu:g} s of CPU time, during {during}",
    MEMORY: "crashed: it ran out of its {memory_mb} MB of memory, during {during}",
    EARLY: "crashed: the process ended early ({how}) during {during}",
}
CHALLENGE_BUSY = {  # said after a challenge's time limit when the machine was too busy (Outcome.overloaded)
    WALL: ("; the machine was busy at the time (train() got far less CPU than it asked for), so ask your "
           "instructor for a regrade"),
    PHASE_TIME: "; the machine was busy at the time (it waited for a CPU at least half as long as it ran), so ask "
                "for a regrade",
}


def ending(outcome: Outcome, finished: bool) -> str | None:
    """Which limit stopped the run, the first that applies: a phase's own budget, the wall limit, the
    output limit; then, unless the child got to its end (`finished`, its own claim), the CPU limit,
    the memory limit, or any other early end (an exit, a signal). None: it finished."""
    if outcome.phase_timeout:
        return PHASE_TIME
    if outcome.timed_out:
        return WALL
    if outcome.output_exceeded:
        return OUTPUT
    if finished:
        return None
    if outcome.signal == signal.SIGXCPU:
        return CPU
    if "MemoryError" in outcome.stderr or "can't allocate memory" in outcome.stderr:
        return MEMORY
    return EARLY


def _said(words: dict, kind: str, outcome: Outcome, limits: Limits, phase_words: dict, during: str,
          **facts) -> str:
    phase = outcome.phase_timeout
    how = f"killed by signal {outcome.signal}" if outcome.signal else f"exit code {outcome.returncode}"
    return words[kind].format(**{
        "phase": phase_words.get(phase, phase), "budget": limits.phases.get(phase, 0), "during": during,
        "wall": limits.wall_seconds, "cpu": limits.cpu_seconds, "memory_mb": limits.memory_mb,
        "output_kb": limits.output_kb, "how": how, **facts})


def practical_end(outcome: Outcome, phase: str, limits: Limits, iterations: int) -> str | None:
    """Why the practical's child stopped before its end, in the student's terms; None if it finished.
    `phase`: the last one its results name; `iterations`: the optimizer steps train() was asked for.
    Results that reach the end are judged as they are, unless the wall or output limit stopped the child
    (a phase's budget that ran out as it ended stopped nothing the checks need)."""
    if phase == DONE and not (outcome.timed_out or outcome.output_exceeded):
        return None
    kind = ending(outcome, phase == DONE)
    if kind is None:
        return None
    if kind == PHASE_TIME and outcome.phase_starved:
        return _said({kind: PHASE_STARVED}, kind, outcome, limits, WORDS, "")
    if kind == WALL and outcome.stopped_in_training:
        return training_stopped(outcome, limits, iterations)
    said = _said(PRACTICAL_WORDS, kind, outcome, limits, WORDS, WORDS.get(phase, WORDS["start"]))
    return said + IMPORT_HINT if kind == PHASE_TIME and outcome.phase_timeout == IMPORT else said


def training_stopped(outcome: Outcome, limits: Limits, iterations: int) -> str:
    """Why train() was still running at the wall limit (Outcome.stopped_in_training), or was blocked."""
    wall, steps = limits.wall_seconds, outcome.progress.get("steps", 0)
    of = f"{steps} of {iterations} optimizer steps"
    if outcome.stopped_in_training == watch.OVERLOAD:
        return (f"regrade: the machine was too busy: train() was still making progress ({of}) when the "
                f"grader's {wall:g} s limit ran out, but got far less CPU time than it asked for; this is not "
                "a problem with your code, and it will be graded again")
    if outcome.idle_s is not None:
        return (f"time limit: train() was stopped after {outcome.idle_s:g} s without using any CPU, having "
                f"made {of}: it seems stuck waiting (a sleep, input(), a lock, a DataLoader worker); check "
                "that nothing in train() waits for something that never comes")
    if outcome.stopped_in_training == watch.SLOW:
        return (f"time limit: train() made {of} in {wall:g} s, on a machine that was not too busy: each step "
                "is too slow; use minibatches of the handout's size, no extra work per step, and no more "
                "processes or threads than the grader gives you")
    return (f"time limit: train() was stopped after {wall:g} s, having made {of}, and none lately (or used no "
            "CPU): it seems stuck; check that every iteration calls optimizer.step() and nothing waits forever")


def challenge_end(outcome: Outcome, phase: str, limits: Limits, iterations: int, wall: float) -> str | None:
    """Why the challenge's child stopped before its end, or None if it got there. `iterations`: its step
    budget; `wall`: its time cap, as the challenge states it. Unlike the practical's, a run that reached
    its end after a phase's budget ran out earns nothing: time is part of what the challenge compares."""
    during = CHALLENGE_WORDS.get(phase, phase)
    if outcome.idle_s is not None:
        return (f"stuck: train() used no CPU for {outcome.idle_s:g} s on the challenge model and was stopped, "
                f"during {during}")
    kind = ending(outcome, phase == DONE)
    if kind is None:
        return None
    said = _said(CHALLENGE_END_WORDS, kind, outcome, limits, CHALLENGE_WORDS, during, iterations=iterations,
                 wall=wall)
    return said + CHALLENGE_BUSY[kind] if outcome.overloaded and kind in CHALLENGE_BUSY else said
