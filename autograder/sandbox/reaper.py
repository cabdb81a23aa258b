"""Stands between the grader and the code it runs at the "none" sandbox level, where no PID namespace
ends the code's processes: this process ends them all, when the code's main process ends, and when the
grader stops or dies.

    python -I -S reaper.py COMMAND [ARG...]     exit status: COMMAND's, or 128 + n if signal n ended it

As a child subreaper it inherits every orphan of the code, also those that left the process group, so
none gets out of reach. The grader arms this process's parent-death signal (SIGTERM) before it starts,
and SIGTERM, SIGINT and SIGHUP make it kill everything below it and exit. The code runs as the same user
and could kill this process first; sandbox.describe_level says so. Standard library only.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def descendants(root: int) -> list[int]:
    """Every process below `root`, parents before their children (read from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:  # it ended meanwhile
            continue
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])  # after "pid (comm) state"
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        kids = children.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def end_all() -> None:
    """SIGKILL every process below this one and reap them; orphans that turn up meanwhile come here too."""
    while True:
        for pid in descendants(os.getpid()):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: reaper.py COMMAND [ARG...]", file=sys.stderr)
        return 2
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    if prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:  # a kernel older than 3.4: grade all the same
        print(f"[grader] no subreaper here (errno {ctypes.get_errno()}): processes that leave the process "
              "group can outlive grading", file=sys.stderr)
        os.execvp(argv[0], argv)

    def stop(signum, _frame):
        end_all()
        os._exit(128 + signum)

    for sig in STOP_SIGNALS:
        signal.signal(sig, stop)
    me = os.getpid()
    child = os.fork()
    if child == 0:
        try:
            for sig in STOP_SIGNALS:
                signal.signal(sig, signal.SIG_DFL)
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # should this process be killed, the code dies too
            if os.getppid() != me:
                os._exit(125)
            os.execvp(argv[0], argv)
        except BaseException as err:  # noqa: BLE001  (nothing may return into the parent's code)
            print(f"reaper: cannot run {argv[0]}: {err}", file=sys.stderr)
        os._exit(127)
    while True:
        pid, status = os.waitpid(-1, 0)  # orphans that end are reaped here too
        if pid == child:
            break
    end_all()
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
