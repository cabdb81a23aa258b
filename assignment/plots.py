"""Figures for the practical: digits, first-layer filters, top patches and training curves.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot, so nothing opens a window
and no backend has to be chosen: a notebook shows the returned figure as its cell's output, and
``save_figure`` writes it to a PNG. Inputs may be torch tensors or numpy arrays.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

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
    """A grid (4 columns) of the first `n` images (N, 1, 28, 28) or (N, 28, 28), each titled with its label."""
    images = _squeeze_channel(to_numpy(images))[:n]  # (n, 28, 28)
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


def plot_filters(weights) -> Figure:
    """The first-layer filters, weights (F, 1, kh, kw) such as (25, 1, 12, 12), in a square-ish grid.

    Each filter gets its own grey scale (its minimum black, its maximum white), since the filters'
    ranges differ and a shared scale would wash most of them out.
    """
    weights = _squeeze_channel(to_numpy(weights))  # (F, kh, kw)
    cols = math.ceil(math.sqrt(len(weights)))
    rows = math.ceil(len(weights) / cols)
    fig = Figure(figsize=(1.3 * cols, 1.3 * rows + 0.4), layout="constrained")
    fig.suptitle(f"{len(weights)} first-layer filters ({weights.shape[1]}x{weights.shape[2]})")
    axes = fig.subplots(rows, cols, squeeze=False)
    for f, ax in enumerate(axes.flat):
        _blank(ax)
        if f >= len(weights):
            ax.set_axis_off()
            continue
        ax.imshow(weights[f], cmap="Greys_r", vmin=weights[f].min(), vmax=weights[f].max())
        ax.set_title(str(f), fontsize=8)
    return fig


def plot_patches(patches, filters) -> Figure:
    """patches (F, k, h, w) from top_patches: one row per filter, its k patches left to right, strongest first."""
    patches = to_numpy(patches)
    if patches.ndim != 4:
        raise ValueError(f"expected patches of shape (filters, k, h, w), got {patches.shape}")
    filters = [int(f) for f in filters]
    if len(filters) != patches.shape[0]:
        raise ValueError(f"{patches.shape[0]} rows of patches but {len(filters)} filter indices")
    rows, cols = patches.shape[:2]
    fig = Figure(figsize=(0.9 * cols + 0.9, 0.95 * rows + 0.4), layout="constrained")
    fig.suptitle("Top patches per filter, strongest on the left")
    axes = fig.subplots(rows, cols, squeeze=False)
    for r, f in enumerate(filters):
        for c in range(cols):
            ax = axes[r, c]
            _blank(ax)
            ax.imshow(patches[r, c], cmap="Greys_r")
        axes[r, 0].set_ylabel(f"filter {f}", fontsize=9)
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


def save_figure(fig: Figure, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write `fig` as a PNG at `path`, creating the folders on the way; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png")
    return path
