"""Run a command that executes untrusted code, with the strongest isolation this machine allows.

Three levels, chosen by probing once:
- "root": a new network, mount and PID namespace (unshare), hidden paths covered by empty tmpfs
  mounts, and the code runs as an unprivileged uid of its own (setpriv), so the process limit holds.
- "userns": the same namespaces inside an unprivileged user namespace; the code keeps the caller's
  uid, so the process limit is not enforced.
- "none": resource limits, and a reaper process (reaper.py) that ends whatever the code started.
At both namespace levels the code runs without any capability (bounding set empty, no new privileges), so
it cannot unmount, remount or mount anything: the mounts that hide and protect cannot be undone from
inside, and /proc stays the PID namespace's own. It gets private, size-capped tmpfs mounts for the
machine's shared temp folders (/tmp, /var/tmp, /dev/shm, /run/lock), gone when it ends. The mount script
reaches the namespace's first shell on its stdin, so no command line in the sandbox names a hidden path.
Every level applies wall, CPU, memory and output limits. `Outcome.isolation` says what was in force.

The sandbox dies with its grader: a parent-death signal (prctl) ends the sandbox's first process if the
grader dies (SIGKILL, a crash), and that ends the rest (the PID namespace, or the reaper); while `run`
waits, SIGTERM, SIGINT and SIGHUP end the sandbox first and then raise GraderStopped in the grader.
"""
from __future__ import annotations

import ctypes
import os
import resource
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ..practical.config import Limits
from . import watch as watching

NAMESPACES = ["--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]
REAPER = Path(__file__).with_name("reaper.py")
PR_SET_PDEATHSIG = 1
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
REAPER_GRACE_S = 10  # for the reaper to kill and collect what the code started
SHARED_TMP = (Path("/tmp"), Path("/var/tmp"), Path("/dev/shm"), Path("/run/lock"))  # anyone may write there
PRIVATE_TMP_MB = 256  # each private temp folder's size cap
STAGING = Path("/mnt")  # where the job folder waits while a private /tmp is mounted over it
NO_CAPS = ["--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]  # setpriv: nothing to undo the mounts with


class GraderStopped(Exception):
    """The grader got SIGTERM, SIGINT or SIGHUP while the sandbox ran; the sandbox has been ended."""

    def __init__(self, signum: int):
        super().__init__(f"the grader was stopped by {signal.Signals(signum).name} while the student's code ran; "
                         "the sandbox and every process in it were ended; nothing was graded, grade again")
        self.signum = signum


@dataclass
class Outcome:
    returncode: int | None
    timed_out: bool = False
    output_exceeded: bool = False
    wall_s: float = 0.0
    stdout: str = ""  # the tail that was kept
    stderr: str = ""
    output_bytes: int = 0
    isolation: dict = field(default_factory=dict)
    phase_timeout: str | None = None  # the phase stopped by its own budget (limits.phases)
    phase_starved: bool = False  # ... while it waited for a CPU more than it ran: the machine was too busy
    stopped_in_training: str | None = None  # at the wall limit in train(): watch.OVERLOAD, HANG or SLOW
    idle_s: float | None = None  # train() stopped early, blocked this long (limits.idle_seconds): a HANG
    progress: dict = field(default_factory=dict)  # the last phase and steps reported, the CPU measured

    @property
    def overloaded(self) -> bool:
        """Stopped by a time limit while the machine was too busy to give the code its CPU: inconclusive."""
        return (self.timed_out and self.stopped_in_training == watching.OVERLOAD) or (
            self.phase_timeout is not None and self.phase_starved)

    @property
    def signal(self) -> int | None:
        """The signal that ended the code; a shell reports it as 128 + n."""
        code = self.returncode
        if code is None:
            return None
        return -code if code < 0 else code - 128 if code > 128 else None


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@lru_cache(maxsize=None)
def available_level() -> str:
    """The strongest level that works here; CNN_GRADER_SANDBOX=root|userns|none forces a weaker one."""
    wanted = os.environ.get("CNN_GRADER_SANDBOX", "auto")
    order = ["root", "userns", "none"]
    if wanted in order:
        order = order[order.index(wanted):]
    has = shutil.which("unshare") is not None
    for level in order:
        run_as = shlex.join([*drop_privileges(65534 if level == "root" else None), "true"])
        if level == "root" and has and os.geteuid() == 0 and shutil.which("setpriv") and _works(
                ["unshare", *NAMESPACES, "sh", "-c", f"mount -t tmpfs none /mnt && {run_as}"]):
            return level
        if level == "userns" and has and shutil.which("setpriv") and _works(
                ["unshare", "--user", "--map-root-user", *NAMESPACES, "sh", "-c", f"mount -t tmpfs none /mnt && {run_as}"]):
            return level
        if level == "none":
            return level
    return "none"


def drop_privileges(uid: int | None) -> list[str]:
    """The command prefix that runs the code without any capability (and as `uid`, if given): with the
    bounding set empty and no new privileges, not even a setuid program gets one back."""
    switch = [f"--reuid={uid}", f"--regid={uid}", "--clear-groups"] if uid is not None else []
    return ["setpriv", *switch, *NO_CAPS, "--"]


@lru_cache(maxsize=None)
def parent_death_signal():
    """libc's prctl, with which a process asks for a signal when its parent dies; None where there is none."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl if sys.platform.startswith("linux") else None


def grader_death(level: str, armed: bool) -> str:
    """What ends the sandbox when the grader is stopped or dies."""
    ns = level in ("root", "userns")
    if armed:
        return ("everything ends with the grader: a parent-death signal kills the sandbox, "
                + ("and the PID namespace takes every process with it" if ns else
                   "whose reaper kills every process the code started (unless the code killed the reaper first)"))
    return ("SIGTERM, SIGINT and SIGHUP of the grader end the sandbox; NOT if the grader is killed (SIGKILL) or "
            "crashes: no parent-death signal here, so " + ("the sandbox" if ns else "the code") + " can outlive it")


def describe_level(level: str, limits: Limits, hidden: list[Path], read_only: list[Path] = (),
                   armed: bool = False, private: list[Path] = ()) -> dict[str, str]:
    """What was in force; `private` are the shared temp folders the code got an empty copy of."""
    ns = level in ("root", "userns")
    shared = [str(d) for d in SHARED_TMP if d.is_dir() and not d.is_symlink() and d not in private]
    return {
        "level": level,
        "network": "blocked (empty network namespace)" if ns else "NOT blocked (no namespaces available)",
        "hidden_paths": (f"{len(hidden)} paths covered by empty mounts" if ns
                         else "NOT hidden: the code could read any file this user can"),
        "files": ("the job folder and the temp folders writable; "
                  + (f"{len(read_only)} folders read-only (the project, Python, home)" if read_only else "")
                  if ns else "NOT protected: the code could change any file this user can"),
        "user": "separate unprivileged uid" if level == "root" else "the grader's own user",
        "capabilities": ("none: all dropped (bounding set empty, no new privileges), so no mount can be undone "
                         "from inside" if ns else "NOT dropped: those of the grader's user"),
        "tmp": "; ".join(
            ([f"private {', '.join(map(str, private))} (empty, at most {PRIVATE_TMP_MB} MB each, gone when the "
              "code ends)"] if private else [])
            + ([f"the machine's {', '.join(shared)}, shared: what the code leaves there stays"] if shared else [])),
        "processes": (f"at most {limits.processes}, all killed at the end (PID namespace)" if level == "root"
                      else "killed at the end (PID namespace); count not limited" if ns
                      else "killed at the end, also those that leave the process group (a subreaper), unless the "
                      "code kills the reaper first; count not limited" if armed
                      else "process group killed at the end; a process that leaves the group can survive"),
        "proc": "only the sandbox's own processes" if ns else "NOT private: every process of the machine",
        "grader_stopped": grader_death(level, armed),
        "limits": (f"wall {limits.wall_seconds:g} s, CPU {limits.cpu_seconds:g} s, "
                   f"memory {limits.memory_mb} MB, output {limits.output_kb} KB"),
    }


def new_uid() -> int:
    """A uid no account uses, so that one job's processes never count against another's limit."""
    return 200_000 + secrets.randbelow(800_000)


def _preexec(limits: Limits, level: str, death_signal: int | None):
    grader, prctl = os.getpid(), parent_death_signal()

    def apply():
        os.setsid()
        if death_signal is not None:
            prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
            if os.getppid() != grader:  # the grader died before the signal was armed
                os.kill(os.getpid(), signal.SIGKILL)
        mem = limits.memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
        cpu = int(limits.cpu_seconds)
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_FSIZE, (2**30, 2**30))
        if level == "root":  # counted for the job's own uid once setpriv has switched to it
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    return apply


class _Tail(threading.Thread):
    """Drains a pipe, keeps its last `keep` bytes and calls `over()` once the total passes `cap`."""

    def __init__(self, pipe, keep: int, counter: list, cap: int, over):
        super().__init__(daemon=True)
        self.pipe, self.keep, self.counter, self.cap, self.over = pipe, keep, counter, cap, over
        self.buf = bytearray()

    def run(self):
        while chunk := self.pipe.read1(65536):
            self.counter[0] += len(chunk)
            self.buf += chunk
            del self.buf[:-self.keep]
            if self.counter[0] > self.cap:
                self.over()
        self.pipe.close()


def private_tmps(keep: Path | None, needed: set[Path]) -> tuple[list[str], list[Path]]:
    """Shell commands that cover each shared temp folder with an empty, size-capped tmpfs of the namespace's
    own, and the folders so covered. `keep` (the job's folder, in one of them) stays, moved aside and back;
    a temp folder that holds something else `needed` (Python itself, in a checkout in /tmp) stays shared."""
    commands, private = [], []
    for tmp in SHARED_TMP:
        if not tmp.is_dir() or tmp.is_symlink():
            continue  # /var/lock and the like are links to one of the others
        kept = keep is not None and tmp in keep.parents
        if any(tmp == p or tmp in p.parents for p in needed) or (kept and not STAGING.is_dir()):
            continue
        q = shlex.quote(str(tmp))
        mount = f"mount -t tmpfs -o mode=1777,nosuid,nodev,size={PRIVATE_TMP_MB}m none {q}"
        if kept:
            k = shlex.quote(str(keep))
            commands += [f"mount --bind {k} {STAGING}", mount, f"mkdir -p {k}", f"mount --move {STAGING} {k}"]
        else:
            commands.append(mount)
        private.append(tmp)
    return commands, private


def run(argv: list[str], *, workdir: Path, hidden: list[Path], limits: Limits, env: dict[str, str],
        uid: int | None = None, level: str | None = None, read_only: list[Path] = (),
        keep_tmp: Path | None = None, on_progress: Callable[[watching.Progress], None] | None = None,
        threads: int = 1, on_start: Callable[[], None] | None = None) -> Outcome:
    """Run `argv` (cwd `workdir`) under `limits`, with `hidden` paths out of sight and `read_only`
    folders unwritable, where the level allows. The shared temp folders are private and empty (private_tmps),
    but for `keep_tmp` (the job's folder, in /tmp), which stays where it is. With `on_progress`, the code gets a pipe for progress reports
    (GRADER_PROGRESS_FD, see watch.py), each phase but train gets its budget from `limits.phases`, and
    `on_progress` is called about every second, in this thread. `on_start` is called in this thread
    once the code has started, before any waiting: work to do while it starts up, such as writing the
    inputs it waits for. The limits on wall time count from its end. Should it raise, the code is ended
    and the exception goes on."""
    level = level or available_level()
    read_only = [p for p in read_only if p.is_dir()]
    needed = {p for p in (Path(sys.prefix), Path(argv[0]), Path(workdir)) for p in (p, p.resolve())
              if keep_tmp is None or not (keep_tmp == p or keep_tmp in p.parents)}
    private, script = [], None
    if level in ("root", "userns"):
        mounts, private = private_tmps(keep_tmp, needed)
        # whatever else lay in a private temp folder is gone: nothing there to hide or protect
        hidden = [p for p in hidden if not any(d == p or d in p.parents for d in private)]
        read_only = [p for p in read_only if not any(d == p or d in p.parents for d in private)]
        for path in read_only:
            q = shlex.quote(str(path))
            mounts.append(f"mount --bind {q} {q} && mount -o remount,bind,ro {q}")
        for path in hidden:  # a path that vanished meanwhile (another job's temp file) needs no hiding
            q = shlex.quote(str(path))
            if path.is_dir():
                mounts.append(f"{{ mount -t tmpfs -o size=64k,mode=0555 none {q} || [ ! -e {q} ]; }}")
            elif path.is_file():
                mounts.append(f"{{ mount --bind /dev/null {q} || [ ! -e {q} ]; }}")
        run_as = drop_privileges(uid if level == "root" else None)
        # not `exec`: the shell stays PID 1 of the namespace, since PID 1 would ignore even its own SIGKILL.
        # The script comes on the shell's stdin, so that its command line (/proc/1/cmdline) names no hidden path
        script = " && ".join(mounts + [shlex.join(run_as + argv) + " </dev/null"]) + "; exit $?\n"
        userns = ["--user", "--map-root-user"] if level == "userns" else []
        argv = ["unshare", *userns, *NAMESPACES, "sh", "-s"]

    armed = parent_death_signal() is not None
    reaped = armed and level == "none"
    if reaped:
        argv = [sys.executable, "-I", "-S", str(REAPER), *argv]
    outcome = Outcome(returncode=None, isolation=describe_level(level, limits, hidden, read_only, armed, private))
    start = time.monotonic()
    # SIGKILL for unshare, whose --kill-child then ends the namespace; SIGTERM for the reaper, which must sweep
    death_signal = (signal.SIGTERM if reaped else signal.SIGKILL) if armed else None
    progress, pass_fds = None, ()
    if on_progress is not None:
        read_end, write_end = os.pipe()
        env, pass_fds = {**env, "GRADER_PROGRESS_FD": str(write_end)}, (write_end,)
    proc = subprocess.Popen(argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL if script is None else subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_preexec(limits, level, death_signal), pass_fds=pass_fds)
    if script is not None:
        try:
            proc.stdin.write(script.encode())
            proc.stdin.close()
        except BrokenPipeError:  # the shell is already gone: its exit status says why
            pass
    if on_progress is not None:
        os.close(write_end)
        progress = watching.Progress(started=start, phase_since=start)
        watching.reader(read_end, progress)

    def kill():
        """End the code and all it started; any thread may call it, any number of times."""
        if reaped:
            proc.send_signal(signal.SIGTERM)  # the reaper kills everything below it, then exits
        else:
            _kill_group(proc.pid)

    def flood():
        outcome.output_exceeded = True
        kill()

    counter = [0]
    tails = [_Tail(p, 16_384, counter, limits.output_kb * 1024, flood) for p in (proc.stdout, proc.stderr)]
    for t in tails:
        t.start()
    try:
        with _stop_on_signals(kill):
            try:
                if on_start is not None:
                    on_start()  # the code only waits for its inputs meanwhile: its clocks start after
                    start = time.monotonic()
                    if progress is not None:
                        progress.started = progress.phase_since = start
                if progress is None:
                    proc.wait(timeout=limits.wall_seconds)
                else:
                    _watch(proc, progress, limits, outcome, on_progress, threads, start)
            except subprocess.TimeoutExpired:
                outcome.timed_out = True
            finally:
                kill()  # whatever is left, even after a normal exit
                if reaped:
                    try:
                        proc.wait(timeout=REAPER_GRACE_S)
                    except subprocess.TimeoutExpired:
                        pass
                _kill_group(proc.pid)  # the backstop: the group, should the reaper not have finished
                proc.wait()
    finally:
        for t in tails:
            t.join(timeout=5)
    outcome.returncode = proc.returncode
    outcome.wall_s = time.monotonic() - start
    outcome.output_bytes = counter[0]
    outcome.stdout, outcome.stderr = (bytes(t.buf).decode("utf-8", "replace") for t in tails)
    if progress is not None:
        outcome.progress = progress.summary()
    return outcome


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@contextmanager
def _stop_on_signals(end):
    """While inside, SIGTERM, SIGINT and SIGHUP call `end()` and then raise GraderStopped (once). Only the main
    thread can set handlers; elsewhere the parent-death signal is what remains."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = []

    def handler(signum, _frame):
        end()
        if not raised:
            raised.append(signum)
            raise GraderStopped(signum)

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _watch(proc: subprocess.Popen, progress: watching.Progress, limits: Limits, outcome: Outcome,
           on_progress, threads: int, start: float) -> None:
    """Wait for `proc`, sampling its CPU each second; stop it when a phase passes its budget, and at
    the wall limit (TimeoutExpired) after saying why train() was still running, if it was, or sooner when
    train() has been blocked (no CPU used or waited for) for limits.idle_seconds. The child may use
    this process's CPUs; whether the machine was too busy for it is judged on them."""
    cpus = os.sched_getaffinity(0)
    while True:
        try:
            proc.wait(timeout=1.0)
            return
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        progress.samples.append(watching.Sample(now, progress.steps, *watching.usage(proc.pid, cpus)))
        del progress.samples[:-600]  # ten minutes of samples are enough to judge the end by
        over = progress.over_budget(limits.phases, now)
        if over:
            outcome.phase_timeout, outcome.phase_starved = over, progress.starved(threads, len(cpus))
            return
        if limits.idle_seconds and progress.idle_seconds() >= limits.idle_seconds:
            outcome.stopped_in_training, outcome.idle_s = watching.HANG, round(progress.idle_seconds(), 1)
            raise subprocess.TimeoutExpired(proc.args, limits.wall_seconds)
        if now - start >= limits.wall_seconds:
            if progress.phase == "train":
                outcome.stopped_in_training = progress.stopped_in_training(threads, len(cpus))
            raise subprocess.TimeoutExpired(proc.args, limits.wall_seconds)
        on_progress(progress)
