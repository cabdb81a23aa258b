"""The benchmark script still runs, and docs/benchmarks.md shows what it reports from the saved results."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.practical.config import load_config

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


def test_stability_is_saved_and_reported_per_dataset(tmp_path, monkeypatch):
    assert bench.results_file("stability-fashion-mnist").name == "stability-fashion-mnist.json"
    assert bench.results_file("stability").name == "stability.json"  # MNIST's, as before
    assert bench.results_file("grade-all").name == "grade_all.json"
    monkeypatch.setattr(bench, "RESULTS", tmp_path)
    row = {"submission": "handout recipe", "seeds": 2, "s_plus": 2, "min": 0.85, "median": 0.86, "max": 0.87,
           "margin": 0.05}
    for name, dataset, config in (("stability-fashion-mnist", "fashion-mnist", "examples/fashion-mnist.yml"),
                                  ("stability", "mnist", "grading.yml")):
        bench.results_file(name).write_text(json.dumps({"machine": "m", "config": config, "dataset": dataset,
                                                        "rows": [row]}))
    text = bench.report(None)
    mnist = text.index("### Stability of the mark on MNIST (config grading.yml")
    fashion = text.index("### Stability of the mark on Fashion-MNIST (config examples/fashion-mnist.yml")
    assert mnist < fashion and text.count("| handout recipe | 2/2 | 85.00% |") == 2


def test_the_handout_recipe_follows_the_datasets_input(tmp_path):
    import torch

    cifar = load_config(ROOT / "examples" / "cifar10.yml").practical
    path = bench.handout_recipe(cifar, tmp_path)
    spec = importlib.util.spec_from_file_location("recipe_cifar10", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_model()
    assert tuple(model(torch.zeros(2, 3, 32, 32)).shape) == (2, 10)
    assert sum(p.numel() for p in model.parameters()) == cifar.param_counts[0]
    assert bench.handout_recipe(load_config(ROOT / "examples" / "fashion-mnist.yml").practical, tmp_path) == bench.HANDOUT
    with pytest.raises(SystemExit, match="use --only reference"):
        bench.handout_recipe(load_config(ROOT / "examples" / "variant-b.yml").practical, tmp_path)
