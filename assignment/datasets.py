"""The datasets the practical runs on, and their facts: declared here once, read by the loader, the handout,
the grader and the spec. Imports no torch.

    >>> from assignment import datasets
    >>> d = datasets.get("fashion-mnist")
    >>> d.title, d.input, d.n_valid, d.classes[0]
    ('Fashion-MNIST', (1, 28, 28), 10000, 'T-shirt/top')
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CACHE_ROOT = Path.home() / ".cache" / "cnn-practical"  # a dataset is downloaded into CACHE_ROOT / its name


@dataclass(frozen=True)
class Dataset:
    name: str  # as grading.yml's practical.dataset.name writes it
    title: str  # as a sentence writes it
    torchvision: str  # the class in torchvision.datasets that loads it
    input: tuple[int, int, int]  # one image: (channels, height, width)
    mean: tuple[float, ...]  # per channel, of the official training pixels scaled to [0, 1]
    std: tuple[float, ...]
    classes: tuple[str, ...]  # label i is classes[i]
    n_train: int  # official training images; the validation set is held out from them
    n_valid: int
    n_test: int
    env: str  # the environment variable that names an offline copy
    layout: str  # what an offline copy holds, under the folder the variable names
    what: str  # what the images show, for the handout: "handwritten digits"
    download_mb: int  # about how much the first download fetches

    @property
    def default_root(self) -> Path:
        """Where the dataset is downloaded when no offline copy is named."""
        return CACHE_ROOT / self.name

    @property
    def loader(self) -> str:
        """The helper the handout calls to load it: MNIST keeps the name students' code already uses."""
        return "load_mnist" if self.name == "mnist" else "load_data"


DIGITS = tuple(str(d) for d in range(10))
DATASETS = {d.name: d for d in (
    Dataset("mnist", "MNIST", "MNIST", (1, 28, 28), (0.1307,), (0.3081,), DIGITS, 60_000, 10_000, 10_000,
            "MNIST_ROOT", "MNIST/raw/train-images-idx3-ubyte and the three other idx files",
            "handwritten digits", 11),
    # mean and std measured on the 60,000 training images (tests/test_datasets.py checks them)
    Dataset("fashion-mnist", "Fashion-MNIST", "FashionMNIST", (1, 28, 28), (0.2860,), (0.3530,),
            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
             "Ankle boot"), 60_000, 10_000, 10_000, "FASHION_MNIST_ROOT",
            "FashionMNIST/raw/train-images-idx3-ubyte and the three other idx files, or just the four original "
            ".gz files (train-images-idx3-ubyte.gz, ...)", "clothes, shoes and bags", 30),
    # the usual per-channel statistics of CIFAR-10's 50,000 training images (the std of all their pixels)
    Dataset("cifar10", "CIFAR-10", "CIFAR10", (3, 32, 32), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616),
            ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
            50_000, 5_000, 10_000, "CIFAR10_ROOT",
            "cifar-10-batches-py/data_batch_1 ... data_batch_5, test_batch and batches.meta",
            "animals and vehicles", 170),
)}


class UnknownDataset(ValueError):
    """A dataset name that is not in DATASETS."""


def get(name: str) -> Dataset:
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise UnknownDataset(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}") from None
