"""Shared by the project's tests: where the repository and the offline MNIST copy are."""
from __future__ import annotations

import os
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


def pytest_collection_modifyitems(items):
    """Run the tests that train for real (marked slow) last, so quick failures show first.
    Nothing is skipped: `-m "not slow"` is there for a quick local run."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is not None)
