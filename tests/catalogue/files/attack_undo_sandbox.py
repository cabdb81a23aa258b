"""Attack: undo the sandbox from inside, then read what it hid.

build_model() reads its own mount table (/proc/self/mountinfo) to find the sandbox's hiding mounts (small
tmpfs folders of mode 555, files covered by /dev/null) and the read-only mounts, then tries, for each: to
unmount it, to remount it writable, and to read a hidden file; the same again from a nested user and mount
namespace of its own; to unmount /proc and count the processes it then sees; and to find a hidden path's
name in the command line or environment of the sandbox's first process (PID 1). It never writes a file.
It touches mounts only inside a sandbox (PID 1 of its PID namespace is the sandbox's shell): run anywhere
else it tries nothing. It then raises, saying what worked. output_shape is right.
Expected: every attempt is refused at every namespace level (the code has no capability, and mounts seen
from a nested namespace are locked); build_model raises "every escape was refused"; no mark.
"""
import ctypes
import os

import torch
from torch import nn

MNT_DETACH, MS_REMOUNT, MS_BIND = 2, 32, 4096
CLONE_NEWUSER, CLONE_NEWNS = 0x10000000, 0x00020000
LIBC = ctypes.CDLL(None, use_errno=True)


def _mounts():
    """(mount point, per-mount options, filesystem type, super options) of each mount, at most 2,000."""
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in list(fh)[:2000]:
            head, _, tail = line.partition(" - ")
            fields, rest = head.split(), tail.split()
            point = fields[4].replace("\\040", " ")
            found.append((point, fields[5], rest[0], rest[2] if len(rest) > 2 else ""))
    return found


def _targets():
    """The hidden folders and files, and the read-only mounts, as the mount table shows them."""
    null = os.stat("/dev/null").st_rdev
    hidden, read_only = [], []
    for point, opts, fstype, sopts in _mounts():
        if fstype == "tmpfs" and "size=64k" in sopts and "mode=555" in sopts:
            hidden.append(point)
        elif os.path.isfile(point) and os.stat(point).st_rdev == null:
            hidden.append(point)
        elif "ro" in opts.split(",") and point not in ("/", "/proc", "/sys") and not point.startswith(("/sys/", "/proc/")):
            read_only.append(point)
    return hidden[:300], read_only[:50]


def _secrets_readable(hidden):
    """How many hidden folders list something, and hidden files read something."""
    seen = 0
    for point in hidden:
        try:
            if os.path.isdir(point):
                seen += bool(os.listdir(point))
            else:
                with open(point, "rb") as fh:
                    seen += bool(fh.read(1))
        except OSError:
            pass
    return seen


def _read_only_count(points):
    return sum(point in points and "ro" in opts.split(",") for point, opts, _, _ in _mounts())


def _undo(hidden, read_only):
    """(unmounted, remounted writable, secrets then readable). A remount reaches the topmost mount at its
    point (a hiding tmpfs may lie on a read-only folder), so what counts is a read-only mount fewer."""
    unmounted = sum(LIBC.umount2(p.encode(), MNT_DETACH) == 0 for p in hidden)
    before = _read_only_count(set(read_only))
    for point in read_only:
        LIBC.mount(None, point.encode(), None, MS_REMOUNT | MS_BIND, None)
    return unmounted, max(0, before - _read_only_count(set(read_only))), _secrets_readable(hidden)


def _nested(hidden, read_only):
    """The same from a user and mount namespace of our own, in a child process: its exit status is the sum."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            if LIBC.unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0:
                code = min(100, sum(_undo(hidden, read_only)))
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _escape() -> str:
    try:
        with open("/proc/1/cmdline", "rb") as fh:
            first = fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        first = ""
    if not first.startswith("sh"):
        return "not in a sandbox: nothing tried"
    hidden, read_only = _targets()
    worked = []
    try:
        with open("/proc/1/environ", "rb") as fh:
            environ = fh.read().decode(errors="replace")
    except OSError:
        environ = ""
    if any(p in first or p in environ for p in hidden):
        worked.append("hidden paths named in PID 1's command line or environment")
    unmounted, remounted, readable = _undo(hidden, read_only)
    if unmounted:
        worked.append(f"unmounted {unmounted} of {len(hidden)} hiding mounts")
    if remounted:
        worked.append(f"remounted {remounted} of {len(read_only)} read-only mounts writable")
    if readable:
        worked.append(f"read {readable} hidden paths")
    nested = _nested(hidden, read_only)
    if nested:
        worked.append(f"{nested} from a nested namespace")
    LIBC.umount2(b"/proc", MNT_DETACH)
    processes = sum(name.isdigit() for name in os.listdir("/proc"))
    if processes > 20:
        worked.append(f"saw {processes} processes in /proc")
    if not hidden:
        worked.append("found no hiding mounts to try")
    return "ESCAPED: " + "; ".join(worked) if worked else f"every escape was refused ({len(hidden)} hiding mounts)"


def output_shape(in_shape, layer):
    if not isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
        raise TypeError(type(layer).__name__)
    with torch.no_grad():
        return tuple(int(v) for v in layer(torch.zeros(1, *in_shape)).shape[1:])


def build_model():
    raise RuntimeError(f"attack: {_escape()}")


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    raise NotImplementedError("attack file")


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
