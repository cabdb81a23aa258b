"""grade-all on Dask: a real scheduler with two worker processes gives the same gradebook as --jobs 2,
even when one worker is killed mid-grade; shards merged equal one run; Ctrl-C keeps finished rows.

The class is graded once per mode: a module-scoped `--jobs 2` run is the baseline the others compare with.
"""
import csv
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from autograder import cli
from autograder.classroom.batch import Shard, find_submissions
from autograder.practical.config import load_raw
from autograder.classroom.gradebook import FIELDS, MergeError, merge, read_gradebook, write_gradebook
from autograder.classroom.worker import GradeTask, grade_task
from catalogue import build
from specs import TINY

ROOT = Path(__file__).resolve().parents[2]
CLASS = {"handout_recipe": "S+", "no_relu_after_fc1": "S", "stub": "none", "syntax_error": "none"}
TRAINS = ("handout_recipe", "no_relu_after_fc1")  # the slow ones: a worker killed while grading them is mid-grade
pytestmark = pytest.mark.usefixtures("mnist_root")


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    """tests/grading-tiny.yml (100 iterations, bars lowered to match: the marks stay S+, S and none), as one
    self-contained file."""
    raw = load_raw(TINY)  # with its bases merged in
    path = tmp_path_factory.mktemp("config") / "tiny.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def klass(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("class")
    for name in CLASS:
        build.materialise(build.by_name(name), folder / name)
    (folder / "empty").mkdir()  # no cnn.py: a row that says so
    return folder


def grade_all(klass: Path, out: Path, config: Path, *extra: str, **popen) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "autograder", "grade-all", str(klass), "--out", str(out), "--config", str(config),
           *extra]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, **popen)


def marks(out: Path) -> dict[str, dict]:
    """The gradebook without the wall time, which differs from run to run."""
    book = read_gradebook(out / "gradebook.csv")
    return {name: {k: v for k, v in row.items() if k != "seconds"} for name, row in book.items()}


@pytest.fixture(scope="module")
def baseline(klass, config, tmp_path_factory) -> dict[str, dict]:
    out = tmp_path_factory.mktemp("jobs2")
    start = time.monotonic()
    proc = grade_all(klass, out, config, "--jobs", "2")
    print(f"--jobs 2 baseline: {time.monotonic() - start:.1f} s")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    book = marks(out)
    assert {n: r["mark"] for n, r in book.items() if n in CLASS} == CLASS
    assert book["empty"]["status"] == "no cnn.py found"
    assert all(book[n]["status"] == "graded" for n in CLASS)
    return book


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def grading(worker: subprocess.Popen) -> str | None:
    """The submission that this worker process is grading now (its `autograder grade` child), if any."""
    for proc in descendants(worker.pid):
        try:
            args = proc.cmdline()
        except psutil.Error:
            continue
        if "autograder" in args and "grade" in args and args[-1] in CLASS:
            return args[-1]
    return None


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture
def dask_cluster(tmp_path):
    """`dask scheduler` and two `dask worker` processes (no nanny, so a killed worker stays dead)."""
    info, procs = tmp_path / "scheduler.json", {}
    with open(tmp_path / "scheduler.log", "w") as log:  # the child keeps its own copy of the descriptor
        procs["scheduler"] = subprocess.Popen(
            [sys.executable, "-m", "dask", "scheduler", "--port", "0", "--no-dashboard", "--scheduler-file", str(info)],
            stdout=subprocess.DEVNULL, stderr=log)
    wait_for(lambda: info.is_file() and info.stat().st_size, 60, "the scheduler")
    address = json.loads(info.read_text())["address"]
    for name in ("w1", "w2"):
        log = tmp_path / f"{name}.log"
        with open(log, "w") as err:
            procs[name] = subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", address, "--name", name, "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--memory-limit", "0", "--local-directory", str(tmp_path / name)],
                stdout=subprocess.DEVNULL, stderr=err)
        wait_for(lambda log=log: "Registered to" in log.read_text(), 60, f"worker {name} to join")
    yield address, procs
    for proc in procs.values():
        for child in ([*descendants(proc.pid), psutil.Process(proc.pid)] if proc.poll() is None else []):
            child.kill()
        proc.wait(timeout=30)


def test_scheduler_with_a_killed_worker_gives_the_jobs_2_gradebook(baseline, klass, config, dask_cluster, tmp_path):
    """Grade via --scheduler; kill one worker (and everything under it, as a machine dies) mid-grade.
    Its task is rerun on the other worker, and the gradebook equals --jobs 2's, mark by mark."""
    address, procs = dask_cluster
    out = tmp_path / "out"
    start = time.monotonic()
    run = subprocess.Popen([sys.executable, "-m", "autograder", "grade-all", str(klass), "--out", str(out),
                            "--config", str(config), "--scheduler", address],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim, name = wait_for(lambda: next(((w, s) for w in ("w1", "w2") if (s := grading(procs[w])) in TRAINS), None),
                            120, "a worker to start grading a training submission")
    time.sleep(3)  # mid-grade: the sandboxed child is training by now
    assert grading(procs[victim]) == name, "the grade finished before the kill"
    under = descendants(procs[victim].pid)
    procs[victim].kill()  # the worker first, so that it cannot report its grade's death
    for proc in under:
        proc.kill()
    stdout, stderr = run.communicate(timeout=600)
    print(f"--scheduler with a worker killed: {time.monotonic() - start:.1f} s")
    assert run.returncode == 0, stdout[-2000:] + stderr[-3000:]
    assert procs[victim].poll() is not None
    assert marks(out) == baseline
    survivor = "w2" if victim == "w1" else "w1"
    log = (out / "submissions" / name / "worker.log").read_text()
    assert f"Graded by worker {survivor} " in log, log[:500]
    for sub in CLASS:
        assert {"results.json", "feedback.md", "report.html", "worker.log"} <= {
            p.name for p in (out / "submissions" / sub).iterdir()}


def test_shards_merged_equal_one_run(baseline, klass, config, tmp_path):
    """Shards 1/3, 2/3 and 3/3 graded at once, as a CI matrix would, then merged: the --jobs 2 gradebook."""
    outs = [tmp_path / f"shard{i}" for i in (1, 2, 3)]
    start = time.monotonic()
    runs = [subprocess.Popen([sys.executable, "-m", "autograder", "grade-all", str(klass), "--out", str(out),
                              "--config", str(config), "--jobs", "2", "--shard", f"{i}/3"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for i, out in enumerate(outs, 1)]
    for proc in runs:
        stdout, stderr = proc.communicate(timeout=600)
        assert proc.returncode == 0, stdout[-2000:] + stderr[-3000:]
    print(f"3 shards at once: {time.monotonic() - start:.1f} s")
    names = sorted(baseline)
    for i, out in enumerate(outs, 1):
        assert sorted(read_gradebook(out / "gradebook.csv")) == names[i - 1::3]
    merged = tmp_path / "merged"
    proc = subprocess.run([sys.executable, "-m", "autograder", "merge", *map(str, outs), "--out", str(merged)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert marks(merged) == baseline
    assert list(marks(merged)) == names
    for name in CLASS:
        assert (merged / "submissions" / name / "feedback.md").is_file()


@pytest.mark.parametrize("group", [True, False], ids=["terminal", "grade-all-only"])
def test_ctrl_c_stops_the_cluster_and_keeps_finished_rows(config, tmp_path, group):
    """SIGINT once a row is done, to grade-all's process group as a terminal sends it, or to grade-all
    alone (so the grades must be stopped through the cluster, as on remote workers): the run stops,
    keeps that row, marks the rest interrupted, and leaves no process behind."""
    folder = tmp_path / "class"
    build.materialise(build.by_name("stub"), folder / "a_stub")
    build.materialise(build.by_name("handout_recipe"), folder / "b_handout")
    out = tmp_path / "out"
    # Ctrl-C as a terminal delivers it: a test run started in the background (`pytest &`, some CI runners)
    # passes SIGINT on ignored, and a grade-all started so rightly ignores it, as background jobs do
    run = subprocess.Popen([sys.executable, "-m", "autograder", "grade-all", str(folder), "--out", str(out),
                            "--config", str(config), "--jobs", "2"],
                           cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def stub_done():
        try:
            return read_gradebook(out / "gradebook.csv")["a_stub"]["status"] == "graded"
        except (OSError, KeyError, csv.Error):
            return False

    wait_for(stub_done, 120, "the stub's row")
    assert wait_for(lambda: grading_any(run.pid), 60, "the handout's grade") == "b_handout"
    tree = descendants(run.pid)
    start = time.monotonic()
    (os.killpg if group else os.kill)(run.pid, signal.SIGINT)
    _, stderr = run.communicate(timeout=120)
    print(f"stopped {time.monotonic() - start:.1f} s after Ctrl-C")
    assert run.returncode == 130, stderr[-3000:]
    assert "run the same command again" in stderr
    book = read_gradebook(out / "gradebook.csv")
    assert book["a_stub"]["status"] == "graded" and book["a_stub"]["mark"] == "none"
    assert book["b_handout"]["status"].startswith("interrupted") and book["b_handout"]["mark"] == ""
    time.sleep(1)
    left = [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not left, [p.cmdline() for p in left]


def grading_any(pid: int) -> str | None:
    for proc in descendants(pid):
        try:
            args = proc.cmdline()
        except psutil.Error:
            continue
        if "autograder" in args and "grade" in args and "--" in args:
            return args[-1]
    return None


# ---------------------------------------------------------------- shards, merge and names, without grading
@pytest.mark.parametrize("text, expected", [("1/3", Shard(1, 3)), ("3/3", Shard(3, 3)), ("1/1", Shard(1, 1))],
                         ids=["first", "last", "whole"])
def test_shard_parses(text, expected):
    assert Shard.parse(text) == expected


@pytest.mark.parametrize("text", ["0/3", "4/3", "2", "a/b", "1/3/4", "-1/3"])
def test_bad_shard_says_what_was_expected(text):
    with pytest.raises(ValueError, match="expected I/N"):
        Shard.parse(text)


def test_shards_split_the_sorted_names_exactly_once():
    names = [f"s{i:02d}" for i in range(10)][::-1]
    parts = [Shard(i, 3).select(names) for i in (1, 2, 3)]
    assert parts[0] == ["s00", "s03", "s06", "s09"]
    assert sorted(sum(parts, [])) == sorted(names)


def test_cli_rejects_a_bad_shard(tmp_path, capsys):
    with pytest.raises(SystemExit) as excinfo:
        cli.main(["grade-all", str(tmp_path), "--out", str(tmp_path / "o"), "--shard", "4/3"])
    assert excinfo.value.code == 2 and "expected I/N with 1 <= I <= N" in capsys.readouterr().err


def test_two_entries_with_one_name_are_refused(tmp_path):
    (tmp_path / "alice.py").write_text("")
    (tmp_path / "alice").mkdir()
    with pytest.raises(SystemExit, match="both named 'alice'"):
        find_submissions(tmp_path)


def fake_output(folder: Path, rows: dict[str, tuple[str, str | None, str]]) -> Path:
    """A grade-all output folder: name -> (status, mark or None for no results.json, sha256)."""
    book = []
    for name, (status, mark, sha) in rows.items():
        reports = folder / "submissions" / name
        reports.mkdir(parents=True)
        if mark is not None:
            (reports / "results.json").write_text(json.dumps(
                {"score": 2 if mark == "S+" else 0, "extra_data": {"mark": mark, "sha256": sha, "checks": {}}}))
        book.append({**dict.fromkeys(FIELDS, ""), "submission": name, "status": status, "mark": mark or ""})
    write_gradebook(folder / "gradebook.csv", book)
    return folder


def test_merge_keeps_the_graded_row_of_a_rerun_shard(tmp_path):
    first = fake_output(tmp_path / "a", {"ann": ("graded", "S+", "1"), "bob": ("worker died (signal 9)", None, "")})
    rerun = fake_output(tmp_path / "b", {"bob": ("graded", "S", "2")})
    late = fake_output(tmp_path / "c", {"ann": ("worker timed out after 540 s", None, "")})
    rows = {r["submission"]: r for r in merge([first, rerun, late], tmp_path / "m")}
    assert (rows["ann"]["status"], rows["ann"]["mark"]) == ("graded", "S+")
    assert (rows["bob"]["status"], rows["bob"]["mark"]) == ("graded", "S")
    assert read_gradebook(tmp_path / "m" / "gradebook.csv")["bob"]["mark"] == "S"


def test_merge_refuses_two_different_gradings_of_one_submission(tmp_path):
    a = fake_output(tmp_path / "a", {"ann": ("graded", "S+", "1")})
    b = fake_output(tmp_path / "b", {"ann": ("graded", "S", "1")})
    with pytest.raises(MergeError, match="ann is graded in both"):
        merge([a, b], tmp_path / "m")


def test_merge_names_a_folder_that_is_not_a_grade_all_output(tmp_path, capsys):
    (tmp_path / "stray").mkdir()
    assert cli.main(["merge", str(tmp_path / "stray"), "--out", str(tmp_path / "m")]) == 2
    assert f"{tmp_path / 'stray'} has no gradebook.csv" in capsys.readouterr().err
    a = fake_output(tmp_path / "a", {"ann": ("graded", "S+", "1")})
    with pytest.raises(MergeError, match="both an input and --out"):
        merge([a], a)


def autograder_commands(text: str, values: dict[str, str]) -> list[list[str]]:
    """Each `-m autograder grade-all|merge ...` command in a shell text, placeholders filled in."""
    text = text.replace("\\\n", " ")
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    return [shlex.split(m.group(1)) for m in re.finditer(r"-m autograder ((?:grade-all|merge) [^\n#]*)", text)]


def test_the_guide_s_shard_recipes_parse():
    """docs/instructors.md's workflow is valid YAML with a matrix of shards, and each grade-all or merge
    command in it and in the Slurm script is one that the CLI accepts, with the shard it means."""
    guide = (ROOT / "docs" / "instructors.md").read_text()
    workflow = yaml.safe_load(re.search(r"```yaml\n(# \.github/workflows/grade-class\.yml\n.*?)```", guide, re.S)[1])
    assert set(workflow["jobs"]) == {"collect", "grade", "merge"}
    assert workflow["jobs"]["grade"]["strategy"]["matrix"]["shard"] == list(range(1, 9))
    runs = "\n".join(step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"])
    slurm = re.search(r"```bash\n(#!/bin/bash\n#SBATCH.*?)```", guide, re.S)[1]
    assert "#SBATCH --array=1-8" in slurm
    commands = (autograder_commands(runs, {"${{ matrix.shard }}": "2", "${{ strategy.job-total }}": "8"})
                + autograder_commands(slurm, {"$SLURM_ARRAY_TASK_ID": "2", "$SLURM_ARRAY_TASK_COUNT": "8"}))
    assert [c[0] for c in commands] == ["grade-all", "merge", "grade-all", "merge"]
    parser = cli.build_parser()
    for command in commands:
        args = parser.parse_args(command)
        if command[0] == "grade-all":
            assert args.shard == Shard(2, 8) and args.out == "marks-2"


def test_a_worker_with_other_grader_code_grades_nothing():
    task = GradeTask(name="ann", entry="ann.py", solution="", source=b"", config=b"", timeout=60,
                     fingerprint="0" * 64)
    result = grade_task(task)
    assert result.status.startswith("not graded: the grader on ") and "differs from this one" in result.status
    assert result.files == {}


class FailedFuture:
    status = "error"

    def __init__(self, err: Exception):
        self.err = err

    def exception(self):
        return self.err


def test_a_task_the_cluster_could_not_run_gets_a_row_that_says_why():
    from distributed.scheduler import KilledWorker

    from autograder.classroom.cluster import outcome

    lost = outcome(FailedFuture(KilledWorker("grade-ann-1", "tcp://10.0.0.5:40000", 3)), "ann")
    assert (lost.name, lost.status) == ("ann", "worker lost: every Dask worker that ran it died (KilledWorker); "
                                               "rerun to retry")
    full = outcome(FailedFuture(OSError(28, "No space left on device")), "bob")
    assert full.status == "task failed on the cluster: OSError: [Errno 28] No space left on device"
