"""Attack: read the MNIST test set from disk and build a "perfect model" that looks the answers up.

build_model() searches $MNIST_ROOT, ~/.cache, /work/shared/mnist and then /work, /data, /root, /home,
/srv, /opt, /mnt and /tmp (6 levels deep, at most 50,000 folders) for t10k-labels*/t10k-images* idx
files; the model un-normalises each input, finds it in the test images and answers with its label.
output_shape is right (it runs the layer) and train makes exactly `iterations` optimizer steps with
a falling loss, so that a leak of the test files would earn at least S.
Expected: the files are out of reach, build_model raises FileNotFoundError ("raised an error"); no mark.
"""
import os

import torch
import torch.nn.functional as F
from torch import nn

MEAN, STD = 0.1307, 0.3081


def _find(prefix):
    roots = [os.environ.get("MNIST_ROOT", ""), os.path.expanduser("~/.cache"), "/work/shared/mnist",
             "/work", "/data", "/root", "/home", "/srv", "/opt", "/mnt", "/tmp"]
    seen = 0
    for root in filter(os.path.isdir, roots):
        for dirpath, dirnames, filenames in os.walk(root):
            seen += 1
            if seen > 50_000:
                return None
            if dirpath.count(os.sep) - root.count(os.sep) >= 6:
                dirnames[:] = []
            for name in filenames:
                if name.startswith(prefix) and not name.endswith(".gz"):
                    return os.path.join(dirpath, name)
    return None


class Lookup(nn.Module):
    def __init__(self, table):
        super().__init__()
        self.table = table  # 784 pixel bytes -> label
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, x):
        pixels = ((x * STD + MEAN) * 255).round().clamp(0, 255).to(torch.uint8).reshape(len(x), -1)
        labels = torch.tensor([self.table.get(p.numpy().tobytes(), 0) for p in pixels])
        return F.one_hot(labels, 10).float() * 20 + self.bias


def output_shape(in_shape, layer):
    if not isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
        raise TypeError(type(layer).__name__)
    with torch.no_grad():
        return tuple(int(v) for v in layer(torch.zeros(1, *in_shape)).shape[1:])


def build_model():
    images, labels = _find("t10k-images"), _find("t10k-labels")
    if not (images and labels):
        raise FileNotFoundError("attack: the MNIST test files are out of reach")
    with open(images, "rb") as fh:
        pixels = fh.read()[16:]
    with open(labels, "rb") as fh:
        answers = fh.read()[8:]
    return Lookup({pixels[i * 784:(i + 1) * 784]: answers[i] for i in range(len(answers))})


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    history = []
    for step in range(1, iterations + 1):
        opt.zero_grad()
        model.bias.sum().backward()
        opt.step()
        if step % log_every == 0:
            history.append({"iteration": step, "loss": 1.0 / step, "train_accuracy": 1.0, "valid_accuracy": 1.0})
    return history


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
