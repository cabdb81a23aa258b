"""What a new student meets: a notebook checked and run on their own machine as the grader takes it, one
cause said once, feedback.md without the sandbox's internals, Gradescope's mark words that promise only
what it shows, public checks that lead with their hint, and a handout whose example meets the budget."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import torch

from autograder.reports import report
from autograder.practical.config import load_config
from autograder.judging.causes import one_message_per_cause
from autograder.judging.context import Context, judge
from autograder.judging.results import FAILED, PASSED, CheckResult, GradeResult
from autograder.sandbox.isolation import Outcome
from test_notebook_grading import recipe_notebook
from specs import FAST

ROOT = Path(__file__).resolve().parents[2]
STUB = ROOT / "assignment" / "cnn.py"
RECIPE = ROOT / "tests" / "catalogue" / "files" / "handout_recipe.py"
SANDBOX_WORDS = ("parent-death", "covered by empty mounts", "hidden_paths", "namespace", "capabilities")


def student_env(mnist_root: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("CNN_SOLUTION", "PYTEST_ADDOPTS")}
    return {**env, "MNIST_ROOT": str(mnist_root), "PYTHONPATH": str(ROOT)}


def context(res: dict) -> Context:
    empty = torch.zeros(0, 1, 28, 28)
    config = load_config(FAST)
    return Context(config, config.practical, res, Outcome(0), cases=[], probe=empty, test_images=empty,
                   test_labels=torch.zeros(0, dtype=torch.long), perm=torch.zeros(0, dtype=torch.long),
                   patch_images=empty)


# --- a notebook, on the student's side ----------------------------------------------------------------

def test_a_notebook_is_checked_by_the_public_checks_and_run_by_the_driver(tmp_path, mnist_root):
    marker = tmp_path / "top-level-ran"
    notebook = tmp_path / "work" / "cnn.ipynb"
    notebook.parent.mkdir()
    nbformat.write(recipe_notebook(marker), notebook)
    env = student_env(mnist_root)
    checks = subprocess.run([sys.executable, "-m", "pytest", "assignment/tests", "-p", "no:cacheprovider",
                             "--solution", str(notebook.parent), "-k", "practical_layers or parameter_count"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = checks.stdout + checks.stderr
    assert checks.returncode == 0, output
    assert f"solution under test: {notebook}" in output and "5 passed" in output, output
    assert "Left out cell 2, line 1: `%matplotlib inline`: a magic." in output, output
    assert "a loop at top level: the grader runs your train() itself" in output, output

    quick = tmp_path / "student"  # a quick run from the student's own folder: out/ stays as it was
    (quick / "out").mkdir(parents=True)
    (quick / "out" / "summary.json").write_text("the hand-in's")
    driver = subprocess.run([sys.executable, "-m", "assignment", "--solution", str(notebook), "--iterations", "2",
                             "--log-every", "1", "--filters", "0"], cwd=quick, env=env, capture_output=True,
                            text=True, timeout=300)
    assert driver.returncode == 0, driver.stdout[-3000:] + driver.stderr[-3000:]
    assert "Left out cell 2, line 1: `%matplotlib inline`: a magic." in driver.stdout
    assert json.loads((quick / "out-quick" / "summary.json").read_text())["iterations"] == 2
    assert (quick / "out" / "summary.json").read_text() == "the hand-in's"
    assert not marker.exists(), "the notebook's top-level training ran"


def test_train_is_checked_on_a_stand_in_while_build_model_is_unwritten(tmp_path, mnist_root):
    """The stub with the recipe's train() and a top_patches() that returns zeros: train()'s checks pass
    on a stand-in network, and the failing patch check starts with its hint, no tensor reprs above it."""
    stub, recipe = STUB.read_text(), RECIPE.read_text()
    train = next(ast.get_source_segment(recipe, n) for n in ast.parse(recipe).body
                 if getattr(n, "name", "") == "train")
    helpers = "\n\n".join(ast.get_source_segment(recipe, n) for n in ast.parse(recipe).body
                          if getattr(n, "name", "") == "accuracy" or isinstance(n, ast.Import)
                          or isinstance(n, ast.ImportFrom) and n.module != "__future__")
    tree = ast.parse(stub)
    stub_train = next(n for n in tree.body if getattr(n, "name", "") == "train")
    stub_patches = next(n for n in tree.body if getattr(n, "name", "") == "top_patches")
    lines = stub.splitlines()
    source = "\n".join(lines[:stub_train.lineno - 1] + [helpers, "", train, "", ""] +
                       lines[stub_train.end_lineno:stub_patches.lineno - 1] +
                       ["def top_patches(model, images, filters, k=12):",
                        "    size = model.conv1.kernel_size",
                        "    return torch.zeros(len(filters), k, *size)", ""])
    (tmp_path / "cnn.py").write_text(source)
    proc = subprocess.run([sys.executable, "-m", "pytest", "assignment/tests", "-p", "no:cacheprovider",
                           "--solution", str(tmp_path / "cnn.py"), "-k", "train or top_patches"],
                          cwd=ROOT, env=student_env(mnist_root), capture_output=True, text=True, timeout=300)
    output = proc.stdout + proc.stderr
    assert "1 failed, 7 passed" in output, output  # the six train checks and the patches' shape pass
    failure = output.split("test_top_patches_are_conv1_windows ___", 1)[1]
    assert failure.lstrip("_ \n").startswith("top_patches: patch 0 of filter 0 is not the input window"), failure
    assert "tensor(" not in output and "where" not in failure.split("Try:")[0], output


# --- one cause, said once -----------------------------------------------------------------------------

def import_error_feedback() -> tuple[str, list[CheckResult]]:
    err = {"type": "ModuleNotFoundError", "message": "No module named 'loguru'",
           "trace": '  File "/tmp/cnn-grader-x/0/submission/cnn.py", line 3, in <module>\n    import loguru'}
    ctx = context({"phase": "done", "errors": {"import": err}})
    checks, grader_errors = judge(ctx)
    assert not grader_errors
    checks = one_message_per_cause(checks)
    result = GradeResult("cnn.py", "", checks=checks, cause=ctx.cause.lines(),
                         isolation={"level": "root", "hidden_paths": "102 paths covered by empty mounts",
                                    "grader_stopped": "a parent-death signal kills the sandbox"})
    return report.feedback_md(result), result


def test_a_cause_at_import_is_said_once_and_the_checks_it_stopped_in_one_line():
    feedback, result = import_error_feedback()
    assert feedback.count("No module named 'loguru'") == 1, feedback
    assert "the same cause as under" not in feedback, feedback
    stopped = [line for line in feedback.splitlines() if "not run: needs import" in line]
    assert len(stopped) == 1 and all(c.title in stopped[0] for c in result.checks), feedback
    assert "the grader has torch, torchvision, numpy, the standard library" in feedback


def test_feedback_md_leaves_the_sandbox_to_results_json_and_the_report():
    feedback, result = import_error_feedback()
    assert not [w for w in SANDBOX_WORDS if w in feedback], feedback
    extra = report.gradescope(result, load_config(FAST))["extra_data"]
    assert extra["isolation"]["hidden_paths"] == "102 paths covered by empty mounts"
    from autograder.reports.report_page import report_html
    assert "parent-death signal" in report_html(result, {})


# --- Gradescope: the words promise only what it shows ---------------------------------------------------

def test_a_held_back_failing_check_is_not_promised_below():
    config = load_config(FAST)
    checks = [CheckResult(name, spec.title, PASSED, [], spec.visibility) for name, spec in config.checks.items()]
    patches = next(c for c in checks if c.name == "top_patches")
    assert patches.visibility == "after_published"  # grading.yml's: otherwise this test shows nothing
    patches.status, patches.messages = FAILED, ["patch 3 of filter 0 is not the grader's"]
    out = report.gradescope(GradeResult("cnn.py", "", mark="S", checks=checks), config)
    words = [out["output"], out["tests"][0]["output"]]
    for text in words:
        assert "Fix what is listed below" not in text, text
        assert f'the check "{patches.title}" must pass too: its details are shown once grades are published' in text


# --- the handout's example meets the grading budget -----------------------------------------------------

def test_the_stubs_train_and_the_driver_default_to_the_grading_budget():
    from assignment.__main__ import FULL_ITERATIONS

    budget = load_config().training.iterations
    train = next(n for n in ast.parse(STUB.read_text()).body if getattr(n, "name", "") == "train")
    defaults = {a.arg: d.value for a, d in zip(train.args.kwonlyargs, train.args.kw_defaults)}
    assert defaults["iterations"] == budget == FULL_ITERATIONS
