"""One message per cause: the cause found once, the checks it blocks saying only "not run", fixes recognised
from the error and the source, and no path inside the grader's job folder."""
import torch

from autograder.judging import causes
from autograder.reports import report
from autograder.practical.config import load_config
from autograder.judging.context import Context, judge
from autograder.judging.results import GradeResult
from autograder.sandbox.isolation import Outcome
from specs import FAST

PRACTICAL = load_config(FAST).practical

JOB = "/tmp/cnn-grader-k2j4_x/0123456789abcdef01234567/submission/cnn.py"
SCRIPT = '''import torch
from assignment.data import load_mnist

def train(model, train_set, valid_set, iterations=10, log_every=5):
    return []

splits = load_mnist()
history = train(None, splits.train, splits.valid)

if __name__ == "__main__":
    train(None, None, None)
'''


def context(res: dict, source: str = "", outcome: Outcome | None = None) -> Context:
    empty = torch.zeros(0, 1, 28, 28)
    config = load_config(FAST)
    return Context(config, config.practical, res, outcome or Outcome(0), cases=[], probe=empty, test_images=empty,
                   test_labels=torch.zeros(0, dtype=torch.long), perm=torch.zeros(0, dtype=torch.long),
                   patch_images=empty, source=source)


def test_scrub_leaves_no_job_path():
    text = (f'File "{JOB}", line 7, in <module>\n'
            f"No MNIST under /tmp/cnn-grader-k2j4_x/0123/home/.cache/cnn-practical/mnist (x)\n"
            f"invalid syntax ({JOB}, line 3)\n"
            "cannot import name 'x' from 'assignment.data' (/tmp/cnn-grader-k2j4_x/0123/lib/assignment/data.py)")
    clean = causes.scrub(text)
    assert "cnn-grader-" not in clean and "/submission/" not in clean
    assert "cnn.py, line 7, in <module>" in clean and "(cnn.py, line 3)" in clean
    assert "'assignment.data' (assignment/data.py)" in clean


def test_top_level_calls_skip_definitions_imports_and_the_main_guard():
    calls = causes.top_level_calls(SCRIPT)
    assert [line for line, _ in calls] == [7, 8]
    assert causes.top_level_calls("def f(:\n") == []  # a syntax error is reported elsewhere


def test_a_script_without_main_guard_is_said_once_with_the_fix():
    err = {"type": "MNISTUnavailable", "message": "Downloading MNIST into /tmp/cnn-grader-k2j4_x/a/home failed. "
           "Check your internet connection, or point MNIST_ROOT at it",
           "trace": f'  File "{JOB}", line 7, in <module>\n    splits = load_mnist()'}
    ctx = context({"phase": "done", "errors": {"import": err}}, SCRIPT)
    checks, grader_errors = judge(ctx)
    assert not grader_errors
    assert all(c.messages == ["not run: needs import (see the cause at the top)"] for c in checks), checks
    first, *fixes = ctx.cause.lines()
    assert first.startswith("your cnn.py runs script code when it is imported (cnn.py, line 7")
    assert 'if __name__ == "__main__":' in first
    feedback = report.feedback_md(GradeResult("cnn.py", "", checks=checks, cause=ctx.cause.lines()))
    for leak in ("cnn-grader-", "internet", "MNIST_ROOT"):
        assert leak not in feedback
    assert feedback.count("runs script code when it is imported") == 1


def test_train_that_loads_mnist_is_told_to_use_the_given_sets():
    err = {"type": "MNISTUnavailable", "message": "Check your internet connection",
           "trace": f'  File "{JOB}", line 40, in train\n    splits = load_mnist()'}
    ctx = context({"phase": "done", "errors": {"train": err}, "optimizer_steps": 0})
    assert ctx.cause.message.startswith("train() loads MNIST itself (cnn.py, line 40: `splits = load_mnist()`)")
    assert "use the train_set and valid_set that train() is given" in ctx.cause.message
    assert "internet" not in " ".join(ctx.cause.lines())


def test_a_time_limit_in_train_is_said_once():
    res = {"phase": "train", "errors": {}, "output_shape": [], "model_io": {1: [1, 10], 7: [7, 10]}}
    ctx = context(res, outcome=Outcome(-9, timed_out=True))
    checks, _ = judge(ctx)
    assert ctx.cause.phase == "train" and ctx.cause.message.startswith("time limit")
    texts = [m for c in checks for m in c.messages]
    assert not any("time limit" in m for m in texts)
    assert {c.name for c in checks if c.messages == [ctx.cause.not_run]} == {
        "architecture", "training", "accuracy_s", "accuracy", "top_patches"}


def test_fixes_recognised_from_the_error():
    def fixes(kind, message):
        return " ".join(causes.error_fixes("train", {"type": kind, "message": message}, 8192, 64, PRACTICAL))
    assert "no GPU" in fixes("AssertionError", "Torch not compiled with CUDA enabled")
    assert "torch.flatten(x, 1)" in fixes("RuntimeError", "mat1 and mat2 shapes cannot be multiplied (1x51200)")
    assert "missing: train" in fixes("AttributeError", "module 'assignment.cnn' has no attribute 'train'")
    assert fixes("ValueError", "bad value") == ""


def test_a_phase_stopped_on_a_starved_machine_is_a_regrade_not_the_student_s():
    starved = context({"phase": "import", "errors": {}}, outcome=Outcome(-9, phase_timeout="import", phase_starved=True))
    assert starved.death().startswith("regrade: the machine was too busy: importing cnn.py took more than its")
    plain = context({"phase": "import", "errors": {}}, outcome=Outcome(-9, phase_timeout="import"))
    assert plain.death().startswith("time limit: importing cnn.py took more than its") and not plain.outcome.overloaded
