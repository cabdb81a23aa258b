"""Attack: train() sends SIGKILL to its own process.

Expected: "ended early" (killed by a signal, not by a grader limit); no mark.
"""
import os
import signal

from torch import nn


def output_shape(in_shape, layer):
    raise NotImplementedError("attack file")


def build_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    os.kill(os.getpid(), signal.SIGKILL)


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
