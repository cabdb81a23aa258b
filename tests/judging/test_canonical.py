"""The grader's own network and its diagnoses, on small hand-made models: the default spec with today's
messages, and other specs (another conv1 and fc1, a padded conv1, shared shapes) so that nothing
depends on the default's numbers."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.judging import canonical
from autograder.grading import shapes
from autograder.practical import spec
from autograder.grading.child import leaf_records
from specs import spec_with

DEFAULT = spec_with()
VARIANT_B = spec_with(conv1__filters=32, conv1__kernel=10, fc1__units=512)
PADDED = spec_with(conv1__padding=2)  # conv1 25x11x11, pooled 64x5x5 (64x6x6 rounding up)
SHARED = spec_with(conv1__filters=64)  # conv1 and conv2 biases have the same shape
SPECS = {"default": DEFAULT, "variant-b": VARIANT_B, "padded": PADDED, "shared-shapes": SHARED}


class Net(nn.Module):
    """A student's network for spec `p`, written the usual way (functional ReLUs), with optional mistakes."""

    def __init__(self, p: spec.Practical, ceil=False, relu1=True, conv1_padding_mode="zeros"):
        super().__init__()
        c1, c2 = p.conv1, p.conv2
        self.conv1 = nn.Conv2d(p.input[0], c1.filters, c1.kernel, stride=c1.stride, padding=c1.padding,
                               padding_mode=conv1_padding_mode)
        self.conv2 = nn.Conv2d(c1.filters, c2.filters, c2.kernel, stride=c2.stride, padding=c2.padding)
        self.pool = nn.MaxPool2d(p.pool.kernel, p.pool.stride, ceil_mode=ceil)
        self.fc1 = nn.Linear(p.flat_sizes[1 if ceil else 0], p.fc1_units)
        self.drop = nn.Dropout(p.dropout)
        self.fc2 = nn.Linear(p.fc1_units, p.classes)
        self.relu1 = relu1

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x) if self.relu1 else x
        x = self.pool(F.relu(self.conv2(x)))
        return self.fc2(self.drop(F.relu(self.fc1(x.flatten(1)))))


def probe(p: spec.Practical) -> torch.Tensor:
    return torch.randn(6, *p.input, generator=torch.Generator().manual_seed(0))


def problems_of(model: nn.Module, p: spec.Practical) -> list[str]:
    """What the architecture check says, from what the child would report."""
    torch.manual_seed(1)
    model.eval()
    x = probe(p)
    records, out = leaf_records(model, x)
    params = [[n, t.detach()] for n, t in model.named_parameters()]
    modules = [[n, type(m).__name__] for n, m in model.named_modules() if n]
    weights, problems = canonical.match_params(params, p)
    problems += canonical.layer_problems(modules, records, p)
    if len(weights) == len(p.roles) and not problems:
        problems += canonical.behaviour_problems(weights, x, records, out, p)
    return problems


@pytest.mark.parametrize("name, ceil", [(n, c) for n, p in SPECS.items() for c in (False, True)
                                        if not c or len(p.pool_outs) > 1])
def test_the_specs_own_network_passes_and_the_grader_computes_what_it_computes(name, ceil):
    p = SPECS[name]
    torch.manual_seed(0)
    model = Net(p, ceil=ceil).eval()
    assert problems_of(model, p) == []
    weights, _ = canonical.match_params([[n, t.detach()] for n, t in model.named_parameters()], p)
    x = probe(p)
    with torch.no_grad():
        assert torch.allclose(canonical.predict(weights, x, p), model(x), atol=1e-5)
        assert torch.allclose(canonical.oracle_activations(weights, x, p), F.relu(model.conv1(x)), atol=1e-5)
    assert sum(t.numel() for t in model.parameters()) == p.param_counts[1 if ceil else 0]


def test_the_default_specs_messages_are_todays():
    torch.manual_seed(0)
    small = spec_with(fc1__units=512)
    got = problems_of(Net(small), DEFAULT)
    assert got[0] == ("your model has 573,619 parameters, expected 1,103,539 "
                      "(or 1,693,363 with pooling that rounds up to 64x5x5)")
    assert got[1] == ("no parameter of shape (1024, 1024) or (1024, 1600) for fc1.weight: expected 1024 units, "
                      "each connected to all 64x4x4 pooled values")
    padded = problems_of(Net(spec_with(conv1__padding=5)), DEFAULT)
    assert ("conv1 output is 25x14x14, expected 25x9x9: the first convolution has kernel 12, stride 2 and no "
            "padding: (28 - 12) / 2 + 1 = 9") in padded
    assert problems_of(Net(DEFAULT, relu1=False), DEFAULT) == [
        "no ReLU after conv1: conv2 receives conv1's output unchanged"]


def test_another_spec_is_judged_by_its_own_numbers():
    torch.manual_seed(0)
    default_on_b = problems_of(Net(DEFAULT), VARIANT_B)
    assert default_on_b[0] == (f"your model has 1,103,539 parameters, expected {VARIANT_B.param_counts[0]:,}")
    assert ("no parameter of shape (32, 1, 10, 10) for conv1.weight: expected 32 filters of 1x10x10"
            in default_on_b)
    assert problems_of(Net(VARIANT_B, relu1=False), VARIANT_B) == [
        "no ReLU after conv1: conv2 receives conv1's output unchanged"]
    # same sizes, other sums: reflected instead of zero padding is caught by behaviour
    assert problems_of(Net(PADDED, conv1_padding_mode="reflect"), PADDED) == [
        "conv1 does not compute a stride-2 convolution with padding 2 of its input"]
    assert any(m.startswith("conv1 output is 25x9x9, expected 25x11x11: ") for m in problems_of(Net(DEFAULT), PADDED))


def test_a_bias_goes_with_its_own_weight_when_two_roles_share_a_shape():
    torch.manual_seed(0)
    model = Net(SHARED)
    c1, c2 = model.conv1, model.conv2
    params = [["b.weight", c2.weight], ["b.bias", c2.bias], ["a.weight", c1.weight], ["a.bias", c1.bias],
              *[[n, t] for n, t in model.named_parameters() if n.startswith("fc")]]
    weights, problems = canonical.match_params([[n, t.detach()] for n, t in params], SHARED)
    assert problems == []
    assert torch.equal(weights["conv1.bias"], c1.bias.detach()) and torch.equal(weights["conv2.bias"], c2.bias.detach())


@pytest.mark.parametrize("name", list(SPECS))
def test_the_specs_own_shape_cases_agree_with_torch(name):
    p = SPECS[name]
    cases = shapes.make_cases(0, 0, p.shape_cases)
    assert [tuple(c["expected"]) for c in cases[:4]] == [p.conv1_out, p.conv2_out, p.pool_outs[0], p.pool_outs[-1]]
