"""What a cluster worker runs for one submission: `python -m autograder grade` in a subprocess.

No shared filesystem is assumed: a GradeTask carries the submission's cnn.py and the grading config as
bytes; the worker grades them in a scratch folder on its own machine and returns the reports' bytes in
a TaskResult, for the instructor's machine to write. A grading process that dies takes only its own
submission with it, and its status says how it ended.

Kept light on purpose (no torch): this module is imported by every Dask worker process.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from assignment.solution import EXPERIMENTS

from .gradebook import REGRADE
from ..reports import outputs

POLL_S = 1.0  # how often a running grade looks for a request to stop
STOP_GRACE_S = 20.0  # after SIGINT, how long the grade may take to clean up its sandbox before SIGKILL
PACKAGES = ("autograder", "assignment")  # the grader's code, and the helpers it copies into each job
VERSIONS = ("torch", "torchvision")
INTERRUPTED = "interrupted (grade-all was stopped)"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass(frozen=True)
class GradeTask:
    name: str  # the submission's name in the gradebook
    entry: str  # its file or folder name in the class folder, which the reports show
    solution: str  # where its cnn.py (or notebook) lies inside that folder ("" when the entry is the file itself)
    source: bytes  # that file
    config: bytes  # the grading config, self-contained (its bases merged in)
    timeout: float  # seconds before the grading process is killed
    fingerprint: str  # grader_fingerprint() on the instructor's machine
    slots: dict[str, int] = field(default_factory=dict)  # host -> grades it runs at once, to share its cores
    cache: str | None = None  # the grader's --cache on the worker; None: the worker's default
    stop: str | None = None  # name of the Dask Event that asks running grades to stop (Ctrl-C on the client)
    variant: str = "v1"  # the variant of the spec to grade against (the instructor's roster says which)
    alone: bool = False  # graded with every core of its machine, nothing else at once (a regrade)
    experiments: bytes | None = None  # the experiments table handed in beside the solution, if any


@dataclass
class TaskResult:
    name: str
    status: str  # "graded", or what went wrong
    elapsed: float
    files: dict[str, bytes] = field(default_factory=dict)  # report file name -> its bytes
    worker: str = ""  # which worker graded it: its name and host


def grader_fingerprint() -> str:
    """sha256 of the grader's code (autograder and assignment packages) and of the torch versions: a worker
    whose fingerprint differs from the instructor's would not give the same marks."""
    digest = hashlib.sha256()
    for package in PACKAGES:
        root = Path(__import__(package).__file__).parent
        for path in sorted(root.rglob("*")):
            if path.suffix in (".py", ".ini") and "__pycache__" not in path.parts:
                digest.update(f"{path.relative_to(root.parent)}\0".encode() + path.read_bytes() + b"\0")
    for dist in VERSIONS:
        try:
            digest.update(f"{dist}=={importlib.metadata.version(dist)}\0".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{dist} missing\0".encode())
    return digest.hexdigest()


def exit_status(code: int) -> str:
    """The gradebook status for the grading process's exit code."""
    if code < 0:
        return f"worker died (signal {-code})"
    if code == 2:
        return "grader error (see worker.log)"
    if code == 3:  # inconclusive: the machine was too busy; grade-all tries it again
        return REGRADE
    if code != 0:
        return f"worker failed (exit {code})"
    return "graded"


def _dask_worker():
    try:
        from distributed import get_worker

        return get_worker()
    except (ImportError, ValueError):
        return None  # called outside a Dask worker (a test, or a debugger)


def _stop_signal(task: GradeTask):
    """A function that says whether grade-all asked the running grades to stop."""
    if task.stop is None or _dask_worker() is None:
        return lambda: False
    from distributed import Event

    event = Event(task.stop)

    def requested() -> bool:
        try:
            return event.is_set()
        except Exception:  # the scheduler is gone: nobody is left to take the result
            return True
    return requested


def _run_grade(cmd: list[str], cwd: Path, log, task: GradeTask, threads: int) -> str:
    """Run the grading process to its end, its timeout, or a request to stop; return its status."""
    # a Dask nanny sets these to 1 for its worker; the grader's own evaluation should use its share of cores
    env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, str(threads))}
    stop_requested = _stop_signal(task)
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + task.timeout
    while True:
        try:
            return exit_status(proc.wait(timeout=POLL_S))
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            return f"worker timed out after {task.timeout:.0f} s"
        if stop_requested():
            proc.send_signal(signal.SIGINT)  # the grader's own cleanup ends the sandboxed child
            try:
                proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            return INTERRUPTED


def write_submission(task: GradeTask, folder: Path) -> Path:
    """The submission as handed in, at folder/ENTRY: its solution file, and the experiments table beside it."""
    entry = folder / task.entry
    solution = entry / task.solution if task.solution else entry
    solution.parent.mkdir(parents=True, exist_ok=True)
    solution.write_bytes(task.source)
    if task.experiments is not None:
        solution.with_name(EXPERIMENTS).write_bytes(task.experiments)
    return entry


def grade_task(task: GradeTask) -> TaskResult:
    """Grade one submission on this machine; runs on a Dask worker (or anywhere, for a test)."""
    start = time.monotonic()
    worker = _dask_worker()
    host = socket.gethostname()
    where = f"worker {worker.name} on {host}" if worker is not None else host
    if task.fingerprint != grader_fingerprint():
        return TaskResult(task.name, f"not graded: the grader on {where} differs from this one (code or torch "
                          "version); install the same version there", time.monotonic() - start, worker=where)
    cores = len(os.sched_getaffinity(0))
    if worker is not None:
        from distributed.comm import get_address_host

        slots = task.slots.get(get_address_host(worker.address), worker.state.nthreads)
    else:
        slots = 1
    threads = cores if task.alone else max(1, cores // max(1, slots))
    scratch = Path(tempfile.mkdtemp(prefix="cnn-grade-", dir=worker.local_directory if worker else None))
    try:
        write_submission(task, scratch / "class")
        (scratch / "grading.yml").write_bytes(task.config)
        out = scratch / "out"
        out.mkdir()
        cmd = [sys.executable, "-m", "autograder", "grade", "--out", str(out), "--config", str(scratch / "grading.yml"),
               "--threads", str(threads), "--variant", task.variant, *(["--cache", task.cache] if task.cache else []),
               "--", task.entry]
        with open(out / outputs.LOG.name, "w") as log:
            log.write(f"Graded by {where} with {threads} thread(s)\n")
            log.flush()
            status = _run_grade(cmd, scratch / "class", log, task, threads)
        files = {o.name: (out / o.name).read_bytes() for o in outputs.ALL if (out / o.name).is_file()}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return TaskResult(task.name, status, time.monotonic() - start, files, where)
