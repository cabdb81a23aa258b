"""The CSVs for courses without API access: Moodle's grade import (the columns of its own export) and Canvas's
gradebook import (Student, ID, SIS User ID, SIS Login ID, Section, then "NAME (ID)"); both read back."""
import csv

from autograder.classroom.batch import grade_all
from autograder.cli import main
from classroom_fixtures import graded, student_repo
from specs import TINY

MARKS = {"ana": "S+", "ben": "S", "cat": "none"}


def klass(tmp_path):
    folder, out = tmp_path / "class", tmp_path / "out"
    for name, mark in MARKS.items():
        graded(out, name, student_repo(folder, name, "2025-03-07T16:00:00+00:00"), mark)
    assert grade_all(folder, out, config_path=str(TINY)) == 0
    roster = tmp_path / "roster.csv"
    roster.write_text("student,name,canvas_id,sis_user_id,login_id,email,id_number,section\n" + "".join(
        f"{n},Student {n},{100 + i},S-{n},{n}@uni,{n}@uni.example,ID{i},Lab A\n" for i, n in enumerate(MARKS)))
    return out, roster


def read(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_moodle_csv_has_the_export_columns_and_reads_back(tmp_path):
    out, roster = klass(tmp_path)
    target = tmp_path / "moodle.csv"
    assert main(["lms", "csv", str(out), "--format", "moodle", "--roster", str(roster), "--csv", str(target),
                 "--name", "CNN practical", "--points-possible", "10", "--config", str(TINY)]) == 0
    header, *rows = read(target)
    assert header == ["ID number", "Email address", "Assignment: CNN practical", "Assignment: CNN practical (Feedback)"]
    assert rows == [["ID0", "ana@uni.example", "10", "Mark: S+"], ["ID1", "ben@uni.example", "5", "Mark: S"],
                    ["ID2", "cat@uni.example", "0", "Mark: none"]]


def test_canvas_csv_has_the_gradebook_columns_and_reads_back(tmp_path):
    out, roster = klass(tmp_path)
    target = tmp_path / "canvas.csv"
    assert main(["lms", "csv", str(out), "--format", "canvas", "--roster", str(roster), "--csv", str(target),
                 "--name", "CNN practical", "--assignment", "7", "--config", str(TINY)]) == 0
    header, *rows = read(target)
    assert header == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "CNN practical (7)"]
    assert {r[1]: r[5] for r in rows} == {"100": "2", "101": "1", "102": "0"}  # points out of the config's S+ 2
    assert rows[0][:5] == ["Student ana", "100", "S-ana", "ana@uni", "Lab A"]


def test_a_student_without_an_id_is_left_out_and_named(tmp_path, capsys):
    out, _ = klass(tmp_path)
    roster = tmp_path / "partial.csv"
    roster.write_text("student,sis_user_id\nana,S-ana\nben,S-ben\n")
    target = tmp_path / "canvas.csv"
    assert main(["lms", "csv", str(out), "--format", "canvas", "--roster", str(roster), "--csv", str(target),
                 "--assignment", "7", "--config", str(TINY)]) == 1
    assert "left out (no id in the roster): cat" in capsys.readouterr().err
    assert [r[2] for r in read(target)[1:]] == ["S-ana", "S-ben"]
