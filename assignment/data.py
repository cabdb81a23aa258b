"""MNIST as in-memory tensors: a fixed 50,000 / 10,000 train/validation split and a separate test set.

The data comes through torchvision. By default it is downloaded into ``~/.cache/cnn-practical/mnist``.
Set ``MNIST_ROOT`` (or pass ``root=``) to use a copy you already have, in torchvision's layout
(``<root>/MNIST/raw/train-images-idx3-ubyte`` and so on).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch

MEAN, STD = 0.1307, 0.3081  # pixel statistics of the 60,000 training images, scaled to [0, 1]
SPLIT_SEED = 0  # fixes which 10,000 training images form the validation set
N_VALID = 10_000
DEFAULT_ROOT = Path.home() / ".cache" / "cnn-practical" / "mnist"


class MNISTUnavailable(RuntimeError):
    """MNIST could be neither found locally nor downloaded."""


class TensorMNIST(torch.utils.data.Dataset):
    """A dataset held in two tensors. Item i is (image (1, 28, 28) float normalised, label int).

    Training code may also read ``.images`` (N, 1, 28, 28) and ``.labels`` (N,) directly and slice
    minibatches from them, which is far faster than going through a DataLoader item by item.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor):
        assert images.ndim == 4 and images.shape[1:] == (1, 28, 28), images.shape
        assert labels.shape == (images.shape[0],), labels.shape
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.labels[i])


@dataclass
class Splits:
    train: TensorMNIST  # 50,000 images
    valid: TensorMNIST  # 10,000 images held out from the training set
    test: TensorMNIST  # the 10,000 official test images: touch them once, at the end


def normalise(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28), scaled to [0, 1] then standardised."""
    return ((pixels.float() / 255.0 - MEAN) / STD).unsqueeze(1)


def mnist_root(root: str | os.PathLike | None = None) -> Path:
    """Where MNIST lives: the argument, else $MNIST_ROOT, else the default cache folder."""
    if root is not None:
        return Path(root)
    env = os.environ.get("MNIST_ROOT")
    return Path(env) if env else DEFAULT_ROOT


def load_raw(root: str | os.PathLike | None = None, download: bool | None = None):
    """The raw uint8 pixels and int64 labels: ((train_x, train_y), (test_x, test_y)).

    ``download=None`` means: download only when no root was given, neither here nor in $MNIST_ROOT.
    An offline copy is never written to, so a read-only folder works.
    """
    from torchvision.datasets import MNIST

    explicit = root is not None or bool(os.environ.get("MNIST_ROOT"))
    where = mnist_root(root)
    if download is None:
        download = not explicit
    try:
        train = MNIST(str(where), train=True, download=download)
        test = MNIST(str(where), train=False, download=download)
    except Exception as err:  # torchvision raises RuntimeError, URLError, OSError... depending on the cause
        if not download:  # nothing was fetched, so the files are simply not there
            hint = (f"No MNIST in torchvision's layout under {where} (expected {where}/MNIST/raw/"
                    "train-images-idx3-ubyte and the three other idx files). Fix MNIST_ROOT or --mnist-root, "
                    "or unset it to download MNIST instead.")
        else:
            hint = (f"Downloading MNIST into {where} failed ({type(err).__name__}: {err}). Check your internet "
                    "connection, or download the four files elsewhere and point MNIST_ROOT (or --mnist-root) "
                    "at the folder that holds MNIST/raw/.")
        raise MNISTUnavailable(hint) from err
    return (train.data, train.targets), (test.data, test.targets)


def split_indices(n: int = 60_000) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) indices into the 60,000 official training images; the same on every call."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return order[N_VALID:], order[:N_VALID]


def load_mnist(root: str | os.PathLike | None = None, download: bool | None = None) -> Splits:
    """Train / validation / test splits, normalised, as in-memory tensors."""
    (train_x, train_y), (test_x, test_y) = load_raw(root, download)
    train_idx, valid_idx = split_indices(len(train_y))
    images = normalise(train_x)
    return Splits(
        train=TensorMNIST(images[train_idx], train_y[train_idx]),
        valid=TensorMNIST(images[valid_idx], train_y[valid_idx]),
        test=TensorMNIST(normalise(test_x), test_y),
    )


def as_tensors(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 1, 28, 28), labels (N,) int64) of any dataset of (image, label) pairs.

    TensorMNIST hands over its tensors without copying; other datasets are read item by item once.
    """
    if isinstance(getattr(dataset, "images", None), torch.Tensor) and isinstance(
            getattr(dataset, "labels", None), torch.Tensor):
        return dataset.images, dataset.labels
    images, labels = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.stack([torch.as_tensor(x, dtype=torch.float32) for x in images]), torch.as_tensor(labels)
