"""The stub and the reference agree on the API, and the reference is right where an oracle can tell."""
from __future__ import annotations

import copy
import importlib.util
import inspect
import random
import warnings
from types import ModuleType

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

from assignment import practical
from assignment.solution import API
from autograder.practical import spec as spec_module
from autograder.practical.config import DEFAULT_CONFIG


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


def brute_force_top_patches(images: torch.Tensor, conv: nn.Conv2d, filters: list[int], k: int, *, size: int = 12,
                            stride: int = 2, before: int = 0, after: int = 0) -> list[list[torch.Tensor]]:
    """For each filter, the k input windows of highest ReLU(conv1) activation, by summing over each window in
    float64; the image is padded with `before` zeros before it and `after` after it, as conv1 pads it.

    Fails if two of the k + 1 highest activations are within 1e-4: float32 rounding could then swap them.
    """
    weight, bias = conv.weight.detach().double(), conv.bias.detach().double()  # (25, 1, 12, 12), (25,)
    padded = F.pad(images[:, 0], (before, after, before, after))
    n_images, h, w = padded.shape
    positions = [(n, i, j) for n in range(n_images) for i in range((h - size) // stride + 1)
                 for j in range((w - size) // stride + 1)]
    windows = torch.stack([padded[n, stride * i:stride * i + size, stride * j:stride * j + size]
                           for n, i, j in positions])
    best = []
    for f in filters:
        activation = ((windows.double() * weight[f, 0]).sum((1, 2)) + bias[f]).clamp(min=0)  # (len(positions),)
        top = activation.sort(descending=True)
        assert (top.values[:k] - top.values[1:k + 1]).min() > 1e-4, f"near-tie for filter {f}: pick other test data"
        best.append([windows[p] for p in top.indices[:k].tolist()])
    return best


def test_reference_top_patches_match_a_brute_force_search(reference):
    torch.manual_seed(0)
    model = reference.build_model().eval()
    images = torch.randn(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))  # about half the activations > 0
    filters, k = [0, 3, 7, 24], 7
    got = reference.top_patches(model, images, filters, k=k)
    assert got.shape == (len(filters), k, 12, 12)
    for row, patches in enumerate(brute_force_top_patches(images, model.conv1, filters, k)):
        for rank, expected in enumerate(patches):
            assert torch.equal(got[row, rank], expected), f"filter {filters[row]}, rank {rank}"


# ---------------------------------------------------------------------------------------------------
# the reference under other specs: it builds the network that practical.json describes

DEFAULT_RAW = yaml.safe_load(DEFAULT_CONFIG.read_text())["practical"]
SPECS = {  # network changes on top of grading.yml's
    "variant-b": {"conv1": {"filters": 32, "kernel": 10, "stride": 2, "padding": 0}, "fc1": {"units": 512}},
    "conv1-padded": {"conv1": {"filters": 6, "kernel": 6, "stride": 3, "padding": 2}, "dropout": 0.5},
    "conv1-same-even": {"conv1": {"filters": 5, "kernel": 4, "stride": 1, "padding": "same"},
                        "pool": {"kernel": 3, "stride": 2}, "fc1": {"units": 64}},
    "conv2-strided": {"conv2": {"filters": 16, "kernel": 3, "stride": 2, "padding": 1}, "fc1": {"units": 100}},
}


def other_spec(name: str) -> spec_module.Practical:
    raw = copy.deepcopy(DEFAULT_RAW)
    raw["network"].update(SPECS[name])
    return spec_module.parse_practical(raw)[0]


@pytest.mark.parametrize("name", list(SPECS))
def test_reference_builds_the_network_of_its_practical_json(reference, name):
    spec = other_spec(name)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using padding='same' with even kernel", category=UserWarning)
        model = reference.Net(practical.parse(spec.student_facts())).eval()
        seen = {}
        hooks = [getattr(model, n).register_forward_hook(lambda m, a, out, n=n: seen.update({n: tuple(out.shape[1:])}))
                 for n in ("conv1", "conv2", "pool")]
        with torch.no_grad():
            logits = model(torch.randn(3, *spec.input))
    for hook in hooks:
        hook.remove()
    assert sum(p.numel() for p in model.parameters()) == spec.param_counts[0]
    assert tuple(logits.shape) == (3, spec.classes)
    assert (seen["conv1"], seen["conv2"], seen["pool"]) == (spec.conv1_out, spec.conv2_out, spec.pool_outs[0])
    assert model.dropout.p == spec.dropout


@pytest.mark.parametrize("name", ["variant-b", "conv1-padded", "conv1-same-even"])
def test_reference_top_patches_follow_conv1s_window(reference, name):
    spec = other_spec(name)
    torch.manual_seed(0)
    model = reference.Net(practical.parse(spec.student_facts())).eval()
    images = torch.randn(4, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    patch, filters, k = spec.patch, [0, 2, 4], 6
    before = patch["padding"]
    after = spec.conv1.pad()[0] - before  # PyTorch's 'same' puts the odd pixel after
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Using padding='same' with even kernel", category=UserWarning)
        got = reference.top_patches(model, images, filters, k=k)
    assert got.shape == (len(filters), k, patch["size"], patch["size"])
    expected = brute_force_top_patches(images, model.conv1, filters, k, size=patch["size"], stride=patch["stride"],
                                       before=before, after=after)
    for row, patches in enumerate(expected):
        for rank, want in enumerate(patches):
            assert torch.equal(got[row, rank], want), f"{name}: filter {filters[row]}, rank {rank}"
