"""Canaries: secret images with secret labels, mixed into the data that train() is given.

The relabelling (relabel.py) proves that a model learnt the labels it was handed, unless the labels can
be read off: a model trained elsewhere on the public dataset classifies the given training images, a
majority vote per class then tells the relabelling, and the output layer's rows are permuted to match.
Canaries close that door. Each grading draws a few prototypes, blocky random patterns unlike anything in a
public dataset, each with a secret label; noisy, shifted copies of them are shuffled into the training
set, and fresh copies into the test images. A network that learnt from the given data classifies them
(they are far easier than the real images); one whose weights came from anywhere else can only guess,
because nothing public says what they are. Their labels live in the same label space as the relabelled
classes, so they reveal nothing about the relabelling either.

Everything is drawn from the grading's secret seed: the same file regraded on this machine sees the same
canaries. The reports never show a canary: the patches figure and the accuracy bars use the real images only.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

import torch

BLOCK = 4  # the prototypes are random on a grid of BLOCK x BLOCK pixel blocks
DENSITY = 0.35  # the share of blocks that are lit
TRAIN_SHARE = 0.05  # of the training set: 2,500 images beside MNIST's 50,000
TEST_COUNT = 500  # fresh copies among the test images the child is shown
SHIFT = 0  # copies are rolled by up to this many pixels each way
NOISE = 30  # and get uniform noise in [0, NOISE) added to every pixel
# The share of test canaries a model must classify is grading.yml's accuracy.canaries (config.Accuracy).


@dataclass(frozen=True)
class Canaries:
    train_x: torch.Tensor  # uint8, like the dataset's images
    train_y: torch.Tensor  # secret labels, in the label space train() is given
    test_x: torch.Tensor
    test_y: torch.Tensor


def draw(shape: tuple[int, ...], classes: int, train_size: int, seed: bytes) -> Canaries:
    """Canaries for images of `shape` ((H, W) or (C, H, W), uint8) and `classes` labels: one prototype
    per class, each with a secret label (a permutation of the classes), copies for training
    (TRAIN_SHARE of `train_size`) and TEST_COUNT fresh copies for testing."""
    rng = random.Random(seed + b"canaries")
    gen = torch.Generator().manual_seed(rng.getrandbits(63))
    *channels, h, w = shape
    grid = (*channels, -(-h // BLOCK), -(-w // BLOCK))
    lit = torch.rand(classes, *grid, generator=gen) < DENSITY
    protos = lit.repeat_interleave(BLOCK, -2).repeat_interleave(BLOCK, -1)[..., :h, :w].to(torch.uint8) * 195
    labels = torch.randperm(classes, generator=gen)

    def copies(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        which = torch.arange(n) % classes
        x = protos[which].clone()
        shifts = torch.randint(-SHIFT, SHIFT + 1, (n, 2), generator=gen)
        for i, (dy, dx) in enumerate(shifts.tolist()):
            x[i] = x[i].roll((dy, dx), dims=(-2, -1))
        noise = torch.randint(0, NOISE, x.shape, generator=gen, dtype=torch.uint8)
        return x + noise, labels[which]  # 195 + 59 stays below 256

    train_x, train_y = copies(max(classes, round(TRAIN_SHARE * train_size)))
    test_x, test_y = copies(TEST_COUNT)
    return Canaries(train_x, train_y, test_x, test_y)
