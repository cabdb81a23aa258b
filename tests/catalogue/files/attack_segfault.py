"""Attack: train() crashes the interpreter with a segmentation fault (reads address 0 via ctypes).

Expected: "ended early" (the child died of SIGSEGV), reported as the student's crash, not the grader's;
no mark.
"""
import ctypes

from torch import nn


def output_shape(in_shape, layer):
    raise NotImplementedError("attack file")


def build_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    ctypes.string_at(0)


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
