"""Verified training holds against the public dataset: a submission that knows every public label of
MNIST, training and test, gets no mark, because the canaries mixed into train_set are in no public table.

Each attack is graded twice under the short-budget config: with the canaries (the config as it is) it
gets no mark; with them off it gets the mark it was after, which shows that the canaries are what stops
it (the secret order of the images alone does not: the attacks find the images by their hash).
"""
import base64
import csv
import hashlib
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import torch

from assignment.data import normalise
from autograder.grading.caches import grader_data
from specs import FAST

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "tests" / "catalogue" / "generated"  # attacks whose tables this test fills in from the public MNIST
ATTACKS = {"attack_public_train_labels": "S+", "attack_public_test_lookup": "S"}  # their mark, canaries off
pytestmark = pytest.mark.slow  # four grades under the short budget


def records(images: torch.Tensor, labels: torch.Tensor) -> str:
    """The attacks' table: base64 of zlib of (8-byte hash of the normalised image, 1-byte class) records."""
    x = normalise(images)
    raw = b"".join(hashlib.blake2b(x[i].contiguous().numpy().tobytes(), digest_size=8).digest() + bytes([int(y)])
                   for i, y in enumerate(labels))
    return base64.b64encode(zlib.compress(raw)).decode()


def grade_all(folder: Path, out: Path, config: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", str(folder), "--out", str(out),
                           "--jobs", "2", "--config", str(config)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(out / "gradebook.csv") as f:
        return {r["submission"]: r for r in csv.DictReader(f)}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    data = grader_data()
    train = records(data["train_x"][:12_000], data["train_y"][:12_000])
    test = records(data["test_x"], data["test_y"])
    folder = tmp_path_factory.mktemp("public")
    for name in ATTACKS:
        source = (FILES / f"{name}.py").read_text()
        source = source.replace('TEST_TABLE = ""', f'TEST_TABLE = "{test}"')
        assert source.count('\nTABLE = ""') == 1
        source = source.replace('\nTABLE = ""', f'\nTABLE = "{train}"')
        (folder / name).mkdir()
        (folder / name / "cnn.py").write_text(source)
    off = tmp_path_factory.mktemp("config") / "no-canaries.yml"
    off.write_text(f"base: {FAST}\naccuracy: {{s_plus: 0.88, s: 0.5, canaries: 0}}\n")
    on_out, off_out = tmp_path_factory.mktemp("on"), tmp_path_factory.mktemp("off")
    return (grade_all(folder, on_out, FAST), on_out,
            grade_all(folder, off_out, off))


@pytest.mark.parametrize("name", ATTACKS)
def test_public_labels_earn_nothing_against_the_canaries(graded, name):
    on, out, off = graded
    feedback = (out / "submissions" / name / "feedback.md").read_text()
    assert on[name]["status"] == "graded" and on[name]["mark"] == "none", feedback
    assert "secret images" in feedback, feedback


@pytest.mark.parametrize("name", ATTACKS)
def test_without_the_canaries_the_attack_would_earn_its_mark(graded, name):
    _, _, off = graded
    assert off[name]["mark"] == ATTACKS[name], off[name]
