"""The stub and the reference agree on the API, and the reference is right where an oracle can tell."""
from __future__ import annotations

import importlib.util
import inspect
import random
import warnings
from types import ModuleType

import pytest
import torch
from torch import nn

from assignment.solution import API


def load(path, name: str) -> ModuleType:
    """Import a cnn.py by file path under its own name, leaving sys.modules["assignment.cnn"] alone."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def stub(repo) -> ModuleType:
    return load(repo / "assignment" / "cnn.py", "cnn_stub")


@pytest.fixture(scope="module")
def reference(repo) -> ModuleType:
    return load(repo / "reference" / "cnn.py", "cnn_reference")


@pytest.mark.parametrize("name", API)
def test_stub_and_reference_have_the_same_signature(stub, reference, name):
    assert inspect.signature(getattr(stub, name)) == inspect.signature(getattr(reference, name))


@pytest.mark.parametrize(("name", "args", "section"), [
    ("output_shape", ((1, 28, 28), nn.Conv2d(1, 25, 12, stride=2)), 2),
    ("build_model", (), 3),
    ("train", (None, None, None), 4),
    ("top_patches", (None, torch.zeros(1, 1, 28, 28), [0]), 5),
], ids=["output_shape", "build_model", "train", "top_patches"])
def test_stub_points_to_its_handout_section(stub, name, args, section):
    with pytest.raises(NotImplementedError, match=rf"section {section} of assignment/README\.md"):
        getattr(stub, name)(*args)


# ---------------------------------------------------------------------------------------------------
# output_shape against torch on random settings

N_SETTINGS = 300  # per layer kind; torch rejects some of them, which are skipped


def size_or_pair(rng: random.Random, low: int, high: int):
    return rng.randint(low, high) if rng.random() < 0.5 else (rng.randint(low, high), rng.randint(low, high))


def random_conv(rng: random.Random) -> nn.Conv2d:
    padding = rng.choice(["int", "pair", "same", "valid"])
    stride = 1 if padding == "same" else size_or_pair(rng, 1, 4)  # torch allows 'same' with stride 1 only
    if padding in ("int", "pair"):
        padding = rng.randint(0, 3) if padding == "int" else (rng.randint(0, 3), rng.randint(0, 3))
    return nn.Conv2d(rng.randint(1, 3), rng.randint(1, 4), size_or_pair(rng, 1, 7), stride=stride,
                     padding=padding, dilation=size_or_pair(rng, 1, 3))


def random_pool(rng: random.Random) -> nn.MaxPool2d:
    stride = None if rng.random() < 0.2 else size_or_pair(rng, 1, 4)  # None: the kernel size
    return nn.MaxPool2d(size_or_pair(rng, 1, 5), stride=stride, padding=size_or_pair(rng, 0, 2),
                        dilation=size_or_pair(rng, 1, 3), ceil_mode=rng.random() < 0.5)


def torch_output_shape(in_shape: tuple[int, int, int], layer: nn.Module) -> tuple[int, ...] | None:
    """The shape torch computes (on meta tensors: no arithmetic), or None where torch rejects the setting."""
    try:
        with warnings.catch_warnings():
            # an even kernel with padding='same' makes torch warn about a padded copy: irrelevant to shapes
            warnings.filterwarnings("ignore", message="Using padding='same' with even kernel", category=UserWarning)
            return tuple(layer.to("meta")(torch.empty((1, *in_shape), device="meta")).shape[1:])
    except RuntimeError:  # output too small, padding over half the kernel...
        return None


@pytest.mark.parametrize("make_layer", [random_conv, random_pool], ids=["conv", "pool"])
def test_reference_output_shape_agrees_with_torch(reference, make_layer):
    rng = random.Random(0)
    checked, wrong = 0, []
    for _ in range(N_SETTINGS):
        layer = make_layer(rng)
        channels = layer.in_channels if isinstance(layer, nn.Conv2d) else rng.randint(1, 4)
        in_shape = (channels, rng.randint(1, 40), rng.randint(1, 40))
        expected = torch_output_shape(in_shape, layer)
        if expected is None:
            continue
        checked += 1
        got = reference.output_shape(in_shape, layer)
        if got != expected or any(type(x) is not int for x in got):
            wrong.append(f"{in_shape} {layer}: got {got!r}, torch {expected}")
    assert checked >= N_SETTINGS // 2, f"only {checked} of {N_SETTINGS} random settings were valid: widen the ranges"
    assert not wrong, f"{len(wrong)} of {checked} settings disagree, e.g.\n" + "\n".join(wrong[:10])


def test_reference_output_shape_rejects_linear(reference):
    with pytest.raises(TypeError):
        reference.output_shape((1, 28, 28), nn.Linear(4, 2))


# ---------------------------------------------------------------------------------------------------
# build_model and top_patches

def test_reference_parameter_count(reference):
    assert sum(p.numel() for p in reference.build_model().parameters()) == 1_103_539


@pytest.mark.parametrize("batch", [1, 5], ids=["batch-1", "batch-5"])
def test_reference_maps_images_to_ten_logits(reference, batch):
    model = reference.build_model().eval()
    with torch.no_grad():
        assert model(torch.randn(batch, 1, 28, 28)).shape == (batch, 10)


def brute_force_top_patches(conv: nn.Conv2d, images: torch.Tensor, filters: list[int], k: int) -> list[list[tuple]]:
    """For each filter, the k (n, i, j) of highest ReLU(conv1) activation, by summing over each window in float64.

    Fails if two of the k + 1 highest activations are within 1e-4: float32 rounding could then swap them.
    """
    weight, bias = conv.weight.detach().double(), conv.bias.detach().double()  # (25, 1, 12, 12), (25,)
    n_images, _, h, w = images.shape
    positions = [(n, i, j) for n in range(n_images) for i in range((h - 12) // 2 + 1) for j in range((w - 12) // 2 + 1)]
    windows = torch.stack([images[n, 0, 2 * i:2 * i + 12, 2 * j:2 * j + 12] for n, i, j in positions]).double()
    best = []
    for f in filters:
        activation = ((windows * weight[f, 0]).sum((1, 2)) + bias[f]).clamp(min=0)  # (len(positions),)
        top = activation.sort(descending=True)
        assert (top.values[:k] - top.values[1:k + 1]).min() > 1e-4, f"near-tie for filter {f}: pick other test data"
        best.append([positions[p] for p in top.indices[:k].tolist()])
    return best


def test_reference_top_patches_match_a_brute_force_search(reference):
    torch.manual_seed(0)
    model = reference.build_model().eval()
    images = torch.randn(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))  # about half the activations > 0
    filters, k = [0, 3, 7, 24], 7
    got = reference.top_patches(model, images, filters, k=k)
    assert got.shape == (len(filters), k, 12, 12)
    for row, positions in enumerate(brute_force_top_patches(model.conv1, images, filters, k)):
        for rank, (n, i, j) in enumerate(positions):
            expected = images[n, 0, 2 * i:2 * i + 12, 2 * j:2 * j + 12]
            assert torch.equal(got[row, rank], expected), f"filter {filters[row]}, rank {rank}: expected image {n} at ({i}, {j})"
