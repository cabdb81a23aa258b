"""Reference solution of the CNN practical: the network, its training loop and the top-patch search.

Same four functions and signatures as ``assignment/cnn.py``. Run it with
``python -m assignment --solution reference/cnn.py``.

The network is the one ``assignment/practical.json`` describes (the spec the handout was written for),
so the reference fits every spec; the shapes in the comments are those of the default spec.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from assignment import practical
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
    """conv1 -> ReLU -> conv2 -> ReLU -> maxpool -> fc1 -> ReLU -> dropout -> fc2, sized by the spec.

    By default conv 25@12x12 /2 -> conv 64@5x5 same -> maxpool 2 -> fc 1024 -> fc 10.
    """

    def __init__(self, spec: practical.Practical | None = None):
        super().__init__()
        spec = spec or practical.load()
        c1, c2 = spec.conv1, spec.conv2
        self.conv1 = nn.Conv2d(spec.input[0], c1.filters, c1.kernel, stride=c1.stride, padding=c1.padding)
        self.conv2 = nn.Conv2d(c1.filters, c2.filters, c2.kernel, stride=c2.stride, padding=c2.padding)
        self.pool = nn.MaxPool2d(spec.pool.kernel, spec.pool.stride)
        with torch.no_grad():  # fc1's input size, measured on one blank image rather than worked out
            flat = self.features(torch.zeros(1, *spec.input)).shape[1]
        self.fc1 = nn.Linear(flat, spec.fc1_units)
        self.dropout = nn.Dropout(spec.dropout)
        self.fc2 = nn.Linear(spec.fc1_units, spec.classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28)
        x = F.relu(self.conv1(x))  # (B, 25, 9, 9)
        x = F.relu(self.conv2(x))  # (B, 64, 9, 9)
        x = self.pool(x)  # (B, 64, 4, 4)
        return torch.flatten(x, 1)  # (B, 1024)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, 1, 28, 28)
        x = F.relu(self.fc1(self.features(x)))  # (B, 1024)
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

    The handout's recipe: Adam at a constant learning rate `lr`, minibatches of `batch_size`.
    "train_accuracy" is the mean minibatch accuracy since the previous entry (free to compute);
    "valid_accuracy" is measured on the whole validation set.
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    return fit(model, train_set, valid_set, optimiser, iterations=iterations, batch_size=batch_size,
               log_every=log_every)


def train_fast(model, train_set, valid_set, *, iterations: int = 1400, batch_size: int = 64,
               max_lr: float = 3e-3, log_every: int | None = None) -> list[dict]:
    """Extension, not graded: the same network to about 99.2% test accuracy in about 1.8 epochs.

    Why it needs so many fewer images than the handout's recipe (Adam at 1e-4 reaches 99.2% only after
    several epochs): a one-cycle schedule. The learning rate warms up over the first quarter of the run
    to `max_lr`, 30 times the handout's, then anneals to almost zero. Large steps cross the loss
    landscape quickly while the weights are far from any minimum; the long, shrinking tail settles
    into one. The schedule is planned for the whole run, so the run must know its length in advance:
    to train longer, raise `iterations` rather than calling this twice. Both recipes share `fit`, whose
    speed-ups (below) help the handout's recipe just as much.
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=max_lr, fused=True)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=max_lr, total_steps=iterations,
                                                   pct_start=0.25)
    return fit(model, train_set, valid_set, optimiser, schedule, iterations=iterations,
               batch_size=batch_size, log_every=log_every or iterations)


def fit(model, train_set, valid_set, optimiser, schedule=None, *, iterations: int, batch_size: int,
        log_every: int) -> list[dict]:
    """The training loop of both recipes. What makes it fast on a CPU:

    - minibatches are sliced from two in-memory tensors with a shuffled index, not assembled image by
      image by a DataLoader;
    - the weights are kept in the channels_last layout while training, which oneDNN's convolutions
      use without reordering them at every call (about 15% faster here); the usual layout is restored
      at the end, so code that calls .view() on the weights still works;
    - Adam is `fused`: one kernel updates every parameter, instead of half a dozen tensor operations
      per parameter tensor (about a fifth of a step at batch 50 otherwise);
    - the validation set is measured only at the history entries, in batches of 1000.
    """
    images, labels = as_tensors(train_set)  # (N, 1, 28, 28), (N,)
    valid_images, valid_labels = as_tensors(valid_set)
    device = next(model.parameters()).device
    model.to(memory_format=torch.channels_last)
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
        if schedule is not None:
            schedule.step()

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
    model.to(memory_format=torch.contiguous_format)
    return history


def padding_before(conv: nn.Conv2d) -> tuple[int, int]:
    """Zero rows and columns that `conv` puts before the image (PyTorch's 'same' puts an odd one after)."""
    if conv.padding == "same":
        return tuple(d * (k - 1) // 2 for k, d in zip(conv.kernel_size, conv.dilation))
    if conv.padding == "valid":
        return (0, 0)
    return tuple(conv.padding)


@torch.no_grad()
def top_patches(model, images, filters, k: int = 12):
    """The k patches of `images` (N, C, H, W), by default (N, 1, 28, 28), that excite each first-layer
    filter most.

    Returns (len(filters), k, kh, kw) for grey images, (len(filters), k, C, kh, kw) for colour ones,
    strongest first: by default (len(filters), k, 12, 12). Activation (i, j) of conv1 sees padded input
    rows stride*i .. stride*i + kh - 1, and columns likewise; by default rows 2i..2i+11 and columns
    2j..2j+11 (stride 2, kernel 12, no padding).
    """
    conv1 = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    (kh, kw), (sh, sw) = conv1.kernel_size, conv1.stride
    top, left = padding_before(conv1)
    padded = F.pad(images, (left, kw, top, kh))  # the zeros conv1 sees around the image, and spare ones
    acts = F.relu(conv1(images))  # (N, 25, 9, 9)
    n, _, h, w = acts.shape
    channels = images.shape[1]
    result = torch.empty(len(filters), k, channels, kh, kw)
    for row, f in enumerate(filters):
        best = acts[:, f].flatten().topk(k).indices  # over (N, 9, 9)
        for rank, flat in enumerate(best.tolist()):
            img, rest = divmod(flat, h * w)
            i, j = divmod(rest, w)
            result[row, rank] = padded[img, :, sh * i:sh * i + kh, sw * j:sw * j + kw]
    return result[:, :, 0] if channels == 1 else result  # grey: (len(filters), k, 12, 12)
