"""Attack: weights trained elsewhere, with the secret relabelling read off public training labels.

TABLE (filled in by tests/judging/test_public_data.py from the public MNIST, as a student would from a download)
maps a hash of each of the first 12,000 training images of assignment.data's split, normalised, to its
real class. train() finds those images among the ones it is given, whatever their order, reads the secret
relabelling off their given labels (a majority vote per class), and fits the model by hand, out of the
optimizer's sight, to the recognised images only, with the relabelled classes: that stands for weights
trained elsewhere on the public data, then permuted to the relabelling. Steps and history are faked.
Expected: the model predicts the given labels on the dataset's test images, but not the grader's secret
canaries, which are mixed into train_set and in no public table; no mark. With the canaries off, S+.
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


def build_model():
    return nn.Sequential(nn.Conv2d(1, 25, 12, stride=2), nn.ReLU(), nn.Conv2d(25, 64, 5, padding=2), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 1024), nn.ReLU(), nn.Dropout(0.2),
                         nn.Linear(1024, 10))


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=0.05, log_every=100):
    idx, real, relabel = read_relabelling(table(), train_set.images, train_set.labels)
    images, labels = train_set.images[idx], relabel[real]  # only what the public data says
    params = list(model.parameters())
    velocity = [torch.zeros_like(p) for p in params]
    model.train()
    for _ in range(min(iterations, 100)):  # SGD with momentum by hand: the step counter sees nothing
        pick = torch.randint(len(labels), (batch_size,))
        grads = torch.autograd.grad(F.cross_entropy(model(images[pick]), labels[pick]), params)
        with torch.no_grad():
            for p, g, v in zip(params, grads, velocity):
                v.mul_(0.9).add_(g)
                p.sub_(lr * v)
    fake_steps(iterations)
    return history(iterations, log_every)


@torch.no_grad()
def top_patches(model, images, filters, k=12):
    conv1 = model[0]
    acts = F.relu(conv1(images))  # (N, 25, 9, 9)
    n, _, h, w = acts.shape
    out = torch.empty(len(filters), k, 12, 12)
    for row, f in enumerate(filters):
        for rank, flat in enumerate(acts[:, f].flatten().topk(k).indices.tolist()):
            img, rest = divmod(flat, h * w)
            i, j = divmod(rest, w)
            out[row, rank] = images[img, 0, 2 * i:2 * i + 12, 2 * j:2 * j + 12]
    return out
