"""The grader's own copy of the practical's network, and the diagnoses built on it.

Every size, shape and hint comes from the spec (spec.Practical). The student's weights are matched to
the canonical layers by shape, then run through the canonical forward pass. Where that disagrees with
what the student's model produced, the recorded activations of each layer say which step deviates.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..practical.spec import Conv, Practical, fmt

ALLOWED_LEAVES = {"Conv2d", "MaxPool2d", "Linear", "ReLU", "Dropout", "Flatten", "Identity"}
LAYER_COUNTS = {"Conv2d": 2, "MaxPool2d": 1, "Linear": 2}
MAX_LISTED = 5  # unexpected layers or parameters named one by one; the rest are counted


def close(a, b) -> bool:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.shape != b.shape:
        return False
    a, b = a.double(), b.double()
    return bool(torch.isfinite(a).all()) and (a - b).abs().max().item() <= 1e-4 + 1e-3 * b.abs().max().item()


def match_params(params: list, practical: Practical) -> tuple[dict, list[str]]:
    """Map the student's [name, tensor] pairs onto the canonical roles by shape.

    Returns (role -> tensor, problems). The order and names of the student's layers do not matter.
    Where two roles share a shape (conv1 and conv2 with as many filters, say), a bias goes with the
    weight of its own module (`conv1.bias` with `conv1.weight`), else the first of that shape is taken.
    """
    by_shape = {}
    for name, tensor in params:
        by_shape.setdefault(tuple(tensor.shape), []).append((name, tensor))
    chosen, used = {}, set()
    for role, shapes in practical.roles.items():  # weights first, so that biases can follow them
        if not role.endswith(".weight"):
            continue
        found = [n for s in shapes for n, _ in by_shape.get(s, []) if n not in used]
        if found:
            chosen[role] = found[0]
            used.add(found[0])
    for role, shapes in practical.roles.items():
        if role.endswith(".weight"):
            continue
        found = [n for s in shapes for n, _ in by_shape.get(s, []) if n not in used]
        weight = chosen.get(role.removesuffix("bias") + "weight")
        own = weight and weight.removesuffix("weight") + "bias"
        if found:
            chosen[role] = own if own in found else found[0]
            used.add(chosen[role])
    tensors = dict(params)
    weights, problems = {}, []
    for role, shapes in practical.roles.items():
        if role in chosen:
            weights[role] = tensors[chosen[role]].detach().float()
        else:
            problems.append(f"no parameter of shape {' or '.join(str(s) for s in shapes)} for {role}: "
                            f"expected {practical.role_hints[role]}")
    unexpected = [(name, tensor) for name, tensor in params if name not in used]
    for name, tensor in unexpected[:MAX_LISTED]:
        problems.append(f"unexpected parameter '{name}' of shape {tuple(tensor.shape)}")
    if len(unexpected) > MAX_LISTED:
        problems.append(f"... and {len(unexpected) - MAX_LISTED:,} more unexpected parameters")
    total = sum(t.numel() for _, t in params)
    if total not in practical.param_counts:
        problems.insert(0, f"your model has {total:,} parameters, {practical.param_hint}")
    return weights, problems


def convolve(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, conv: Conv) -> torch.Tensor:
    """F.conv2d with the spec's stride and padding; 'same' padding is spelt out (before, after), as
    PyTorch pads it: the same sums, without the warning an even kernel gives."""
    if conv.padding == "same":
        before = (conv.kernel - 1) // 2
        after = conv.kernel - 1 - before
        if before == after:
            return F.conv2d(x, weight, bias, stride=conv.stride, padding=before)
        return F.conv2d(F.pad(x, (before, after, before, after)), weight, bias, stride=conv.stride)
    return F.conv2d(x, weight, bias, stride=conv.stride, padding=conv.padding)


def conv1(w: dict, x: torch.Tensor, practical: Practical) -> torch.Tensor:
    return convolve(x, w["conv1.weight"], w["conv1.bias"], practical.conv1)


def stages(w: dict, x: torch.Tensor, practical: Practical) -> dict:
    """Every intermediate of the canonical network with weights `w`, in eval mode."""
    c2, pool = practical.conv2, practical.pool
    s = {"conv1": conv1(w, x, practical)}  # (B, *conv1_out)
    s["relu1"] = F.relu(s["conv1"])
    s["conv2"] = convolve(s["relu1"], w["conv2.weight"], w["conv2.bias"], c2)  # (B, *conv2_out)
    s["relu2"] = F.relu(s["conv2"])
    ceil = len(practical.flat_sizes) > 1 and w["fc1.weight"].shape[1] == practical.flat_sizes[1]
    s["pool"] = F.max_pool2d(s["relu2"], pool.kernel, stride=pool.stride, ceil_mode=ceil)  # (B, *pool_outs[ceil])
    s["fc1"] = F.linear(s["pool"].flatten(1), w["fc1.weight"], w["fc1.bias"])  # (B, fc1 units)
    s["relu3"] = F.relu(s["fc1"])
    s["logits"] = F.linear(s["relu3"], w["fc2.weight"], w["fc2.bias"])  # (B, classes)
    return s


@torch.no_grad()
def predict(w: dict, images: torch.Tensor, practical: Practical, batch: int = 1000) -> torch.Tensor:
    """The logits of many images, in batches. Channels-last tensors make the convolutions about 1.5x faster
    on CPU; the sums are the same up to float rounding."""
    last = {n: t.contiguous(memory_format=torch.channels_last) if t.ndim == 4 else t for n, t in w.items()}
    return torch.cat([stages(last, images[i:i + batch].contiguous(memory_format=torch.channels_last), practical)["logits"]
                      for i in range(0, len(images), batch)])


def layer_problems(modules: list, records: list, practical: Practical, count: int | None = None) -> list[str]:
    """Extra or missing layers, and per-layer output sizes, from the student's module tree (`modules`: its
    first named modules, of `count` in all). Linear in the number of modules."""
    count = len(modules) if count is None else count
    if count > len(modules):
        return [f"your model has {count:,} modules, far more than the network's: it has only two convolutions, "
                "one max-pooling, two fully connected layers, ReLUs and dropout"]
    parents = {n.rpartition(".")[0] for n, _ in modules}
    leaves = [(n, c) for n, c in modules if n not in parents]
    unexpected = [f"unexpected layer {cls} ({name})" for name, cls in leaves if cls not in ALLOWED_LEAVES]
    problems = [message + ": the network has only convolutions, one max-pooling, fully connected layers, ReLUs "
                "and dropout" for message in unexpected[:MAX_LISTED]]
    if len(unexpected) > MAX_LISTED:
        problems.append(f"... and {len(unexpected) - MAX_LISTED:,} more unexpected layers")
    for cls, wanted in LAYER_COUNTS.items():
        found = sum(1 for _, c in leaves if c == cls)
        if found and found != wanted:
            problems.append(f"{found} {cls} layers, expected {wanted}")

    def first(cls, i=0):
        outs = [r for r in records if r[1] == cls and r[3] is not None]
        return outs[i][3] if len(outs) > i else None

    where = {"conv1": ("Conv2d", 0), "conv2": ("Conv2d", 1), "pool": ("MaxPool2d", 0), "fc1": ("Linear", 0)}
    expect = [(name, first(*where[name]), shapes, why) for name, shapes, why in practical.layer_hints]
    for name, out, shapes, why in expect:
        if out is not None and tuple(out.shape[1:]) not in shapes:
            wanted = " or ".join(fmt(s) for s in shapes)
            problems.append(f"{name} output is {fmt(out.shape[1:])}, expected {wanted}: {why}")
    return problems


def behaviour_problems(w: dict, probe: torch.Tensor, records: list, probe_out, practical: Practical) -> list[str]:
    """Compare the student's model with the canonical one holding the same weights.

    Each step is checked on the student's own input to that step, so one mistake is reported once,
    at the layer where it happens.
    """
    ref = stages(w, probe, practical)
    if close(probe_out, ref["logits"]):
        return []
    rec = {}
    for name, cls, inp, out in records:
        rec.setdefault(cls, []).append((inp, out))
    convs, pools, linears = rec.get("Conv2d", []), rec.get("MaxPool2d", []), rec.get("Linear", [])
    if len(convs) != 2 or len(pools) != 1 or len(linears) != 2:
        return ["with your weights, the grader's copy of the network gives different outputs from your model; "
                "its layers could not be compared one by one (use nn.Conv2d, nn.MaxPool2d and nn.Linear modules)"]
    (c1_in, c1), (c2_in, c2) = convs
    (p_in, p_out), = pools
    (f1_in, f1), (f2_in, f2) = linears
    problems = []
    if not close(c1_in, probe):
        problems.append("conv1 does not receive the input image unchanged")
    if not close(c1, conv1(w, c1_in, practical)):
        problems.append(f"conv1 does not compute a {conv_phrase(practical.conv1)} of its input")
    steps = [
        ("conv1", "conv2", c1, c2_in),
        ("conv2", "the max-pooling", c2, p_in),
        ("fc1", "fc2", f1, f2_in),
    ]
    for name, nxt, out, nxt_in in steps:
        if close(nxt_in, F.relu(out)):
            continue
        if close(nxt_in, out):
            problems.append(f"no ReLU after {name}: {nxt} receives {name}'s output unchanged")
        elif name == "fc1" and is_dropout_in_eval(out, nxt_in):
            problems.append("dropout is still active in eval mode: use nn.Dropout, or "
                            "F.dropout(x, p, training=self.training)")
        else:
            problems.append(f"{nxt} does not receive ReLU({name} output)")
    if not close(f1_in, p_out.flatten(1)):
        problems.append("fc1 does not receive the flattened output of the max-pooling "
                        "(flatten each image to a vector in channel, row, column order)")
    if not problems and not close(probe_out, f2):
        problems.append(output_transform(probe_out, f2))
    if not problems:
        problems.append("with your weights, the grader's copy of the network gives different outputs from your "
                        "model, although each layer looks right; check the order of the layers")
    return problems


def is_dropout_in_eval(fc1_out: torch.Tensor, fc2_in) -> bool:
    if not isinstance(fc2_in, torch.Tensor) or fc2_in.shape != fc1_out.shape:
        return False
    kept = fc2_in != 0
    r = F.relu(fc1_out)
    return bool(kept.any()) and bool((fc2_in[kept] / r[kept].clamp_min(1e-12) > 1.01).any())


def output_transform(out, logits) -> str:
    """What the student did to the logits, when the output is not fc2's output."""
    candidates = [
        (torch.softmax(logits, 1), "softmax on the logits: return fc2's output as it is; "
                                   "nn.CrossEntropyLoss applies log-softmax itself"),
        (torch.log_softmax(logits, 1), "log_softmax on the logits: return fc2's output as it is "
                                       "(nn.CrossEntropyLoss applies log-softmax itself)"),
        (F.relu(logits), "ReLU on the logits: fc2 takes no nonlinearity"),
        (torch.sigmoid(logits), "sigmoid on the logits: fc2 takes no nonlinearity"),
    ]
    for value, message in candidates:
        if close(out, value):
            return message
    return "the model's output is not fc2's output: return the logits unchanged"


def conv_phrase(conv: Conv) -> str:
    """e.g. 'stride-2 convolution without padding'."""
    pad = {0: "without padding", "same": "with 'same' padding"}.get(conv.padding, f"with padding {conv.padding}")
    return f"stride-{conv.stride} convolution {pad}"


def oracle_activations(w: dict, images: torch.Tensor, practical: Practical) -> torch.Tensor:
    """Post-ReLU conv1 activations (N, *conv1_out) of the student's trained first layer."""
    with torch.no_grad():
        return F.relu(conv1(w, images, practical))
