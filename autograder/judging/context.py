"""Judging: the context the hidden checks look at, the verdicts they raise, and the pytest run that
collects them. The checks import this module (never the orchestrator, grade.py)."""
from __future__ import annotations

import os
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import pytest
import torch
from assignment.data import normalise

from . import canonical
from ..sandbox import isolation as sandbox
from ..practical.config import Config
from ..practical.phases import CAUSES, MODEL_IO, OUTPUT_SHAPE, PREREQUISITES, START, WORDS
from .causes import (DATA_ERRORS, NOT_RUN, Cause, one_message_per_cause, error_fixes, loads_data, same_cause, scrub, script_fix, top_level_calls, uses_cuda, where)
from .ending import practical_end
from .canaries import Canaries
from .relabel import Provenance, provenance
from .results import ERROR, FAILED, GRADER_ERROR, INCONCLUSIVE, PASSED, CheckResult
from ..practical.spec import Practical, differences
from ..practical.registry import CHECKS_DIR

UNUSED_PLUGINS = ("cacheprovider", "doctest", "junitxml", "pastebin", "nose", "stepwise", "lfplugin",
                  "legacypath", "unraisableexception", "threadexception", "faulthandler")
GRADER_FAULT = "the grader could not run this check (not your fault); your instructor has been told"
JUDGING_SECONDS = 120  # judging runs here, on what the child returned; it takes seconds when that is sane
# Checks whose inputs exist before train() starts: judged as soon as their phase's results are saved.
EARLY = {"output_shape": (OUTPUT_SHAPE, "output_shape"), "model_io": (MODEL_IO, "model_io")}  # check -> (phase, key)


class StudentError(Exception):
    """The student's code raised, or never got as far as producing what a check needs."""


class Inconclusive(StudentError):
    """Not the student's: the machine was too busy for their code to finish in time. Regrade."""


class JudgingTimeout(BaseException):
    """Judging what the child returned went past JUDGING_SECONDS (judging.time_limit). A BaseException,
    so that no `except Exception` in a check takes it for an answer and judges on."""

    def __init__(self):
        super().__init__(f"not judged: the grader stopped judging what your code returned after {JUDGING_SECONDS} s "
                         "(it takes seconds for a model built as the handout says: one of the right size)")


class CheckFailed(Exception):
    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages))
        self.messages = messages


@dataclass
class Context:
    """Everything the hidden checks may look at. Built in the grader's process only."""
    config: Config
    practical: Practical  # the spec graded against: the student's variant
    res: dict  # what the child returned: claims, to verify
    outcome: sandbox.Outcome
    cases: list  # output_shape cases with torch's answers
    probe: torch.Tensor  # (8, *input) float
    test_images: torch.Tensor  # normalised, in the official order
    test_labels: torch.Tensor
    perm: torch.Tensor  # the order in which the child saw the test images
    patch_images: torch.Tensor
    variant: str = "v1"  # the id of `practical` among the config's variants
    variants: dict = field(default_factory=dict)  # id -> Practical: every variant of the config
    relabel: torch.Tensor | None = None  # the child learnt relabel[real class] (relabel.py); None: the identity
    canaries: Canaries | None = None  # secret images among the child's data (canaries.py), after test_images
    source: str = ""  # the submitted cnn.py, read (never run) to recognise fixes
    notes: list = field(default_factory=list)

    # --- what the student's code did, phase by phase ---
    def death(self) -> str | None:
        """Why the child stopped before the end, in the student's terms; None if it finished."""
        return practical_end(self.outcome, self.res.get("phase", START), self.config.limits,
                             self.config.training.iterations)

    @cached_property
    def cause(self) -> Cause | None:
        """What stopped the student's code, said once: the first phase that raised, else why the child
        stopped; None if it ran to the end."""
        errors = self.res.get("errors", {})
        lim = self.config.limits
        for phase in CAUSES:
            err = errors.get(phase)
            if err:
                fixes = error_fixes(phase, err, lim.memory_mb, lim.processes, self.practical)
                message = student_message(phase, err, self.practical)
                calls = top_level_calls(self.source) if phase == "import" else []
                if calls:  # the first sentence says what to change; the error itself comes after
                    fixes = [message, *(f for f in fixes if not f.startswith("use the train_set"))]
                    message = script_fix(calls, self.practical.data)
                elif loads_data(phase, err):
                    fixes, message = fixes[1:], data_message(phase, err, self.practical)
                elif uses_cuda(err):
                    fixes, message = [f for f in fixes if "no GPU" not in f], cuda_message(phase, err)
                return Cause(phase, message, fixes, err)
        death = self.death()
        if death is None:
            return None
        phase = self.res.get("phase", "start")
        calls = top_level_calls(self.source) if phase == "import" else []
        return Cause(phase, death, [script_fix(calls, self.practical.data)] if calls else [])

    def require(self, phase: str, key: str):
        """The result `key` of `phase`, or StudentError saying why there is none. A check blocked by the
        cause says only "not run: needs ..."; another error of its own phase (a second function not yet
        written) is said in full."""
        errors, cause = self.res.get("errors", {}), self.cause
        for name in (phase, *PREREQUISITES.get(phase, ())):
            if errors.get(name):
                if cause and cause.error and same_cause(errors[name], cause.error):
                    raise StudentError(cause.not_run)
                if name == phase:
                    raise StudentError(student_message(name, errors[name], self.practical))
        for name in PREREQUISITES.get(phase, ()):
            if errors.get(name):
                raise StudentError(student_message(name, errors[name], self.practical))
        if key not in self.res:
            if self.outcome.overloaded:
                raise Inconclusive(self.death())
            if cause:
                raise StudentError(cause.not_run)
            raise StudentError(f"{WORDS.get(phase, phase)} produced nothing")
        return self.res[key]

    def untrained_shape_problems(self) -> list[str] | None:
        """The architecture's shape problems on the untrained model (None if its shapes were not saved): a
        preview only, since the architecture check's verdict needs the trained weights."""
        try:
            params = [[str(n), torch.empty(tuple(s), device="meta")] for n, s in self.res["param_shapes_initial"]]
        except (KeyError, TypeError, ValueError, RuntimeError):
            return None
        return canonical.match_params(params, self.practical)[1]

    def ready(self, check: str) -> bool:
        """Whether `check` (one of EARLY) can be judged already: its phase saved a result or an error."""
        phase, key = EARLY[check]
        errors = self.res.get("errors", {})
        return key in self.res or any(errors.get(p) for p in (phase, *PREREQUISITES.get(phase, ())))

    def steps_made(self) -> int:
        """The optimizer steps train() made, or StudentError if train() did not finish (the model is not
        a trained one)."""
        errors, cause = self.res.get("errors", {}), self.cause
        if errors.get("train") or (cause and cause.phase == "train"):
            raise StudentError(cause.not_run if cause and cause.phase == "train" else "not run: needs train()")
        return int(self.res.get("optimizer_steps", 0))

    # --- verdicts shared by several checks ---
    @cached_property
    def weights(self) -> tuple[dict, list[str]]:
        return canonical.match_params(self.require("inspect", "params"), self.practical)

    @cached_property
    def matching_variant(self) -> str | None:
        """The variant whose every parameter shape the student's network has: the assigned one if it
        fits, else the first other that does (another variant's solution), else None."""
        params = self.require("inspect", "params")
        for vid, practical in {self.variant: self.practical, **self.variants}.items():
            weights, _ = canonical.match_params(params, practical)
            if len(weights) == len(practical.roles):
                return vid
        return None

    def other_variant(self) -> str | None:
        """Another variant's id when the student's network is that variant's, not theirs."""
        try:
            match = self.matching_variant
        except StudentError:
            return None
        return match if match not in (None, self.variant) else None

    @cached_property
    def architecture_problems(self) -> list[str]:
        weights, problems = self.weights
        records = self.res.get("records", [])
        modules = self.res.get("modules", [])
        problems = problems + canonical.layer_problems(modules, records, self.practical,
                                                       self.res.get("module_count", len(modules)))
        if len(weights) == len(self.practical.roles) and not problems:
            problems += canonical.behaviour_problems(weights, self.probe, records, self.res.get("probe_out"),
                                                     self.practical) or self.test_output_problems()
        other = self.other_variant()
        if other:
            diff = differences(self.variants[other], self.practical)
            theirs = ", ".join(f"{f} {a}" for f, a, _ in diff)
            ours = ", ".join(f"{f} {b}" for f, _, b in diff)
            problems.insert(0, f"your network is that of variant {other} ({theirs}), but your assigned variant "
                               f"is {self.variant} ({ours}): build the network of variant {self.variant}, as "
                               "your handout describes it")
        return problems

    def test_output_problems(self) -> list[str]:
        """The outputs the child reported on the test images (in the secret order) against the grader's
        own network with the student's weights: a model that is right on the probe images only fails."""
        reported = self.require("evaluate", "test_logits")
        want = (len(self.perm), self.practical.classes)
        if tuple(reported.shape) != want:
            return [f"your model's output on the test images has shape {tuple(reported.shape)}, expected {want}"]
        if canonical.close(reported, self.canonical_logits[self.perm]):
            return []
        return ["on the test images, your model's outputs are not those of the network its weights make (the "
                "grader's copy of the network, with your weights, computes others), although they are on a few "
                "probe images: the forward pass must compute the same network for every input and batch size"]

    @cached_property
    def canonical_logits(self) -> torch.Tensor:
        """The grader's own network's logits for the test images (official order), then for the canaries,
        with the student's weights: the images the child was shown, in the order before `perm`."""
        images = self.test_images
        if self.canaries is not None:
            images = torch.cat([images, normalise(self.canaries.test_x, self.practical.dataset)])
        return canonical.predict(self.weights[0], images, self.practical)

    @cached_property
    def predictions(self) -> tuple[torch.Tensor, bool]:
        """(the trained model's class for each test image, in the official order; verified). Verified means
        computed here by the canonical network with the student's weights, which behaves exactly like
        theirs; else from the logits the child reported (it saw the test images in the order `perm`)."""
        try:
            if not self.architecture_problems:
                return self.canonical_logits.argmax(1), True
        except StudentError:
            pass
        return predictions_from_logits(self.require("evaluate", "test_logits"), self.perm,
                                       self.practical.classes), False

    @cached_property
    def provenance(self) -> Provenance:
        """How the predictions match the labels train() was given, and the real ones."""
        relabel = self.relabel if self.relabel is not None else torch.arange(self.practical.classes)
        predicted, n = self.predictions[0], len(self.test_labels)  # the canaries come after the test images
        canaries = None if self.canaries is None else (predicted[n:], self.canaries.test_y)
        return provenance(predicted[:n], self.test_labels, relabel, canaries, self.config.accuracy.canaries,
                          self.config.accuracy.s_plus)

    @property
    def accuracy(self) -> tuple[float, bool]:
        """(test accuracy against the labels train() was given, verified)."""
        return self.provenance.given, self.predictions[1]


def predictions_from_logits(logits, perm: torch.Tensor, classes: int) -> torch.Tensor:
    """The class of each test image, in the official order, from the logits a child reported on the test
    images in the order `perm`; StudentError if they are not one row of `classes` scores per image."""
    want = (len(perm), classes)
    if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != want:
        raise StudentError(f"the model's output on the test images has shape "
                           f"{tuple(getattr(logits, 'shape', ()))}, expected {want}")
    predicted = torch.empty(len(perm), dtype=torch.long)
    predicted[perm] = logits.argmax(1)
    return predicted


def student_message(phase: str, err: dict, practical: Practical) -> str:
    """The error in the student's terms, with no path inside the grader's job folder. The data helpers'
    own advice (internet, MNIST_ROOT and the like) applies only on the student's machine and is left out."""
    kind, text = err.get("type", "Exception"), scrub(err.get("message", ""))
    if kind in DATA_ERRORS:
        text = f"{practical.data.title} could not be loaded"
    func = WORDS.get(phase, phase)
    if phase == "import":
        head = f"your code could not be imported: {kind}: {text}"
    elif kind == "NotImplementedError":
        return f"{func} is not implemented yet: {text}"
    else:
        head = f"{func} raised an error: {kind}: {text}"
    trace = scrub(err.get("trace") or "")
    return head + (f"\n{trace}" if trace else "")


def data_message(phase: str, err: dict, practical: Practical) -> str:
    """First sentence for code that loads the dataset itself instead of using the data it is given."""
    title, image = practical.data.title, ", ".join(map(str, practical.input))
    return (f"{WORDS.get(phase, phase)} loads {title} itself{where(err)}, and the grader has no network and "
            f"no {title} to load: use the train_set and valid_set that train() is given, e.g.\n"
            f"images, labels = as_tensors(train_set)  # (N, {image}), (N,)\n"
            "valid_images, valid_labels = as_tensors(valid_set)\n"
            f"(it raised {err.get('type', 'an error')}; load the data yourself only under "
            'if __name__ == "__main__": for your own runs)')


def cuda_message(phase: str, err: dict) -> str:
    """First sentence for code that needs a GPU (the error's own advice is for the student's machine)."""
    return (f"{WORDS.get(phase, phase)} uses CUDA{where(err)} and raised {err.get('type', 'an error')}: "
            "the grader has no GPU. Choose the device with torch.cuda.is_available(), or use the device of "
            "the model's parameters: `device = next(model.parameters()).device`")


class _Judge:
    """pytest plugin: gives the hidden checks their `ctx` and records each check's verdict. Once judging
    is past its time limit, the checks left get that verdict at once; a stopped grader stops judging."""

    def __init__(self, ctx: Context):
        self._ctx = ctx
        self.verdicts: dict[str, dict] = {}
        self.grader_errors: list[str] = []
        self.expired: JudgingTimeout | None = None
        self.stopped: BaseException | None = None  # Ctrl-C, or the sandbox's GraderStopped: raised again after

    @pytest.fixture
    def ctx(self) -> Context:
        if self.expired:
            raise StudentError(str(self.expired))
        return self._ctx

    def expire(self, _signum=None, _frame=None):
        """The time limit's signal handler: wherever judging is, it stops there."""
        self.expired = JudgingTimeout()
        raise self.expired

    def pytest_keyboard_interrupt(self, excinfo):
        if type(excinfo.value) is KeyboardInterrupt:  # not pytest's own Interrupted (a collection error)
            self.stopped = excinfo.value

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item, call):
        yield
        if call.when not in ("setup", "call"):
            return
        name = item.path.stem.removeprefix("test_")
        verdict = self.verdicts.setdefault(name, {"status": PASSED, "messages": []})
        exc = call.excinfo
        if exc is None:
            return
        if exc.errisinstance(sandbox.GraderStopped):
            self.stopped = exc.value
            item.session.shouldstop = str(exc.value)
        elif exc.errisinstance(JudgingTimeout):
            self.expired = exc.value
            verdict["status"] = ERROR
            verdict["messages"].append(str(exc.value))
        elif exc.errisinstance(Inconclusive):
            if verdict["status"] in (PASSED, FAILED):
                verdict["status"] = INCONCLUSIVE
            verdict["messages"].append(str(exc.value))
        elif exc.errisinstance(StudentError):
            if verdict["status"] != GRADER_ERROR:
                verdict["status"] = ERROR
            verdict["messages"].append(str(exc.value))
        elif exc.errisinstance(CheckFailed):
            if verdict["status"] == PASSED:
                verdict["status"] = FAILED
            verdict["messages"].extend(exc.value.messages)
        else:  # a bug or an unforeseen input in the check itself: the grader's failure, never the student's
            verdict["status"] = GRADER_ERROR
            verdict["messages"].append(GRADER_FAULT)
            self.grader_errors.append(f"{item.nodeid}: {''.join(traceback.format_exception(exc.value))}")


@contextmanager
def time_limit(seconds: float, expire):
    """Call `expire` (which raises) wherever this thread is after `seconds` (SIGALRM; only the main thread
    can take signals: elsewhere there is no limit, and the sizes the checks go through are bounded anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def judge(ctx: Context, names: list[str] | None = None) -> tuple[list[CheckResult], list[str]]:
    """The verdicts of the checks `names` (default: all), in grading.yml's order, and any grader errors.
    Judging stops at its time limit (those checks left say so) and on Ctrl-C (raised again here)."""
    names = list(ctx.config.checks) if names is None else [n for n in ctx.config.checks if n in names]
    if not names:
        return [], []
    plugin = _Judge(ctx)
    args = [*(str(CHECKS_DIR / f"test_{n}.py") for n in names), "-q", "-c", str(CHECKS_DIR / "pytest.ini"),
            "--rootdir", str(CHECKS_DIR), "--no-header", "-o", "console_output_style=classic",
            "--tb=no", "--assert=plain",  # verdicts come from the exceptions (_Judge): no traceback, no rewriting
            *(arg for plugin in UNUSED_PLUGINS for arg in ("-p", f"no:{plugin}"))]
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            with time_limit(JUDGING_SECONDS, plugin.expire):
                code = pytest.main(args, plugins=[plugin])  # the limit striking between checks: INTERNAL_ERROR
        finally:
            sys.stdout = stdout
    if plugin.stopped is not None:
        raise plugin.stopped
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED) and not plugin.expired:
        plugin.grader_errors.append(f"pytest could not run the hidden checks (exit {int(code)})")
    checks = []
    for name in names:
        spec = ctx.config.checks[name]
        v = plugin.verdicts.get(name)
        if v is None and plugin.expired:
            v = {"status": ERROR, "messages": [str(plugin.expired)]}
        elif v is None:
            plugin.grader_errors.append(f"no hidden check ran for '{name}'")
            v = {"status": GRADER_ERROR, "messages": [GRADER_FAULT]}
        messages = [scrub(m) for m in v["messages"]]  # whatever a check quotes, no job path reaches the student
        checks.append(CheckResult(name, spec.title_for(ctx.practical), v["status"], messages, spec.visibility))
    return checks, plugin.grader_errors
