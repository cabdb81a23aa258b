"""What one grading ran with, so that a regrade months later can tell what changed: the grader's code,
the marking policy, the libraries, the threads and the seeds. Gathered in the grader's process."""
from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
from pathlib import Path

import torch

import assignment

from ..practical.config import Config
from ..practical.paths import PACKAGE, REPO

CHECKOUT = REPO  # a git checkout when the grader runs from one, else site-packages (no .git)
HELPERS = Path(assignment.__file__).resolve().parent  # the public helpers the child imports


def code_sha256(folders: tuple[Path, ...] = (PACKAGE, HELPERS)) -> str:
    """One hash over the grader's Python files and pytest.ini (paths and contents), whatever its install."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(p for p in folder.rglob("*") if p.suffix in (".py", ".ini") and p.is_file()
                           and "__pycache__" not in p.parts):
            digest.update(f"{folder.name}/{path.relative_to(folder).as_posix()}\0".encode())
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", "-C", str(CHECKOUT), *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout.strip() if proc.returncode == 0 else None


def grader_version() -> dict:
    """The package version; the git commit and whether the grader's files differ from it, where known."""
    try:
        version = importlib.metadata.version("cnn-practical")
    except importlib.metadata.PackageNotFoundError:
        version = None
    commit = _git("rev-parse", "HEAD") if (CHECKOUT / ".git").exists() else None
    changed = None
    if commit:
        status = _git("status", "--porcelain", "--untracked-files=no", "--", PACKAGE.name, HELPERS.name)
        changed = None if status is None else bool(status)
    return {"version": version, "commit": commit, "modified_since_commit": changed, "code_sha256": code_sha256()}


def collect(config: Config, *, threads: int, test_order_seed: int) -> dict:
    """Provenance for results.json. The test-order seed is recorded only after the child has ended: it is
    drawn afresh from `secrets` for each grading, so an earlier one tells nothing about the next
    (docs/instructors.md, "Provenance")."""
    return {
        "grader": grader_version(),
        "policy": {"path": str(Path(config.path).resolve()) if Path(config.path).is_file() else config.path,
                   "sha256": config.sha256},
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "threads": threads,
        "seeds": {"training": config.training.seed, "output_shape_cases": config.output_shape.seed,
                  "test_order": test_order_seed},
    }
