"""The files a grading leaves in its report folder, each declared once: its name, what it holds, and who writes it.

`grade` writes GRADE (report.write_reports, one writer per file), a grade-all worker adds its log and sends
them all back (ALL), grade-all clears and saves ALL, the command line names them, the Classroom 50 route
publishes the page and its figures, and the LMS passback posts the feedback and attaches the page. A new
output is one entry here and its writer in report.py.
"""
from __future__ import annotations

from dataclasses import dataclass

from .report_page import FIGURE_CAPTIONS


@dataclass(frozen=True)
class Output:
    name: str  # its file name in the report folder
    what: str  # what it holds
    writer: str  # the function that writes it
    figure: str = ""  # for a figure: its name in report.figures() and report_page.FIGURE_CAPTIONS


RESULTS = Output("results.json", "Gradescope's results: the score, one test per check, and extra_data "
                 "(results_file.py reads it back)", "report.gradescope")
FEEDBACK = Output("feedback.md", "the student's feedback: the mark, why, and what to fix", "report.feedback_md")
FIGURES = tuple(Output(f"{name}.png", caption, "report.figures", figure=name) for name, caption in FIGURE_CAPTIONS.items())
PAGE = Output("report.html", "the report as one self-contained page, the figures embedded", "report_page.report_html")
LOG = Output("worker.log", "what the grading process printed on a grade-all worker", "classroom.worker.grade_task")

# what `grade` writes, in this order: results.json first (Gradescope needs it even if the rest fails), the page
# last (it embeds the figures); a figure there is none of is removed, so that none is left from an earlier grading
GRADE = (RESULTS, FEEDBACK, *FIGURES, PAGE)
NAMED = tuple(o for o in GRADE if not o.figure)  # what the command line names after a grade
ALL = (*GRADE, LOG)  # what a grade-all worker sends back, and grade-all clears and saves
