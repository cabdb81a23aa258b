"""report.html: one self-contained page (figures embedded, no script, nothing fetched) that reads on a
phone as on a laptop. tests/reports/test_report_browser.py opens it in a real Chromium."""
from __future__ import annotations

import base64
import html
import re
import string
from pathlib import Path

from .wording import CHALLENGE_HOW, STATUS_WORDS, experiments_heading, mark_words
from ..judging.results import ABSENT, GradeResult

FIGURE_CAPTIONS = {
    "filters": "The filters of your first convolution, after training.",
    "patches": "The patches of test images that excite some of those filters most, as your top_patches() found them, "
               "each with the class of the image it came from.",
    "curves": "Loss and accuracy during training, as your train() reported them.",
}
PAGE = string.Template("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Grading report: $title</title>
<style>
*{box-sizing:border-box}
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1b1b1b;max-width:60rem;margin:0 auto;padding:1rem}
h1{font-size:1.6rem;margin:.4rem 0}h2{font-size:1.25rem;margin:1.6rem 0 .6rem}
.mark{display:inline-block;padding:.1rem .6rem;border-radius:.3rem;color:#fff;background:#666}
.badge{display:inline-block;padding:.1rem .6rem;border-radius:.3rem;color:#fff;background:#1a7f37;font-size:1rem;vertical-align:middle}
.mark-S\\+{background:#1a7f37}.mark-S{background:#9a6700}.mark-none{background:#b3261e}
table{width:100%;border-collapse:collapse}
th,td{text-align:left;vertical-align:top;padding:.45rem .6rem;border-bottom:1px solid #ddd}
td{overflow-wrap:anywhere}
td.status{white-space:nowrap;font-weight:600}
tr.passed td.status{color:#1a7f37}tr.failed td.status,tr.error td.status,tr.grader_error td.status{color:#b3261e}
td p{margin:0 0 .4rem}
pre{margin:.2rem 0 .6rem;padding:.5rem;background:#f5f5f5;border-radius:.3rem;font-size:.85rem;
white-space:pre-wrap;overflow-wrap:anywhere}
ul.notes li{overflow-wrap:anywhere;margin:.2rem 0}
code{font-size:.9em;background:#f0f0f0;padding:0 .2rem;border-radius:.2rem}
.wide{overflow-x:auto}
figure{margin:1rem 0}
figure img{display:block;max-width:100%;height:auto}
figcaption{color:#555;font-size:.9rem;margin-top:.3rem}
.small{color:#555;font-size:.9rem}
@media (max-width:40rem){
  thead{display:none}
  tr,td{display:block}
  tr{border-bottom:1px solid #ddd;padding:.3rem 0}
  td{border:0;padding:.15rem 0}
  td:first-child{font-weight:600}
  .wide thead{display:table-header-group}.wide tr{display:table-row}.wide td{display:table-cell;padding:.3rem}
  .wide td:first-child{font-weight:400}
}
</style></head><body>
<h1>$heading</h1>
<p>$mark_words</p>
$cause
$accuracy
<table><thead><tr><th>check</th><th>result</th><th>details</th></tr></thead><tbody>
$rows
</tbody></table>
$notes
$challenge
<h2>Figures from your trained model</h2>
$figures
<h2>Sandbox</h2>
<ul class="small">$isolation</ul>
<p class="small">Graded in $elapsed s.</p>
</body></html>
""")


def _inline_md(text: str) -> str:
    """Escaped text, with `code` spans as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _messages_html(messages: list[str]) -> str:
    parts = []
    for m in messages:
        head, _, rest = str(m).partition("\n")
        parts.append(f"<p>{_inline_md(head)}</p>" + (f"<pre>{html.escape(rest)}</pre>" if rest.strip() else ""))
    return "".join(parts)


def cause_html(result: GradeResult) -> str:
    """The cause, said once at the top (the checks it stopped point to it), then its likely fixes."""
    if not result.cause:
        return ""
    first, *fixes = result.cause
    return ("<h2 id='cause'>What stopped your code</h2>" + _messages_html([first])
            + (f"<h2>Likely fixes</h2>{_messages_html(fixes)}" if fixes else ""))


def challenge_html(result: GradeResult) -> str:
    """The challenge's section: one line when there is no challenge model, nothing without a challenge track."""
    c, esc = result.challenge, html.escape
    if c is None:
        return ""
    if c.status == ABSENT:
        return f"<p class='small'>Challenge: {esc(c.reason)}</p>"
    head = f"<span class='badge'>{esc(c.badge)} badge</span>" if c.badge else "<strong>No badge</strong>"
    table = ""
    if c.ranked:
        table = ("<div class='wide'><table><thead><tr><th>test accuracy</th><th>parameters</th><th>seconds</th>"
                 f"<th>optimizer steps</th></tr></thead><tbody><tr><td>{c.accuracy:.2%}</td><td>{c.parameters:,}</td>"
                 f"<td>{c.seconds:g}</td><td>{c.steps:,}</td></tr></tbody></table></div>"
                 f"<p class='small'>{esc(CHALLENGE_HOW)}</p>")
    return f"<h2>Challenge (optional)</h2><p>{head}</p>{_messages_html([c.reason])}{table}"


def experiments_html(result: GradeResult) -> str:
    table, marked = result.experiments, result.experiments_marked
    if table is None and not marked:
        return ""
    esc = html.escape
    heading, words = experiments_heading(result)
    parts = [f"<h2>{esc(heading)}</h2><p class='small'>{esc(words)}</p>"]
    if marked:
        parts.append(_messages_html([marked["why"]]))
    if table and table["columns"]:
        head = "".join(f"<th>{esc(c)}</th>" for c in table["columns"])
        body = "".join("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in row) + "</tr>" for row in table["rows"])
        parts.append(f"<div class='wide'><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>")
    if table and table["note"]:
        parts.append(f"<p class='small'>({esc(table['note'])}.)</p>")
    return "".join(parts)


def report_html(result: GradeResult, pngs: dict[str, bytes]) -> str:
    """One self-contained page: the figures are embedded, nothing is fetched, no script runs."""
    esc = html.escape
    mark = result.mark or "none"
    rows = "\n".join(f"<tr class='{esc(c.status)}'><td>{esc(c.title)}</td>"
                      f"<td class='status'>{STATUS_WORDS.get(c.status, c.status)}</td>"
                      f"<td>{_messages_html(c.messages)}</td></tr>" for c in result.checks)
    figures = "\n".join(
        f"<figure><img alt='{esc(name)}' src='data:image/png;base64,{base64.b64encode(data).decode()}'>"
        f"<figcaption>{esc(FIGURE_CAPTIONS.get(name, name))}</figcaption></figure>" for name, data in pngs.items())
    notes = ("<h2>Your hand-in</h2><ul class='notes'>" + "".join(f"<li>{_inline_md(n)}</li>" for n in result.notes)
             + "</ul>") if result.notes else ""
    return PAGE.substitute(
        title=esc(Path(result.submission).name or result.submission),
        heading="Regrade (inconclusive)" if result.inconclusive else
        f"Mark: <span class='mark mark-{esc(mark)}'>{esc(mark)}</span>" + (
            f" <span class='badge'>{esc(result.challenge.badge)} badge</span>"
            if result.challenge is not None and result.challenge.badge else ""),
        challenge=challenge_html(result) + experiments_html(result),
        mark_words=esc(mark_words(result)), cause=cause_html(result),
        accuracy="" if result.test_accuracy is None else f"<p>Test accuracy: {result.test_accuracy:.2%}</p>",
        rows=rows, notes=notes, figures=figures or "<p>No figures: the model did not train far enough.</p>",
        isolation="".join(f"<li>{esc(k)}: {esc(v)}</li>" for k, v in result.isolation.items()),
        elapsed=f"{result.elapsed_s:.0f}")


