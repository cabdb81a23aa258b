"""`python -m assignment experiments`: a tiny grid (two runs of a few steps) gives the table, with the
FLOPs torch counts equal to a hand count, the network settings reaching build_model(), and a rerun that
keeps finished rows and trains only the rest. Random images stand in for MNIST: only the mechanics are
under test, not what the runs learn."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import torch

from assignment import experiments, practical
from assignment.__main__ import main
from assignment.data import Splits, TensorImages
from assignment.solution import load_solution
REFERENCE = Path(__file__).resolve().parents[2] / "reference" / "cnn.py"
# two FLOPs per multiply-add: conv1 25 maps of 9x9, each 1x12x12; conv2 64 maps of 9x9, each 25x5x5; fc1; fc2
HAND_FLOPS = {1024: 2 * (25 * 9 * 9 * 12 * 12 + 64 * 9 * 9 * 25 * 5 * 5 + 1024 * 1024 + 1024 * 10),
              128: 2 * (25 * 9 * 9 * 12 * 12 + 64 * 9 * 9 * 25 * 5 * 5 + 1024 * 128 + 128 * 10)}
HAND_PARAMS = {1024: 1_103_539, 128: (12 * 12 * 25 + 25) + (5 * 5 * 25 * 64 + 64) + (1024 * 128 + 128) + (128 * 10 + 10)}
@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a busy machine, more make a few small steps many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


GRID = "defaults: {iterations: 6, batch_size: 20}\nlog_every: 3\ngrid:\n  fc1.units: [1024, 128]\n"


def test_flops_of_the_practicals_network_are_the_hand_count():
    model = load_solution(REFERENCE).build_model()
    assert experiments.flops_per_image(model, (1, 28, 28)) == HAND_FLOPS[1024] == 9_180_832


def test_a_changed_spec_is_measured_by_torch_and_reaches_build_model():
    facts = json.loads(practical.FACTS.read_text())
    spec = experiments.varied(facts, {"fc1.units": 128, "conv1.padding": 1}, "test")
    assert spec.conv1_out == (25, 10, 10) and spec.fc1_units == 128
    with practical.using(spec):
        model = load_solution(REFERENCE).build_model()
    assert sum(p.numel() for p in model.parameters()) == spec.param_counts[0]
    assert practical.load() != spec  # only within `using`


@pytest.mark.parametrize("text, words", [
    ("grid: {fc2.units: [1]}\n", r"grid\.fc2\.units is not a setting"),
    ("grid: {optimiser: [Adamm]}\n", "not a torch.optim optimiser"),
    ("grid: {lr: []}\n", "non-empty list"),
    ("defaults: {iterations: 0}\n", "iterations must be a whole number"),
    ("defaults: {momentum: 0.9}\n", "momentum is for SGD and RMSprop"),
    ("grid: {conv1.kernel: [40]}\n", "no network of the practical's form fits 28x28"),
], ids=["unknown", "optimiser", "empty", "iterations", "momentum", "too-big"])
def test_a_bad_grid_is_refused_with_the_setting_named(tmp_path, text, words):
    (tmp_path / "grid.yml").write_text(text)
    facts = json.loads(practical.FACTS.read_text())
    with pytest.raises(experiments.GridError, match=words):
        runs, _ = experiments.read_grid(tmp_path / "grid.yml", facts["spec"])
        for run in runs:
            experiments.varied(facts, run.network, run.name)


def read_table(out):
    with open(out / "experiments.csv", newline="") as f:
        return list(csv.DictReader(f))


def small_splits() -> Splits:
    """Random images with random labels: the table's mechanics need no MNIST, and 300 images keep it fast."""
    g = torch.Generator().manual_seed(0)

    def part(n):
        return TensorImages(torch.randn(n, 1, 28, 28, generator=g), torch.randint(0, 10, (n,), generator=g))
    return Splits(part(300), part(100), part(100))


def test_a_tiny_grid_gives_the_table_and_a_rerun_trains_only_what_is_missing(tmp_path, capsys):
    (tmp_path / "grid.yml").write_text(GRID)
    facts = json.loads(practical.FACTS.read_text())
    runs, log_every = experiments.read_grid(tmp_path / "grid.yml", facts["spec"])
    cnn, splits, out = load_solution(REFERENCE), small_splits(), tmp_path / "out"
    experiments.run_grid(runs, log_every, facts, cnn, splits, out)
    rows = read_table(out)
    assert [r["name"] for r in rows] == ["fc1.units=1024", "fc1.units=128"]
    for row, units in zip(rows, (1024, 128)):
        assert int(row["flops_per_image"]) == HAND_FLOPS[units] and int(row["parameters"]) == HAND_PARAMS[units]
        assert (row["optimiser"], row["lr"], row["iterations"]) == ("Adam", "0.0001", "6")
        assert 0 <= float(row["valid_accuracy"]) <= 1 and 0 <= float(row["test_accuracy"]) <= 1
    histories = json.loads((out / "curves.json").read_text())
    assert [[h["iteration"] for h in histories[r["run"]]] for r in rows] == [[3, 6], [3, 6]]
    for name in ("accuracy_vs_parameters.png", "curves.png"):
        assert (out / name).stat().st_size > 0
    table = (out / "experiments.md").read_text()
    assert "Every run: optimiser Adam, lr 0.0001, batch_size 20, iterations 6, seed 0." in table
    assert "| fc1.units=128 | 176,179 | 7,327,904 |" in table

    with open(out / "experiments.csv", "w", newline="") as f:  # as if stopped during the second run
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerow(rows[0])
    capsys.readouterr()
    again = experiments.run_grid(runs, log_every, facts, cnn, splits, out)
    assert "2 runs: 1 already in" in capsys.readouterr().out
    assert again[0] == rows[0] == read_table(out)[0]  # the finished row, untouched
    assert [r["name"] for r in read_table(out)] == ["fc1.units=1024", "fc1.units=128"]


def test_the_command_refuses_a_bad_grid_before_loading_anything(tmp_path, capsys):
    (tmp_path / "grid.yml").write_text("grid: {batch_size: [0]}\n")
    assert main(["experiments", str(tmp_path / "grid.yml"), "--out", str(tmp_path / "out")]) == 2
    assert "batch_size must be a whole number of at least 1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_handed_in_table_is_read_as_data_and_cut_to_size(tmp_path):
    from autograder.grading.submission import MAX_TABLE_ROWS, experiments_table

    path = tmp_path / "experiments.csv"
    assert experiments_table(path) is None
    path.write_text("run,name,test_accuracy\n" + "".join(f"id{i},run {i},0.9\n" for i in range(MAX_TABLE_ROWS + 5)))
    table = experiments_table(path)
    assert table["columns"] == ["name", "test_accuracy"] and len(table["rows"]) == MAX_TABLE_ROWS
    assert table["rows"][0] == ["run 0", "0.9"] and f"first {MAX_TABLE_ROWS} of {MAX_TABLE_ROWS + 5}" in table["note"]
    path.write_bytes(b"\xff\xfe not text")
    assert "not a CSV text file" in experiments_table(path)["note"]


def test_grade_all_carries_a_table_from_a_folder_but_not_from_a_bare_file(tmp_path):
    from autograder.classroom.batch import make_task
    from autograder.classroom.worker import write_submission

    (tmp_path / "class" / "ada").mkdir(parents=True)
    (tmp_path / "class" / "ada" / "cnn.py").write_text("x = 1\n")
    (tmp_path / "class" / "ada" / "experiments.csv").write_text("name\nrun\n")
    (tmp_path / "class" / "bob.py").write_text("x = 2\n")
    (tmp_path / "class" / "experiments.csv").write_text("not bob's\n")  # beside a bare file: the class's, not his
    tasks = {name: make_task(name, tmp_path / "class" / entry, b"", 1.0, "", None, "v1")
             for name, entry in (("ada", "ada"), ("bob", "bob.py"))}
    assert tasks["ada"].experiments == b"name\nrun\n" and tasks["bob"].experiments is None
    entry = write_submission(tasks["ada"], tmp_path / "scratch")
    assert (entry / "cnn.py").read_text() == "x = 1\n" and (entry / "experiments.csv").read_text() == "name\nrun\n"


TABLE_CSV = ("run,name,parameters,test_accuracy\n"
             "a1,adam,1103539,0.981\nb2,sgd,1103539,0.95\nc3,broken,1103539,\nd4,bad,1103539,nan-ish\n")


def marked_result(folder: Path, table_text: str | None, policy):
    """A graded S+ result with this table handed in, as grade.py makes it under an `experiments:` policy."""
    from autograder.judging.marking import experiments_verdict
    from autograder.judging.results import GradeResult
    from autograder.grading.submission import experiments_table

    if table_text is not None:
        (folder / "experiments.csv").write_text(table_text)
    table = experiments_table(folder / "experiments.csv")
    return GradeResult("cnn.py", "0" * 64, mark="S+", experiments=table,
                       experiments_marked=experiments_verdict(table, policy) if policy else None)


def config_with_experiments(section):
    from autograder.practical.config import DEFAULT_CONFIG, load_raw, parse_config

    raw = load_raw(DEFAULT_CONFIG)
    raw["experiments"] = section
    return parse_config(raw)


@pytest.mark.parametrize("section, words", [
    ({"points": 0, "min_runs": 2}, "points > 0"), ({"points": 1, "min_runs": 0}, "min_runs >= 1"),
    ({"points": 1}, "lacks min_runs"), ({"points": 1, "min_runs": 2, "rows": 3}, "unknown key"),
    ({"points": "one", "min_runs": 2}, "must be float")])
def test_a_malformed_experiments_section_is_refused(section, words):
    from autograder.practical.config import ConfigError

    with pytest.raises(ConfigError, match=words):
        config_with_experiments(section)


def test_without_the_section_a_table_is_shown_and_scores_nothing(tmp_path):
    from autograder.practical.config import load_config
    from autograder.reports.report import feedback_md, gradescope

    config = load_config()
    assert config.experiments is None
    result = marked_result(tmp_path, TABLE_CSV, config.experiments)
    out = gradescope(result, config)
    assert out["score"] == config.points["S+"] and "Experiments table" not in [t["name"] for t in out["tests"]]
    assert "## Your experiments (not marked)" in feedback_md(result)


@pytest.mark.parametrize("min_runs, earned, words", [
    (2, 1, "2 finished run(s), at least the 2 asked for"),
    (3, 0, "2 finished run(s) (rows with a test_accuracy between 0 and 1), fewer than the 3 asked for")])
def test_a_marked_table_earns_its_points_beside_an_unchanged_mark(min_runs, earned, words, tmp_path):
    from autograder.reports.report import feedback_md, gradescope
    from autograder.reports.report_page import report_html

    config = config_with_experiments({"points": 1, "min_runs": min_runs})
    result = marked_result(tmp_path, TABLE_CSV, config.experiments)
    out = gradescope(result, config)
    table_test = next(t for t in out["tests"] if t["name"] == "Experiments table")
    assert (table_test["score"], table_test["max_score"]) == (earned, 1) and words in table_test["output"]
    assert out["score"] == sum(t["score"] for t in out["tests"]) == config.points["S+"] + earned
    assert out["extra_data"]["mark"] == "S+"
    heading = f"Your experiments ({earned} of 1 point(s))"
    assert f"## {heading}" in feedback_md(result) and heading in report_html(result, {})


def test_a_marked_table_not_handed_in_says_how_to_make_one(tmp_path):
    from autograder.reports.report import feedback_md, gradescope

    config = config_with_experiments({"points": 2, "min_runs": 4})
    result = marked_result(tmp_path, None, config.experiments)
    assert gradescope(result, config)["score"] == config.points["S+"]
    assert "no experiments.csv was handed in" in feedback_md(result) and "earns 2 point(s)" in feedback_md(result)


def test_the_handout_says_when_the_table_is_marked(tmp_path):
    import yaml

    from autograder.practical.config import load_config, load_raw
    from autograder.release.render import render_files

    raw = load_raw(Path(__file__).resolve().parents[2] / "grading.yml")
    raw["experiments"] = {"points": 1, "min_runs": 4}
    (tmp_path / "marked.yml").write_text(yaml.safe_dump(raw))
    config = load_config(tmp_path / "marked.yml")
    handout = render_files(config.practical, config)["README.md"]
    assert "a table of at least 4 finished runs earns 1 point(s) beside your mark" in " ".join(handout.split())
    assert "the grading report shows it, unmarked" not in " ".join(handout.split())
