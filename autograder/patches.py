"""Judge top_patches against the grader's own search, and say what a wrong window was."""
from __future__ import annotations

import torch
import torch.nn.functional as F

SIZE, STRIDE = 12, 2
REL_TOL = 1e-4  # activations this close count as a tie


def windows(images: torch.Tensor) -> torch.Tensor:
    """Every 12x12 window at every offset: (N, 17, 17, 144)."""
    n = images.shape[0]
    cols = F.unfold(images, SIZE)  # (N, 144, 17*17)
    side = images.shape[-1] - SIZE + 1
    return cols.transpose(1, 2).reshape(n, side, side, SIZE * SIZE)


def locate(patch: torch.Tensor, wins: torch.Tensor, sums: torch.Tensor) -> list[tuple[int, int, int]]:
    """(image, row, column) of every window equal to `patch` (up to float noise).

    `sums` (N, 17, 17) are the windows' pixel sums: only windows with the patch's sum are compared
    in full, which makes this fast.
    """
    flat = patch.reshape(-1)
    candidates = ((sums - flat.sum()).abs() <= 1e-3 + 1e-5 * flat.abs().sum()).nonzero()  # (M, 3)
    if len(candidates) == 0:
        return []
    near = (wins[tuple(candidates.T)] - flat).abs().amax(-1) <= 1e-5  # (M,)
    return [tuple(c) for c in candidates[near].tolist()]


def judge(patches, acts: torch.Tensor, images: torch.Tensor, filters: list, k: int,
          limit: int = 3) -> list[str]:
    """Problems with the student's patches; [] when they are right.

    acts: the grader's post-ReLU conv1 activations (N, 25, 9, 9) from the student's own trained weights.
    A patch is right at rank r if it is a stride-2 window whose activation ties the r-th best.
    """
    want = (len(filters), k, SIZE, SIZE)
    if not isinstance(patches, torch.Tensor):
        return [f"top_patches returned {patches}, expected a tensor of shape {want}"]
    if tuple(patches.shape) != want:
        return [f"top_patches returned shape {tuple(patches.shape)}, expected {want} "
                f"(len(filters), k, 12, 12)"]
    wins = windows(images)
    sums = wins.sum(-1)
    problems = []
    for row, f in enumerate(filters):
        flat = acts[:, f].flatten()
        best = flat.topk(k).values
        for rank in range(k):
            target = best[rank].item()
            found = locate(patches[row, rank], wins, sums)
            ok = any(y % STRIDE == 0 and x % STRIDE == 0 and
                     abs(acts[n, f, y // STRIDE, x // STRIDE].item() - target) <= REL_TOL * max(1.0, abs(target))
                     for n, y, x in found)
            if not ok:
                problems.append(explain(f, rank, k, found, acts, target, patches[row, rank], wins, sums))
            if len(problems) >= limit:
                return problems + ["(further patches not listed)"]
    return problems


def explain(f: int, rank: int, k: int, found: list, acts: torch.Tensor, target: float, patch: torch.Tensor,
            wins: torch.Tensor, sums: torch.Tensor) -> str:
    head = f"filter {f}, rank {rank + 1}:"
    if not found:
        if locate(patch.T.contiguous(), wins, sums):
            return f"{head} your patch is transposed (rows and columns swapped)"
        return (f"{head} your patch is not a 12x12 window of the images passed in (return crops of `images` "
                "as given, without rescaling)")
    # where the right answer lies, to compare the student's window with it
    side = acts.shape[-1]
    idx = (acts[:, f].flatten() - target).abs().argmin().item()
    n, rest = divmod(idx, side * side)
    i, j = divmod(rest, side)
    _, y, x = next(((m, y, x) for m, y, x in found if m == n), found[0])
    right = f"activation ({i}, {j}) of image {n} looks at rows {STRIDE * i}..{STRIDE * i + 11}, " \
            f"columns {STRIDE * j}..{STRIDE * j + 11}"
    if (y, x) == (i, j):
        return f"{head} you took rows {y}..{y + 11}, columns {x}..{x + 11}: you forgot the stride of 2 ({right})"
    if (y, x) == (STRIDE * i, STRIDE * i) and i != j:
        return f"{head} you took rows {y}..{y + 11}, columns {x}..{x + 11}: you used the row index for the " \
               f"columns ({right})"
    if (y, x) == (STRIDE * j, STRIDE * i) and i != j:
        return f"{head} you took rows {y}..{y + 11}, columns {x}..{x + 11}: rows and columns are swapped ({right})"
    best = acts[:, f].flatten().topk(k).values
    for m, ya, xa in found:  # a right window in the wrong place of the ranking
        if ya % STRIDE or xa % STRIDE:
            continue
        value = acts[m, f, ya // STRIDE, xa // STRIDE].item()
        if not (best - value).abs().le(REL_TOL * max(1.0, abs(value))).any():
            continue
        return (f"{head} your patch (image {m}, rows {ya}..{ya + 11}, columns {xa}..{xa + 11}) has activation "
                f"{value:.4g}, but the {ordinal(rank + 1)} strongest is {target:.4g}: list the k strongest "
                "activations over all images and positions, strongest first")
    return (f"{head} your patch (rows {y}..{y + 11}, columns {x}..{x + 11}) is not where activation {rank + 1} "
            f"of this filter looks: {right}")


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
