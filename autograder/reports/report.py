"""Write what a grading produced: results.json (Gradescope), feedback.md, report.html and its figures, a
console table."""
from __future__ import annotations

import io
import json
import math
import re
from functools import cache
from pathlib import Path
from typing import Callable

from . import outputs, reportdir
from .wording import HELD_BACK, MARK_WORDS, REGRADE_WORDS, STATUS_WORDS, CHALLENGE_HOW, KIND_WORDS, mark_words, experiments_heading
from ..judging.causes import NOT_RUN, scrub
from ..practical.config import Config
from .leaderboard import gradescope_entries
from .results_file import Extra, Results, Test
from ..judging.results import ABSENT, GradeResult



def plain(value, depth: int = 0):
    """`value` as JSON can write it, whatever it is: text keys, lists, finite numbers, and the rest (a
    tensor, a tuple key, something nested absurdly deep) as a short text."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else str(value)[:40]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth < 20 and isinstance(value, dict):
        return {k if isinstance(k, str) else _text(k): plain(v, depth + 1) for k, v in value.items()}
    if depth < 20 and isinstance(value, (list, tuple)):
        return [plain(v, depth + 1) for v in value]
    return _text(value)


def _text(value) -> str:
    try:
        return repr(value)[:200]
    except Exception:  # noqa: BLE001  (a repr that fails, however it fails)
        return f"<{type(value).__name__}>"


def fenced(text: str, indent: str = "") -> list[str]:
    """`text` as a markdown code block whose fence is longer than any run of backticks in it, so that
    nothing in it can close the block early (CommonMark); paths inside the grader's job folder removed."""
    text = scrub(str(text))
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return [indent + fence, *(indent + line for line in text.splitlines()), indent + fence]


def stopped_by_cause(check) -> bool:
    """The check says only that the cause at the top stopped it (one line, said once in feedback.md)."""
    return len(check.messages) == 1 and check.messages[0].startswith(NOT_RUN)


def gradescope_mark_words(result: GradeResult) -> str:
    """mark_words as Gradescope shows them: a failing check whose details grading.yml holds back there is
    named as held back, so that the words promise nothing that is not listed."""
    held = [c for c in result.checks if not c.passed and c.visibility in HELD_BACK and not stopped_by_cause(c)]
    if result.inconclusive or not held:
        return mark_words(result)
    shown = any(not c.passed and c.visibility not in HELD_BACK for c in result.checks)
    titles = " and ".join(f'"{c.title}"' for c in held)
    when = "; ".join(sorted({HELD_BACK[c.visibility] for c in held}))
    first = MARK_WORDS[result.mark].split(". ")[0] + "."
    if result.mark == "S":
        fix = "fix what is listed below, and " if shown else ""
        return (f"{first} To reach S+, {fix}the check{'s' * (len(held) > 1)} {titles} must pass too: "
                f"{'its' if len(held) == 1 else 'their'} details {when}.")
    return f"{mark_words(result)} The details of the check{'s' * (len(held) > 1)} {titles} {when}."


def gradescope(result: GradeResult, config: Config) -> dict:
    """Gradescope's results format. The score is carried by one "Mark" test, so it equals the tests' sum;
    each check is a 0-point test that carries its feedback."""
    best = max(config.points.values())
    score = config.points.get(result.mark, 0) if result.mark else 0
    tests = [Test("Mark", score, best, "passed" if result.mark else "failed", gradescope_mark_words(result))]
    for check in result.checks:
        tests.append(Test(check.title, 0, 0, "passed" if check.passed else "failed",
                          "\n".join(map(str, check.messages)) or "passed", check.visibility))
    marked = result.experiments_marked
    if marked:
        score += marked["earned"]
        tests.append(Test("Experiments table", marked["earned"], marked["points"],
                          "passed" if marked["earned"] else "failed", marked["why"]))
    return plain(Results(
        leaderboard=gradescope_entries(result.challenge),
        score=score,
        execution_time=result.elapsed_s,
        output=(REGRADE_WORDS if result.inconclusive else f"Mark: {result.mark or 'none'}. "
                + gradescope_mark_words(result))
        + "".join(f"\n\n{line}" for line in cause_lines(result)),
        tests=tests,
        extra_data=Extra(mark=result.mark, test_accuracy=result.test_accuracy,
                         accuracy_verified=result.accuracy_verified, sha256=result.sha256,
                         canary_accuracy=result.canary_accuracy,
                         checks={c.name: c.status for c in result.checks}, isolation=result.isolation,
                         provenance=result.provenance,
                         child={k: v for k, v in result.child.items() if not k.endswith("_tail")},
                         cause=result.cause, grader_error=result.grader_error, regrade=result.regrade,
                         variant=result.variant, matches_variant=result.matches_variant,
                         challenge=result.challenge, experiments=result.experiments,
                         experiments_marked=result.experiments_marked),
    ).as_json())


def _messages_md(messages: list[str]) -> list[str]:
    lines = []
    for m in messages:
        head, _, rest = str(m).partition("\n")
        lines.append(f"- {head}")
        if rest.strip():
            lines += ["", *fenced(rest, "  ")]
    return lines


def cause_lines(result: GradeResult) -> list[str]:
    """The cause, said once, then its likely fixes (markdown)."""
    if not result.cause:
        return []
    first, *fixes = result.cause
    lines = ["**What stopped your code:**", "", *_messages_md([first])]
    if fixes:
        lines += ["", "**Likely fixes:**", "", *_messages_md(fixes)]
    return lines


def challenge_md(result: GradeResult) -> list[str]:
    """The challenge's section (one line when there is no challenge model)."""
    c = result.challenge
    if c is None:
        return []
    if c.status == ABSENT:
        return [f"Challenge: {c.reason}"]
    head = f"**{c.badge} badge**" if c.badge else "**No badge**"
    lines = ["## Challenge (optional)", "", head + ":", "", *_messages_md([c.reason])]
    if c.ranked:
        lines += ["", "| test accuracy | parameters | seconds | optimizer steps |", "| ---: | ---: | ---: | ---: |",
                  f"| {c.accuracy:.2%} | {c.parameters:,} | {c.seconds:g} | {c.steps:,} |", "", CHALLENGE_HOW]
    return lines


def experiments_md(result: GradeResult) -> list[str]:
    table, marked = result.experiments, result.experiments_marked
    if table is None and not marked:
        return []
    heading, words = experiments_heading(result)
    lines = [f"## {heading}", "", words]
    if marked:
        lines += ["", *_messages_md([marked["why"]])]
    if table and table["columns"]:
        def cells(values):
            return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"
        lines += ["", cells(table["columns"]), "| " + " | ".join("---" for _ in table["columns"]) + " |",
                  *(cells(row) for row in table["rows"])]
    if table and table["note"]:
        lines += ["", f"({table['note']}.)"]
    return lines


def feedback_md(result: GradeResult) -> str:
    lines = [f"# Feedback: {Path(result.submission).name or result.submission}", "",
             f"**{REGRADE_WORDS}**" if result.inconclusive else f"**Mark: {result.mark or 'none'}**. {MARK_WORDS[result.mark]}",
             ""]
    if result.challenge is not None and result.challenge.badge:
        lines += [f"**Challenge badge: {result.challenge.badge}** (beside the mark, not part of it)", ""]
    if result.cause:
        lines += [*cause_lines(result), ""]
    if result.test_accuracy is not None:
        how = "measured by the grader with your weights" if result.accuracy_verified else "from your model's outputs"
        lines += [f"Test accuracy: {result.test_accuracy:.2%} ({how}).", ""]
    lines += ["| check | result |", "| --- | --- |"]
    lines += [f"| {c.title} | {STATUS_WORDS.get(c.status, c.status)} |" for c in result.checks]
    if result.notes:
        lines += ["", "## Your hand-in", "", *(f"- {n}" for n in result.notes)]
    failing = [c for c in result.checks if not c.passed]
    stopped: dict[str, list[str]] = {}  # a check's one "not run" line -> the checks that say it: said once
    for c in failing:
        if stopped_by_cause(c):
            stopped.setdefault(c.messages[0], []).append(c.title)
    if failing:
        lines += ["", "## What to fix", ""]
        lines += [f"- {', '.join(titles)}: {line}" for line, titles in stopped.items()]
        lines += [""] if stopped else []
        for c in failing:
            if stopped_by_cause(c):
                continue
            kind = KIND_WORDS.get(c.status, c.status)
            lines += [f"### {c.title} ({kind})", "", *_messages_md(c.messages), ""]
    for section in (challenge_md(result), experiments_md(result)):
        if section:
            lines += ["", *section]
    if result.grader_error:
        lines += ["", "> The grader itself hit a problem; this is not your fault, and your instructor will see it."]
    out = scrub(result.child.get("stdout_tail", "")).strip()
    if out:
        lines += ["", "## The end of what your code printed", "", *fenced("\n".join(out.splitlines()[-20:]))]
    lines += ["", f"Graded in {result.elapsed_s:.0f} s."]  # how the sandbox was set up: results.json, report.html
    return "\n".join(lines) + "\n"


def figures(result: GradeResult, ctx) -> dict[str, bytes]:
    """PNGs from the submission's own trained model: filters, top patches, curves. Missing parts are skipped,
    and matplotlib is not even imported when there is nothing to draw (a crash, the stub)."""
    try:
        weights, _ = ctx.weights
    except Exception:
        weights = {}
    tp = ctx.config.top_patches
    got = ctx.res.get("patches")
    todo = []
    if "conv1.weight" in weights:
        todo.append(("filters", "plot_filters", (weights["conv1.weight"],)))
        if getattr(got, "shape", None) is not None and tuple(got.shape) == (len(tp.filters), tp.k,
                                                                            *ctx.practical.patch_shape):
            todo.append(("patches", "plot_patches", (got, list(tp.filters), patch_classes(got, ctx))))
    if result.history:
        todo.append(("curves", "plot_curves", (result.history,)))
    if not todo:
        return {}
    from assignment import plots

    made = {}
    for name, function, args in todo:
        try:
            fig = getattr(plots, function)(*args)
        except (KeyError, TypeError, ValueError):
            continue  # a malformed history is already reported by the training check
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=90)
        made[name] = buf.getvalue()
    return made


def patch_classes(got, ctx) -> list[list[str]]:
    """The class of the test image each of the student's patches came from ("?" where it is no window of
    them), for the names under the patches."""
    from ..judging.patches import Window, source_images

    classes = ctx.practical.data.classes
    found = source_images(got, ctx.patch_images, Window.of(ctx.practical))
    return [["?" if n is None else classes[int(ctx.test_labels[n])] for n in row] for row in found]


def console_table(result: GradeResult) -> str:
    width = max([len(c.title) for c in result.checks] + [10])
    lines = [f"{c.title:<{width}}  {STATUS_WORDS.get(c.status, c.status)}" for c in result.checks]
    acc = "" if result.test_accuracy is None else f"  test accuracy {result.test_accuracy:.2%}"
    lines.append(f"{'Regrade (inconclusive)' if result.inconclusive else 'Mark: ' + (result.mark or 'none')}{acc}"
                 f"  ({result.elapsed_s:.0f} s)")
    if result.cause:
        lines.append("Cause: " + result.cause[0].splitlines()[0])
    if result.challenge is not None:
        lines.append(f"Challenge: {result.challenge.summary()}")
    if result.grader_error:
        lines.append("GRADER ERROR: " + result.grader_error.splitlines()[0])
    return "\n".join(lines)


def writers(result: GradeResult, config: Config, ctx=None) -> dict[str, Callable[[], str | bytes | None]]:
    """The writer of each file `grade` writes (outputs.GRADE), by name; None from a writer: no such file."""
    from .report_page import report_html

    pngs = cache(lambda: figures(result, ctx) if ctx is not None else {})
    return {outputs.RESULTS.name: lambda: json.dumps(gradescope(result, config), indent=2),
            outputs.FEEDBACK.name: lambda: feedback_md(result),
            **{f.name: (lambda f=f: pngs().get(f.figure)) for f in outputs.FIGURES},
            outputs.PAGE.name: lambda: report_html(result, pngs())}


def write_reports(result: GradeResult, config: Config, out: Path, ctx=None) -> None:
    """The files of outputs.GRADE, in its order: results.json first (Gradescope needs it even if the rest
fails), then feedback.md, the figures (as far as there are any) and report.html, which embeds them."""
    write = writers(result, config, ctx)
    with reportdir.opened(reportdir.claim(out)) as folder:  # never through a link (reportdir.py)
        for output in outputs.GRADE:
            data = write[output.name]()
            if data is None:  # none left from an earlier grading
                folder.remove(output.name)
            else:
                folder.write(output.name, data)
