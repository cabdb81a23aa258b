"""`python -m autograder otter`: an otter-grader zip whose `otter run` gives our grader's checks and mark.

otter runs a .py submission as a cell of its own kernel; the zip's plugin keeps the submission out of
it, so the student's code only ever runs in our sandbox. Importing otter raises DeprecationWarnings
(traitlets, via ipylab), hence the filter on the tests that import it.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from contextlib import redirect_stdout
from pathlib import Path

import pytest
import yaml

from autograder.practical.config import load_config, load_raw, resolved_yaml
from autograder.integrations.otter_zip import ok_test_files
from specs import TINY

ROOT = Path(__file__).resolve().parents[2]
CONFIG = TINY  # the pipeline, not the marks: the shortest budget
IGNORE_OTTERS_WARNINGS = pytest.mark.filterwarnings("ignore::DeprecationWarning")
# A submission that, run in otter's kernel, would make every check's doctest print what it expects.
PRINT_PATCH = '''
import builtins, sys
builtins.print = lambda *args, **kwargs: sys.stdout.write("passed\\n")
'''


@pytest.fixture(scope="module")
def otter_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("otter") / "autograder.zip"
    proc = subprocess.run([sys.executable, "-m", "autograder", "otter", str(out), "--config", str(CONFIG)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return out


def otter_run(zip_path: Path, submission: Path, out: Path, mnist_root: Path) -> dict:
    """`otter run` as an instructor runs it; returns otter's results.json."""
    out.mkdir()
    env = {**os.environ, "MNIST_ROOT": str(mnist_root)}
    proc = subprocess.run([sys.executable, "-m", "otter", "run", "-a", str(zip_path), "-o", str(out), "--no-logo",
                           str(submission)], env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


def our_grade(submission: Path, out: Path, mnist_root: Path) -> dict:
    env = {**os.environ, "MNIST_ROOT": str(mnist_root)}
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submission), "--out", str(out),
                           "--config", str(CONFIG)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text())


def otter_outcomes(results: dict) -> tuple[dict[str, bool], str | None]:
    """({check: passed}, mark) from otter's results: a test passed when all its cases did."""
    passed = {t["name"]: t["output"].startswith(f"{t['name']} results: All test cases passed!")
              for t in results["tests"]}
    points = load_config(CONFIG).points
    score = sum(t["score"] for t in results["tests"])
    mark = next((m for m, p in points.items() if score == p), None) if score else None
    assert passed.pop("mark") == (mark == "S+")
    return passed, mark


def submission(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "sub" / "cnn.py"
    path.parent.mkdir()
    path.write_text(source)
    return path


# --- the zip ---------------------------------------------------------------------------------------

def test_one_test_per_check_and_one_for_the_mark():
    config = load_config(CONFIG)
    files = ok_test_files(config)
    assert list(files) == [f"check_{i}_{name}.py" for i, name in enumerate(config.checks, 1)] + ["mark.py"]
    for name, spec in config.checks.items():
        env = {}
        exec(files[f"check_{list(config.checks).index(name) + 1}_{name}.py"], env)
        (case,) = env["test"]["suites"][0]["cases"]
        assert env["OK_FORMAT"] and env["test"]["name"] == name and env["test"]["points"] == 0
        assert case["code"] == f">>> cnn_grade.check({name!r})\npassed\n"
        assert case["hidden"] == (spec.visibility != "visible")


@IGNORE_OTTERS_WARNINGS
def test_otter_reads_the_mark_test_as_grading_yml_scores_it(tmp_path):
    from otter.test_files import OKTestFile

    config = load_config(CONFIG)
    path = tmp_path / "mark.py"
    path.write_text(ok_test_files(config)["mark.py"])
    test = OKTestFile.from_file(str(path))
    assert [c.points for c in test.test_cases] == [config.points["S"], config.points["S+"] - config.points["S"]]
    assert test.possible == config.points["S+"]


def test_zip_carries_the_grader_and_no_solution(otter_zip):
    with zipfile.ZipFile(otter_zip) as zf:
        names = set(zf.namelist())
        texts = {n: zf.read(n).decode() for n in names}
    assert {"run_autograder", "setup.sh", "environment.yml", "otter_config.json", "run_otter.py"} <= names
    assert yaml.safe_load(texts["grading.yml"]) == load_raw(CONFIG)  # self-contained: its base merged in
    checks = {f"autograder/judging/checks/{p.name}" for p in (ROOT / "autograder" / "judging" / "checks").iterdir() if p.is_file()}
    assert checks <= names and "autograder/__main__.py" in names
    assert {f"assignment/{n}" for n in ("__init__.py", "data.py", "solution.py", "plots.py")} <= names
    assert not [n for n in names if n.startswith(("reference/", "autograder/release/templates/")) or n.endswith("cnn.py")]
    reference = (ROOT / "reference" / "cnn.py").read_text()
    assert reference not in texts.values()
    assert json.loads(texts["otter_config.json"])["plugins"] == ["autograder.integrations.otter_plugin.GradeInSandbox"]
    pip = next(d["pip"] for d in yaml.safe_load(texts["environment.yml"])["dependencies"] if isinstance(d, dict))
    assert {"torch==2.14.1", "torchvision==0.29.1", "--extra-index-url https://download.pytorch.org/whl/cpu",
            "otter-grader[grading,plugins]==7.0.0"} <= set(pip)


# --- the plugin's grading helper, with a stand-in grader ----------------------------------------------

FAKE_GRADER = '''
import json, pathlib, sys
args = sys.argv[1:]
calls = pathlib.Path(__file__).with_name("calls.txt")
calls.write_text((calls.read_text() if calls.exists() else "") + args[1] + "\\n")
if "crash" in pathlib.Path(args[1]).read_text():
    sys.exit(2)
out = pathlib.Path(args[args.index("--out") + 1])
out.mkdir(parents=True)
(out / "results.json").write_text(json.dumps(%s))
'''


@pytest.fixture()
def graded(tmp_path):
    """otter's layout, AG/submission/cnn.py and AG/source, with a stand-in for `python -m autograder`."""
    config = load_config(CONFIG)
    checks = {name: "passed" for name in config.checks} | {"top_patches": "failed"}
    results = {"extra_data": {"checks": checks, "mark": "S"}, "output": "Mark: S.",
               "tests": [{"name": config.checks["top_patches"].title, "output": "patch 3 is off by one row"}]}
    source = tmp_path / "source"
    (source / "autograder").mkdir(parents=True)
    (source / "autograder" / "__init__.py").write_text("")
    (source / "autograder" / "__main__.py").write_text(FAKE_GRADER % json.dumps(results))
    (source / "grading.yml").write_text(resolved_yaml(CONFIG))
    (tmp_path / "submission").mkdir()
    return tmp_path


def printed(fn, *args) -> str:
    with redirect_stdout(io.StringIO()) as buf:
        fn(*args)
    return buf.getvalue()


@IGNORE_OTTERS_WARNINGS
def test_helper_grades_each_submission_once_and_reports_checks_and_marks(graded):
    from autograder.integrations.otter_plugin import GradedSubmission

    sub = graded / "submission" / "cnn.py"
    sub.write_text("# v1\n")
    first = GradedSubmission(str(sub), str(graded / "source"))
    assert printed(first.check, "output_shape") == "passed\n"
    assert printed(first.check, "top_patches") == \
        "failed: top_patches matches the grader's\npatch 3 is off by one row\n"
    second = GradedSubmission(str(sub), str(graded / "source"))  # another test file, same submission
    assert printed(second.has_mark, "S") == "S reached\n"
    assert printed(second.has_mark, "S+") == "S+ not reached: the mark is S. Mark: S.\n"
    calls = graded / "source" / "autograder" / "calls.txt"
    assert calls.read_text().splitlines() == [str(sub)]
    sub.write_text("# v2\n")  # a new submission is graded anew
    printed(GradedSubmission(str(sub), str(graded / "source")).check, "model_io")
    assert len(calls.read_text().splitlines()) == 2


@IGNORE_OTTERS_WARNINGS
def test_helper_reports_a_grader_failure_as_such(graded):
    from autograder.integrations.otter_plugin import GradedSubmission, GraderFailed

    sub = graded / "submission" / "cnn.py"
    sub.write_text("# crash\n")
    with pytest.raises(GraderFailed, match=r"the grader failed \(exit 2; not your fault\)"):
        GradedSubmission(str(sub), str(graded / "source")).check("model_io")


# --- otter run, end to end -------------------------------------------------------------------------

def test_otter_run_on_the_stub_matches_grade(otter_zip, tmp_path, mnist_root):
    sub = submission(tmp_path, (ROOT / "assignment" / "cnn.py").read_text())
    results = otter_run(otter_zip, sub, tmp_path / "otter", mnist_root)
    ours = our_grade(sub, tmp_path / "ours", mnist_root)["extra_data"]
    passed, mark = otter_outcomes(results)
    assert passed == {name: status == "passed" for name, status in ours["checks"].items()}
    assert mark is None and ours["mark"] is None
    assert "is not implemented yet" in results["output"]  # our feedback.md, as otter's output


def test_submission_never_runs_in_otters_kernel(otter_zip, tmp_path, mnist_root):
    """In the kernel the patch would make every check print "passed"; in our sandbox it changes nothing."""
    sub = submission(tmp_path, (ROOT / "assignment" / "cnn.py").read_text() + PRINT_PATCH)
    passed, mark = otter_outcomes(otter_run(otter_zip, sub, tmp_path / "otter", mnist_root))
    assert not any(passed.values()) and mark is None


@pytest.mark.slow
def test_otter_run_on_the_reference_matches_grade(otter_zip, tmp_path, mnist_root):
    sub = submission(tmp_path, (ROOT / "reference" / "cnn.py").read_text())
    results = otter_run(otter_zip, sub, tmp_path / "otter", mnist_root)
    ours = our_grade(sub, tmp_path / "ours", mnist_root)["extra_data"]
    passed, mark = otter_outcomes(results)
    assert passed == {name: status == "passed" for name, status in ours["checks"].items()}
    assert mark == ours["mark"] == "S+", results["output"]
    assert sum(t["score"] for t in results["tests"]) == load_config(CONFIG).points["S+"]
