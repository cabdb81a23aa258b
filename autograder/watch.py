"""Watching the child while it runs: the phase and optimizer steps it reports, and the CPU it got.

The child writes one JSON line per report, {"phase": ...} or {"steps": n}, to a pipe whose write end
the grader opened and handed down (GRADER_PROGRESS_FD). The CPU time comes not from the child but from
the kernel (/proc), read here, for every thread of the sandbox's process group.

Threat: student code runs in the child's interpreter, so it can write anything to that pipe. What it
can gain is bounded by what the grader does with a report, which is only ever this:
- the phase picks which time budget applies: claiming "train" all along only buys the wall limit that
  train() has anyway; claiming another phase only brings its own stop sooner;
- the steps move the progress bar and are one of three conditions for "regrade: the machine was too
  busy" (an inconclusive result, never a mark). The other two the student cannot forge: the kernel's
  count of CPU time actually used, and of time spent waiting for a CPU. A forger that burns a thin
  slice of CPU on a busy machine gets "regrade" again on every retry, which the instructor sees.
No report changes a check's verdict or the mark: those come from the results file, judged as ever.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .config import BUDGETED_PHASES

KNOWN_PHASES = ("start", *BUDGETED_PHASES, "train", "done")
MAX_LINE = 200  # a report is short; longer lines are noise and dropped
STARVED = 0.5  # waiting for a CPU at least this long per second run: the machine was too busy
IDLE = 0.02  # running or waiting for a CPU less than this share of the time: blocked
OVERLOAD, HANG, SLOW = "overload", "hang", "slow"


@dataclass
class Sample:
    at: float  # time.monotonic()
    steps: int
    run_s: float  # CPU time the group's threads got so far
    wait_s: float | None  # time they spent runnable but waiting for a CPU (None: the kernel does not say)


@dataclass
class Progress:
    """What is known of the child so far. Phase and steps are the child's claims; CPU is measured."""
    started: float = field(default_factory=time.monotonic)
    phase: str = "start"
    phase_since: float = field(default_factory=time.monotonic)
    steps: int = 0
    samples: list[Sample] = field(default_factory=list)

    def report(self, line: bytes) -> None:
        """Take one line from the child; ignore anything that is not a well-formed report."""
        try:
            msg = json.loads(line[:MAX_LINE])
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        if msg.get("phase") in KNOWN_PHASES and msg["phase"] != self.phase:
            self.phase, self.phase_since = msg["phase"], time.monotonic()
        steps = msg.get("steps")
        if type(steps) is int and steps > self.steps:
            self.steps = steps

    def over_budget(self, budgets: dict, now: float) -> str | None:
        """The phase that has run past its budget, if any ("start", before the import, counts as import)."""
        name = "import" if self.phase == "start" else self.phase
        budget = budgets.get(name)
        since = self.started if self.phase == "start" else self.phase_since
        return name if budget is not None and now - since > budget else None

    def stopped_in_training(self, threads: int) -> str:
        """Why train() was still running at the wall limit: OVERLOAD (steps still advancing, the CPU used,
        yet far less than asked for: the machine was busy), HANG (no step, or no CPU, lately), or SLOW
        (advancing with the CPU it asked for: the code is too slow for the limit)."""
        recent = [s for s in self.samples if s.at >= self.phase_since]
        if len(recent) < 2:
            return HANG
        last = recent[-1]
        window = max(3.0, (last.at - recent[0].at) / 3)
        first = next(s for s in recent if s.at >= last.at - window)
        wall = last.at - first.at
        ran = last.run_s - first.run_s
        if wall <= 0 or last.steps <= first.steps or ran < 0.02 * wall:
            return HANG
        if last.wait_s is not None and first.wait_s is not None:
            starved = last.wait_s - first.wait_s >= STARVED * ran
        else:
            starved = ran < 0.5 * threads * wall
        return OVERLOAD if starved else SLOW

    def starved(self) -> bool:
        """Whether the current phase's threads waited for a CPU at least STARVED times as long as they ran:
        the machine, not the code, was slow. False when the kernel does not say how long they waited."""
        recent = [s for s in self.samples if s.at >= self.phase_since or self.phase == "start"]
        if len(recent) < 2 or recent[0].wait_s is None or recent[-1].wait_s is None:
            return False
        ran, waited = recent[-1].run_s - recent[0].run_s, recent[-1].wait_s - recent[0].wait_s
        return waited >= STARVED * max(ran, 0.0) and waited > 0

    def idle_seconds(self) -> float:
        """How long train() has used no CPU and waited for none: blocked (a sleep, input(), a lock, a worker
        that never answers), not starved. 0 when the kernel does not say how long it waited for a CPU."""
        recent = [s for s in self.samples if s.at >= self.phase_since]
        if self.phase != "train" or len(recent) < 2 or recent[-1].wait_s is None:
            return 0.0
        last, since = recent[-1], recent[-1].at
        for s in reversed(recent[:-1]):
            if s.wait_s is None or (last.run_s - s.run_s) + (last.wait_s - s.wait_s) > IDLE * (last.at - s.at) + 0.05:
                break
            since = s.at
        return last.at - since

    def summary(self) -> dict:
        last = self.samples[-1] if self.samples else None
        return {"phase": self.phase, "steps": self.steps,
                "cpu_s": None if last is None else round(last.run_s, 2),
                "cpu_wait_s": None if last is None or last.wait_s is None else round(last.wait_s, 2)}


def reader(fd: int, progress: Progress) -> threading.Thread:
    """A daemon thread that feeds the pipe's lines to `progress` until the child's end closes."""
    def run():
        with os.fdopen(fd, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(4096):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    progress.report(line)
                pending = pending[-MAX_LINE:]
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def group_cpu(pgid: int) -> tuple[float, float | None]:
    """(CPU seconds run, seconds waiting for a CPU) summed over every thread in process group `pgid`,
    from /proc/PID/task/TID/schedstat (run and wait in ns); without schedstat, run from stat and wait None."""
    tick = os.sysconf("SC_CLK_TCK")
    run = wait = 0.0
    have_wait = True
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) != pgid:  # fields[2] is pgrp
                continue
            try:
                pairs = [(task / "schedstat").read_text().split()[:2] for task in (proc / "task").iterdir()]
                run += sum(int(r) for r, _ in pairs) / 1e9
                wait += sum(int(w) for _, w in pairs) / 1e9
            except (OSError, ValueError):  # no schedstat here: the whole process's utime + stime
                run += (int(fields[11]) + int(fields[12])) / tick
                have_wait = False
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile
    return run, wait if have_wait else None
