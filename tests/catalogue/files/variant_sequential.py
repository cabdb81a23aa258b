"""CNN practical, written as one nn.Sequential with nn.Flatten.

Differs from the reference in form only: output_shape uses float maths and floor/ceil, train walks
through one fixed shuffle repeated and uses nn.CrossEntropyLoss, top_patches cuts windows with F.unfold.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from assignment.data import as_tensors


def _two(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


def _size(n, kernel, stride, pad, dilation, ceil):
    span = dilation * (kernel - 1) + 1
    steps = (n + 2 * pad - span) / stride
    out = (math.ceil(steps) if ceil else math.floor(steps)) + 1
    if ceil and (out - 1) * stride >= n + pad:  # a window may not start in the right padding
        out -= 1
    return int(out)


def output_shape(in_shape, layer):
    if not isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
        raise TypeError(f"not a Conv2d or MaxPool2d: {layer!r}")
    c, h, w = in_shape
    k, s, d = _two(layer.kernel_size), _two(layer.stride), _two(layer.dilation)
    if isinstance(layer, nn.Conv2d):
        if layer.padding == "same":
            return (layer.out_channels, h, w)
        p = (0, 0) if layer.padding == "valid" else _two(layer.padding)
        c, ceil = layer.out_channels, False
    else:
        p, ceil = _two(layer.padding), layer.ceil_mode
    return (c, _size(h, k[0], s[0], p[0], d[0], ceil), _size(w, k[1], s[1], p[1], d[1], ceil))


def build_model():
    return nn.Sequential(
        nn.Conv2d(1, 25, 12, stride=2), nn.ReLU(),  # (B, 25, 9, 9)
        nn.Conv2d(25, 64, 5, padding=2), nn.ReLU(),  # (B, 64, 9, 9)
        nn.MaxPool2d(2), nn.Flatten(),  # (B, 1024)
        nn.Linear(1024, 1024), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(1024, 10),  # (B, 10)
    )


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    x_all, y_all = as_tensors(train_set)
    x_val, y_val = as_tensors(valid_set)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    history, hits, count = [], 0, 0
    order = torch.randperm(len(y_all)).repeat(iterations * batch_size // len(y_all) + 1)  # epochs back to back
    for it in range(iterations):
        idx = order[it * batch_size:(it + 1) * batch_size]
        model.train()
        out = model(x_all[idx])
        loss = loss_fn(out, y_all[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        hits += (out.argmax(1) == y_all[idx]).sum().item()
        count += batch_size
        if (it + 1) % log_every == 0:
            model.eval()
            with torch.no_grad():
                right = sum((model(x_val[i:i + 500]).argmax(1) == y_val[i:i + 500]).sum().item()
                            for i in range(0, len(y_val), 500))
            history.append(dict(iteration=it + 1, loss=loss.item(), train_accuracy=hits / count,
                                valid_accuracy=right / len(y_val)))
            hits = count = 0
    return history


@torch.no_grad()
def top_patches(model, images, filters, k=12):
    conv = model[0]
    acts = torch.relu(conv(images))  # (N, 25, 9, 9)
    cols = F.unfold(images, 12, stride=2)  # (N, 144, 81): column l is the window of activation l
    n, _, h, w = acts.shape
    out = []
    for f in filters:
        best = acts[:, f].reshape(-1).topk(k).indices
        out.append(cols[best // (h * w), :, best % (h * w)].reshape(k, 12, 12))
    return torch.stack(out)
