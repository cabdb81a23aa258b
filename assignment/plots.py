"""Figures for the practical: digits, first-layer filters, top patches and training curves.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot, so nothing opens a window
and no backend has to be chosen: a notebook shows the returned figure as its cell's output, and
``save_figure`` writes it to a PNG. Inputs may be torch tensors or numpy arrays.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure


def to_numpy(x) -> np.ndarray:
    """A numpy copy of a tensor (on any device, with or without grad) or array-like."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _squeeze_channel(images: np.ndarray) -> np.ndarray:
    """(N, 1, H, W) -> (N, H, W); (N, H, W) unchanged."""
    if images.ndim == 4 and images.shape[1] == 1:
        return images[:, 0]
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (N, 1, H, W) or (N, H, W), got {images.shape}")
    return images


def _blank(ax) -> None:
    ax.set_xticks(())
    ax.set_yticks(())


def plot_digits(images, labels=None, n: int = 16) -> Figure:
    """A grid (4 columns) of the first `n` images (N, 1, H, W) or (N, H, W), each titled with its label."""
    images = _squeeze_channel(to_numpy(images))[:n]  # (n, H, W)
    labels = None if labels is None else to_numpy(labels)[:n]
    cols = 4
    rows = math.ceil(len(images) / cols)
    fig = Figure(figsize=(1.6 * cols, 1.8 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        _blank(ax)
        if i >= len(images):
            ax.set_axis_off()
            continue
        ax.imshow(images[i], cmap="Greys_r")
        if labels is not None:
            ax.set_title(str(int(labels[i])), fontsize=10)
    return fig


def _tile(tiles: np.ndarray, cols: int, gap: int = 1) -> np.ndarray:
    """(n, h, w) tiles laid out in rows of `cols`, separated by `gap` pixels of NaN (drawn in the gap colour)."""
    n, h, w = tiles.shape
    rows = math.ceil(n / cols)
    mosaic = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        mosaic[r * (h + gap):r * (h + gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return mosaic


def _stretch(tiles: np.ndarray) -> np.ndarray:
    """Each tile scaled on its own to [0, 1]: its minimum black, its maximum white."""
    tiles = tiles.astype(np.float64)
    lo = tiles.min(axis=(1, 2), keepdims=True)
    span = tiles.max(axis=(1, 2), keepdims=True) - lo
    return (tiles - lo) / np.where(span > 0, span, 1)


def _grey(ax, mosaic: np.ndarray) -> None:
    cmap = matplotlib.colormaps["Greys_r"].with_extremes(bad="#9bb7d4")  # gaps in light blue: neither black nor white
    ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    _blank(ax)
    for side in ax.spines.values():
        side.set_visible(False)


def plot_filters(weights) -> Figure:
    """The first-layer filters, weights (F, 1, kh, kw) such as conv1.weight, in a square-ish grid
    numbered row by row from 0.

    Each filter gets its own grey scale (its minimum black, its maximum white), since the filters'
    ranges differ and a shared scale would wash most of them out. One image, so it draws quickly.
    """
    weights = _squeeze_channel(to_numpy(weights))  # (F, kh, kw)
    cols = math.ceil(math.sqrt(len(weights)))
    rows = math.ceil(len(weights) / cols)
    kh, kw = weights.shape[1:]
    gap = max(1, kh // 6)
    fig = Figure(figsize=(1.1 * cols + 0.4, 1.1 * rows + 0.6), layout="constrained")
    ax = fig.subplots()
    ax.set_title(f"{len(weights)} first-layer filters ({kh}x{kw}), numbered row by row")
    _grey(ax, _tile(_stretch(weights), cols, gap))
    for f in range(len(weights)):
        r, c = divmod(f, cols)
        ax.text(c * (kw + gap), r * (kh + gap), str(f), fontsize=7, va="top", ha="left",
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5, "alpha": 0.8})
    return fig


def plot_patches(patches, filters) -> Figure:
    """patches (F, k, h, w) from top_patches: one row per filter, its k patches left to right, strongest first.

    Each patch has its own grey scale, like the filters."""
    patches = to_numpy(patches)
    if patches.ndim != 4:
        raise ValueError(f"expected patches of shape (filters, k, h, w), got {patches.shape}")
    filters = [int(f) for f in filters]
    if len(filters) != patches.shape[0]:
        raise ValueError(f"{patches.shape[0]} rows of patches but {len(filters)} filter indices")
    rows, cols, h, w = patches.shape
    gap = max(1, h // 6)
    fig = Figure(figsize=(0.8 * cols + 1.2, 0.85 * rows + 0.6), layout="constrained")
    ax = fig.subplots()
    ax.set_title("Top patches per filter, strongest on the left")
    _grey(ax, _tile(_stretch(patches.reshape(rows * cols, h, w)), cols, gap))
    ax.set_yticks([r * (h + gap) + h / 2 for r in range(rows)], [f"filter {f}" for f in filters], fontsize=9)
    ax.tick_params(left=False)
    return fig


def plot_curves(history: list[dict]) -> Figure:
    """Two panels from a training history: the loss, and the train and validation accuracy, per iteration."""
    if not history:
        raise ValueError("the history is empty: nothing to plot (was log_every larger than iterations?)")
    it = [h["iteration"] for h in history]
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(it, [h["loss"] for h in history], marker=".")
    loss_ax.set(xlabel="iteration", ylabel="training loss", title="Loss")
    acc_ax.plot(it, [h["train_accuracy"] for h in history], marker=".", label="train")
    acc_ax.plot(it, [h["valid_accuracy"] for h in history], marker=".", label="validation")
    acc_ax.set(xlabel="iteration", ylabel="accuracy", title="Accuracy")
    acc_ax.legend()
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    return fig


def plot_runs(histories: dict[str, list[dict]]) -> Figure:
    """Two panels comparing runs: the training loss and the validation accuracy per iteration, one line
    per run (name -> its history)."""
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for name, history in histories.items():
        it = [h["iteration"] for h in history]
        loss_ax.plot(it, [h["loss"] for h in history], marker=".", label=name)
        acc_ax.plot(it, [h["valid_accuracy"] for h in history], marker=".", label=name)
    loss_ax.set(xlabel="iteration", ylabel="training loss", title="Loss")
    acc_ax.set(xlabel="iteration", ylabel="validation accuracy", title="Validation accuracy")
    acc_ax.legend(fontsize=8)
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    return fig


def plot_accuracy_vs_parameters(names: list[str], parameters: list[int], valid: list[float],
                                test: list[float]) -> Figure:
    """Each run's final validation and test accuracy against its parameter count (log scale), labelled."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.scatter(parameters, valid, marker="o", label="validation")
    ax.scatter(parameters, test, marker="x", label="test")
    for name, x, y in zip(names, parameters, valid):
        ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    ax.set(xlabel="parameters", ylabel="accuracy", title="Accuracy against parameters")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write `fig` as a PNG at `path`, creating the folders on the way; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return path
