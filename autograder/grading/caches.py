"""The grader's disk caches: each dataset as uint8 tensors, and the output_shape cases with torch's answers.

torch is imported on first use, so that the command line can read DEFAULT_CACHE without it.
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

DEFAULT_CACHE = Path.home() / ".cache" / "cnn-practical" / "grader"


def cached(file: Path, build):
    """The tensors and plain containers saved in `file`, else `build()`, saved there atomically first.
    A file that cannot be read is rebuilt."""
    import torch

    if file.is_file():
        try:
            return torch.load(file, weights_only=True)
        except Exception:
            pass
    value = build()
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    torch.save(value, tmp)
    os.replace(tmp, file)
    return value


def grader_data(cache: Path = DEFAULT_CACHE, dataset: str = "mnist") -> dict:
    """The dataset as uint8 tensors: the train/validation split of assignment.data, and the test set.
    Cached on disk, one file per dataset."""
    from assignment import data

    def build():
        (train_x, train_y), (test_x, test_y) = data.load_raw(dataset=dataset)
        train_idx, valid_idx = data.split_indices(len(train_y), dataset)
        return {"train_x": train_x[train_idx], "train_y": train_y[train_idx], "valid_x": train_x[valid_idx],
                "valid_y": train_y[valid_idx], "test_x": test_x, "test_y": test_y}
    return cached(cache / f"{dataset}-u8.pt", build)


def shape_cases(n: int, seed: int, own: list[dict], cache: Path = DEFAULT_CACHE) -> list[dict]:
    """shapes.make_cases, cached on disk: torch's answers on meta tensors cost about a second, most of it
    importing sympy, and they depend only on (n, seed), the practical's `own` layers and the torch version."""
    import torch

    from . import shapes

    layers = hashlib.sha256(json.dumps(own, sort_keys=True).encode()).hexdigest()[:12]
    return cached(cache / f"shape-cases-{n}-{seed}-{layers}-torch-{torch.__version__}.pt",
                  lambda: shapes.make_cases(n, seed, own))


def grader_key(cache: Path = DEFAULT_CACHE) -> bytes:
    """This grading machine's secret key, made on first use and kept in the cache (which the child never
    sees). Seeds per-submission secrets, so regrading the same file here gives the same result."""
    file = cache / "grader.key"
    try:
        return bytes.fromhex(file.read_text().strip())
    except (OSError, ValueError):
        pass
    cache.mkdir(parents=True, exist_ok=True)
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    tmp.write_text(secrets.token_hex(32))
    tmp.chmod(0o600)
    try:
        os.link(tmp, file)  # first writer wins: every grade on this machine uses one key
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return bytes.fromhex(file.read_text().strip())
