"""A notebook hand-in is graded exactly like its cnn.py, without running its top-level training.

One `grade-all --jobs 2` under the shortest config (tests/grading-tiny.yml) grades three hand-ins: the
handout-recipe submission as a .py, the same code as a notebook (cells, markdown, a magic, a shell
escape and a top-level training loop), and a notebook without build_model and train.
"""
from __future__ import annotations

import ast
import csv
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from specs import TINY

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "tests" / "catalogue" / "files" / "handout_recipe.py"


def statements(source: str) -> list[tuple[ast.stmt, str]]:
    """Each top-level statement of `source` with its text, decorators included."""
    lines = source.splitlines()
    out = []
    for stmt in ast.parse(source).body:
        start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
        out.append((stmt, "\n".join(lines[start - 1:stmt.end_lineno])))
    return out


def recipe_notebook(marker: Path) -> nbformat.NotebookNode:
    """handout_recipe.py as a student's notebook: the imports under a magic and a shell escape, one cell
    per definition with markdown between, and at the end the cells a student runs to train and plot.
    If the grader ran those, it would write `marker` and sleep for an hour, or raise."""
    nb = nbformat.v4.new_notebook()
    new_md, new_code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    parts = statements(RECIPE.read_text())
    imports = [text for stmt, text in parts if isinstance(stmt, (ast.Import, ast.ImportFrom))]
    nb.cells = [new_md("# CNN practical\n\nMy solution, one function per cell."),
                new_code("%matplotlib inline\n!pip install torch torchvision\n" + "\n".join(imports))]
    for stmt, text in parts:
        if isinstance(stmt, (ast.FunctionDef, ast.ClassDef)):
            nb.cells += [new_md(f"## `{stmt.name}`"), new_code(text)]
    nb.cells += [
        new_code("import time\n"
                 f"open({str(marker)!r}, 'w').write('the top-level training ran')\n"
                 "model = build_model()\n"
                 "for epoch in range(100):\n"
                 "    time.sleep(3600)  # stands for a long training run\n"
                 "    history = train(model, None, None)"),
        new_code("history = train(build_model(), None, None)  # no data: raises if run\n"
                 "from assignment import plots\nplots.plot_curves(history)"),
    ]
    return nb


def partial_notebook() -> nbformat.NotebookNode:
    """Only output_shape and top_patches, from the same recipe."""
    nb = nbformat.v4.new_notebook()
    parts = statements(RECIPE.read_text())
    keep = [text for stmt, text in parts if isinstance(stmt, (ast.Import, ast.ImportFrom))
            or getattr(stmt, "name", None) in ("output_shape", "top_patches")]
    nb.cells = [nbformat.v4.new_code_cell(text) for text in keep]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder, out = tmp_path_factory.mktemp("class"), tmp_path_factory.mktemp("out")
    marker = folder.parent / f"{folder.name}-top-level-ran"
    (folder / "recipe_py.py").write_text(RECIPE.read_text())
    nbformat.write(recipe_notebook(marker), folder / "recipe_nb.ipynb")
    nbformat.write(partial_notebook(), folder / "partial.ipynb")
    cmd = [sys.executable, "-m", "autograder", "grade-all", str(folder), "--out", str(out), "--jobs", "2",
           "--config", str(TINY)]
    first = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    with open(out / "gradebook.csv") as f:
        book = {row["submission"]: row for row in csv.DictReader(f)}
    return {"first": first, "again": again, "book": book, "out": out / "submissions", "marker": marker}


def results(graded, name: str) -> dict:
    return json.loads((graded["out"] / name / "results.json").read_text())


def test_notebook_gets_the_same_mark_and_checks_as_its_py(graded):
    assert graded["first"].returncode == 0, graded["first"].stderr
    py, nb = results(graded, "recipe_py")["extra_data"], results(graded, "recipe_nb")["extra_data"]
    assert py["mark"] == "S+", (graded["out"] / "recipe_py" / "feedback.md").read_text()
    assert nb["mark"] == "S+", (graded["out"] / "recipe_nb" / "feedback.md").read_text()
    assert nb["checks"] == py["checks"] and set(nb["checks"].values()) == {"passed"}
    # same code and seed; the secret relabelling of the classes is drawn per file (relabel.py), which moves
    # the accuracy as a different initialisation would, by a few hundredths of a percent
    assert abs(nb["test_accuracy"] - py["test_accuracy"]) < 0.01 and nb["accuracy_verified"]


def test_top_level_training_of_the_notebook_is_not_run_and_is_listed(graded):
    assert not graded["marker"].exists()
    nb = results(graded, "recipe_nb")["extra_data"]
    assert nb["child"]["timed_out"] is False and nb["child"]["phase"] == "done"  # an hour's sleep would time out
    feedback = (graded["out"] / "recipe_nb" / "feedback.md").read_text()
    hand_in = feedback.split("## Your hand-in", 1)[1]
    for left_out in ("cell 2, line 1: `%matplotlib inline`: a magic",
                     "cell 2, line 2: `!pip install torch torchvision`: a shell command",
                     "`model = build_model()`: an assignment that runs code",
                     "`for epoch in range(100): ...`: a loop at top level",
                     "`history = train(build_model(), None, None)`: an assignment that runs code",
                     "`plots.plot_curves(history)`: a call at top level"):
        assert left_out in hand_in, hand_in
    assert "def " not in hand_in  # no definition was left out


def test_notebook_without_build_model_and_train_says_which(graded):
    row = graded["book"]["partial"]
    assert row["status"] == "graded" and row["mark"] == "none"
    assert row["output_shape"] == "passed"  # what it does define is graded
    feedback = (graded["out"] / "partial" / "feedback.md").read_text()
    assert "partial.ipynb does not define build_model, train" in feedback


def test_rerun_skips_the_notebooks_already_graded(graded):
    assert graded["again"].returncode == 0, graded["again"].stderr
    assert "3 submissions (3 already graded)" in graded["again"].stdout
