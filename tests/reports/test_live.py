"""Grading as it happens: phase budgets, an overloaded machine (regrade) against a real hang, verdicts
streamed while train() runs, and grade-all's retry of what was inconclusive."""
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from autograder.classroom import batch
from autograder.practical.config import ConfigError, load_raw, parse_config
from autograder.sandbox.watch import HANG, OVERLOAD, SLOW, Progress, Sample
from specs import FAST

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = (ROOT / "reference" / "cnn.py").read_text()
NEVER_STEPS = {
    "sleeping": "def train(model, train_set, valid_set, **kwargs):\n    import time\n    while True:\n"
                "        time.sleep(0.1)\n",
    "busy": "def train(model, train_set, valid_set, **kwargs):\n    while True:\n        pass\n",
}


def config(tmp_path, wall=240, iterations=300, phases=None) -> Path:
    raw = load_raw(FAST)  # with its base merged in: a self-contained copy
    raw["training"]["iterations"] = iterations
    raw["limits"]["wall_seconds"] = wall
    raw["limits"]["phases"] = {k: min(v, wall) for k, v in raw["limits"]["phases"].items()} | (phases or {})
    path = tmp_path / "grading.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def grade(submission, out, cfg, *extra, cpus=None):
    """Run `grade`, with each output line stamped with the seconds since the start."""
    preexec = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    start = time.monotonic()
    with subprocess.Popen([sys.executable, "-m", "autograder", "grade", str(submission), "--out", str(out),
                           "--config", str(cfg), *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, cwd=ROOT, preexec_fn=preexec) as proc:
        err: list[str] = []
        drain = threading.Thread(target=lambda: err.extend(proc.stderr))
        drain.start()
        lines = [(time.monotonic() - start, line.rstrip("\n")) for line in proc.stdout]
        proc.wait()
        drain.join()
    results = json.loads((out / "results.json").read_text())
    return proc.returncode, lines, "".join(err), results, (out / "feedback.md").read_text()


# --- the diagnosis, on hand-made samples --------------------------------------------------------------

def progress_with(samples) -> Progress:
    p = Progress(started=0.0, phase="train", phase_since=0.0)
    p.samples = [Sample(*s) for s in samples]
    p.steps = p.samples[-1].steps
    return p


@pytest.mark.parametrize("samples, threads, expected", [
    ([(t, 10 * t, 0.3 * t, 0.9 * t) for t in range(31)], 1, OVERLOAD),  # stepping, waited 3x what it ran
    ([(t, 10 * t, 0.95 * t, 0.05 * t) for t in range(31)], 1, SLOW),  # stepping, had the CPU to itself
    ([(t, 0, 1.0 * t, 0.0) for t in range(31)], 1, HANG),  # busy, never steps
    ([(t, 5, 0.0, 0.0) for t in range(31)], 1, HANG),  # no steps lately, no CPU
    ([(t, 10 * t, 0.001 * t, 0.01 * t) for t in range(31)], 1, HANG),  # "steps" with no CPU: forged
    ([(t, 10 * t, 1.0 * t, None) for t in range(31)], 4, OVERLOAD),  # no schedstat: 1 CPU of the 4 asked
    ([(t, 10 * t, 3.8 * t, None) for t in range(31)], 4, SLOW),
    ([(0, 0, 0.0, 0.0)], 1, HANG),
], ids=["overload", "slow", "busy-no-steps", "idle", "forged-steps", "overload-no-schedstat",
        "slow-no-schedstat", "one-sample"])
def test_why_train_was_still_running(samples, threads, expected):
    assert progress_with(samples).stopped_in_training(threads) == expected


@pytest.mark.parametrize("samples, expected", [
    ([(t, 5, 2.0 + 0.001 * t, 1.0) for t in range(31)], 30),  # blocked for all 30 s: a sleep, a lock
    ([(t, 5, min(t, 10) * 1.0, 0.0) for t in range(31)], 20),  # ran for 10 s, then blocked
    ([(t, 5, 0.01 * t, 0.9 * t) for t in range(31)], 0),  # starved: waiting for a CPU is not being blocked
    ([(t, 10 * t, 1.0 * t, 0.0) for t in range(31)], 0),  # training
    ([(t, 5, 2.0, None) for t in range(31)], 0),  # no schedstat: starved and blocked look alike, so never
], ids=["blocked", "blocked-after-running", "starved", "training", "no-schedstat"])
def test_how_long_train_has_been_blocked(samples, expected):
    assert progress_with(samples).idle_seconds() == pytest.approx(expected)


def test_reports_that_are_not_well_formed_change_nothing():
    p = Progress(started=0.0, phase_since=0.0)
    for line in [b"not json", b"[1]", b'{"phase": "nonsense"}', b'{"steps": "9"}', b'{"steps": true}',
                 b'{"phase": "train", "steps": 50}', b'{"steps": 20}', b"{" + b" " * 500 + b'"steps": 99}']:
        p.report(line)
    assert (p.phase, p.steps) == ("train", 50)  # steps never go back; an over-long line is dropped


def test_phase_budget_counts_start_up_as_import():
    p = Progress(started=0.0, phase_since=0.0)
    budgets = {"import": 5, "model_io": 2}
    assert p.over_budget(budgets, 4.0) is None and p.over_budget(budgets, 6.0) == "import"
    p.phase, p.phase_since = "train", 6.0
    assert p.over_budget(budgets, 1000.0) is None  # train() has the wall limit only
    p.phase, p.phase_since = "model_io", 10.0
    assert p.over_budget(budgets, 11.0) is None and p.over_budget(budgets, 12.5) == "model_io"


@pytest.mark.parametrize("phases, word", [
    ({"import": 60}, "missing: build_model"),
    ({**{k: 30 for k in ("import", "output_shape", "build_model", "model_io", "inspect", "evaluate",
                          "top_patches")}, "train": 900}, "unknown: train"),
    ({k: 30 for k in ("import", "output_shape", "build_model", "model_io", "inspect", "evaluate")}
     | {"top_patches": 0}, "limits.phases.top_patches"),
    ({k: 30 for k in ("import", "output_shape", "build_model", "model_io", "inspect", "evaluate")}
     | {"top_patches": 10_000}, "limits.phases.top_patches"),
    ("60", "'limits.phases' must be dict"),
], ids=["missing", "unknown", "zero", "over-wall", "not-a-mapping"])
def test_bad_phase_budgets_are_named(phases, word):
    raw = load_raw(FAST)  # with its base merged in
    raw["limits"]["phases"] = phases
    with pytest.raises(ConfigError, match=word.replace("(", r"\(")):
        parse_config(raw)


# --- end to end -----------------------------------------------------------------------------------------

def test_hang_at_import_is_stopped_by_its_budget_and_named_once(tmp_path):
    sub = tmp_path / "cnn.py"
    sub.write_text("import time\ntime.sleep(3600)\n")
    code, _, _, results, feedback = grade(sub, tmp_path / "out", config(tmp_path, phases={"import": 5}),
                                          "--threads", "1")
    child = results["extra_data"]["child"]
    assert code == 0 and results["extra_data"]["mark"] is None
    assert child["phase_timeout"] == "import" and child["wall_s"] < 15  # the wall limit is 240 s
    assert feedback.count("importing cnn.py took more than its 5 s") == 1
    assert "if __name__ ==" in feedback


@pytest.mark.parametrize("kind", ["busy"])  # a sleeping one is stopped sooner, by the idle limit (below)
def test_train_that_never_steps_gets_no_mark_and_one_message(tmp_path, kind):
    sub = tmp_path / "cnn.py"
    sub.write_text(REFERENCE.replace("def train(", "def _unused(") + NEVER_STEPS[kind])
    code, _, _, results, feedback = grade(sub, tmp_path / "out", config(tmp_path, wall=12), "--threads", "1")
    child = results["extra_data"]["child"]
    assert code == 0 and results["extra_data"]["mark"] is None and not results["extra_data"]["regrade"]
    assert child["stopped_in_training"] == HANG and child["progress"]["steps"] == 0
    assert feedback.count("it seems stuck") == 1 and "regrade" not in feedback.lower()


def test_a_blocked_train_is_stopped_by_the_idle_limit_long_before_the_wall(tmp_path):
    sub = tmp_path / "cnn.py"
    sub.write_text(REFERENCE.replace("def train(", "def _unused(") + NEVER_STEPS["sleeping"])
    cfg = config(tmp_path, wall=240)
    raw = yaml.safe_load(cfg.read_text())
    raw["limits"]["idle_seconds"] = 3
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False))
    code, _, _, results, feedback = grade(sub, tmp_path / "out", cfg, "--threads", "1")
    extra = results["extra_data"]
    assert code == 0 and extra["mark"] is None and not extra["regrade"]
    assert extra["child"]["stopped_in_training"] == HANG and 3 <= extra["child"]["idle_s"] < 10
    assert extra["child"]["wall_s"] < 60  # the wall limit is 240 s
    assert feedback.count("without using any CPU") == 1 and feedback.count("it seems stuck") == 1


def test_starved_correct_submission_gets_regrade_and_early_verdicts_stream(tmp_path):
    """A CPU-starved machine, simulated: four torch threads asked for, one core to run them on."""
    code, lines, err, results, feedback = grade(ROOT / "reference" / "cnn.py", tmp_path / "out",
                                                config(tmp_path, wall=20, iterations=100_000), "--threads", "4",
                                                cpus={0})
    assert code == 3, err
    assert results["extra_data"]["mark"] is None and results["score"] == 0
    assert results["extra_data"]["child"]["stopped_in_training"] == OVERLOAD
    assert results["output"].startswith("Regrade: the machine was too busy")
    assert "regrade: the machine was too busy" in feedback and feedback.count("it will be graded again") == 2
    assert "regrade" in err
    when = {text.split("] ", 1)[1].split(":")[0]: t for t, text in lines if text.startswith("[")}
    early = max(when["output_shape matches PyTorch"], when["Model maps (B, 1, 28, 28) to (B, 10)"])
    assert when["Architecture as specified"] - early > 5  # told while train() still ran
    assert any("train():" in line and "/100000" in line for line in err.splitlines())


def test_grade_all_grades_a_regrade_again_one_at_a_time(tmp_path, monkeypatch):
    """`grade` exiting 3 is a regrade, and grade-all grades each such submission again at the end, alone
    (every core of its machine), after the others. The cluster is replaced by a stand-in here; the slow
    test below goes through a real one."""
    from contextlib import nullcontext

    from autograder.classroom import cluster
    from autograder.classroom.worker import TaskResult, exit_status

    assert exit_status(3) == "regrade" and exit_status(0) == "graded"
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("alice", "bob"):
        (folder / f"{name}.py").write_text(REFERENCE)
    passes = []

    def fake_run_tasks(client, tasks, record):
        passes.append([(t.name, t.alone) for t in tasks])
        for t in tasks:  # the first pass finds the machine busy
            record(TaskResult(t.name, exit_status(3 if len(passes) == 1 else 0), 0.0))
    monkeypatch.setattr(cluster, "run_tasks", fake_run_tasks)
    monkeypatch.setattr(cluster, "connect", lambda scheduler, jobs: nullcontext())
    monkeypatch.setattr(batch, "grader_data", lambda cache, dataset: None)
    code = batch.grade_all(folder, tmp_path / "out", config_path=str(FAST), jobs=2)
    assert code == 0
    assert passes == [[("alice", False), ("bob", False)], [("alice", True)], [("bob", True)]]
    book = (tmp_path / "out" / "gradebook.csv").read_text()
    assert "regrade" not in book and book.count(",graded,") == 2


def test_an_early_verdict_is_the_one_judged_at_the_end():
    """model_io judged from the results saved before train() equals model_io judged from the final ones."""
    import torch

    from autograder.practical.config import load_config
    from autograder.judging.context import Context, judge
    from autograder.sandbox.isolation import Outcome

    def verdicts(res, names=None):
        empty = torch.zeros(0, 1, 28, 28)
        config = load_config(FAST)
        ctx = Context(config, config.practical, res, Outcome(0), cases=[], probe=empty, test_images=empty,
                      test_labels=torch.zeros(0, dtype=torch.long), perm=torch.zeros(0, dtype=torch.long),
                      patch_images=empty)
        assert names is None or all(ctx.ready(n) for n in names)
        return {c.name: (c.status, c.messages) for c in judge(ctx, names)[0]}

    for shapes in ({1: [1, 10], 7: [7, 10]}, {1: [1, 12], 7: [7, 12]}):
        before = {"phase": "train", "errors": {}, "model_io": shapes}
        after = {**before, "phase": "done", "errors": {"train": {"type": "RuntimeError", "message": "boom"}}}
        assert verdicts(before, ["model_io"])["model_io"] == verdicts(after)["model_io"]


@pytest.mark.slow
def test_grade_all_regrades_a_submission_starved_by_a_busy_machine(tmp_path):
    """End to end: one core, two busy loops on it besides the grader; the first pass is inconclusive,
    and grade-all grades the submission again at the end."""
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(REFERENCE)
    out = tmp_path / "out"
    pin = lambda: os.sched_setaffinity(0, {0})  # noqa: E731
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=pin) for _ in range(2)]
    try:
        with subprocess.Popen([sys.executable, "-m", "autograder", "grade-all", str(folder), "--out", str(out),
                               "--config", str(config(tmp_path, wall=20, iterations=100_000))],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                              preexec_fn=pin) as proc:
            retry_at = None
            for line in proc.stderr:
                if "to regrade (the machine was too busy)" in line:
                    retry_at = time.time()
            proc.wait()
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert retry_at is not None, "the first pass was not inconclusive"
    results = out / "submissions" / "alice" / "results.json"
    assert results.stat().st_mtime > retry_at  # graded again after the retry was announced
    book = (out / "gradebook.csv").read_text()
    assert "alice,regrade,," in book or "alice,graded," in book


def test_a_negative_idle_limit_is_refused():
    raw = load_raw(FAST)
    raw["limits"]["idle_seconds"] = -1
    with pytest.raises(ConfigError, match="limits.idle_seconds"):
        parse_config(raw)


@pytest.mark.parametrize("samples, expected", [
    ([(t, 0, 0.3 * t, 0.9 * t) for t in range(31)], True),  # waited three times what it ran: a busy machine
    ([(t, 0, 1.0 * t, 0.05 * t) for t in range(31)], False),  # had the CPU: the code itself was slow
    ([(t, 0, 0.0, 0.0) for t in range(31)], False),  # blocked: neither ran nor waited
    ([(t, 0, 0.3 * t, None) for t in range(31)], False),  # no schedstat: cannot tell, so the student's
], ids=["starved", "slow", "blocked", "no-schedstat"])
def test_a_phase_over_its_budget_on_a_starved_machine_is_inconclusive(samples, expected):
    from autograder.sandbox.isolation import Outcome

    progress = progress_with(samples)
    progress.phase = "import"
    assert progress.starved() is expected
    outcome = Outcome(returncode=-9, phase_timeout="import", phase_starved=progress.starved())
    assert outcome.overloaded is expected
