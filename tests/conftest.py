"""Shared by the project's tests: where the repository and the offline MNIST and Fashion-MNIST copies are."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def repo() -> Path:
    return Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """$MNIST_ROOT made absolute (CI gives it relative to the repository, where pytest runs)."""
    value = os.environ.get("MNIST_ROOT")
    if not value:
        pytest.skip("MNIST_ROOT is not set: point it at an offline MNIST copy in torchvision's layout, "
                    "e.g. MNIST_ROOT=../shared/mnist")
    return Path(value).expanduser().resolve()


@pytest.fixture(scope="session")
def fashion_root() -> Path:
    """A folder holding Fashion-MNIST's four original .gz files: $FASHION_MNIST_ROOT, else where Debian's
    dataset-fashion-mnist package installed them. Missing, the test fails under CI (which installs the
    package) and is skipped elsewhere, saying how to install it."""
    if os.environ.get("FASHION_MNIST_ROOT"):
        return Path(os.environ["FASHION_MNIST_ROOT"]).expanduser().resolve()
    try:
        listing = subprocess.run(["dpkg", "-L", "dataset-fashion-mnist"], capture_output=True, text=True).stdout
    except OSError:
        listing = ""
    found = [Path(line) for line in listing.splitlines() if line.endswith("/train-images-idx3-ubyte.gz")]
    if found:
        return found[0].parent
    message = ("Fashion-MNIST is not installed: `apt-get install dataset-fashion-mnist` (Debian, as .ci/run does), "
               "or set FASHION_MNIST_ROOT to a folder holding its four original .gz files")
    if os.environ.get("CI"):  # CI installs it: a missing copy is a broken CI, not a skip
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def pytest_collection_modifyitems(items):
    """Run the tests that train for real (marked slow) last, so quick failures show first.
    Nothing is skipped: `-m "not slow"` is there for a quick local run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)
