"""Attack: train() pins itself to one core, forks three busy processes onto that same core, and then
trains forever, a step a second, never returning.

Its own processes keep its threads waiting for a CPU most of the time, so the kernel's wait counters
read "starved" although the machine may be idle. Expected: the wall-time limit stops it and the
feedback names the time limit, as for any train() that never ends; not "regrade: the machine was too
busy", which grade-all would retry for nothing. No mark. Bounded: the busy processes stop after 300 s
or as soon as their parent is gone, and train() gives up after 300 s.
"""
import os
import time

import torch
from torch import nn

BOUND_S = 300


def output_shape(in_shape, layer):
    raise NotImplementedError("attack file")


def build_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core; the processes forked below inherit it
    parent, end = os.getpid(), time.monotonic() + BOUND_S
    for _ in range(3):
        if os.fork() == 0:
            while os.getppid() == parent and time.monotonic() < end:
                spin(1.0)
            os._exit(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    x = torch.zeros(1, 1, 28, 28)
    while time.monotonic() < end:  # a step a second, for ever (but bounded)
        optimizer.zero_grad()
        model(x).sum().backward()
        optimizer.step()
        spin(1.0)
    return []


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
