"""grade-all: a complete gradebook even when a worker is killed, and a rerun that resumes."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from autograder.practical.config import load_raw
from specs import TINY

ROOT = Path(__file__).resolve().parents[2]
HANG = "def train(model, train_set, valid_set, **kwargs):\n    import time\n    time.sleep(3600)\n"


def tiny_config(tmp_path) -> Path:
    raw = load_raw(TINY)
    raw["limits"].update(wall_seconds=180, idle_seconds=5)  # the hanging victim sleeps: the idle limit ends it
    path = tmp_path / "tiny.yml"
    path.write_text(yaml.safe_dump(raw))
    return path


def worker_pids(victim: str) -> list[int]:
    """Grading processes (python -m autograder grade ...) whose command line names `victim`."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError):
            continue
        if b"autograder" in args and b"grade" in args and any(victim.encode() in a for a in args):
            pids.append(int(entry.name))
    return pids


def rows(out: Path) -> dict:
    with open(out / "gradebook.csv") as f:
        return {r["submission"]: r for r in csv.DictReader(f)}


def test_killed_worker_gets_a_row_and_rerun_resumes(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    reference = (ROOT / "reference" / "cnn.py").read_text()
    (folder / "alice.py").write_text(reference)
    (folder / "bob.py").write_text((ROOT / "assignment" / "cnn.py").read_text())
    (folder / "victim.py").write_text(reference.replace("def train(", "def _unused(") + HANG)
    (folder / "notes").mkdir()  # a folder without cnn.py
    out, config = tmp_path / "out", tiny_config(tmp_path)
    cmd = [sys.executable, "-m", "autograder", "grade-all", str(folder), "--out", str(out), "--jobs", "2",
           "--config", str(config)]

    batch = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    killed = []
    while not killed and time.monotonic() < deadline:
        for pid in worker_pids("victim.py"):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        time.sleep(0.2)
    _, err = batch.communicate(timeout=300)
    assert killed, "the victim's worker never started"
    assert batch.returncode == 1 and "victim" in err
    book = rows(out)
    assert set(book) == {"alice", "bob", "victim", "notes"}
    assert book["victim"]["status"] == "worker died (signal 9)"
    assert book["alice"]["status"] == "graded" and book["alice"]["mark"] == "S+"
    assert book["bob"]["mark"] == "none"
    assert book["notes"]["status"] == "no cnn.py found"

    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "(2 already graded)" in again.stdout
    book = rows(out)
    assert book["victim"]["status"] == "graded" and book["victim"]["mark"] == "none"
    assert "time limit" in (out / "submissions" / "victim" / "feedback.md").read_text()
    assert again.returncode == 0
