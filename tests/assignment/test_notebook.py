"""practical.ipynb runs top to bottom on the reference solution, with a short training budget."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "assignment" / "practical.ipynb"


def text_of(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")


def test_notebook_is_committed_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "no code cells"
    assert all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_runs_top_to_bottom_on_the_reference(tmp_path, monkeypatch, mnist_root):
    # The kernel inherits this process's environment; it runs in tmp_path, so every path is absolute.
    monkeypatch.setenv("MNIST_ROOT", str(mnist_root))
    monkeypatch.setenv("CNN_SOLUTION", str(REPO / "reference" / "cnn.py"))
    monkeypatch.setenv("PRACTICAL_ITERATIONS", "100")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("import sys; print('kernel python:', sys.executable)"))

    NotebookClient(nb, kernel_name="python3", timeout=300,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()

    printed = "\n".join(text_of(c) for c in nb.cells if c.cell_type == "code")
    assert f"kernel python: {sys.executable}" in printed, "the python3 kernel is not this interpreter"
    assert "training for 100 iterations" in printed
    assert "solution: " + str(REPO / "reference" / "cnn.py") in printed
    assert "parameters: 1,103,539" in printed
    match = re.search(r"test accuracy: (\d\.\d+)", printed)
    assert match, "the notebook printed no test accuracy"
    assert 0.5 < float(match.group(1)) <= 1.0
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 4, "expected 4 figures: digits, curves, filters, patches"
