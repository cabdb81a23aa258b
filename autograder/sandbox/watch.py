"""Watching the child while it runs: the phase and optimizer steps it reports, and the CPU it got.

The child writes one JSON line per report, {"phase": ...} or {"steps": n}, to a pipe whose write end
the grader opened and handed down (GRADER_PROGRESS_FD). The CPU time comes not from the child but from
the kernel (/proc), read here, for every thread of the sandbox's process group.

Threat: student code runs in the child's interpreter, so it can write anything to that pipe. What it
can gain is bounded by what the grader does with a report, which is only ever this:
- the phase picks which time budget applies: claiming "train" all along only buys the wall limit that
  train() has anyway; claiming another phase only brings its own stop sooner;
- the steps move the progress bar and are one of the conditions for "regrade: the machine was too
  busy" (an inconclusive result, never a mark). The others the student cannot forge: the kernel's
  count of CPU time actually used, and of time spent waiting for a CPU, and the load OUTSIDE the
  sandbox. The wait counters alone would not do: a child that runs more busy processes than its
  threads, or pins them to one core, makes its own threads wait, and would be retried for nothing;
  so a regrade also needs the runnable threads of other processes on the CPUs the child may use to
  be enough to starve the threads it is allowed. The sandbox is every process below its first one
  (the PID namespace, or the reaper as subreaper, keeps orphans below it), not the process group,
  which a child can leave (setsid) to pass its own load off as the machine's. Kernel threads are not
  counted, since the child can make work for them. A forger that burns a thin slice of CPU on a busy
  machine gets "regrade" again on every retry, which the instructor sees.
No report changes a check's verdict or the mark: those come from the results file, judged as ever.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..practical import phases

MAX_LINE = 200  # a report is short; longer lines are noise and dropped
STARVED = 0.5  # waiting for a CPU at least this long per second run: the machine was too busy
IDLE = 0.02  # running or waiting for a CPU less than this share of the time: blocked
OVERLOAD, HANG, SLOW = "overload", "hang", "slow"


@dataclass
class Sample:
    at: float  # time.monotonic()
    steps: int
    run_s: float  # CPU time the sandbox's threads got so far
    wait_s: float | None  # time they spent runnable but waiting for a CPU (None: the kernel does not say)
    others: float | None = None  # threads outside the sandbox runnable on its CPUs now (None: not counted)


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
        if msg.get("phase") in phases.ORDER and msg["phase"] != self.phase:
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

    def stopped_in_training(self, threads: int, cpus: int = 0) -> str:
        """Why train() was still running at the wall limit: OVERLOAD (steps still advancing, the CPU used,
        yet far less than asked for, and the machine busy: machine_busy), HANG (no step, or no CPU,
        lately), or SLOW (advancing, and what slowed it was its own: the code is too slow for the limit).
        `threads`: the threads the child may use; `cpus`: how many CPUs it may use."""
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
        busy = machine_busy([s for s in recent if s.at >= first.at], threads, cpus)
        return OVERLOAD if starved and busy is not False else SLOW

    def starved(self, threads: int = 1, cpus: int = 0) -> bool:
        """Whether the current phase's threads waited for a CPU at least STARVED times as long as they ran,
        and the machine was busy (machine_busy): the machine, not the code, was slow. False when the
        kernel does not say how long they waited."""
        recent = [s for s in self.samples if s.at >= self.phase_since or self.phase == "start"]
        if len(recent) < 2 or recent[0].wait_s is None or recent[-1].wait_s is None:
            return False
        ran, waited = recent[-1].run_s - recent[0].run_s, recent[-1].wait_s - recent[0].wait_s
        return waited >= STARVED * max(ran, 0.0) and waited > 0 and machine_busy(recent, threads, cpus) is not False

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


def machine_busy(samples: list[Sample], threads: int, cpus: int) -> bool | None:
    """Whether the load outside the sandbox, alone, would make the `threads` threads it is allowed wait
    for a CPU at least STARVED times as long as they run, sharing its `cpus` CPUs fairly with the
    threads of other processes runnable there (on average over `samples`). Whatever more the child runs,
    or wherever it pins it, is its own: only the allowance counts. None when not counted."""
    counts = [s.others for s in samples if s.others is not None]
    if not counts or cpus < 1:
        return None
    return sum(counts) / len(counts) + threads >= (1 + STARVED) * cpus


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


PF_KTHREAD = 0x00200000  # in /proc/PID/stat's flags: a kernel thread


def usage(root: int, cpus: set[int]) -> tuple[float, float | None, float]:
    """(CPU seconds run, seconds waiting for a CPU) summed over every thread of the sandbox, the process
    `root` and all below it, from /proc/PID/task/TID/schedstat (run and wait in ns; without schedstat,
    run from stat and wait None); and the threads of other processes runnable now on `cpus`: those seen
    there (user processes only: not kernel threads, nor this grader's own), or, where more, the machine's
    runnable threads less the sandbox's, in proportion to the CPUs (/proc/stat counts them all, also
    those of other containers, which this /proc may not show)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = processes()
    sandbox = below(root, stats)
    run = wait = 0.0
    have_wait, mine, seen = True, 0, 0
    for pid, fields in stats.items():
        if pid == os.getpid() or int(fields[6]) & PF_KTHREAD:
            continue
        tasks = Path(f"/proc/{pid}/task")
        try:
            runnable = [(f[0], int(f[36])) for f in map(_task_stat, tasks.iterdir())]
            if pid not in sandbox:
                seen += sum(state == "R" and cpu in cpus for state, cpu in runnable)
                continue
            mine += sum(state == "R" for state, _ in runnable)
            try:
                pairs = [(task / "schedstat").read_text().split()[:2] for task in tasks.iterdir()]
                run += sum(int(r) for r, _ in pairs) / 1e9
                wait += sum(int(w) for _, w in pairs) / 1e9
            except (OSError, ValueError):  # no schedstat here: the whole process's utime + stime
                run += (int(fields[11]) + int(fields[12])) / tick
                have_wait = False
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile
    machine = _machine_runnable()
    if machine is not None:  # less this thread, which is running
        seen = max(seen, (machine[0] - mine - 1) * len(cpus) / machine[1])
    return run, wait if have_wait else None, seen


def processes() -> dict[int, list[str]]:
    """Every process's /proc/PID/stat after its name: [0] is its state, [1] its parent, [6] its flags."""
    stats = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
                stats[int(proc.name)] = stat[stat.rindex(")") + 2:].split()
            except (OSError, ValueError):
                continue  # the process ended meanwhile
    return stats


def below(root: int, stats: dict[int, list[str]]) -> set[int]:
    """`root` and every process below it, whatever process group or session it is in."""
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    found, todo = {root}, [root]
    while todo:
        kids = children.get(todo.pop(), [])
        found.update(kids)
        todo += kids
    return found


def _task_stat(task: Path) -> list[str]:
    """A thread's /proc/PID/task/TID/stat after its name: [0] is its state, [36] the CPU it is on."""
    stat = task.joinpath("stat").read_text()
    return stat[stat.rindex(")") + 2:].split()


def _machine_runnable() -> tuple[int, int] | None:
    """(threads runnable now on the whole machine, its CPUs), from /proc/stat; None if it does not say."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
        running = next(int(line.split()[1]) for line in lines if line.startswith("procs_running "))
    except (OSError, ValueError, IndexError, StopIteration):
        return None
    count = sum(line.startswith("cpu") and line[3:4].isdigit() for line in lines)
    return (running, count) if count else None
