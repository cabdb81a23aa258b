"""The optional challenge: its config, its verdicts from hand-made child results (no training), and a
small class graded once by grade-all under tests/grading-challenge.yml. There the example earns a
badge; a model over the parameter cap, one over the time cap and one that crashes earn none and say
why; every one keeps its practical mark; and the class leaderboard ranks them."""
from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from autograder.grading import challenge
from autograder.sandbox import isolation as sandbox
from autograder.practical.config import DEFAULT_CONFIG, Challenge, ConfigError, Limits, load_config, load_raw, parse_config
from autograder.reports.leaderboard import FIELDS, RANKING, write_leaderboard
from autograder.judging.relabel import derangement
from autograder.judging.results import ABSENT, BADGE, NO_BADGE, REFUSED, ChallengeResult, GradeResult
from autograder.reports.report import feedback_md, gradescope
from catalogue import build

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "tests" / "grading-challenge.yml"
EXAMPLE = "challenge_allconv.py"
SLOW_LAYER = '''class Slow(nn.Module):
    def forward(self, x):
        if self.training:
            time.sleep(2)  # 80 steps: far over the time cap
        return x


def build_challenge_model():'''
CRASHING_LAYER = '''class Broken(nn.Module):
    def forward(self, x):
        if self.training:
            raise ValueError("this layer breaks in training")
        return x


def build_challenge_model():'''
# the class: the example, and edits of it (each `old` occurs once in the example)
CLASS = {
    "example": [],
    "over_cap": [{"old": "*conv_bn(64, 64, 1),", "new": "*conv_bn(64, 256, 1), *conv_bn(256, 64, 1),"}],
    "over_time": [{"old": "import torch\n", "new": "import time\n\nimport torch\n"},
                  {"old": "def build_challenge_model():", "new": SLOW_LAYER},
                  {"old": "nn.AdaptiveAvgPool2d(1), nn.Flatten(),", "new": "nn.AdaptiveAvgPool2d(1), nn.Flatten(), Slow(),"}],
    "crash": [{"old": "def build_challenge_model():", "new": CRASHING_LAYER},
              {"old": "nn.AdaptiveAvgPool2d(1), nn.Flatten(),", "new": "nn.AdaptiveAvgPool2d(1), nn.Flatten(), Broken(),"}],
}
SHORT_CAP = 15  # seconds: the over_time submission is graded alone, under this cap, while the class is graded
REFUSALS = {"over_cap": r"over the parameter cap: your challenge model has [\d,]+ parameters .* the cap is 100,000",
            "over_time": rf"over the time cap: .* more than its {SHORT_CAP} s on the grading machine, and was stopped",
            "crash": r"crashed: train\(\) on the challenge model raised ValueError: this layer breaks in training"}


HANDED_TABLE = "run,name,lr,parameters,test_accuracy\nab12,lr=0.001,0.001,70330,0.97\ncd34,<b>lr|2</b>,0.002,70330,0.98\n"


def source(name: str) -> str:
    return build.source({"name": name, "base": EXAMPLE, "edits": CLASS[name]})


# --- the config -----------------------------------------------------------------------------------------

def test_grading_yml_declares_the_challenge_and_names_badges_after_their_bars():
    c = load_config().challenge
    assert c.badges == [0.99, 0.995] and [Challenge.badge_name(b) for b in c.badges] == ["99%", "99.5%"]
    assert (c.badge_for(0.9899), c.badge_for(0.99), c.badge_for(0.9951)) == (None, "99%", "99.5%")


def test_a_config_without_the_section_has_no_challenge():
    raw = load_raw(DEFAULT_CONFIG)
    del raw["challenge"]
    assert parse_config(raw).challenge is None


@pytest.mark.parametrize("section, words", [
    ({"badges": [0.99], "iterations": 10, "max_parameters": 5}, r"'challenge' lacks wall_seconds"),
    ({"badges": [0.99], "iterations": 10, "max_parameters": 5, "wall_seconds": 9, "points": 1}, "unknown key"),
    ({"badges": {"99%": 0.99}, "iterations": 10, "max_parameters": 5, "wall_seconds": 9}, r"challenge\.badges"),
    ({"badges": [0.99, 1.5], "iterations": 10, "max_parameters": 5, "wall_seconds": 9}, r"in \(0, 1\]"),
    ({"badges": [0.99, 0.99], "iterations": 10, "max_parameters": 5, "wall_seconds": 9}, "a bar twice"),
    ({"badges": [0.99], "iterations": 0, "max_parameters": 5, "wall_seconds": 9}, r"challenge\.iterations"),
    ({"badges": [0.99], "iterations": 10, "max_parameters": 5, "wall_seconds": 0}, r"challenge\.wall_seconds"),
], ids=["missing", "unknown", "not-a-list", "bar-over-1", "twice", "no-steps", "no-time"])
def test_a_bad_challenge_section_is_refused_with_the_key_named(section, words):
    raw = load_raw(DEFAULT_CONFIG)
    raw["challenge"] = section
    with pytest.raises(ConfigError, match=words):
        parse_config(raw)


# --- the verdict, from what a child returned ------------------------------------------------------------

N = 50
LABELS = torch.arange(N) % 10
RELABEL = derangement(10, b"a test's secret")
PERM = torch.randperm(N, generator=torch.Generator().manual_seed(0))
RULES = Challenge(badges=[0.8, 0.95], iterations=100, max_parameters=1000, wall_seconds=40)
LIMITS = Limits(40, 80, 8192, 64, 2048, {"import": 60, "build_model": 30, "evaluate": 60})


def logits_for(classes: torch.Tensor, wrong: int = 0) -> torch.Tensor:
    """One-hot logits on the test images in the child's order (PERM) for `classes` (official order), the
    first `wrong` of them moved to another class."""
    chosen = classes.clone()
    chosen[:wrong] = (chosen[:wrong] + 1) % 10
    return torch.nn.functional.one_hot(chosen[PERM], 10).float()


def judged(res: dict, **outcome) -> ChallengeResult:
    full = {"phase": "done", "errors": {}, "param_count": 900, "optimizer_steps": 100, **res}
    outcome = sandbox.Outcome(**{"returncode": 0, "wall_s": 12.34, **outcome})
    return challenge.judge(full, None, outcome, RULES, LIMITS, PERM, LABELS, RELABEL, 10)


@pytest.mark.parametrize("wrong, status, badge", [(0, BADGE, "95%"), (5, BADGE, "80%"), (20, NO_BADGE, None)],
                         ids=["all-right", "90%", "60%"])
def test_the_grader_scores_the_logits_against_the_given_labels(wrong, status, badge):
    result = judged({"test_logits": logits_for(RELABEL[LABELS], wrong)})
    assert (result.status, result.badge, result.accuracy) == (status, badge, (N - wrong) / N)
    assert (result.parameters, result.seconds, result.steps) == (900, 12.3, 100)
    assert result.ranked


@pytest.mark.parametrize("res, outcome, words", [
    ({"param_count": 1001}, {}, "over the parameter cap: your challenge model has 1,001 parameters .* cap is 1,000"),
    ({"phase": "train"}, {"timed_out": True}, "over the time cap: .* 40 s .* stopped during train"),
    ({"phase": "build_model"}, {"phase_timeout": "build_model"}, r"build_challenge_model\(\) took more than its 30 s"),
    ({"errors": {"train": {"type": "RuntimeError", "message": "shapes differ", "trace": ""}}}, {},
     r"crashed: train\(\) on the challenge model raised RuntimeError: shapes differ"),
    ({"phase": "train"}, {"returncode": -9}, r"crashed: .*signal 9\) during train\(\)"),
    ({"optimizer_steps": 101}, {}, "over the step budget: train.* 101 .* at most 100"),
    ({"test_logits": torch.zeros(3, 10)}, {}, r"no score: .* shape \(3, 10\), expected \(50, 10\)"),
    ({"test_logits": logits_for(LABELS)}, {}, "does not come from training on the data it was given"),
], ids=["params", "time", "phase-budget", "crash", "killed", "steps", "logits", "smuggled"])
def test_no_badge_and_why(res, outcome, words):
    res = {"test_logits": logits_for(RELABEL[LABELS]), **res}
    result = judged(res, **outcome)
    assert result.status == REFUSED and result.badge is None and not result.ranked
    assert re.search(words, result.reason), result.reason


def test_without_a_challenge_model_the_feedback_says_it_is_optional_in_one_line():
    result = GradeResult("cnn.py", "x", mark="S+", challenge=ChallengeResult(ABSENT, challenge.ABSENT_WORDS))
    lines = [line for line in feedback_md(result).splitlines() if "hallenge" in line]
    assert lines == [f"Challenge: {challenge.ABSENT_WORDS}"]
    assert "leaderboard" not in gradescope(result, load_config())


# --- a small class, graded once -------------------------------------------------------------------------

def grade(name: str, path: Path, out: Path, config: Path) -> str:
    """`grade` of one submission into out/submissions/NAME, where grade-all keeps its reports."""
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(path), "--out",
                           str(out / "submissions" / name), "--config", str(config), "--threads", "1"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The class graded two at a time by `grade`, the slow one under a short time cap (waiting out a cap is
    the cost, so it is short and starts first); then grade-all over the class, which finds every submission
    graded and writes the gradebook and the leaderboard. Yields (out folder, gradebook rows)."""
    tmp = tmp_path_factory.mktemp("challenge")
    folder, out = tmp / "class", tmp / "graded"
    (folder / "example").mkdir(parents=True)  # the example as a folder, with a table beside it
    (folder / "example" / "cnn.py").write_text(source("example"))
    (folder / "example" / "experiments.csv").write_text(HANDED_TABLE)
    for name in CLASS:
        if name != "example":
            (folder / f"{name}.py").write_text(source(name))
    (tmp / "short-cap.yml").write_text(f"base: {CONFIG}\nchallenge: {{wall_seconds: {SHORT_CAP}}}\n")
    jobs = [("over_time", folder / "over_time.py", tmp / "short-cap.yml")] + [
        (name, folder / ("example" if name == "example" else f"{name}.py"), CONFIG) for name in CLASS
        if name != "over_time"]
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda job: grade(*job[:2], out, job[2]), jobs))
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade-all", str(folder), "--out", str(out),
                           "--config", str(CONFIG)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and f"({len(CLASS)} already graded)" in proc.stdout, proc.stdout + proc.stderr
    assert "Challenge leaderboard:" in proc.stdout
    with open(out / "gradebook.csv") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    return out, rows


def reports(out: Path, name: str) -> tuple[dict, str, str]:
    folder = out / "submissions" / name
    return (json.loads((folder / "results.json").read_text()), (folder / "feedback.md").read_text(),
            (folder / "report.html").read_text())


def test_every_challenger_keeps_its_practical_mark(graded):
    out, rows = graded
    for name in CLASS:
        results, feedback, _ = reports(out, name)
        assert rows[name]["mark"] == "S+", feedback
        assert set(results["extra_data"]["checks"].values()) == {"passed"}, feedback


def test_the_example_earns_a_badge_scored_by_the_grader(graded):
    out, rows = graded
    results, feedback, page = reports(out, "example")
    got = results["extra_data"]["challenge"]
    assert (got["status"], got["badge"]) == (BADGE, "80%") and 0.8 <= got["accuracy"] < 0.999, feedback
    namespace: dict = {}
    exec(compile(source("example"), "example", "exec"), namespace)  # our own file, to count its parameters
    assert got["parameters"] == sum(p.numel() for p in namespace["build_challenge_model"]().parameters())
    assert got["steps"] == 80 and 0 < got["seconds"] < 120
    assert results["leaderboard"] == [{"name": n, "value": got[field], "order": order} for n, field, order in RANKING]
    assert "**Challenge badge: 80%**" in feedback and "scored your challenge model itself" in feedback
    assert "80% badge</span>" in page and rows["example"]["challenge"] == "80%"


def test_a_handed_in_experiments_table_travels_with_the_task_and_is_marked_beside_the_mark(graded):
    """grading-challenge.yml marks the table (experiments: 1 point for 2 finished runs); the mark is the practical's."""
    out, _ = graded
    results, feedback, page = reports(out, "example")
    assert results["extra_data"]["experiments"] == {
        "columns": ["name", "lr", "parameters", "test_accuracy"],
        "rows": [["lr=0.001", "0.001", "70330", "0.97"], ["<b>lr|2</b>", "0.002", "70330", "0.98"]], "note": ""}
    assert "## Your experiments (1 of 1 point(s))" in feedback and "| <b>lr\\|2</b> | 0.002 | 70330 | 0.98 |" in feedback
    assert "<td>&lt;b&gt;lr|2&lt;/b&gt;</td>" in page and "<b>lr" not in page
    table = next(t for t in results["tests"] if t["name"] == "Experiments table")
    assert table["score"] == 1 and results["score"] == sum(t["score"] for t in results["tests"])
    crash = reports(out, "crash")  # a bare file has no folder to hand a table in: no points, and how to earn them
    assert "## Your experiments (0 of 1 point(s))" in crash[1] and "no experiments.csv was handed in" in crash[1]
    mark_test, table_test = (next(t for t in crash[0]["tests"] if t["name"] == n) for n in ("Mark", "Experiments table"))
    assert table_test["score"] == 0 and crash[0]["score"] == mark_test["score"]


@pytest.mark.parametrize("name", list(REFUSALS))
def test_a_refused_challenge_earns_no_badge_and_says_why(graded, name):
    out, rows = graded
    results, feedback, page = reports(out, name)
    got = results["extra_data"]["challenge"]
    assert got["status"] == REFUSED and got["badge"] is None and "leaderboard" not in results
    assert re.search(REFUSALS[name], got["reason"]), got["reason"]
    assert "**No badge**" in feedback and REFUSALS[name].split(":")[0] in feedback
    assert "Challenge badge" not in feedback and "<strong>No badge</strong>" in page
    assert rows[name]["challenge"] == REFUSED


def test_the_class_leaderboard_ranks_the_scored_then_lists_the_rest(graded):
    out, _ = graded
    with open(out / "leaderboard.csv") as f:
        board = list(csv.DictReader(f))
    assert list(board[0]) == list(FIELDS)
    assert [(r["rank"], r["submission"]) for r in board] == [("1", "example"), ("", "crash"), ("", "over_cap"),
                                                             ("", "over_time")]  # the scored, then the rest by name
    for row in board:  # the board's numbers are each submission's own
        got = reports(out, row["submission"])[0]["extra_data"]["challenge"]
        assert row["badge"] == (got["badge"] or "") and row["status"] == got["status"]
    page = (out / "leaderboard.html").read_text()
    assert [page.index(f"<td>{r['submission']}</td>") for r in board] == sorted(
        page.index(f"<td>{r['submission']}</td>") for r in board)


def test_ties_are_broken_by_parameters_then_seconds(tmp_path):
    entries = {"a": (0.99, 500, 9.0), "b": (0.99, 400, 9.5), "c": (0.99, 400, 9.1), "d": (0.995, 900, 30.0)}
    for name, (accuracy, parameters, seconds) in entries.items():
        (tmp_path / "submissions" / name).mkdir(parents=True)
        challenge_dict = {"status": BADGE, "badge": "99%", "accuracy": accuracy, "parameters": parameters,
                          "seconds": seconds, "reason": ""}
        (tmp_path / "submissions" / name / "results.json").write_text(
            json.dumps({"extra_data": {"challenge": challenge_dict}}))
    rows = write_leaderboard(tmp_path, sorted(entries))
    assert [r["submission"] for r in rows] == ["d", "c", "b", "a"]
    assert (tmp_path / "leaderboard.csv").is_file() and (tmp_path / "leaderboard.html").is_file()
