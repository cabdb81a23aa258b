"""Fixtures of the public checks: the solution under test and a small slice of the practical's dataset.

Choose the solution with ``--solution PATH`` (a cnn.py or a notebook, a folder holding one, or a
repository); a notebook is checked as the grader grades it, as the definitions of its code cells;
without it, $CNN_SOLUTION; without that, assignment/cnn.py. pytest only knows ``--solution`` when
this folder (or a file in it) is named on the command line, as in ``pytest assignment/tests --solution
reference/cnn.py``; from inside this folder write ``pytest --solution=PATH`` (with the "="). Run any
other way, set CNN_SOLUTION=PATH instead.
"""
from __future__ import annotations

from types import ModuleType

import pytest
import torch

from assignment.data import DataUnavailable, TensorImages, info, load_data
from assignment.solution import NOTEBOOK, HandInError, find_hand_in, hand_in_source, load_solution

N_TRAIN, N_VALID = 2000, 500  # enough for a smoke run, small enough for 2 CPU cores


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--solution", default=None, metavar="PATH",
                     help="cnn.py or notebook to check (default: $CNN_SOLUTION, else assignment/cnn.py)")


def pytest_report_header(config: pytest.Config) -> list[str]:
    """The file under test and, for a notebook, what was left out of it (as the grader says it)."""
    try:
        path = find_hand_in(config.getoption("--solution"))
        return [f"solution under test: {path}", *hand_in_source(path)[1]]
    except (FileNotFoundError, HandInError) as err:
        return [f"solution under test: none ({err})"]


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Run torch on one thread: on a busy machine, two threads made the smoke run 8 times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def solution(pytestconfig: pytest.Config) -> ModuleType:
    """The student's module, imported once per session. When there is none, or it does not import, the
    checks stop at once with that one message: every check would fail for the same reason."""
    try:
        path = find_hand_in(pytestconfig.getoption("--solution"))
        return load_solution(path)
    except (FileNotFoundError, HandInError) as err:
        pytest.exit(f"no checks run: {err}", returncode=pytest.ExitCode.TESTS_FAILED)
    except Exception as err:  # a syntax error or a failing import in the student's file
        see = ("run its cells from the top in Jupyter" if path.suffix == NOTEBOOK else f"run `python {path}`")
        pytest.exit(f"no checks run: could not import {path}: {type(err).__name__}: {err}. To see the full "
                    f"error, {see}, and fix it first.", returncode=pytest.ExitCode.TESTS_FAILED)


@pytest.fixture(scope="session")
def small_data() -> tuple[TensorImages, TensorImages]:
    """(train, valid): the first 2000 training and 500 validation images of the practical's dataset."""
    try:
        splits = load_data()
    except DataUnavailable as err:
        pytest.fail(f"{info().title} is needed for this check but could not be loaded: {err}", pytrace=False)
    train, valid = splits.train, splits.valid
    return (TensorImages(train.images[:N_TRAIN].clone(), train.labels[:N_TRAIN].clone()),
            TensorImages(valid.images[:N_VALID].clone(), valid.labels[:N_VALID].clone()))
