"""The public checks (assignment/tests) pass on the reference and fail, clearly, on the stub.

Each case runs ``python -m pytest assignment/tests`` in a subprocess, as a student would. The header line
"solution under test: ..." (left out under -q) shows which cnn.py was checked.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys


def run_public_checks(repo, mnist_root, *args: str, solution_env: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "MNIST_ROOT": str(mnist_root)}
    env.pop("CNN_SOLUTION", None)
    env.pop("PYTEST_ADDOPTS", None)
    if solution_env is not None:
        env["CNN_SOLUTION"] = solution_env
    return subprocess.run([sys.executable, "-m", "pytest", "assignment/tests", "-p", "no:cacheprovider", *args],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=600)


def outcome_counts(output: str) -> dict[str, int]:
    """{"passed": 35, ...} from pytest's last line."""
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", output.splitlines()[-1])}


def test_public_checks_pass_on_the_reference(repo, mnist_root):
    # CNN_SOLUTION names the stub: --solution must win over it
    result = run_public_checks(repo, mnist_root, "--solution", "reference/cnn.py", solution_env="assignment/cnn.py")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"solution under test: {repo / 'reference' / 'cnn.py'}" in output
    assert set(outcome_counts(output)) == {"passed"}, output


def test_public_checks_fail_on_the_stub(repo, mnist_root):
    result = run_public_checks(repo, mnist_root, "-q")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # 1: tests failed; 2 to 4 would mean pytest itself could not run them
    assert set(outcome_counts(output)) == {"failed"}, output  # every check needs some part of the solution
    for name, section in [("output_shape", 2), ("build_model", 3)]:
        assert f"{name} is not implemented yet" in output
        assert f"see section {section} of assignment/README.md" in output
    assert "Traceback" not in output  # a stub's NotImplementedError is a one-line failure, not a stack dump


def test_public_checks_read_cnn_solution(repo, mnist_root):
    result = run_public_checks(repo, mnist_root, "-k", "output_shape", solution_env="reference/cnn.py")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"solution under test: {repo / 'reference' / 'cnn.py'}" in output

