"""One message per cause: what stopped the student's code, said once, with the likely fix.

The cause is the first phase that raised (or the phase in which the child was stopped). The checks it
blocks say only "not run: needs ..."; the cause and its fixes head feedback.md and results.json.
Fixes are recognised from the error and from the submitted source (read with `ast`, never run).
Nothing here lets a path inside the grader's job folder reach the student.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

from assignment.datasets import Dataset
from assignment.solution import API

from ..practical.phases import NEEDS
from ..practical.spec import Practical, fmt
from .results import ERROR, INCONCLUSIVE, CheckResult

NOT_RUN = "not run: needs"  # how a check that the cause stopped begins its one line
AVAILABLE = "torch, torchvision, numpy, the standard library and the assignment package"  # what cnn.py may import
_NO_MODULE = re.compile(r"No module named '([\w.]+)'")

# `File "/tmp/cnn-grader-x/<hex>/submission/cnn.py", line 12, in train` -> `cnn.py, line 12, in train`
_FRAME = re.compile(r'File "[^"]*/submission/cnn\.py", line (\d+)')
_JOB_CNN = re.compile(r'[^\s\'"(]*cnn-grader-[^\s\'"]*/submission/cnn\.py')
_JOB_LIB = re.compile(r'[^\s\'"(]*cnn-grader-[^\s\'"]*/lib/(assignment/\w+\.py)')
_JOB_PATH = re.compile(r'[^\s\'"(]*cnn-grader-[^\s\'")]*')

MAIN_GUARD = ('if __name__ == "__main__":\n    splits = {loader}()\n'
              '    train(build_model(), splits.train, splits.valid)')  # {loader}: the dataset's, as the handout names it
SCRIPT_CALLS = {"train", "load_mnist", "load_data", "load_raw", "show", "savefig", "plot_curves", "plot_filters", "plot_patches",
                "plot_digits", "main", "fit", "MNIST", "DataLoader", "build_model", "top_patches"}
DATA_WORDS = ("torchvision", "mnist", "cifar", "urllib", "urlopen")  # "mnist" is in FashionMNIST too
DATA_ERRORS = ("MNISTUnavailable", "DataUnavailable")  # what assignment.data raises
_CHANNELS = re.compile(r"expected input\[[^\]]*\] to have (\d+) channels, but got (\d+) channels")
SHAPE_WORDS = ("mat1 and mat2", "size mismatch", "expected 3d", "expected 4d", "is invalid for input of size",
               "expected input", "shapes cannot be multiplied", "must match the size")


def scrub(text: str) -> str:
    """`text` with every path inside the grader's job folder removed: the student's file is `cnn.py`."""
    text = _FRAME.sub(r"cnn.py, line \1", text)
    text = _JOB_CNN.sub("cnn.py", text)
    text = _JOB_LIB.sub(r"\1", text)  # the public helpers, as the student knows them
    return _JOB_PATH.sub("(the grader's folder)", text)


@dataclass
class Cause:
    """What stopped the student's code, once: the phase, what happened, and what to change."""
    phase: str
    message: str
    fixes: list[str] = field(default_factory=list)
    error: dict | None = None  # the phase's error as the child reported it; None when the child was stopped

    @property
    def not_run(self) -> str:
        return f"{NOT_RUN} {NEEDS.get(self.phase, self.phase)} (see the cause at the top)"

    def lines(self) -> list[str]:
        return [self.message, *self.fixes]


def top_level_calls(source: str) -> list[tuple[int, str]]:
    """(line, code) of each call at a module's top level, outside `if __name__ == "__main__":`, that looks
    like script code: training, loading data, plotting."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    found = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.If) and "__name__" in ast.unparse(node.test):
            continue
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                f = sub.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if name in SCRIPT_CALLS:
                    found.append((node.lineno, ast.get_source_segment(source, node) or name))
                    break
    return found


def _first_line(code: str) -> str:
    line = code.strip().splitlines()[0] if code.strip() else code
    return line if len(line) <= 80 else line[:77] + "..."


def script_fix(calls: list[tuple[int, str]], data: Dataset) -> str:
    line, code = calls[0]
    more = f", and {len(calls) - 1} more top-level call{'s' * (len(calls) > 2)}" if len(calls) > 1 else ""
    return (f"your cnn.py runs script code when it is imported (cnn.py, line {line}: `{_first_line(code)}`{more}): "
            "the grader imports cnn.py to call its functions, so the training and plotting must not run then. "
            f"Put the script part under a main guard:\n{MAIN_GUARD.format(loader=data.loader)}")


def loads_data(phase: str, err: dict) -> bool:
    """The error comes from loading a dataset (a helper, torchvision or a download) in the student's code."""
    low, trace = err.get("message", "").lower(), err.get("trace", "").lower()
    return err.get("type") in DATA_ERRORS or (phase != "import" and any(w in low or w in trace for w in DATA_WORDS))


def uses_cuda(err: dict) -> bool:
    low = err.get("message", "").lower()
    return "cuda" in low or "nvidia" in low


def where(err: dict) -> str:
    """` (cnn.py, line N: `code`)` for the deepest frame of the student's file in the error's trace."""
    found = re.findall(r"cnn\.py, line (\d+)[^\n]*\n\s*([^\n]+)", scrub(err.get("trace") or ""))
    return f" (cnn.py, line {found[-1][0]}: `{found[-1][1].strip()[:80]}`)" if found else ""


def error_fixes(phase: str, err: dict, memory_mb: int, processes: int, practical: Practical) -> list[str]:
    """Likely fixes recognised from an error the child reported."""
    kind, text = err.get("type", ""), err.get("message", "")
    low = text.lower()
    fixes = []
    data, batch = practical.data, "(B, " + ", ".join(map(str, practical.input)) + ")"
    if loads_data(phase, err):
        fixes.append("use the train_set and valid_set that train() is given (`images, labels = "
                     f"as_tensors(train_set)`): the grader has no network and no {data.title} to load; load the data "
                     "only under the main guard, for your own runs")
    if uses_cuda(err):
        fixes.append("the grader has no GPU: choose the device with torch.cuda.is_available(), or use the "
                     "device of the model's parameters")
    channels = _CHANNELS.search(text)
    if channels and int(channels[1]) != practical.input[0]:
        c = practical.input[0]
        fixes.append(f"the model is given {data.title} images, {fmt(practical.input)} (channels x height x width), "
                     f"in batches of shape {batch}, but its first convolution takes {channels[1]} input "
                     f"channel{'s' * (channels[1] != '1')}: give conv1 {c} (nn.Conv2d({c}, ...)) and size the "
                     "rest of the network for this input, as the handout does")
    elif any(w in low for w in SHAPE_WORDS):
        fixes.append(f"the model is given batches of shape {batch}: flatten with torch.flatten(x, 1), "
                     "which keeps the batch dimension, and give fc1 the flattened size")
    missing = [n for n in API if f"has no attribute '{n}'" in text]
    if kind == "AttributeError" and missing:
        fixes.append(f"cnn.py must define {', '.join(API)} at its top level, with these names; "
                     f"missing: {', '.join(missing)}")
    if kind == "MemoryError" or "can't allocate memory" in low:
        fixes.append(f"this hit the memory limit ({memory_mb} MB)")
    if kind == "BlockingIOError" or "resource temporarily unavailable" in low:
        fixes.append(f"this hit the process limit ({processes} processes)")
    module = _NO_MODULE.search(text)
    if kind in ("ModuleNotFoundError", "ImportError") and module:
        name = module[1].split(".")[0]
        fixes.append(f"the grader has {AVAILABLE}, and no `{name}`: remove the import of {name} from cnn.py "
                     "(print or the standard logging module can stand in for a logging library), or import it "
                     'only under `if __name__ == "__main__":`, for your own runs')
    return fixes


def same_cause(a: dict, b: dict) -> bool:
    """Two phases' errors with one cause: the same exception raised at the same line of cnn.py (the
    message may differ, e.g. by the batch size in a shape error)."""
    if a.get("type") != b.get("type"):
        return False
    if a.get("message") == b.get("message"):
        return True
    line_a, line_b = (re.findall(r"line (\d+)", x.get("trace") or "")[-1:] for x in (a, b))
    return bool(line_a) and line_a == line_b


def read_source(solution: str | Path | None) -> str:
    try:
        return Path(solution).read_text(errors="replace") if solution else ""
    except OSError:
        return ""


def one_message_per_cause(checks: list[CheckResult]) -> list[CheckResult]:
    """A cause that stopped several checks (an import error, a time limit) is told once, under the first;
    the later ones point back to it. The one line of a check that the cause at the top stopped already
    points there, and stays as it is."""
    first: dict[str, str] = {}
    for check in checks:
        if check.status not in (ERROR, INCONCLUSIVE):
            continue
        said = []
        for message in check.messages:
            if message.startswith(NOT_RUN):
                said.append(message)
            elif message in first:
                said.append(f"not run: the same cause as under '{first[message]}' above")
            else:
                first[message] = check.title
                said.append(message)
        check.messages = list(dict.fromkeys(said))
    return checks
