"""The driver, `python -m assignment`, run as students run it: in a subprocess, on the reference and the stub."""
from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO / "reference" / "cnn.py"
FIGURES = ("digits.png", "filters.png", "patches.png", "curves.png")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_driver(*args: str, mnist_root: Path) -> subprocess.CompletedProcess:
    """`python -m assignment ARGS` from the repository root, with MNIST_ROOT set and CNN_SOLUTION unset."""
    env = {**{k: v for k, v in os.environ.items() if k != "CNN_SOLUTION"}, "MNIST_ROOT": str(mnist_root)}
    return subprocess.run([sys.executable, "-m", "assignment", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from the PNG header; fails unless the file starts like a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert head[12:16] == b"IHDR", f"{path.name} has no IHDR chunk first"
    return struct.unpack(">II", head[16:24])


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, mnist_root):
    out = tmp_path_factory.mktemp("driver-out")
    result = run_driver("--solution", str(REFERENCE), "--iterations", "200", "--log-every", "100",
                        "--out", str(out), mnist_root=mnist_root)
    return result, out


def test_reference_run_exits_0_and_reports_test_accuracy(reference_run):
    result, _ = reference_run
    assert result.returncode == 0, result.stderr[-3000:]
    assert "parameters: 1,103,539" in result.stdout
    assert "iter 100  loss" in result.stdout and "iter 200  loss" in result.stdout
    assert "test accuracy: 0." in result.stdout


@pytest.mark.parametrize("name", FIGURES)
def test_reference_run_writes_png_figures(reference_run, name):
    _, out = reference_run
    path = out / name
    assert path.is_file(), f"{name} was not written"
    width, height = png_size(path)
    assert width >= 300 and height >= 200, (width, height)
    assert path.stat().st_size > 5_000, "suspiciously small: an empty figure?"


def test_reference_run_summary(reference_run):
    _, out = reference_run
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test_accuracy"] > 0.8
    assert [h["iteration"] for h in summary["history"]] == [100, 200]
    assert summary["optimizer_steps"] == 200  # the progress hook saw every step
    assert summary["parameters"] == 1_103_539
    assert (summary["iterations"], summary["batch_size"], summary["lr"], summary["seed"]) == (200, 50, 1e-4, 0)
    assert Path(summary["solution"]) == REFERENCE
    assert summary["train_seconds"] > 0


def test_stub_exits_1_with_its_not_implemented_message(tmp_path, mnist_root):
    result = run_driver("--iterations", "10", "--out", str(tmp_path), mnist_root=mnist_root)  # default solution
    assert result.returncode == 1, result.stderr[-3000:]
    assert "NotImplementedError: build_model is not written yet" in result.stderr
    assert "section 3" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_mnist_exits_2_naming_mnist_root(tmp_path):
    empty = tmp_path / "no-mnist"
    empty.mkdir()
    result = run_driver("--solution", str(REFERENCE), "--out", str(tmp_path / "out"), mnist_root=empty)
    assert result.returncode == 2
    assert "MNIST_ROOT" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_dataset_and_data_root_flags(tmp_path, monkeypatch, capsys):
    """--dataset must have the practical's input shape; --mnist-root is still another name for --data-root.
    Run in this process: both stop before any training."""
    from assignment import __main__ as driver

    monkeypatch.chdir(tmp_path)
    assert driver.main(["--dataset", "cifar10"]) == 2
    assert capsys.readouterr().err.strip() == ("error: CIFAR-10's images are 3x32x32, but the practical's network "
                                               "takes 1x28x28 (MNIST): choose a dataset of that shape")
    empty = tmp_path / "no-mnist"
    empty.mkdir()
    assert driver.main(["--mnist-root", str(empty)]) == 2
    err = capsys.readouterr().err
    assert f"No MNIST under {empty}" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
