"""`python -m autograder variants`: a keyed, repeatable assignment of variants, and one template per variant."""
from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autograder.release import variants
from autograder.practical.config import load_config, load_raw
from autograder.release.release import ReleaseError, write_template
from specs import FAST

ROOT = Path(__file__).resolve().parents[2]
STUDENTS = ["ada", "grace", "alan", "edsger", "barbara"]
# 4 variants, so that two secrets giving the same 5 assignments would be a 1-in-1024 coincidence
VARIANTS = {"conv1.filters": [25, 32], "fc1.units": [1024, 512]}


@pytest.fixture(scope="module")
def config_path(tmp_path_factory) -> Path:
    raw = load_raw(FAST)  # with its base merged in
    raw["practical"]["variants"] = VARIANTS
    path = tmp_path_factory.mktemp("config") / "grading.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def config(config_path):
    return load_config(config_path)


def roster(tmp_path: Path, text: str = "student,name\n" + "".join(f"{s},{s.title()}\n" for s in STUDENTS)) -> Path:
    path = tmp_path / "roster.csv"
    path.write_text(text)
    return path


def secret(tmp_path: Path, key: str, name: str = "secret") -> Path:
    path = tmp_path / name
    path.write_text(key + "\n")
    return path


def mapping(folder: Path) -> dict[str, str]:
    with (folder / "variants.csv").open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["student", "variant"]
    return dict(rows[1:])


def test_same_secret_same_assignment_other_secret_another(tmp_path, config):
    first = variants.write_variants(roster(tmp_path), secret(tmp_path, "k1"), tmp_path / "a", config)
    again = variants.write_variants(roster(tmp_path), secret(tmp_path, "k1", "copy"), tmp_path / "b", config)
    other = variants.write_variants(roster(tmp_path), secret(tmp_path, "k2"), tmp_path / "c", config)
    assert list(first.assignment) == STUDENTS  # roster order
    assert mapping(tmp_path / "a") == first.assignment == again.assignment == mapping(tmp_path / "b")
    assert mapping(tmp_path / "c") == other.assignment != first.assignment
    assert set(first.assignment.values()) | set(other.assignment.values()) <= {"v1", "v2", "v3", "v4"}
    assert first.n_variants == 4


def test_one_template_per_variant_given_each_with_its_own_numbers(tmp_path, config):
    written = variants.write_variants(roster(tmp_path), secret(tmp_path, "k1"), tmp_path / "out", config)
    given = sorted(set(written.assignment.values()))
    assert sorted(p.name for p in (tmp_path / "out" / "templates").iterdir()) == given
    numbers = {"v1": (25, 1024), "v2": (25, 512), "v3": (32, 1024), "v4": (32, 512)}  # enumerate_variants' order
    for vid in given:
        template = tmp_path / "out" / "templates" / vid
        filters, units = numbers[vid]
        facts = json.loads((template / "assignment" / "practical.json").read_text())
        assert (facts["spec"]["network"]["conv1"]["filters"], facts["spec"]["network"]["fc1"]["units"]) == numbers[vid]
        handout = (template / "assignment" / "README.md").read_text()
        assert f"1. Convolution: {filters} filters of 12x12" in handout
        assert f"5. Fully connected layer with {units} units" in handout
        workflow = (template / ".github" / "workflows" / "feedback.yml").read_text()
        assert f'grade "$GITHUB_WORKSPACE" --variant {vid} --out' in workflow


def test_the_variant_a_student_gets_does_not_depend_on_the_others(tmp_path, config):
    key = secret(tmp_path, "k1")
    everyone = variants.write_variants(roster(tmp_path), key, tmp_path / "all", config).assignment
    late = variants.write_variants(roster(tmp_path, "student\nbarbara\nlinus\n"), key, tmp_path / "late", config)
    assert late.assignment["barbara"] == everyone["barbara"]


@pytest.mark.parametrize("text, message", [
    ("name,email\nAda,ada@example.org\n", r"no column 'student' in its header \(found: 'name', 'email'\)"),
    ("", r"no column 'student' .*no header"),
    ("student\nada\n\nada\n", r"line 4: student 'ada' is listed already on line 2"),
    ("student,name\n,Ada\n", r"line 2: the 'student' column is empty"),
    ("student\n", "lists no students"),
], ids=["no-student-column", "empty-file", "duplicate", "empty-id", "no-rows"])
def test_a_bad_roster_is_refused_and_nothing_is_written(tmp_path, config, text, message):
    with pytest.raises(variants.VariantsError, match=message):
        variants.write_variants(roster(tmp_path, text), secret(tmp_path, "k"), tmp_path / "out", config)
    assert not (tmp_path / "out").exists()


def test_a_missing_or_empty_secret_is_refused(tmp_path, config):
    with pytest.raises(variants.VariantsError, match="cannot read the secret file .*nope"):
        variants.write_variants(roster(tmp_path), tmp_path / "nope", tmp_path / "out", config)
    with pytest.raises(variants.VariantsError, match="is empty"):
        variants.write_variants(roster(tmp_path), secret(tmp_path, "  "), tmp_path / "out", config)
    assert not (tmp_path / "out").exists()


def test_a_folder_in_use_is_refused(tmp_path, config):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "variants.csv").write_text("student,variant\nada,v3\n")
    with pytest.raises(variants.VariantsError, match="not empty"):
        variants.write_variants(roster(tmp_path), secret(tmp_path, "k"), tmp_path / "out", config)
    assert (tmp_path / "out" / "variants.csv").read_text() == "student,variant\nada,v3\n"


def test_an_unknown_variant_is_refused_by_release(tmp_path, config):
    with pytest.raises(ReleaseError, match="unknown variant 'v9'; this spec has v1, v2, v3, v4"):
        write_template(tmp_path / "t", config, "v9")


def test_the_command(tmp_path, config_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "autograder", "variants", *args, "--config", str(config_path)],
                              cwd=ROOT, capture_output=True, text=True, timeout=120)

    ok = run(str(roster(tmp_path)), "--secret-file", str(secret(tmp_path, "k1")), "--out", str(tmp_path / "out"))
    assert ok.returncode == 0, ok.stderr
    assert "Assigned 5 students" in ok.stdout and "variants.csv" in ok.stdout
    assert len(mapping(tmp_path / "out")) == 5
    bad = run(str(roster(tmp_path, "login\nada\n")), "--secret-file", str(tmp_path / "k1"), "--out",
              str(tmp_path / "out2"))
    assert bad.returncode == 2 and "no column 'student'" in bad.stderr and "Traceback" not in bad.stderr
