"""The reports take whatever a submission did: any value serialises, student text stays inside its code
blocks, and report.html holds the cause its rows point to. Nothing here grades."""
import json
import re

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
