"""Fashion-MNIST from the offline copy Debian's dataset-fashion-mnist package installs (its four original .gz
files in a read-only folder): loaded without writing there, its facts as assignment/datasets.py declares
them, graded with its config, and a template released for it that agrees with itself."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
import torchvision
import yaml

from assignment import __main__ as driver
from assignment import data, datasets, practical
from autograder.practical.config import load_config
from autograder.release.release import write_template

ROOT = Path(__file__).resolve().parents[2]
FASHION = ROOT / "examples" / "fashion-mnist.yml"
FACTS = datasets.get("fashion-mnist")


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir()}


@pytest.fixture(scope="module")
def unpacked(fashion_root, tmp_path_factory):
    """(the raw tensors, the download folder they were unpacked into), the package's folder untouched."""
    before = listing(fashion_root)
    cache = tmp_path_factory.mktemp("downloads")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FASHION_MNIST_ROOT", str(fashion_root))
        mp.setattr(datasets, "CACHE_ROOT", cache)
        raw = data.load_raw(dataset="fashion-mnist")
        splits = data.load_data(dataset="fashion-mnist")
    assert listing(fashion_root) == before  # an offline copy is never written to
    return raw, splits, cache


def test_the_debian_copy_loads_as_torchvision_reads_it(unpacked):
    (train_x, train_y), (test_x, test_y) = unpacked[0]
    assert train_x.shape == (60_000, 28, 28) and test_x.shape == (10_000, 28, 28) and train_x.dtype == torch.uint8
    assert train_y.bincount().tolist() == [6_000] * 10 and test_y.bincount().tolist() == [1_000] * 10
    assert train_y[:6].tolist() == [9, 0, 0, 3, 0, 2]  # Ankle boot, T-shirt/top, ...: the published order
    assert not list(unpacked[2].iterdir())  # unpacked into a temporary folder, not kept


def test_its_facts_are_the_data_s(unpacked):
    (train_x, _), _ = unpacked[0]
    pixels = train_x.double() / 255
    assert abs(pixels.mean().item() - FACTS.mean[0]) < 1e-4 and abs(pixels.std().item() - FACTS.std[0]) < 1e-4
    assert list(FACTS.classes) == torchvision.datasets.FashionMNIST.classes
    splits = unpacked[1]
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (60_000 - FACTS.n_valid, FACTS.n_valid,
                                                                       FACTS.n_test)
    assert splits.train.images.shape[1:] == (1, 28, 28)
    assert abs(splits.train.images.mean().item()) < 0.01 and abs(splits.train.images.std().item() - 1) < 0.01


def test_the_stub_graded_on_fashion_mnist_gets_no_mark(fashion_root, tmp_path):
    config = tmp_path / "fashion-short.yml"
    config.write_text(yaml.safe_dump({"base": str(FASHION), "training": {"iterations": 300, "log_every": 100},
                                      "limits": {"wall_seconds": 240, "cpu_seconds": 120}}))
    env = {**os.environ, "FASHION_MNIST_ROOT": str(fashion_root), "HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(ROOT / "assignment"), "--out",
                           str(tmp_path / "out"), "--config", str(config), "--cache", str(tmp_path / "cache")],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "out" / "results.json").read_text())["extra_data"]["mark"] is None
    assert "build_model() is not implemented yet" in (tmp_path / "out" / "feedback.md").read_text()
    assert (tmp_path / "cache" / "fashion-mnist-u8.pt").is_file()  # the grader's own copy, from the .gz files


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fashion") / "template"
    write_template(out, load_config(FASHION))
    return out


def test_its_template_names_fashion_mnist_everywhere(template):
    handout = (template / "assignment" / "README.md").read_text()
    for text in ("# Practical: a convolutional network for Fashion-MNIST", "images of clothes, shoes and bags",
                 "0 T-shirt/top, 1 Trouser", "9 Ankle boot", "from assignment.data import load_data",
                 "the mean (0.2860) and standard deviation (0.3530)", "export FASHION_MNIST_ROOT=",
                 "`~/.cache/cnn-practical/fashion-mnist`", "S+ needs at least 85%",
                 "section 4's recipe reached 86.06% to 87.35% (median 86.45%)",
                 "| total | | 1,103,539 |", "one per class", "`python -m assignment --dataset mnist`"):
        assert text in handout, text  # MNIST itself only as the extension, the same network on another dataset
    for text in ("export MNIST_ROOT", "load_mnist", "97.9%", "one per digit", "\nMNIST has 60,000", "provisional"):
        assert text not in handout, text
    assert "Fashion-MNIST" in (template / "README.md").read_text()
    assert "Fashion-MNIST ones also have .images" in (template / "assignment" / "cnn.py").read_text()
    cells = "\n".join(c.source for c in nbformat.read(template / "assignment" / "practical.ipynb", as_version=4).cells)
    assert "splits = load_data()" in cells and "FASHION_MNIST_ROOT" in cells and "load_mnist" not in cells
    facts = practical.load(template / "assignment" / "practical.json")
    assert facts.dataset == "fashion-mnist" and facts.data.title == "Fashion-MNIST"
    assert driver.parse_args([], facts).dataset == "fashion-mnist"


def test_its_public_checks_load_fashion_mnist(template, fashion_root, tmp_path):
    """The checks that need data, with the reference as cnn.py: they load Fashion-MNIST (there is no MNIST
    to be had: MNIST_ROOT is unset, and nothing downloads here)."""
    (template / "assignment" / "cnn.py").write_text((ROOT / "reference" / "cnn.py").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("CNN_SOLUTION", "PYTEST_ADDOPTS", "MNIST_ROOT")}
    env.update(FASHION_MNIST_ROOT=str(fashion_root), HOME=str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "pytest", "assignment/tests", "-p", "no:cacheprovider", "-q",
                           "-k", "top_patches"], cwd=template, env=env, capture_output=True, text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    assert "2 passed" in output.splitlines()[-1], output.splitlines()[-1]
