"""A class made without grading: each student a git repository with assignment/cnn.py, and a results.json per
student as `grade` writes it (the fields grade-all and the gradebook read), so that grade-all grades nothing."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCORES = {"S+": 2, "S": 1, "none": 0}


def git(repo: Path, *args: str, when: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_NAME": "s",
           "GIT_AUTHOR_EMAIL": "s@example.org", "GIT_COMMITTER_NAME": "s", "GIT_COMMITTER_EMAIL": "s@example.org"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def student_repo(folder: Path, name: str, committed: str, tag: str | None = None) -> Path:
    """A repository whose HEAD was committed at `committed`; `tag`: a submit/ tag made at that time."""
    repo = folder / name
    (repo / "assignment").mkdir(parents=True)
    (repo / "assignment" / "cnn.py").write_text(f"# {name}'s network\n")
    git(repo, "init", "-q", when=committed)
    git(repo, "add", ".", when=committed)
    git(repo, "commit", "-qm", "work", when=committed)
    if tag:
        git(repo, "tag", "-a", "submit/1", "-m", "hand in", when=tag)
    return repo


def graded(out: Path, name: str, repo: Path, mark: str, challenge: bool = False) -> None:
    """OUT/submissions/NAME/results.json (and feedback.md, report.html) as a grading of `repo` with `mark`."""
    folder = out / "submissions" / name
    folder.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256((repo / "assignment" / "cnn.py").read_bytes()).hexdigest()
    extra = {"mark": None if mark == "none" else mark, "sha256": sha, "variant": "v1", "checks": {}}
    if challenge:
        extra["challenge"] = {"status": "badge", "badge": "99%", "accuracy": 0.99, "parameters": 1000, "seconds": 1.0}
    (folder / "results.json").write_text(json.dumps({"score": SCORES[mark], "execution_time": 1.0,
                                                     "extra_data": extra}))
    (folder / "feedback.md").write_text(f"# Feedback: {name}\n\nYour mark: {mark}.\n")
    (folder / "report.html").write_text(f"<html><body>report of {name}</body></html>")
