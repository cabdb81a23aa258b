"""The practical's spec (grading.yml's `practical:` section) and everything derived from it.

The spec declares the network and the dataset, and nothing derived. This module computes the rest
once: each layer's output size, the parameter counts (the ceil-pooling alternative included), the
shapes and hints the checks quote, the top-patch window and the practical's own `output_shape`
cases. It imports no torch, so `python -m autograder spec` and `release` stay fast.

Per-student variants: `variants:` maps a field (`conv1.filters`) to its allowed values. Every
combination is one variant, named v1, v2, ... in a fixed order; v1 is the spec as written.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

from assignment import datasets

DATASETS = {name: d.input for name, d in datasets.DATASETS.items()}  # name -> input shape (C, H, W)
NETWORK_KEYS = ("conv1", "conv2", "pool", "fc1", "dropout", "classes")


class SpecError(ValueError):
    """The spec is malformed; the message names the field."""


@dataclass(frozen=True)
class Conv:
    filters: int
    kernel: int
    stride: int
    padding: int | str  # pixels on each side, or "same" (stride 1 only)

    def pad(self) -> tuple[int, int]:
        """Total padding (before + after) along one axis."""
        return (self.kernel - 1, self.kernel - 1) if self.padding == "same" else (2 * self.padding,) * 2

    def out_size(self, n: int) -> int:
        if self.padding == "same":
            return n
        return (n + 2 * self.padding - self.kernel) // self.stride + 1


@dataclass(frozen=True)
class Pool:
    kernel: int
    stride: int

    def out_size(self, n: int, ceil: bool = False) -> int:
        room = n - self.kernel
        if not ceil:
            return room // self.stride + 1
        out = -(-room // self.stride) + 1
        return out - 1 if (out - 1) * self.stride >= n else out  # the last window must start inside


@dataclass(frozen=True)
class Layer:
    """One row of the derived table."""
    name: str
    what: str  # e.g. "conv 25@12x12, stride 2, no padding"
    out: tuple  # (C, H, W) or (units,)
    params: int


@dataclass(frozen=True)
class Practical:
    dataset: str
    input: tuple  # (C, H, W)
    conv1: Conv
    conv2: Conv
    pool: Pool
    fc1_units: int
    dropout: float
    classes: int

    @property
    def data(self) -> datasets.Dataset:
        """The dataset's facts: title, class names, normalisation, split."""
        return datasets.get(self.dataset)

    # --- sizes ---
    @cached_property
    def conv1_out(self) -> tuple[int, int, int]:
        _, h, w = self.input
        return (self.conv1.filters, self.conv1.out_size(h), self.conv1.out_size(w))

    @cached_property
    def conv2_out(self) -> tuple[int, int, int]:
        _, h, w = self.conv1_out
        return (self.conv2.filters, self.conv2.out_size(h), self.conv2.out_size(w))

    def pool_out(self, ceil: bool = False) -> tuple[int, int, int]:
        c, h, w = self.conv2_out
        return (c, self.pool.out_size(h, ceil), self.pool.out_size(w, ceil))

    @cached_property
    def pool_outs(self) -> list[tuple[int, int, int]]:
        """The accepted pooled shapes: rounding down first, then rounding up where that differs."""
        return list(dict.fromkeys([self.pool_out(False), self.pool_out(True)]))

    @cached_property
    def flat_sizes(self) -> list[int]:
        return [c * h * w for c, h, w in self.pool_outs]

    # --- parameters ---
    @cached_property
    def layers(self) -> list[Layer]:
        """The derived table, rounding-down pooling."""
        c, k1, k2 = self.input[0], self.conv1.kernel, self.conv2.kernel
        f1, f2, units, flat = self.conv1.filters, self.conv2.filters, self.fc1_units, self.flat_sizes[0]
        return [
            Layer("input", f"{self.dataset} image", tuple(self.input), 0),
            Layer("conv1", f"conv {describe_conv(self.conv1, c)}, ReLU", self.conv1_out, k1 * k1 * c * f1 + f1),
            Layer("conv2", f"conv {describe_conv(self.conv2, f1)}, ReLU", self.conv2_out, k2 * k2 * f1 * f2 + f2),
            Layer("pool", f"max-pool {self.pool.kernel}x{self.pool.kernel}, stride {self.pool.stride}",
                  self.pool_outs[0], 0),
            Layer("fc1", f"fully connected from {flat}, ReLU, dropout {self.dropout:g}", (units,),
                  flat * units + units),
            Layer("fc2", "fully connected: the logits", (self.classes,), units * self.classes + self.classes),
        ]

    @cached_property
    def param_counts(self) -> list[int]:
        """Total parameters for each accepted pooled shape (rounding down first)."""
        base = sum(layer.params for layer in self.layers if layer.name != "fc1")
        return [base + flat * self.fc1_units + self.fc1_units for flat in self.flat_sizes]

    # --- what the checks quote ---
    @cached_property
    def roles(self) -> dict[str, list[tuple]]:
        """Parameter role -> accepted shapes."""
        c = self.input[0]
        f1, f2, k1, k2 = self.conv1.filters, self.conv2.filters, self.conv1.kernel, self.conv2.kernel
        return {
            "conv1.weight": [(f1, c, k1, k1)], "conv1.bias": [(f1,)],
            "conv2.weight": [(f2, f1, k2, k2)], "conv2.bias": [(f2,)],
            "fc1.weight": [(self.fc1_units, flat) for flat in self.flat_sizes], "fc1.bias": [(self.fc1_units,)],
            "fc2.weight": [(self.classes, self.fc1_units)], "fc2.bias": [(self.classes,)],
        }

    @cached_property
    def role_hints(self) -> dict[str, str]:
        c, f1, f2 = self.input[0], self.conv1.filters, self.conv2.filters
        return {
            "conv1.weight": f"{f1} filters of {c}x{self.conv1.kernel}x{self.conv1.kernel}",
            "conv1.bias": "one bias per conv1 filter",
            "conv2.weight": f"{f2} filters of {f1}x{self.conv2.kernel}x{self.conv2.kernel}",
            "conv2.bias": "one bias per conv2 filter",
            "fc1.weight": f"{self.fc1_units} units, each connected to all {fmt(self.pool_outs[0])} pooled values",
            "fc1.bias": "one bias per fc1 unit",
            "fc2.weight": f"{self.classes} outputs from the {self.fc1_units} units",
            "fc2.bias": "one bias per output",
        }

    @cached_property
    def param_hint(self) -> str:
        """`expected ...` for a wrong parameter count."""
        counts = self.param_counts
        text = f"expected {counts[0]:,}"
        if len(counts) > 1:
            text += f" (or {counts[1]:,} with pooling that rounds up to {fmt(self.pool_outs[1])})"
        return text

    @cached_property
    def layer_hints(self) -> list[tuple[str, list[tuple], str]]:
        """(layer, accepted output shapes without the batch, why) for each layer whose size is checked."""
        c1, c2, p = self.conv1, self.conv2, self.pool
        pooled = self.pool_outs
        ceil_note = f" ({fmt(pooled[1])} when it rounds up)" if len(pooled) > 1 else ""
        return [
            ("conv1", [self.conv1_out], f"the first convolution has {conv_words(c1)}: "
             f"{size_sum(c1, self.input[1])}"),
            ("conv2", [self.conv2_out], second_conv_words(c2, self.conv1_out)),
            ("pool", pooled, f"one {pool_words(p)} of {fmt(self.conv2_out)} gives {fmt(pooled[0])}{ceil_note}"),
            ("fc1", [(self.fc1_units,)], f"fc1 has {self.fc1_units} units"),
        ]

    @cached_property
    def patch(self) -> dict:
        """The input window that one conv1 activation sees."""
        return {"size": self.conv1.kernel, "stride": self.conv1.stride,
                "padding": self.conv1.padding if self.conv1.padding != "same" else (self.conv1.kernel - 1) // 2}

    @cached_property
    def patch_shape(self) -> tuple[int, ...]:
        return patch_shape(self.conv1.kernel, self.input[0])

    @cached_property
    def shape_cases(self) -> list[dict]:
        """The practical's own layers as `output_shape` cases (without torch's answers)."""
        def conv_kwargs(conv: Conv, c_in: int) -> dict:
            kwargs = {"in_channels": c_in, "out_channels": conv.filters, "kernel_size": conv.kernel}
            if conv.stride != 1:
                kwargs["stride"] = conv.stride
            if conv.padding != 0:
                kwargs["padding"] = conv.padding
            return kwargs
        pool = {"kernel_size": self.pool.kernel}
        if self.pool.stride != self.pool.kernel:
            pool["stride"] = self.pool.stride
        return [
            {"layer": "Conv2d", "kwargs": conv_kwargs(self.conv1, self.input[0]), "in_shape": list(self.input)},
            {"layer": "Conv2d", "kwargs": conv_kwargs(self.conv2, self.conv1.filters),
             "in_shape": list(self.conv1_out)},
            {"layer": "MaxPool2d", "kwargs": pool, "in_shape": list(self.conv2_out)},
            {"layer": "MaxPool2d", "kwargs": dict(pool, ceil_mode=True), "in_shape": list(self.conv2_out)},
        ]

    def as_dict(self) -> dict:
        """The spec as grading.yml writes it."""
        def conv(c: Conv) -> dict:
            return {"filters": c.filters, "kernel": c.kernel, "stride": c.stride, "padding": c.padding}
        return {"dataset": {"name": self.dataset, "input": list(self.input)},
                "network": {"conv1": conv(self.conv1), "conv2": conv(self.conv2),
                            "pool": {"kernel": self.pool.kernel, "stride": self.pool.stride},
                            "fc1": {"units": self.fc1_units}, "dropout": self.dropout, "classes": self.classes}}


    def student_facts(self) -> dict:
        """What a student template carries as assignment/practical.json: the spec (no variants) and the
        numbers the handout quotes. The handout gives all of them, so nothing here is a secret."""
        return {"spec": self.as_dict(), "derived": {
            "conv1_out": list(self.conv1_out), "conv2_out": list(self.conv2_out),
            "pool_outs": [list(s) for s in self.pool_outs], "flat_sizes": self.flat_sizes,
            "param_counts": self.param_counts, "patch": self.patch, "patch_shape": list(self.patch_shape),
            "layers": [{"name": layer.name, "what": layer.what, "out": list(layer.out), "params": layer.params}
                       for layer in self.layers]}}


def patch_shape(size: int, channels: int) -> tuple[int, ...]:
    """One top patch: (size, size) for one input channel, as the practical has always had it;
    (channels, size, size) for more."""
    return (size, size) if channels == 1 else (channels, size, size)


def fmt(shape) -> str:
    return "x".join(str(s) for s in shape)


def describe_conv(conv: Conv, c_in: int) -> str:
    return f"{conv.filters}@{c_in}x{conv.kernel}x{conv.kernel}, stride {conv.stride}, " + (
        "'same' padding" if conv.padding == "same" else "no padding" if conv.padding == 0
        else f"padding {conv.padding}")


def conv_words(conv: Conv) -> str:
    pad = "no padding" if conv.padding == 0 else f"padding {conv.padding}"
    return f"kernel {conv.kernel}, stride {conv.stride} and {pad}"


def size_sum(conv: Conv, n: int) -> str:
    """The output-size formula with the numbers in, e.g. '(28 - 12) / 2 + 1 = 9'."""
    inner = f"{n} - {conv.kernel}" if conv.padding == 0 else f"{n} + 2*{conv.padding} - {conv.kernel}"
    return f"({inner}) / {conv.stride} + 1 = {conv.out_size(n)}"


def second_conv_words(conv: Conv, c_in_shape: tuple) -> str:
    if conv.padding == "same":
        k = conv.kernel
        split = f"{(k - 1) // 2} on each side" if k % 2 else f"{k - 1} in all, one more after than before"
        return (f"the second convolution keeps {fmt(c_in_shape[1:])}: {k}x{k} kernel, stride 1, "
                f"'same' padding ({split})")
    return f"the second convolution has {conv_words(conv)}: {size_sum(conv, c_in_shape[1])}"


def pool_words(pool: Pool) -> str:
    k = f"{pool.kernel}x{pool.kernel} max-pooling"
    return k if pool.stride == pool.kernel else f"{k} with stride {pool.stride}"


# --- parsing -------------------------------------------------------------------------------------------

def _mapping(value, where: str, keys: tuple) -> dict:
    if not isinstance(value, dict):
        raise SpecError(f"{where} must be a mapping with {', '.join(keys)}, got {value!r}")
    unknown = sorted(set(value) - set(keys))
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; allowed: {', '.join(keys)}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise SpecError(f"{where} lacks {', '.join(missing)}")
    return value


def _positive(value, where: str) -> int:
    if type(value) is not int or value < 1:
        raise SpecError(f"{where} must be a whole number of at least 1, got {value!r}")
    return value


def _conv(raw, where: str) -> Conv:
    raw = _mapping(raw, where, ("filters", "kernel", "stride", "padding"))
    filters, kernel, stride = (_positive(raw[k], f"{where}.{k}") for k in ("filters", "kernel", "stride"))
    padding = raw["padding"]
    if padding == "same":
        if stride != 1:
            raise SpecError(f"{where}.padding is 'same' with stride {stride}: PyTorch allows 'same' only with "
                            "stride 1")
    elif type(padding) is not int or padding < 0:
        raise SpecError(f"{where}.padding must be a whole number >= 0 or 'same', got {padding!r}")
    elif padding * 2 >= kernel:
        raise SpecError(f"{where}.padding is {padding}: at least half the kernel ({kernel}), so some windows "
                        "would see only padding")
    return Conv(filters, kernel, stride, padding)


def parse_network(raw, dataset: str, input_shape: tuple, where: str) -> Practical:
    raw = _mapping(raw, where, NETWORK_KEYS)
    conv1, conv2 = _conv(raw["conv1"], f"{where}.conv1"), _conv(raw["conv2"], f"{where}.conv2")
    pool_raw = _mapping(raw["pool"], f"{where}.pool", ("kernel", "stride"))
    pool = Pool(_positive(pool_raw["kernel"], f"{where}.pool.kernel"),
                _positive(pool_raw["stride"], f"{where}.pool.stride"))
    fc1 = _mapping(raw["fc1"], f"{where}.fc1", ("units",))
    units = _positive(fc1["units"], f"{where}.fc1.units")
    dropout = raw["dropout"]
    if not isinstance(dropout, (int, float)) or isinstance(dropout, bool) or not 0 <= dropout < 1:
        raise SpecError(f"{where}.dropout must be a rate in [0, 1), got {dropout!r}")
    classes = _positive(raw["classes"], f"{where}.classes")
    labels = len(datasets.get(dataset).classes)
    if classes != labels:
        raise SpecError(f"{where}.classes is {classes}, but {dataset} has {labels} classes: fc2 gives one logit "
                        "per class")
    p = Practical(dataset, input_shape, conv1, conv2, pool, units, float(dropout), classes)
    # sizes must stay at least 1x1 all the way down
    for name, shape, field in (("conv1", p.conv1_out, "conv1"), ("conv2", p.conv2_out, "conv2"),
                               ("pool", p.pool_out(False), "pool")):
        if min(shape[1:]) < 1:
            raise SpecError(f"{where}.{field}: its output would be {fmt(shape)}, smaller than 1x1; use a smaller "
                            "kernel or stride, or more padding")
    if pool.kernel > p.conv2_out[1] or pool.kernel > p.conv2_out[2]:
        raise SpecError(f"{where}.pool.kernel ({pool.kernel}) is larger than conv2's output {fmt(p.conv2_out)}")
    return p


def parse_practical(raw, where: str = "practical") -> tuple[Practical, dict]:
    """(the spec as written, its variants: field -> allowed values). Raises SpecError naming the field."""
    raw = _mapping(raw, where, ("dataset", "network", "variants"))
    ds = _mapping(raw["dataset"], f"{where}.dataset", ("name", "input"))
    name = ds["name"]
    if name not in DATASETS:
        raise SpecError(f"{where}.dataset.name is {name!r}; known datasets: {', '.join(DATASETS)}")
    shape = ds["input"]
    if not isinstance(shape, list) or tuple(shape) != DATASETS[name]:
        raise SpecError(f"{where}.dataset.input is {shape!r}, but {name} images are "
                        f"{list(DATASETS[name])} (channels, height, width)")
    practical = parse_network(raw["network"], name, tuple(shape), f"{where}.network")
    return practical, parse_variants(raw["variants"], practical, f"{where}.variants")


def parse_variants(raw, base: Practical, where: str) -> dict[str, list]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise SpecError(f"{where} must map fields (like conv1.filters) to lists of values, got {raw!r}")
    network = base.as_dict()["network"]
    variants = {}
    for field, choices in raw.items():
        path = str(field).split(".")
        node = network
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or path[-1] not in node:
            raise SpecError(f"{where}: {field!r} is not a field of the network (for example conv1.filters, "
                            "fc1.units, dropout)")
        if not isinstance(choices, list) or len(choices) < 2 or len(set(map(repr, choices))) != len(choices):
            raise SpecError(f"{where}.{field} must list at least two different values, got {choices!r}")
        if node[path[-1]] not in choices:
            raise SpecError(f"{where}.{field}: the spec's own value {node[path[-1]]!r} is not among the choices "
                            f"{choices}; list it first, so that it is variant v1")
        variants[str(field)] = [node[path[-1]]] + [c for c in choices if c != node[path[-1]]]
    enumerate_variants(base, variants, where)  # every combination is parsed now, so a bad choice is refused
    return variants


def enumerate_variants(base: Practical, variants: dict[str, list], where: str = "practical.variants"
                       ) -> dict[str, Practical]:
    """Variant id -> its spec. v1 is the spec as written; with no variants it is the only one."""
    fields = list(variants)
    out = {}
    for i, combo in enumerate(itertools.product(*(variants[f] for f in fields)), start=1):
        network = base.as_dict()["network"]
        for field, value in zip(fields, combo):
            *parents, leaf = field.split(".")
            node = network
            for part in parents:
                node = node[part]
            node[leaf] = value
        label = ", ".join(f"{f}={v!r}" for f, v in zip(fields, combo))
        try:
            out[f"v{i}"] = parse_network(network, base.dataset, base.input, where)
        except SpecError as err:
            raise SpecError(f"variant v{i} ({label}): {err}") from err
    return out


def variant_spec(base: Practical, variants: dict[str, list], vid: str | None) -> Practical:
    """The spec of variant `vid` (None: the spec as written). Unknown ids are refused."""
    if vid is None:
        return base
    known = enumerate_variants(base, variants)
    if vid not in known:
        raise SpecError(f"unknown variant {vid!r}; this spec has {', '.join(known)}")
    return known[vid]


def field_value(practical: Practical, field: str):
    """The value of a network field such as "conv1.filters"."""
    node = practical.as_dict()["network"]
    for part in field.split("."):
        node = node[part]
    return node


def differences(a: Practical, b: Practical) -> list[tuple[str, object, object]]:
    """(field, value in a, value in b) for each network field where the two specs differ, e.g.
    ("fc1.units", 512, 1024)."""
    def flat(node, prefix=""):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from flat(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}", value
    left, right = dict(flat(a.as_dict()["network"])), dict(flat(b.as_dict()["network"]))
    return [(f, left[f], right[f]) for f in left if left[f] != right[f]]


def table(practical: Practical) -> str:
    """The derived table that `python -m autograder spec` prints."""
    rows = [("layer", "what", "output", "parameters")]
    rows += [(layer.name, layer.what, fmt(layer.out), f"{layer.params:,}" if layer.params else "")
             for layer in practical.layers]
    rows.append(("total", "", "", f"{practical.param_counts[0]:,}"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) if i < 3 else cell.rjust(w) for i, (cell, w) in enumerate(zip(r, widths)))
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if len(practical.pool_outs) > 1:
        lines.append(f"pooling that rounds up: {fmt(practical.pool_outs[1])}, fc1 from {practical.flat_sizes[1]}, "
                     f"total {practical.param_counts[1]:,}")
    p, d = practical.patch, practical.data
    colour = f" (a patch holds {fmt(practical.patch_shape)}: every channel)" if len(practical.patch_shape) == 3 else ""
    lines.append(f"top-patch window: {p['size']}x{p['size']}, stride {p['stride']}, padding {p['padding']}{colour}")
    lines.append(f"dataset: {d.title}, {d.n_train - d.n_valid:,} training, {d.n_valid:,} validation and {d.n_test:,} "
                 f"test images, {len(d.classes)} classes; offline copy in ${d.env}")
    return "\n".join(lines)
