"""Attack: build_model() tries to fill 50 GiB of memory, 1 GiB at a time (bytearray touches every page).

Expected: the address-space limit makes an allocation fail with MemoryError, or the kernel kills the
child; the feedback names the "memory limit"; no mark. Safe unsandboxed: it stops, raising
MemoryError itself, before the machine's available memory falls below half of its total.
"""
from torch import nn


def _available_fraction():
    info = dict(line.split(":", 1) for line in open("/proc/meminfo"))
    return int(info["MemAvailable"].split()[0]) / int(info["MemTotal"].split()[0])


def output_shape(in_shape, layer):
    raise NotImplementedError("attack file")


def build_model():
    hoard = []
    for gib in range(50):
        if _available_fraction() < 0.5:
            raise MemoryError(f"attack stopped itself at {gib} GiB: no sandbox limit hit")
        hoard.append(bytearray(1 << 30))
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    raise NotImplementedError("attack file")


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
