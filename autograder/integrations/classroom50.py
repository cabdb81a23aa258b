"""Classroom 50: `python -m autograder classroom50 OUT` writes the assignment's autograder bundle, and
`run_bundle` is what that bundle's autograder.py runs on each submission.

Classroom 50's runner downloads the bundle (the teacher's `<classroom>/autograders/<slug>/`, published as
`<slug>.tar.gz` on the organisation's Pages site, at most 10 MiB), runs its `autograder.py` with the
student's checkout as the working directory, and publishes `result.json` (classroom50/result/v1) as a
Release with `release-body.md` as its text. The bundle holds this grader (the autograder package with
its hidden checks, the assignment's public helpers), the config it grades with, and `bundle.json`, the
facts its autograder.py needs. It is public (behind at most a secret path), and student code runs in
the same job: what it reports is feedback, and the marks that count come from `grade-all`.

The grade job stops after 15 minutes, setup and publishing included, so this route has its own time
budget (ROUTE_* below), written into the bundle's config and told to the student in release-body.md.
Imports no torch; the runtime part imports nothing beyond the standard library until it grades.
"""
from __future__ import annotations

import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from ..practical.paths import TEMPLATES
from ..reports import outputs
from ..reports.results_file import Results, ResultsError, read

TEMPLATE = TEMPLATES / "classroom50_autograder.py"
DEFAULT_SLUG = "cnn-practical"
MAX_BUNDLE_BYTES = 10 * 1024 * 1024  # what Pages may serve as one bundle
CPU_TORCH = "https://download.pytorch.org/whl/cpu"  # the runners have no GPU: CPU wheels, a fifth the size

# The route's budget. The job's cap is Classroom 50's; the rest is this grader's choice.
JOB_CAP_S = 900  # the grade job stops after 15 minutes: runner setup, autograder.py and publishing
RUNNER_S = 150  # kept for the runner's own steps around autograder.py (checkout, Python, bundle; Release)
ROUTE_TRAIN_S = 360  # train()'s wall limit here (grading.yml's limits.wall_seconds, if lower, wins)
STOP_GRACE_S = 20  # after SIGTERM at the deadline, how long the grader may take to end its sandbox

REPORT_DIR = "grading-report"  # in the checkout: what release_assets attaches
PUBLISHED = tuple(o.name for o in (outputs.PAGE, *outputs.FIGURES))  # the page and its figures, as files
RELEASE_ASSETS = [f"{REPORT_DIR}/{name}" for name in PUBLISHED]
RUNTIME = {"runs-on": "ubuntu-latest", "python": "3.12"}  # torch's CPU wheels exist for it
RESULT_SCHEMA = "classroom50/result/v1"
SUCCESS, FAILURE, ERROR = "success", "failure", "error"  # $GITHUB_OUTPUT's status, as the runner reads it
SKIPPED_DEPENDENCIES = ("dask",)  # grade-all's: one grade needs none of it


class BundleError(ValueError):
    """The bundle cannot be built; the message says why and what to do."""


# ---------------------------------------------------------------------------------------------------
# Building the bundle (on the instructor's machine)
# ---------------------------------------------------------------------------------------------------

def route_config(config_path: str | Path) -> tuple[dict, dict]:
    """The config the bundle grades with (its bases merged in, the route's budget applied) and what was
    changed, {"wall_seconds": (course's, route's), "challenge": bool dropped}."""
    from ..practical.config import load_raw

    raw = load_raw(config_path)
    limits = raw["limits"]
    wall = min(limits["wall_seconds"], ROUTE_TRAIN_S)
    changed = {"wall_seconds": (limits["wall_seconds"], wall), "challenge": raw.get("challenge") is not None}
    limits["cpu_seconds"] = min(limits["cpu_seconds"], math.ceil(limits["cpu_seconds"] * wall / limits["wall_seconds"]))
    limits["wall_seconds"] = wall
    limits["phases"] = {name: min(seconds, wall) for name, seconds in limits["phases"].items()}
    raw.pop("challenge", None)  # its own run would take minutes more, and it never changes the mark
    return raw, changed


def requirements() -> list[str]:
    """The grader's dependencies as this project pins them (pyproject.toml, or the installed project's
    metadata), CPU torch, without grade-all's."""
    import importlib.metadata

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    try:
        import tomllib

        deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    except (ImportError, OSError, KeyError):
        try:
            deps = [r for r in importlib.metadata.requires("cnn-practical") or [] if "extra ==" not in r]
        except importlib.metadata.PackageNotFoundError:
            raise BundleError(f"cannot read the project's dependencies from {pyproject}, and the project is not "
                              "installed: pip install -e '.[test]'") from None
    return [f"--extra-index-url {CPU_TORCH}", *(d for d in deps if not d.startswith(SKIPPED_DEPENDENCIES))]


def bundle_files(config_path: str | Path, variant: str | None, slug: str) -> dict[str, bytes]:
    """Path in the bundle -> content."""
    import yaml

    from ..practical.config import ConfigError, load_config, parse_config
    from .otter_zip import grader_files
    from ..practical.spec import SpecError, variant_spec

    config = load_config(config_path)  # fail now on a bad config, not on every student's push
    try:
        variant_spec(config.practical, config.variants, variant)
    except SpecError as err:
        raise BundleError(f"{config.path}: {err}") from None
    points = {**config.points, **({"experiments": config.experiments.points} if config.experiments else {})}
    if not all(float(p).is_integer() and p >= 0 for p in points.values()):
        raise BundleError(f"{config.path}: Classroom 50 scores are whole numbers; give whole points "
                          f"(got {', '.join(f'{k}={v:g}' for k, v in points.items())})")
    raw, changed = route_config(config_path)
    try:
        parse_config(raw, f"{config.path} with Classroom 50's budget")
    except ConfigError as err:
        raise BundleError(str(err)) from None
    facts = {
        "assignment": slug, "variant": variant,
        "deadline_s": JOB_CAP_S - RUNNER_S, "stop_grace_s": STOP_GRACE_S,
        "train_seconds": {"course": changed["wall_seconds"][0], "here": changed["wall_seconds"][1]},
        "challenge_left_out": changed["challenge"],
        "checks": {name: spec.title for name, spec in config.checks.items()},
        "points": {mark: int(p) for mark, p in config.points.items()},
        "report_dir": REPORT_DIR, "release_assets": RELEASE_ASSETS,
    }
    files = {name: path.read_bytes() for name, path in grader_files().items()}
    files.update({
        "autograder.py": TEMPLATE.read_bytes(),
        "grading.yml": yaml.safe_dump(raw, sort_keys=False).encode(),
        "requirements.txt": ("\n".join(requirements()) + "\n").encode(),
        "bundle.json": (json.dumps(facts, indent=2) + "\n").encode(),
    })
    return dict(sorted(files.items()))


def tarball(files: dict[str, bytes], slug: str) -> bytes:
    """The bundle as Pages serves it: <slug>/... in a gzipped tar, the same bytes for the same files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{slug}/{name}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def write_bundle(out: Path, config_path: str | Path, variant: str | None = None, slug: str | None = None) -> dict:
    """Write OUT/autograders/<slug>/ (to commit under <classroom>/ in the classroom50 repository),
    OUT/<slug>.assignment.json (the assignment's `runtime` and `release_assets`) and OUT/<slug>.tar.gz (the
    tarball Pages will serve, to try it and to check its size). Returns what was written."""
    slug = slug or (f"{DEFAULT_SLUG}-{variant}" if variant else DEFAULT_SLUG)
    if not slug.replace("-", "").replace("_", "").isalnum() or slug != slug.lower():
        raise BundleError(f"assignment slug {slug!r}: use lowercase letters, digits and hyphens, as Classroom 50 does")
    files = bundle_files(config_path, variant, slug)
    packed = tarball(files, slug)
    if len(packed) > MAX_BUNDLE_BYTES:
        raise BundleError(f"the bundle is {len(packed) / 2**20:.1f} MiB packed; Classroom 50 serves at most "
                          f"{MAX_BUNDLE_BYTES / 2**20:.0f} MiB")
    folder = out / "autograders" / slug
    if folder.exists():
        shutil.rmtree(folder)
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    entry = {"runtime": RUNTIME, "release_assets": RELEASE_ASSETS}
    (out / f"{slug}.assignment.json").write_text(json.dumps(entry, indent=2) + "\n")
    (out / f"{slug}.tar.gz").write_bytes(packed)
    return {"slug": slug, "folder": folder, "entry": out / f"{slug}.assignment.json", "tarball": out / f"{slug}.tar.gz",
            "bytes": len(packed), "files": len(files)}


# ---------------------------------------------------------------------------------------------------
# Running on the runner (the bundle's autograder.py calls run_bundle)
# ---------------------------------------------------------------------------------------------------

def replace_file(path: Path, text: str) -> None:
    """Write `text` at `path` in the checkout, replacing whatever the repository had there (a link, a
    folder, a forged result.json) instead of writing through it."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    with open(path, "x", encoding="utf-8") as f:
        f.write(text)


def route_note(facts: dict) -> str:
    """What the student should know about grading on this route, first in release-body.md."""
    seconds = facts["train_seconds"]
    lines = ["> **Feedback from Classroom 50's runner.** Your instructor's grading of your repository gives the "
             "marks that count; this run shows what it would say."]
    if seconds["here"] < seconds["course"]:
        lines.append(f"> The runner's job stops after {JOB_CAP_S // 60} minutes, so here `train()` gets at most "
                     f"{seconds['here']} s (the course's grading gives it {seconds['course']} s); the training budget "
                     "and the bars are the course's.")
    if facts["challenge_left_out"]:
        lines.append("> The optional challenge is not run here; your instructor's grading runs it.")
    if facts.get("variant"):
        lines.append(f"> Graded as variant {facts['variant']} of the practical.")
    return "\n>\n".join(lines) + "\n\n"


def tests_from(results: Results | None, facts: dict, why: str) -> list[dict]:
    """result.json's tests: the mark's two tests ("Mark S", "Mark S+") carry the points, each check is a
    0-point test with its feedback, and a marked experiments table its own. From the grader's results.json
    (Gradescope's format), or, where there is none, every check failed with `why`."""
    s, s_plus = facts["points"]["S"], facts["points"]["S+"]
    mark = None if results is None else results.extra_data.mark
    tests = [{"test-name": "Mark S (or S+)", "passed": mark in ("S", "S+"), "score": s if mark in ("S", "S+") else 0,
              "max-score": s},
             {"test-name": "Mark S+", "passed": mark == "S+", "score": s_plus - s if mark == "S+" else 0,
              "max-score": s_plus - s}]
    if results is None:
        return tests + [{"test-name": title, "passed": False, "score": 0, "max-score": 0, "message": why}
                        for title in facts["checks"].values()]
    for test in results.tests[1:]:  # the first is Gradescope's "Mark", split in two above
        tests.append({"test-name": test.name or "check", "passed": test.status == "passed",
                      "score": int(round(test.score)), "max-score": int(round(test.max_score)),
                      "message": test.output})
    return tests


def result_document(tests: list[dict], env: dict) -> dict:
    """classroom50/result/v1, without what the runner stamps itself (owner, assignment_type, datetime,
    graded_at, submitted_by)."""
    commit = env.get("COMMIT_URL", "")
    return {"schema": RESULT_SCHEMA, "classroom": env.get("CLASSROOM", ""), "assignment": env.get("ASSIGNMENT", ""),
            "submission": env.get("SUBMISSION_TAG", ""), "commit": commit, "release": env.get("RELEASE_URL", ""),
            "review": env.get("REVIEW_URL") or commit,
            "score": sum(t["score"] for t in tests), "max-score": sum(t["max-score"] for t in tests), "tests": tests}


def run_grader(bundle: Path, checkout: Path, out: Path, facts: dict, deadline: float) -> int | None:
    """`python -m autograder grade CHECKOUT` from the bundle, its output in the job's log; its exit code,
    or None if it was stopped at `deadline`. The bundle's own packages come first on the path, never the
    checkout's `assignment` package."""
    cmd = [sys.executable, "-m", "autograder", "grade", str(checkout), "--out", str(out),
           "--config", str(bundle / "grading.yml")]
    if facts.get("variant"):
        cmd += ["--variant", facts["variant"]]
    env = {**os.environ, "PYTHONPATH": str(bundle)}
    proc = subprocess.Popen(cmd, cwd=bundle, env=env, start_new_session=True)
    try:
        return proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # the grader ends its sandbox and exits
        try:
            proc.wait(timeout=facts["stop_grace_s"])
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return None


def outcome(code: int | None, results: Results | None, facts: dict) -> tuple[str, str, str]:
    """(status, one-line summary, why there is no result) from how `grade` ended."""
    mark = None if results is None else results.extra_data.mark
    if code is None:
        return ERROR, "not graded: the grading ran out of the runner's time", (
            f"The grading did not finish within the runner's {JOB_CAP_S // 60} minutes; push again, or ask your "
            "instructor.")
    if code == 3 or (results is not None and results.extra_data.regrade):
        return ERROR, "inconclusive: regrade, the machine was too busy", (
            "Inconclusive: the runner was too busy for your code to finish; this is not your fault. Push again "
            "to regrade.")
    if code != 0 or results is None:
        return ERROR, "not graded: the grader itself failed", "The grader itself failed; this is not your fault."
    points = facts["points"]
    summary = f"mark {mark or 'none'} ({points.get(mark, 0)}/{points['S+']} points)"
    return (SUCCESS if mark == "S+" else FAILURE), summary, ""


def run_bundle(bundle: Path, checkout: Path, started: float, env=None) -> str:
    """Grade the submission in `checkout` with the grader in `bundle`; write result.json, release-body.md
    and the report (report.html and figures, where release_assets names them) into the checkout, and
    status= and summary= into $GITHUB_OUTPUT. Returns the status. `started`: time.monotonic() when
    autograder.py started, from which the route's deadline counts."""
    env = os.environ if env is None else env
    facts = json.loads((bundle / "bundle.json").read_text())
    deadline = started + facts["deadline_s"]
    with tempfile.TemporaryDirectory(prefix="cnn-grading-", dir=env.get("RUNNER_TEMP") or None) as tmp:
        out = Path(tmp) / "out"
        code = run_grader(bundle, checkout, out, facts, deadline)
        try:
            results = read(out / outputs.RESULTS.name)
        except ResultsError as err:  # said in the job's log; the student sees that the grader failed
            print(f"classroom50: {err}", file=sys.stderr, flush=True)
            results = None
        status, summary, why = outcome(code, results, facts)
        try:
            feedback = (out / outputs.FEEDBACK.name).read_text(encoding="utf-8")
        except OSError:
            feedback = ""
        tests = tests_from(results if status != ERROR else None, facts, why)
        replace_file(checkout / "result.json", json.dumps(result_document(tests, env), indent=2) + "\n")
        body = route_note(facts) + (f"**{why}**\n\n" if why else "") + feedback
        replace_file(checkout / "release-body.md", body)
        report = checkout / facts["report_dir"]
        if report.is_symlink() or report.is_file():
            report.unlink()
        elif report.is_dir():
            shutil.rmtree(report)
        report.mkdir()
        for name in PUBLISHED:
            if (out / name).is_file():
                shutil.copyfile(out / name, report / name)
    if env.get("GITHUB_OUTPUT"):
        with open(env["GITHUB_OUTPUT"], "a", encoding="utf-8") as f:
            f.write(f"status={status}\nsummary={' '.join(summary.split())}\n")
    print(f"classroom50: status={status}: {summary}", flush=True)
    return status
