"""Grade one submission: run it in the sandbox, load what it returned, judge it, mark it.

prepare (job.py: job folder and inputs; hiding.py: what the child must not see) -> run (sandbox.py)
-> load (job.py, safe) -> judge (judging.py: hidden pytest checks, in this process) -> mark
(marking.py). Student code never runs in this process.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

from assignment import data as mnist
from assignment.solution import find_solution

from . import sandbox
from .caches import DEFAULT_CACHE, grader_data, shape_cases
from .config import Config
from .hiding import REPO, hidden_paths
from .job import load_results, prepare_job
from .judging import Context, StudentError, judge
from .marking import mark_for
from .results import GradeResult


class NoSubmission(Exception):
    """Nothing to grade: no cnn.py where the submission should be. The student's problem, unlike any
    other missing file, which is the grader's."""


def grade(submission: str | Path, config: Config, *, cache: Path = DEFAULT_CACHE, hide: list[Path] = (),
          threads: int | None = None) -> tuple[GradeResult, dict]:
    """Grade one submission. Returns the result and the artefacts the reports draw from."""
    start = time.monotonic()
    try:
        solution = find_solution(submission)
    except FileNotFoundError as err:
        raise NoSubmission(str(err)) from None
    result = GradeResult(str(submission), hashlib.sha256(solution.read_bytes()).hexdigest())
    data = grader_data(cache)
    level = sandbox.available_level()
    uid = sandbox.new_uid() if level == "root" else None
    threads = threads or max(1, min(4, len(os.sched_getaffinity(0))))
    cases = shape_cases(config.output_shape.cases, config.output_shape.seed, cache)
    job, keep = prepare_job(solution, config, data, cases, threads, uid)
    try:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(job / "home"), "TMPDIR": str(job / "tmp"),
               "PYTHONPATH": str(job / "lib"), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
               "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "MPLBACKEND": "Agg",
               "CUDA_VISIBLE_DEVICES": "", "LANG": "C.UTF-8"}
        hidden = hidden_paths([solution.parent, cache, *map(Path, hide)], keep["base"])
        read_only = [p for p in {REPO, Path(sys.prefix).resolve(), Path.home()} if p not in job.parents]
        outcome = sandbox.run([sys.executable, "-s", str(job / "child.py"), str(job)], workdir=job / "submission",
                              hidden=hidden, limits=sandbox.Limits(**vars(config.limits)), env=env, uid=uid,
                              level=level, read_only=sorted(read_only), keep_tmp=keep["base"])
        res, problem = load_results(keep["results"])
    finally:
        shutil.rmtree(keep["base"], ignore_errors=True)
    if problem:
        outcome.stderr += f"\n[grader] {problem}"
        res = {"phase": "start", "errors": {"import": {"type": "ResultsFileError", "message": problem}}}

    test_images = mnist.normalise(data["test_x"])
    ctx = Context(config, res, outcome, cases, keep["probe"], test_images, data["test_y"], keep["perm"], test_images[:config.top_patches.images],
                  relabel=keep["relabel"], source=solution.read_text(errors="replace"))
    result.checks, grader_errors = judge(ctx)
    result.mark = mark_for(result.checks, config)
    result.cause = ctx.cause.lines() if ctx.cause else []
    try:
        ctx.steps_made()  # no accuracy to quote for a model that train() did not finish
        result.test_accuracy, result.accuracy_verified = ctx.accuracy
    except StudentError:
        pass
    result.isolation = outcome.isolation
    result.child = {"returncode": outcome.returncode, "timed_out": outcome.timed_out,
                    "output_exceeded": outcome.output_exceeded, "phase": res.get("phase"),
                    "wall_s": round(outcome.wall_s, 2), "output_bytes": outcome.output_bytes,
                    "stdout_tail": outcome.stdout[-4000:], "stderr_tail": outcome.stderr[-4000:],
                    "timings": {k: round(v, 2) for k, v in res.get("timings", {}).items()
                                if isinstance(v, float)}}
    history = res.get("history")
    result.history = [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []
    if grader_errors:
        result.grader_error = "\n".join(grader_errors)
    result.elapsed_s = round(time.monotonic() - start, 2)
    return result, {"ctx": ctx}
