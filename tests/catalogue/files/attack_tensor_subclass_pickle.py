"""Attack: smuggle a malicious pickle into the results through the model's own parameter.

The only parameter is an nn.Parameter subclass that keeps its class through detach(), cpu() and
clone() (it re-enables __torch_function__) and whose __reduce_ex__ pickles as open(MARKER, "w").
When the child saves the trained weights, the results file carries that call.
Expected: the parent's torch.load(weights_only=True) refuses it ("results file"), the marker never
appears; no mark.
"""
import torch
from torch import nn

MARKER = "/tmp/cnn-grader-pwned-attack_tensor_subclass_pickle"


class Sticky(nn.Parameter):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return torch.Tensor.__torch_function__.__func__(cls, func, types, args, kwargs or {})

    def __reduce_ex__(self, protocol):
        return (open, (MARKER, "w"))


class Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = Sticky(torch.zeros(10, 784))

    def forward(self, x):
        return x.flatten(1) @ self.weight.T


def output_shape(in_shape, layer):
    raise NotImplementedError("attack file")


def build_model():
    return Linear()


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    return []


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
