"""The Classroom 50 bundle, run as Classroom 50's runner runs it: downloaded from a web server on
127.0.0.1 (as Pages serves it), unpacked, its autograder.py run in a git checkout of the released template
with the runner's variables, its result.json stamped as the runner stamps it and checked against the
published schema's rules (tests/integrations/classroom50_result_v1.json) and the two it cannot state."""
import functools
import http.server
import io
import json
import shutil
import subprocess
import sys
import tarfile
import threading
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
import yaml

from autograder.release import release
from autograder.practical.config import load_config, load_raw
from autograder.integrations import classroom50
from specs import TINY

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).with_name("classroom50_result_v1.json")).read_text())
CLASSROOM, SLUG, USER = "cs101", "cnn-practical", "alice"
HANG_AT_IMPORT = "import time\ntime.sleep(3600)\n"


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    """tests/grading-tiny.yml with a short import budget, so that a hang at import ends in seconds."""
    raw = load_raw(TINY)
    raw["limits"]["phases"]["import"] = 15
    path = tmp_path_factory.mktemp("config") / "tiny.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def pages(tmp_path_factory, config):
    """The bundle built by `python -m autograder classroom50`, its tarball served over HTTP at the path
    Pages gives it: <base>/<classroom>/autograders/<slug>.tar.gz. Yields the base URL."""
    out = tmp_path_factory.mktemp("bundle")
    proc = subprocess.run([sys.executable, "-m", "autograder", "classroom50", str(out), "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    site = tmp_path_factory.mktemp("pages")
    (site / CLASSROOM / "autograders").mkdir(parents=True)
    shutil.copy(out / f"{SLUG}.tar.gz", site / CLASSROOM / "autograders" / f"{SLUG}.tar.gz")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def checkout_of(tmp_path: Path, config: Path, cnn: str | None) -> Path:
    """A student repository made from the released template, with `cnn` as its assignment/cnn.py (None: the
    stub), committed and tagged submit/..., as the runner checks it out."""
    repo = tmp_path / f"{CLASSROOM}-{SLUG}-{USER}"
    release.write_template(repo, load_config(config))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "template")
    if cnn is not None:
        (repo / "assignment" / "cnn.py").write_text(cnn)
        git(repo, "-c", "user.name=s", "-c", "user.email=s@s", "commit", "-qam", "my solution")
    return repo


def run_as_runner(repo: Path, base_url: str, tmp_path: Path, mnist_root: Path) -> tuple[dict, dict, str]:
    """Download and unpack the bundle, run its autograder.py in `repo` with the runner's variables, then stamp
    result.json as the runner does. Returns (result.json, $GITHUB_OUTPUT's keys, release-body.md)."""
    sha = git(repo, "rev-parse", "HEAD")
    committed = datetime.fromisoformat(git(repo, "log", "-1", "--format=%cI")).astimezone(timezone.utc)
    tag = f"submit/{committed:%Y-%m-%dT%H-%M-%SZ}-{sha[:7]}"
    git(repo, "tag", tag)
    with urllib.request.urlopen(f"{base_url}/{CLASSROOM}/autograders/{SLUG}.tar.gz", timeout=30) as response:
        packed = response.read()
    assert len(packed) <= 10 * 1024 * 1024  # what Pages may serve
    runtime = tmp_path / "runtime"
    with tarfile.open(fileobj=io.BytesIO(packed)) as tar:
        tar.extractall(runtime, filter="data")
    entrypoint = runtime / SLUG / "autograder.py"
    github = f"https://github.com/org/{repo.name}"
    output = tmp_path / "github_output"
    output.write_text("")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "MNIST_ROOT": str(mnist_root),
           "CLASSROOM": CLASSROOM, "ASSIGNMENT": SLUG, "SUBMISSION_TAG": tag, "USERNAME": USER, "OWNER": USER,
           "ASSIGNMENT_TYPE": "individual", "COMMIT_URL": f"{github}/commit/{sha}",
           "RELEASE_URL": f"{github}/releases/tag/{tag.replace('/', '%2F')}", "REVIEW_URL": f"{github}/compare/a...{sha}",
           "CLASSROOM50_BUNDLE_DIR": str(entrypoint.parent), "PAGES_BASE_URL": base_url,
           "GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(output), "GITHUB_REPOSITORY": f"org/{repo.name}",
           "GITHUB_SHA": sha, "GITHUB_SERVER_URL": "https://github.com", "GITHUB_ACTOR": USER, "GITHUB_ACTOR_ID": "42",
           "RUNNER_TEMP": str(tmp_path)}
    proc = subprocess.run([sys.executable, str(entrypoint)], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]  # non-zero: the runner's error path
    result = json.loads((repo / "result.json").read_text())
    result.update(owner=USER, assignment_type="individual", datetime=f"{committed:%Y-%m-%dT%H:%M:%SZ}",
                  graded_at=f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ}", submitted_by={"username": USER, "id": 42})
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return result, outputs, (repo / "release-body.md").read_text()


def valid(result: dict) -> None:
    """The published schema's rules, and those it leaves to code: scores are ints (the runner refuses 2.0,
    which JSON Schema calls an integer) and at most their max-score."""
    jsonschema.Draft202012Validator(SCHEMA).validate(result)
    scores = [result["score"], result["max-score"], *(t[k] for t in result["tests"] for k in ("score", "max-score"))]
    assert all(type(s) is int for s in scores), scores
    assert result["score"] <= result["max-score"]
    assert all(t["score"] <= t["max-score"] for t in result["tests"])
    assert result["score"] == sum(t["score"] for t in result["tests"])
    assert result["max-score"] == sum(t["max-score"] for t in result["tests"])


def test_the_schema_fixture_refuses_what_the_runner_refuses():
    """The fixture can fail: a fractional score, an extra top-level key, a test without `passed` and a date
    without its time are refused."""
    good = {"schema": "classroom50/result/v1", "classroom": "c", "assignment": "a", "assignment_type": "individual",
            "owner": "o", "submission": "submit/x", "commit": "u", "release": "u", "review": "u",
            "datetime": "2026-09-01T10:00:00Z", "score": 1, "max-score": 2,
            "tests": [{"test-name": "t", "passed": True, "score": 1, "max-score": 2, "message": "extra keys are fine"}]}
    jsonschema.Draft202012Validator(SCHEMA).validate(good)
    for bad in ({**good, "score": 1.5}, {**good, "mark": "S"},
                {**good, "tests": [{"test-name": "t", "score": 0, "max-score": 0}]}, {**good, "datetime": "2026-09-01"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(SCHEMA).validate(bad)


def test_the_reference_gets_full_points(pages, tmp_path, config, mnist_root):
    repo = checkout_of(tmp_path, config, (ROOT / "reference" / "cnn.py").read_text())
    result, outputs, body = run_as_runner(repo, pages, tmp_path, mnist_root)
    valid(result)
    points = load_config(config).points
    assert result["score"] == result["max-score"] == points["S+"]
    assert all(t["passed"] for t in result["tests"]), result["tests"]
    checks = [t["test-name"] for t in result["tests"][2:]]
    assert len(checks) == len(load_config(config).checks)  # one test per check, after the mark's two
    assert outputs["status"] == "success" and "mark S+" in outputs["summary"]
    # release-body.md is the route's note, then the grader's feedback.md
    note, feedback = body.split("\n\n", 1)
    assert note.startswith("> **Feedback from Classroom 50's runner.**")
    assert feedback.startswith(f"# Feedback: {repo.name}\n\n**Mark: S+**")
    assert all(f"| {title} | passed |" in feedback for title in checks)
    for path in classroom50.RELEASE_ASSETS[:2]:  # report.html and filters.png, where release_assets names them
        assert (repo / path).is_file() and (repo / path).stat().st_size > 1000, path
    assert b"<html" in (repo / "grading-report" / "report.html").read_bytes()[:500].lower()


def test_the_stub_gets_nothing_and_a_forged_result_is_replaced(pages, tmp_path, config, mnist_root):
    repo = checkout_of(tmp_path, config, None)
    forged = {"schema": "classroom50/result/v1", "score": 2, "max-score": 2}
    (repo / "result.json").write_text(json.dumps(forged))  # committed by the student: not what is published
    git(repo, "-c", "user.name=s", "-c", "user.email=s@s", "add", "result.json")
    git(repo, "-c", "user.name=s", "-c", "user.email=s@s", "commit", "-qm", "forged")
    result, outputs, body = run_as_runner(repo, pages, tmp_path, mnist_root)
    valid(result)
    assert result["score"] == 0 and result["max-score"] == load_config(config).points["S+"]
    assert outputs["status"] == "failure" and "mark none" in outputs["summary"]
    assert "**Mark: none**" in body


def test_a_hang_at_import_gets_a_result(pages, tmp_path, config, mnist_root):
    repo = checkout_of(tmp_path, config, HANG_AT_IMPORT + (ROOT / "reference" / "cnn.py").read_text())
    result, outputs, body = run_as_runner(repo, pages, tmp_path, mnist_root)
    valid(result)
    assert result["score"] == 0
    assert outputs["status"] == "failure"  # graded, with no mark: not an error of the runner
    assert "import" in body.lower()


def test_the_runners_deadline_ends_the_grading_with_an_error_status(tmp_path, config, mnist_root):
    """A grading that outlives the route's deadline is stopped, and reported as not graded (status=error),
    never as a stuck job or a 0 that looks like a mark."""
    out = tmp_path / "bundle"
    classroom50.write_bundle(out, config)
    facts = out / "autograders" / SLUG / "bundle.json"
    facts.write_text(json.dumps({**json.loads(facts.read_text()), "deadline_s": 3}))
    repo = checkout_of(tmp_path, config, (ROOT / "reference" / "cnn.py").read_text())
    output = tmp_path / "github_output"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "MNIST_ROOT": str(mnist_root),
           "GITHUB_OUTPUT": str(output), "CLASSROOM": CLASSROOM, "ASSIGNMENT": SLUG, "SUBMISSION_TAG": "submit/x",
           "COMMIT_URL": "u", "RELEASE_URL": "u"}
    proc = subprocess.run([sys.executable, str(out / "autograders" / SLUG / "autograder.py")], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "status=error\nsummary=not graded: the grading ran out of the runner's time" in output.read_text()
    assert "did not finish within the runner's 15 minutes" in (repo / "release-body.md").read_text()
    assert json.loads((repo / "result.json").read_text())["score"] == 0


def test_the_bundle_holds_the_grader_and_the_route_budget(tmp_path, config):
    done = classroom50.write_bundle(tmp_path, ROOT / "grading.yml")
    folder = done["folder"]
    assert (folder / "autograder.py").is_file() and (folder / "autograder" / "judging" / "checks").is_dir()
    assert not (folder / "autograder" / "release" / "templates").exists()  # nothing student-facing
    assert not (folder / "reference").exists() and not (folder / "assignment" / "cnn.py").exists()
    graded = load_config(folder / "grading.yml")
    assert graded.limits.wall_seconds == classroom50.ROUTE_TRAIN_S < load_config(ROOT / "grading.yml").limits.wall_seconds
    assert graded.training == load_config(ROOT / "grading.yml").training  # the course's training budget and bars
    assert graded.accuracy == load_config(ROOT / "grading.yml").accuracy
    assert graded.challenge is None
    entry = json.loads(done["entry"].read_text())
    assert entry == {"runtime": classroom50.RUNTIME, "release_assets": classroom50.RELEASE_ASSETS}
    assert done["bytes"] <= classroom50.MAX_BUNDLE_BYTES
