"""`python -m autograder otter OUT.zip`: an otter-grader autograder zip that grades with this grader.

otter-grader's `otter generate` writes what Gradescope runs (setup.sh, run_autograder, environment.yml,
otter_config.json). We give it one OK-format test file per check and one for the mark, each asking
`cnn_grade` (see otter_plugin.py), and put what the grader needs at the zip's root: the autograder
package with its hidden checks, the public helpers of the assignment package, and grading.yml. The
reference solution is not needed and not packed.
"""
from __future__ import annotations

import importlib.metadata
import json
import pprint
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

import assignment

from ..practical.config import Config, load_config, resolved_yaml
from ..practical.paths import PACKAGE, TEMPLATES

PLUGIN = "autograder.integrations.otter_plugin.GradeInSandbox"
CPU_TORCH = "--extra-index-url https://download.pytorch.org/whl/cpu"  # Gradescope has no GPU


class OtterZipError(RuntimeError):
    """The zip cannot be built; the message says why and what to do."""


def ok_test(name: str, cases: list[dict], points) -> str:
    """An OK-format test file: `test = {...}` with one doctest suite."""
    test = {"name": name, "points": points, "suites": [{"type": "doctest", "cases": cases}]}
    return f"OK_FORMAT = True\n\ntest = {pprint.pformat(test, indent=1, width=100, sort_dicts=False)}\n"


def ok_test_files(config: Config) -> dict[str, str]:
    """file name -> OK test: one per check (0 points; hidden unless grading.yml shows it), then the mark.

    The mark's two cases carry the points, as in GitHub Classroom: S is worth S's points, S+ the rest.
    """
    files = {}
    for i, (name, spec) in enumerate(config.checks.items(), start=1):
        case = {"name": spec.title, "code": f">>> cnn_grade.check({name!r})\npassed\n",
                "hidden": spec.visibility != "visible"}
        files[f"check_{i}_{name}.py"] = ok_test(name, [case], 0)
    s, s_plus = config.points["S"], config.points["S+"]
    if not 0 <= s <= s_plus:
        raise OtterZipError(f"{config.path}: points must satisfy 0 <= S <= S+, got S={s}, S+={s_plus}")
    cases = [{"name": f"Mark {m}", "code": f">>> cnn_grade.has_mark({m!r})\n{m} reached\n", "hidden": False}
             for m in ("S", "S+")]
    files["mark.py"] = ok_test("mark", cases, [s, s_plus - s])
    return files


def otter_config(config: Config) -> dict:
    """Students see the score and our feedback.md (otter's "output") at once, and otter's test entries
    after publishing, or never if a check is "hidden". otter's summary of public tests is left out: it
    calls a test whose cases are all hidden "passed"."""
    never = any(spec.visibility == "hidden" for spec in config.checks.values())
    return {"plugins": [PLUGIN], "show_hidden": not never, "force_public_test_summary": False}


def requirements() -> list[str]:
    """The project's own dependencies (torch pinned as the grader uses it), CPU builds, and pytest."""
    try:
        deps = [r for r in importlib.metadata.requires("cnn-practical") or [] if "extra ==" not in r]
    except importlib.metadata.PackageNotFoundError:
        raise OtterZipError("this project is not installed, so its requirements are unknown: "
                            "pip install -e '.[test]'") from None
    return [CPU_TORCH, *deps, "pytest>=8"]


def grader_files() -> dict[str, Path]:
    """Path in the zip -> file here: the autograder package (hidden checks included) and the helpers.
    Nothing of reference/, and no student-facing templates. grading.yml is written apart, its bases merged in."""
    files = {}
    for path in sorted(PACKAGE.rglob("*")):
        rel = path.relative_to(PACKAGE)
        if path.is_file() and "__pycache__" not in rel.parts and not path.is_relative_to(TEMPLATES):
            files[f"autograder/{rel.as_posix()}"] = path
    helpers = Path(assignment.__file__).resolve().parent
    # every public helper but the stub, as job.py copies them into each job (practical.py included)
    files.update({f"assignment/{p.name}": p for p in sorted(helpers.glob("*.py")) if p.name != "cnn.py"})
    return files


def build_otter_zip(out: Path, config_path: str | Path) -> Path:
    """Write the autograder zip to `out`; returns it."""
    try:
        from otter.generate import main as otter_generate
    except ImportError:
        raise OtterZipError("otter-grader is not installed: pip install otter-grader==7.0.0 "
                            "(it is in this project's test extra: pip install -e '.[test]')") from None
    config_path = Path(config_path).resolve()
    config = load_config(config_path)  # fail now on a bad config, not on Gradescope
    tests = ok_test_files(config)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "tests").mkdir()
        for name, text in tests.items():
            (tmp / "tests" / name).write_text(text)
        (tmp / "requirements.txt").write_text("\n".join(requirements()) + "\n")
        (tmp / "otter_config.json").write_text(json.dumps(otter_config(config), indent=2))
        built = tmp / "autograder.zip"
        otter_generate(tests_dir=str(tmp / "tests"), output_path=str(built), config=str(tmp / "otter_config.json"),
                       requirements=str(tmp / "requirements.txt"), no_environment=True,
                       python_version=f"{sys.version_info.major}.{sys.version_info.minor}")
        with zipfile.ZipFile(built, "a", compression=zipfile.ZIP_DEFLATED) as zf:
            for arcname, path in grader_files().items():
                zf.write(path, arcname)
            zf.writestr("grading.yml", resolved_yaml(config_path))
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(built, out)
    return out
