"""Find and import your hand-in, whichever folder it sits in: a cnn.py, or a notebook graded as one.

Not a solution to the practical: this is the loader that the public checks, the driver, the notebook
and the grader share, so that all of them run the same code from what you hand in. A notebook is
turned into a cnn.py by assignment/notebook.py, which keeps the definitions of its code cells and
lists what it left out.
"""
from __future__ import annotations

import errno
import importlib.util
import linecache
import os
import stat
import sys
from pathlib import Path
from types import ModuleType

API = ("output_shape", "build_model", "train", "top_patches")
DEFAULT = Path(__file__).with_name("cnn.py")
EXPERIMENTS = "experiments.csv"  # the experiments table, which a student may hand in beside cnn.py
NOTEBOOK = ".ipynb"
MAX_HAND_IN_BYTES = 32 * 2**20  # far above any cnn.py; a notebook this large carries its outputs


class HandInError(ValueError):
    """Something was handed in but cannot be used as it is; the message says why and what to do."""


def find_solution(path: str | os.PathLike | None = None) -> Path:
    """The cnn.py that `path` names: the file itself, a folder holding one, or a repo with assignment/cnn.py.

    With no path: $CNN_SOLUTION if set, else this package's own cnn.py.
    """
    if path is None:
        path = os.environ.get("CNN_SOLUTION") or DEFAULT
    path = Path(path)
    for candidate in (path, path / "cnn.py", path / "assignment" / "cnn.py"):
        if candidate.is_file():
            return no_link_below(path, candidate).resolve()
    raise FileNotFoundError(f"no cnn.py at {path}: expected a cnn.py file, a folder holding one, "
                            "or a repository with assignment/cnn.py")


def no_link_below(path: Path, found: Path) -> Path:
    """`found`, if nothing between the path given and it is a link. A hand-in is graded on a machine
    with other files on it: a cnn.py (or its folder) that links elsewhere would have the grader read them,
    so a link is refused, never followed. The path given itself may be one: whoever names it chose it."""
    for part in [found, *found.parents][:len(found.relative_to(path).parts)]:
        if part.is_symlink():
            raise HandInError(f"{part.relative_to(path)} is a symbolic link: "
                              "hand in the file itself (a link is never followed, as it could lead anywhere on "
                              "the grading machine)")
    return found


def read_plain(file: Path, most: int) -> bytes:
    """At most `most` bytes of a handed-in file: a regular file, read without following a link."""
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise HandInError(f"{file.name} is a symbolic link: hand in the file itself") from None
        raise
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise HandInError(f"{file.name} is not a regular file: hand in the file itself")
        return f.read(most)


def read_hand_in(file: Path) -> bytes:
    """The bytes of a handed-in cnn.py or notebook (read_plain), refused above MAX_HAND_IN_BYTES."""
    data = read_plain(file, MAX_HAND_IN_BYTES + 1)
    if len(data) > MAX_HAND_IN_BYTES:
        raise HandInError(f"{file.name} is larger than {MAX_HAND_IN_BYTES >> 20} MB: a notebook this large "
                          "carries its outputs; clear them (Edit > Clear All Outputs) and save it again")
    return data


def notebooks_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob(f"*{NOTEBOOK}") if p.is_file() and not p.name.startswith("."))


def find_hand_in(path: str | os.PathLike | None = None) -> Path:
    """The file to run: a cnn.py found as find_solution finds it, else a notebook, that is the .ipynb file
    itself or, in the folder (or its assignment/ folder), cnn.ipynb or the only notebook there. With no
    path: $CNN_SOLUTION if set, else this package's own cnn.py."""
    path = Path(path if path is not None else os.environ.get("CNN_SOLUTION") or DEFAULT)
    try:
        return find_solution(path)
    except FileNotFoundError:
        pass
    for folder in (path, path / "assignment"):
        if not folder.is_dir():
            continue
        found = notebooks_in(folder)
        named = [p for p in found if p.name == f"cnn{NOTEBOOK}"]
        if named or len(found) == 1:
            return no_link_below(path, (named or found)[0]).resolve()
        if found:
            raise HandInError(f"{folder} holds {len(found)} notebooks ({', '.join(p.name for p in found)}) "
                              f"and no cnn.py: hand in one notebook, or name the one to grade cnn{NOTEBOOK}")
    raise FileNotFoundError(f"no cnn.py or notebook at {path}: expected a cnn.py or {NOTEBOOK} file, a folder "
                            "holding one, or a repository with assignment/cnn.py")


def hand_in_source(file: Path) -> tuple[bytes, list[str]]:
    """What runs as cnn.py, and notes for the student: a cnn.py's own bytes (no notes), or a notebook's
    definitions with a note on each thing left out. A notebook is only parsed here, never run."""
    data = read_hand_in(file)
    if file.suffix != NOTEBOOK:
        return data, []
    from assignment.notebook import NotebookError, extract_bytes

    try:
        extraction = extract_bytes(data, file.name)
    except NotebookError as err:
        raise HandInError(str(err)) from None
    return extraction.source.encode(), extraction.notes()


def load_solution(path: str | os.PathLike | None = None) -> ModuleType:
    """Import the hand-in as the module ``assignment.cnn``, so that its imports of the helpers
    (``from assignment.data import ...`` or ``from .data import ...``) work wherever the file lies.
    A notebook runs as the definitions that hand_in_source takes from it."""
    file = find_hand_in(path)
    import assignment  # noqa: F401  (the parent package must exist for relative imports)

    if file.suffix != NOTEBOOK:
        spec = importlib.util.spec_from_file_location("assignment.cnn", file)
        module = importlib.util.module_from_spec(spec)
        sys.modules["assignment.cnn"] = module
        spec.loader.exec_module(module)
        return module
    source = hand_in_source(file)[0].decode()
    name = f"{file} (its definitions)"  # tracebacks quote the kept lines, which Jupyter does not number
    linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    module = ModuleType("assignment.cnn")
    module.__file__, module.__package__ = name, "assignment"
    sys.modules["assignment.cnn"] = module
    exec(compile(source, name, "exec"), module.__dict__)
    return module
