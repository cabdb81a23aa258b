"""Train and inspect your CNN: ``python -m assignment [--solution PATH] [--out DIR] [--iterations N] ...``.
``python -m assignment experiments GRID.yml`` trains a grid of configurations instead (experiments.py).

Runs your cnn.py (or your notebook's definitions, as the grader takes them) from start to finish:
builds the network, trains it with your train(), measures the test accuracy once at the end, and writes
the hand-in figures and a summary.json to out/, or to out-quick/ for a run shorter than the full one.
``python -m assignment --help`` lists the flags and their defaults.

Exit status: 0 when everything ran, 1 when your code is unfinished or returned something unusable,
2 when the dataset or the solution file cannot be found.
"""
from __future__ import annotations

import argparse
import json
import numbers
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.optim.optimizer import register_optimizer_step_post_hook
from tqdm import tqdm

from assignment import datasets, plots, practical
from assignment.data import DataUnavailable, load_data
from assignment.solution import HandInError, find_hand_in, hand_in_source, load_solution

HISTORY_KEYS = ("iteration", "loss", "train_accuracy", "valid_accuracy")
N_PATCH_IMAGES = 10_000
K_PATCHES = 12
FULL_ITERATIONS = 4000  # the grader's budget (grading.yml); a run of any other length is not the hand-in's
HAND_IN_OUT, QUICK_OUT = "out", "out-quick"


def parse_args(argv: list[str] | None, spec: practical.Practical) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m assignment", description=(
        "Train your cnn.py, measure its test accuracy once, and write the hand-in figures and summary.json."))
    parser.add_argument("--solution", default=None, metavar="PATH",
                        help="your cnn.py or notebook, a folder holding one, or a repository with "
                             "assignment/cnn.py (default: $CNN_SOLUTION if set, else assignment/cnn.py)")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help=f"folder for the figures and summary.json (default: {HAND_IN_OUT}/ for the full "
                             f"{FULL_ITERATIONS} iterations, the hand-in's; {QUICK_OUT}/ for any other number)")
    parser.add_argument("--iterations", type=int, default=FULL_ITERATIONS, metavar="N",
                        help="minibatch updates (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=50, metavar="B",
                        help="minibatch size (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=1e-4,
                        help="Adam's learning rate (default: %(default)s)")
    parser.add_argument("--log-every", type=int, default=100, metavar="L",
                        help="record the training history every L iterations (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, metavar="S",
                        help="random seed for torch, numpy and random (default: %(default)s)")
    parser.add_argument("--dataset", default=spec.dataset, choices=list(datasets.DATASETS),
                        help="the dataset to train on; its images must have the practical's input shape "
                             f"{'x'.join(map(str, spec.input))} (default: %(default)s, the practical's)")
    parser.add_argument("--data-root", "--mnist-root", dest="data_root", default=None, metavar="DIR",
                        help="an offline copy of the dataset (default: its variable if set, $MNIST_ROOT for "
                             "mnist, $FASHION_MNIST_ROOT for fashion-mnist, $CIFAR10_ROOT for cifar10; else "
                             "download into ~/.cache/cnn-practical/NAME)")
    parser.add_argument("--filters", type=int, nargs="+", default=spec.example_filters, metavar="F",
                        help="first-layer filters whose top patches are drawn (default: "
                             f"{' '.join(map(str, spec.example_filters))})")
    args = parser.parse_args(argv)
    for name in ("iterations", "batch_size", "log_every"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if args.out is None:  # a quick run never overwrites the figures handed in
        args.out = HAND_IN_OUT if args.iterations == FULL_ITERATIONS else QUICK_OUT
    return args


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def first_conv(model: nn.Module) -> nn.Conv2d | None:
    """The model's first nn.Conv2d in registration order (the order of __init__), or None."""
    return next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)


def train_with_progress(cnn, model: nn.Module, splits,
                        args: argparse.Namespace) -> tuple[list[dict], int, float]:
    """Run the student's train() under a progress bar; returns (history, optimizer steps seen, seconds).

    train() takes no callback, so the bar follows the optimizer: a global hook that every
    torch.optim optimizer calls after each step().
    """
    steps = 0
    bar = tqdm(total=args.iterations, desc="training", unit="it", dynamic_ncols=True)

    def on_step(optimizer, step_args, step_kwargs):
        nonlocal steps
        steps += 1
        bar.update(1)

    handle = register_optimizer_step_post_hook(on_step)
    start = time.perf_counter()
    try:
        history = cnn.train(model, splits.train, splits.valid, iterations=args.iterations,
                            batch_size=args.batch_size, lr=args.lr, log_every=args.log_every)
    finally:
        seconds = time.perf_counter() - start
        handle.remove()
        bar.close()
    return history, steps, seconds


def history_problem(history) -> str | None:
    """What is wrong with the history train() returned, or None if it can be printed and plotted."""
    if not isinstance(history, list):
        return f"train() returned a {type(history).__name__}, expected a list of dicts (section 4)"
    for i, entry in enumerate(history):
        missing = [key for key in HISTORY_KEYS if not isinstance(entry, dict) or key not in entry]
        if missing:
            return (f"history entry {i} lacks {', '.join(missing)}: each entry needs the keys "
                    f"{', '.join(HISTORY_KEYS)} (section 4)")
        for key in HISTORY_KEYS:
            if not isinstance(entry[key], numbers.Real):
                return (f"history entry {i} has {key} of type {type(entry[key]).__name__}, expected a Python "
                        "number: convert tensors with .item() (section 4)")
    return None


def format_entry(entry: dict) -> str:
    return (f"iter {entry['iteration']}  loss {entry['loss']:.3f}  "
            f"train {entry['train_accuracy']:.3f}  valid {entry['valid_accuracy']:.3f}")


@torch.no_grad()
def test_accuracy(model: nn.Module, test_set, batch_size: int = 1000) -> float:
    """Fraction of the test set classified correctly: measured here, once, never inside train()."""
    device = next(model.parameters()).device
    model.eval()
    correct = 0
    for i in range(0, len(test_set), batch_size):
        x = test_set.images[i:i + batch_size].to(device)  # (1000, C, H, W)
        y = test_set.labels[i:i + batch_size].to(device)  # (1000,)
        correct += (model(x).argmax(1) == y).sum().item()
    return correct / len(test_set)


def parameter_hint(n_params: int, spec: practical.Practical) -> str:
    """'' when n_params is one the handout gives, else what it expected."""
    if n_params in spec.param_counts:
        return ""
    counts = spec.param_counts
    ceil = (f", or {counts[1]:,} if pooling rounds up to {'x'.join(map(str, spec.pool_outs[1]))}"
            if len(counts) > 1 else "")
    return f"  (expected {counts[0]:,}{ceil}: see section 2 of assignment/README.md)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["experiments"]:
        from assignment import experiments

        return experiments.main(argv[1:])
    try:
        spec = practical.load()
    except practical.PracticalUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args = parse_args(argv, spec)
    seed_everything(args.seed)
    out = Path(args.out)

    data = datasets.get(args.dataset)
    if data.input != spec.input:
        print(f"error: {data.title}'s images are {'x'.join(map(str, data.input))}, but the practical's network "
              f"takes {'x'.join(map(str, spec.input))} ({spec.data.title}): choose a dataset of that shape",
              file=sys.stderr)
        return 2
    try:
        splits = load_data(args.data_root, dataset=data.name)
    except DataUnavailable as err:
        print(f"error: {data.title} is unavailable. {err}", file=sys.stderr)
        return 2
    plots.save_figure(plots.plot_digits(splits.train.images, splits.train.labels, classes=data.classes),
                      out / "digits.png")

    try:
        solution = find_hand_in(args.solution)
        notes = hand_in_source(solution)[1]  # a notebook: what was left out of it, as the grader says it
    except (FileNotFoundError, HandInError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"solution: {solution}")
    for note in notes:
        print(f"  {note}")

    try:
        cnn = load_solution(solution)
        model = cnn.build_model()
        n_params = count_parameters(model)
        print(f"parameters: {n_params:,}{parameter_hint(n_params, spec)}")
        conv1 = first_conv(model)
        if conv1 is None:
            print("error: the model has no nn.Conv2d: build conv1 with nn.Conv2d (section 3)", file=sys.stderr)
            return 1
        bad = [f for f in args.filters if not 0 <= f < conv1.out_channels]
        if bad:
            print(f"error: --filters {bad} out of range: the first convolution has filters "
                  f"0..{conv1.out_channels - 1}", file=sys.stderr)
            return 2

        history, steps, seconds = train_with_progress(cnn, model, splits, args)
        problem = history_problem(history)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 1
        if steps != args.iterations:
            print(f"warning: counted {steps} optimizer steps, expected exactly {args.iterations}: the grader "
                  "checks that train() makes `iterations` updates (section 4)", file=sys.stderr)
        for entry in history:
            tqdm.write(format_entry(entry))
        print(f"trained {args.iterations} iterations in {seconds:.1f} s")

        accuracy = test_accuracy(model, splits.test)
        print(f"test accuracy: {accuracy:.4f}")

        model.eval()
        with torch.no_grad():
            patches = cnn.top_patches(model, splits.test.images[:N_PATCH_IMAGES], args.filters, k=K_PATCHES)
    except NotImplementedError as err:
        print(f"{solution.name} is unfinished: NotImplementedError: {err}", file=sys.stderr)
        return 1

    colour = [conv1.in_channels] if conv1.in_channels > 1 else []  # a grey patch has no channel axis
    expected = (len(args.filters), K_PATCHES, *colour, *conv1.kernel_size)
    if tuple(patches.shape) != expected:
        print(f"error: top_patches returned shape {tuple(patches.shape)}, expected {expected} (section 5)",
              file=sys.stderr)
        return 1

    plots.save_figure(plots.plot_filters(conv1.weight), out / "filters.png")
    plots.save_figure(plots.plot_patches(patches, args.filters), out / "patches.png")
    if history:
        plots.save_figure(plots.plot_curves(history), out / "curves.png")
    summary = {
        "solution": str(solution),
        "iterations": args.iterations,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "parameters": n_params,
        "optimizer_steps": steps,
        "test_accuracy": accuracy,
        "train_seconds": round(seconds, 2),
        "filters": args.filters,
        "history": history,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    print(f"wrote digits.png, filters.png, patches.png, curves.png and summary.json to {out}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
