"""Attack: output_shape returns "ints" that are equal to everything.

Each element is an int subclass whose __eq__ always returns True (and __ne__ False), so a grader that
compares answers with == in the student's process, or trusts isinstance(x, int), would accept any
answer. Expected: only exact ints count ("expected an int"); no mark.
"""
from torch import nn


class Anything(int):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = int.__hash__


def output_shape(in_shape, layer):
    return (Anything(0), Anything(0), Anything(0))


def build_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    raise NotImplementedError("attack file")


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
