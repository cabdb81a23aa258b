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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..judging.marking import experiments_verdict, mark_for
from ..judging.results import GradeResult
from ..practical.config import Config, Limits
from ..practical.phases import TRAIN
from ..practical.spec import Practical, enumerate_variants, variant_spec
from ..sandbox import isolation as sandbox
from ..sandbox.watch import Progress
from .caches import DEFAULT_CACHE, grader_data, grader_key, shape_cases
from .hiding import REPO, hidden_paths
from .job import Inputs, job_folder, load_results, write_inputs
from .submission import find_submission, hand_in, submission_sha

if TYPE_CHECKING:  # these import torch: in the functions that need them, once the child has started
    import torch

    from ..judging.context import Context
    from .early import EarlyVerdicts


class NoSubmission(Exception):
    """Nothing to grade: no cnn.py where the submission should be. The student's problem, unlike any
    other missing file, which is the grader's."""


@dataclass
class Run:
    """One grading, handed from stage to stage: what is graded, how and where (set by grade()); then what
    the child was given and what its results are judged against (set by start_up, while it starts)."""
    config: Config
    practical: Practical  # the spec graded against: the student's variant
    variant: str  # its id
    variants: dict  # id -> Practical: every variant of the config
    solution: Path  # the submission as found: a cnn.py, or a notebook
    code: bytes  # what the child runs as cnn.py
    sha256: str  # the submission's
    cache: Path
    hide: list[Path]  # hidden from the child, beside the submission's folder and the cache
    threads: int
    level: str  # the sandbox's isolation level
    uid: int | None  # the child's own uid (level "root"), else None
    job: Path  # the job folder (job.job_folder), inside base
    base: Path
    live: object = None  # a live.Live, or None
    # --- set by start_up ---
    inputs: Inputs | None = None
    data: dict = field(default_factory=dict)  # the dataset's splits, as the grader holds them
    cases: list = field(default_factory=list)  # output_shape cases with torch's answers
    test_images: torch.Tensor | None = None  # normalised, in the official order
    relabel_seed: bytes = b""
    early: EarlyVerdicts | None = None

    def start_up(self) -> None:
        """While the child starts: the heavy imports, the data, and the child's inputs."""
        from assignment.data import normalise

        from .early import EarlyVerdicts

        self.data = grader_data(self.cache, self.practical.dataset)  # every variant has the spec's dataset
        shapes = self.config.output_shape
        self.cases = shape_cases(shapes.cases, shapes.seed, self.practical.shape_cases, self.cache)
        self.relabel_seed = hmac.digest(grader_key(self.cache), f"relabel:{self.sha256}:{self.variant}".encode(),
                                        "sha256")
        self.inputs = write_inputs(self.job, self.config, self.practical, self.data, self.cases, self.threads,
                                   self.uid, self.relabel_seed)
        self.test_images = normalise(self.data["test_x"], self.practical.dataset)
        self.early = EarlyVerdicts(self.inputs.results,
                                   lambda res: self.context(res, sandbox.Outcome(returncode=None)), self.config,
                                   self.live)

    def on_progress(self, progress: Progress) -> None:
        self.early(progress)
        if progress.phase == TRAIN and "assignment.plots" not in sys.modules:
            import assignment.plots  # noqa: F401  (the figures' imports, while train() runs)

    def run_child(self, job: Path, base: Path, limits: Limits, on_progress, on_start=None) -> sandbox.Outcome:
        """Run a prepared job folder in the sandbox: the practical's, or the challenge's (challenge.enter)."""
        threads = self.threads
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(job / "home"), "TMPDIR": str(job / "tmp"),
               "PYTHONPATH": str(job / "lib"), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0",
               "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "MPLBACKEND": "Agg",
               "CUDA_VISIBLE_DEVICES": "", "LANG": "C.UTF-8"}
        hidden = hidden_paths([self.solution.parent, self.cache, *map(Path, self.hide)], base)
        read_only = [p for p in {REPO, Path(sys.prefix).resolve(), Path.home()} if p not in job.parents]
        return sandbox.run([sys.executable, "-s", str(job / "child.py"), str(job)], workdir=job / "submission",
                           hidden=hidden, limits=limits, env=env, uid=self.uid, level=self.level,
                           read_only=sorted(read_only), keep_tmp=base, on_progress=on_progress, threads=threads,
                           on_start=on_start)

    def context(self, res: dict, outcome: sandbox.Outcome) -> Context:
        """What the hidden checks look at, for what the child returned (`res`) and how it ended."""
        from ..judging.context import Context

        return Context(config=self.config, practical=self.practical, res=res, outcome=outcome, cases=self.cases,
                       probe=self.inputs.probe, test_images=self.test_images, test_labels=self.data["test_y"],
                       perm=self.inputs.perm, patch_images=self.test_images[:self.config.top_patches.images],
                       variant=self.variant, variants=self.variants, relabel=self.inputs.relabel,
                       canaries=self.inputs.canaries, source=self.code.decode(errors="replace"))


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
    run = Run(config, practical, variant, variants, solution, handed_in.code, result.sha256, cache, list(hide),
              threads, level, uid, job, base, live)
    try:
        outcome = run.run_child(job, base, config.limits, run.on_progress, run.start_up)
        res, problem = load_results(run.inputs.results)
    finally:
        shutil.rmtree(base, ignore_errors=True)
        if live is not None:
            live.close()
    if problem:
        outcome.stderr += f"\n[grader] {problem}"
        res = {"phase": "start", "errors": {"import": {"type": "ResultsFileError", "message": problem}}}
    ctx = judged(run, res, outcome, result)
    if config.challenge is not None:  # its own child, after the mark: nothing in it can change the mark
        from . import challenge

        result.challenge = challenge.enter(res, config, practical, handed_in.code, run.data, run.relabel_seed,
                                           run.run_child, threads=threads, uid=uid, regrade=result.inconclusive,
                                           live=live)
    result.elapsed_s = round(time.monotonic() - start, 2)
    return result, {"ctx": ctx}


def judged(run: Run, res: dict, outcome: sandbox.Outcome, result: GradeResult) -> Context:
    """Judge what the child returned (`res`) and how it ended, mark it, and fill in `result`; the checks
    judged early (early.py) keep their verdicts. Returns the context the reports draw from."""
    from ..judging.causes import one_message_per_cause
    from ..judging.context import StudentError, judge
    from . import provenance

    config, early, live = run.config, run.early, run.live
    ctx = run.context(res, outcome)
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
    result.provenance = provenance.collect(config, threads=run.threads, test_order_seed=run.inputs.order_seed)
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
    return ctx
