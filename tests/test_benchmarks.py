"""The benchmark script still runs, and docs/benchmarks.md shows what it reports from the saved results."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench  # noqa: E402

START, END = "<!-- bench.py report: start -->", "<!-- bench.py report: end -->"


def test_docs_show_the_report_of_the_saved_results():
    """Regenerate the Markdown from benchmarks/results/*.json: the committed page must be exactly that."""
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "report"],
                          capture_output=True, text=True, check=True)
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    shown = page.split(START, 1)[1].split(END, 1)[0].strip()
    assert shown == proc.stdout.strip()


def test_every_section_has_saved_results():
    for section in bench.SECTIONS:
        assert bench.load(section), f"benchmarks/results has nothing for {section}"


def test_goal_wording():
    assert bench.goal(2.5, 3.0) == "met (2.5 s <= 3 s)"
    assert bench.goal(6.0, 3.0) == "missed by 3.0 s (6.0 s, 2.00x the goal)"
    assert bench.goal(None, 3.0) == "not measured"


@pytest.mark.usefixtures("mnist_root")
def test_grade_once_measures_a_crashing_submission(tmp_path):
    crash = bench.submissions(tmp_path)["crash at import"]
    run = bench.grade_once(crash, bench.FAST_CONFIG)
    assert run["mark"] is None and run["accuracy"] is None
    assert run["wall"] > 0 and run["train"] == 0.0
    assert run["grader_mb"] > 100 and run["child_mb"] > 50  # both import torch
