"""Your solution to the CNN practical. This is the only file you hand in.

Fill in the four functions below. Keep their names, arguments and defaults: the grader calls them
exactly as written here. You may import torch, torchvision, numpy, the standard library and the assignment package
(for example ``from assignment.data import as_tensors``); the grader has nothing else. The handout is
assignment/README.md.
"""
from __future__ import annotations

import torch
from torch import nn


def output_shape(in_shape: tuple[int, int, int], layer: nn.Module) -> tuple[int, int, int]:
    """Shape of the output that a convolution or max-pooling layer gives, without running it.

    Inputs:
    - in_shape: (C, H, W) of one input image, e.g. (1, 28, 28).
    - layer: an nn.Conv2d or an nn.MaxPool2d. Read its settings: kernel_size, stride, padding
      (an int, a pair, 'same' or 'valid'), dilation and, for pooling, ceil_mode.

    Returns:
    - (C_out, H_out, W_out) as a tuple of three Python ints.

    Raises:
    - TypeError for any other kind of layer.
    """
    # TODO: apply the output-size formula of handout section 2 to each spatial axis.
    raise NotImplementedError("output_shape is not written yet: see section 2 of assignment/README.md")


def build_model() -> nn.Module:
    """The practical's network.

    Returns:
    - an nn.Module mapping a float batch (B, 1, 28, 28) to logits (B, 10): no softmax at the end.
    """
    # TODO: the layers of handout section 3, in that order.
    raise NotImplementedError("build_model is not written yet: see section 3 of assignment/README.md")


def train(model, train_set, valid_set, *, iterations: int = 4000, batch_size: int = 50,
          lr: float = 1e-4, log_every: int = 100) -> list[dict]:
    """Train `model` in place with Adam and the cross-entropy loss.

    Inputs:
    - model: the network from build_model().
    - train_set, valid_set: datasets whose items are (image (1, 28, 28) float, label int). The
      MNIST ones also have .images (N, 1, 28, 28) and .labels (N,) tensors; slicing minibatches
      from those is much faster than a DataLoader.
    - iterations: the number of minibatch updates to make, exactly.
    - batch_size, lr: minibatch size and Adam's learning rate.
    - log_every: record the history every this many iterations.

    Returns:
    - the history: a list with one dict per `log_every` iterations, with keys "iteration" (int),
      "loss" (float, the training loss), "train_accuracy" and "valid_accuracy" (floats in [0, 1]).
    """
    # TODO: the training loop of handout section 4. Do not use the test set here.
    raise NotImplementedError("train is not written yet: see section 4 of assignment/README.md")


def top_patches(model, images, filters, k: int = 12):
    """The input patches that excite chosen first-layer filters the most.

    Inputs:
    - model: a trained network from build_model().
    - images: float tensor (N, 1, 28, 28).
    - filters: a list of filter indices of the first convolution, e.g. [0, 5, 10, 15, 20].
    - k: how many patches to return per filter.

    Returns:
    - a tensor (len(filters), k, 12, 12): for each filter, the k patches of `images` whose first-layer
      activation (after the ReLU) is highest, strongest first.
    """
    # TODO: handout section 5. Work out which input pixels activation (i, j) of conv1 looks at.
    raise NotImplementedError("top_patches is not written yet: see section 5 of assignment/README.md")
