"""Attack: train() never returns, and ignores SIGTERM, so the grader must kill it (SIGKILL).

Expected: the wall-time limit stops it ("time limit"); no mark. Bounded (one hour of sleeping) so
that it ends by itself if it is ever run without a sandbox, and it sleeps instead of spinning.
"""
import signal
import time

from torch import nn


def output_shape(in_shape, layer):
    raise NotImplementedError("attack file")


def build_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a polite terminate is not enough
    for _ in range(3600):
        time.sleep(1)
    return []


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
