"""The sandbox on its own, with small Python programs instead of submissions (no torch, so fast)."""
import os
import shutil
import socket
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from autograder.practical.config import Limits
from autograder.sandbox import isolation as sandbox

LEVEL = sandbox.available_level()
needs_ns = pytest.mark.skipif(LEVEL == "none", reason="no namespaces on this machine")
needs_root = pytest.mark.skipif(LEVEL != "root", reason="needs root to switch to a separate uid")
LIMITS = Limits(wall_seconds=20, cpu_seconds=20, memory_mb=1024, processes=32, output_kb=64)


@pytest.fixture
def tmp_path(tmp_path_factory):
    """A folder that the sandbox's uid can enter (pytest's own tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="sandbox-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run_py(tmp_path, code, *, hidden=(), limits=LIMITS, level=None, read_only=(), keep_tmp=None):
    job = tmp_path / "job"
    job.mkdir(exist_ok=True)
    job.chmod(0o777)
    (job / "prog.py").write_text(textwrap.dedent(code))
    uid = sandbox.new_uid() if (level or LEVEL) == "root" else None
    env = {"PATH": "/usr/bin:/bin", "HOME": str(job)}
    return sandbox.run([sys.executable, "-S", str(job / "prog.py")], workdir=job, hidden=list(hidden),
                       limits=limits, env=env, uid=uid, level=level, read_only=list(read_only), keep_tmp=keep_tmp)


def test_plain_program_runs_and_output_is_kept(tmp_path):
    out = run_py(tmp_path, "print('hello'); import sys; print('oops', file=sys.stderr)")
    assert out.returncode == 0
    assert out.stdout.strip() == "hello" and out.stderr.strip() == "oops"
    assert set(out.isolation) >= {"level", "network", "hidden_paths", "user", "processes", "limits"}


def test_wall_time_limit_kills(tmp_path):
    limits = Limits(**{**vars(LIMITS), "wall_seconds": 2})
    start = time.monotonic()
    out = run_py(tmp_path, "import time; time.sleep(60)", limits=limits)
    assert out.timed_out and out.returncode != 0
    assert time.monotonic() - start < 15


def test_output_flood_is_stopped(tmp_path):
    out = run_py(tmp_path, "import sys\nwhile True: sys.stdout.write('x' * 65536)")
    assert out.output_exceeded
    assert out.output_bytes >= 64 * 1024
    assert len(out.stdout) <= 16_384


def test_memory_limit_gives_memory_error(tmp_path):
    out = run_py(tmp_path, """
        try:
            block = bytearray(4 * 2**30)
        except MemoryError:
            print("refused")
    """)
    assert out.stdout.strip() == "refused"


@needs_ns
def test_network_is_blocked(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        out = run_py(tmp_path, f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=3)
                print("connected")
            except OSError as err:
                print("blocked", type(err).__name__)
        """)
    finally:
        server.close()
    assert out.stdout.startswith("blocked"), out.stdout + out.stderr


@needs_ns
def test_hidden_paths_are_empty_and_files_read_empty(tmp_path):
    secret_dir = tmp_path / "secret"
    secret_dir.mkdir()
    (secret_dir / "answers.txt").write_text("42")
    secret_file = tmp_path / "grading.yml"
    secret_file.write_text("budget: 1")
    out = run_py(tmp_path, f"""
        import os
        print(os.listdir({str(secret_dir)!r}))
        print(repr(open({str(secret_file)!r}).read()))
    """, hidden=[secret_dir, secret_file])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "''"]
    assert (secret_dir / "answers.txt").read_text() == "42"  # hidden, not harmed


@needs_ns
def test_no_process_outlives_the_sandbox(tmp_path):
    marker = tmp_path / "job" / "daemon-alive"
    out = run_py(tmp_path, f"""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(3)
                open({str(marker)!r}, "w").write("still here")
                os._exit(0)
            os._exit(0)
        print("parent done")
    """)
    assert out.stdout.strip() == "parent done"
    time.sleep(4)
    assert not marker.exists()


@needs_root
def test_runs_as_another_user_with_a_process_limit(tmp_path):
    out = run_py(tmp_path, """
        import os
        print(os.getuid())
        pids = []
        try:
            for _ in range(100):
                pid = os.fork()
                if pid == 0:
                    import time; time.sleep(2); os._exit(0)
                pids.append(pid)
            print("forked all")
        except OSError as err:
            print("limited after", len(pids))
    """)
    uid, verdict = out.stdout.strip().splitlines()
    assert int(uid) not in (0, os.getuid())
    assert verdict.startswith("limited after")


def test_level_none_still_limits_time(tmp_path):
    limits = Limits(**{**vars(LIMITS), "wall_seconds": 2})
    out = run_py(tmp_path, "import time; time.sleep(30)", limits=limits, level="none")
    assert out.timed_out
    assert out.isolation["network"].startswith("NOT blocked")


@needs_ns
def test_read_only_folders_cannot_be_changed(tmp_path):
    keep = tmp_path / "project"
    keep.mkdir()
    (keep / "data.py").write_text("original")
    (keep / "data.py").chmod(0o666)  # writable by anyone: only the mount protects it
    out = run_py(tmp_path, f"""
        try:
            open({str(keep / 'data.py')!r}, "w").write("tampered")
            print("written")
        except OSError as err:
            print("refused", err.errno)
    """, read_only=[keep])
    assert out.stdout.startswith("refused"), out.stdout + out.stderr
    assert (keep / "data.py").read_text() == "original"


def test_a_program_that_kills_itself_is_seen_as_killed(tmp_path):
    out = run_py(tmp_path, "import os, signal; os.kill(os.getpid(), signal.SIGKILL); print('survived')")
    assert "survived" not in out.stdout
    assert out.signal == 9


@needs_ns
@pytest.mark.skipif(Path(sys.prefix).resolve().is_relative_to("/tmp") or Path(sys.prefix).is_relative_to("/tmp"),
                    reason="Python itself lives in /tmp, so the sandbox keeps the shared /tmp")
def test_tmp_is_private_to_the_run(tmp_path):
    (Path("/tmp") / f"visible-{tmp_path.name}").write_text("x")
    try:
        out = run_py(tmp_path, "import os; print(sorted(os.listdir('/tmp')))", keep_tmp=tmp_path)
    finally:
        (Path("/tmp") / f"visible-{tmp_path.name}").unlink()
    assert out.stdout.strip() == repr([tmp_path.name]), out.stdout + out.stderr


@needs_ns
def test_the_first_process_names_no_hidden_path(tmp_path):
    secret = tmp_path / "hidden-checks-folder"
    secret.mkdir()
    out = run_py(tmp_path, """
        for name in ("cmdline", "environ"):
            try:
                print(name, open("/proc/1/" + name, "rb").read().replace(b"\\0", b" ").decode())
            except OSError as err:
                print(name, "unreadable", err.errno)
    """, hidden=[secret])
    assert out.returncode == 0, out.stderr
    assert "cmdline sh" in out.stdout and secret.name not in out.stdout, out.stdout


@needs_ns
@pytest.mark.parametrize("level", ["root", "userns"])
def test_the_code_cannot_undo_its_mounts(level, tmp_path):
    if sandbox.available_level() == "userns" and level == "root":
        pytest.skip("no root level on this machine")
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key").write_text("42")
    secret.chmod(0o755)
    keep = tmp_path / "project"
    keep.mkdir()
    out = run_py(tmp_path, f"""
        import ctypes, os
        libc = ctypes.CDLL(None, use_errno=True)
        print("umount", libc.umount2({str(secret).encode()!r}, 2), "proc", libc.umount2(b"/proc", 2),
              "remount", libc.mount(None, {str(keep).encode()!r}, None, 32 | 4096, None),
              "read", os.listdir({str(secret)!r}), "processes", sum(p.isdigit() for p in os.listdir("/proc")))
    """, hidden=[secret], read_only=[keep], level=level)
    assert out.stdout.split() == ["umount", "-1", "proc", "-1", "remount", "-1", "read", "[]", "processes", "2"], (
        out.stdout + out.stderr)
    assert out.isolation["capabilities"].startswith("none: all dropped")
