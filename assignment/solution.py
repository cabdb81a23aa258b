"""Find and import a solution file (a cnn.py), whichever folder it sits in."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

API = ("output_shape", "build_model", "train", "top_patches")
DEFAULT = Path(__file__).with_name("cnn.py")
EXPERIMENTS = "experiments.csv"  # the experiments table, which a student may hand in beside cnn.py


def find_solution(path: str | os.PathLike | None = None) -> Path:
    """The cnn.py that `path` names: the file itself, a folder holding one, or a repo with assignment/cnn.py.

    With no path: $CNN_SOLUTION if set, else this package's own cnn.py.
    """
    if path is None:
        path = os.environ.get("CNN_SOLUTION") or DEFAULT
    path = Path(path)
    for candidate in (path, path / "cnn.py", path / "assignment" / "cnn.py"):
        if candidate.is_file():
            return candidate.resolve()
    raise FileNotFoundError(f"no cnn.py at {path}: expected a cnn.py file, a folder holding one, "
                            "or a repository with assignment/cnn.py")


def load_solution(path: str | os.PathLike | None = None) -> ModuleType:
    """Import the solution as the module ``assignment.cnn``, so that its imports of the helpers
    (``from assignment.data import ...`` or ``from .data import ...``) work wherever the file lies."""
    file = find_solution(path)
    import assignment  # noqa: F401  (the parent package must exist for relative imports)

    spec = importlib.util.spec_from_file_location("assignment.cnn", file)
    module = importlib.util.module_from_spec(spec)
    sys.modules["assignment.cnn"] = module
    spec.loader.exec_module(module)
    return module
