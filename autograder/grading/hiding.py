"""What the child must not see: everything outside Python, the system folders and its own job folder,
and by name the reference, the hidden checks, the config, every dataset (the download folders, the offline
copies their variables name, Debian's dataset packages and apt's cache of them) and the output."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import sys
from pathlib import Path

from assignment import datasets

from .caches import DEFAULT_CACHE
from ..practical.paths import PACKAGE, REPO



def installed_copies() -> list[Path]:
    """Where else this project is installed: the student's interpreter could import the reference or
    the checks from there (a copy in site-packages, or an editable install of another checkout)."""
    found = []
    for name in ("reference", "autograder"):
        spec = importlib.util.find_spec(name)
        if spec and spec.origin:
            found.append(Path(spec.origin).parent)
    try:
        dist = importlib.metadata.distribution("cnn-practical")
    except importlib.metadata.PackageNotFoundError:
        return found
    url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
    if url.startswith("file://"):  # an editable install points at its checkout
        root = Path(url.removeprefix("file://"))
        found += [root / "reference", root / "autograder", root / "tests", root / ".git", root / "grading.yml"]
    for file in dist.files or []:
        if file.parts and file.parts[0] in ("reference", "autograder"):
            found.append(Path(dist.locate_file(file)).parent)
    return [p for p in found if p.is_absolute()]


SYSTEM_DIRS = {"bin", "sbin", "lib", "lib32", "lib64", "libx32", "usr", "etc", "proc", "dev", "sys", "run", "var"}
# what the system folders hold that the child must not see: the package managers' caches (Debian's cached
# dataset-fashion-mnist .deb holds the test labels) and where Debian's dataset packages install their data
SYSTEM_SECRETS = [Path("/var/cache/apt"), Path("/usr/share/datasets")]


def python_dirs() -> list[Path]:
    """What the child's interpreter needs: the venv, the base installation, the real executable's home."""
    exe = Path(sys.executable).resolve()
    return sorted({Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)} | {exe.parents[1]})


def everything_else(needed: list[Path], top: Path = Path("/")) -> list[Path]:
    """Every folder and file outside the system folders and `needed`: other checkouts of this project,
    other students' work, caches. Ancestors of what is needed are opened one level at a time."""
    out = []
    try:
        children = sorted(top.iterdir())
    except OSError:
        return out
    for child in children:
        if child.is_symlink() or (top == Path("/") and child.name in SYSTEM_DIRS):
            continue  # a mount would follow the link; system folders stay visible
        if any(n == child or child in n.parents for n in needed):
            if not any(n == child for n in needed):
                out += everything_else(needed, child)
        else:
            out.append(child)
    return out


def hidden_paths(extra: list[Path], job_base: Path) -> list[Path]:
    """What the child must not see: everything but Python and its own job folder, and by name the
    reference, the checks, the config, the data and the output (in case they sit under a kept folder)."""
    keep = [*python_dirs(), job_base.resolve()]
    candidates = [REPO / "reference", REPO / "autograder", REPO / "tests", REPO / ".git", REPO / "grading.yml",
                  PACKAGE, datasets.CACHE_ROOT, DEFAULT_CACHE, *SYSTEM_SECRETS, *extra]
    candidates += [Path(os.environ[d.env]) for d in datasets.DATASETS.values() if os.environ.get(d.env)]
    candidates += installed_copies() + everything_else(keep)
    out = []
    for path in sorted({p.resolve() for p in candidates if p.exists()}, key=lambda p: len(p.parts)):
        if any(k == path or path in k.parents for k in keep):
            continue  # hiding it would hide the interpreter or the job folder
        if any(o == path or o in path.parents for o in out):
            continue  # already under a hidden folder
        out.append(path)
    return out

