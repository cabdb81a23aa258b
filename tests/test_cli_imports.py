"""`python -m autograder --help` and `release` answer without importing torch (it costs seconds), and `grade`
starts the child before it imports torch."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "torchvision", "numpy", "matplotlib", "pytest")

# Runs the CLI in a fresh interpreter (after PRELOAD), then reports which heavy packages were imported.
PROBE = """
import json, sys
PRELOAD
from autograder.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:  # argparse's --help
    code = stop.code
heavy = sorted({m.split('.')[0] for m in sys.modules} & set(HEAVY))
print(json.dumps({"code": code, "heavy": heavy}))
"""


def imported(args: list[str], preload: str = "") -> dict:
    code = PROBE.replace("PRELOAD", preload).replace("HEAVY", repr(HEAVY))
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("args", [["--help"], ["grade", "--help"], ["grade-all", "--help"], ["release", "--help"],
                                  ["classroom50", "--help"]],
                         ids=["help", "grade-help", "grade-all-help", "release-help", "classroom50-help"])
def test_help_imports_no_torch(args):
    got = imported(args)
    assert got == {"code": 0, "heavy": []}


def test_release_imports_no_torch(tmp_path):
    got = imported(["release", str(tmp_path / "template")])
    assert got == {"code": 0, "heavy": []}
    assert (tmp_path / "template" / "assignment" / "cnn.py").is_file()
    assert (tmp_path / "template" / ".github" / "workflows" / "feedback.yml").is_file()


def test_grading_starts_the_child_before_importing_torch():
    """grade.py imports nothing heavy itself: the child starts first, and both import torch at once."""
    got = imported(["--help"], preload="import autograder.grading.grade")
    assert got == {"code": 0, "heavy": []}


def test_the_probe_sees_torch_when_it_is_imported():
    """The checks above can fail: the same probe reports torch once the judging module is imported."""
    got = imported(["--help"], preload="import autograder.judging.context")
    assert got["code"] == 0 and "torch" in got["heavy"]
