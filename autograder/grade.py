"""Grade one submission: run it in the sandbox, load what it returned, judge it, mark it.

prepare (job folder, data, hidden paths) -> run (sandbox) -> load (safe) -> judge (hidden pytest
checks, in this process) -> mark. Student code never runs in this process.
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pytest
import torch

import assignment
from assignment import data as mnist

from . import canonical, provenance, sandbox, shapes
from .config import DEFAULT_CACHE, Config
from .results import ERROR, FAILED, PASSED, CheckResult, GradeResult
from .submission import find_submission, hand_in, submission_sha

REPO = Path(__file__).resolve().parents[1]
CHECKS_DIR = Path(__file__).resolve().with_name("checks")
MAX_RESULTS_BYTES = 256 * 2**20
PHASE_WORDS = {
    "start": "start-up", "import": "importing cnn.py", "output_shape": "output_shape()",
    "build_model": "build_model()", "model_io": "the model's forward pass", "train": "train()",
    "inspect": "the forward pass on the probe images", "evaluate": "the forward pass on the test images",
    "top_patches": "top_patches()", "done": "the end",
}

PREREQUISITES = {"output_shape": ["import"], **{p: ["import", "build_model"] for p in (
    "model_io", "train", "inspect", "evaluate", "top_patches")}}


class StudentError(Exception):
    """The student's code raised, or never got as far as producing what a check needs."""


class CheckFailed(Exception):
    def __init__(self, messages: list[str]):
        super().__init__("\n".join(messages))
        self.messages = messages


def cached(file: Path, build):
    """The tensors and plain containers saved in `file`, else `build()`, saved there atomically first.
    A file that cannot be read is rebuilt."""
    if file.is_file():
        try:
            return torch.load(file, weights_only=True)
        except Exception:
            pass
    value = build()
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    torch.save(value, tmp)
    os.replace(tmp, file)
    return value


def grader_data(cache: Path = DEFAULT_CACHE) -> dict:
    """MNIST as uint8 tensors: the 50k/10k split of assignment.data, and the test set. Cached on disk."""
    def build():
        (train_x, train_y), (test_x, test_y) = mnist.load_raw()
        train_idx, valid_idx = mnist.split_indices(len(train_y))
        return {"train_x": train_x[train_idx], "train_y": train_y[train_idx], "valid_x": train_x[valid_idx],
                "valid_y": train_y[valid_idx], "test_x": test_x, "test_y": test_y}
    return cached(cache / "mnist-u8.pt", build)


def shape_cases(n: int, seed: int, cache: Path = DEFAULT_CACHE) -> list[dict]:
    """shapes.make_cases, cached on disk: torch's answers on meta tensors cost about a second, most of it
    importing sympy, and they depend only on (n, seed) and the torch version."""
    return cached(cache / f"shape-cases-{n}-{seed}-torch-{torch.__version__}.pt", lambda: shapes.make_cases(n, seed))


@dataclass
class Context:
    """Everything the hidden checks may look at. Built in the grader's process only."""
    config: Config
    res: dict  # what the child returned: claims, to verify
    outcome: sandbox.Outcome
    cases: list  # output_shape cases with torch's answers
    probe: torch.Tensor  # (8, 1, 28, 28) float
    test_images: torch.Tensor  # normalised, in the official order
    test_labels: torch.Tensor
    perm: torch.Tensor  # the order in which the child saw the test images
    patch_images: torch.Tensor
    notes: list = field(default_factory=list)

    # --- what the student's code did, phase by phase ---
    def death(self) -> str | None:
        """Why the child stopped before the end, in the student's terms; None if it finished."""
        o, phase = self.outcome, PHASE_WORDS.get(self.res.get("phase", "start"), "start-up")
        if self.res.get("phase") == "done" and not (o.timed_out or o.output_exceeded):
            return None
        lim = self.config.limits
        if o.timed_out:
            return f"time limit: your code was stopped after {lim.wall_seconds:g} s, during {phase}"
        if o.output_exceeded:
            return (f"output limit: your code printed more than {lim.output_kb} KB and was stopped, during {phase}; "
                    "print less (a line every log_every iterations is plenty)")
        if o.signal == signal.SIGXCPU:
            return f"CPU time limit: your code used more than {lim.cpu_seconds:g} s of CPU, during {phase}"
        if "MemoryError" in o.stderr or "can't allocate memory" in o.stderr:
            return f"memory limit: your code ran out of its {lim.memory_mb} MB, during {phase}"
        how = f"killed by signal {o.signal}" if o.signal else f"exit code {o.returncode}"
        return f"your code ended early ({how}) during {phase}: do not exit or kill the process"

    def require(self, phase: str, key: str):
        """The result `key` of `phase`, or StudentError saying why there is none: the phase's own error,
        else the error of a phase it depends on, else why the child stopped."""
        errors = self.res.get("errors", {})
        for name in (phase, *PREREQUISITES.get(phase, ())):
            if errors.get(name):
                raise StudentError(student_message(name, errors[name], self.config))
        if key not in self.res:
            raise StudentError(self.death() or f"{PHASE_WORDS.get(phase, phase)} produced nothing")
        return self.res[key]

    # --- verdicts shared by several checks ---
    @cached_property
    def weights(self) -> tuple[dict, list[str]]:
        return canonical.match_params(self.require("inspect", "params"))

    @cached_property
    def architecture_problems(self) -> list[str]:
        weights, problems = self.weights
        problems = problems + canonical.layer_problems(self.res.get("modules", []), self.res.get("records", []))
        if len(weights) == len(canonical.ROLES) and not problems:
            problems += canonical.behaviour_problems(weights, self.probe, self.res.get("records", []),
                                                     self.res.get("probe_out"))
        return problems

    @cached_property
    def accuracy(self) -> tuple[float, bool]:
        """(test accuracy, verified). Verified means computed here by the canonical network with the
        student's weights, which behaves exactly like theirs; else from the logits the child reported."""
        try:
            if not self.architecture_problems:
                logits = canonical.predict(self.weights[0], self.test_images)
                return (logits.argmax(1) == self.test_labels).float().mean().item(), True
        except StudentError:
            pass
        logits = self.require("evaluate", "test_logits")
        if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (len(self.perm), 10):
            raise StudentError(f"the model's output on the test images has shape "
                               f"{tuple(getattr(logits, 'shape', ()))}, expected ({len(self.perm)}, 10)")
        return (logits.argmax(1) == self.test_labels[self.perm]).float().mean().item(), False


def student_message(phase: str, err: dict, config: Config) -> str:
    kind, text = err.get("type", "Exception"), err.get("message", "")
    func = PHASE_WORDS.get(phase, phase)
    if phase == "import":
        head = f"your cnn.py could not be imported: {kind}: {text}"
    elif kind == "NotImplementedError":
        return f"{func} is not implemented yet: {text}"
    else:
        head = f"your {func} raised an error: {kind}: {text}"
    low = text.lower()
    if "cuda" in low or "nvidia" in low:
        head += (" -- the grader has no GPU: choose the device with torch.cuda.is_available(), or use the "
                 "device of the model's parameters")
    elif kind == "MemoryError" or "can't allocate memory" in low:
        head += f" -- this hit the memory limit ({config.limits.memory_mb} MB)"
    elif kind == "BlockingIOError" or "resource temporarily unavailable" in low:
        head += f" -- this hit the process limit ({config.limits.processes} processes)"
    if kind in ("ModuleNotFoundError", "ImportError") and ("reference" in low or "autograder" in low):
        head += " -- only torch, numpy, the standard library and the assignment package are available"
    trace = err.get("trace")
    return head + (f"\n{trace}" if trace else "")


class _Judge:
    """pytest plugin: gives the hidden checks their `ctx` and records each check's verdict."""

    def __init__(self, ctx: Context):
        self._ctx = ctx
        self.verdicts: dict[str, dict] = {}
        self.grader_errors: list[str] = []

    @pytest.fixture
    def ctx(self) -> Context:
        return self._ctx

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
        if exc.errisinstance(StudentError):
            verdict["status"] = ERROR
            verdict["messages"].append(str(exc.value))
        elif exc.errisinstance(CheckFailed):
            if verdict["status"] != ERROR:
                verdict["status"] = FAILED
            verdict["messages"].extend(exc.value.messages)
        else:
            verdict["status"] = ERROR
            verdict["messages"].append("the grader could not run this check (not your fault); "
                                       "your instructor has been told")
            self.grader_errors.append(f"{item.nodeid}: {''.join(traceback.format_exception(exc.value))}")


def judge(ctx: Context) -> tuple[list[CheckResult], list[str]]:
    plugin = _Judge(ctx)
    args = [str(CHECKS_DIR), "-q", "-p", "no:cacheprovider", "-c", str(CHECKS_DIR / "pytest.ini"),
            "--rootdir", str(CHECKS_DIR), "--no-header", "-o", "console_output_style=classic"]
    with open(os.devnull, "w") as quiet:
        stdout, sys.stdout = sys.stdout, quiet
        try:
            code = pytest.main(args, plugins=[plugin])
        finally:
            sys.stdout = stdout
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        plugin.grader_errors.append(f"pytest could not run the hidden checks (exit {int(code)})")
    checks = []
    for name, spec in ctx.config.checks.items():
        v = plugin.verdicts.get(name)
        if v is None:
            plugin.grader_errors.append(f"no hidden check ran for '{name}'")
            v = {"status": ERROR, "messages": ["the grader could not run this check (not your fault)"]}
        checks.append(CheckResult(name, spec.title, v["status"], v["messages"], spec.visibility))
    return checks, plugin.grader_errors


def mark_for(checks: list[CheckResult], config: Config) -> str | None:
    passed = {c.name for c in checks if c.passed}
    return next((m for m, needed in config.marks.items() if set(needed) <= passed), None)


def installed_copies() -> list[Path]:
    """Where else this project is installed: the student's interpreter could import the reference or
    the checks from there (a copy in site-packages, or an editable install of another checkout)."""
    found = []
    for name in ("reference", "autograder"):
        spec = importlib.util.find_spec(name)
        if spec and spec.origin:
            found.append(Path(spec.origin).parent)
    try:
        dist = importlib.metadata.distribution("cnn-practical")
    except importlib.metadata.PackageNotFoundError:
        return found
    url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
    if url.startswith("file://"):  # an editable install points at its checkout
        root = Path(url.removeprefix("file://"))
        found += [root / "reference", root / "autograder", root / "tests", root / ".git", root / "grading.yml"]
    for file in dist.files or []:
        if file.parts and file.parts[0] in ("reference", "autograder"):
            found.append(Path(dist.locate_file(file)).parent)
    return [p for p in found if p.is_absolute()]


SYSTEM_DIRS = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "dev", "sys", "run", "var"}


def python_dirs() -> list[Path]:
    """What the child's interpreter needs: the venv, the base installation, the real executable's home."""
    exe = Path(sys.executable).resolve()
    return sorted({Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)} | {exe.parents[1]})


def everything_else(needed: list[Path], top: Path = Path("/")) -> list[Path]:
    """Every folder and file outside the system folders and `needed`: other checkouts of this project,
    other students' work, caches. Ancestors of what is needed are opened one level at a time."""
    out = []
    try:
        children = sorted(top.iterdir())
    except OSError:
        return out
    for child in children:
        if child.is_symlink() or (top == Path("/") and child.name in SYSTEM_DIRS):
            continue  # a mount would follow the link; system folders stay visible
        if any(n == child or child in n.parents for n in needed):
            if not any(n == child for n in needed):
                out += everything_else(needed, child)
        else:
            out.append(child)
    return out


def hidden_paths(extra: list[Path], job_base: Path) -> list[Path]:
    """What the child must not see: everything but Python and its own job folder, and by name the
    reference, the checks, the config, the data and the output (in case they sit under a kept folder)."""
    keep = [*python_dirs(), job_base.resolve()]
    candidates = [REPO / "reference", REPO / "autograder", REPO / "tests", REPO / ".git", REPO / "grading.yml",
                  Path(__file__).resolve().parent, mnist.DEFAULT_ROOT.parent, DEFAULT_CACHE, *extra]
    if os.environ.get("MNIST_ROOT"):
        candidates.append(Path(os.environ["MNIST_ROOT"]))
    candidates += installed_copies() + everything_else(keep)
    out = []
    for path in sorted({p.resolve() for p in candidates if p.exists()}, key=lambda p: len(p.parts)):
        if any(k == path or path in k.parents for k in keep):
            continue  # hiding it would hide the interpreter or the job folder
        if any(o == path or o in path.parents for o in out):
            continue  # already under a hidden folder
        out.append(path)
    return out


def prepare_job(code: bytes, config: Config, data: dict, cases: list, threads: int,
                uid: int | None) -> tuple[Path, dict]:
    """A private folder with the submission's code as cnn.py, the public helpers, the child script and its inputs."""
    base = Path(tempfile.mkdtemp(prefix="cnn-grader-"))
    base.chmod(0o711)  # others may enter but not list: the job folder's name is the secret
    job = base / secrets.token_hex(12)
    (job / "lib" / "assignment").mkdir(parents=True)
    for sub in ("home", "tmp", "submission"):
        (job / sub).mkdir()
    (job / "submission" / "cnn.py").write_bytes(code)
    pkg = Path(assignment.__file__).parent
    for py in ("__init__.py", "data.py", "solution.py", "plots.py"):
        if (pkg / py).is_file():
            shutil.copy(pkg / py, job / "lib" / "assignment" / py)
    shutil.copy(Path(__file__).with_name("child.py"), job / "child.py")

    order_seed = secrets.randbits(62)  # fresh for every grading; recorded once the child has ended
    perm = torch.randperm(len(data["test_y"]), generator=torch.Generator().manual_seed(order_seed))
    tp = config.top_patches
    spec = {
        "solution": str(job / "submission" / "cnn.py"), "results_name": f"res-{secrets.token_hex(8)}.pt",
        "threads": threads, "seed": config.training.seed, "iterations": config.training.iterations,
        "log_every": config.training.log_every, "filters": list(tp.filters), "k": tp.k,
        "shape_cases": [{k: v for k, v in c.items() if k != "expected"} for c in cases],
        "train_x": data["train_x"], "train_y": data["train_y"], "valid_x": data["valid_x"],
        "valid_y": data["valid_y"], "test_x": data["test_x"][perm], "patch_x": data["test_x"][:tp.images],
        "probe_x": probe_images(data),
    }
    torch.save(spec, job / "job.pt")
    if uid is not None:
        for root, dirs, files in os.walk(job):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, uid, uid)
    return job, {"perm": perm, "results": job / spec["results_name"], "base": base, "probe": spec["probe_x"],
                 "order_seed": order_seed}


def probe_images(data: dict) -> torch.Tensor:
    """Inputs on which the student's model and the canonical one must agree: 4 digits and 4 noise images."""
    digits = mnist.normalise(data["valid_x"][:4])
    noise = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    return torch.cat([digits, noise])


def load_results(path: Path) -> tuple[dict, str | None]:
    """The child's results, through torch's safe loader only (tensors and plain containers)."""
    if not path.is_file():
        return {}, None
    if path.stat().st_size > MAX_RESULTS_BYTES:
        return {}, f"the results file is larger than {MAX_RESULTS_BYTES >> 20} MB and was not read"
    try:
        res = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # any unpickling refusal or corruption
        return {}, f"the results file could not be read safely ({type(err).__name__}); it was not trusted"
    if not isinstance(res, dict) or not isinstance(res.get("errors", {}), dict):
        return {}, "the results file does not hold what the grader wrote there; it was not trusted"
    return res, None


def grade(submission: str | Path, config: Config, *, cache: Path = DEFAULT_CACHE, hide: list[Path] = (),
          threads: int | None = None) -> tuple[GradeResult, dict]:
    """Grade one submission. Returns the result and the artefacts the reports draw from."""
    start = time.monotonic()
    solution = find_submission(submission)  # a cnn.py, or a notebook whose definitions are graded as one
    handed_in = hand_in(solution)
    result = GradeResult(str(submission), submission_sha(solution), notes=handed_in.notes)
    data = grader_data(cache)
    level = sandbox.available_level()
    uid = sandbox.new_uid() if level == "root" else None
    threads = threads or max(1, min(4, len(os.sched_getaffinity(0))))
    cases = shape_cases(config.output_shape.cases, config.output_shape.seed, cache)
    job, keep = prepare_job(handed_in.code, config, data, cases, threads, uid)
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
    ctx = Context(config, res, outcome, cases, keep["probe"], test_images, data["test_y"], keep["perm"], test_images[:config.top_patches.images])
    result.checks, grader_errors = judge(ctx)
    result.mark = mark_for(result.checks, config)
    try:
        result.test_accuracy, result.accuracy_verified = ctx.accuracy
    except StudentError:
        pass
    result.isolation = outcome.isolation
    result.provenance = provenance.collect(config, threads=threads, test_order_seed=keep["order_seed"])
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
