"""The student's spec-dependent files: the committed ones are the rendering of grading.yml, another spec
renders its own numbers, and releasing imports no torch."""
from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from assignment import practical
from autograder.release import render
from autograder.practical.config import DEFAULT_CONFIG, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", list(render.RENDERED))
def test_committed_assignment_is_the_rendering_of_grading_yml(name):
    config = load_config()
    rendered = render.render_files(config.practical, config)[name]
    committed = (ROOT / "assignment" / name).read_text()
    assert committed == rendered, (f"assignment/{name} is not what its template gives for grading.yml: run "
                                   "`python -m autograder.release.render` and commit the result")


def test_practical_json_reads_back_as_the_spec_derived():
    spec = load_config().practical
    p = practical.load()
    assert (p.conv1.filters, p.conv1.kernel, p.conv1.stride, p.conv1.padding) == (25, 12, 2, 0)
    assert (p.conv1_out, p.pool_outs, p.param_counts) == (spec.conv1_out, tuple(spec.pool_outs),
                                                            tuple(spec.param_counts))
    assert p.patch == practical.Patch(**spec.patch)
    assert p.example_filters == [0, 5, 10, 15, 20]


def test_a_missing_practical_json_is_named(tmp_path):
    with pytest.raises(practical.PracticalUnavailable, match=r"cannot read .*practical\.json"):
        practical.load(tmp_path / "practical.json")
    (tmp_path / "practical.json").write_text(json.dumps({"spec": {}}))
    with pytest.raises(practical.PracticalUnavailable, match="lacks 'spec.dataset.name'"):
        practical.load(tmp_path / "practical.json")


def unusual_config():
    """conv1 padded with 'same' padding and an even kernel, pooling 3x3 with stride 2, fc1 of 128."""
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    net = raw["practical"]["network"]
    net["conv1"] = {"filters": 8, "kernel": 4, "stride": 1, "padding": "same"}
    net["pool"] = {"kernel": 3, "stride": 2}
    net["fc1"] = {"units": 128}
    raw["top_patches"]["filters"] = [0, 1, 2]
    return parse_config(copy.deepcopy(raw), "unusual.yml")


def test_an_unusual_spec_renders_its_own_numbers():
    config = unusual_config()
    p = config.practical
    assert p.conv1_out == (8, 28, 28) and p.pool_outs == [(64, 13, 13), (64, 14, 14)]
    files = render.render_files(p, config)
    handout, stub = files["README.md"], files["cnn.py"]
    assert "conv1: 8 filters of 4x4, stride 1, `\"same\"` padding (3 pixels in all, one more after than before): " \
           "28 stays 28, so 8x28x28." in handout
    assert "3x3 max pooling, stride 2: floor((28 - 3) / 2) + 1 = 13, so 64x13x13." in handout
    assert "Rounding up instead (`ceil_mode=True` in PyTorch) gives 64x14x14." in handout
    assert "| fc1 | (64·13·13)·128 + 128 | 1,384,576 |" in handout
    assert f"| total | | {p.param_counts[0]:,} |" in handout
    assert "with 1 row and column of zeros before it and 2 after it" in handout  # PyTorch's split of 'same'
    assert "sees input rows\ni-1 to i+2 and columns j-1 to j+2" in handout
    assert "- a tensor (len(filters), k, 4, 4):" in stub and "e.g. [0, 1, 3, 4, 6]." in stub
    assert "97.9%" not in handout  # accuracies measured on the shipped network only
    notebook = nbformat.reads(files["practical.ipynb"], as_version=4)
    code = "\n".join(c.source for c in notebook.cells)
    assert 'nn.Conv2d(1, 8, kernel_size=4, padding="same")' in code and "nn.MaxPool2d(3, stride=2)" in code
    assert f"{p.param_counts[0]:,} (or {p.param_counts[1]:,}" in code
    assert "{{" not in handout + stub + code and "{%" not in handout + stub + code


def test_release_and_variants_import_no_torch(tmp_path):
    """The instructor's commands that write templates are quick: no torch, numpy or matplotlib."""
    roster, secret = tmp_path / "roster.csv", tmp_path / "secret"
    roster.write_text("student\nada\n")
    secret.write_text("k")
    script = (
        "import sys\n"
        "from autograder.cli import main\n"
        f"assert main(['release', {str(tmp_path / 'a')!r}, '--config', 'examples/variant-b.yml']) == 0\n"
        f"assert main(['variants', {str(roster)!r}, '--secret-file', {str(secret)!r}, "
        f"'--out', {str(tmp_path / 'v')!r}]) == 0\n"
        "print('heavy:', sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'matplotlib')))\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "heavy: []" in proc.stdout
    assert (tmp_path / "a" / "assignment" / "practical.json").is_file()
    assert (tmp_path / "v" / "variants.csv").read_text().splitlines() == ["student,variant", "ada,v1"]
