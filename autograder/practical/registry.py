"""The hidden checks, found from autograder/judging/checks/ itself.

A check is a file `checks/test_NAME.py` with a function `test_NAME(ctx)` and a module-level
`TITLE = "..."`, its default title, which may quote the spec's facts (`{input}`, `{classes}`, ...; see
`facts`); its docstring says when it passes. Files are read, not imported, so that loading a
config (and `python -m autograder spec`) needs no torch. grading.yml holds only the policy.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from .spec import Practical, fmt
from .paths import PACKAGE

CHECKS_DIR = PACKAGE / "judging" / "checks"


class RegistryError(ValueError):
    """A check file does not declare what a check must; the message names the file."""


@dataclass(frozen=True)
class CheckInfo:
    name: str  # from the file name: checks/test_NAME.py
    title: str  # default title, a template over `facts`
    file: Path


def facts(practical: Practical) -> dict[str, str]:
    """What a title may quote."""
    return {"input": ", ".join(map(str, practical.input)), "classes": str(practical.classes),
            "params": f"{practical.param_counts[0]:,}", "conv1_out": fmt(practical.conv1_out),
            "patch": f"{practical.patch['size']}x{practical.patch['size']}"}


def render(template: str, practical: Practical) -> str:
    try:
        return template.format(**facts(practical))
    except (KeyError, IndexError, ValueError) as err:
        raise RegistryError(f"title {template!r} quotes {err}, which is not a fact of the spec; "
                            f"available: {', '.join('{' + k + '}' for k in facts(practical))}") from None


def _declared(tree: ast.Module, name: str):
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            try:
                return ast.literal_eval(node.value)
            except ValueError:
                return None
    return None


def discover(folder: Path = CHECKS_DIR) -> dict[str, CheckInfo]:
    """name -> CheckInfo for every check file, by file name."""
    found = {}
    for file in sorted(folder.glob("test_*.py")):
        name = file.stem.removeprefix("test_")
        tree = ast.parse(file.read_text(), str(file))
        title = _declared(tree, "TITLE")
        if not isinstance(title, str) or not title.strip():
            raise RegistryError(f"{file.name}: a check declares its default title as a plain string, "
                                f'TITLE = "..."')
        if not any(isinstance(n, ast.FunctionDef) and n.name == f"test_{name}" for n in tree.body):
            raise RegistryError(f"{file.name}: a check file holds a function test_{name}(ctx)")
        found[name] = CheckInfo(name, title, file)
    return found
