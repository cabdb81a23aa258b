"""Grade one submission: run it in the sandbox, load what it returned, judge it, mark it.

prepare (job.py: job folder and inputs; hiding.py: what the child must not see) -> run (sandbox.py)
-> load (job.py, safe) -> judge (judging.py: hidden pytest checks, in this process) -> mark
(marking.py). Student code never runs in this process.

The child starts first, from a torch-free job folder: while it imports torch, this process imports
torch, the data and the checks, and writes the child's inputs, which the child waits for.
"""
from __future__ import annotations

import hmac
import os
import shutil
import sys
import time
from pathlib import Path

from ..sandbox import isolation as sandbox
from .caches import DEFAULT_CACHE, grader_data, grader_key, shape_cases
from ..practical.config import Config
from .hiding import REPO, hidden_paths
from .job import job_folder, load_results, write_inputs
from ..judging.marking import experiments_verdict
from ..judging.results import GradeResult
from ..practical.spec import enumerate_variants, variant_spec
from .submission import find_submission, hand_in, submission_sha


class NoSubmission(Exception):
    """Nothing to grade: no cnn.py where the submission should be. The student's problem, unlike any
    other missing file, which is the grader's."""


def grade(submission: str | Path, config: Config, *, variant: str | None = None, cache: Path = DEFAULT_CACHE,
          hide: list[Path] = (), threads: int | None = None, live=None) -> tuple[GradeResult, dict]:
    """Grade one submission against `variant` of the config's spec (None: the spec as written, v1).
    Returns the result and the artefacts the reports draw from. With `live` (a live.Live), each verdict
    is shown as soon as it is known, and train()'s steps as a bar."""
    start = time.monotonic()
    variants = enumerate_variants(config.practical, config.variants)
    practical = variant_spec(config.practical, config.variants, variant)  # refuses an unknown id
    variant = variant or "v1"
    try:
        solution = find_submission(submission)  # a cnn.py, or a notebook whose definitions are graded as one
    except FileNotFoundError as err:
        raise NoSubmission(str(err)) from None
    handed_in = hand_in(solution)
    result = GradeResult(str(submission), submission_sha(solution), notes=handed_in.notes, variant=variant,
                         experiments=handed_in.experiments,
                         experiments_marked=config.experiments and experiments_verdict(handed_in.experiments,
                                                                                        config.experiments))
    level = sandbox.available_level()
    uid = sandbox.new_uid() if level == "root" else None
    threads = threads or max(1, min(4, len(os.sched_getaffinity(0))))
    job, base = job_folder(handed_in.code, practical, uid)
    keep, early = {}, []

    def context(res, outcome):
        from ..judging.context import Context

        return Context(config, practical, res, outcome, keep["cases"], keep["probe"], keep["test_images"],
                       keep["test_y"], keep["perm"], keep["test_images"][:config.top_patches.images],
                       variant=variant, variants=variants, relabel=keep["relabel"], canaries=keep["canaries"],
                       source=handed_in.code.decode(errors="replace"))

    def start_up():  # while the child starts: the heavy imports, the data, and the child's inputs
        from assignment.data import normalise

        from .early import EarlyVerdicts

        data = grader_data(cache, practical.dataset)  # every variant has the spec's dataset
        cases = shape_cases(config.output_shape.cases, config.output_shape.seed, practical.shape_cases, cache)
        relabel_seed = hmac.digest(grader_key(cache), f"relabel:{result.sha256}:{variant}".encode(), "sha256")
        keep.update(write_inputs(job, config, practical, data, cases, threads, uid, relabel_seed),
                    cases=cases, test_images=normalise(data["test_x"], practical.dataset), test_y=data["test_y"],
                    data=data, relabel_seed=relabel_seed)
        early.append(EarlyVerdicts(keep["results"], lambda res: context(res, sandbox.Outcome(returncode=None)),
                                   config, live))

    def on_progress(progress):
        early[0](progress)
        if progress.phase == "train" and "plots" not in keep:  # the figures' imports, while train() runs
            from assignment import plots

            keep["plots"] = plots

    def run_child(job: Path, base: Path, limits: sandbox.Limits, on_progress, on_start=None) -> sandbox.Outcome:
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(job / "home"), "TMPDIR": str(job / "tmp"),
               "PYTHONPATH": str(job / "lib"), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
               "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "MPLBACKEND": "Agg",
               "CUDA_VISIBLE_DEVICES": "", "LANG": "C.UTF-8"}
        hidden = hidden_paths([solution.parent, cache, *map(Path, hide)], base)
        read_only = [p for p in {REPO, Path(sys.prefix).resolve(), Path.home()} if p not in job.parents]
        return sandbox.run([sys.executable, "-s", str(job / "child.py"), str(job)], workdir=job / "submission",
                           hidden=hidden, limits=limits, env=env, uid=uid, level=level, read_only=sorted(read_only),
                           keep_tmp=base, on_progress=on_progress, threads=threads, on_start=on_start)

    try:
        outcome = run_child(job, base, sandbox.Limits(**vars(config.limits)), on_progress, start_up)
        res, problem = load_results(keep["results"])
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if live is not None:
            live.close()
    if problem:
        outcome.stderr += f"\n[grader] {problem}"
        res = {"phase": "start", "errors": {"import": {"type": "ResultsFileError", "message": problem}}}

    from . import provenance
    from ..judging.context import StudentError, judge, one_message_per_cause
    from ..judging.marking import mark_for

    early = early[0]
    ctx = context(res, outcome)
    late, grader_errors = judge(ctx, [n for n in config.checks if n not in early.verdicts])
    result.checks = one_message_per_cause([early.verdicts.get(n) or next(c for c in late if c.name == n)
                                           for n in config.checks])
    grader_errors = early.grader_errors + grader_errors
    if live is not None:
        for check in result.checks:
            if check.name not in early.verdicts:
                live.verdict(check)
    if outcome.overloaded:
        result.regrade = ctx.death()
    try:
        result.matches_variant = ctx.matching_variant
    except StudentError:
        pass
    result.mark = None if result.regrade else mark_for(result.checks, config, other_variant=ctx.other_variant())
    result.cause = ctx.cause.lines() if ctx.cause and not result.regrade else []  # a regrade's header says why
    try:
        ctx.steps_made()  # no accuracy to quote for a model that train() did not finish
        result.test_accuracy, result.accuracy_verified = ctx.accuracy
        result.canary_accuracy = ctx.provenance.canaries
    except StudentError:
        pass
    result.isolation = outcome.isolation
    result.provenance = provenance.collect(config, threads=threads, test_order_seed=keep["order_seed"])
    result.child = {"returncode": outcome.returncode, "timed_out": outcome.timed_out,
                    "phase_timeout": outcome.phase_timeout, "phase_starved": outcome.phase_starved,
                    "stopped_in_training": outcome.stopped_in_training,
                    "idle_s": outcome.idle_s,
                    "progress": outcome.progress,
                    "output_exceeded": outcome.output_exceeded, "phase": res.get("phase"),
                    "wall_s": round(outcome.wall_s, 2), "output_bytes": outcome.output_bytes,
                    "stdout_tail": outcome.stdout[-4000:], "stderr_tail": outcome.stderr[-4000:],
                    "timings": {k: round(v, 2) for k, v in res.get("timings", {}).items()
                                if isinstance(v, float)}}
    history = res.get("history")
    result.history = [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []
    if grader_errors:
        result.grader_error = "\n".join(grader_errors)
    if config.challenge is not None:  # its own child, after the mark: nothing in it can change the mark
        from . import challenge

        result.challenge = challenge.enter(res, config, practical, handed_in.code, keep["data"], keep["relabel_seed"],
                                           run_child, threads=threads, uid=uid, regrade=result.inconclusive, live=live)
    result.elapsed_s = round(time.monotonic() - start, 2)
    return result, {"ctx": ctx}
