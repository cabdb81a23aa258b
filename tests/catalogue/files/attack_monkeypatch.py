"""Attack: monkeypatch the interpreter that the grader's child shares with this file.

At import: torch.allclose, torch.equal and torch.testing.assert_close always agree, tensor == tensor
is all True, and builtins.isinstance claims that anything is an int. output_shape then returns floats,
hoping an isinstance(x, int) check waves them through; the other functions are unimplemented.
Expected: the parent process judges with its own, unpatched interpreter: "expected an int"; no mark.
"""
import builtins

import torch

_real_isinstance = builtins.isinstance


def _lying_isinstance(obj, cls):
    return cls is int or _real_isinstance(obj, cls)


builtins.isinstance = _lying_isinstance
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.testing.assert_close = lambda *args, **kwargs: None
torch.Tensor.__eq__ = lambda self, other: torch.ones(self.shape, dtype=torch.bool)


def output_shape(in_shape, layer):
    return (float(in_shape[0]), in_shape[1] / 2, in_shape[2] / 2)


def build_model():
    raise NotImplementedError("attack file")


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    raise NotImplementedError("attack file")


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
