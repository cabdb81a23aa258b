"""A notebook hand-in as a cnn.py: the definitions in its code cells, and what was left out and why.

The public checks, the driver and the grader all take a notebook through here (assignment/solution.py),
so a notebook runs the same everywhere. This only parses: nbformat reads the file, IPython's own input
transformer turns magics and shell escapes into plain Python calls, and `ast` sorts each top-level
statement into a definition (kept) or something that would run (left out). Nothing in the notebook
is executed here; the kept source then runs like any cnn.py (in the grader, inside its sandbox).
"""
from __future__ import annotations

import ast
import symtable
import warnings
from dataclasses import dataclass, field

from assignment.solution import API

MAX_LISTED = 25  # left-out statements named one by one in the feedback; the rest are counted
CELL_MAGIC = "a cell magic: the whole cell, definitions included"
IPYTHON_CALLS = {"run_line_magic": "a magic", "run_cell_magic": CELL_MAGIC, "system": "a shell command",
                 "getoutput": "a shell command"}


class NotebookError(ValueError):
    """The file cannot be read as a notebook; the message says why and what to do."""


@dataclass
class LeftOut:
    cell: int  # counting every cell from 1, markdown included
    line: int | None  # in the cell; None where IPython's rewriting moved the lines
    text: str  # the statement's first line, as the student wrote it where known
    why: str


@dataclass
class Extraction:
    name: str  # the notebook's file name
    source: str  # the kept definitions, as a cnn.py
    code_cells: int
    left_out: list[LeftOut] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # API functions the kept code does not define
    unset: list[str] = field(default_factory=list)  # names the kept code uses that only left-out code sets
    uses_ipython: bool = False  # get_ipython() inside a kept function: a magic or ! line in a def

    def notes(self) -> list[str]:
        """What a student reads about the conversion, one point per line."""
        notes = [f"Your notebook {self.name} runs as a cnn.py made of the definitions in its "
                 f"{self.code_cells} code cells: imports, functions, classes and constants (assignments of plain "
                 "values, without calls). Nothing else in it runs. Jupyter does not number cells, so each "
                 "left-out line below is quoted; its cell number counts every cell from the top, markdown "
                 "cells included."]
        for item in self.left_out[:MAX_LISTED]:
            where = f"cell {item.cell}" + (f", line {item.line}" if item.line else "")
            notes.append(f"Left out {where}: `{item.text}`: {item.why}.")
        if len(self.left_out) > MAX_LISTED:
            notes.append(f"... and {len(self.left_out) - MAX_LISTED} more statements left out.")
        if self.missing:
            notes.append(f"{self.name} does not define {', '.join(self.missing)}: the grader calls "
                         f"{', '.join(API)}, so define each with `def` at the top level of a code cell "
                         "(a cell that does not parse is left out whole).")
        for name in self.unset:
            notes.append(f"Your definitions use `{name}`, which only a left-out statement sets: give it a plain "
                         "value (no call), or compute it inside the function that needs it.")
        if self.uses_ipython:
            notes.append("A kept function uses a magic or a ! line (get_ipython()), which does not exist "
                         "outside Jupyter: it will fail when the grader calls it.")
        return notes


def read_notebook(data: bytes, name: str):
    """The notebook `name` whose file holds `data`, as nbformat version 4. Schema quibbles are tolerated;
    unreadable JSON is not."""
    import nbformat

    try:
        with warnings.catch_warnings():  # e.g. cells without ids, from older tools
            warnings.simplefilter("ignore")
            nb = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as err:  # NotJSONError, a missing nbformat key, bad bytes
        raise NotebookError(f"{name} could not be read as a Jupyter notebook ({type(err).__name__}: "
                            f"{str(err)[:200]}): open it in Jupyter and save it again, or hand in cnn.py") from None
    if not isinstance(nb.get("cells"), list):
        raise NotebookError(f"{name} has no list of cells: open it in Jupyter and save it again, "
                            "or hand in cnn.py")
    return nb


def extract_bytes(data: bytes, name: str) -> Extraction:
    return extract(read_notebook(data, name), name)


def extract(nb, name: str) -> Extraction:
    """The definitions of the code cells of `nb`, in order, as one module's source."""
    future, chunks, left_out, kept = [], [], [], []
    code_cells = 0
    for number, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        code_cells += 1
        statements, dropped = cell_definitions(source_text(cell.get("source", "")), number)
        left_out += dropped
        body = ""
        for stmt, text in statements:
            kept.append(stmt)
            if is_future(stmt):  # must come first in the module
                future.append(text)
            else:
                body += ("\n\n" if body and is_compound(stmt) else "\n" if body else "") + text
        if body:
            chunks.append(f"# cell {number}\n{body}")
    header = (f"# The definitions that the grader took from {name}; the feedback lists what was left out.\n")
    source = header + "".join(f"{line}\n" for line in future) + "\n\n" + "\n\n\n".join(chunks) + "\n"
    defined, uses = bound_names(kept), global_uses(source)
    return Extraction(name=name, source=source, code_cells=code_cells, left_out=left_out,
                      missing=[f for f in API if f not in defined],
                      unset=sorted((uses & assigned_names(left_out_statements(nb))) - defined),
                      uses_ipython="get_ipython" in uses)


def source_text(source) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def python_of(cell_source: str) -> str:
    """The cell as plain Python: IPython's transformer turns `%magic` and `!cmd` into get_ipython() calls
    (text only; nothing runs), so that `ast` can parse every cell Jupyter accepts."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(cell_source)


def parse_cell(cell_source: str) -> tuple[ast.Module | None, str, str | None]:
    """(tree, python, error) of one cell; tree is None and error says why when it does not parse."""
    try:
        python = python_of(cell_source)
    except Exception as err:  # IPython's tokenizer refuses some broken cells
        return None, cell_source, f"{type(err).__name__}: {err}"
    try:
        return ast.parse(python), python, None
    except SyntaxError as err:
        return None, python, f"SyntaxError at line {err.lineno}: {err.msg}"
    except (ValueError, RecursionError, MemoryError) as err:  # null bytes, absurd nesting
        return None, python, f"{type(err).__name__}"


def cell_definitions(cell_source: str, cell: int) -> tuple[list[tuple[ast.stmt, str]], list[LeftOut]]:
    """The cell's top-level definitions with their source text, and what was left out of it."""
    tree, python, error = parse_cell(cell_source)
    original = cell_source.splitlines()
    if tree is None:
        first = next((line.strip() for line in original if line.strip()), "")
        return [], [LeftOut(cell, None, shorten(first, len(original) > 1),
                            f"it does not parse ({error}): the whole cell, definitions included")]
    aligned = len(python.splitlines()) == len(original)  # IPython joined lines (a \ continuation or %%)
    kept, dropped = [], []
    lines = python.splitlines()
    for stmt in tree.body:
        why = leave_out_reason(stmt)
        if why is None:
            kept.append((stmt, segment(python, stmt)))
        elif why == CELL_MAGIC:  # IPython made the whole cell one call; its first line is the %% line
            dropped.append(LeftOut(cell, None, shorten(original[0].strip(), True), why))
        elif why:
            line = first_line(stmt)
            if ipython_call(stmt):  # show the magic as written, not IPython's rewriting of it
                text = original[line - 1] if aligned else lines[line - 1]
            else:
                text = segment(python, stmt).splitlines()[0]
            more = stmt.end_lineno > line
            dropped.append(LeftOut(cell, line if aligned else None, shorten(text.strip(), more), why))
    return kept, dropped


def leave_out_reason(stmt: ast.stmt) -> str | None:
    """None to keep `stmt`; else why it is left out ('' for what does nothing: a bare string, pass)."""
    if is_definition(stmt):
        return None
    if isinstance(stmt, ast.Pass) or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)):
        return ""
    magic = ipython_call(stmt)
    if magic:
        return magic
    if isinstance(stmt, ast.Expr):
        return "a call at top level: the grader calls your functions itself" if any(
            isinstance(n, ast.Call) for n in ast.walk(stmt)) else "an expression at top level"
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        return "an assignment that runs code: only plain values are kept"
    if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
        return "a loop at top level: the grader runs your train() itself"
    return f"a statement at top level ({type(stmt).__name__.lower()}) that would run code"


def is_definition(stmt: ast.stmt) -> bool:
    if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(stmt, ast.Assign):
        return all(isinstance(t, (ast.Name, ast.Tuple)) and all(isinstance(n, ast.Name) for n in targets(t))
                   for t in stmt.targets) and is_plain_value(stmt.value)
    if isinstance(stmt, ast.AnnAssign):
        return isinstance(stmt.target, ast.Name) and (stmt.value is None or is_plain_value(stmt.value))
    if isinstance(stmt, ast.Try):  # e.g. an optional import with a fallback
        parts = stmt.body + stmt.orelse + stmt.finalbody + [s for h in stmt.handlers for s in h.body]
        return all(is_definition(s) or isinstance(s, ast.Pass) for s in parts)
    return False


def targets(node: ast.expr) -> list[ast.expr]:
    return [e for t in node.elts for e in targets(t)] if isinstance(node, ast.Tuple) else [node]


def is_plain_value(node: ast.expr) -> bool:
    """A value that runs nothing of note: literals, names, attributes, operators, containers; no call,
    no comprehension, no await, no walrus. A lambda's body does not run, so a lambda is plain."""
    todo = [node]  # a loop, not recursion: `X = 1+1+...+1` nests as deep as it is long
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Lambda):
            continue
        if isinstance(node, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr, ast.ListComp, ast.SetComp,
                             ast.DictComp, ast.GeneratorExp)):
            return False
        todo += [child for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr)]
    return True


def ipython_call(stmt: ast.stmt) -> str | None:
    """Why a statement that is one of IPython's rewritten magics or shell escapes is left out, else None."""
    value = getattr(stmt, "value", None)
    if (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
            and isinstance(value.func.value, ast.Call) and isinstance(value.func.value.func, ast.Name)
            and value.func.value.func.id == "get_ipython"):
        return IPYTHON_CALLS.get(value.func.attr, "an IPython command")
    return None


def is_future(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"


def first_line(stmt: ast.stmt) -> int:
    return min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])


def is_compound(stmt: ast.stmt) -> bool:
    return isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Try))


def segment(python: str, stmt: ast.stmt) -> str:
    """The statement's own text. A compound statement (def, class, try) starts a line and takes the rest
    of its last line, decorators included; a simple one may share its line with others (`import os; f()`)."""
    if is_compound(stmt):
        return "\n".join(python.splitlines()[first_line(stmt) - 1:stmt.end_lineno])
    return ast.get_source_segment(python, stmt)


def shorten(text: str, more: bool = False, width: int = 80) -> str:
    text = text.replace("`", "'")
    if len(text) > width:
        text, more = text[:width - 4].rstrip(), True
    return text + (" ..." if more else "")


def bound_names(stmts: list[ast.stmt]) -> set[str]:
    """Names that the kept top-level statements define."""
    names = set()
    for stmt in stmts:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(stmt.name)
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in stmt.names}
        elif isinstance(stmt, ast.Try):
            parts = stmt.body + stmt.orelse + stmt.finalbody + [s for h in stmt.handlers for s in h.body]
            names |= bound_names(parts)
        else:
            names |= assigned_names([stmt])
    return names


def assigned_names(stmts: list[ast.stmt]) -> set[str]:
    """Module-level names that `stmts` set (assignments, loop variables, `with ... as`), not looking inside
    the functions, classes, lambdas and comprehensions they contain."""
    names, todo = set(), list(stmts)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        elif isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        todo += ast.iter_child_nodes(node)
    return names


def global_uses(source: str) -> set[str]:
    """Names the module reads as globals: at top level, and free names inside its functions and classes
    (Python's own symbol tables; they compile nothing that runs)."""
    try:
        top = symtable.symtable(source, "cnn.py", "exec")
    except (SyntaxError, ValueError, RecursionError):
        return set()
    names, todo = set(), [top]
    while todo:
        table = todo.pop()
        todo += table.get_children()
        names |= {s.get_name() for s in table.get_symbols()
                  if s.is_referenced() and (table is top or s.is_global())}
    return names


def left_out_statements(nb) -> list[ast.stmt]:
    """The top-level statements that were left out, over all code cells (those that parse)."""
    out = []
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            tree = parse_cell(source_text(cell.get("source", "")))[0]
            if tree is not None:
                out += [s for s in tree.body if leave_out_reason(s) is not None]
    return out
