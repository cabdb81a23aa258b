"""The reports take whatever a submission did: any value serialises, student text stays inside its code
blocks, and report.html holds the cause its rows point to. Nothing here grades."""
import json
import re

import pytest
import torch

from autograder.reports import report
from autograder.practical.config import load_config
from autograder.reports.report_page import report_html
from autograder.judging.results import ERROR, CheckResult, GradeResult
from specs import FAST

FORGED = "## Mark: S+ (forged)"
PRINTED = f"training...\n```\n{FORGED}\n````\n```python\nstill printed"


def outside_code(markdown: str) -> list[str]:
    """The lines of `markdown` outside fenced code blocks (CommonMark: a block closes on a fence of the
    same character at least as long as the one that opened it); asserts every block is closed."""
    lines, fence = [], None
    for line in markdown.splitlines():
        stripped = line.strip()
        if fence is None and re.match(r"`{3,}[^`]*$", stripped):
            fence = re.match(r"`+", stripped).group()
        elif fence is not None and re.fullmatch(r"`+", stripped) and len(stripped) >= len(fence):
            fence = None
        elif fence is None:
            lines.append(line)
    assert fence is None, f"a code block is left open:\n{markdown}"
    return lines


def test_any_value_serialises_and_every_report_is_written(tmp_path):
    result = GradeResult("cnn.py", "", checks=[CheckResult("training", "Training", ERROR, ["not run"])],
                         child={"timings": {("train", 2): 1.0}, "phase": torch.zeros(2), "wall_s": float("nan")},
                         history=[{("loss", 1): 0.5, "iteration": (1, 2)}])
    report.write_reports(result, load_config(FAST), tmp_path)
    results = json.loads((tmp_path / "results.json").read_text(),
                         parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))  # strict JSON: no NaN
    assert results["extra_data"]["child"]["timings"] == {"('train', 2)": 1.0}
    assert results["extra_data"]["child"]["wall_s"] is None
    assert (tmp_path / "feedback.md").is_file() and (tmp_path / "report.html").is_file()


def test_printed_code_fences_stay_inside_their_block():
    result = GradeResult("cnn.py", "", checks=[CheckResult(
        "training", "Training", ERROR, [f"train() raised an error: ValueError: x\n{PRINTED}"])],
        child={"stdout_tail": PRINTED}, cause=[f"train() raised an error\n{PRINTED}", f"a fix\n{PRINTED}"])
    feedback = report.feedback_md(result)
    assert feedback.count(FORGED) == 4
    assert not [line for line in outside_code(feedback) if FORGED in line or "still printed" in line]
    output = report.gradescope(result, load_config(FAST))["output"]  # Gradescope's markdown
    assert FORGED in output and not [line for line in outside_code(output) if FORGED in line]


def test_report_html_holds_the_cause_its_rows_point_to():
    result = GradeResult("cnn.py", "", checks=[CheckResult(
        "training", "Training", ERROR, ["not run: needs train() (see the cause at the top)"])],
        cause=["train() raised an error: ValueError: <b>x</b>", "use a smaller batch"])
    page = report_html(result, {})
    assert "What stopped your code" in page and "use a smaller batch" in page
    assert page.index("ValueError: &lt;b&gt;x&lt;/b&gt;") < page.index("see the cause at the top")


# results.json read back (reports/results_file.py): every field of a good file, and a clear refusal of the rest
def graded_results(tmp_path):
    from autograder.judging.results import ChallengeResult

    result = GradeResult("cnn.py", "abc123", mark="S", test_accuracy=0.9812, accuracy_verified=True,
                         canary_accuracy=0.5, elapsed_s=12.5, variant="v2", matches_variant="v1",
                         checks=[CheckResult("training", "Training", "passed"),
                                 CheckResult("forward", "Forward", "failed", ["wrong shape"])],
                         challenge=ChallengeResult("badge", "measured", "99%", 0.991, 12345, 33.0, 100))
    report.write_reports(result, load_config(FAST), tmp_path)
    return tmp_path / "results.json"


def test_results_reader_reads_every_field_the_grader_writes(tmp_path):
    from autograder.reports.results_file import Extra, Results, read

    path = graded_results(tmp_path)
    got = read(path)
    assert got.as_json() == json.loads(path.read_text())  # every field, as written
    assert (got.score, got.execution_time, got.tests[0].name, got.tests[2].output) == (
        load_config(FAST).points["S"], 12.5, "Mark", "wrong shape")
    extra = got.extra_data
    assert (extra.mark, extra.test_accuracy, extra.accuracy_verified, extra.sha256, extra.canary_accuracy) == (
        "S", 0.9812, True, "abc123", 0.5)
    assert extra.checks == {"training": "passed", "forward": "failed"}
    assert (extra.variant, extra.matches_variant, extra.regrade, extra.grader_error) == ("v2", "v1", None, None)
    assert (extra.challenge.badge, extra.challenge.parameters, extra.challenge.ranked) == ("99%", 12345, True)
    assert read(tmp_path / "absent.json") is None
    (tmp_path / "old.json").write_text('{"score": 1}')  # an older grader wrote fewer fields: their defaults
    assert read(tmp_path / "old.json") == Results(score=1, extra_data=Extra())


@pytest.mark.parametrize("content, why", [
    (b"", "it is not JSON"),
    (b'{"score": 1, "extra_data": {"ma', "it is not JSON"),  # truncated
    (b"\xff\xfe{}", "it is not UTF-8 text"),
    (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    (b'{"score": NaN}', "NaN"),
    (b"[1, 2]", "the file is a list where an object belongs"),
    (b'{"score": "10"}', "score is a text where a number belongs"),
    (b'{"extra_data": []}', "extra_data is a list where an object belongs"),
    (b'{"extra_data": {"mark": ["S+"]}}', "extra_data.mark is a list where a text belongs"),
    (b'{"extra_data": {"checks": {"training": 1}}}', "extra_data.checks['training'] is a number where a text"),
    (b'{"tests": [{"name": "Mark"}, 3]}', "tests[1] is a number where an object belongs"),
    (b'{"tests": [{"score": 1}]}', "tests[0] has no name"),
    (b'{"extra_data": {"challenge": {"status": "badge", "parameters": 1.5}}}',
     "extra_data.challenge.parameters is a number where a whole number belongs"),
    (b'{"extra_data": {"accuracy_verified": "yes"}}', "accuracy_verified is a text where true or false belongs"),
])
def test_results_reader_says_what_is_wrong_with_a_malformed_file(tmp_path, content, why):
    from autograder.reports.results_file import ResultsError, read

    path = tmp_path / "results.json"
    path.write_bytes(content)
    with pytest.raises(ResultsError, match=re.escape(why)) as err:
        read(path)
    assert str(err.value).startswith(f"{path}: ")


def test_results_reader_refuses_a_huge_file_a_link_and_a_fifo_without_reading_them_whole(tmp_path, monkeypatch):
    import os

    from autograder.reports import results_file

    monkeypatch.setattr(results_file, "MAX_BYTES", 1000)
    (tmp_path / "huge.json").write_text('{"output": "' + "x" * 5000 + '"}')
    (tmp_path / "link.json").symlink_to(graded_results(tmp_path / "good"))
    os.mkfifo(tmp_path / "fifo.json")  # opening it for reading would wait for a writer forever
    for name, why in [("huge.json", "larger than"), ("link.json", "symbolic link"), ("fifo.json", "not a regular")]:
        with pytest.raises(results_file.ResultsError, match=why):
            results_file.read(tmp_path / name)


def test_a_malformed_results_file_is_graded_again_not_a_crash(tmp_path):
    from autograder.classroom.batch import already_graded
    from autograder.classroom.gradebook import GRADED, gradebook_row, needs_regrading
    from autograder.reports.leaderboard import class_rows

    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "results.json").write_text('{"extra_data": {"mark": "S+", "checks": ["training"]}}')
    row = gradebook_row("ann", tmp_path / "ann", GRADED, ["training"])
    assert row["status"] == ("grader error: results.json: extra_data.checks is a list where an object belongs")
    assert needs_regrading(row) and row["mark"] == ""
    assert not already_graded(tmp_path / "ann", None)
    assert class_rows(tmp_path, ["ann"]) == []
