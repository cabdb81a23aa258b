"""`python -m autograder release OUT_DIR [--variant ID]`: write the student template repository.

The template holds the public `assignment` package (stub, helpers, handout, notebook, public checks), a
student README, requirements and a plain GitHub Actions workflow that gives feedback on every push. The files that quote the practical's numbers
(handout, stub, notebook, practical.json) and the student README, which names the dataset, are rendered
from the spec of the variant asked for (render.py); the others are copied from an explicit list, never
by walking the repository, so nothing from reference/, the hidden checks or grading.yml can slip in. A last scan refuses a stub that repeats lines
of the reference solution's function bodies. Imports no torch.
"""
from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import assignment

from . import render
from ..practical.config import Config
from ..practical.spec import Practical, SpecError, variant_spec
from ..practical.paths import REPO, TEMPLATES


REFERENCE = REPO / "reference" / "cnn.py"
# The student's package, file by file. A new file in assignment/ ships only once it is listed here:
# copied as it is, or rendered from the spec (render.RENDERED: the handout, the stub, the notebook, practical.json).
COPIED_FILES = (
    "__init__.py", "__main__.py", "data.py", "datasets.py", "solution.py", "notebook.py", "plots.py", "practical.py",
    "experiments.py", "experiments.yml",
    "tests/__init__.py", "tests/conftest.py", "tests/test_public.py",
)
ASSIGNMENT_FILES = COPIED_FILES + tuple(render.RENDERED)
# template file -> where it goes in the student repository
TEMPLATE_FILES = {
    "student_README.md": "README.md",
    "requirements.txt": "requirements.txt",
    "student_pyproject.toml": "pyproject.toml",
    "gitignore": ".gitignore",
    "feedback.yml": ".github/workflows/feedback.yml",
}
STUB = "assignment/cnn.py"
OVERHEAD_MINUTES = 5  # beyond the child's wall limit: the data, judging and reports
MIN_LINE = 25  # shorter lines of the reference (`return Net()`) are too common to count as a leak


class ReleaseError(ValueError):
    """The template cannot be written; the message says why and what to do."""


def workflow_text(config: Config, variant: str | None = None) -> str:
    """feedback.yml, with the grading step's time limit from grading.yml's. A variant's template grades as
    that variant (`grade --variant ID`)."""
    minutes = math.ceil(config.limits.wall_seconds / 60) + OVERHEAD_MINUTES
    text = (TEMPLATES / "feedback.yml").read_text()
    fills = {"GRADE_MINUTES": minutes, "GRADE_VARIANT": f" --variant {variant}" if variant else ""}
    for key, value in fills.items():
        text = text.replace(f"@{key}@", str(value))
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ReleaseError(f"feedback.yml has placeholders that release does not fill: {', '.join(left)}")
    return text


def reference_lines(reference: Path = REFERENCE) -> set[str]:
    """Distinctive lines of the reference's function bodies (docstrings and comments left out)."""
    source = reference.read_text()
    lines = source.splitlines()
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body[1:] if ast.get_docstring(node) else node.body
            for stmt in body:
                for line in lines[stmt.lineno - 1:stmt.end_lineno]:
                    code = line.split("#")[0].strip()
                    if len(code) >= MIN_LINE:
                        found.add(code)
    return found


def code_lines(path: str, text: str) -> list[str]:
    """The lines of a file as code: a notebook's cell sources, else the text; comments cut off."""
    if path.endswith(".ipynb"):
        text = "\n".join("".join(cell.get("source", [])) for cell in json.loads(text).get("cells", []))
    return [line.split("#")[0].strip() for line in text.splitlines()]


def leaked_lines(files: dict[str, str], secret: set[str]) -> list[str]:
    """'file: line' for every line of `files` (path -> text) that is one of the `secret` lines."""
    return [f"{path}: {line}" for path, text in files.items() for line in code_lines(path, text) if line in secret]


def practical_of(config: Config, variant: str | None) -> Practical:
    """The spec the template is for: variant `variant` of config's, or the spec as written."""
    try:
        return variant_spec(config.practical, config.variants, variant)
    except SpecError as err:
        raise ReleaseError(f"{config.path}: {err}") from err


def template_files(config: Config, variant: str | None = None) -> dict[str, str]:
    """The student repository, path -> text."""
    practical = practical_of(config, variant)
    package = Path(assignment.__file__).resolve().parent
    missing = [name for name in COPIED_FILES if not (package / name).is_file()]
    if missing:
        raise ReleaseError(f"the assignment package in {package} lacks {', '.join(missing)}")
    files = {f"assignment/{name}": (package / name).read_text() for name in COPIED_FILES}
    files.update({f"assignment/{name}": text for name, text in render.render_files(practical, config).items()})
    for name, where in TEMPLATE_FILES.items():
        if name == "feedback.yml":
            files[where] = workflow_text(config, variant)
        elif name == "student_README.md":
            files[where] = render.render_text((TEMPLATES / name).read_text(), practical, config)
        else:
            files[where] = (TEMPLATES / name).read_text()
    return files


def write_template(out: Path, config: Config, variant: str | None = None) -> list[Path]:
    """Write the student template repository into `out` (new, or empty but for .git); returns its files.
    `variant`: one of config's variant ids (v1, v2, ...); None for the spec as written."""
    if out.exists() and (not out.is_dir() or any(p.name != ".git" for p in out.iterdir())):
        raise ReleaseError(f"{out} already exists and is not empty: give a new folder (or an empty clone)")
    files = template_files(config, variant)
    if REFERENCE.is_file():  # absent where the grader runs without the instructor's repository
        # lines that the helpers or the handout share with the reference (`device = ...`) are no secret
        shared = {line for path, text in files.items() if path != STUB for line in code_lines(path, text)}
        leaks = leaked_lines({STUB: files[STUB]}, reference_lines() - shared)
        if leaks:
            raise ReleaseError(f"{STUB} repeats {len(leaks)} lines of reference/cnn.py, so nothing was written:\n  "
                               + "\n  ".join(leaks[:5]) + "\nPut the stub back in assignment/cnn.py and rerun.")
    written = []
    for where, text in files.items():
        target = out / where
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        written.append(target)
    return written
