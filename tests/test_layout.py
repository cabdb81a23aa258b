"""The grader's layout (docs/architecture.md): sub-packages that follow the pipeline, imports that run one
way only, from the command line down to practical/, no circle, and few modules at the top."""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "autograder"
# Each package may import those after it, never those before it (nor its own modules in a circle).
ORDER = ["cli", "integrations", "classroom", "release", "reports", "grading", "judging", "sandbox", "practical"]
TOP = {"__init__", "__main__", "cli"}


def module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every autograder module `path` imports, at the top or inside a function."""
    name = module_of(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                src = ".".join(base + ([node.module] if node.module else []))
            else:
                src = node.module or ""
            for alias in node.names:
                full = f"{src}.{alias.name}"
                found.add(full if (ROOT / (full.replace(".", "/") + ".py")).exists()
                          or (ROOT / full.replace(".", "/")).is_dir() else src)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {m for m in found if m.startswith("autograder.")}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


# The hidden checks are pytest files, and release/templates/ holds files written for other machines (the
# Classroom 50 bundle's autograder.py): neither is a module of the package.
GRAPH = {module_of(p): imports(p) for p in PACKAGE.rglob("*.py")
         if "checks" not in p.parts and not p.is_relative_to(PACKAGE / "release" / "templates")}


def test_imports_run_one_way_only():
    upward = []
    for module, deps in GRAPH.items():
        here = room(module)
        for dep in deps:
            there = room(dep)
            if here in ORDER and there in ORDER and ORDER.index(there) < ORDER.index(here):
                upward.append(f"{module} -> {dep}")
    assert not upward, "imports that run back up:\n" + "\n".join(sorted(upward))


def test_no_circle_between_modules():
    seen, stack, circles = set(), [], []

    def visit(m):
        if m in stack:
            circles.append(" -> ".join(stack[stack.index(m):] + [m]))
            return
        if m in seen:
            return
        seen.add(m)
        stack.append(m)
        for dep in GRAPH.get(m, ()):
            if dep in GRAPH and dep != m and not dep.endswith("__init__"):
                visit(dep)
        stack.pop()
    for m in GRAPH:
        visit(m)
    assert not circles, "\n".join(circles)


def test_few_modules_at_the_top_and_every_package_in_the_order():
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert top <= TOP and len(top) <= 12, top
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(ORDER) - {"cli"}, packages
