"""The practical's numbers, read from ``assignment/practical.json`` beside this file.

The json is written with the handout: it holds the network the handout asks for (section 3) and
the sizes and parameter counts the handout quotes (section 2). The public checks, the driver and
the notebook read their expected values from it, so they always agree with your handout.

    >>> from assignment import practical
    >>> p = practical.load()
    >>> p.conv1.filters, p.conv1_out, p.param_counts[0]
    (25, (25, 9, 9), 1103539)

Nothing here works a size out: the numbers were computed when the handout was written. Working
them out is your exercise (``output_shape``, section 2). ``python -m assignment experiments`` varies
the network through ``using``: within it, ``load()`` returns the varied spec, so a ``build_model()``
that reads its sizes from ``load()`` builds the varied network.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from assignment import datasets

FACTS = Path(__file__).with_name("practical.json")


class PracticalUnavailable(RuntimeError):
    """practical.json is missing or malformed."""


@dataclass(frozen=True)
class Conv:
    filters: int
    kernel: int  # square kernels: kernel x kernel
    stride: int
    padding: int | str  # pixels on each side, or "same"


@dataclass(frozen=True)
class Pool:
    kernel: int
    stride: int


@dataclass(frozen=True)
class Patch:
    """The input window one conv1 activation sees: activation (i, j) starts at row stride*i - padding."""
    size: int
    stride: int
    padding: int  # zero rows and columns before the image (after it too, except for an even 'same' kernel)


@dataclass(frozen=True)
class Layer:
    name: str
    what: str
    out: tuple[int, ...]
    params: int


@dataclass(frozen=True)
class Practical:
    # the spec
    dataset: str
    input: tuple[int, int, int]  # (C, H, W)
    conv1: Conv
    conv2: Conv
    pool: Pool
    fc1_units: int
    dropout: float
    classes: int
    # derived from it when the handout was written
    conv1_out: tuple[int, int, int]
    conv2_out: tuple[int, int, int]
    pool_outs: tuple[tuple[int, int, int], ...]  # pooling that rounds down, then up where that differs
    flat_sizes: tuple[int, ...]  # fc1's input size for each pooled shape
    param_counts: tuple[int, ...]  # the network's parameter count for each pooled shape
    patch: Patch
    patch_shape: tuple[int, ...]  # one top patch: (size, size) for grey images, (channels, size, size) for colour
    layers: tuple[Layer, ...]  # the handout's table, pooling that rounds down

    @property
    def data(self) -> datasets.Dataset:
        """The dataset's facts (assignment/datasets.py): its title, class names, split, offline copy."""
        return datasets.get(self.dataset)

    @property
    def example_filters(self) -> list[int]:
        """Five conv1 filters spread over all of them (fewer if conv1 has fewer): [0, 5, 10, 15, 20] for 25."""
        n = self.conv1.filters
        count = min(5, n)
        return [i * n // count for i in range(count)]


def _get(facts: dict, path: str):
    node = facts
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise PracticalUnavailable(f"practical.json lacks '{path}'")
        node = node[part]
    return node


def parse(facts: dict) -> Practical:
    """A Practical from the dict that practical.json holds."""
    def conv(name: str) -> Conv:
        return Conv(*(_get(facts, f"spec.network.{name}.{k}") for k in ("filters", "kernel", "stride", "padding")))

    def shape(value) -> tuple:
        return tuple(int(x) for x in value)

    return Practical(
        dataset=_get(facts, "spec.dataset.name"),
        input=shape(_get(facts, "spec.dataset.input")),
        conv1=conv("conv1"), conv2=conv("conv2"),
        pool=Pool(_get(facts, "spec.network.pool.kernel"), _get(facts, "spec.network.pool.stride")),
        fc1_units=_get(facts, "spec.network.fc1.units"),
        dropout=float(_get(facts, "spec.network.dropout")),
        classes=_get(facts, "spec.network.classes"),
        conv1_out=shape(_get(facts, "derived.conv1_out")),
        conv2_out=shape(_get(facts, "derived.conv2_out")),
        pool_outs=tuple(shape(s) for s in _get(facts, "derived.pool_outs")),
        flat_sizes=tuple(_get(facts, "derived.flat_sizes")),
        param_counts=tuple(_get(facts, "derived.param_counts")),
        patch=Patch(*(_get(facts, f"derived.patch.{k}") for k in ("size", "stride", "padding"))),
        patch_shape=shape(_get(facts, "derived.patch_shape")),
        layers=tuple(Layer(layer["name"], layer["what"], shape(layer["out"]), layer["params"])
                     for layer in _get(facts, "derived.layers")),
    )


def load(path: str | os.PathLike | None = None) -> Practical:
    """The practical that `path` (default: assignment/practical.json, or the spec given to `using`)
    describes."""
    if path is None and _IN_USE.get() is not None:
        return _IN_USE.get()
    path = Path(path) if path is not None else FACTS
    try:
        facts = json.loads(path.read_text())
    except OSError as err:
        raise PracticalUnavailable(f"cannot read {path}: {err.strerror}. It holds the practical's numbers and "
                                   "comes with the handout: restore it from your template repository") from err
    except json.JSONDecodeError as err:
        raise PracticalUnavailable(f"{path} is not valid json ({err}): restore it from your template "
                                   "repository") from err
    return parse(facts)


_IN_USE: ContextVar[Practical | None] = ContextVar("practical_in_use", default=None)


@contextmanager
def using(practical: Practical) -> Iterator[Practical]:
    """Within this block, ``load()`` (without a path) returns `practical` instead of practical.json's."""
    token = _IN_USE.set(practical)
    try:
        yield practical
    finally:
        _IN_USE.reset(token)
