"""Attack: rewrite the child's results file with invented, flattering claims, then exit.

output_shape is right (it cheats by running the layer) and the network is the specified one, left
untrained. In train(), find this grader's results file (as attack_malicious_pickle does: a file that
torch.load(weights_only=True) reads as a dict with "phase" and "errors"), load it and add a perfect
story: phase "done", no errors, `iterations` optimizer steps, a falling loss, logits for 10,000 test
images and a claimed mark; save it back (a plain, loadable torch file) and exit before the child
writes again. Expected: the grader does not take the file's word (it sees forged or missing data:
"results file"); logits for 10,000 images do not cover the test set the grader handed over (MNIST's
test images with secret canaries among them), and could not match the hidden labels anyway, so no mark.
If no results file is found, FileNotFoundError.
"""
import os
import sys

import torch
from torch import nn


def results_files():
    folders = []
    for start in [os.getcwd(), *(a for a in sys.argv[1:] if os.path.isdir(a))]:
        folder = os.path.abspath(start)
        for _ in range(3):
            folders.append(folder)
            folder = os.path.dirname(folder)
    for folder in dict.fromkeys(folders):
        try:
            names = sorted(os.listdir(folder))[:500]
        except OSError:
            continue
        for name in names:
            path = os.path.join(folder, name)
            try:
                if not (os.path.isfile(path) and os.access(path, os.W_OK) and os.path.getsize(path) < 200e6):
                    continue
                with open(path, "rb") as fh:
                    if fh.read(4) != b"PK\x03\x04":
                        continue
                data = torch.load(path, weights_only=True, map_location="cpu")
            except Exception:
                continue
            if isinstance(data, dict) and "phase" in data and "errors" in data:
                yield path, data


def output_shape(in_shape, layer):
    if not isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
        raise TypeError(type(layer).__name__)
    with torch.no_grad():
        return tuple(int(v) for v in layer(torch.zeros(1, *in_shape)).shape[1:])


def build_model():
    return nn.Sequential(nn.Conv2d(1, 25, 12, stride=2), nn.ReLU(), nn.Conv2d(25, 64, 5, padding=2), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    found = list(results_files())
    if not found:
        raise FileNotFoundError("attack: no results file within reach")
    history = [{"iteration": s, "loss": 2.3 * 0.5 ** (s / log_every), "train_accuracy": 0.995, "valid_accuracy": 0.995}
               for s in range(log_every, iterations + 1, log_every)]
    for path, data in found:
        data.update(phase="done", errors={}, optimizer_steps=iterations, history=history,
                    test_logits=torch.eye(10)[torch.arange(10_000) % 10] * 20, mark="S+", score=2)
        torch.save(data, path)
    os._exit(0)


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
