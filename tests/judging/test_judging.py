"""Who is to blame: a check that crashes is the grader's failure, a missing cnn.py the student's, and any
other missing file the grader's (exit 2, retried by grade-all), never "your code raised an error"."""
import json
import time
from pathlib import Path

import pytest
import torch

from autograder.judging import canonical, context as judging
from autograder import cli
from autograder.grading import grade
from autograder.reports import report
from autograder.practical.config import load_config
from autograder.judging.context import Context, judge
from autograder.judging.results import ERROR, GRADER_ERROR, GradeResult
from autograder.sandbox.isolation import Outcome
from specs import FAST



def bare_context(res: dict) -> Context:
    config = load_config(FAST)
    empty = torch.zeros(0, 1, 28, 28)
    return Context(config, config.practical, res, Outcome(0), cases=[], probe=empty, test_images=empty,
                   test_labels=torch.zeros(0, dtype=torch.long), perm=torch.zeros(0, dtype=torch.long),
                   patch_images=empty)


def test_a_check_that_crashes_is_a_grader_error_not_the_students():
    # the child finished, but its output_shape answers are not a list: the check trips over them
    checks, grader_errors = judge(bare_context({"phase": "done", "errors": {}, "output_shape": 5}))
    by_name = {c.name: c for c in checks}
    assert by_name["output_shape"].status == GRADER_ERROR
    assert "not your fault" in by_name["output_shape"].messages[0]
    assert any("test_output_shape" in e for e in grader_errors)
    assert by_name["model_io"].status == ERROR  # nothing was produced: that one is the student's
    result = GradeResult("cnn.py", "", checks=checks, grader_error="\n".join(grader_errors))
    feedback = report.feedback_md(result)
    assert "### output_shape matches PyTorch (the grader failed here, not your code)" in feedback
    assert "### output_shape matches PyTorch (your code raised" not in feedback


def test_a_missing_file_in_the_pipeline_is_the_graders_fault(tmp_path, monkeypatch):
    def lost_file(*args, **kwargs):
        raise FileNotFoundError(2, "No such file or directory", "/grader/child.py")
    monkeypatch.setattr(grade, "grade", lost_file)
    out = tmp_path / "out"
    code = cli.main(["grade", str(tmp_path), "--out", str(out), "--config", str(FAST)])
    assert code == 2
    extra = json.loads((out / "results.json").read_text())["extra_data"]
    assert "child.py" in extra["grader_error"]  # grade-all reads this as "grader error" and retries
    feedback = (out / "feedback.md").read_text()
    assert "not your fault" in feedback and "your code" not in feedback


def test_no_cnn_py_is_the_students(tmp_path):
    out = tmp_path / "out"
    code = cli.main(["grade", str(tmp_path), "--out", str(out), "--config", str(FAST)])
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["extra_data"]["grader_error"] is None
    assert "no cnn.py" in (out / "feedback.md").read_text()


def slow_layers(*args, **kwargs):  # what a quadratic walk over a million module names amounted to
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pass
    return []


def test_judging_has_a_time_limit_that_ends_in_a_verdict(monkeypatch):
    monkeypatch.setattr(judging, "JUDGING_SECONDS", 1)
    monkeypatch.setattr(canonical, "layer_problems", slow_layers)
    start = time.monotonic()
    checks, grader_errors = judge(bare_context({"phase": "done", "errors": {}, "params": []}))
    assert time.monotonic() - start < 15
    by_name = {c.name: c for c in checks}
    assert by_name["architecture"].status == ERROR and not grader_errors
    assert "stopped judging what your code returned after 1 s" in by_name["architecture"].messages[0]
    assert all(c.status == ERROR for c in checks[list(by_name).index("architecture"):])  # the rest: at once


def test_ctrl_c_stops_judging(monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(canonical, "layer_problems", interrupted)
    with pytest.raises(KeyboardInterrupt):  # pytest used to swallow it, and grading went on
        judge(bare_context({"phase": "done", "errors": {}, "params": []}))


def test_the_results_file_is_checked_for_type_and_size_before_use(tmp_path):
    from autograder.grading.job import load_results

    def loaded(res):
        path = tmp_path / "res.pt"
        torch.save(res, path)
        return load_results(path)
    res, problem = loaded({"phase": "done", "errors": {}, "optimizer_steps": 3, "mark": "S+"})
    assert res == {"phase": "done", "errors": {}, "optimizer_steps": 3} and problem is None  # unknown: dropped
    for forged, said in [({"history": [{("loss", 1): 0.5}]}, "its history holds a value of type tuple"),
                         ({"test_logits": torch.zeros(1).expand(10**6, 10**6)}, "its test_logits holds tensors of"),
                         ({"optimizer_steps": 10**30}, "its optimizer_steps holds a value of type int"),
                         ({"errors": {"train": {"type": "X", "message": 5}}}, "its errors holds a value of type int")]:
        res, problem = loaded({"phase": "done", "errors": {}, **forged})
        assert res == {} and said in problem, problem
