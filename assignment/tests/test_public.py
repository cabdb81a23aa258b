"""Public checks of your cnn.py: run ``pytest assignment/tests`` (about 20 s, no full training).

They check shapes, types and that training runs; passing them does not mean the grader gives full
marks. Check another file with ``pytest assignment/tests --solution path/to/cnn.py``. The practical's
numbers (layer sizes, parameter counts, the patch window) come from assignment/practical.json, the
same numbers as in the handout.
"""
from __future__ import annotations

import math
import traceback
import warnings
from dataclasses import dataclass
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from assignment import practical

P = practical.load()
INPUT = P.input  # (C, H, W) of one image

FORMULA = ("per axis, out = floor((size + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1; "
           "with ceil_mode=True round up instead, but drop a last window that would start in the right-hand padding; "
           "padding='same' keeps the size, 'valid' means padding 0 (section 2 of assignment/README.md)")


def expect(ok, message: str) -> None:
    """Fail with `message` alone unless `ok`: the hint comes first, with no tensor reprs above it."""
    if not bool(ok):
        pytest.fail(message, pytrace=False)


def not_implemented(name: str, err: NotImplementedError):
    pytest.fail(f"{name} is not implemented yet: {err}", pytrace=False)


def raised(what: str, err: Exception, hint: str = ""):
    trace = "".join(traceback.format_exception(err))
    summary = " ".join(filter(None, [f"{what} raised {type(err).__name__}: {err}.", hint]))
    pytest.fail(f"{summary}\n\n{trace}", pytrace=False)


def call(name: str, fn, *args, **kwargs):
    """fn(*args, **kwargs), turning the stub's NotImplementedError into a one-line failure."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as err:
        error = err
    not_implemented(name, error)  # outside the except block, so that pytest shows only this message


@dataclass
class Outcome:
    """What a student function returned, or what it raised: several checks share one (slow) call."""
    name: str
    value: Any = None
    error: Exception | None = None
    note: str = ""  # " (on a stand-in network, ...)" when the call was not made on the student's own model

    def get(self) -> Any:
        if isinstance(self.error, NotImplementedError):
            not_implemented(self.name, self.error)
        if self.error is not None:
            raised(self.name + self.note, self.error)
        return self.value


def attempt(name: str, fn, *args, **kwargs) -> Outcome:
    try:
        return Outcome(name, fn(*args, **kwargs))
    except Exception as err:
        return Outcome(name, error=err)


def torch_output_shape(in_shape: tuple[int, int, int], layer: nn.Module) -> tuple[int, ...]:
    """What the layer really gives for one input of shape in_shape."""
    with torch.no_grad(), warnings.catch_warnings():
        # torch warns that an even kernel with padding='same' costs a padded copy: harmless here
        warnings.filterwarnings("ignore", message="Using padding='same' with even kernel", category=UserWarning)
        return tuple(layer(torch.zeros(1, *in_shape)).shape[1:])


# ---------------------------------------------------------------------------------------------------
# output_shape (section 2)

def shape_id(shape) -> str:
    return "x".join(map(str, shape))


def conv_layer(c_in: int, conv: practical.Conv) -> nn.Conv2d:
    return nn.Conv2d(c_in, conv.filters, conv.kernel, stride=conv.stride, padding=conv.padding)


CONV1 = conv_layer(INPUT[0], P.conv1)
CONV2 = conv_layer(P.conv1.filters, P.conv2)
POOL, POOL_CEIL = (nn.MaxPool2d(P.pool.kernel, P.pool.stride, ceil_mode=ceil) for ceil in (False, True))
# The practical's own layers, each with the output the handout gives (section 2); the ids show it.
PRACTICAL_LAYERS = [
    pytest.param(INPUT, CONV1, P.conv1_out, id=f"conv1-{shape_id(P.conv1_out)}"),
    pytest.param(P.conv1_out, CONV2, P.conv2_out, id=f"conv2-{shape_id(P.conv2_out)}"),
    pytest.param(P.conv2_out, POOL, P.pool_outs[0], id=f"pool-{shape_id(P.pool_outs[0])}"),
    pytest.param(P.conv2_out, POOL_CEIL, P.pool_outs[-1], id=f"pool-ceil-{shape_id(P.pool_outs[-1])}"),
]

OTHER_LAYERS = [
    pytest.param((3, 32, 32), nn.Conv2d(3, 8, 3), id="conv-k3"),
    pytest.param((3, 32, 32), nn.Conv2d(3, 8, 3, stride=2, padding=1), id="conv-stride2-pad1"),
    pytest.param((1, 28, 28), nn.Conv2d(1, 4, 5, stride=(2, 1)), id="conv-stride-pair"),
    pytest.param((2, 20, 15), nn.Conv2d(2, 4, (3, 5), padding=(1, 2)), id="conv-kernel-pair-padding-pair"),
    pytest.param((1, 28, 28), nn.Conv2d(1, 4, 4, padding="valid"), id="conv-valid"),
    pytest.param((3, 17, 17), nn.Conv2d(3, 6, 5, padding="same"), id="conv-same-odd-kernel"),
    pytest.param((3, 10, 13), nn.Conv2d(3, 6, (4, 2), padding="same"), id="conv-same-even-kernel"),
    pytest.param((1, 28, 28), nn.Conv2d(1, 4, 3, dilation=2), id="conv-dilation"),
    pytest.param((4, 17, 23), nn.Conv2d(4, 2, (3, 2), stride=(1, 3), padding=(2, 0), dilation=(2, 3)),
                 id="conv-everything-non-square"),
    pytest.param((8, 10, 10), nn.MaxPool2d(3, stride=2), id="pool-k3-stride2"),
    pytest.param((8, 10, 10), nn.MaxPool2d(3, stride=2, ceil_mode=True), id="pool-k3-stride2-ceil"),
    pytest.param((2, 11, 13), nn.MaxPool2d(3), id="pool-default-stride"),
    pytest.param((1, 5, 5), nn.MaxPool2d(2, stride=2, padding=1, ceil_mode=True), id="pool-ceil-last-window-in-padding"),
    pytest.param((2, 11, 13), nn.MaxPool2d((3, 2), stride=(2, 3), padding=1, dilation=2, ceil_mode=True),
                 id="pool-everything-non-square"),
]


@pytest.mark.parametrize(("in_shape", "layer", "expected"), PRACTICAL_LAYERS)
def test_output_shape_of_practical_layers(solution, in_shape, layer, expected):
    got = call("output_shape", solution.output_shape, in_shape, layer)
    expect(got == expected, f"output_shape({in_shape}, {layer}) returned {got!r}, expected {expected}. "
           f"Try: {FORMULA}.")


@pytest.mark.parametrize(("in_shape", "layer"), OTHER_LAYERS)
def test_output_shape_agrees_with_torch(solution, in_shape, layer):
    expected = torch_output_shape(in_shape, layer)
    got = call("output_shape", solution.output_shape, in_shape, layer)
    expect(got == expected,
           f"output_shape({in_shape}, {layer}) returned {got!r}, but torch gives {expected}. "
           f"Try: {FORMULA}.")


@pytest.mark.parametrize(("in_shape", "layer"), [
    pytest.param(INPUT, CONV1, id="conv1"),
    pytest.param(P.conv2_out, POOL_CEIL, id="pool-ceil"),
])
def test_output_shape_returns_python_ints(solution, in_shape, layer):
    got = call("output_shape", solution.output_shape, in_shape, layer)
    expect(isinstance(got, tuple), f"output_shape returned a {type(got).__name__}, expected a tuple of three ints")
    types = [type(x).__name__ for x in got]
    expect(types == ["int"] * 3, f"output_shape returned a tuple of {types}, expected three Python ints. "
           "Try: wrap each size in int(); `/` gives floats, use `//` or math.floor/math.ceil.")


@pytest.mark.parametrize("layer", [nn.Linear(4, 2), nn.ReLU()], ids=["linear", "relu"])
def test_output_shape_rejects_other_layers(solution, layer):
    result = attempt("output_shape", solution.output_shape, INPUT, layer)
    if isinstance(result.error, TypeError):
        return
    if isinstance(result.error, NotImplementedError):
        not_implemented("output_shape", result.error)
    found = (f"raised {type(result.error).__name__}: {result.error}" if result.error is not None
             else f"returned {result.value!r}")
    pytest.fail(f"output_shape({INPUT}, {layer}) {found}, expected a TypeError. Try: check "
                "isinstance(layer, nn.Conv2d) / nn.MaxPool2d first and raise TypeError otherwise.", pytrace=False)


# ---------------------------------------------------------------------------------------------------
# build_model (section 3)

def expected_counts() -> str:
    """The handout's parameter table in one line: 'conv1 25*1*12*12 + 25 = 3,625; ...; total 1,103,539 (...)'."""
    params = {layer.name: layer.params for layer in P.layers}
    c1, c2, units, classes = P.conv1, P.conv2, P.fc1_units, P.classes
    pooled = "*".join(map(str, P.pool_outs[0]))
    text = (f"conv1 {c1.filters}*{INPUT[0]}*{c1.kernel}*{c1.kernel} + {c1.filters} = {params['conv1']:,}; "
            f"conv2 {c2.filters}*{c1.filters}*{c2.kernel}*{c2.kernel} + {c2.filters} = {params['conv2']:,}; "
            f"fc1 ({pooled})*{units} + {units} = {params['fc1']:,}; "
            f"fc2 {units}*{classes} + {classes} = {params['fc2']:,}: total {P.param_counts[0]:,}")
    if len(P.param_counts) > 1:
        ceil = "*".join(map(str, P.pool_outs[1]))
        text += (f" (or {P.param_counts[1]:,} if your pooling gives {shape_id(P.pool_outs[1])}, making fc1 "
                 f"({ceil})*{units} + {units} = {P.flat_sizes[1] * units + units:,})")
    return text


FORWARD_HINT = "Try: print x.shape after every layer in forward() and compare with section 3."


@pytest.mark.parametrize("batch", [1, 7], ids=["batch-1", "batch-7"])
def test_build_model_output_shape(solution, batch):
    torch.manual_seed(0)
    model = call("build_model", solution.build_model).eval()
    forward = attempt("build_model()(x)", torch.no_grad()(model), torch.randn(batch, *INPUT))
    if forward.error is not None:
        raised(f"build_model()(x) for x of shape {(batch, *INPUT)}", forward.error, FORWARD_HINT)
    out = forward.value
    expect(tuple(out.shape) == (batch, P.classes),
           f"build_model() maps a batch of shape {(batch, *INPUT)} to {tuple(out.shape)}, expected "
           f"{(batch, P.classes)}. {FORWARD_HINT}")


def test_build_model_parameter_count(solution):
    model = call("build_model", solution.build_model)
    total = sum(p.numel() for p in model.parameters())
    per_layer = ", ".join(f"{name} {sum(p.numel() for p in m.parameters(recurse=False)):,}"
                          for name, m in model.named_modules() if any(True for _ in m.parameters(recurse=False)))
    expect(total in P.param_counts,
           f"build_model() has {total:,} parameters ({per_layer or 'no layers with parameters'}), expected "
           f"{expected_counts()}. Try: compare each layer's count with these.")


@pytest.mark.parametrize(("index", "expected"), [(0, P.conv1_out), (1, P.conv2_out)],
                         ids=[f"conv1-{shape_id(P.conv1_out)}", f"conv2-{shape_id(P.conv2_out)}"])
def test_build_model_conv_output_shapes(solution, index, expected):
    torch.manual_seed(0)
    model = call("build_model", solution.build_model).eval()
    seen = []  # (module name, output shape without the batch axis), in the order the layers run
    names = {m: name for name, m in model.named_modules()}
    hooks = [m.register_forward_hook(lambda m, args, out: seen.append((names[m], tuple(out.shape[1:]))))
             for m in model.modules() if isinstance(m, nn.Conv2d)]
    error = None
    try:
        with torch.no_grad():
            model(torch.randn(1, *INPUT))
    except Exception as err:  # a later layer may fail because of this one: report the shapes seen so far
        error = err
    finally:
        for hook in hooks:
            hook.remove()
    if len(seen) <= index and error is not None:
        raised(f"build_model()(x) for x of shape {(1, *INPUT)}", error, FORWARD_HINT)
    expect(len(seen) > index,
           f"a forward pass of build_model() ran {len(seen)} nn.Conv2d layer(s), expected 2. "
           "Try: build both convolutions of section 3 as nn.Conv2d modules.")
    name, got = seen[index]
    expect(got == expected,
           f"conv{index + 1} ('{name}') output has wrong shape: got {got}, expected {expected} "
           f"for an input {INPUT}. Try: check its kernel_size, stride and padding "
           "against section 3.")


# ---------------------------------------------------------------------------------------------------
# train (section 4): a 60-iteration smoke run on 2000 images, not a real training

SMOKE = dict(iterations=60, batch_size=50, log_every=20)
KEYS = ("iteration", "loss", "train_accuracy", "valid_accuracy")


class StandIn(nn.Module):
    """A small network with the practical's input, classes and conv1 (as `conv1`), on which train() and
    top_patches() are checked while build_model() is not written yet or fails: its own checks say why."""

    def __init__(self):
        super().__init__()
        self.conv1 = conv_layer(INPUT[0], P.conv1)
        self.fc = nn.Linear(P.conv1.filters, P.classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.conv1(x)).amax((2, 3)))


def model_to_check(solution) -> tuple[nn.Module, str]:
    """(build_model(), '') or, when it cannot give a network, (a StandIn, words saying so)."""
    torch.manual_seed(0)
    built = attempt("build_model", solution.build_model)
    if built.error is None and isinstance(built.value, nn.Module):
        return built.value, ""
    torch.manual_seed(0)
    why = ("is not written yet" if isinstance(built.error, NotImplementedError) else
           f"raised {type(built.error).__name__}" if built.error is not None else "returned no nn.Module")
    return StandIn(), f" (on a small stand-in network with the handout's conv1, since build_model() {why})"


@pytest.fixture(scope="module")
def smoke_run(solution, request) -> Outcome:
    """Outcome of train(...) whose value is (history, parameters before, parameters after)."""
    model, on = model_to_check(solution)
    data = request.getfixturevalue("small_data")  # only now: loading the dataset takes seconds
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trained = attempt("train", solution.train, model, *data, **SMOKE)
    if trained.error is not None:
        return Outcome("train", error=trained.error, note=on)
    after = {name: p.detach().clone() for name, p in model.named_parameters()}
    return Outcome("train", (trained.value, before, after), note=on)


def history_of(smoke_run: Outcome) -> list[dict]:
    history = smoke_run.get()[0]
    expect(isinstance(history, list) and all(isinstance(h, dict) for h in history),
           f"train returned {type(history).__name__} {history!r:.200}, expected a list of dicts. "
           "Try: append one dict to a list every log_every iterations and return the list.")
    return history


def test_train_logs_every_log_every_iterations(smoke_run):
    iterations = [h.get("iteration") for h in history_of(smoke_run)]
    expect(iterations == [20, 40, 60],
           f"train(..., iterations=60, log_every=20) logged at iterations {iterations}, expected [20, 40, 60]. "
           "Try: count iterations from 1 and log when iteration % log_every == 0.")


def test_train_history_has_the_four_keys(smoke_run):
    for h in history_of(smoke_run):
        missing = [key for key in KEYS if key not in h]
        expect(not missing, f"a history entry has keys {sorted(h)}, missing {missing}. "
               f"Try: log a dict with exactly the keys {list(KEYS)}.")


def test_train_losses_are_finite_floats(smoke_run):
    for h in history_of(smoke_run):
        loss = h.get("loss")
        expect(type(loss) is float,
               f"history loss is a {type(loss).__name__} ({loss!r:.80}), expected a Python "
               "float. Try: loss.item().")
        expect(math.isfinite(loss),
               f"history loss is {loss} after {h.get('iteration')} iterations, expected a "
               "finite number. Try: the cross-entropy of the logits (no softmax before it), lr=1e-4.")


@pytest.mark.parametrize("key", ["train_accuracy", "valid_accuracy"])
def test_train_accuracies_are_fractions(smoke_run, key):
    for h in history_of(smoke_run):
        acc = h.get(key)
        expect(isinstance(acc, float) and 0.0 <= acc <= 1.0,
               f"history {key} is {acc!r:.80} ({type(acc).__name__}), expected a float in [0, 1]. "
               "Try: (number correct) / (number seen) as a Python float, not a percentage or a tensor.")


def test_train_changes_the_parameters(smoke_run):
    _, before, after = smoke_run.get()
    unchanged = [name for name in before if torch.equal(before[name], after[name])]
    expect(not unchanged,
           f"after 60 iterations{smoke_run.note} these parameters are unchanged: {', '.join(unchanged)}; expected all "
           "of them to change. Try: Adam over model.parameters(), and optimiser.zero_grad(), "
           "loss.backward(), optimiser.step() in every iteration.")


# ---------------------------------------------------------------------------------------------------
# top_patches (section 5)

FILTERS, K, N_IMAGES = list(range(min(5, P.conv1.filters))), 12, 200
SIZE, STRIDE, PAD = P.patch.size, P.patch.stride, P.patch.padding  # the window of one conv1 activation
PATCH = P.patch_shape  # one patch: (SIZE, SIZE) for grey images, (channels, SIZE, SIZE) for colour


@pytest.fixture(scope="module")
def patches(solution, request) -> Outcome:
    """Outcome of top_patches(...) on 200 images, value (images, patches)."""
    model, on = model_to_check(solution)
    images = request.getfixturevalue("small_data")[0].images[:N_IMAGES]
    found = attempt("top_patches", solution.top_patches, model.eval(), images, FILTERS, k=K)
    return Outcome("top_patches", error=found.error, note=on) if found.error is not None else Outcome(
        "top_patches", (images, found.value), note=on)


def test_top_patches_shape(patches):
    _, got = patches.get()
    shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
    expect(shape == (len(FILTERS), K, *PATCH),
           f"top_patches(model, images, {FILTERS}, k={K}) returned {shape}, expected a tensor of shape "
           f"{(len(FILTERS), K, *PATCH)}. Try: one row per filter, k patches of {shape_id(PATCH)} each.")


def conv1_windows(images: torch.Tensor) -> torch.Tensor:
    """(N * H1 * W1, C * SIZE * SIZE): the input window of every conv1 activation, every channel of it,
    zeros where conv1 pads."""
    _, h, w = P.conv1_out
    padded = F.pad(images, (PAD, SIZE, PAD, SIZE))  # spare zeros after the image: the first h x w windows count
    windows = padded.unfold(2, SIZE, STRIDE)[:, :, :h].unfold(3, SIZE, STRIDE)[:, :, :, :w]  # (N, C, h, w, SIZE, SIZE)
    return windows.permute(0, 2, 3, 1, 4, 5).reshape(-1, INPUT[0] * SIZE * SIZE)


def test_top_patches_are_conv1_windows(patches):
    images, got = patches.get()
    if not (isinstance(got, torch.Tensor) and tuple(got.shape) == (len(FILTERS), K, *PATCH)):
        pytest.fail("top_patches returned the wrong shape, so its patches cannot be checked: make "
                    "test_top_patches_shape pass first.", pytrace=False)
    windows = conv1_windows(images)
    flat = got.reshape(len(FILTERS), K, -1)
    def span(a: str) -> str:  # 'rows 2i..2i+11' for a = 'i'
        start = f"{STRIDE}{a}-{PAD}" if PAD else f"{STRIDE}{a}"
        return f"{start}..{start}+{SIZE - 1}"
    padding = f", padding {PAD}: zeros outside the image" if PAD else ""
    for row, f in enumerate(FILTERS):
        for rank in range(K):
            patch = flat[row, rank]
            expect((windows == patch).all(1).any(),
                   f"top_patches: patch {rank} of filter {f} is not the input window of any conv1 activation, "
                   f"expected every patch to be the {shape_id(PATCH)} window that one conv1 activation sees. Try: "
                   f"activation (i, j) of conv1 (kernel {SIZE}, stride {STRIDE}{padding}) sees rows {span('i')} and "
                   f"columns {span('j')} (section 5).")
