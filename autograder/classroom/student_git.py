"""git in a student's repository, with nothing of the student's run.

A repository that arrives with its `.git` folder (a zip from an LMS, a folder a student uploaded) carries
the student's own configuration, which git would obey: an fsmonitor or hook command, a pager. Every git
command the grader runs in such a repository goes through here, read-only, with those switched off.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

TIMEOUT_S = 120


class GitError(ValueError):
    """git failed in the repository; the message quotes what it said."""


def git(repo: Path, *args: str) -> bytes:
    """The output of `git ARGS` run in `repo`."""
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0", "GIT_PAGER": "cat"}
    cmd = ["git", "-c", "core.fsmonitor=", "-c", "core.hooksPath=/dev/null", "-c",
           f"safe.directory={Path(repo).resolve()}", "-C", str(repo), *args]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_S, env=env, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} took more than {TIMEOUT_S} s") from None
    except OSError as err:
        raise GitError(f"git could not be run: {err.strerror}") from None
    if done.returncode != 0:
        raise GitError(f"git {' '.join(a for a in args[:2] if not a.startswith('-'))} failed: "
                       f"{done.stderr.decode(errors='replace').strip()[:300]}")
    return done.stdout
