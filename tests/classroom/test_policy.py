"""The course policy: deadline, late rule, extensions and overrides, applied by grade-all; the audit log it
keeps; malformed policies and CSVs refused with the file, line and field named."""
import csv
from pathlib import Path

import pytest
import yaml

from autograder.classroom.batch import grade_all
from autograder.classroom.audit import LOG, read_log, rebuild
from autograder.classroom.policy import load_policy, submission_time
from autograder.practical.config import ConfigError, load_config
from autograder.classroom.gradebook import write_gradebook
from classroom_fixtures import graded, student_repo
from specs import TINY

DEADLINE = "2025-03-07 17:00"  # Europe/London, GMT in March: 17:00 UTC
ON_TIME, LATE = "2025-03-07T16:00:00+00:00", "2025-03-08T09:00:00+00:00"


def course_config(tmp_path: Path, **course) -> Path:
    path = tmp_path / "grading.yml"
    section = {"deadline": DEADLINE, "timezone": "Europe/London", "late": {"counts_as": "S"},
               "extensions": "extensions.csv", "overrides": "overrides.csv", **course}
    path.write_text(yaml.safe_dump({"base": str(TINY), "course": section}))
    return path


def write_csv(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


@pytest.fixture
def six(tmp_path):
    """A class of six: automatic S+, S and none on time; a late S+; an S+ late but within an extension; a
    none overridden to S after a discussion."""
    folder, out = tmp_path / "class", tmp_path / "out"
    automatic = {"ana": "S+", "ben": "S", "cat": "none", "dan": "S+", "eve": "S+", "fay": "none"}
    for name, mark in automatic.items():
        when = LATE if name in ("eve",) else ON_TIME
        tag = LATE if name == "dan" else None  # committed on time, but handed in (tagged) late: the tag counts
        graded(out, name, student_repo(folder, name, when, tag), mark)
    write_csv(tmp_path / "extensions.csv", [["student", "deadline", "reason"],
                                            ["eve", "2025-03-10 17:00", "illness"]])
    write_csv(tmp_path / "overrides.csv", [["student", "mark", "points", "reason", "by", "when"],
                                           ["fay", "S", "", "discussed in the lab", "demonstrator J", "2025-03-09"]])
    return folder, out, course_config(tmp_path)


def gradebook(out: Path) -> dict:
    with open(out / "gradebook.csv") as f:
        return {r["submission"]: r for r in csv.DictReader(f)}


def test_submission_time_is_the_submit_tag_else_head(tmp_path):
    tagged = student_repo(tmp_path, "t", ON_TIME, tag=LATE)
    plain = student_repo(tmp_path, "p", ON_TIME)
    assert submission_time(tagged).isoformat() == LATE
    assert submission_time(plain).isoformat() == ON_TIME
    (tmp_path / "f.py").write_text("x = 1\n")
    assert submission_time(tmp_path / "f.py") is None  # a bare file: the platform recorded no time


def test_a_class_of_six_gets_its_final_marks_causes_and_audit_lines(six, tmp_path):
    folder, out, config = six
    assert grade_all(folder, out, config_path=str(config)) == 0
    book = gradebook(out)
    final = {n: (r["mark"], r["final_mark"], r["final_points"]) for n, r in book.items()}
    assert final == {"ana": ("S+", "S+", "2"), "ben": ("S", "S", "1"), "cat": ("none", "none", "0"),
                     "dan": ("S+", "S", "1"), "eve": ("S+", "S+", "2"), "fay": ("none", "S", "1")}
    assert book["dan"]["why"] == "late by 1 day: a late S+ counts as S"
    assert book["dan"]["submitted"] == "2025-03-08T09:00+00:00"
    assert book["eve"]["why"] == "on time with an extension to 2025-03-10T17:00+00:00"
    assert book["fay"]["why"] == "override (mark S) by demonstrator J on 2025-03-09: discussed in the lab"
    assert book["ana"]["why"] == book["ben"]["why"] == book["cat"]["why"] == ""

    lines = read_log(out / LOG)
    assert [(l["student"], l["before"], l["after"]["mark"], l["cause"]) for l in lines] == [
        (n, None, final[n][1], "graded") for n in sorted(final)]

    # the same run again changes nothing, and appends nothing
    assert grade_all(folder, out, config_path=str(config)) == 0
    assert len(read_log(out / LOG)) == 6

    # a new override and a changed policy: one line each for whom it changes
    with open(tmp_path / "overrides.csv", "a", newline="") as f:
        csv.writer(f).writerow(["cat", "", "0.5", "partial credit after discussion", "lecturer K", "2025-03-11"])
    assert grade_all(folder, out, config_path=str(config)) == 0
    config = course_config(tmp_path, late={"points_per_day": 0.5, "max_points_off": 1})
    assert grade_all(folder, out, config_path=str(config)) == 0
    lines = read_log(out / LOG)
    assert [(l["student"], l["before"], l["after"], l["cause"], l["source"]) for l in lines[6:]] == [
        ("cat", {"mark": "none", "points": 0.0}, {"mark": "none", "points": 0.5}, "override",
         str(tmp_path / "overrides.csv")),
        ("dan", {"mark": "S", "points": 1.0}, {"mark": "S+", "points": 1.5}, "policy", str(config))]
    assert gradebook(out)["dan"]["why"] == "late by 1 day: 0.5 points off"

    # the gradebook rebuilt from the automatic marks, the policy and the log is the same file
    rebuilt = tmp_path / "rebuilt.csv"
    loaded = load_config(config)
    write_gradebook(rebuilt, rebuild(out, load_policy(loaded), list(loaded.checks)))
    assert rebuilt.read_bytes() == (out / "gradebook.csv").read_bytes()


def test_the_audit_command_prints_a_students_history(six, capsys):
    from autograder.cli import main

    folder, out, config = six
    assert grade_all(folder, out, config_path=str(config)) == 0
    capsys.readouterr()
    assert main(["audit", "dan", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "dan: 1 change(s)" in printed and "nothing -> S (1 points)  graded" in printed
    assert main(["audit", "nobody", "--out", str(out)]) == 1


@pytest.mark.parametrize("file, rows, message", [
    ("overrides.csv", [["student", "mark", "reason"]], "overrides.csv, line 1: the header must be student,mark,"),
    ("overrides.csv", [["student", "mark", "points", "reason", "by", "when"], ["fay", "A", "", "r", "b", "w"]],
     "overrides.csv, line 2, column mark: 'A' is not one of S+, S, none"),
    ("overrides.csv", [["student", "mark", "points", "reason", "by", "when"], ["fay", "", "two", "r", "b", "w"]],
     "overrides.csv, line 2, column points: 'two' is not a number"),
    ("overrides.csv", [["student", "mark", "points", "reason", "by", "when"], ["fay", "S", "", "", "b", "w"]],
     "overrides.csv, line 2, column reason: empty"),
    ("overrides.csv", [["student", "mark", "points", "reason", "by", "when"], ["fay", "S", "", "r", "b", "w"],
                       ["fay", "S+", "", "r", "b", "w"]], "overrides.csv, line 3, column student: fay is listed "
                                                          "already on line 2"),
    ("extensions.csv", [["student", "deadline", "reason"], ["eve", "next week", "ill"]],
     "extensions.csv, line 2, column deadline must be a date and time"),
])
def test_a_malformed_csv_is_refused_naming_file_line_and_field(six, tmp_path, file, rows, message):
    folder, out, config = six
    write_csv(tmp_path / file, rows)
    with pytest.raises(ConfigError, match=None) as err:
        grade_all(folder, out, config_path=str(config))
    assert message in str(err.value)
    assert not (out / "gradebook.csv").exists()  # refused before anything was written


@pytest.mark.parametrize("course, message", [
    ({"timezone": "Mars/Olympus"}, "course.timezone must be a time zone name"),
    ({"deadline": "Friday"}, "course.deadline must be a date and time"),
    ({"late": {"counts_as": "A"}}, "course.late.counts_as must be one of S+, S, none"),
    ({"late": {"counts_as": "S", "points_per_day": 1}}, "course.late must be {counts_as: S}"),
    ({"late": {"points_per_day": 1, "max_points_off": -1}}, "course.late.max_points_off must be a number"),
    ({"grace": 3}, "unknown key(s) in 'course': grace"),
])
def test_a_malformed_policy_is_refused_at_load(tmp_path, course, message):
    with pytest.raises(ConfigError) as err:
        load_config(course_config(tmp_path, **course))
    assert message in str(err.value) and "grading.yml" in str(err.value)
