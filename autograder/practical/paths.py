"""Where the grader's own files are: declared once, here."""
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # the autograder package
REPO = PACKAGE.parent  # its checkout (or site-packages, when installed)
TEMPLATES = PACKAGE / "release" / "templates"  # what `release` and `classroom50` write from; never in a bundle
