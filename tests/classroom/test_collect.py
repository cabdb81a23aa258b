"""Collecting a class from the folder `gh teacher download` writes: clones named
<classroom>-<assignment>-<username> with submit/ tags, result.json and results.json, and scores.csv."""
import csv
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml

from autograder.classroom import collect
from specs import TINY

ROOT = Path(__file__).resolve().parents[2]
CLASSROOM, SLUG = "cs101", "cnn-practical"
DEADLINE = "2026-12-01T23:59:00+01:00"  # 22:59 UTC
DEADLINE_UTC = datetime(2026, 12, 1, 22, 59, tzinfo=timezone.utc)
REFERENCE = (ROOT / "reference" / "cnn.py").read_text()
STUB = (ROOT / "assignment" / "cnn.py").read_text()


def git(repo: Path, *args: str, when: str | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "s", "GIT_AUTHOR_EMAIL": "s@s", "GIT_COMMITTER_NAME": "s",
           "GIT_COMMITTER_EMAIL": "s@s"}
    if when:
        env.update(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
                          env=env).stdout.strip()


def result_doc(tag: str, score: int) -> dict:
    return {"schema": "classroom50/result/v1", "classroom": CLASSROOM, "assignment": SLUG, "owner": "x",
            "assignment_type": "individual", "submission": tag, "commit": "u", "release": "u", "review": "u",
            "datetime": "2026-12-01T10:00:00Z", "score": score, "max-score": 2, "tests": []}


def student(folder: Path, username: str, attempts: list[tuple[str, str, int]]) -> Path:
    """A clone as gh teacher download leaves it: one commit and submit/ tag per (cnn.py, UTC time, score its
    run reported); result.json the latest's, results.json all of them, newest first."""
    repo = folder / f"{CLASSROOM}-{SLUG}-{username}"
    (repo / "assignment").mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    history = []
    for code, when, score in attempts:
        (repo / "assignment" / "cnn.py").write_text(code)
        git(repo, "add", "-A")
        git(repo, "commit", "-qm", "work", when=when)
        tag = f"submit/{when.replace(':', '-')}-{git(repo, 'rev-parse', '--short=7', 'HEAD')}"
        git(repo, "tag", tag)
        history.insert(0, {"submission_tag": tag, "result": result_doc(tag, score)})
    (repo / "results.json").write_text(json.dumps(history))
    (repo / "result.json").write_text(json.dumps(history[0]["result"]))
    return repo


@pytest.fixture
def downloaded(tmp_path) -> Path:
    """Three students: alice on time (and again after the deadline, with the stub: not what is graded), bob
    late, carol on time with the stub and a result.json that claims full points."""
    folder = tmp_path / f"{CLASSROOM}-{SLUG}_submissions_2026_12_02_T_09_00_00"
    folder.mkdir()
    student(folder, "alice", [(REFERENCE, "2026-12-01T20:00:00Z", 2), (STUB, "2026-12-02T08:00:00Z", 0)])
    student(folder, "bob", [(REFERENCE, "2026-12-01T23:30:00Z", 2)])
    student(folder, "carol", [(STUB, "2026-12-01T12:00:00Z", 2)])
    (folder / "scores.csv").write_text("username,first_name,last_name,email,section,score,max_score,datetime,"
                                       "submission_tag,submitted_by,review_url,late,override\n")
    return folder


def test_collect_picks_each_students_submission(downloaded, tmp_path):
    found = {c.username: c for c in collect.collect(downloaded, CLASSROOM, SLUG, tmp_path / "work",
                                                    lambda username: DEADLINE_UTC)}
    assert sorted(found) == ["alice", "bob", "carol"]  # scores.csv is no student
    alice, bob = found["alice"], found["bob"]
    assert alice.tag.startswith("submit/2026-12-01T20-00-00Z") and alice.time == datetime(2026, 12, 1, 20, tzinfo=timezone.utc)
    assert (alice.path / "assignment" / "cnn.py").read_text() == REFERENCE  # the tag's files, not the later stub
    assert alice.reported == (2, 2)  # from results.json: result.json is the later attempt's
    assert alice.time < DEADLINE_UTC < bob.time
    without = {c.username: c for c in collect.collect(downloaded, CLASSROOM, SLUG, tmp_path / "work2")}
    assert without["alice"].tag.startswith("submit/2026-12-02T08-00-00Z") and without["alice"].reported == (0, 2)
    status = git(downloaded / f"{CLASSROOM}-{SLUG}-alice", "status", "--porcelain").splitlines()
    assert set(status) == {"?? result.json", "?? results.json"}  # the clone is left as it was


def test_each_student_is_collected_by_their_own_deadline(downloaded, tmp_path):
    """An extension to the next day: alice's later attempt (the stub) is the one graded."""
    later = datetime(2026, 12, 2, 12, tzinfo=timezone.utc)
    found = {c.username: c for c in collect.collect(downloaded, CLASSROOM, SLUG, tmp_path / "work",
                                                    lambda u: later if u == "alice" else DEADLINE_UTC)}
    assert found["alice"].tag.startswith("submit/2026-12-02T08-00-00Z")
    assert (found["alice"].path / "assignment" / "cnn.py").read_text() == STUB


def test_the_gradebook_flags_the_late_and_the_forged(downloaded, tmp_path):
    """The deadline comes from grading.yml's course policy, which also judges lateness by the tag's time."""
    config = tmp_path / "grading.yml"
    config.write_text(yaml.safe_dump({"base": str(TINY),
                                      "course": {"deadline": DEADLINE, "timezone": "Europe/London",
                                                 "late": {"counts_as": "S"}}}))
    out = tmp_path / "marks"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", str(downloaded), "--out", str(out),
                           "--classroom50", f"{CLASSROOM}/{SLUG}", "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    with open(out / "gradebook.csv") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert {n: r["mark"] for n, r in rows.items()} == {"alice": "S+", "bob": "S+", "carol": "none"}
    assert {n: r["final_mark"] for n, r in rows.items()} == {"alice": "S+", "bob": "S", "carol": "none"}
    assert rows["bob"]["why"].startswith("late") and rows["bob"]["reported_check"] == collect.AGREES
    assert rows["carol"]["reported_score"] == "2/2" and "graded 0/2" in rows["carol"]["reported_check"]
    assert rows["carol"]["reported_check"].startswith(collect.DISAGREES)
    assert rows["alice"]["tag_time"] == "2026-12-01T20:00:00Z"
    assert rows["alice"]["submission_tag"].startswith("submit/2026-12-01T20-00-00Z")


def test_a_clone_is_read_never_followed_and_only_what_grading_reads_is_exported(tmp_path):
    folder = tmp_path / "download"
    folder.mkdir()
    repo = student(folder, "dave", [(REFERENCE, "2026-12-01T20:00:00Z", 2)])
    (repo / "data").mkdir()
    (repo / "data" / "weights.bin").write_bytes(os.urandom(1 << 20))  # students commit datasets and weights
    (repo / "experiments.csv").symlink_to("data/weights.bin")
    git(repo, "add", "data", "experiments.csv")
    git(repo, "commit", "-qm", "more", when="2026-12-01T21:00:00Z")
    git(repo, "tag", "submit/2026-12-01T21-00-00Z-more")
    forged = tmp_path / "forged.json"  # a valid result for the tag, reached through a link
    forged.write_text(json.dumps(result_doc("submit/2026-12-01T21-00-00Z-more", 2)))
    (repo / "results.json").unlink()
    (repo / "results.json").symlink_to(forged)
    (repo / "result.json").unlink()
    os.mkfifo(repo / "result.json")  # would block a plain read for ever

    (dave,) = collect.collect(folder, CLASSROOM, SLUG, tmp_path / "work")
    assert dave.tag == "submit/2026-12-01T21-00-00Z-more" and not dave.problem
    exported = sorted(p.relative_to(dave.path).as_posix() for p in dave.path.rglob("*") if not p.is_dir())
    assert exported == ["assignment/cnn.py", "experiments.csv"]
    assert (dave.path / "experiments.csv").is_symlink()  # kept as a link, which grading refuses to read
    assert dave.reported is None

    (repo / "experiments.csv").unlink()
    (repo / "experiments.csv").symlink_to("/etc/passwd")  # out of the export: tarfile's data filter refuses it
    git(repo, "add", "experiments.csv")
    git(repo, "commit", "-qm", "link", when="2026-12-01T22:00:00Z")
    git(repo, "tag", "submit/2026-12-01T22-00-00Z-link")
    (dave,) = collect.collect(folder, CLASSROOM, SLUG, tmp_path / "work")
    assert "'experiments.csv' is a link to an absolute path" in dave.problem and not dave.path.exists()


def test_a_clone_that_cannot_be_read_is_named_without_its_student(tmp_path):
    folder = tmp_path / "download"
    clone = folder / f"{CLASSROOM}-{SLUG}-Zed-Quux"
    clone.mkdir(parents=True)
    (clone / ".git").write_text(f"gitdir: {clone}/gone\n")  # git's message quotes the path
    (zed,) = collect.collect(folder, CLASSROOM, SLUG, tmp_path / "work")
    assert zed.problem == "could not read the clone: git for-each-ref failed: fatal: not a git repository: <clone>/gone"
    assert "zed-quux" not in zed.problem.lower(), zed.problem
