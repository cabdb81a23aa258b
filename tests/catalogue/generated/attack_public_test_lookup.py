"""Attack: a one-parameter "model" that looks each test image up by its hash in the public test labels.

TEST_TABLE and TABLE (filled in by tests/judging/test_public_data.py from the public MNIST, as a student would
from a download) map a hash of each normalised test image, and of the first 12,000 training images of
assignment.data's split, to its real class. train() reads the secret relabelling off the recognised
training images (a majority vote per class) and keeps it in the model; the model's forward pass answers
relabel[real class] for every test image it recognises. It is not the practical's network, so its
accuracy can only come from its own outputs. Steps and history are faked.
Expected: every test image right, but the grader's secret canaries, which no public table holds, are
guessed; no mark. With the canaries off, S.
"""
import base64
import hashlib
import zlib

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import optimizer as optim_module

TABLE = ""  # base64 of zlib of (8-byte hash, 1-byte class) records


def table() -> dict:
    raw = zlib.decompress(base64.b64decode(TABLE))
    return {raw[i:i + 8]: raw[i + 8] for i in range(0, len(raw), 9)}


def key(image: torch.Tensor) -> bytes:
    return hashlib.blake2b(image.contiguous().numpy().tobytes(), digest_size=8).digest()


def read_relabelling(known: dict, images: torch.Tensor, given: torch.Tensor):
    """The indices of the recognised images, their real classes, and relabel[real] by a majority vote."""
    found = [(i, known[k]) for i, k in enumerate(map(key, images)) if k in known]
    idx = torch.tensor([i for i, _ in found])
    real = torch.tensor([r for _, r in found])
    votes = torch.zeros(10, 10)
    votes.index_put_((real, given[idx]), torch.ones(len(idx)), accumulate=True)
    return idx, real, votes.argmax(1)


def fake_steps(iterations: int) -> None:
    dummy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)
    for _ in range(iterations):
        for hook in list(getattr(optim_module, "_global_optimizer_post_hooks", {}).values()):
            hook(dummy, (), {})


def history(iterations: int, log_every: int) -> list:
    return [{"iteration": s, "loss": 2.3 * 0.5 ** (s / log_every), "train_accuracy": 0.9, "valid_accuracy": 0.9}
            for s in range(log_every, iterations + 1, log_every)]


def output_shape(in_shape: tuple[int, int, int], layer: nn.Module) -> tuple[int, int, int]:
    """(C, H, W) that `layer` (nn.Conv2d or nn.MaxPool2d) gives for an input of shape `in_shape` (C, H, W).

    Computed from the layer's settings, never by running it.
    """
    if isinstance(layer, nn.Conv2d):
        channels = layer.out_channels
        ceil_mode = False
    elif isinstance(layer, nn.MaxPool2d):
        channels = in_shape[0]
        ceil_mode = layer.ceil_mode
    else:
        raise TypeError(f"output_shape handles nn.Conv2d and nn.MaxPool2d, not {type(layer).__name__}")

    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    kernel, dilation = pair(layer.kernel_size), pair(layer.dilation)
    stride = pair(layer.stride if layer.stride is not None else layer.kernel_size)
    padding = layer.padding
    sizes = []
    for axis, size in enumerate(in_shape[1:]):
        span = dilation[axis] * (kernel[axis] - 1) + 1  # extent of the dilated kernel
        if padding == "same":  # only allowed with stride 1: the size is kept
            sizes.append(size)
            continue
        pad = 0 if padding == "valid" else pair(padding)[axis]
        room = size + 2 * pad - span
        if ceil_mode:
            out = -(-room // stride[axis]) + 1
            if (out - 1) * stride[axis] >= size + pad:  # the last window must start inside the input
                out -= 1
        else:
            out = room // stride[axis] + 1
        sizes.append(out)
    return (channels, sizes[0], sizes[1])


TEST_TABLE = ""  # the same records for the 10,000 test images


class Lookup(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.register_buffer("relabel", torch.arange(10))
        self.known = None

    def forward(self, x):
        if self.known is None:
            raw = zlib.decompress(base64.b64decode(TEST_TABLE))
            self.known = {raw[i:i + 8]: raw[i + 8] for i in range(0, len(raw), 9)}
        out = torch.zeros(len(x), 10)
        for i, image in enumerate(x):
            real = self.known.get(key(image))
            if real is not None:
                out[i, self.relabel[real]] = 10.0
        return out * self.scale


def build_model():
    return Lookup()


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=0.05, log_every=100):
    _, _, model.relabel = read_relabelling(table(), train_set.images, train_set.labels)
    fake_steps(iterations)
    return history(iterations, log_every)


@torch.no_grad()
def top_patches(model, images, filters, k=12):
    return torch.zeros(len(filters), k, 12, 12)
