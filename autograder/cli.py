"""Command line: `python -m autograder grade SUBMISSION` and `python -m autograder grade-all FOLDER`.

Thin: it parses arguments and forwards to grade.py, report.py, batch.py, release.py and otter_zip.py.
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
        result, extra = grade.grade(args.submission, config, cache=Path(args.cache), threads=args.threads,
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

    return grade_all(Path(args.folder), Path(args.out), config_path=args.config, jobs=args.jobs,
                     scheduler=args.scheduler, shard=args.shard, force=args.force, cache=Path(args.cache))


def cmd_merge(args) -> int:
    from .batch import merge_outputs
    from .gradebook import MergeError

    try:
        return merge_outputs([Path(p) for p in args.outputs], Path(args.out))
    except MergeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def shard_arg(text: str):
    from .batch import Shard

    try:
        return Shard.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def cmd_release(args) -> int:
    from .release import ReleaseError, write_template

    try:
        files = write_template(Path(args.out_dir), load_config(args.config))
    except ReleaseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Wrote the student template ({len(files)} files) to {args.out_dir}/; "
          "push it to GitHub and mark it as a template repository (docs/instructors.md)")
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
    from .grade import DEFAULT_CACHE

    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--config", default=str(DEFAULT_CONFIG), help="grading config (default: %(default)s)")
        p.add_argument("--cache", default=str(DEFAULT_CACHE),
                       help="where the grader keeps its MNIST tensors (default: %(default)s)")

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
    where = a.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, default=1, help="submissions graded at once on this machine, by a "
                       "local Dask cluster of that many worker processes (default: %(default)s)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="grade on the Dask cluster whose scheduler is at "
                       "ADDRESS, e.g. tcp://HOST:8786 (default: none, a local cluster of --jobs workers)")
    a.add_argument("--shard", metavar="I/N", type=shard_arg, help="grade only part I of N of the class: every N-th "
                   "of the sorted submission names, from the I-th on; join the parts with merge (default: all)")
    a.add_argument("--force", action="store_true", help="regrade submissions that already have results")
    common(a)
    a.set_defaults(run=cmd_grade_all)

    m = sub.add_parser("merge", help="join grade-all output folders (one per --shard) into one gradebook")
    m.add_argument("outputs", nargs="+", help="folders written by grade-all --out")
    m.add_argument("--out", required=True, help="folder for the merged gradebook and report folders")
    m.set_defaults(run=cmd_merge)

    r = sub.add_parser("release", help="write the student template repository for GitHub Classroom")
    r.add_argument("out_dir", help="a new (or empty) folder for the template")
    r.add_argument("--config", default=str(DEFAULT_CONFIG),
                   help="grading config whose points the workflow reports (default: %(default)s)")
    r.set_defaults(run=cmd_release)

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
