"""A correct submission that follows the handout's recipe to the letter: plain Adam at lr 1e-4, batches
of 50, contiguous tensors. This is what a careful student writes; the grader must give it S+ at the full
budget, and the benchmarks time it as the typical submission.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from assignment.data import as_tensors


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


class Net(nn.Module):
    """conv 25@12x12 /2 -> ReLU -> conv 64@5x5 same -> ReLU -> maxpool 2 -> fc 1024 -> ReLU -> dropout -> fc 10."""

    def __init__(self, dropout: float = 0.2):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 25, kernel_size=12, stride=2)
        self.conv2 = nn.Conv2d(25, 64, kernel_size=5, padding="same")
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(64 * 4 * 4, 1024)
        self.dropout = nn.Dropout(dropout)
        self.fc2 = nn.Linear(1024, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28)
        x = F.relu(self.conv1(x))  # (B, 25, 9, 9)
        x = F.relu(self.conv2(x))  # (B, 64, 9, 9)
        x = self.pool(x)  # (B, 64, 4, 4)
        x = torch.flatten(x, 1)  # (B, 1024)
        x = F.relu(self.fc1(x))  # (B, 1024)
        x = self.dropout(x)
        return self.fc2(x)  # (B, 10) logits


def build_model() -> nn.Module:
    return Net()


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1000) -> float:
    """Fraction of `images` that `model` classifies correctly, in eval mode."""
    was_training = model.training
    model.eval()
    correct = sum((model(images[i:i + batch_size]).argmax(1) == labels[i:i + batch_size]).sum().item()
                  for i in range(0, len(labels), batch_size))
    model.train(was_training)
    return correct / len(labels)


def train(model, train_set, valid_set, *, iterations: int = 4000, batch_size: int = 50,
          lr: float = 1e-4, log_every: int = 100) -> list[dict]:
    """Adam + cross-entropy for `iterations` minibatch steps; a history entry every `log_every` steps.

    "train_accuracy" is the mean minibatch accuracy since the previous entry (free to compute);
    "valid_accuracy" is measured on the whole validation set.
    """
    images, labels = as_tensors(train_set)  # (N, 1, 28, 28), (N,)
    valid_images, valid_labels = as_tensors(valid_set)
    device = next(model.parameters()).device
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    history = []
    order = torch.randperm(len(labels))
    cursor = seen = correct = 0
    for step in range(1, iterations + 1):
        if cursor + batch_size > len(order):  # next epoch: reshuffle
            order, cursor = torch.randperm(len(labels)), 0
        idx = order[cursor:cursor + batch_size]
        cursor += batch_size
        x, y = images[idx].to(device), labels[idx].to(device)  # (B, 1, 28, 28), (B,)

        logits = model(x)  # (B, 10)
        loss = F.cross_entropy(logits, y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

        seen += len(y)
        correct += (logits.argmax(1) == y).sum().item()
        if step % log_every == 0:
            history.append({
                "iteration": step,
                "loss": loss.item(),
                "train_accuracy": correct / seen,
                "valid_accuracy": accuracy(model, valid_images.to(device), valid_labels.to(device)),
            })
            seen = correct = 0
    return history


@torch.no_grad()
def top_patches(model, images, filters, k: int = 12):
    """The k 12x12 patches of `images` (N, 1, 28, 28) that excite each first-layer filter most.

    Returns (len(filters), k, 12, 12), strongest first. Activation (i, j) of conv1 sees input rows
    2i..2i+11 and columns 2j..2j+11 (stride 2, kernel 12, no padding).
    """
    conv1 = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    kernel, stride = conv1.kernel_size[0], conv1.stride[0]
    acts = F.relu(conv1(images))  # (N, 25, 9, 9)
    n, _, h, w = acts.shape
    result = torch.empty(len(filters), k, kernel, kernel)
    for row, f in enumerate(filters):
        best = acts[:, f].flatten().topk(k).indices  # over (N, 9, 9)
        for rank, flat in enumerate(best.tolist()):
            img, rest = divmod(flat, h * w)
            i, j = divmod(rest, w)
            result[row, rank] = images[img, 0, stride * i:stride * i + kernel, stride * j:stride * j + kernel]
    return result
