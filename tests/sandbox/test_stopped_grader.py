"""A stopped grader leaves nothing running: SIGTERM, SIGINT or SIGKILL of the grader ends its sandbox,
the student's code and every process that code started, at every sandbox level this machine has.

The code under test starts a grandchild process that leaves the process group (setsid), with a unique marker
in its command line, and then sleeps; the test waits for the grandchild, notes every process below the
grader, stops the grader, and checks that all of them are gone within a few seconds. Every sleep is
bounded, so a failure here leaves nothing behind for long.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from autograder.sandbox import isolation as sandbox
from autograder.practical.config import Limits, load_raw

ORDER = ["root", "userns", "none"]  # strongest first; CNN_GRADER_SANDBOX can only weaken it
LEVELS = ORDER[ORDER.index(sandbox.available_level()):]
SIGNALS = [signal.SIGTERM, signal.SIGINT, signal.SIGKILL]
GONE_WITHIN_S = 10
LIVES_S = 60  # how long the code would run if nothing stopped it

# The student's code: start the grandchild (a shell whose command line carries the marker) ...
START = """
import subprocess, sys, time
subprocess.Popen(["/bin/sh", "-c", "sleep {lives}; :", "{marker}"], start_new_session=True)
"""
# ... and sleep in short steps.
CODE = START + """
for _ in range({lives} * 10):
    time.sleep(0.1)
"""


def processes() -> dict[int, tuple[int, str, str]]:
    """pid -> (parent pid, state, command line) of every process."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_bytes()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        out[int(entry)] = (int(fields[1]), fields[0].decode(), cmdline)
    return out


def below(root: int, table: dict) -> set[int]:
    found, todo = set(), [root]
    while todo:
        parent = todo.pop()
        kids = [pid for pid, (ppid, _, _) in table.items() if ppid == parent]
        found.update(kids)
        todo += kids
    return found


def alive(pids: set[int], marker: str) -> list[str]:
    """The processes among `pids`, or with `marker` in their command line, that still run (zombies are dead)."""
    return [f"{pid} {cmd}" for pid, (_, state, cmd) in processes().items()
            if state != "Z" and (pid in pids or marker in cmd)]


def stop_and_check(grader: subprocess.Popen, marker: str, sig: int, ready_within_s: float) -> Path | None:
    """Wait until the grandchild runs, stop the grader with `sig`, and assert that nothing of it is left.
    Returns the grader's job folder (the one that holds child.py), if there was one."""
    deadline = time.monotonic() + ready_within_s
    while not any(marker in cmd for _, _, cmd in processes().values()):
        assert grader.poll() is None, f"the grader ended before the code ran:\n{grader.communicate()}"
        assert time.monotonic() < deadline, "the code never started its grandchild"
        time.sleep(0.2)
    table = processes()
    started = below(grader.pid, table)
    assert len(started) >= 3, started  # the sandbox's process(es), the code, the grandchild
    child = next((word for pid in started for word in table[pid][2].split() if word.endswith("/child.py")), None)
    grader.send_signal(sig)
    grader.wait(timeout=GONE_WITHIN_S)
    deadline = time.monotonic() + GONE_WITHIN_S
    while (left := alive(started, marker)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, f"still running {GONE_WITHIN_S} s after {signal.Signals(sig).name}: {left}"
    return Path(child).parents[1] if child else None


@pytest.fixture
def job(tmp_path_factory):
    """A folder the sandbox's own uid can use (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="stop-test-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_sandbox_ends_with_the_process_that_runs_it(job, level, sig):
    """sandbox.run in a stand-in grader process (no torch: fast), every level and every signal."""
    marker = f"stop-test-{secrets.token_hex(6)}"
    (job / "code.py").write_text(CODE.format(lives=LIVES_S, marker=marker))
    runner = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from autograder.practical.config import Limits
        from autograder.sandbox import isolation as sandbox
        limits = Limits(wall_seconds={LIVES_S}, cpu_seconds={LIVES_S}, memory_mb=2048, processes=32, output_kb=64)
        try:
            sandbox.run([sys.executable, "-S", "code.py"], workdir=Path({str(job)!r}), hidden=[], limits=limits,
                        env={{"PATH": "/usr/bin:/bin"}}, level={level!r},
                        uid=sandbox.new_uid() if {level!r} == "root" else None)
        except sandbox.GraderStopped as err:
            print(err)
            sys.exit(3)
    """)
    grader = subprocess.Popen([sys.executable, "-c", runner], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    stop_and_check(grader, marker, sig, ready_within_s=20)
    out, err = grader.communicate()
    if sig != signal.SIGKILL:  # the grader's own handler ran: it says so and exits on its own
        assert grader.returncode == 3, err
        assert f"stopped by {signal.Signals(sig).name}" in out


@pytest.mark.parametrize("level", LEVELS)
def test_nothing_outlives_a_normal_end(job, level):
    """The code exits at once, leaving its grandchild outside its process group: the run ends the grandchild too
    (at "none" the reaper does, where there is no PID namespace)."""
    marker = f"stop-test-{secrets.token_hex(6)}"
    (job / "code.py").write_text(START.format(lives=LIVES_S, marker=marker))
    limits = Limits(wall_seconds=LIVES_S, cpu_seconds=LIVES_S, memory_mb=2048, processes=32, output_kb=64)
    out = sandbox.run([sys.executable, "-S", "code.py"], workdir=job, hidden=[], limits=limits,
                      env={"PATH": "/usr/bin:/bin"}, level=level, uid=sandbox.new_uid() if level == "root" else None)
    assert out.returncode == 0, out.stderr
    assert not alive(set(), marker)


@pytest.mark.parametrize("script, code", [("exit 3", 3), ("kill -9 $$", 128 + 9), ("true", 0)],
                         ids=["exit-code", "killed", "ok"])
def test_reaper_passes_on_how_the_code_ended(script, code):
    proc = subprocess.run([sys.executable, "-I", "-S", str(sandbox.REAPER), "/bin/sh", "-c", script],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == code, proc.stderr


def test_isolation_says_what_ends_the_sandbox_with_the_grader():
    limits = Limits(wall_seconds=1, cpu_seconds=1, memory_mb=2048, processes=8, output_kb=8)
    for level in LEVELS:
        armed = sandbox.describe_level(level, limits, [], armed=True)["grader_stopped"]
        bare = sandbox.describe_level(level, limits, [], armed=False)["grader_stopped"]
        assert armed.startswith("everything ends with the grader") and "NOT" in bare
    assert sandbox.parent_death_signal() is not None  # Linux: the mechanism is there, so it is in force


@pytest.fixture(scope="module")
def slow_submission(tmp_path_factory) -> Path:
    """A submission whose train() starts the grandchild and sleeps; everything else as the handout asks."""
    folder = tmp_path_factory.mktemp("slow")
    marker = f"stop-grade-{secrets.token_hex(6)}"
    train = textwrap.indent(CODE.format(lives=LIVES_S, marker=marker), "    ")
    (folder / "cnn.py").write_text(
        "from torch import nn\n\n\n"
        "def output_shape(in_shape, layer):\n    raise NotImplementedError('not needed here')\n\n\n"
        "def build_model():\n    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))\n\n\n"
        "def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):"
        f"{train}    return []\n\n\n"
        "def top_patches(model, images, filters, k=12):\n    raise NotImplementedError('not needed here')\n")
    (folder / "marker").write_text(marker)
    return folder


@pytest.fixture(scope="module")
def short_config(tmp_path_factory, repo) -> Path:
    raw = load_raw(repo / "tests" / "grading-fast.yml")  # with its base merged in: a self-contained copy
    raw["limits"].update(wall_seconds=LIVES_S + 30, cpu_seconds=LIVES_S + 30)
    path = tmp_path_factory.mktemp("config") / "grading.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_grade_stopped_in_train_leaves_nothing(slow_submission, short_config, mnist_root, repo, tmp_path, sig):
    """`python -m autograder grade` itself, stopped while the student's train() runs."""
    out = tmp_path / "out"
    marker = (slow_submission / "marker").read_text()
    env = {**os.environ, "MNIST_ROOT": str(mnist_root)}
    grader = subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(slow_submission / "cnn.py"),
                               "--out", str(out), "--config", str(short_config), "--threads", "1"],
                              cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    job = stop_and_check(grader, marker, sig, ready_within_s=120)
    grader.communicate()
    if sig != signal.SIGKILL:  # it had time to clean up and to say why nothing was graded
        assert grader.returncode == 2
        extra = json.loads((out / "results.json").read_text())["extra_data"]
        assert f"stopped by {signal.Signals(sig).name}" in extra["grader_error"]
        assert extra["mark"] is None
        assert job is not None and not job.exists()
