"""Attack: at import, fork 500 processes that each sleep 60 s (a bounded fork bomb).

Expected: the process limit (64) makes os.fork fail (BlockingIOError), so the import fails and the
feedback names the "process limit"; no mark; and no forked process outlives the grading. Bounded: at
most 500 children, each of which exits after 60 s without running any other code.
"""
import os
import time

children = []
for _ in range(500):
    pid = os.fork()
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    children.append(pid)


def output_shape(in_shape, layer):
    raise NotImplementedError("attack file")


def build_model():
    raise NotImplementedError("attack file")


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    raise NotImplementedError("attack file")


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
