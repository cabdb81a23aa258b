"""CNN practical: a module with functional ops, a DataLoader training loop and device-aware code.

Pooling, dropout and ReLU are F.* calls (no modules for them), the layers have other names, train
loops over a DataLoader (epochs) until exactly `iterations` steps are made, and the model is moved
to the GPU when there is one (never on the grader), then back to the CPU.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader


def output_shape(in_shape, layer):
    if isinstance(layer, nn.Conv2d):
        c_out, ceil = layer.out_channels, False
    elif isinstance(layer, nn.MaxPool2d):
        c_out, ceil = in_shape[0], layer.ceil_mode
    else:
        raise TypeError("output_shape only knows Conv2d and MaxPool2d")
    dims = []
    for a in (0, 1):
        get = lambda v: v[a] if isinstance(v, tuple) else v  # noqa: E731
        n, k, s, d = in_shape[1 + a], get(layer.kernel_size), get(layer.stride), get(layer.dilation)
        if layer.padding == "same":
            dims.append(n)
            continue
        p = 0 if layer.padding == "valid" else get(layer.padding)
        numerator = n + 2 * p - d * (k - 1) - 1
        out = (numerator + (s - 1 if ceil else 0)) // s + 1
        if ceil and (out - 1) * s >= n + p:
            out -= 1
        dims.append(int(out))
    return (c_out, dims[0], dims[1])


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 25, (12, 12), (2, 2))
        self.c2 = nn.Conv2d(25, 64, 5, padding="same")
        self.f1 = nn.Linear(1024, 1024)
        self.f2 = nn.Linear(1024, 10)

    def forward(self, x):
        x = F.relu(self.c1(x))
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.dropout(F.relu(self.f1(x.view(x.size(0), -1))), 0.25, self.training)
        return self.f2(x)


def build_model():
    return CNN()


def evaluate(model, loader, device):
    model.eval()
    right = total = 0
    with torch.no_grad():
        for x, y in loader:
            right += (model(x.to(device)).argmax(1).cpu() == y).sum().item()
            total += len(y)
    model.train()
    return right / total


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True)
    valid_loader = DataLoader(valid_set, batch_size=1000)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history, step, right, seen = [], 0, 0, 0
    model.train()
    while step < iterations:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            right += (logits.argmax(1) == y).sum().item()
            seen += len(y)
            if step % log_every == 0:
                history.append({"iteration": step, "loss": loss.item(), "train_accuracy": right / seen,
                                "valid_accuracy": evaluate(model, valid_loader, device)})
                right = seen = 0
            if step == iterations:
                break
    model.to("cpu")
    return history


def top_patches(model, images, filters, k=12):
    with torch.no_grad():
        acts = F.relu(model.c1(images)).numpy()  # (N, 25, 9, 9)
    pics = images.numpy()
    out = np.zeros((len(filters), k, 12, 12), dtype=np.float32)
    for r, f in enumerate(filters):
        order = np.argsort(-acts[:, f].ravel(), kind="stable")[:k]
        for q, (n, i, j) in enumerate(zip(*np.unravel_index(order, acts[:, f].shape))):
            out[r, q] = pics[n, 0, 2 * i:2 * i + 12, 2 * j:2 * j + 12]
    return torch.from_numpy(out)
