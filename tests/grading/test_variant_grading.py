"""Grading against another spec and per-student variants: `grade --variant`, `grade-all --roster`, the
`spec` command, and refusals that name what is wrong. Submissions here hard-code today's network (the
handout-recipe file), so they stand for a solution written for another spec or copied from a classmate."""
import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autograder import cli
from autograder.practical.config import ConfigError, load_config, load_raw, merged, parse_config
from autograder.judging.marking import mark_for
from autograder.judging.results import FAILED, PASSED, CheckResult
from specs import TINY

ROOT = Path(__file__).resolve().parents[2]
HANDOUT = ROOT / "tests" / "catalogue" / "files" / "handout_recipe.py"
VARIANT_B = {"conv1": {"filters": 32, "kernel": 10}, "fc1": {"units": 512}}


def config_file(tmp_path: Path, name: str, **override) -> Path:
    """tests/grading-tiny.yml (a budget small enough for a quick grade) with `override` on top."""
    text = {"base": str(TINY), **override}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(text))
    return path


def grade(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


@pytest.mark.slow
def test_todays_network_graded_against_another_spec_gets_no_s_plus(tmp_path, mnist_root):
    config = config_file(tmp_path, "variant-b.yml", practical={"network": VARIANT_B})
    out = tmp_path / "out"
    proc = grade(["grade", str(HANDOUT), "--out", str(out), "--config", str(config), "--threads", "2"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    extra = json.loads((out / "results.json").read_text())["extra_data"]
    feedback = (out / "feedback.md").read_text()
    assert extra["mark"] == "S", feedback  # it runs, trains and learns; it is not the network asked for
    assert extra["checks"]["architecture"] == FAILED
    assert "your model has 1,103,539 parameters, expected 879,338" in feedback
    assert "no parameter of shape (32, 1, 10, 10) for conv1.weight: expected 32 filters of 1x10x10" in feedback
    assert "first convolution with 32 filters of 1x10x10" in feedback  # why top_patches cannot be checked


@pytest.mark.slow
def test_grade_all_grades_each_student_against_their_variant(tmp_path, mnist_root):
    config = config_file(tmp_path, "variants.yml", practical={"variants": {"fc1.units": [1024, 512]}})
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "stub.py").write_text((ROOT / "assignment" / "cnn.py").read_text())
    (folder / "alice.py").write_text(HANDOUT.read_text())
    (folder / "bob.py").write_text(HANDOUT.read_text())  # alice's solution, handed in by bob
    roster = tmp_path / "mapping.csv"
    roster.write_text("student,variant\nalice,v1\nbob,v2\nstub,v1\n")
    out = tmp_path / "out"
    proc = grade(["grade-all", str(folder), "--out", str(out), "--config", str(config), "--jobs", "2",
                  "--roster", str(roster)])
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(out / "gradebook.csv") as f:
        book = {r["submission"]: r for r in csv.DictReader(f)}
    assert {n: (r["mark"], r["variant"], r["matches_variant"]) for n, r in book.items()} == {
        "alice": ("S+", "v1", "v1"), "bob": ("S", "v2", "v1"), "stub": ("none", "v1", "")}
    assert book["bob"]["architecture"] == FAILED and book["bob"]["accuracy_s"] == PASSED
    feedback = (out / "submissions" / "bob" / "feedback.md").read_text()
    assert ("your network is that of variant v1 (fc1.units 1024), but your assigned variant is v2 "
            "(fc1.units 512)") in feedback
    extra = json.loads((out / "submissions" / "bob" / "results.json").read_text())["extra_data"]
    assert (extra["variant"], extra["matches_variant"]) == ("v2", "v1")

    roster.write_text("student,variant\nalice,v2\nbob,v2\nstub,v1\n")  # a new mapping regrades alice only
    again = grade(["grade-all", str(folder), "--out", str(out), "--config", str(config), "--roster", str(roster)])
    assert "(2 already graded)" in again.stdout, again.stdout + again.stderr[-2000:]


@pytest.mark.parametrize("text, words", [
    ("name,variant\nalice,v1\n", "header student,variant"),
    ("student,variant\nalice,v3\n", r"line 2: alice's variant 'v3' is not one of .*v1, v2"),
    ("student,variant\nalice,v1\nalice,v2\n", "line 3: alice is listed twice"),
], ids=["header", "unknown-variant", "twice"])
def test_a_bad_roster_is_refused_before_anything_is_graded(tmp_path, capsys, text, words):
    config = config_file(tmp_path, "variants.yml", practical={"variants": {"fc1.units": [1024, 512]}})
    (tmp_path / "class").mkdir()
    (tmp_path / "roster.csv").write_text(text)
    code = cli.main(["grade-all", str(tmp_path / "class"), "--out", str(tmp_path / "out"), "--config", str(config),
                     "--roster", str(tmp_path / "roster.csv")])
    assert code == 2
    assert re.search(words, capsys.readouterr().err)
    assert not (tmp_path / "out").exists()


def test_an_unknown_variant_is_refused(tmp_path, capsys):
    code = cli.main(["grade", str(HANDOUT), "--out", str(tmp_path / "out"), "--config", str(TINY),
                     "--variant", "v2"])
    assert code == 2 and "unknown variant 'v2'; this spec has v1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_another_variants_network_never_earns_s_plus():
    config = load_config(TINY)
    checks = [CheckResult(name, name, PASSED) for name in config.checks]
    assert mark_for(checks, config) == "S+"
    assert mark_for(checks, config, other_variant="v1") == "S"


def test_the_spec_command_prints_the_table_and_the_variants_without_torch(tmp_path):
    config = config_file(tmp_path, "variants.yml", practical={"variants": {"fc1.units": [1024, 512]}})
    code = ("import sys; from autograder.cli import main; code = main(sys.argv[1:]); "
            "assert 'torch' not in sys.modules, 'spec imported torch'; sys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", code, "spec", "--config", str(config), "--variant", "v2"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "variant v2" in proc.stdout
    fc1 = next(line for line in proc.stdout.splitlines() if line.startswith("fc1 "))
    assert fc1.split()[-2:] == ["512", "524,800"]  # v2's fc1: its units and parameters
    assert "  v1: fc1.units=1024; 1,103,539 parameters" in proc.stdout
    assert "  v2: fc1.units=512; 573,619 parameters" in proc.stdout
    assert "top-patch window: 12x12, stride 2, padding 0" in proc.stdout


@pytest.mark.parametrize("practical, field", [
    ({"network": {"conv1": {"kernel": -3}}}, r"practical\.network\.conv1\.kernel"),
    ({"network": {"conv1": {"kernel": 30}}}, r"practical\.network\.conv1: its output would be"),
    ({"dataset": {"name": "imagenet"}}, r"practical\.dataset\.name is 'imagenet'"),
    ({"variants": {"fc1.units": [1024, 0]}}, r"variant v2 \(fc1\.units=0\).*fc1\.units"),
    ({"variants": {"fc1.size": [1, 2]}}, r"practical\.variants: 'fc1\.size' is not a field"),
], ids=["negative-kernel", "shrinks-below-1x1", "unknown-dataset", "bad-variant-choice", "unknown-variant-field"])
def test_a_malformed_spec_is_refused_at_load_naming_the_field(practical, field):
    raw = load_raw(TINY)
    raw["practical"] = merged(raw["practical"], practical)
    with pytest.raises(ConfigError, match=field):
        parse_config(raw)
