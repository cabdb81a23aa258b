"""Whose is the waiting for a CPU: the machine's (an inconclusive "regrade") or the submission's own?

The kernel's wait counters of the child's threads alone cannot tell: a child that runs more busy
processes than the threads it may use, or pins them all to one core, keeps its own threads waiting on an
idle machine. So a regrade also needs the load outside the sandbox (watch.machine_busy), measured
from /proc, where the child cannot move its own processes out of the sandbox's count (watch.usage)."""
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.sandbox.isolation import Outcome
from autograder.sandbox.watch import OVERLOAD, SLOW, Progress, Sample, below, machine_busy, processes, usage


def progress(samples, phase="train") -> Progress:
    p = Progress(started=0.0, phase=phase, phase_since=0.0)
    p.samples = [Sample(*s) for s in samples]
    p.steps = p.samples[-1].steps
    return p


# (threads allowed, CPUs it may use, samples (at, steps, run_s, wait_s, others), expected)
CASES = {
    # its own four busy processes on its one core: the core ran all the time, they waited 3 s a second;
    # nothing else on the machine
    "self-starved": (2, 2, [(t, t, 1.0 * t, 3.0 * t, 0) for t in range(31)], SLOW),
    # the same, with one outside thread now and then: not enough to starve the two threads allowed
    "self-starved-light-load": (2, 2, [(t, t, 1.0 * t, 3.0 * t, t % 2) for t in range(31)], SLOW),
    # two threads, two CPUs, two outside busy processes on them: each thread gets half a CPU
    "outside-load": (2, 2, [(t, t, 1.0 * t, 1.0 * t, 2) for t in range(31)], OVERLOAD),
    # one outside busy thread on two CPUs against two threads: 2/3 of a CPU each, waiting half as long
    "outside-load-at-the-bar": (2, 2, [(t, t, 1.33 * t, 0.67 * t, 1) for t in range(31)], OVERLOAD),
    # outside runnable threads that do not take the CPU (idle priority): the child did not wait
    "outside-idle-priority": (2, 2, [(t, t, 2.0 * t, 0.05 * t, 3) for t in range(31)], SLOW),
    # four threads allowed on a one-core machine: the machine cannot give what the grader allows
    "threads-over-cpus": (4, 1, [(t, t, 1.0 * t, 3.0 * t, 0) for t in range(31)], OVERLOAD),
    # a busy machine AND its own extra processes: a regrade, which costs the student only the delay
    "both": (2, 2, [(t, t, 0.5 * t, 3.0 * t, 3) for t in range(31)], OVERLOAD),
    # the outside not counted: the wait counters alone, as before
    "not-counted": (2, 2, [(t, t, 1.0 * t, 3.0 * t, None) for t in range(31)], OVERLOAD),
}


@pytest.mark.parametrize("threads, cpus, samples, expected", CASES.values(), ids=CASES.keys())
def test_whose_starvation_at_the_wall_limit(threads, cpus, samples, expected):
    assert progress(samples).stopped_in_training(threads, cpus) == expected


@pytest.mark.parametrize("threads, cpus, samples, expected", CASES.values(), ids=CASES.keys())
def test_whose_starvation_when_a_phase_runs_over_its_budget(threads, cpus, samples, expected):
    p = progress(samples, phase="evaluate")
    assert p.starved(threads, cpus) is (expected == OVERLOAD)
    assert Outcome(-9, phase_timeout="evaluate", phase_starved=p.starved(threads, cpus)).overloaded is (
        expected == OVERLOAD)


def test_only_the_recent_load_counts_at_the_wall_limit():
    """A machine busy early on but quiet at the end (the last third judged): the waiting at the end is the
    child's own."""
    samples = [(t, t, 1.0 * t, 3.0 * t, 4 if t < 15 else 0) for t in range(31)]
    assert progress(samples).stopped_in_training(2, 2) == SLOW
    assert machine_busy([Sample(*s) for s in samples[:15]], 2, 2) is True


def _busy_python(seconds: int = 30) -> list[str]:
    return [sys.executable, "-c", f"import time\nend = time.monotonic() + {seconds}\n"
                                  "while time.monotonic() < end: pass"]


def test_the_sandbox_s_own_processes_are_its_and_the_rest_are_the_machine_s():
    """A sandbox with two busy processes, one of which left the process group (setsid), and two busy
    processes outside it, all on one core. Both of the sandbox's are its own: in its run and wait (each
    is runnable all the time), never the machine's load; the two outside ones are the machine's."""
    core = min(os.sched_getaffinity(0))
    pin = lambda: os.sched_setaffinity(0, {core})  # noqa: E731
    sandbox = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, sys, time\n"
         f"hog = {_busy_python()!r}\n"
         "kids = [subprocess.Popen(hog), subprocess.Popen(hog, start_new_session=True)]\n"
         "print(*(k.pid for k in kids), flush=True)\ntime.sleep(30)"],
        stdout=subprocess.PIPE, text=True, preexec_fn=pin, start_new_session=True)
    outside = [subprocess.Popen(_busy_python(), preexec_fn=pin) for _ in range(2)]
    kids = []
    try:
        kids = [int(pid) for pid in sandbox.stdout.readline().split()]
        assert os.getpgid(kids[1]) != sandbox.pid  # it did leave the group
        mine = below(sandbox.pid, processes())
        assert set(kids) <= mine and not mine & {p.pid for p in outside}
        time.sleep(0.3)
        first, at = usage(sandbox.pid, {core}), time.monotonic()
        counts = []
        for _ in range(5):
            time.sleep(0.2)
            counts.append(usage(sandbox.pid, {core})[2])
        last, elapsed = usage(sandbox.pid, {core}), time.monotonic() - at
        assert first[1] is not None, "no schedstat here"
        runnable = (last[0] + last[1]) - (first[0] + first[1])
        assert runnable > 1.6 * elapsed  # both of its busy processes: about 2 x elapsed (one alone: 1 x)
        assert min(counts) >= 2  # the outside ones are always runnable there (and other load may be)
        assert usage(sandbox.pid, set())[2] == 0  # only threads on the CPUs asked about count
    finally:
        for pid in kids:
            os.kill(pid, 9)
        for proc in (sandbox, *outside):
            proc.kill()
            proc.wait()
        sandbox.stdout.close()


def in_nanosleep(pid: int) -> bool:
    """Whether `pid` waits in its sleep: not merely off a CPU for a moment while it starts (paging in,
    say), after which it would run again. Where the kernel hides wchan, its state must be sleeping."""
    wchan = Path(f"/proc/{pid}/wchan").read_text().strip()
    if wchan and wchan != "0":
        return "nanosleep" in wchan
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "S"


def test_load_this_proc_does_not_show_still_counts(monkeypatch):
    """Other containers' processes are not in this /proc, but their threads are in the machine's count
    of runnable ones (/proc/stat): so much of it as falls to the CPUs the child may use counts."""
    from autograder.sandbox import watch

    monkeypatch.setattr(watch, "_machine_runnable", lambda: (41, 4))  # 40 besides the sampling thread
    sandbox = subprocess.Popen(["sleep", "30"])
    try:
        deadline = time.monotonic() + 10  # a sleep just started may still be runnable (and count as the sandbox's)
        while not in_nanosleep(sandbox.pid):
            assert time.monotonic() < deadline, "sleep 30 never went to sleep"
            time.sleep(0.05)
        assert usage(sandbox.pid, {min(os.sched_getaffinity(0))})[2] >= 10  # a quarter of the 40
    finally:
        sandbox.kill()
        sandbox.wait()
