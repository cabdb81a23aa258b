"""Experiments: train your network under each configuration of a grid, and tabulate what each costs and
reaches. ``python -m assignment experiments GRID.yml [--out DIR] [--solution PATH] [--data-root DIR]``.

GRID.yml (``assignment/experiments.yml`` is an example) gives the settings every run shares and the
ones to vary; every combination of the varied values is one run::

    defaults: {optimiser: Adam, lr: 1.0e-4, batch_size: 50, iterations: 300}
    log_every: 100
    grid:
      lr: [1.0e-4, 1.0e-3]
      fc1.units: [1024, 128]

Training settings: ``optimiser`` (a ``torch.optim`` class: Adam, AdamW, SGD, RMSprop, ...), ``lr``,
``momentum`` (SGD and RMSprop only), ``batch_size``, ``iterations`` and ``seed``. Network settings are
the fields of the practical's spec, named as in ``practical.json``: ``conv1.filters``, ``conv1.kernel``,
``conv2.padding``, ``pool.kernel``, ``fc1.units``, ``dropout``, ... They reach your network through
``practical.using``: they change what ``build_model()`` builds only if it reads its sizes from
``assignment.practical.load()``, and a run whose parameter count shows otherwise is flagged.

Every run trains with the same loop, the handout's (cross-entropy; minibatches sliced from a shuffled
index; a history entry every ``log_every`` steps), so that runs differ only in what the grid changes.
The table gives each run's parameters, the FLOPs of one image's forward pass (counted by
``torch.utils.flop_counter``), the training seconds (the validation passes not counted), and the final
validation and test accuracy. Choose with the validation accuracy; the test column is there to report.

Written into OUT (default ``experiments/``) after every run: ``experiments.csv`` and
``experiments.md`` (the table), ``curves.json`` (each run's history), ``accuracy_vs_parameters.png``
and ``curves.png``. Run the same command again after an interruption: finished runs are kept, and
skipped. Hand ``experiments.csv`` in beside your ``cnn.py`` if you like: the report shows it, unmarked.
"""
from __future__ import annotations

import argparse
import copy
import csv
import hashlib
import itertools
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from tqdm import tqdm

from assignment import plots, practical
from assignment.data import DataUnavailable, load_data
from assignment.solution import EXPERIMENTS, find_solution, load_solution

DEFAULTS = {"optimiser": "Adam", "lr": 1e-4, "batch_size": 50, "iterations": 300, "seed": 0}  # the handout's
TRAINING = (*DEFAULTS, "momentum")
RESULTS = ("parameters", "flops_per_image", "train_seconds", "valid_accuracy", "test_accuracy")
TABLE, CURVES = EXPERIMENTS, "curves.json"


class GridError(ValueError):
    """The grid file is malformed; the message says where and how."""


@dataclass(frozen=True)
class Run:
    name: str  # the grid's values, e.g. "lr=0.001, fc1.units=128"
    settings: dict  # every training setting, and the network fields it changes

    @property
    def id(self) -> str:
        """The same settings give the same id, so a rerun knows what it has done."""
        return hashlib.sha256(json.dumps(self.settings, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def network(self) -> dict:
        return {k: v for k, v in self.settings.items() if k not in TRAINING}


def network_fields(spec: dict) -> dict:
    """'conv1.filters' -> 25, ... for every field of the spec's network that a run may change."""
    def flat(node, prefix=""):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from flat(value, f"{prefix}{key}.")
            elif key != "classes":  # the labels fix it
                yield f"{prefix}{key}", value
    return dict(flat(spec["network"]))


def check_value(key: str, value, fields: dict, where: str) -> None:
    if key == "optimiser":
        cls = getattr(torch.optim, str(value), None)
        if not (isinstance(value, str) and isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
            raise GridError(f"{where}: optimiser {value!r} is not a torch.optim optimiser (Adam, AdamW, SGD, RMSprop, ...)")
        return
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if key in ("batch_size", "iterations") and not (type(value) is int and value >= 1):
        raise GridError(f"{where}: {key} must be a whole number of at least 1, got {value!r}")
    if key == "seed" and not (type(value) is int and value >= 0):
        raise GridError(f"{where}: seed must be a whole number of at least 0, got {value!r}")
    if key in ("lr", "momentum") and not (number and (value > 0 if key == "lr" else value >= 0)):
        raise GridError(f"{where}: {key} must be a {'positive ' if key == 'lr' else ''}number, got {value!r}")
    if key == "dropout" and not (number and 0 <= value < 1):
        raise GridError(f"{where}: dropout must be a rate in [0, 1), got {value!r}")
    if key.endswith(".padding") and not (value == "same" or (type(value) is int and value >= 0)):
        raise GridError(f"{where}: {key} must be a whole number of at least 0 or 'same', got {value!r}")
    if key in fields and type(fields[key]) is int and not key.endswith(".padding") and not (
            type(value) is int and value >= 1):
        raise GridError(f"{where}: {key} must be a whole number of at least 1, got {value!r}")


def read_grid(path: Path, spec: dict) -> tuple[list[Run], int]:
    """(the runs, in the grid's order; log_every) from a grid file."""
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise GridError(f"cannot read the grid {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise GridError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(raw, dict) or set(raw) - {"defaults", "grid", "log_every"}:
        raise GridError(f"{path}: expected a mapping with defaults, grid and log_every; got "
                        f"{sorted(raw) if isinstance(raw, dict) else type(raw).__name__}")
    fields = network_fields(spec)
    allowed = (*TRAINING, *fields)
    defaults, grid = raw.get("defaults") or {}, raw.get("grid") or {}
    for section, values in (("defaults", defaults), ("grid", grid)):
        if not isinstance(values, dict):
            raise GridError(f"{path}: {section} must be a mapping of settings, got {values!r}")
        unknown = [k for k in values if k not in allowed]
        if unknown:
            raise GridError(f"{path}: {section}.{unknown[0]} is not a setting; the settings are {', '.join(allowed)}")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise GridError(f"{path}: grid.{key} must be a non-empty list of values, got {values!r}")
    runs = []
    for combo in itertools.product(*grid.values()):
        changes = dict(zip(grid, combo))
        settings = {**DEFAULTS, **defaults, **changes}
        name = ", ".join(f"{k}={v}" for k, v in changes.items()) or "defaults"
        for key, value in settings.items():
            check_value(key, value, fields, f"{path}: run {name}")
        if "momentum" in settings and settings["optimiser"] not in ("SGD", "RMSprop"):
            raise GridError(f"{path}: run {name}: momentum is for SGD and RMSprop, not {settings['optimiser']}")
        runs.append(Run(name, settings))
    if len({r.id for r in runs}) != len(runs):
        raise GridError(f"{path}: the grid lists a value twice, so two runs would be the same")
    log_every = raw.get("log_every", min(100, min(r.settings["iterations"] for r in runs)))
    if type(log_every) is not int or not 1 <= log_every <= min(r.settings["iterations"] for r in runs):
        raise GridError(f"{path}: log_every must be a whole number from 1 to the fewest iterations of a run, "
                        f"got {log_every!r}")
    return runs, log_every


def varied(facts: dict, changes: dict, name: str) -> practical.Practical:
    """The practical with `changes` ('fc1.units' -> 128, ...) made, its sizes and counts measured by torch."""
    spec = copy.deepcopy(facts["spec"])
    for field, value in changes.items():
        *parents, leaf = field.split(".")
        node = spec["network"]
        for part in parents:
            node = node[part]
        node[leaf] = value
    try:
        derived = derive(spec)
    except (RuntimeError, ValueError) as err:
        size = "x".join(map(str, spec["dataset"]["input"][1:]))
        raise GridError(f"run {name}: no network of the practical's form fits {size} images with these sizes: "
                        f"{str(err).splitlines()[0]}") from None
    kernel = spec["network"]["conv1"]["kernel"]  # a top patch is conv1's window, in the layout the handout gives
    derived["patch_shape"] = [*facts["derived"]["patch_shape"][:-2], kernel, kernel]
    return practical.parse({"spec": spec, "derived": derived})


def derive(spec: dict) -> dict:
    """practical.json's `derived` for `spec`: every size by running its layers on meta tensors, every count
    from the layers' parameters."""
    net, (c, h, w) = spec["network"], spec["dataset"]["input"]
    c1, c2, pool, units, classes = net["conv1"], net["conv2"], net["pool"], net["fc1"]["units"], net["classes"]

    def conv(c_in: int, cfg: dict) -> nn.Conv2d:
        return nn.Conv2d(c_in, cfg["filters"], cfg["kernel"], stride=cfg["stride"], padding=cfg["padding"],
                         device="meta")

    def count(module: nn.Module) -> int:
        return sum(p.numel() for p in module.parameters())

    conv1, conv2 = conv(c, c1), conv(c1["filters"], c2)
    out1 = conv1(torch.empty(1, c, h, w, device="meta"))
    out2 = conv2(out1)
    pools, pooled = [], []
    for ceil in (False, True):
        layer = nn.MaxPool2d(pool["kernel"], pool["stride"], ceil_mode=ceil)
        shape = list(layer(out2).shape[1:])
        if shape not in pooled:
            pools.append(layer)
            pooled.append(shape)
    flats = [math.prod(s) for s in pooled]
    fc1s, fc2 = [nn.Linear(f, units, device="meta") for f in flats], nn.Linear(units, classes, device="meta")
    layers = [("conv1", conv1, out1.shape[1:]), ("conv2", conv2, out2.shape[1:]), ("pool", pools[0], pooled[0]),
              ("fc1", fc1s[0], (units,)), ("fc2", fc2, (classes,))]
    return {"conv1_out": list(out1.shape[1:]), "conv2_out": list(out2.shape[1:]), "pool_outs": pooled,
            "flat_sizes": flats, "param_counts": [count(conv1) + count(conv2) + count(fc1) + count(fc2) for fc1 in fc1s],
            "patch": {"size": c1["kernel"], "stride": c1["stride"],
                      "padding": (c1["kernel"] - 1) // 2 if c1["padding"] == "same" else c1["padding"]},
            "layers": [{"name": n, "what": repr(m), "out": list(o), "params": count(m)} for n, m, o in layers]}


def flops_per_image(model: nn.Module, input_shape: tuple) -> int:
    """The floating-point operations of one image's forward pass, as torch's FlopCounterMode counts them
    (two per multiply-add of the convolutions and matrix products; activations and pooling are free)."""
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, *input_shape))
    return counter.get_total_flops()


@torch.no_grad()
def accuracy(model: nn.Module, dataset, batch_size: int = 1000) -> float:
    was_training = model.training
    model.eval()
    correct = sum((model(dataset.images[i:i + batch_size]).argmax(1) == dataset.labels[i:i + batch_size]).sum().item()
                  for i in range(0, len(dataset), batch_size))
    model.train(was_training)
    return correct / len(dataset)


def train_run(model: nn.Module, splits, settings: dict, log_every: int, bar) -> tuple[list[dict], float]:
    """The shared training loop; returns (history, training seconds without the validation passes)."""
    kwargs = {"lr": settings["lr"], **({"momentum": settings["momentum"]} if "momentum" in settings else {})}
    optimiser = getattr(torch.optim, settings["optimiser"])(model.parameters(), **kwargs)
    images, labels = splits.train.images, splits.train.labels  # (N, 1, 28, 28), (N,)
    batch, history, seconds = settings["batch_size"], [], 0.0
    order, cursor, seen, correct = torch.randperm(len(labels)), 0, 0, 0
    model.train()
    start = time.perf_counter()
    for step in range(1, settings["iterations"] + 1):
        if cursor + batch > len(order):  # next epoch: reshuffle
            order, cursor = torch.randperm(len(labels)), 0
        idx = order[cursor:cursor + batch]
        cursor += batch
        logits = model(images[idx])  # (B, 10)
        loss = F.cross_entropy(logits, labels[idx])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        seen += len(idx)
        correct += (logits.argmax(1) == labels[idx]).sum().item()
        bar.update(1)
        if step % log_every == 0:
            seconds += time.perf_counter() - start
            history.append({"iteration": step, "loss": loss.item(), "train_accuracy": correct / seen,
                            "valid_accuracy": accuracy(model, splits.valid)})
            seen = correct = 0
            start = time.perf_counter()
    return history, seconds + time.perf_counter() - start


# --- the outputs --------------------------------------------------------------------------------------

def read_outputs(out: Path) -> tuple[dict[str, dict], dict[str, list]]:
    """(run id -> its row, run id -> its history) of the runs already finished in `out`."""
    rows, histories = {}, {}
    if (out / TABLE).is_file():
        with open(out / TABLE, newline="") as f:
            rows = {row["run"]: row for row in csv.DictReader(f) if row.get("run")}
    if (out / CURVES).is_file():
        histories = json.loads((out / CURVES).read_text())
    return rows, histories


def _replace(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def markdown(rows: list[dict]) -> str:
    """The table in markdown: one line per run, and the settings every run shares above it."""
    shared = {k: rows[0][k] for k in rows[0] if k not in ("run", "name", *RESULTS)
              and rows[0][k] != "" and all(r.get(k) == rows[0][k] for r in rows)}
    head = ["Every run: " + ", ".join(f"{k} {v}" for k, v in shared.items()) + ".", ""] if shared else []
    lines = ["| run | parameters | FLOPs per image | training s | validation accuracy | test accuracy |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['name']} | {int(r['parameters']):,} | {int(r['flops_per_image']):,} | "
                     f"{float(r['train_seconds']):.1f} | {float(r['valid_accuracy']):.2%} | "
                     f"{float(r['test_accuracy']):.2%} |")
    return "\n".join(head + lines) + "\n"


def write_outputs(out: Path, rows: list[dict], histories: dict[str, list]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    columns = ["run", "name"]
    for row in rows:
        columns += [k for k in row if k not in columns and k not in RESULTS]
    columns += RESULTS
    with open(out / f".{TABLE}.tmp", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(out / f".{TABLE}.tmp", out / TABLE)
    _replace(out / "experiments.md", markdown(rows))
    _replace(out / CURVES, json.dumps(histories, indent=1))
    plots.save_figure(plots.plot_accuracy_vs_parameters(
        [r["name"] for r in rows], [int(r["parameters"]) for r in rows],
        [float(r["valid_accuracy"]) for r in rows], [float(r["test_accuracy"]) for r in rows]),
        out / "accuracy_vs_parameters.png")
    named = {r["name"]: histories[r["run"]] for r in rows if histories.get(r["run"])}
    if named:
        plots.save_figure(plots.plot_runs(named), out / "curves.png")


def run_grid(runs: list[Run], log_every: int, facts: dict, cnn, splits, out: Path) -> list[dict]:
    """Train every run not yet in `out`, writing the outputs after each; returns the table's rows."""
    done, histories = read_outputs(out)
    todo = [r for r in runs if r.id not in done]
    print(f"{len(runs)} runs: {len(runs) - len(todo)} already in {out / TABLE}, {len(todo)} to train")
    specs = {r.id: varied(facts, r.network, r.name) for r in todo}  # a bad size stops us before any training
    bar = tqdm(total=sum(r.settings["iterations"] for r in todo), unit="step", dynamic_ncols=True)
    try:
        for run in todo:
            bar.set_description(run.name)
            spec = specs[run.id]
            torch.manual_seed(run.settings["seed"])
            with practical.using(spec):
                model = cnn.build_model()
            parameters = sum(p.numel() for p in model.parameters())
            if run.network and parameters not in spec.param_counts:
                tqdm.write(f"warning: run {run.name}: build_model() built {parameters:,} parameters, not the "
                           f"{spec.param_counts[0]:,} of this network; build it from assignment.practical.load() "
                           "for the network settings to apply")
            flops = flops_per_image(model, spec.input)
            torch.manual_seed(run.settings["seed"])
            history, seconds = train_run(model, splits, run.settings, log_every, bar)
            row = {"run": run.id, "name": run.name, **run.settings, "parameters": parameters,
                   "flops_per_image": flops, "train_seconds": f"{seconds:.2f}",
                   "valid_accuracy": f"{accuracy(model, splits.valid):.4f}",
                   "test_accuracy": f"{accuracy(model, splits.test):.4f}"}
            done[run.id] = {k: str(v) for k, v in row.items()}  # as a rerun reads it back from the csv
            histories[run.id] = history
            ours = [done[r.id] for r in runs if r.id in done]
            write_outputs(out, ours + [row for key, row in done.items() if row not in ours], histories)
            tqdm.write(f"{run.name}: {parameters:,} parameters, {flops:,} FLOPs per image, {seconds:.1f} s, "
                       f"validation {float(done[run.id]['valid_accuracy']):.2%}")
    finally:
        bar.close()
    return [done[r.id] for r in runs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m assignment experiments", description=(
        "Train your network under each configuration of a grid; write a table, curves and plots."))
    parser.add_argument("grid", help="the grid file (YAML), e.g. assignment/experiments.yml")
    parser.add_argument("--out", default="experiments", metavar="DIR",
                        help="folder for the table, the curves and the plots (default: %(default)s/)")
    parser.add_argument("--solution", default=None, metavar="PATH",
                        help="your cnn.py, a folder holding one, or a repository with assignment/cnn.py "
                             "(default: $CNN_SOLUTION if set, else assignment/cnn.py)")
    parser.add_argument("--data-root", "--mnist-root", dest="data_root", default=None, metavar="DIR",
                        help="an offline copy of the practical's dataset (default: its variable if set, "
                             "$MNIST_ROOT for mnist; else download into ~/.cache/cnn-practical/NAME)")
    args = parser.parse_args(argv)
    try:
        facts = json.loads(practical.FACTS.read_text())
        runs, log_every = read_grid(Path(args.grid), facts["spec"])
        solution = find_solution(args.solution)
        splits = load_data(args.data_root, dataset=facts["spec"]["dataset"]["name"])
    except (OSError, ValueError, GridError, DataUnavailable) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"solution: {solution}")
    try:
        rows = run_grid(runs, log_every, facts, load_solution(solution), splits, Path(args.out))
    except NotImplementedError as err:
        print(f"{solution.name} is unfinished: NotImplementedError: {err}", file=sys.stderr)
        return 1
    print(markdown(rows), end="")
    print(f"wrote {TABLE}, experiments.md, {CURVES}, accuracy_vs_parameters.png and curves.png to {args.out}/")
    return 0
