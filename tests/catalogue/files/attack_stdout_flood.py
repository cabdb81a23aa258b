"""Attack: train() prints 200 MB to stdout (and a little to stderr), far beyond the ~2 MB output limit.

Expected: the grader stops the child at the "output limit" and neither stores nor shows the flood;
no mark. Bounded: 200 lines of 1 MB.
"""
import sys

from torch import nn


def output_shape(in_shape, layer):
    raise NotImplementedError("attack file")


def build_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    line = "x" * (1 << 20)
    for i in range(200):
        print(line, flush=True)
        if i % 50 == 0:
            print(line[:1000], file=sys.stderr, flush=True)
    return []


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
