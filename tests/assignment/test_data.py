"""assignment.data: the offline copy named by MNIST_ROOT, the real download path, and how loading fails.

Downloads come from a local HTTP server that serves the original .gz files of $MNIST_ROOT/MNIST/raw/,
so torchvision's own download, MD5 check and extraction run without internet.
"""
from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import assignment.data as data
from assignment import datasets
from assignment.data import DataUnavailable, MNISTUnavailable, load_mnist, load_raw

GZ_FILES = sorted(name for name, _ in torchvision.datasets.MNIST.resources)
MNIST = datasets.get("mnist")


@pytest.fixture(scope="module")
def splits(mnist_root):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MNIST_ROOT", str(mnist_root))  # absolute, as the fixture resolved it
        return load_mnist()


@pytest.fixture(scope="module")
def raw(mnist_root):
    return load_raw(mnist_root)


def image_hashes(images: torch.Tensor) -> list[bytes]:
    """One digest per image of a uint8 (N, 28, 28) tensor."""
    return [hashlib.blake2b(x.numpy().tobytes(), digest_size=16).digest() for x in images]


def to_pixels(images: torch.Tensor) -> torch.Tensor:
    """Undo normalise(): float (N, 1, 28, 28) -> the uint8 (N, 28, 28) pixels it came from."""
    return (images[:, 0] * MNIST.std[0] + MNIST.mean[0]).mul(255).round().to(torch.uint8)


# ---------------------------------------------------------------------------------------------------
# the offline copy

def test_the_data_root_reads_the_environment(mnist_root, monkeypatch, tmp_path):
    monkeypatch.setenv("MNIST_ROOT", str(mnist_root))
    assert data.data_root("mnist") == mnist_root
    monkeypatch.delenv("MNIST_ROOT")
    monkeypatch.setattr(datasets, "CACHE_ROOT", tmp_path)
    assert data.data_root("mnist") == tmp_path / "mnist" and data.data_root("cifar10") == tmp_path / "cifar10"
    assert data.data_root() == tmp_path / "mnist"  # the practical's dataset (assignment/practical.json)


def test_the_old_names_still_work():
    assert data.TensorMNIST is data.TensorImages and load_mnist is data.load_data
    assert issubclass(MNISTUnavailable, DataUnavailable)


@pytest.mark.parametrize(("split", "size"), [("train", 50_000), ("valid", 10_000), ("test", 10_000)],
                         ids=["train", "valid", "test"])
def test_split_sizes_and_types(splits, split, size):
    part = getattr(splits, split)
    assert len(part) == size
    assert part.images.shape == (size, 1, 28, 28) and part.images.dtype == torch.float32
    assert part.labels.shape == (size,) and part.labels.dtype == torch.int64
    assert set(part.labels.unique().tolist()) == set(range(10))


def test_split_is_the_same_on_every_load(splits, mnist_root):
    again = load_mnist(mnist_root)
    assert torch.equal(again.valid.labels, splits.valid.labels)
    assert torch.equal(again.valid.images, splits.valid.images)
    assert torch.equal(again.train.images[:100], splits.train.images[:100])


def test_train_and_valid_partition_the_training_images(splits, raw):
    """Every raw training image lands in exactly one of train and valid, with its own label."""
    (train_x, train_y), _ = raw
    label_of = dict(zip(image_hashes(train_x), train_y.tolist()))
    assert len(label_of) == 60_000  # MNIST has no duplicate training images, so a hash names an image
    train = image_hashes(to_pixels(splits.train.images))
    valid = image_hashes(to_pixels(splits.valid.images))
    assert not set(train) & set(valid)
    assert set(train) | set(valid) == set(label_of)
    assert [label_of[h] for h in valid] == splits.valid.labels.tolist()
    assert [label_of[h] for h in train] == splits.train.labels.tolist()


def test_pixel_statistics_match_the_constants(raw):
    (train_x, _), _ = raw
    pixels = train_x.double() / 255
    assert abs(pixels.mean().item() - 0.1307) < 1e-3 and MNIST.mean == (0.1307,)
    assert abs(pixels.std().item() - 0.3081) < 1e-3 and MNIST.std == (0.3081,)


def test_normalised_training_images_are_standardised(splits):
    # the 50,000 train images are a random subset of the 60,000 the constants come from: allow 0.01
    assert abs(splits.train.images.mean().item()) < 0.01
    assert abs(splits.train.images.std().item() - 1) < 0.01


@pytest.mark.parametrize("dataset, shape", [("mnist", (1, 16, 16)), ("fashion-mnist", (1, 16, 16)),
                                            ("cifar10", (1, 3, 16, 16))])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_normalise_is_the_formula_and_leaves_its_input_alone(dataset, shape, dtype):
    # every pixel value, in each channel: normalise works in place on its own copy, bit for bit the plain
    # formula (for one channel, with the mean and std as numbers), and the pixels given stay as they were
    pixels = torch.arange(256).expand(*shape[:-2], 256).reshape(shape).to(dtype)
    before = pixels.clone()
    d = datasets.get(dataset)
    x = pixels.float() / 255.0
    if x.ndim == 3:
        expected = (x.unsqueeze(1) - d.mean[0]) / d.std[0]
    else:
        expected = (x - torch.tensor(d.mean).view(1, -1, 1, 1)) / torch.tensor(d.std).view(1, -1, 1, 1)
    assert torch.equal(data.normalise(pixels, dataset), expected)
    assert torch.equal(pixels, before)


# ---------------------------------------------------------------------------------------------------
# downloading, from a local mirror

class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the .gz files of one folder and records the paths asked for."""

    def __init__(self, *args, requested: list[str], **kwargs):
        self.requested = requested
        super().__init__(*args, **kwargs)

    def do_GET(self):
        self.requested.append(self.path)
        if not self.path.endswith(".gz"):
            self.send_error(404)
            return
        super().do_GET()

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # torchvision opens each URL once just to follow redirects, and hangs up mid-file


@contextlib.contextmanager
def serving(folder: Path, monkeypatch):
    """A local HTTP server for the .gz files of `folder`; yields (its URL, the paths requested)."""
    requested: list[str] = []
    handler = functools.partial(QuietHandler, directory=str(folder), requested=requested)
    with Server(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        monkeypatch.setenv("no_proxy", "127.0.0.1")  # a proxy set for the internet must not catch these
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        try:
            yield f"http://127.0.0.1:{server.server_port}/", requested
        finally:
            server.shutdown()
            thread.join()


@contextlib.contextmanager
def mirror(folder: Path, monkeypatch):
    """A local HTTP server for `folder`, set as torchvision's only MNIST mirror; yields the paths requested."""
    with serving(folder, monkeypatch) as (url, requested):
        monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [url])
        yield requested


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def test_download_into_a_given_root(mnist_root, raw, tmp_path, monkeypatch):
    with mirror(mnist_root / "MNIST" / "raw", monkeypatch) as requested:
        (train_x, train_y), (test_x, test_y) = load_raw(root=tmp_path, download=True)
    assert sorted(set(requested)) == [f"/{name}" for name in GZ_FILES]
    folder = tmp_path / "MNIST" / "raw"
    assert {name: md5(folder / name) for name in GZ_FILES} == dict(torchvision.datasets.MNIST.resources)
    assert all((folder / name.removesuffix(".gz")).is_file() for name in GZ_FILES)  # extracted
    assert train_x.shape == (60_000, 28, 28) and test_x.shape == (10_000, 28, 28)
    (offline_x, offline_y), (offline_test_x, offline_test_y) = raw
    assert torch.equal(train_x, offline_x) and torch.equal(train_y, offline_y)
    assert torch.equal(test_x, offline_test_x) and torch.equal(test_y, offline_test_y)


def test_download_by_default_without_mnist_root(mnist_root, tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_ROOT")
    monkeypatch.setattr(datasets, "CACHE_ROOT", tmp_path / "cache")
    with mirror(mnist_root / "MNIST" / "raw", monkeypatch) as requested:
        splits = load_mnist()
    assert sorted(set(requested)) == [f"/{name}" for name in GZ_FILES]
    assert (tmp_path / "cache" / "mnist" / "MNIST" / "raw" / "train-images-idx3-ubyte").is_file()
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (50_000, 10_000, 10_000)


# ---------------------------------------------------------------------------------------------------
# failures

@pytest.mark.parametrize("exists", [True, False], ids=["empty-dir", "missing-dir"])
def test_mnist_root_without_mnist(tmp_path, monkeypatch, exists):
    root = tmp_path / "mnist"
    if exists:
        root.mkdir()
    monkeypatch.setenv("MNIST_ROOT", str(root))
    monkeypatch.setattr(datasets, "CACHE_ROOT", tmp_path / "default")
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [f"http://127.0.0.1:{closed_port()}/"])
    with pytest.raises(MNISTUnavailable) as caught:
        load_mnist()
    message = str(caught.value)
    assert "MNIST_ROOT" in message
    assert f"{root}/MNIST/raw/train-images-idx3-ubyte" in message
    assert (list(root.iterdir()) == []) if exists else not root.exists()  # an offline copy is never written to
    assert not (tmp_path / "default").exists()


def test_no_download_asked_and_none_found(tmp_path, monkeypatch):
    monkeypatch.delenv("MNIST_ROOT", raising=False)
    monkeypatch.setattr(datasets, "CACHE_ROOT", tmp_path / "cache")
    with pytest.raises(MNISTUnavailable, match=r"No MNIST under .* \(expected .*/MNIST/raw/train-images") as caught:
        load_raw(download=False)
    assert "MNIST_ROOT" in str(caught.value)


@pytest.mark.parametrize("explicit", [True, False], ids=["given-root", "default-root"])
def test_download_from_a_dead_mirror(tmp_path, monkeypatch, explicit):
    monkeypatch.delenv("MNIST_ROOT", raising=False)
    monkeypatch.setattr(datasets, "CACHE_ROOT", tmp_path / "cache")
    monkeypatch.setattr(torchvision.datasets.MNIST, "mirrors", [f"http://127.0.0.1:{closed_port()}/"])
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with pytest.raises(MNISTUnavailable, match="Downloading MNIST into .* failed") as caught:
        load_raw(tmp_path / "given", download=True) if explicit else load_raw()
    assert "MNIST_ROOT" in str(caught.value)


def test_download_of_corrupted_files(tmp_path, monkeypatch):
    junk = tmp_path / "junk"
    junk.mkdir()
    for name in GZ_FILES:
        (junk / name).write_bytes(b"not MNIST")
    with mirror(junk, monkeypatch) as requested:
        with pytest.raises(MNISTUnavailable, match="failed") as caught:
            load_raw(tmp_path / "root", download=True)
    assert requested  # it did download, then torchvision's MD5 check refused the file
    assert "corrupted" in str(caught.value)


# ---------------------------------------------------------------------------------------------------
# a folder of the four original .gz files, as Debian packages a dataset

def test_a_folder_of_the_original_gz_files(mnist_root, raw, tmp_path, monkeypatch):
    """MNIST_ROOT may name the four .gz files themselves: unpacked into a temporary folder (never beside
    them, nor into the download folder) and read by torchvision as if it had downloaded them."""
    gz = tmp_path / "gz"
    gz.mkdir()
    for name in GZ_FILES:
        (gz / name).symlink_to(mnist_root / "MNIST" / "raw" / name)
    gz.chmod(0o555)  # read-only, as an installed package is
    monkeypatch.setenv("MNIST_ROOT", str(gz))
    monkeypatch.setattr(datasets, "CACHE_ROOT", tmp_path / "cache")
    (train_x, train_y), (test_x, test_y) = load_raw()
    assert sorted(p.name for p in gz.iterdir()) == GZ_FILES
    assert not (tmp_path / "cache").exists()
    (offline_x, offline_y), (offline_test_x, offline_test_y) = raw
    assert torch.equal(train_x, offline_x) and torch.equal(test_y, offline_test_y)


def test_gz_files_that_are_not_the_originals_are_refused(tmp_path, monkeypatch):
    for name in GZ_FILES:
        (tmp_path / name).write_bytes(b"not MNIST")
    monkeypatch.setenv("MNIST_ROOT", str(tmp_path))
    with pytest.raises(MNISTUnavailable, match=r"could not be unpacked .*BadGzipFile.*Fix MNIST_ROOT") as caught:
        load_raw()
    assert f"{tmp_path}/train-images-idx3-ubyte.gz" in str(caught.value)


def idx_gz(path: Path, array: np.ndarray) -> None:
    """`array` (uint8) as a gzipped idx file, the format of MNIST's files: magic, dimensions, bytes."""
    head = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(head + array.tobytes()))


def test_images_of_another_shape_are_refused(tmp_path, monkeypatch):
    """A folder of idx files whose images are not the dataset's size is named as such."""
    for split, n in (("train", 20), ("t10k", 10)):
        idx_gz(tmp_path / f"{split}-images-idx3-ubyte.gz", np.zeros((n, 32, 32), np.uint8))
        idx_gz(tmp_path / f"{split}-labels-idx1-ubyte.gz", np.zeros(n, np.uint8))
    monkeypatch.setenv("FASHION_MNIST_ROOT", str(tmp_path))
    with pytest.raises(DataUnavailable, match=f"the images under {tmp_path} are 32x32, but Fashion-MNIST's are "
                       "1x28x28: is it another dataset"):
        load_raw(dataset="fashion-mnist")
