"""report.html in a real headless Chromium (Debian's package, driven by Playwright): it loads with no
missing image and no script error, fits a phone's width and a laptop's, and shows the submission's
own figures. Two correct submissions are graded once, by grade-all under the short config."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

import browser
from autograder.reports.report_page import report_html
from autograder.judging.results import ERROR, FAILED, PASSED, CheckResult, GradeResult
from specs import TINY

ROOT = Path(__file__).resolve().parents[2]
SUBMISSIONS = {"reference": ROOT / "reference" / "cnn.py",
               "recipe": ROOT / "tests" / "catalogue" / "files" / "handout_recipe.py"}
FIGURES = ("filters", "patches", "curves")


@pytest.fixture(scope="module")
def chromium():
    problem = browser.missing()
    if problem:
        if os.environ.get("CI"):  # CI runs every test: a missing browser is a broken CI, not a skip
            pytest.fail(problem)
        pytest.skip(problem)


@pytest.fixture(scope="module")
def reports(chromium, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reports")
    return browser.grade_short(SUBMISSIONS, tmp / "class", tmp / "out", TINY)


@pytest.fixture(scope="module")
def views(reports):
    """Each report at each screen size, each in a fresh browser profile."""
    return {(name, screen): browser.view(folder / "report.html", screen)
            for name, folder in reports.items() for screen in browser.SCREENS}


def assert_fits(seen: browser.View):
    assert seen.errors == []
    assert seen.scroll_width <= seen.client_width, f"{seen.screen}: page {seen.scroll_width} px wide in a " \
        f"{seen.client_width} px window; too wide: {seen.too_wide[:5]}"
    assert seen.too_wide == []
    for image in seen.images:
        assert image.complete and min(image.natural) > 0, f"{image.alt} did not load"
        assert 0 < image.shown <= seen.client_width, f"{image.alt}: {image.shown} px in {seen.client_width} px"


@pytest.mark.parametrize("screen", list(browser.SCREENS))
@pytest.mark.parametrize("name", list(SUBMISSIONS))
def test_report_loads_and_fits(views, name, screen):
    seen = views[name, screen]
    assert seen.client_width == browser.SCREENS[screen]["width"]
    assert [i.alt for i in seen.images] == list(FIGURES)
    assert_fits(seen)


def test_figures_are_the_submissions_own(reports, views):
    """The images the browser shows are the bytes the grader wrote for that submission, and the two
    submissions, which train differently, show different filters and curves. (Their top patches may
    coincide: the same test images can excite two similar filters most.)"""
    for (name, screen), seen in views.items():
        for image in seen.images:
            assert image.png == (reports[name] / f"{image.alt}.png").read_bytes(), f"{name}, {screen}: {image.alt}"
    shown = {name: {i.alt: i.sha256 for i in views[name, "laptop"].images} for name in SUBMISSIONS}
    assert shown["reference"]["filters"] != shown["recipe"]["filters"]
    assert shown["reference"]["curves"] != shown["recipe"]["curves"]


def test_long_messages_wrap_on_a_phone(reports, tmp_path):
    """Failures with long unbroken words, tracebacks and notes stay inside a phone's width."""
    long_word = "conv1." + "x" * 300
    trace = "  File \"cnn.py\", line 12, in train\n    " + "loss = " * 40 + "0\n" + "AssertionError: " + "y" * 200
    result = GradeResult("student/" + "a" * 120 + ".ipynb", "0" * 64, mark="S", test_accuracy=0.9512)
    result.checks = [CheckResult("architecture", "Architecture as specified", FAILED,
                                 [f"'{long_word}' has wrong shape: got (25, 14, 14), expected (25, 9, 9)"]),
                     CheckResult("training", "train() runs as specified", ERROR, [f"your train() raised\n{trace}"]),
                     CheckResult("model_io", "Model maps (B, 1, 28, 28) to (B, 10)", PASSED)]
    result.notes = [f"Left out cell 3, line 1: `{'!pip install ' + 'z' * 200}`: a shell command."]
    result.isolation = {"hidden_paths": "/" + "/very-long-folder-name" * 20}
    pngs = {f: (reports["reference"] / f"{f}.png").read_bytes() for f in FIGURES}
    page = tmp_path / "report.html"
    page.write_text(report_html(result, pngs))
    for screen in browser.SCREENS:
        seen = browser.view(page, screen)
        assert len(seen.images) == 3
        assert_fits(seen)
