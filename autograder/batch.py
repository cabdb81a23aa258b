"""grade-all: grade a class, one worker process per submission, and keep a gradebook.

Each submission is graded by `python -m autograder grade` in its own process, so a worker that dies
takes nothing else with it. Its reports go to OUT/submissions/NAME/; gradebook.csv is rebuilt from
those after every submission, so an interrupted run loses nothing and a rerun skips what is done.
"""
from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from .config import load_config
from .spec import enumerate_variants
from .variant_roster import read_roster
from .grade import DEFAULT_CACHE, grader_data
from .submission import NOTEBOOK, submission_sha

OVERHEAD_S = 300  # beyond the child's wall limit: data, judging and reports
REGRADE = "regrade"  # a worker's status when `grade` exited 3: the machine was too busy


def find_submissions(folder: Path) -> dict[str, Path]:
    """name -> path, for each .py or notebook file or folder directly inside `folder`."""
    if not folder.is_dir():
        raise SystemExit(f"error: {folder} is not a folder of submissions")
    found = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() or entry.suffix in (".py", NOTEBOOK):
            name = entry.stem if entry.is_file() else entry.name
            found[entry.name if name in found else name] = entry  # alice.ipynb and alice.py: both kept
    return found


def solution_sha(path: Path) -> str | None:
    return submission_sha(path)


def already_graded(out: Path, sha: str | None, variant: str = "v1") -> bool:
    try:
        extra = json.loads((out / "results.json").read_text())["extra_data"]
    except (OSError, ValueError, KeyError):
        return False
    return (extra.get("sha256") == sha and not extra.get("grader_error") and not extra.get("regrade")
            and extra.get("variant", "v1") == variant)


def run_worker(name: str, path: Path, out: Path, args: list[str], timeout: float) -> dict:
    """Grade one submission in a worker process; say what happened if the worker did not finish."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").unlink(missing_ok=True)  # a stale result must not pass for this run's
    start = time.monotonic()
    cmd = [sys.executable, "-m", "autograder", "grade", str(path), "--out", str(out), *args]
    with open(out / "worker.log", "w") as log:
        try:
            proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=timeout)
            code = proc.returncode
        except subprocess.TimeoutExpired:
            return {"status": f"worker timed out after {timeout:.0f} s", "elapsed": time.monotonic() - start}
    if code < 0:
        status = f"worker died (signal {-code})"
    elif code == 2:
        status = "grader error (see worker.log)"
    elif code == 3:  # inconclusive: the machine was too busy; grade_all retries it with fewer jobs
        status = REGRADE
    elif code != 0:
        status = f"worker failed (exit {code})"
    else:
        status = "graded"
    return {"status": status, "elapsed": time.monotonic() - start}


def gradebook_row(name: str, out: Path, status: str, checks: list[str]) -> dict:
    row = {"submission": name, "status": status, "mark": "", "score": "", "test_accuracy": "",
           "accuracy_verified": "", "seconds": "", "variant": "", "matches_variant": "", **{c: "" for c in checks}}
    try:
        results = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return row
    extra = results.get("extra_data", {})
    if status == "graded" and extra.get("grader_error"):
        row["status"] = "grader error"
    row.update(mark="" if extra.get("regrade") else extra.get("mark") or "none", score=results.get("score", ""),
               test_accuracy="" if extra.get("test_accuracy") is None else f"{extra['test_accuracy']:.4f}",
               accuracy_verified=extra.get("accuracy_verified", ""), seconds=results.get("execution_time", ""),
               variant=extra.get("variant") or "", matches_variant=extra.get("matches_variant") or "")
    row.update({c: s for c, s in extra.get("checks", {}).items() if c in checks})
    return row


def write_gradebook(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["submission"])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def grade_all(folder: Path, out: Path, *, config_path: str, jobs: int = 1, force: bool = False,
              cache: Path = DEFAULT_CACHE, roster: Path | None = None) -> int:
    config = load_config(config_path)  # fail now on a bad config, not once per student
    ids = list(enumerate_variants(config.practical, config.variants))
    assigned = read_roster(roster, ids) if roster else None  # and on a bad roster
    grader_data(cache)  # build the MNIST cache once, before the workers race for it
    submissions = find_submissions(folder)
    out.mkdir(parents=True, exist_ok=True)
    cores = len(os.sched_getaffinity(0))

    def args_for(jobs: int) -> list[str]:
        return ["--config", str(Path(config_path).resolve()), "--cache", str(cache),
                "--threads", str(max(1, cores // max(1, jobs)))]
    args = args_for(jobs)
    timeout = config.limits.wall_seconds + OVERHEAD_S

    status: dict[str, str] = {}
    todo, skipped = [], 0
    variant = {name: assigned.get(name) if assigned is not None else "v1" for name in submissions}
    for name, path in submissions.items():
        sha, sub_out = solution_sha(path), out / "submissions" / name
        if sha is None:
            status[name] = "no cnn.py found"
        elif variant[name] is None:
            status[name] = "not in the roster"
        elif not force and already_graded(sub_out, sha, variant[name]):
            status[name] = "graded"
            skipped += 1
        else:
            todo.append(name)

    def book():
        write_gradebook(out / "gradebook.csv", [gradebook_row(n, out / "submissions" / n, status.get(n, "pending"),
                                                              list(config.checks)) for n in submissions])

    book()
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = {pool.submit(run_worker, n, submissions[n], out / "submissions" / n,
                               [*args, "--variant", variant[n]], timeout): n for n in todo}
        for future in tqdm(as_completed(futures), total=len(futures), desc="grading", unit="submission"):
            status[futures[future]] = future.result()["status"]
            book()
    again = [n for n in todo if status[n] == REGRADE]
    if again:  # the machine was too busy for these: once more, one at a time, with all the cores
        print(f"{len(again)} submission(s) to regrade (the machine was too busy): grading them again one at a time",
              file=sys.stderr)
        for name in again:
            status[name] = run_worker(name, submissions[name], out / "submissions" / name, args_for(1),
                                      timeout)["status"]
            book()
    book()
    marks = {}
    with open(out / "gradebook.csv") as f:
        for row in csv.DictReader(f):
            marks[row["mark"] or row["status"]] = marks.get(row["mark"] or row["status"], 0) + 1
    print(f"{len(submissions)} submissions ({skipped} already graded): "
          + ", ".join(f"{k}: {v}" for k, v in sorted(marks.items())))
    print(f"Gradebook: {out / 'gradebook.csv'}")
    failed = [n for n, s in status.items() if s not in ("graded", "no cnn.py found", "not in the roster")]
    if failed:
        print(f"{len(failed)} submission(s) could not be graded: {', '.join(failed)}; rerun to retry them",
              file=sys.stderr)
    unlisted = [n for n, s in status.items() if s == "not in the roster"]
    if unlisted:
        print(f"{len(unlisted)} submission(s) have no line in {roster}, so no variant to grade against: "
              f"{', '.join(unlisted)}; add them and rerun", file=sys.stderr)
    return 1 if failed or unlisted else 0
