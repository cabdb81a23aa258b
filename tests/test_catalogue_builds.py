"""The catalogue of test submissions is well formed: every entry builds into a cnn.py that compiles.

Grading the entries is the grading test's job; this one only checks the data, so it is fast.
"""
from __future__ import annotations

import ast
import re

import pytest
import yaml

from tests.catalogue import build

ENTRIES = build.entries()
HANDOUT = build.BASES["handout"].read_text()


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_entry_materialises_and_compiles(entry, tmp_path):
    path = build.materialise(entry, tmp_path)
    assert path == tmp_path / "cnn.py"
    text = path.read_text()
    compile_or_syntax_error(entry, text, path)
    if entry["kind"] in ("variant", "mistake") and entry["base"] == "handout":
        assert text != HANDOUT, f"{entry['name']}: the edits leave handout_recipe.py unchanged"


def compile_or_syntax_error(entry: dict, text: str, path) -> None:
    """Compiles, except for the entry that exists to be a syntax error, which must not."""
    if entry["name"] == "syntax_error":
        with pytest.raises(SyntaxError):
            compile(text, str(path), "exec")
    else:
        compile(text, str(path), "exec")


@pytest.mark.parametrize("entry", ENTRIES, ids=[e["name"] for e in ENTRIES])
def test_markers_named_after_their_entry(entry):
    """An attack's marker file carries its own entry name, so the grading test knows which to look for."""
    text = build.source(entry)
    for prefix in build.MARKER_PREFIXES:
        for found in re.findall(re.escape(prefix) + r"[A-Za-z0-9_]*", text):
            assert found == prefix + entry["name"], f"{entry['name']}: marker {found} names another entry"


@pytest.mark.parametrize("path", sorted(build.FILES.glob("*.py")), ids=lambda p: p.stem)
def test_every_whole_file_says_what_it_tries(path):
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert doc, f"{path.name}: needs a module docstring saying what it does"
    if path.stem.startswith("attack"):
        assert "Expected" in doc, f"{path.name}: the docstring must say what the grader is expected to do"


def test_catalogue_covers_the_brief():
    kinds = {kind: [e for e in ENTRIES if e["kind"] == kind] for kind in build.KINDS}
    assert len(kinds["variant"]) >= 3 and len(kinds["mistake"]) >= 18 and len(kinds["attack"]) >= 12
    assert all(e["mark"] != "S+" for e in kinds["attack"])
    assert {e["mark"] for e in kinds["mistake"]} == {"S+", "S", None}
    used = {e["base"] for e in ENTRIES} - set(build.BASES)
    unused = {p.name for p in build.FILES.glob("*.py")} - used
    assert not unused, f"files nobody uses: {sorted(unused)}"


@pytest.mark.parametrize("bad, message", [
    ({"colour": "red"}, "unknown key"),
    ({"mark": "A"}, "mark must be"),
    ({"kind": "attack", "mark": "S+"}, "never be expected to get S+"),
    ({"phrase": "Test Accuracy"}, "lowercase"),
    ({"edits": [{"old": "x", "neww": "y"}]}, "edit 0"),
    ({"base": "missing.py"}, "base must be"),
    ({"edits": []}, "needs at least one edit"),
])
def test_malformed_entries_are_refused(bad, message, tmp_path):
    entry = {"name": "x", "kind": "mistake", "base": "handout", "edits": [{"old": "a", "new": "b"}],
             "mark": None, "phrase": "p", "why": "w", **bad}
    path = tmp_path / "catalogue.yml"
    path.write_text(yaml.safe_dump([entry]))
    with pytest.raises(build.CatalogueError, match=message):
        build.entries(path)


def test_edit_text_must_occur_exactly_once(tmp_path):
    twice = {"name": "x", "kind": "mistake", "base": "handout", "mark": None, "phrase": "p", "why": "w",
             "edits": [{"old": "self.", "new": "this."}]}
    with pytest.raises(build.CatalogueError, match="occurs .* times"):
        build.materialise(twice, tmp_path)
