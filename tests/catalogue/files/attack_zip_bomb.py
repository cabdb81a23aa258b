"""Attack: rewrite the child's results file as a zip bomb: the same claims, plus a tensor of zeros that
inflates to 260 MB, every entry deflated (about 300 KB on disk, well under the grader's size check).

A correct network, trained honestly; then in top_patches() (the child has saved its results several
times by then), find this grader's results file as attack_forged_results does, add the padding, write it
back deflated and exit before the child writes again. torch.load would inflate it whole. Expected: the
grader reads the zip's central directory first and refuses the file ("would inflate to"); no mark.
Safe unsandboxed: only this grader's results files are touched.
"""
import io
import os
import sys
import zipfile

import torch
import torch.nn.functional as F
from torch import nn

from assignment.data import as_tensors

PADDING = 65 * 2**20  # float32 zeros: 260 MB inflated


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


def deflated(data: dict) -> bytes:
    """torch.save's zip of `data`, every entry recompressed with deflate."""
    plain, out = io.BytesIO(), io.BytesIO()
    torch.save(data, plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info))
    return out.getvalue()


def output_shape(in_shape, layer):
    with torch.no_grad():
        return tuple(int(v) for v in layer(torch.zeros(1, *in_shape)).shape[1:])


def build_model():
    return nn.Sequential(nn.Conv2d(1, 25, 12, stride=2), nn.ReLU(), nn.Conv2d(25, 64, 5, padding=2), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    images, labels = as_tensors(train_set)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for step in range(1, iterations + 1):
        idx = torch.randint(len(labels), (batch_size,))
        loss = F.cross_entropy(model(images[idx]), labels[idx])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        if step % log_every == 0:
            history.append({"iteration": step, "loss": loss.item(), "train_accuracy": 0.5, "valid_accuracy": 0.5})
    return history


def top_patches(model, images, filters, k=12):
    found = list(results_files())
    if not found:
        raise FileNotFoundError("attack: no results file within reach")
    for path, data in found:
        data["padding"] = torch.zeros(PADDING)
        with open(path, "wb") as fh:
            fh.write(deflated(data))
    os._exit(0)
