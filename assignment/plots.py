"""Figures for the practical: sample images, first-layer filters, top patches and training curves.

Every function returns a ``matplotlib.figure.Figure`` built without pyplot, so nothing opens a window
and no backend has to be chosen: a notebook shows the returned figure as its cell's output, and
``save_figure`` writes it to a PNG. Inputs may be torch tensors or numpy arrays. Images with one
channel are drawn in grey, with three (red, green, blue) in colour.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure


def to_numpy(x) -> np.ndarray:
    """A numpy copy of a tensor (on any device, with or without grad) or array-like."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


GAP = "#9bb7d4"  # between tiles, in light blue: neither black nor white


def _squeeze_channel(images: np.ndarray) -> np.ndarray:
    """(N, 1, H, W) -> (N, H, W) grey; (N, 3, H, W) -> (N, H, W, 3) colour; (N, H, W) unchanged."""
    if images.ndim == 4 and images.shape[1] == 1:
        return images[:, 0]
    if images.ndim == 4 and images.shape[1] == 3:
        return images.transpose(0, 2, 3, 1)
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (N, 1, H, W), (N, 3, H, W) or (N, H, W), got {images.shape}")
    return images


def _blank(ax) -> None:
    ax.set_xticks(())
    ax.set_yticks(())


def plot_digits(images, labels=None, n: int = 16, classes=None) -> Figure:
    """A grid (4 columns) of the first `n` images (N, C, H, W) or (N, H, W), each titled with its label, or
    with the label's name in `classes` (e.g. datasets.get("cifar10").classes)."""
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
        if images.ndim == 4:  # colour: each image on its own scale, as the grey ones are
            ax.imshow(_stretch(images[i:i + 1])[0])
        else:
            ax.imshow(images[i], cmap="Greys_r")
        if labels is not None:
            label = int(labels[i])
            ax.set_title(classes[label] if classes else str(label), fontsize=10)
    return fig


def _tile(tiles: np.ndarray, cols: int, gap: int = 1, row_gap: int | None = None) -> np.ndarray:
    """(n, h, w) or colour (n, h, w, 3) tiles laid out in rows of `cols`, separated by `gap` pixels of NaN
    (drawn in the gap colour), and rows by `row_gap` (default: `gap`)."""
    n, h, w = tiles.shape[:3]
    rows, row_gap = math.ceil(n / cols), gap if row_gap is None else row_gap
    mosaic = np.full((rows * (h + row_gap) - row_gap, cols * (w + gap) - gap, *tiles.shape[3:]), np.nan)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        mosaic[r * (h + row_gap):r * (h + row_gap) + h, c * (w + gap):c * (w + gap) + w] = tile
    return mosaic


def _stretch(tiles: np.ndarray) -> np.ndarray:
    """Each tile scaled on its own to [0, 1]: its minimum black, its maximum white (over all its channels)."""
    tiles = tiles.astype(np.float64)
    axes = tuple(range(1, tiles.ndim))
    lo = tiles.min(axis=axes, keepdims=True)
    span = tiles.max(axis=axes, keepdims=True) - lo
    return (tiles - lo) / np.where(span > 0, span, 1)


def _grey(ax, mosaic: np.ndarray) -> None:
    """Draw a mosaic of grey tiles, or of colour ones (rows, columns, 3); NaN in the gap colour."""
    if mosaic.ndim == 3:
        gaps = np.isnan(mosaic).any(axis=2)
        mosaic = np.where(gaps[..., None], to_rgb(GAP), mosaic)
        ax.imshow(mosaic, interpolation="nearest")
    else:
        cmap = matplotlib.colormaps["Greys_r"].with_extremes(bad=GAP)
        ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    _blank(ax)
    for side in ax.spines.values():
        side.set_visible(False)


def plot_filters(weights) -> Figure:
    """The first-layer filters, weights (F, C, kh, kw) such as conv1.weight, in a square-ish grid
    numbered row by row from 0; in grey for one input channel, in colour for three.

    Each filter gets its own scale (its minimum black, its maximum white), since the filters'
    ranges differ and a shared scale would wash most of them out. One image, so it draws quickly.
    """
    weights = _squeeze_channel(to_numpy(weights))  # (F, kh, kw) or (F, kh, kw, 3)
    cols = math.ceil(math.sqrt(len(weights)))
    rows = math.ceil(len(weights) / cols)
    kh, kw = weights.shape[1:3]
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


def plot_patches(patches, filters, labels=None) -> Figure:
    """patches (F, k, h, w), or colour ones (F, k, 3, h, w), from top_patches: one row per filter, its k
    patches left to right, strongest first. `labels` (F rows of k strings), if given, are written under
    the patches: the class of the image each one came from.

    Each patch has its own scale, like the filters."""
    patches = to_numpy(patches)
    if patches.ndim == 5 and patches.shape[2] == 3:
        patches = patches.transpose(0, 1, 3, 4, 2)  # (F, k, h, w, 3)
    elif patches.ndim != 4:
        raise ValueError(f"expected patches of shape (filters, k, h, w) or (filters, k, 3, h, w), got {patches.shape}")
    filters = [int(f) for f in filters]
    if len(filters) != patches.shape[0]:
        raise ValueError(f"{patches.shape[0]} rows of patches but {len(filters)} filter indices")
    rows, cols, h, w = patches.shape[:4]
    gap = max(1, h // 6)
    row_gap = gap + (h // 2 if labels else 0)  # room for the names under each row
    fig = Figure(figsize=(0.8 * cols + 1.2, 0.85 * rows * (h + row_gap) / (h + gap) + 0.6), layout="constrained")
    ax = fig.subplots()
    ax.set_title("Top patches per filter, strongest on the left")
    _grey(ax, _tile(_stretch(patches.reshape(rows * cols, *patches.shape[2:])), cols, gap, row_gap))
    ax.set_yticks([r * (h + row_gap) + h / 2 for r in range(rows)], [f"filter {f}" for f in filters], fontsize=9)
    ax.tick_params(left=False)
    for r, row in enumerate(labels or []):
        for c, label in enumerate(row):
            ax.text(c * (w + gap) + (w - 1) / 2, r * (h + row_gap) + h - 0.5 + row_gap / 2, str(label), fontsize=7,
                    ha="center", va="center")
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
