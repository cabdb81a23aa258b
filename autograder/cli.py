"""Command line: `python -m autograder grade SUBMISSION` and `python -m autograder grade-all FOLDER`.

Thin: it parses arguments and forwards to grade.py, report.py, batch.py, release.py, variants.py and
otter_zip.py.
"""
from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path

from .config import DEFAULT_CONFIG, ConfigError, load_config


def cmd_grade(args) -> int:
    from . import grade, report
    from .results import ERROR, CheckResult, GradeResult

    config = load_config(args.config)
    out = Path(args.out)
    result, ctx = GradeResult(str(args.submission), ""), None
    code = 0
    try:
        result, extra = grade.grade(args.submission, config, cache=Path(args.cache or grade.DEFAULT_CACHE), threads=args.threads,
                                    hide=[out])
        ctx = extra["ctx"]
    except FileNotFoundError as err:  # nothing to grade: the student's problem, reported as such
        result.checks = [CheckResult(n, s.title, ERROR, [str(err)], s.visibility) for n, s in config.checks.items()]
    except Exception:
        result.grader_error = traceback.format_exc()
        code = 2
    finally:
        report.write_reports(result, config, out, ctx)
    print(report.console_table(result))
    print(f"Reports in {out}/: results.json, feedback.md, report.html")
    if result.grader_error:
        print(result.grader_error, file=sys.stderr)
        code = 2
    return code


def cmd_grade_all(args) -> int:
    from .batch import grade_all
    from .grade import DEFAULT_CACHE

    return grade_all(Path(args.folder), Path(args.out), config_path=args.config, jobs=args.jobs, force=args.force,
                     cache=Path(args.cache or DEFAULT_CACHE))


def cmd_release(args) -> int:
    from .release import ReleaseError, write_template

    try:
        files = write_template(Path(args.out_dir), load_config(args.config), args.variant)
    except ReleaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    what = f"the template of variant {args.variant}" if args.variant else "the student template"
    print(f"Wrote {what} ({len(files)} files) to {args.out_dir}/; "
          "push it to GitHub and mark it as a template repository (docs/instructors.md)")
    return 0


def cmd_variants(args) -> int:
    from .variants import VariantsError, write_variants

    try:
        written = write_variants(Path(args.roster), Path(args.secret_file), Path(args.out), load_config(args.config))
    except VariantsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(written.summary())
    return 0


def cmd_otter(args) -> int:
    from .otter_zip import OtterZipError, build_otter_zip

    try:
        build_otter_zip(Path(args.out_zip), args.config)
    except OtterZipError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Wrote {args.out_zip}: upload it as a Gradescope autograder, or try it with "
          f"`otter run -a {args.out_zip} cnn.py`")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--config", default=str(DEFAULT_CONFIG), help="grading config (default: %(default)s)")
        # the default is the grader's (grade.DEFAULT_CACHE), looked up only when grading: release and
        # variants run without torch
        p.add_argument("--cache", default=None, help="where the grader keeps its MNIST tensors "
                       "(default: ~/.cache/cnn-practical/grader)")

    g = sub.add_parser("grade", help="grade one submission")
    g.add_argument("submission", help="a cnn.py, a folder holding one, or a student repo with assignment/cnn.py")
    g.add_argument("--out", default="grading-out", help="folder for the reports (default: %(default)s)")
    g.add_argument("--threads", type=int, default=None, help="torch threads for the student's code "
                   "(default: the cores available, at most 4)")
    common(g)
    g.set_defaults(run=cmd_grade)

    a = sub.add_parser("grade-all", help="grade every submission in a folder and write gradebook.csv")
    a.add_argument("folder", help="one entry per student: a cnn.py file or a folder (repo) holding one")
    a.add_argument("--out", required=True, help="folder for the gradebook and one report folder per submission")
    a.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default: %(default)s)")
    a.add_argument("--force", action="store_true", help="regrade submissions that already have results")
    common(a)
    a.set_defaults(run=cmd_grade_all)

    r = sub.add_parser("release", help="write the student template repository for GitHub Classroom")
    r.add_argument("out_dir", help="a new (or empty) folder for the template")
    r.add_argument("--config", default=str(DEFAULT_CONFIG),
                   help="grading config: its spec and the points the workflow reports (default: %(default)s)")
    r.add_argument("--variant", default=None, metavar="ID",
                   help="the template of this variant of the spec (v1, v2, ...; default: the spec as written)")
    r.set_defaults(run=cmd_release)

    v = sub.add_parser("variants", help="assign each student of a roster a variant, and write one template per variant")
    v.add_argument("roster", help="CSV with a header and a column 'student' (GitHub username or id)")
    v.add_argument("--secret-file", required=True, metavar="F",
                   help="file holding the key of the assignment: the same key always gives the same variants")
    v.add_argument("--out", required=True, metavar="DIR",
                   help="a new folder for variants.csv (the mapping to keep) and templates/vN/")
    v.add_argument("--config", default=str(DEFAULT_CONFIG), help="grading config with the spec and its "
                   "variants (default: %(default)s)")
    v.set_defaults(run=cmd_variants)

    o = sub.add_parser("otter", help="build an otter-grader autograder zip (Gradescope) that runs this grader")
    o.add_argument("out_zip", help="the zip to write, e.g. autograder.zip")
    o.add_argument("--config", default=str(DEFAULT_CONFIG), help="grading config packed into the zip "
                   "(default: %(default)s)")
    o.set_defaults(run=cmd_otter)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
