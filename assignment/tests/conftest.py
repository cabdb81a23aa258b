"""Fixtures of the public checks: the solution under test and a small slice of the practical's dataset.

Choose the solution with ``--solution PATH`` (a cnn.py, a folder holding one, or a repository);
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
from assignment.solution import find_solution, load_solution

N_TRAIN, N_VALID = 2000, 500  # enough for a smoke run, small enough for 2 CPU cores


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--solution", default=None, metavar="PATH",
                     help="cnn.py to check (default: $CNN_SOLUTION, else assignment/cnn.py)")


def pytest_report_header(config: pytest.Config) -> str:
    try:
        return f"solution under test: {find_solution(config.getoption('--solution'))}"
    except FileNotFoundError as err:
        return f"solution under test: none ({err})"


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Run torch on one thread: on a busy machine, two threads made the smoke run 8 times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def solution(pytestconfig: pytest.Config) -> ModuleType:
    """The student's module, imported once per session."""
    path = find_solution(pytestconfig.getoption("--solution"))
    try:
        return load_solution(path)
    except Exception as err:  # a syntax error or a failing import in the student's file
        pytest.fail(f"could not import {path}: {type(err).__name__}: {err}. Run `python {path}` "
                    "to see the full error and fix it first.", pytrace=False)


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
