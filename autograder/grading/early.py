"""The verdicts that need no training, judged while train() still runs, and the live display fed by the
child's progress reports. Called by sandbox.run about once a second (see grade.py)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..practical.config import Config
from ..practical.phases import BEFORE_TRAINING
from .job import load_results
from ..judging.context import EARLY, Context, judge
from ..judging.results import CheckResult
from ..sandbox.watch import Progress


class EarlyVerdicts:
    """Once the child is past model_io, judge the checks of judging.EARLY from the results it saved
    then. Those inputs are final before train() starts, so these verdicts stand; grade.py judges only
    the other checks at the end."""

    def __init__(self, results: Path, context: Callable[[dict], Context], config: Config, live=None):
        self.results, self.context, self.config, self.live = results, context, config, live
        self.verdicts: dict[str, CheckResult] = {}
        self.grader_errors: list[str] = []
        self.done = False

    def __call__(self, progress: Progress) -> None:
        if progress.phase == "train" and self.live is not None:
            self.live.steps(progress.steps, self.config.training.iterations)
        if self.done or progress.phase in BEFORE_TRAINING:
            return
        self.done = True
        res, problem = load_results(self.results)
        if problem:
            return
        ctx = self.context(res)
        checks, self.grader_errors = judge(ctx, [n for n in EARLY if ctx.ready(n)])
        self.verdicts = {c.name: c for c in checks}
        if self.live is not None:
            for check in checks:
                self.live.verdict(check)
            self._preview(ctx)

    def _preview(self, ctx: Context) -> None:
        problems = ctx.untrained_shape_problems()
        if problems is not None:
            self.live.note(f"{self.config.checks['architecture'].title}, untrained model: "
                           + (f"{len(problems)} problem(s), first: {problems[0]}" if problems else "shapes as specified")
                           + "; the verdict comes after training")
