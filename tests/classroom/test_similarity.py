"""The class integrity report on the catalogue plus three near-copies of one submission (text only: fast).

Most catalogue entries are the handout recipe with one small edit, so they are near-copies of it by
construction and the report rightly ranks them as such; the class here takes one entry per distinct
source file instead, so that the near-copies made below are the only copies in it.
"""
import ast
import csv
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest

from autograder import cli
from autograder.classroom import similarity
from catalogue import build

ORIGINAL = "handout_recipe"
RENAMES = {"model": "network", "images": "inputs", "labels": "targets", "history": "log", "loss": "objective",
           "optimiser": "opt", "cursor": "pos", "filters": "chosen", "layer": "module", "sizes": "dims"}


def renamed(text: str) -> str:
    """Every use of the names in RENAMES renamed, reformatted by ast (which drops the comments too)."""
    class Rename(ast.NodeTransformer):
        def visit_Name(self, node):
            node.id = RENAMES.get(node.id, node.id)
            return node

        def visit_arg(self, node):
            node.arg = RENAMES.get(node.arg, node.arg)
            return node

    out = ast.unparse(Rename().visit(ast.parse(text)))
    assert out != text and "network" in out
    return out


def reordered(text: str) -> str:
    """The top-level functions and classes in reverse order, each kept as written (comments included)."""
    lines = text.splitlines(keepends=True)
    body = ast.parse(text).body
    defs = [n for n in body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    first = min(n.lineno if not n.decorator_list else n.decorator_list[0].lineno for n in defs) - 1
    blocks = ["".join(lines[(n.decorator_list[0].lineno if n.decorator_list else n.lineno) - 1:n.end_lineno])
              for n in defs]
    out = "".join(lines[:first]) + "\n\n".join(reversed(blocks)) + "\n"
    assert ast.dump(ast.parse(out)) != ast.dump(ast.parse(text))
    return out


def recommented(text: str) -> str:
    """Every comment and docstring reworded, and a comment line added above every `for` loop."""
    lines = text.splitlines(keepends=True)
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            row, col = tok.start
            lines[row - 1] = lines[row - 1][:col] + "# " + " ".join(reversed(tok.string[1:].split())) + "\n"
    out = "".join(lines)
    for node in ast.walk(ast.parse(out)):
        doc = ast.get_docstring(node, clean=False) if isinstance(
            node, (ast.Module, ast.FunctionDef, ast.ClassDef)) else None
        if doc:
            out = out.replace(doc, f"My own words about {getattr(node, 'name', 'this file')}.", 1)
    out = "\n".join(line if not line.lstrip().startswith("for ") else
                    f"{line[:len(line) - len(line.lstrip())]}# loop over the items\n{line}" for line in out.split("\n"))
    assert out.count("#") > text.count("#")
    return out


@pytest.fixture(scope="module")
def classroom(tmp_path_factory):
    """(class folder, known folder): one catalogue entry per source file, three near-copies of ORIGINAL,
    and a known folder holding a public solution of another entry and an unrelated file."""
    folder = tmp_path_factory.mktemp("class")
    seen = set()
    for entry in build.entries():
        if entry["base"] == "handout" and entry["name"] != ORIGINAL:
            continue  # the handout recipe with one edit: a near-copy of ORIGINAL by construction
        if entry["base"] not in seen:
            seen.add(entry["base"])
            build.materialise(entry, folder / entry["name"])
    original = (folder / ORIGINAL / "cnn.py").read_text()
    (folder / "copy_renamed.py").write_text(renamed(original))  # a bare file, as grade-all also accepts
    (folder / "copy_reordered" / "assignment").mkdir(parents=True)  # a student repository
    (folder / "copy_reordered" / "assignment" / "cnn.py").write_text(reordered(original))
    (folder / "copy_recommented").mkdir()
    (folder / "copy_recommented" / "cnn.py").write_text(recommented(original))
    (folder / "no_solution").mkdir()
    known = tmp_path_factory.mktemp("known")
    public = known / "someone-cnn-practical" / "src"
    public.mkdir(parents=True)
    (public / "solution.py").write_text(recommented(build.source(build.by_name("variant_sequential"))))
    (known / "unrelated.py").write_text("import os\n\n\ndef walk(top):\n    return sorted(os.listdir(top))\n")
    return folder, known


@pytest.fixture(scope="module")
def report(classroom):
    folder, known = classroom
    return similarity.similarity_report(folder, known)


CLUSTER = {ORIGINAL, "copy_renamed", "copy_reordered", "copy_recommented"}


def test_near_copies_rank_at_the_top(report):
    pairs = [m for m in report.matches if m.b.kind == "submission"]
    top = pairs[:6]  # the 6 pairs among the 4 files of the cluster
    assert all({m.a.name, m.b.name} <= CLUSTER for m in top), [(m.a.name, m.b.name, m.similarity) for m in top]
    assert {frozenset((m.a.name, m.b.name)) for m in top} == {frozenset((x, y)) for x in CLUSTER for y in CLUSTER
                                                            if x < y}
    assert min(m.similarity for m in top) >= 0.9
    outside = pairs[6]  # the most code any other pair shares: far less
    assert outside.tokens < min(m.tokens for m in top) / 2, (outside.a.name, outside.b.name, outside.tokens)


def test_every_pair_and_every_known_solution_is_compared(report):
    n, k = len(report.submissions), len(report.known)
    assert k == 2 and n == len({m.a.name for m in report.matches} | {m.b.name for m in report.matches
                                                                       if m.b.kind == "submission"})
    assert sum(m.b.kind == "submission" for m in report.matches) == n * (n - 1) // 2
    assert sum(m.b.kind == "known" for m in report.matches) == n * k
    assert report.skipped == {"no_solution": "no cnn.py found"}


def test_known_solution_is_found_and_the_unrelated_file_is_not(report):
    known = [m for m in report.matches if m.b.kind == "known"]
    best = known[0]
    assert (best.a.name, best.b.name) == ("variant_sequential", "known/someone-cnn-practical/src/solution.py")
    assert best.similarity >= 0.8
    assert all(m.similarity < 0.2 for m in known if m.b.name == "known/unrelated.py")


def test_the_stub_matches_nothing(report):
    """The stub's docstrings, signatures and imports are the handout's: excluded from every match."""
    stub = [m for m in report.matches if "stub" in (m.a.name, m.b.name)]
    assert len(stub) == len(report.submissions) - 1 + len(report.known)
    assert max(m.similarity for m in stub) == 0, [(m.a.name, m.b.name, m.similarity) for m in stub if m.similarity]


def test_without_the_template_the_stub_would_match(classroom):
    """The exclusion is what keeps the stub out: compared without it, the stub shares code with submissions
    that kept the handout's signatures."""
    folder, _ = classroom
    plain = similarity.similarity_report(folder, templates=[])
    assert max(m.similarity for m in plain.matches if "stub" in (m.a.name, m.b.name)) > 0.2


def test_command_writes_a_ranked_csv_and_a_side_by_side_page(classroom, tmp_path, repo):
    folder, known = classroom
    proc = subprocess.run([sys.executable, "-m", "autograder", "similarity", str(folder), "--known", str(known),
                           "--out", str(tmp_path)], capture_output=True, text=True, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    with open(tmp_path / "similarity.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["rank"]) for r in rows] == list(range(1, len(rows) + 1))
    shared = [int(r["shared_tokens"]) for r in rows]
    assert shared == sorted(shared, reverse=True)
    assert {rows[0]["submission"], rows[0]["other"]} <= CLUSTER
    page = (tmp_path / "similarity.html").read_text()
    assert "class='pair'" in page and "highlight-red" in page and "highlight-green" in page
    headings = re.findall(r"<h3 id='pair-\d+'>([^<]*)</h3>", page)
    assert any("copy_reordered" in h for h in headings) and not any(re.search(r"\bstub\b", h) for h in headings), headings
    assert "similarity.html" in proc.stdout


def test_bad_folders_get_a_clear_message(tmp_path, capsys):
    with pytest.raises(SystemExit, match="is not a folder of submissions"):
        cli.main(["similarity", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    assert cli.main(["similarity", str(tmp_path), "--known", str(tmp_path / "missing"), "--out",
                     str(tmp_path / "out")]) == 2
    assert "is not a folder of known solutions" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
