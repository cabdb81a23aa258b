"""examples/variant-b.yml, a second spec (conv1 32@10x10 stride 2, fc1 512): its template agrees with itself,
its public checks pass with the reference, and the grader follows it (the slow test, at the full budget)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from assignment import __main__ as driver
from assignment import practical
from autograder.practical.config import load_config, load_raw
from autograder.release.release import write_template
from specs import FAST, default_reference

ROOT = Path(__file__).resolve().parents[2]
VARIANT_B = ROOT / "examples" / "variant-b.yml"
TOTAL = "879,338"  # 3,232 + 51,264 + 819,712 + 5,130: worked out by hand from the spec, not by the code under test


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("variant-b") / "template"
    write_template(out, load_config(VARIANT_B))
    return out


def public_checks(template: Path, solution: Path, mnist_root: Path, *args: str) -> subprocess.CompletedProcess:
    """`python -m pytest assignment/tests` in the template, as a student runs it, on `solution` as cnn.py."""
    (template / "assignment" / "cnn.py").write_text(solution.read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("CNN_SOLUTION", "PYTEST_ADDOPTS")}
    env["MNIST_ROOT"] = str(mnist_root)
    return subprocess.run([sys.executable, "-m", "pytest", "assignment/tests", "-p", "no:cacheprovider", *args],
                          cwd=template, env=env, capture_output=True, text=True, timeout=600)


def test_its_template_quotes_its_numbers_everywhere(template):
    handout = (template / "assignment" / "README.md").read_text()
    for text in ("conv1: 32 filters of 10x10, stride 2, no padding: floor((28 - 10) / 2) + 1 = 10, so 32x10x10.",
                 "10 stays 10, so 64x10x10", "floor((10 - 2) / 2) + 1 = 5, so 64x5x5",
                 "| conv1 | 10·10·1·32 + 32 | 3,232 |", "| fc1 | (64·5·5)·512 + 512 | 819,712 |",
                 f"| total | | {TOTAL} |", "5. Fully connected layer with 512 units",
                 "activation (i, j) sees input rows 2i to 2i+9 and columns 2j to 2j+9",
                 "shape (N, 32, 10, 10)", "The result is a tensor (len(filters), k, 10, 10)",
                 f"the parameter count is {TOTAL};"):
        assert text in handout, text
    for text in ("25 filters", "12x12", "1,103,539", "1,693,363", "1024 units", "(N, 25, 9, 9)", "97.9%"):
        assert text not in handout, text
    stub = (template / "assignment" / "cnn.py").read_text()
    assert "- a tensor (len(filters), k, 10, 10):" in stub and "e.g. [0, 6, 12, 19, 25]." in stub
    notebook = nbformat.read(template / "assignment" / "practical.ipynb", as_version=4)
    cells = "\n".join(c.source for c in notebook.cells)
    assert 'nn.Conv2d(1, 32, kernel_size=10, stride=2)' in cells and 'nn.Conv2d(32, 64, kernel_size=5' in cells
    assert f"The parameter count should be {TOTAL}." in cells and "The 32 filters" in cells
    assert "FILTERS = [0, 6, 12, 19, 25]" in cells
    # the public checks and the driver read their numbers from practical.json
    facts = practical.load(template / "assignment" / "practical.json")
    assert (facts.conv1_out, facts.pool_outs, facts.param_counts) == ((32, 10, 10), ((64, 5, 5),), (879_338,))
    assert (facts.patch.size, facts.patch.stride, facts.patch.padding) == (10, 2, 0)
    assert driver.parameter_hint(879_338, facts) == ""
    assert f"expected {TOTAL}: see section 2" in driver.parameter_hint(1_103_539, facts)
    assert driver.parse_args([], facts).filters == [0, 6, 12, 19, 25]


def test_its_public_checks_pass_with_the_reference(template, mnist_root):
    proc = public_checks(template, ROOT / "reference" / "cnn.py", mnist_root, "-v")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    assert f"solution under test: {template / 'assignment' / 'cnn.py'}" in output
    for test_id in ("test_output_shape_of_practical_layers[conv1-32x10x10] PASSED",
                    "test_output_shape_of_practical_layers[pool-ceil-64x5x5] PASSED",
                    "test_build_model_conv_output_shapes[conv1-32x10x10] PASSED",
                    "test_top_patches_are_conv1_windows PASSED"):
        assert test_id in output, test_id
    assert re.search(r"\b35 passed\b", output.splitlines()[-1]), output.splitlines()[-1]


def test_its_public_checks_refuse_the_default_network(template, mnist_root, tmp_path):
    proc = public_checks(template, default_reference(tmp_path / "default_cnn.py"), mnist_root, "-q",
                         "-k", "parameter_count or conv_output_shapes")
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-4000:]
    assert "build_model() has 1,103,539 parameters" in output and f"total {TOTAL}" in output
    assert "got (25, 9, 9), expected (32, 10, 10)" in output
    assert re.search(r"\b3 failed\b", output.splitlines()[-1]), output.splitlines()[-1]


def grade(submission: Path, out: Path, config: Path) -> tuple[dict, str]:
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submission), "--out", str(out),
                           "--config", str(config)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), (out / "feedback.md").read_text()


@pytest.mark.slow
def test_the_grader_follows_variant_b(tmp_path):
    """The reference gets S+ under variant-b.yml at its full budget; a solution of the default practical does
    not, and its feedback names the layer that differs. The second grading uses the short budget with
    variant-b's spec: the architecture check alone decides that it is not S+."""
    results, feedback = grade(ROOT / "reference", tmp_path / "reference", VARIANT_B)
    extra = results["extra_data"]
    print(f"reference under variant-b: mark {extra['mark']}, test accuracy {extra['test_accuracy']:.4f}, "
          f"graded in {results['execution_time']:.0f} s")
    assert extra["mark"] == "S+", feedback
    assert extra["accuracy_verified"] and extra["test_accuracy"] >= 0.98

    short = load_raw(FAST)
    short["practical"] = load_raw(VARIANT_B)["practical"]
    config = tmp_path / "variant-b-short.yml"
    config.write_text(yaml.safe_dump(short, sort_keys=False))
    results, feedback = grade(default_reference(tmp_path / "default_cnn.py"), tmp_path / "default", config)
    assert results["extra_data"]["mark"] != "S+", feedback
    assert results["extra_data"]["checks"]["architecture"] == "failed", feedback
    assert re.search(r"conv1[^\n]*(32x10x10|\(32, 1, 10, 10\)|32 filters of 1x10x10)", feedback), feedback
