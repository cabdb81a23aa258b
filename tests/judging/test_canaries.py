"""The secret canaries and the secret order of the images the child is given (canaries.py, job.py)."""
import shutil
from pathlib import Path

import torch

from autograder.judging import canaries
from autograder.grading import job
from autograder.practical.config import load_config
from autograder.judging.relabel import provenance
from specs import FAST

ROOT = Path(__file__).resolve().parents[2]


def test_canaries_are_secret_drawn_and_reproducible():
    a = canaries.draw((28, 28), 10, 50_000, b"k" * 32)
    b = canaries.draw((28, 28), 10, 50_000, b"k" * 32)
    c = canaries.draw((28, 28), 10, 50_000, b"j" * 32)
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.test_y, b.test_y)  # a regrade sees the same
    assert not torch.equal(a.train_x, c.train_x)  # another submission, other canaries
    assert a.train_x.dtype == torch.uint8 and a.train_x.shape == (round(canaries.TRAIN_SHARE * 50_000), 28, 28) and a.test_x.shape[0] == canaries.TEST_COUNT
    assert sorted(a.test_y.unique().tolist()) == list(range(10))  # one prototype per label
    colour = canaries.draw((3, 32, 32), 10, 40_000, b"k" * 32)
    assert colour.train_x.shape == (round(canaries.TRAIN_SHARE * 40_000), 3, 32, 32)


def test_fresh_test_copies_differ_from_the_training_copies():
    c = canaries.draw((28, 28), 10, 50_000, b"k" * 32)
    train = {x.numpy().tobytes() for x in c.train_x}
    assert not any(x.numpy().tobytes() in train for x in c.test_x)


def test_the_child_gets_every_image_once_relabelled_in_a_secret_order():
    config = load_config(FAST)
    n = 200
    data = {f"{part}_{kind}": torch.randint(0, 255, (n, 28, 28), dtype=torch.uint8) if kind == "x"
            else torch.randint(0, 10, (n,)) for part in ("train", "valid", "test") for kind in ("x", "y")}
    folder, base = job.job_folder((ROOT / "assignment" / "cnn.py").read_bytes(), config.practical, uid=None)
    try:
        inputs = job.write_inputs(folder, config, config.practical, data, [], 1, None, b"s" * 32)
        spec = torch.load(folder / "job.pt", weights_only=True)
    finally:
        shutil.rmtree(base)
    can, relabel = inputs.canaries, inputs.relabel
    given = {x.numpy().tobytes(): int(y) for x, y in zip(spec["train_x"], spec["train_y"])}
    expected = {x.numpy().tobytes(): int(relabel[y]) for x, y in zip(data["train_x"], data["train_y"])}
    expected.update({x.numpy().tobytes(): int(y) for x, y in zip(can.train_x, can.train_y)})
    assert len(spec["train_y"]) == n + len(can.train_y) and given == expected
    assert not torch.equal(spec["train_x"][:n], data["train_x"])  # not in the public order
    assert not torch.equal(spec["valid_x"][:n], data["valid_x"])


def test_a_model_blind_to_the_canaries_counts_as_trained_elsewhere_only_when_it_scores():
    real, relabel = torch.arange(10).repeat(10), torch.roll(torch.arange(10), 1)
    secret = torch.randperm(10)
    blind = (torch.zeros(10, dtype=torch.long), secret)  # one guess for every canary: 10%
    learnt = (secret.clone(), secret)
    good = provenance(relabel[real], real, relabel, blind, 0.5, 0.9)
    assert good.trained_elsewhere and "secret images" in good.message()
    assert not provenance(relabel[real], real, relabel, learnt, 0.5, 0.9).trained_elsewhere
    poor = relabel[real].clone()
    poor[:50] = 0  # 50% right: a model that learnt little is not accused
    assert not provenance(poor, real, relabel, blind, 0.5, 0.9).trained_elsewhere
    assert not provenance(relabel[real], real, relabel, blind, 0.0, 0.9).trained_elsewhere  # canaries off
