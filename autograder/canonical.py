"""The grader's own copy of the practical's network, and the diagnoses built on it.

The student's weights are matched to the canonical layers by shape, then run through the canonical
forward pass. Where that disagrees with what the student's model produced, the recorded activations
of each layer say which step deviates.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

PARAM_COUNTS = (1_103_539, 1_693_363)  # floor pooling (64x4x4) / ceil pooling (64x5x5)
ROLES = {  # role -> accepted shapes, and what it is, for messages
    "conv1.weight": [(25, 1, 12, 12)],
    "conv1.bias": [(25,)],
    "conv2.weight": [(64, 25, 5, 5)],
    "conv2.bias": [(64,)],
    "fc1.weight": [(1024, 1024), (1024, 1600)],
    "fc1.bias": [(1024,)],
    "fc2.weight": [(10, 1024)],
    "fc2.bias": [(10,)],
}
ROLE_HINT = {
    "conv1.weight": "25 filters of 1x12x12", "conv1.bias": "one bias per conv1 filter",
    "conv2.weight": "64 filters of 25x5x5", "conv2.bias": "one bias per conv2 filter",
    "fc1.weight": "1024 units, each connected to all 64x4x4 pooled values",
    "fc1.bias": "one bias per fc1 unit", "fc2.weight": "10 outputs from the 1024 units",
    "fc2.bias": "one bias per output",
}
ALLOWED_LEAVES = {"Conv2d", "MaxPool2d", "Linear", "ReLU", "Dropout", "Flatten", "Identity"}
LAYER_COUNTS = {"Conv2d": 2, "MaxPool2d": 1, "Linear": 2}


def fmt_shape(shape) -> str:
    return "x".join(str(s) for s in shape)


def close(a, b) -> bool:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor) or a.shape != b.shape:
        return False
    a, b = a.double(), b.double()
    return bool(torch.isfinite(a).all()) and (a - b).abs().max().item() <= 1e-4 + 1e-3 * b.abs().max().item()


def match_params(params: list) -> tuple[dict, list[str]]:
    """Map the student's [name, tensor] pairs onto the canonical roles by shape.

    Returns (role -> tensor, problems). Shapes are distinct per role, so the order and names of the
    student's layers do not matter.
    """
    by_shape = {}
    for name, tensor in params:
        by_shape.setdefault(tuple(tensor.shape), []).append((name, tensor))
    weights, problems, used = {}, [], set()
    for role, shapes in ROLES.items():
        found = [(n, t) for s in shapes for n, t in by_shape.get(s, [])]
        if found:
            weights[role] = found[0][1].detach().float()
            used.add(found[0][0])
        else:
            problems.append(f"no parameter of shape {' or '.join(str(s) for s in shapes)} for {role}: "
                            f"expected {ROLE_HINT[role]}")
    for name, tensor in params:
        if name not in used:
            problems.append(f"unexpected parameter '{name}' of shape {tuple(tensor.shape)}")
    total = sum(t.numel() for _, t in params)
    if total not in PARAM_COUNTS:
        problems.insert(0, f"your model has {total:,} parameters, expected 1,103,539 "
                           "(or 1,693,363 with pooling that rounds up to 64x5x5)")
    return weights, problems


def stages(w: dict, x: torch.Tensor) -> dict:
    """Every intermediate of the canonical network with weights `w`, in eval mode."""
    s = {"conv1": F.conv2d(x, w["conv1.weight"], w["conv1.bias"], stride=2)}  # (B, 25, 9, 9)
    s["relu1"] = F.relu(s["conv1"])
    s["conv2"] = F.conv2d(s["relu1"], w["conv2.weight"], w["conv2.bias"], padding=2)  # (B, 64, 9, 9)
    s["relu2"] = F.relu(s["conv2"])
    ceil = w["fc1.weight"].shape[1] == 1600
    s["pool"] = F.max_pool2d(s["relu2"], 2, ceil_mode=ceil)  # (B, 64, 4, 4) or (B, 64, 5, 5)
    s["fc1"] = F.linear(s["pool"].flatten(1), w["fc1.weight"], w["fc1.bias"])  # (B, 1024)
    s["relu3"] = F.relu(s["fc1"])
    s["logits"] = F.linear(s["relu3"], w["fc2.weight"], w["fc2.bias"])  # (B, 10)
    return s


@torch.no_grad()
def predict(w: dict, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    return torch.cat([stages(w, images[i:i + batch])["logits"] for i in range(0, len(images), batch)])


def layer_problems(modules: list, records: list) -> list[str]:
    """Extra or missing layers, and per-layer output sizes, from the student's module tree."""
    problems = []
    leaves = [(n, c) for n, c in modules if not any(m.startswith(n + ".") for m, _ in modules)]
    for name, cls in leaves:
        if cls not in ALLOWED_LEAVES:
            problems.append(f"unexpected layer {cls} ({name}): the network has only convolutions, one "
                            "max-pooling, fully connected layers, ReLUs and dropout")
    for cls, count in LAYER_COUNTS.items():
        found = sum(1 for _, c in leaves if c == cls)
        if found and found != count:
            problems.append(f"{found} {cls} layers, expected {count}")

    def first(cls, i=0):
        outs = [r for r in records if r[1] == cls and r[3] is not None]
        return outs[i][3] if len(outs) > i else None

    expect = [
        ("conv1", first("Conv2d"), [(25, 9, 9)],
         "the first convolution has kernel 12, stride 2 and no padding: (28 - 12) / 2 + 1 = 9"),
        ("conv2", first("Conv2d", 1), [(64, 9, 9)],
         "the second convolution keeps 9x9: 5x5 kernel, stride 1, 'same' padding (2 on each side)"),
        ("pool", first("MaxPool2d"), [(64, 4, 4), (64, 5, 5)],
         "one 2x2 max-pooling of 64x9x9 gives 64x4x4 (64x5x5 when it rounds up)"),
        ("fc1", first("Linear"), [(1024,)], "fc1 has 1024 units"),
    ]
    for name, out, shapes, why in expect:
        if out is not None and tuple(out.shape[1:]) not in shapes:
            wanted = " or ".join(fmt_shape(s) for s in shapes)
            problems.append(f"{name} output is {fmt_shape(out.shape[1:])}, expected {wanted}: {why}")
    return problems


def behaviour_problems(w: dict, probe: torch.Tensor, records: list, probe_out) -> list[str]:
    """Compare the student's model with the canonical one holding the same weights.

    Each step is checked on the student's own input to that step, so one mistake is reported once,
    at the layer where it happens.
    """
    ref = stages(w, probe)
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
    if not close(c1, F.conv2d(c1_in, w["conv1.weight"], w["conv1.bias"], stride=2)):
        problems.append("conv1 does not compute a stride-2 convolution without padding of its input")
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


def oracle_activations(w: dict, images: torch.Tensor) -> torch.Tensor:
    """Post-ReLU conv1 activations (N, 25, 9, 9) of the student's trained first layer."""
    with torch.no_grad():
        return F.relu(F.conv2d(images, w["conv1.weight"], w["conv1.bias"], stride=2))
