"""Attacks on the sandbox and the report folder that need a level or a setting of their own, beside the
catalogue: links planted where the reports will go, the catalogue's attack_undo_sandbox at the userns level,
and temp files one submission leaves for the next in a grade-all run."""
import csv
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.reports import reportdir
from autograder.sandbox import isolation as sandbox
from catalogue import build
from specs import TINY

ROOT = Path(__file__).resolve().parents[2]
STUB = (ROOT / "assignment" / "cnn.py").read_text()
REPORTS = ["results.json", "feedback.md", "report.html", "filters.png", "patches.png", "curves.png"]


def level_works(level: str) -> bool:
    env = {**os.environ, "CNN_GRADER_SANDBOX": level}
    probe = "from autograder.sandbox import isolation; print(isolation.available_level())"
    got = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT)
    return got.stdout.strip() == level


def grade(submission: Path, out: Path, level: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **({"CNN_GRADER_SANDBOX": level} if level else {})}
    return subprocess.run([sys.executable, "-m", "autograder", "grade", str(submission), "--out", str(out),
                           "--config", str(TINY)], capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)


@pytest.mark.parametrize("level, temp", [("root", "/tmp"), ("root", "/var/tmp"), ("root", "/dev/shm"),
                                         ("userns", "/var/tmp")])
def test_links_planted_in_the_report_folder_are_not_followed(level, temp, tmp_path):
    if not level_works(level):
        pytest.skip(f"no {level} level on this machine")
    victims = {}
    for name in REPORTS:  # root-owned, mode 600: what the grader, as root, could overwrite
        victim = tmp_path / f"victim-{name}"
        victim.write_text("untouched")
        victim.chmod(0o600)
        victims[name] = victim
    out = Path(temp) / f"cnn-grader-report-{secrets.token_hex(6)}"  # not there yet: the child makes it first
    submission = tmp_path / "cnn.py"
    submission.write_text(STUB + f"""

import os as _os
_os.makedirs({str(out)!r}, exist_ok=True)
_os.chmod({str(out)!r}, 0o777)
for _name, _victim in {({n: str(v) for n, v in victims.items()})!r}.items():
    _os.symlink(_victim, _os.path.join({str(out)!r}, _name))
""")
    try:
        proc = grade(submission, out, level)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        for victim in victims.values():
            st = victim.stat()
            assert victim.read_text() == "untouched" and st.st_uid == 0 and st.st_mode & 0o777 == 0o600, victim
        assert not out.is_symlink() and out.stat().st_uid == os.geteuid()
        for name in ("results.json", "feedback.md", "report.html"):
            assert (out / name).is_file() and not (out / name).is_symlink(), name
        results = json.loads((out / "results.json").read_text())
        assert results["extra_data"]["isolation"]["level"] == level
        assert results["extra_data"]["isolation"]["tmp"].startswith(f"private /tmp, /var/tmp, /dev/shm")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_a_report_folder_the_grader_did_not_make_is_refused(tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    link = tmp_path / "out-link"
    link.symlink_to(victim)
    proc = grade(ROOT / "assignment", link)
    assert proc.returncode == 2 and "is a symbolic link" in proc.stderr, proc.stderr
    assert not any(victim.iterdir())
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    os.chown(foreign, 12345, 12345)
    with pytest.raises(reportdir.ReportFolderError, match="belongs to uid 12345"):
        reportdir.claim(foreign)
    open_to_all = tmp_path / "open"
    open_to_all.mkdir()
    open_to_all.chmod(0o777)
    with pytest.raises(reportdir.ReportFolderError, match="anyone may write into it"):
        reportdir.claim(open_to_all)


def test_a_link_inside_the_grader_s_own_folder_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    out = reportdir.claim(tmp_path / "out")  # an earlier grading's folder: accepted
    (out / "results.json").symlink_to(victim)
    with reportdir.opened(out) as folder:
        folder.write("results.json", "{}")
        folder.remove("feedback.md")  # nothing there: no error
    assert victim.read_text() == "untouched"
    assert not (out / "results.json").is_symlink() and (out / "results.json").read_text() == "{}"
    assert [p.name for p in out.iterdir()] == ["results.json"]  # nothing left aside


def test_the_sandbox_cannot_be_undone_at_userns(tmp_path):
    """The catalogue's attack_undo_sandbox at the userns level, where the code is root in its own user
    namespace: unmounting, remounting writable, reading what is hidden and reaching the host's /proc all fail."""
    if not level_works("userns"):
        pytest.skip("no userns level on this machine")
    entry = build.by_name("attack_undo_sandbox")
    proc = grade(build.materialise(entry, tmp_path / "sub"), tmp_path / "out", "userns")
    assert proc.returncode == 0, proc.stderr[-2000:]
    feedback = (tmp_path / "out" / "feedback.md").read_text()
    assert entry["phrase"] in feedback.lower() and "escaped" not in feedback.lower(), feedback
    isolation = json.loads((tmp_path / "out" / "results.json").read_text())["extra_data"]["isolation"]
    assert isolation["level"] == "userns"
    assert isolation["capabilities"].startswith("none: all dropped")
    assert isolation["proc"] == "only the sandbox's own processes"


LEAVE = STUB + """

import os as _os
for _folder in ("/tmp", "/var/tmp", "/dev/shm"):
    with open(_os.path.join(_folder, "cnn-grader-left-behind"), "wb") as _f:
        _f.write(b"x" * 2**20)
"""
LOOK = STUB + """

import glob as _glob
print("left behind:", [_p for _d in ("/tmp", "/var/tmp", "/dev/shm") for _p in _glob.glob(_d + "/cnn-grader-left-behind")]
      or "nothing")
"""


@pytest.mark.skipif(sandbox.available_level() == "none", reason="no namespaces: the temp folders are shared")
def test_grade_all_leaves_no_temp_files_for_the_next_submission(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "a_leaves.py").write_text(LEAVE)
    (folder / "b_looks.py").write_text(LOOK)
    out = tmp_path / "graded"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", str(folder), "--out", str(out), "--jobs",
                           "1", "--config", str(TINY)], capture_output=True, text=True, cwd=ROOT, timeout=900)
    left = [p for d in ("/tmp", "/var/tmp", "/dev/shm") if (p := Path(d) / "cnn-grader-left-behind").exists()]
    for path in left:
        path.unlink()
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with open(out / "gradebook.csv") as f:
        assert {r["submission"]: r["status"] for r in csv.DictReader(f)} == {"a_leaves": "graded", "b_looks": "graded"}
    assert not left, f"left on the machine: {left}"
    feedback = (out / "submissions" / "b_looks" / "feedback.md").read_text()
    assert "left behind: nothing" in feedback, feedback
