"""`python -m autograder release`: the student template holds no secret, and its feedback workflow works.

The workflow's commands are run here as a `run:` step runs them (`sh -c`, in the repository root, with
only PATH and HOME, plus MNIST_ROOT because this machine is offline).
"""
from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from autograder.release import release, render
from autograder.practical.config import load_config, resolved_yaml
from specs import FAST

ROOT = Path(__file__).resolve().parents[2]
STUDENT_FILES = {
    "README.md", "requirements.txt", "pyproject.toml", ".gitignore", ".github/workflows/feedback.yml",
    *(f"assignment/{name}" for name in ("__init__.py", "__main__.py", "cnn.py", "data.py", "datasets.py",
                                        "solution.py", "notebook.py", "plots.py", "practical.py", "practical.json",
                                        "README.md",
                                        "practical.ipynb", "experiments.py", "experiments.yml",
                                        "tests/__init__.py", "tests/conftest.py", "tests/test_public.py")),
}
# Every `uses:` must be one of these, at a major version: plain GitHub Actions, no classroom service's.
ALLOWED_ACTIONS = {"actions/checkout", "actions/setup-python"}
TOOLS = {"pip", "pytest"}  # modules that the install step provides
GRADER_OUTPUTS = {"results.json", "feedback.md", "report.html"}  # what `grade --out DIR` writes


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("release") / "cnn-practical"
    proc = subprocess.run([sys.executable, "-m", "autograder", "release", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.fixture(scope="module")
def workflow(template) -> dict:
    return yaml.safe_load((template / ".github" / "workflows" / "feedback.yml").read_text())


@pytest.fixture(scope="module")
def steps(workflow) -> list[dict]:
    return workflow["jobs"]["feedback"]["steps"]


def step(steps, name: str) -> dict:
    return next(s for s in steps if s.get("name") == name)


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


# --- what the template holds ---------------------------------------------------------------------

def test_template_holds_exactly_the_student_files(template):
    assert files_under(template) == STUDENT_FILES
    for name in STUDENT_FILES:
        if name.startswith("assignment/"):
            assert (template / name).read_bytes() == (ROOT / name).read_bytes(), name


def test_every_file_of_the_assignment_package_is_shipped():
    """A file added to assignment/ must be listed in release.py: shipped on purpose, or not at all."""
    package = {f"assignment/{p}" for p in files_under(ROOT / "assignment")
               if "__pycache__" not in p and ".ipynb_checkpoints" not in p}
    assert package <= STUDENT_FILES


def reference_body_lines() -> set[str]:
    """Lines (20+ characters) of reference/cnn.py's function bodies, less those the helpers and handout
    share with it on purpose (a line like `device = next(model.parameters()).device`)."""
    source = (ROOT / "reference" / "cnn.py").read_text()
    lines, body = source.splitlines(), set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            start = node.body[1] if ast.get_docstring(node) and len(node.body) > 1 else node.body[0]
            body |= {line.split("#")[0].strip() for line in lines[start.lineno - 1:node.end_lineno]}
    public = ""
    for path in (ROOT / "assignment").rglob("*"):
        if path.suffix == ".ipynb":
            public += "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
        elif path.suffix in (".py", ".md") and path.name != "cnn.py":
            public += "\n" + path.read_text()
    shared = {line.split("#")[0].strip() for line in public.splitlines()}
    return {line for line in body - shared if len(line) >= 20}


def test_template_gives_away_no_secret(template):
    secret_lines = reference_body_lines()
    assert len(secret_lines) > 30  # the search looks for something
    secret_files = {p.read_bytes() for folder in ("autograder", "reference") for p in (ROOT / folder).rglob("*")
                    if p.is_file() and p.stat().st_size > 0 and not {"__pycache__", "templates"} & set(p.parts)}
    secret_files.add((ROOT / "grading.yml").read_bytes())
    hidden_defs = {line.strip() for p in (ROOT / "autograder" / "judging" / "checks").glob("test_*.py")
                   for line in p.read_text().splitlines() if line.startswith("def ")}
    assert hidden_defs
    for path in sorted(p for p in template.rglob("*") if p.is_file()):
        name = path.relative_to(template).as_posix()
        assert not re.search(r"(^|/)(autograder|reference)/|grading\.yml$", name), name
        assert path.read_bytes() not in secret_files, f"{name} is a copy of a grader or reference file"
        text = path.read_text()
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        found = [line for line in text.splitlines() if line.split("#")[0].strip() in secret_lines]
        assert not found, f"{name} repeats reference/cnn.py: {found[:3]}"
        assert not [d for d in hidden_defs if d in text], f"{name} holds a hidden check"


def test_release_refuses_a_stub_that_holds_the_solution(tmp_path, monkeypatch):
    templates = tmp_path / "templates"  # the stub is rendered from its template: put the solution there
    shutil.copytree(render.TEMPLATES, templates)
    shutil.copy(ROOT / "reference" / "cnn.py", templates / render.RENDERED["cnn.py"])
    monkeypatch.setattr(render, "TEMPLATES", templates)
    with pytest.raises(release.ReleaseError, match="assignment/cnn.py repeats .* lines of reference/cnn.py"):
        release.write_template(tmp_path / "out", load_config())
    assert not (tmp_path / "out").exists()


def test_release_refuses_a_folder_in_use(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    proc = subprocess.run([sys.executable, "-m", "autograder", "release", str(tmp_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert files_under(tmp_path) == {"notes.txt"}


def requirement_lines(text: str) -> set[str]:
    return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}


def test_requirements_pin_the_graders_torch_and_cover_the_notebook(template):
    ours = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    student = tomllib.loads((template / "pyproject.toml").read_text())["project"]
    reqs = set(student["dependencies"]) | set(student["optional-dependencies"]["test"])
    assert set(ours) <= reqs  # torch==2.14.1 and torchvision==0.29.1 as the grader runs them
    assert {"torch==2.14.1", "torchvision==0.29.1"} <= reqs
    assert {r.split(">=")[0] for r in reqs} >= {"pytest", "notebook", "ipykernel"}


def test_requirements_install_the_package_itself(template):
    """`pip install -r requirements.txt` must install the assignment package (the notebook imports
    `from assignment import plots` from its own folder) and the same dependencies as pyproject.toml,
    declared there only."""
    assert requirement_lines((template / "requirements.txt").read_text()) == {"-e .[test]"}


# --- the workflow, read ----------------------------------------------------------------------------

def test_workflow_is_plain_github_actions(workflow, steps):
    """Feedback on every push, reading the repository only, with no classroom service's actions: GitHub
    Classroom, whose reporting actions the template used, was retired on 28 August 2026."""
    on = workflow.get("on", workflow.get(True))  # an unquoted `on:` parses as True
    assert "push" in on
    assert workflow["permissions"] == {"contents": "read"}
    for s in steps:
        if "uses" in s:
            action, _, version = s["uses"].partition("@")
            assert action in ALLOWED_ACTIONS and re.fullmatch(r"v\d+", version), s["uses"]
    text = yaml.safe_dump(workflow)
    assert "classroom" not in text.lower() and "autograding" not in text


def test_hidden_grading_is_skipped_without_the_secret_and_keeps_the_token_out(workflow, steps):
    job = workflow["jobs"]["feedback"]
    assert job["env"]["HIDDEN_GRADING"] == "${{ secrets.CNN_GRADER_TOKEN != '' && vars.CNN_GRADER_REPO != '' }}"
    checkout = step(steps, "Check out the hidden grader")
    assert checkout["with"]["token"] == "${{ secrets.CNN_GRADER_TOKEN }}"
    assert checkout["with"]["repository"] == "${{ vars.CNN_GRADER_REPO }}"
    assert checkout["with"]["persist-credentials"] is False  # else the token sits in .grader/.git/config
    for name in ("Check out the hidden grader", "Grade with the hidden checks"):
        assert "env.HIDDEN_GRADING == 'true'" in step(steps, name)["if"], name
    text = yaml.safe_dump(workflow)
    assert text.count("secrets.") == 2  # the condition and the checkout; no step's environment has it


def test_workflow_says_it_is_feedback(template):
    head = (template / ".github" / "workflows" / "feedback.yml").read_text().split("\nname:")[0]
    assert "FEEDBACK" in head and "grade-all" in head


def commands(steps) -> list[tuple[str, str]]:
    """(working directory, command) of every shell command the workflow runs."""
    found = []
    for s in steps:
        cmd = s.get("run") or s.get("with", {}).get("command")
        if cmd:
            found.append((s.get("working-directory", "."), cmd))
    return found


def test_commands_name_only_what_exists(template, steps):
    grade = step(steps, "Grade with the hidden checks")
    assert grade["working-directory"] == ".grader" and (ROOT / "autograder" / "__main__.py").is_file()
    assert (ROOT / "grading.yml").is_file()  # the default config of `grade`, in the instructor's repository
    out = re.search(r'--out "\$GITHUB_WORKSPACE/([\w-]+)"', grade["run"]).group(1)
    produced = {out} | {f"{out}/{name}" for name in GRADER_OUTPUTS}
    for workdir, cmd in commands(steps):
        root = ROOT if workdir == ".grader" else template  # .grader is the instructor's repository
        tokens = iter(shlex.split(cmd.replace("$GITHUB_WORKSPACE/", "").replace("$GITHUB_WORKSPACE", ".")))
        for token in tokens:
            if token == "-m":
                module = next(tokens)
                assert module in TOOLS or (root / module / "__main__.py").is_file(), (cmd, module)
            elif token == "-c":
                for path in re.findall(r"open\('([^']+)'\)", next(tokens)):
                    assert path in produced, (cmd, path)
            elif token.startswith(("-", "http", "$")) or token in (".", ">>"):
                continue
            elif "/" in token or token.endswith((".txt", ".py", ".md", ".json", ".yml")):
                assert token in produced or (root / token).exists(), (cmd, token)


# --- the workflow, run ----------------------------------------------------------------------------

def run_command(cmd: str, workspace: Path, mnist_root: Path | None = None, **extra) -> subprocess.CompletedProcess:
    """As a `run:` step runs it: a shell, in the repository root, with PATH and HOME only."""
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin", "HOME": os.environ["HOME"],
           **({"MNIST_ROOT": str(mnist_root)} if mnist_root else {}), **extra}
    return subprocess.run(["/bin/sh", "-c", cmd], cwd=workspace, env=env, capture_output=True, text=True,
                          timeout=600)


def with_solution(template: Path, tmp_path: Path, solution: Path) -> Path:
    workspace = tmp_path / "workspace"
    shutil.copytree(template, workspace)
    shutil.copy(solution, workspace / "assignment" / "cnn.py")
    return workspace


@pytest.mark.parametrize("solution, passes", [("reference/cnn.py", True), ("assignment/cnn.py", False)],
                         ids=["reference", "stub"])
def test_public_checks_command(template, steps, tmp_path, mnist_root, solution, passes):
    workspace = with_solution(template, tmp_path, ROOT / solution)
    proc = run_command(step(steps, "Public checks")["run"], workspace, mnist_root)
    assert (proc.returncode == 0) == passes, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert ("passed" if passes else "not implemented yet") in proc.stdout


def test_hidden_grading_step_grades_the_workspace(template, steps, tmp_path, mnist_root):
    """The grading step, with .grader as a copy of this repository holding the short-budget config, on the
    stub (no training, so quick); then the job-summary step reads what it wrote."""
    workspace = with_solution(template, tmp_path, ROOT / "assignment" / "cnn.py")
    grader = workspace / ".grader"
    for folder in ("autograder", "assignment"):
        shutil.copytree(ROOT / folder, grader / folder, ignore=shutil.ignore_patterns("__pycache__"))
    (grader / "grading.yml").write_text(resolved_yaml(FAST))
    grade = step(steps, "Grade with the hidden checks")
    proc = run_command(grade["run"], grader, mnist_root, GITHUB_WORKSPACE=str(workspace))
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((workspace / "grading-out" / "results.json").read_text())
    assert results["extra_data"]["mark"] is None
    summary = tmp_path / "summary.md"
    proc = run_command(step(steps, "Feedback in the job summary")["run"], workspace, GITHUB_STEP_SUMMARY=str(summary))
    assert proc.returncode == 0 and "**Mark: none**" in summary.read_text()
