"""Layer settings for the output_shape check, and torch's own answer for each.

The practical's own layers come from the spec (spec.Practical.shape_cases); the rest are random.
"""
from __future__ import annotations

import random
import warnings

import torch
from torch import nn

HUGE = [  # far too big to run: only an answer computed from the settings comes back
    {"layer": "Conv2d", "kwargs": {"in_channels": 3, "out_channels": 8, "kernel_size": 7, "stride": 3},
     "in_shape": [3, 60_000, 50_000]},
    {"layer": "MaxPool2d", "kwargs": {"kernel_size": 3, "stride": 2, "ceil_mode": True},
     "in_shape": [16, 45_001, 70_000]},
]
WRONG_TYPE = [  # output_shape must raise TypeError for these
    {"layer": "Linear", "kwargs": {"in_features": 4, "out_features": 3}, "in_shape": [1, 2, 2]},
    {"layer": "AvgPool2d", "kwargs": {"kernel_size": 2}, "in_shape": [3, 8, 8]},
]


def torch_answer(case: dict) -> tuple[int, int, int] | None:
    """(C, H, W) that torch gives for the case, on meta tensors (no memory used); None if torch refuses."""
    kwargs = dict(case["kwargs"], device="meta") if case["layer"] == "Conv2d" else case["kwargs"]
    layer = getattr(nn, case["layer"])(**kwargs)  # on meta: no weights are initialised
    try:
        with warnings.catch_warnings():  # torch notes that even kernels with 'same' padding cost a copy
            warnings.simplefilter("ignore", UserWarning)
            out = layer(torch.empty((1, *case["in_shape"]), device="meta"))
    except (RuntimeError, ValueError):
        return None
    shape = tuple(int(s) for s in out.shape[1:])
    return shape if min(shape) > 0 else None


def random_case(rng: random.Random) -> dict:
    def pair(lo, hi):
        a = rng.randint(lo, hi)
        return a if rng.random() < 0.5 else (a, rng.randint(lo, hi))

    c, h, w = rng.randint(1, 16), rng.randint(5, 64), rng.randint(5, 64)
    kernel, dilation = pair(1, 7), pair(1, 3) if rng.random() < 0.4 else 1
    if rng.random() < 0.5:
        stride = 1 if rng.random() < 0.3 else pair(1, 4)
        if stride == 1 and rng.random() < 0.3:
            padding = "same"
        else:
            padding = rng.choice(["valid", 0, pair(0, 3)])
        kwargs = {"in_channels": c, "out_channels": rng.randint(1, 32), "kernel_size": kernel, "stride": stride,
                  "padding": padding, "dilation": dilation}
        return {"layer": "Conv2d", "kwargs": kwargs, "in_shape": [c, h, w]}
    k = kernel if isinstance(kernel, int) else kernel[0]
    kwargs = {"kernel_size": kernel, "stride": rng.choice([None, pair(1, 4)]),
              "padding": rng.randint(0, k // 2), "dilation": dilation, "ceil_mode": rng.random() < 0.5}
    return {"layer": "MaxPool2d", "kwargs": kwargs, "in_shape": [c, h, w]}


def make_cases(n: int, seed: int, own: list[dict]) -> list[dict]:
    """The practical's `own` layers, `n` random valid settings, two huge inputs, and two wrong layer types.

    Each case gets "expected": torch's (C, H, W), or None where a TypeError is expected.
    """
    rng = random.Random(seed)
    cases = [dict(c) for c in own]
    while len(cases) < len(own) + n:
        case = random_case(rng)
        case["expected"] = torch_answer(case)
        if case["expected"] is not None:
            cases.append(case)
    cases += [dict(c) for c in HUGE]
    for case in cases:
        case["expected"] = list(case.get("expected") or torch_answer(case))
    return cases + [dict(c, expected=None) for c in WRONG_TYPE]


def describe_call(case: dict) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in case["kwargs"].items())
    return f"output_shape({tuple(case['in_shape'])}, nn.{case['layer']}({args}))"
