"""The practical's dataset as in-memory tensors: a fixed train/validation split and a separate test set.

The dataset is the one assignment/practical.json names (MNIST unless your handout says otherwise);
``dataset=`` picks another: "mnist", "fashion-mnist" or "cifar10" (their facts are in datasets.py).
The data comes through torchvision. By default it is downloaded into ``~/.cache/cnn-practical/NAME``.
To use a copy you already have, set the dataset's variable (``MNIST_ROOT``, ``FASHION_MNIST_ROOT``,
``CIFAR10_ROOT``) or pass ``root=``: a folder in torchvision's layout (``<root>/MNIST/raw/...``,
``<root>/cifar-10-batches-py/...``). For MNIST and Fashion-MNIST a folder that holds only the four
original .gz files works too (Debian's dataset-fashion-mnist package installs them so): they are unpacked
into a temporary folder for torchvision to read, then deleted. An offline copy is never written to.
"""
from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from assignment import datasets
from assignment.datasets import Dataset

SPLIT_SEED = 0  # fixes which training images form the validation set


class DataUnavailable(RuntimeError):
    """The dataset could be neither found locally nor downloaded."""


class MNISTUnavailable(DataUnavailable):
    """MNIST could be neither found locally nor downloaded (the name code written for MNIST catches)."""


def info(dataset: str | None = None) -> Dataset:
    """The facts of `dataset`; None: the practical's own (assignment/practical.json)."""
    if dataset is None:
        from assignment import practical

        dataset = practical.load().dataset
    return datasets.get(dataset)


class TensorImages(torch.utils.data.Dataset):
    """A dataset held in two tensors. Item i is (image (C, H, W) float normalised, label int), e.g.
    (1, 28, 28) for MNIST.

    Training code may also read ``.images`` (N, C, H, W) and ``.labels`` (N,) directly and slice
    minibatches from them, which is far faster than going through a DataLoader item by item.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, dataset: str | None = None):
        shape = info(dataset).input
        assert images.ndim == 4 and images.shape[1:] == shape, (images.shape, shape)
        assert labels.shape == (images.shape[0],), labels.shape
        self.images = images
        self.labels = labels

    def __len__(self) -> int:
        return self.labels.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.images[i], int(self.labels[i])


TensorMNIST = TensorImages  # the name code written for MNIST uses


@dataclass
class Splits:
    train: TensorImages  # the training images less the validation ones (50,000 for MNIST)
    valid: TensorImages  # held out from the training set (10,000 for MNIST)
    test: TensorImages  # the official test images: touch them once, at the end


def normalise(pixels: torch.Tensor, dataset: str | None = None) -> torch.Tensor:
    """uint8 (N, H, W) or (N, C, H, W) -> float32 (N, C, H, W), scaled to [0, 1] then standardised with
    the dataset's per-channel mean and std."""
    d = info(dataset)
    x = pixels.to(torch.float32, copy=True)  # one new tensor, then the same arithmetic in place: a few times faster
    if x.ndim == 3:
        x = x.unsqueeze(1)  # (N, 1, H, W)
    x.div_(255.0)
    return x.sub_(torch.tensor(d.mean).view(1, -1, 1, 1)).div_(torch.tensor(d.std).view(1, -1, 1, 1))


def data_root(dataset: str | None = None, root: str | os.PathLike | None = None) -> Path:
    """Where the dataset lives: the argument, else its variable ($MNIST_ROOT, ...), else the download folder."""
    if root is not None:
        return Path(root)
    d = info(dataset)
    env = os.environ.get(d.env)
    return Path(env) if env else d.default_root


def _tensors(part) -> tuple[torch.Tensor, torch.Tensor]:
    """A torchvision dataset's uint8 pixels, channels first ((N, H, W) or (N, C, H, W)), and int64 labels."""
    x = torch.as_tensor(part.data)
    if x.ndim == 4:  # CIFAR-10 comes as (N, H, W, C) numpy
        x = x.permute(0, 3, 1, 2).contiguous()
    return x, torch.as_tensor(part.targets, dtype=torch.int64)


@contextlib.contextmanager
def _unpacked(d: Dataset, folder: Path, cls):
    """For an MNIST-like dataset given as a folder holding just its four original .gz files (Debian's
    packages install them so, and not always byte for byte as torchvision downloads them): a temporary
    folder in torchvision's layout with the files unpacked, for torchvision to read. None if `folder` is
    not such a folder. Nothing is written beside the .gz files, nor kept afterwards."""
    resources = getattr(cls, "resources", None)
    if not isinstance(resources, list) or not all((folder / name).is_file() for name, _ in resources):
        yield None
        return
    with tempfile.TemporaryDirectory(prefix=f"cnn-practical-{d.name}-") as tmp:
        raw = Path(tmp) / cls.__name__ / "raw"
        raw.mkdir(parents=True)
        for name, _ in resources:
            try:
                with gzip.open(folder / name) as src, (raw / name.removesuffix(".gz")).open("wb") as out:
                    shutil.copyfileobj(src, out)
            except (OSError, EOFError) as err:  # gzip.BadGzipFile is an OSError
                raise DataUnavailable(f"{folder / name} could not be unpacked ({type(err).__name__}: {err}): "
                                      f"corrupted, or not one of {d.title}'s original files") from err
        yield Path(tmp)


def load_raw(root: str | os.PathLike | None = None, download: bool | None = None, *, dataset: str | None = None):
    """The raw uint8 pixels ((N, H, W), or (N, C, H, W) for colour) and int64 labels:
    ((train_x, train_y), (test_x, test_y)).

    ``download=None`` means: download only when no root was given, neither here nor in the dataset's
    variable. An offline copy is never written to, so a read-only folder works.
    """
    import torchvision.datasets

    d = info(dataset)
    explicit = root is not None or bool(os.environ.get(d.env))
    where = data_root(d.name, root)
    if download is None:
        download = not explicit
    cls = getattr(torchvision.datasets, d.torchvision)
    error = MNISTUnavailable if d.name == "mnist" else DataUnavailable
    try:
        with _unpacked(d, where, cls) if not download else contextlib.nullcontext() as unpacked:
            folder = unpacked or where
            train = cls(str(folder), train=True, download=download)
            test = cls(str(folder), train=False, download=download)
        sets = _tensors(train), _tensors(test)
        image = sets[0][0].shape[1:]
        if image != (d.input[1:] if d.input[0] == 1 else d.input):
            raise DataUnavailable(f"the images under {where} are {'x'.join(map(str, image))}, but {d.title}'s are "
                                  f"{'x'.join(map(str, d.input))}: is it another dataset?")
    except DataUnavailable as err:
        raise error(f"{err}. Fix {d.env} or --data-root, or unset it to download {d.title} instead.") from err
    except Exception as err:  # torchvision raises RuntimeError, URLError, OSError... depending on the cause
        if not download:  # nothing was fetched, so the files are simply not there
            hint = (f"No {d.title} under {where} (expected {where}/{d.layout}). Fix {d.env} or --data-root, "
                    f"or unset it to download {d.title} instead.")
        else:
            hint = (f"Downloading {d.title} into {where} failed ({type(err).__name__}: {err}). Check your internet "
                    f"connection, or download it elsewhere and point {d.env} (or --data-root) at that copy "
                    f"({d.layout}).")
        raise error(hint) from err
    return sets


def split_indices(n: int, dataset: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, validation) indices into the n official training images; the same on every call. The
    validation set is the dataset's n_valid images (the same share of a smaller copy)."""
    d = info(dataset)
    n_valid = n * d.n_valid // d.n_train
    order = torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_SEED))
    return order[n_valid:], order[:n_valid]


def load_data(root: str | os.PathLike | None = None, download: bool | None = None, *,
              dataset: str | None = None) -> Splits:
    """Train / validation / test splits, normalised, as in-memory tensors."""
    d = info(dataset)
    (train_x, train_y), (test_x, test_y) = load_raw(root, download, dataset=d.name)
    train_idx, valid_idx = split_indices(len(train_y), d.name)
    images = normalise(train_x, d.name)
    return Splits(
        train=TensorImages(images[train_idx], train_y[train_idx], d.name),
        valid=TensorImages(images[valid_idx], train_y[valid_idx], d.name),
        test=TensorImages(normalise(test_x, d.name), test_y, d.name),
    )


load_mnist = load_data  # the name code written for MNIST uses; it loads the practical's dataset


def as_tensors(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, C, H, W), labels (N,) int64) of any dataset of (image, label) pairs.

    TensorImages hands over its tensors without copying; other datasets are read item by item once.
    """
    if isinstance(getattr(dataset, "images", None), torch.Tensor) and isinstance(
            getattr(dataset, "labels", None), torch.Tensor):
        return dataset.images, dataset.labels
    images, labels = zip(*(dataset[i] for i in range(len(dataset))))
    return torch.stack([torch.as_tensor(x, dtype=torch.float32) for x in images]), torch.as_tensor(labels)
