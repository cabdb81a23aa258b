"""Attack: train() ends the process with os._exit(0), a clean exit status, before any result is saved.

Expected: the grader notices that the child stopped in the middle ("ended early") instead of taking
exit status 0 as success; no mark.
"""
import os

from torch import nn


def output_shape(in_shape, layer):
    raise NotImplementedError("attack file")


def build_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    os._exit(0)


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
