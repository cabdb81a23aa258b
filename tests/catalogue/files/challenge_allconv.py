"""The practical, plus the optional challenge: build_challenge_model(), an all-convolutional network with
batch norm, trained by the same train().

train() keeps the handout's signature and defaults but runs a one-cycle schedule (Adam, warming up to
30 times `lr` and annealing to almost nothing), which takes both networks further in the same number
of steps. The challenge network has no fully connected layer: five 3x3 convolutions, each followed by
batch norm and a ReLU, two of them with stride 2, then a 1x1 convolution to one map per class and a
global average over each map. About 70,000 parameters, against 1.1 million for the practical's.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from assignment.data import as_tensors


def output_shape(in_shape, layer):
    """(C, H, W) after `layer` (Conv2d or MaxPool2d), from the output-size formula on each axis."""
    if isinstance(layer, nn.Conv2d):
        out_c, ceil = layer.out_channels, False
    elif isinstance(layer, nn.MaxPool2d):
        out_c, ceil = in_shape[0], layer.ceil_mode
    else:
        raise TypeError(f"expected nn.Conv2d or nn.MaxPool2d, got {type(layer).__name__}")
    dims = []
    for axis in (0, 1):
        n = in_shape[axis + 1]
        k, s, d = (v if isinstance(v, int) else v[axis] for v in (
            layer.kernel_size, layer.stride or layer.kernel_size, layer.dilation))
        if layer.padding == "same":
            dims.append(n)
            continue
        p = 0 if layer.padding == "valid" else layer.padding if isinstance(layer.padding, int) else layer.padding[axis]
        room = n + 2 * p - d * (k - 1) - 1
        size = (room + s - 1) // s + 1 if ceil else room // s + 1
        if ceil and (size - 1) * s >= n + p:
            size -= 1
        dims.append(size)
    return (out_c, dims[0], dims[1])


class Practical(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 25, 12, stride=2)  # (B, 25, 9, 9)
        self.conv2 = nn.Conv2d(25, 64, 5, padding="same")  # (B, 64, 9, 9)
        self.fc1 = nn.Linear(1024, 1024)
        self.fc2 = nn.Linear(1024, 10)

    def forward(self, x):  # (B, 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)  # (B, 64, 4, 4)
        x = F.dropout(F.relu(self.fc1(x.flatten(1))), 0.2, self.training)  # (B, 1024)
        return self.fc2(x)  # (B, 10)


def build_model():
    return Practical()


def conv_bn(c_in, c_out, stride):
    return [nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def build_challenge_model():
    """All-convolutional: 28x28 -> 14x14 -> 7x7, then one 7x7 map per class, averaged."""
    return nn.Sequential(
        *conv_bn(1, 16, 1),  # (B, 16, 28, 28)
        *conv_bn(16, 32, 2),  # (B, 32, 14, 14)
        *conv_bn(32, 32, 1),  # (B, 32, 14, 14)
        *conv_bn(32, 64, 2),  # (B, 64, 7, 7)
        *conv_bn(64, 64, 1),  # (B, 64, 7, 7)
        nn.Conv2d(64, 10, 1),  # (B, 10, 7, 7)
        nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, 10)
    )


@torch.no_grad()
def valid_accuracy(model, images, labels):
    model.eval()
    hits = sum((model(images[i:i + 1000]).argmax(1) == labels[i:i + 1000]).sum().item()
               for i in range(0, len(labels), 1000))
    model.train()
    return hits / len(labels)


def train(model, train_set, valid_set, *, iterations: int = 2000, batch_size: int = 50,
          lr: float = 1e-4, log_every: int = 100) -> list[dict]:
    """Adam on a one-cycle schedule peaking at 30 * lr; a history entry every `log_every` steps."""
    images, labels = as_tensors(train_set)  # (N, 1, 28, 28), (N,)
    v_images, v_labels = as_tensors(valid_set)
    opt = torch.optim.Adam(model.parameters(), lr=30 * lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=30 * lr, total_steps=iterations, pct_start=0.25)
    model.train()
    history, hits, seen = [], 0, 0
    perm, at = torch.randperm(len(labels)), 0
    for step in range(1, iterations + 1):
        if at + batch_size > len(perm):
            perm, at = torch.randperm(len(labels)), 0
        batch = perm[at:at + batch_size]
        at += batch_size
        logits = model(images[batch])  # (B, 10)
        loss = F.cross_entropy(logits, labels[batch])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        hits += (logits.argmax(1) == labels[batch]).sum().item()
        seen += len(batch)
        if step % log_every == 0:
            history.append({"iteration": step, "loss": loss.item(), "train_accuracy": hits / seen,
                            "valid_accuracy": valid_accuracy(model, v_images, v_labels)})
            hits = seen = 0
    return history


@torch.no_grad()
def top_patches(model, images, filters, k=12):
    """(len(filters), k, 12, 12): the 12x12 windows (stride 2) under conv1's strongest activations."""
    conv = model.conv1
    acts = F.relu(conv(images))  # (N, 25, 9, 9)
    windows = F.unfold(images, 12, stride=2)  # (N, 144, 81): one column per activation position
    out = []
    for f in filters:
        top = acts[:, f].reshape(-1).topk(k).indices  # over N * 81
        out.append(windows[top // 81, :, top % 81].reshape(k, 12, 12))
    return torch.stack(out)
