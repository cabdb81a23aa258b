"""A notebook hand-in becomes a cnn.py: which statements are kept, what is left out and why, how the
file is found. Small hand-made cells; nothing here grades or trains."""
from __future__ import annotations

import json

import nbformat
import pytest

from autograder.classroom.batch import find_submissions, solution_sha
from assignment.notebook import NotebookError, cell_definitions, extract, extract_bytes
from autograder.grading.submission import SubmissionError, find_submission, hand_in, submission_sha


def notebook(*cells: str, markdown: str = "# My practical") -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(markdown)] + [nbformat.v4.new_code_cell(c) for c in cells]
    return nb


def kept_and_left(source: str) -> tuple[list[str], list[tuple[int | None, str, str]]]:
    kept, left = cell_definitions(source, 1)
    return [text for _, text in kept], [(item.line, item.text, item.why) for item in left]


@pytest.mark.parametrize("source, kept", [
    ("import torch\nfrom torch import nn as tnn", ["import torch", "from torch import nn as tnn"]),
    ("def f(x):\n    return x + 1", ["def f(x):\n    return x + 1"]),
    ("@torch.no_grad()\ndef f(x):\n    return x", ["@torch.no_grad()\ndef f(x):\n    return x"]),
    ("class Net(nn.Module):\n    size = compute()", ["class Net(nn.Module):\n    size = compute()"]),
    ("N = 10\nSIZES = (1, 28, 28)\nLR: float = 1e-4\nA, B = 1, -2 * N", ["N = 10", "SIZES = (1, 28, 28)",
                                                                    "LR: float = 1e-4", "A, B = 1, -2 * N"]),
    ("act = lambda x: x.relu()\nF = torch.nn.functional", ["act = lambda x: x.relu()", "F = torch.nn.functional"]),
    ("try:\n    import numpy as np\nexcept ImportError:\n    np = None",
     ["try:\n    import numpy as np\nexcept ImportError:\n    np = None"]),
], ids=["imports", "function", "decorated", "class", "constants", "lambda-and-alias", "optional-import"])
def test_definitions_are_kept_as_written(source, kept):
    got, left = kept_and_left(source)
    assert got == kept and left == []


@pytest.mark.parametrize("source, line, text, why", [
    ("%matplotlib inline", 1, "%matplotlib inline", "a magic"),
    ("import os\n!pip install torch", 2, "!pip install torch", "a shell command"),
    ("files = !ls", 1, "files = !ls", "a shell command"),
    ("model?", 1, "model?", "a magic"),
    ("%%time\ndef train(): pass", None, "%%time ...", "a cell magic"),
    ("train(build_model(), None, None)", 1, "train(build_model(), None, None)", "a call at top level"),
    ("model = build_model()", 1, "model = build_model()", "an assignment that runs code"),
    ("DEVICE = torch.device('cpu')", 1, "DEVICE = torch.device('cpu')", "an assignment that runs code"),
    ("SQUARES = [i * i for i in range(5)]", 1, "SQUARES = [i * i for i in range(5)]", "an assignment"),
    ("for step in range(10):\n    train()", 1, "for step in range(10): ...", "a loop at top level"),
    ("while True:\n    pass", 1, "while True: ...", "a loop at top level"),
    ("if __name__ == '__main__':\n    main()", 1, "if __name__ == '__main__': ...", "a statement at top level (if)"),
    ("with torch.no_grad():\n    x = 1", 1, "with torch.no_grad(): ...", "a statement at top level (with)"),
    ("model.fc = None", 1, "model.fc = None", "an assignment that runs code"),
    ("model", 1, "model", "an expression at top level"),
    ("def f(:\n    pass", None, "def f(: ...", "it does not parse (SyntaxError at line 1"),
], ids=["magic", "shell", "shell-assign", "help", "cell-magic", "call", "assign-call", "device", "comprehension",
        "for", "while", "main-guard", "with", "attribute-target", "bare-name", "syntax-error"])
def test_what_would_run_is_left_out_with_its_line_and_reason(source, line, text, why):
    kept, left = kept_and_left(source)
    assert [t for t in kept if not t.startswith("import")] == []
    assert len(left) == 1
    assert left[0][:2] == (line, text)
    assert left[0][2].startswith(why)


def test_semicolons_decorators_and_future_import_make_a_module_that_compiles():
    nb = notebook("import os; print('hello')\nfrom __future__ import annotations",
                  "@staticmethod\ndef f(): return 1\nf(); X = 2",
                  "'''a docstring'''\npass")
    got = extract(nb, "nb.ipynb")
    compile(got.source, "cnn.py", "exec")  # __future__ first, nothing broken
    lines = got.source.splitlines()
    assert lines[1] == "from __future__ import annotations"
    assert "import os" in lines and "X = 2" in lines and "print('hello')" not in got.source
    assert [(i.cell, i.line, i.text) for i in got.left_out] == [(2, 1, "print('hello')"), (3, 3, "f()")]
    assert got.code_cells == 3


def test_missing_functions_are_named():
    nb = notebook("def output_shape(in_shape, layer):\n    return in_shape",
                  "def top_patches(model, images, filters, k=12):\n    return None",
                  "def build_model(:\n    pass")  # does not parse: left out whole, so build_model is missing too
    got = extract(nb, "partial.ipynb")
    assert got.missing == ["build_model", "train"]
    notes = "\n".join(got.notes())
    assert "partial.ipynb does not define build_model, train" in notes
    assert "Left out cell 4: `def build_model(: ...`: it does not parse" in notes


def test_names_set_only_by_left_out_code_are_pointed_out_but_locals_are_not():
    nb = notebook("DEVICE = torch.device('cpu')\nmodel = build_model()\nhistory = []",
                  "def build_model():\n    model = Net()\n    return model.to(DEVICE)",
                  "def train(model, train_set, valid_set, **kw):\n    history = []\n    return history")
    got = extract(nb, "nb.ipynb")
    assert got.unset == ["DEVICE"]  # `model` is a parameter or local, `history` is kept (a plain value)
    assert any("`DEVICE`" in n for n in got.notes())


def test_magic_inside_a_function_is_pointed_out():
    got = extract(notebook("def train(model, a, b, **kw):\n    !nvidia-smi\n    return []"), "nb.ipynb")
    assert got.uses_ipython and any("get_ipython()" in n for n in got.notes())


def test_reading_a_notebook_runs_none_of_it(tmp_path):
    marker = tmp_path / "ran"
    nb = notebook(f"open({str(marker)!r}, 'w').write('top level ran')",
                  f"!touch {marker}", f"%%bash\ntouch {marker}", f"%run -i {tmp_path / 'x.py'}",
                  f"def build_model(m=open({str(marker)!r}, 'w')):\n    pass",
                  f"class A:\n    open({str(marker)!r}, 'w')")
    (tmp_path / "x.py").write_text(f"open({str(marker)!r}, 'w')")
    nbformat.write(nb, tmp_path / "nb.ipynb")
    got = extract_bytes((tmp_path / "nb.ipynb").read_bytes(), "nb.ipynb")
    assert not marker.exists()
    assert "build_model" in got.source and "class A" in got.source  # kept: they run only in the sandbox
    assert [i.why.split(":")[0] for i in got.left_out] == ["a call at top level", "a shell command",
                                                           "a cell magic", "a magic"]


def test_a_file_that_is_not_a_notebook_says_so(tmp_path):
    bad = tmp_path / "cnn.ipynb"
    bad.write_text("def train(): pass\n")
    with pytest.raises(NotebookError, match="cnn.ipynb could not be read as a Jupyter notebook.*hand in cnn.py"):
        extract_bytes(bad.read_bytes(), bad.name)
    with pytest.raises(SubmissionError, match="could not be read"):
        hand_in(bad)


def test_a_notebook_is_found_like_a_cnn_py(tmp_path):
    nb = notebook("def f(): pass")
    (tmp_path / "one").mkdir()
    nbformat.write(nb, tmp_path / "one" / "work.ipynb")
    assert find_submission(tmp_path / "one") == (tmp_path / "one" / "work.ipynb").resolve()
    assert find_submission(tmp_path / "one" / "work.ipynb").name == "work.ipynb"

    repo = tmp_path / "repo" / "assignment"
    repo.mkdir(parents=True)
    nbformat.write(nb, repo / "practical.ipynb")
    nbformat.write(nb, repo / "cnn.ipynb")
    assert find_submission(tmp_path / "repo").name == "cnn.ipynb"  # two notebooks: the one named cnn
    (repo / "cnn.py").write_text("X = 1\n")
    assert find_submission(tmp_path / "repo").name == "cnn.py"  # a cnn.py comes first

    (tmp_path / "two").mkdir()
    for name in ("a.ipynb", "b.ipynb"):
        nbformat.write(nb, tmp_path / "two" / name)
    with pytest.raises(SubmissionError, match=r"2 notebooks \(a.ipynb, b.ipynb\) and no cnn.py"):
        find_submission(tmp_path / "two")
    assert submission_sha(tmp_path / "two") is not None  # graded, so the feedback says what is wrong

    with pytest.raises(FileNotFoundError, match="no cnn.py or notebook"):
        find_submission(tmp_path / "missing")
    assert submission_sha(tmp_path / "missing") is None


def test_grade_all_finds_notebooks_and_keys_them_by_the_file_handed_in(tmp_path):
    nb = notebook("def f(): pass")
    nbformat.write(nb, tmp_path / "alice.ipynb")
    (tmp_path / "carol.py").write_text("X = 1\n")
    (tmp_path / "bob.txt").write_text("not a submission")
    found = find_submissions(tmp_path)
    assert found == {"alice": tmp_path / "alice.ipynb", "carol": tmp_path / "carol.py"}
    (tmp_path / "alice.py").write_text("X = 1\n")  # two entries for one student: which one counts is unclear
    with pytest.raises(SystemExit, match="both named 'alice'"):
        find_submissions(tmp_path)
    sha = solution_sha(tmp_path / "alice.ipynb")
    assert sha == submission_sha(tmp_path / "alice.ipynb")
    nb.cells.append(nbformat.v4.new_markdown_cell("more words"))
    nbformat.write(nb, tmp_path / "alice.ipynb")
    assert solution_sha(tmp_path / "alice.ipynb") != sha  # any change to the file regrades it


def test_handed_in_code_of_a_notebook_is_its_definitions(tmp_path):
    nbformat.write(notebook("%matplotlib inline\nimport torch", "train()"), tmp_path / "nb.ipynb")
    got = hand_in(tmp_path / "nb.ipynb")
    assert b"import torch" in got.code and b"matplotlib" not in got.code and b"train()" not in got.code
    assert any("Left out cell 3, line 1: `train()`" in n for n in got.notes)
    assert json.loads((tmp_path / "nb.ipynb").read_text())["nbformat"] == 4  # the hand-in is left as it was


@pytest.mark.parametrize("terms", [600, 950, 5000])
def test_a_deep_expression_is_kept_or_left_out_never_a_crash(terms):
    # `X = 1+1+...+1` nests one BinOp per term: a recursive walk of it ran out of stack (the grader's exit 2)
    deep = "X = " + "+".join(["1"] * terms)
    got = extract(notebook(deep, "def build_model():\n    return X"), "deep.ipynb")
    assert "def build_model():" in got.source
    if terms < 1000:  # Python parses it: a plain value, kept
        assert deep in got.source and got.left_out == []
    else:  # too deep for Python's parser: left out, with the reason
        assert [(item.cell, item.why.split(" (")[0]) for item in got.left_out] == [(2, "it does not parse")]
