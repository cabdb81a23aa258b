"""Judge top_patches against the grader's own search, and say what a wrong window was.

The window is conv1's: its kernel, stride and padding (spec.Practical.patch). With padding, a patch is
a window of the zero-padded input, as conv1 sees it, and positions count in the padded image. A patch of
a colour image holds every channel: (channels, size, size); of a grey one, (size, size).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..practical.spec import Practical, patch_shape

REL_TOL = 1e-4  # activations this close count as a tie


@dataclass(frozen=True)
class Window:
    """The input window that one conv1 activation sees."""
    size: int
    stride: int
    before: int = 0  # zeros padded before the image, on each axis
    after: int = 0  # and after it
    channels: int = 1

    @classmethod
    def of(cls, practical: Practical) -> "Window":
        patch = practical.patch
        total = practical.conv1.pad()[0]
        return cls(patch["size"], patch["stride"], patch["padding"], total - patch["padding"], practical.input[0])

    @property
    def shape(self) -> tuple[int, ...]:
        return patch_shape(self.size, self.channels)

    @property
    def words(self) -> str:
        return "x".join(map(str, self.shape))

    def last(self, start: int) -> int:
        return start + self.size - 1

    def padded_words(self) -> str:
        if not (self.before or self.after):
            return ""
        pad = f"{self.before} on each side" if self.before == self.after else \
            f"{self.before} before and {self.after} after"
        return f", zero-padded by {pad} as conv1 pads them"


class Windows:
    """Every window of the (padded) images, by position, without holding them all: each window's pixel
    sum (one box filter) picks out the candidates for a patch, and only those are compared in full."""

    CHUNK = 4096  # candidates compared at once

    def __init__(self, images: torch.Tensor, win: Window):
        self.size = win.size
        self.padded = F.pad(images, (win.before, win.after, win.before, win.after))  # (N, C, H, W)
        box = torch.ones(1, images.shape[1], win.size, win.size, dtype=images.dtype)
        self.sums = F.conv2d(self.padded, box)[:, 0]  # (N, rows, columns)
        self._hwc = self.padded.permute(0, 2, 3, 1)  # (N, H, W, C): a window is then one gather

    def at(self, n: int, y: int, x: int) -> torch.Tensor:
        """The window with top-left corner (y, x) of image n: (size, size) for one channel, else (C, size, size)."""
        return self.padded[n, :, y:y + self.size, x:x + self.size].squeeze(0)

    def _gather(self, where: torch.Tensor) -> torch.Tensor:
        """(M, size*size*C) windows at (image, row, column) rows of `where` (M, 3), in at()'s order."""
        offsets = torch.arange(self.size)
        rows = (where[:, 1, None] + offsets)[:, :, None]  # (M, size, 1)
        cols = (where[:, 2, None] + offsets)[:, None, :]  # (M, 1, size)
        got = self._hwc[where[:, 0, None, None], rows, cols]  # (M, size, size, C)
        return got.permute(0, 3, 1, 2).flatten(1)

    def locate(self, patch: torch.Tensor) -> list[tuple[int, int, int]]:
        """(image, row, column) of every window equal to `patch` (up to float noise)."""
        flat = patch.reshape(-1).to(self.padded.dtype)
        candidates = ((self.sums - flat.sum()).abs() <= 1e-3 + 1e-5 * flat.abs().sum()).nonzero()  # (M, 3)
        found = []
        for part in candidates.split(self.CHUNK):
            near = (self._gather(part) - flat).abs().amax(-1) <= 1e-5  # (m,)
            found += [tuple(c) for c in part[near].tolist()]
        return found


def judge(patches, acts: torch.Tensor, images: torch.Tensor, filters: list, k: int, win: Window,
          limit: int = 3) -> list[str]:
    """Problems with the student's patches; [] when they are right.

    acts: the grader's post-ReLU conv1 activations (N, filters, rows, columns) from the student's own
    trained weights. A patch is right at rank r if it is a window at a multiple of the stride whose
    activation ties the r-th best.
    """
    want = (len(filters), k, *win.shape)
    if not isinstance(patches, torch.Tensor):
        return [f"top_patches returned {patches}, expected a tensor of shape {want}"]
    if tuple(patches.shape) != want:
        return [f"top_patches returned shape {tuple(patches.shape)}, expected {want} "
                f"(len(filters), k, {', '.join(map(str, win.shape))})"]
    wins = Windows(images, win)
    step = win.stride
    problems = []
    for row, f in enumerate(filters):
        flat = acts[:, f].flatten()
        best = flat.topk(k).values
        for rank in range(k):
            target = best[rank].item()
            found = wins.locate(patches[row, rank])
            ok = any(y % step == 0 and x % step == 0 and
                     abs(acts[n, f, y // step, x // step].item() - target) <= REL_TOL * max(1.0, abs(target))
                     for n, y, x in found)
            if not ok:
                problems.append(explain(f, rank, k, found, acts, target, patches[row, rank], wins, win))
            if len(problems) >= limit:
                return problems + ["(further patches not listed)"]
    return problems


def explain(f: int, rank: int, k: int, found: list, acts: torch.Tensor, target: float, patch: torch.Tensor,
            wins: Windows, win: Window) -> str:
    head = f"filter {f}, rank {rank + 1}:"
    if not found:
        if wins.locate(patch.transpose(-1, -2).contiguous()):
            return f"{head} your patch is transposed (rows and columns swapped)"
        return (f"{head} your patch is not a {win.words} window of the images passed in"
                f"{win.padded_words()} (return crops of `images` as given, without rescaling)")
    # where the right answer lies, to compare the student's window with it
    step, last = win.stride, win.last
    side = acts.shape[-1]
    idx = (acts[:, f].flatten() - target).abs().argmin().item()
    n, rest = divmod(idx, acts.shape[-2] * side)
    i, j = divmod(rest, side)
    _, y, x = next(((m, y, x) for m, y, x in found if m == n), found[0])
    where = " of the padded image" if win.before or win.after else ""
    right = f"activation ({i}, {j}) of image {n} looks at rows {step * i}..{last(step * i)}, " \
            f"columns {step * j}..{last(step * j)}{where}"
    took = f"{head} you took rows {y}..{last(y)}, columns {x}..{last(x)}"
    if (y, x) == (i, j) and step > 1:
        return f"{took}: you forgot the stride of {step} ({right})"
    if (y, x) == (step * i, step * i) and i != j:
        return f"{took}: you used the row index for the columns ({right})"
    if (y, x) == (step * j, step * i) and i != j:
        return f"{took}: rows and columns are swapped ({right})"
    best = acts[:, f].flatten().topk(k).values
    for m, ya, xa in found:  # a right window in the wrong place of the ranking
        if ya % step or xa % step:
            continue
        value = acts[m, f, ya // step, xa // step].item()
        if not (best - value).abs().le(REL_TOL * max(1.0, abs(value))).any():
            continue
        return (f"{head} your patch (image {m}, rows {ya}..{last(ya)}, columns {xa}..{last(xa)}) has activation "
                f"{value:.4g}, but the {ordinal(rank + 1)} strongest is {target:.4g}: list the k strongest "
                "activations over all images and positions, strongest first")
    return (f"{head} your patch (rows {y}..{last(y)}, columns {x}..{last(x)}) is not where activation {rank + 1} "
            f"of this filter looks: {right}")


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def source_images(patches: torch.Tensor, images: torch.Tensor, win: Window) -> list[list[int | None]]:
    """For each patch (filters, k, *win.shape), the first image of `images` it is a window of (None if
    none): the report names its class."""
    wins = Windows(images, win)
    return [[next((n for n, _, _ in wins.locate(patch)), None) for patch in row] for row in patches]
