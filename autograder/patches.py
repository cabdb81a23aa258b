"""Judge top_patches against the grader's own search, and say what a wrong window was.

The window is conv1's: its kernel, stride and padding (spec.Practical.patch). With padding, a patch is
a window of the zero-padded input, as conv1 sees it, and positions count in the padded image. A patch of
a colour image holds every channel: (channels, size, size); of a grey one, (size, size).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .spec import Practical, patch_shape

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


def windows(images: torch.Tensor, win: Window) -> torch.Tensor:
    """Every window at every offset of the (padded) images: (N, rows, columns, channels * size * size)."""
    padded = F.pad(images, (win.before, win.after, win.before, win.after))
    n, c, h, w = padded.shape
    cols = F.unfold(padded, win.size)  # (N, channels*size*size, rows*columns), channel by channel
    return cols.transpose(1, 2).reshape(n, h - win.size + 1, w - win.size + 1, c * win.size * win.size)


def locate(patch: torch.Tensor, wins: torch.Tensor, sums: torch.Tensor) -> list[tuple[int, int, int]]:
    """(image, row, column) of every window equal to `patch` (up to float noise).

    `sums` (N, rows, columns) are the windows' pixel sums: only windows with the patch's sum are compared
    in full, which makes this fast.
    """
    flat = patch.reshape(-1)
    candidates = ((sums - flat.sum()).abs() <= 1e-3 + 1e-5 * flat.abs().sum()).nonzero()  # (M, 3)
    if len(candidates) == 0:
        return []
    near = (wins[tuple(candidates.T)] - flat).abs().amax(-1) <= 1e-5  # (M,)
    return [tuple(c) for c in candidates[near].tolist()]


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
    wins = windows(images, win)
    sums = wins.sum(-1)
    step = win.stride
    problems = []
    for row, f in enumerate(filters):
        flat = acts[:, f].flatten()
        best = flat.topk(k).values
        for rank in range(k):
            target = best[rank].item()
            found = locate(patches[row, rank], wins, sums)
            ok = any(y % step == 0 and x % step == 0 and
                     abs(acts[n, f, y // step, x // step].item() - target) <= REL_TOL * max(1.0, abs(target))
                     for n, y, x in found)
            if not ok:
                problems.append(explain(f, rank, k, found, acts, target, patches[row, rank], wins, sums, win))
            if len(problems) >= limit:
                return problems + ["(further patches not listed)"]
    return problems


def explain(f: int, rank: int, k: int, found: list, acts: torch.Tensor, target: float, patch: torch.Tensor,
            wins: torch.Tensor, sums: torch.Tensor, win: Window) -> str:
    head = f"filter {f}, rank {rank + 1}:"
    if not found:
        if locate(patch.transpose(-1, -2).contiguous(), wins, sums):
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
    none): the report names its class. Window sums come from one convolution, so that only the windows
    with a patch's sum are compared in full and the windows themselves are never all held at once."""
    padded = F.pad(images, (win.before, win.after, win.before, win.after))
    ones = torch.ones(1, padded.shape[1], win.size, win.size)
    sums = F.conv2d(padded, ones).squeeze(1)  # (N, rows, columns)
    found = []
    for row in patches:
        found.append([])
        for patch in row:
            flat = patch.reshape(padded.shape[1], win.size, win.size)
            near = ((sums - flat.sum()).abs() <= 1e-3 + 1e-5 * flat.abs().sum()).nonzero().tolist()
            found[-1].append(next((n for n, y, x in near if (padded[n, :, y:y + win.size, x:x + win.size] - flat)
                                   .abs().amax() <= 1e-5), None))
    return found
