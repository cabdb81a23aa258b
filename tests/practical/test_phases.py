"""The child's phases are declared once, in autograder/practical/phases.py. The child script runs in the
sandbox without the package and spells them itself: its names must be those, in that order. No other module
spells a list of them, and there is one Limits."""
import ast
from pathlib import Path

from autograder.practical import phases

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "autograder"
CHILD = PACKAGE / "grading" / "child.py"
DECLARED = PACKAGE / "practical" / "phases.py"
NAMES = set(phases.ORDER)


def _functions(path: Path) -> dict[str, ast.FunctionDef]:
    return {n.name: n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)}


def _reported(function: ast.FunctionDef) -> list[str]:
    """The phases `function` reports, in source order: timed("x", ...), rec.phase("x"), and "train" for
    train_counted(...), which times train() itself."""
    found = []
    for node in ast.walk(function):
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name in ("timed", "phase") and node.args and isinstance(node.args[0], ast.Constant):
            found.append((node.lineno, node.col_offset, node.args[0].value))
        elif name == "train_counted":
            found.append((node.lineno, node.col_offset, phases.TRAIN))
    return [phase for *_, phase in sorted(found)]


def test_the_child_reports_the_declared_phases_in_their_order():
    child = _functions(CHILD)
    recorder = next(n for n in ast.walk(ast.parse(CHILD.read_text())) if isinstance(n, ast.Dict)
                    and any(isinstance(k, ast.Constant) and k.value == "phase" for k in n.keys))
    first = recorder.values[[k.value for k in recorder.keys].index("phase")].value
    main = _reported(child["main"])
    assert [first, *main] == [phases.START, phases.IMPORT, phases.DONE]  # the phases between: run_phases'
    assert [first, phases.IMPORT, *_reported(child["run_phases"])] == list(phases.ORDER)
    assert set(_reported(child["run_challenge"])) | {phases.IMPORT} == set(phases.CHALLENGE)
    assert set(_reported(child["train_counted"])) == {phases.TRAIN}


def _spelled(path: Path) -> list[tuple[int, list[str]]]:
    """Each tuple, list, set or dict literal in `path` that names four or more phases."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        items = node.keys if isinstance(node, ast.Dict) else node.elts if isinstance(
            node, (ast.Tuple, ast.List, ast.Set)) else []
        named = [i.value for i in items if isinstance(i, ast.Constant) and i.value in NAMES]
        if len(set(named)) >= 4:
            found.append((node.lineno, named))
    return found


def test_no_other_module_spells_the_phases():
    spelled = {f"{p.relative_to(ROOT)}:{line}: {named}" for p in PACKAGE.rglob("*.py")
               if p not in (DECLARED, CHILD) for line, named in _spelled(p)}
    assert not spelled, "phases spelled outside practical/phases.py:\n" + "\n".join(sorted(spelled))


def test_one_limits():
    defined = [p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")
               for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.ClassDef) and n.name == "Limits"]
    assert defined == ["autograder/practical/config.py"]
