"""top_patches judged on small hand-made cases: the window is conv1's (kernel, stride, padding), a right
answer passes, and each usual mistake gets its own words, for the default spec and for padded ones."""
import warnings

import pytest
import torch
import torch.nn.functional as F

from autograder.judging import patches
from autograder.judging.canonical import oracle_activations
from specs import spec_with
from test_canonical import DEFAULT, PADDED, VARIANT_B

SAME_EVEN = spec_with(conv1__kernel=4, conv1__stride=1, conv1__padding="same")  # pads 1 before, 2 after
CIFAR = spec_with("cifar10")  # colour: a patch holds all three channels
SPECS = {"default": DEFAULT, "variant-b": VARIANT_B, "padded": PADDED, "same-even": SAME_EVEN, "cifar10": CIFAR}
FILTERS, K = [0, 3], 3


def setup(p):
    gen = torch.Generator().manual_seed(0)
    images = torch.randn(12, *p.input, generator=gen)
    c = p.conv1
    w = {"conv1.weight": torch.randn(c.filters, p.input[0], c.kernel, c.kernel, generator=gen),
         "conv1.bias": torch.randn(c.filters, generator=gen)}
    return images, oracle_activations(w, images, p), w


def right_patches(p, images, acts, at=None):
    """The k strongest windows per filter; `at(i, j, stride)` gives a (wrong) position instead."""
    win = patches.Window.of(p)
    wins = patches.Windows(images, win)
    out = torch.zeros(len(FILTERS), K, *win.shape)
    side = acts.shape[-1]
    for row, f in enumerate(FILTERS):
        for rank, idx in enumerate(acts[:, f].flatten().topk(K).indices.tolist()):
            n, rest = divmod(idx, acts.shape[-2] * side)
            i, j = divmod(rest, side)
            y, x = at(i, j, win.stride) if at else (win.stride * i, win.stride * j)
            out[row, rank] = wins.at(n, y, x)
    return out


@pytest.mark.parametrize("name", list(SPECS))
def test_each_window_is_what_one_conv1_activation_sees(name):
    p = SPECS[name]
    images, acts, w = setup(p)
    win = patches.Window.of(p)
    wins = patches.Windows(images, win)
    for n, i, j in [(0, 0, 0), (3, 1, 2), (11, acts.shape[-2] - 1, acts.shape[-1] - 1)]:
        pre = (wins.at(n, win.stride * i, win.stride * j) * w["conv1.weight"][0]).sum() + w["conv1.bias"][0]
        assert torch.isclose(F.relu(pre), acts[n, 0, i, j], atol=1e-4)


def test_the_window_follows_conv1():
    assert patches.Window.of(DEFAULT) == patches.Window(12, 2, 0, 0)
    assert patches.Window.of(VARIANT_B) == patches.Window(10, 2, 0, 0)
    assert patches.Window.of(PADDED) == patches.Window(12, 2, 2, 2)
    assert patches.Window.of(SAME_EVEN) == patches.Window(4, 1, 1, 2)
    assert patches.Window.of(CIFAR) == patches.Window(12, 2, 0, 0, 3) and patches.Window.of(CIFAR).shape == (3, 12, 12)
    images, acts, w = setup(SAME_EVEN)  # the grader pads an even 'same' kernel as PyTorch does
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # even kernels with 'same' padding cost a copy
        torchs = F.relu(F.conv2d(images, w["conv1.weight"], w["conv1.bias"], padding="same"))
    assert torch.allclose(acts, torchs, atol=1e-5)


@pytest.mark.parametrize("name", list(SPECS))
def test_the_right_patches_pass(name):
    p = SPECS[name]
    images, acts, _ = setup(p)
    assert patches.judge(right_patches(p, images, acts), acts, images, FILTERS, K, patches.Window.of(p)) == []


@pytest.mark.parametrize("name", ["default", "padded", "cifar10"])
def test_a_window_without_the_stride_is_named(name):
    p = SPECS[name]
    images, acts, _ = setup(p)
    got = right_patches(p, images, acts, at=lambda i, j, s: (i, j))
    problems = patches.judge(got, acts, images, FILTERS, K, patches.Window.of(p))
    assert problems and all("you forgot the stride of 2" in m for m in problems if not m.startswith("("))


def test_the_default_messages_are_todays():
    images, acts, _ = setup(DEFAULT)
    win = patches.Window.of(DEFAULT)
    got = right_patches(DEFAULT, images, acts, at=lambda i, j, s: (i, j))
    first = patches.judge(got, acts, images, FILTERS, K, win)[0]
    assert first.startswith("filter 0, rank 1: you took rows ")
    assert ": you forgot the stride of 2 (activation (" in first and first.endswith(")")
    assert patches.judge(got[:, :2], acts, images, FILTERS, K, win) == [
        "top_patches returned shape (2, 2, 12, 12), expected (2, 3, 12, 12) (len(filters), k, 12, 12)"]
    noise = torch.full_like(got, 7.0)
    assert patches.judge(noise, acts, images, FILTERS, K, win)[0] == (
        "filter 0, rank 1: your patch is not a 12x12 window of the images passed in (return crops of `images` "
        "as given, without rescaling)")


def test_a_padded_window_says_it_is_padded():
    images, acts, _ = setup(PADDED)
    win = patches.Window.of(PADDED)
    problems = patches.judge(torch.full((2, K, 12, 12), 7.0), acts, images, FILTERS, K, win)
    assert "window of the images passed in, zero-padded by 2 on each side as conv1 pads them" in problems[0]
    reversed_ranks = right_patches(PADDED, images, acts).flip(1)
    assert "strongest first" in patches.judge(reversed_ranks, acts, images, FILTERS, K, win)[0]


def test_colour_patches_hold_every_channel():
    images, acts, _ = setup(CIFAR)
    win = patches.Window.of(CIFAR)
    right = right_patches(CIFAR, images, acts)
    assert right.shape == (2, K, 3, 12, 12)
    assert patches.judge(right[:, :, 0], acts, images, FILTERS, K, win) == [
        "top_patches returned shape (2, 3, 12, 12), expected (2, 3, 3, 12, 12) (len(filters), k, 3, 12, 12)"]
    assert patches.judge(right.transpose(-1, -2), acts, images, FILTERS, K, win)[0] == (
        "filter 0, rank 1: your patch is transposed (rows and columns swapped)")
    one_channel = right.clone()
    one_channel[:, :, 1:] = 0  # the red channel only
    assert "is not a 3x12x12 window of the images passed in" in patches.judge(one_channel, acts, images, FILTERS,
                                                                              K, win)[0]
