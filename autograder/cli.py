"""Command line: `python -m autograder grade SUBMISSION`, `grade-all FOLDER`, `spec`, `release`, `otter`, `classroom50`.

Thin: it parses arguments and forwards to grade.py, report.py, batch.py, similarity.py, spec.py, release.py,
variants.py, otter_zip.py and integrations/classroom50.py. `grade` exits GRADED (whatever the mark), REGRADE (inconclusive: the machine
was too busy) or GRADER_FAILED.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from .grading.caches import DEFAULT_CACHE
from .practical.config import DEFAULT_CONFIG, ConfigError, load_config
from .reports import outputs
from .reports.reportdir import ReportFolderError
from .practical.spec import SpecError

GRADED, GRADER_FAILED, REGRADE = 0, 2, 3  # `grade`'s exit codes


def cmd_grade(args) -> int:
    from .reports.live import Live

    live = Live()  # before the heavy imports, so its clock starts with the command
    from .grading import grade
    from .reports import report, reportdir
    from .judging.results import GradeResult
    from .sandbox.isolation import GraderStopped
    from .grading.submission import SubmissionError, refused, submission_sha

    config = load_config(args.config)
    practical = variant_practical(config, args.variant)  # an unknown variant is refused before grading
    if config.variants and not args.variant:
        print(f"note: {config.path} has variants; grading against v1, the spec as written "
              "(--variant ID for another)", file=sys.stderr)
    out = reportdir.claim(Path(args.out))  # the grader's, before the student's code could make it
    result, ctx = GradeResult(str(args.submission), "", variant=args.variant or "v1"), None
    code = GRADED
    try:
        result, extra = grade.grade(args.submission, config, variant=args.variant, cache=Path(args.cache),
                                    threads=args.threads, hide=[out], live=live)
        ctx = extra["ctx"]
    except (grade.NoSubmission, SubmissionError) as err:  # nothing to grade: the student's problem
        result = refused(str(args.submission), submission_sha(args.submission) or "", config, practical,
                         result.variant, str(err))
    except GraderStopped as err:  # the sandbox is already ended; say so without a traceback
        result.grader_error = str(err)
    except Exception:
        result.grader_error = traceback.format_exc()
        code = GRADER_FAILED
    finally:
        report.write_reports(result, config, out, ctx)
    print(report.console_table(result))
    print(f"Reports in {out}/: {', '.join(o.name for o in outputs.NAMED)}")
    if result.grader_error:
        print(result.grader_error, file=sys.stderr)
        code = GRADER_FAILED
    elif result.inconclusive:
        print(result.regrade, file=sys.stderr)
        code = REGRADE
    return code


def variant_practical(config, variant: str | None):
    from .practical.spec import variant_spec

    try:
        return variant_spec(config.practical, config.variants, variant)
    except SpecError as err:
        raise ConfigError(f"{config.path}: {err}") from err


def cmd_grade_all(args) -> int:
    from .classroom.batch import grade_all
    from .release.variants import VariantsError

    if (args.anonymous is None) != (args.secret_file is None):
        print("error: --anonymous MAPPING and --secret-file F go together: the pseudonyms are keyed with the "
              "course secret, and the mapping back is written to MAPPING", file=sys.stderr)
        return 2
    try:
        return grade_all(Path(args.folder), Path(args.out), config_path=args.config, jobs=args.jobs,
                         scheduler=args.scheduler, shard=args.shard, force=args.force, cache=Path(args.cache),
                         roster=Path(args.roster) if args.roster else None,
                         anonymous=Path(args.anonymous) if args.anonymous else None,
                         secret_file=Path(args.secret_file) if args.secret_file else None,
                         classroom50=args.classroom50)
    except VariantsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def cmd_audit(args) -> int:
    from .classroom.anonymous import read_mapping
    from .classroom.audit import LOG, describe, history

    name = args.student
    if args.pseudonyms:
        back = {s: p for p, s in read_mapping(Path(args.pseudonyms)).items()}
        name = back.get(name, name)
    lines = history(Path(args.out), name)
    if not lines:
        print(f"no line for {args.student} in {Path(args.out) / LOG}", file=sys.stderr)
        return 1
    print(f"{args.student}" + (f" ({name})" if name != args.student else "") + f": {len(lines)} change(s)")
    for line in lines:
        print(describe(line))
    return 0


def cmd_lms(args) -> int:
    from .integrations.canvas import PushError, push, read_token
    from .integrations.lms_csv import canvas_rows, moodle_rows, write_csv
    from .integrations.passback import final_marks, read_roster

    config = load_config(args.config)
    marks = final_marks(Path(args.out), config, Path(args.pseudonyms) if args.pseudonyms else None)
    roster = read_roster(Path(args.roster)) if args.roster else None
    if args.lms_command == "csv":
        points = args.points_possible or max(config.points.values())
        if args.format == "moodle":
            header, rows, missing = moodle_rows(marks, roster or {}, args.item or f"Assignment: {args.name}", points)
        else:
            header, rows, missing = canvas_rows(marks, roster or {}, args.name, args.assignment or "", points)
        write_csv(Path(args.csv), header, rows)
        print(f"Wrote {args.csv}: {len(rows)} students, columns {', '.join(header)}")
        if missing:
            print(f"left out (no id in the roster): {', '.join(missing)}", file=sys.stderr)
        return 1 if missing else 0
    try:
        outcome = push(Path(args.out), marks, url=args.url, token=read_token(
            Path(args.token_file) if args.token_file else None), course_id=args.course, assignment_id=args.assignment,
            roster=roster, match=args.match, attach_report=args.attach_report, dry_run=args.dry_run)
    except PushError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.dry_run:
        print(f"Dry run: {len(outcome.planned)} grade(s) would be posted, {len(outcome.unchanged)} unchanged, "
              f"{len(outcome.unmatched)} not matched; nothing was posted")
    else:
        print(f"Posted {len(outcome.posted)} grade(s); {len(outcome.unchanged)} unchanged, {len(outcome.unmatched)} "
              "not matched")
    return 1 if outcome.unmatched else 0


def classroom_assignment(text: str) -> tuple[str, str]:
    classroom, _, assignment = text.partition("/")
    if not classroom or not assignment or "/" in assignment:
        raise argparse.ArgumentTypeError(f"expected CLASSROOM/ASSIGNMENT, e.g. cs101/cnn-practical, got {text!r}")
    return classroom, assignment


def cmd_classroom50(args) -> int:
    from .integrations.classroom50 import BundleError, write_bundle

    try:
        done = write_bundle(Path(args.out_dir), args.config, args.variant, args.assignment)
    except BundleError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Wrote {done['folder']}/ ({done['files']} files, {done['bytes'] / 2**20:.1f} MiB packed as "
          f"{done['tarball']}) and {done['entry']}: copy autograders/{done['slug']}/ into your classroom's folder "
          "of the classroom50 repository, and give the assignment the runtime and release_assets of "
          f"{done['entry'].name} (docs/instructors.md)")
    return 0


def cmd_spec(args) -> int:
    from .practical.spec import enumerate_variants, field_value, table

    config = load_config(args.config)
    practical = variant_practical(config, args.variant)
    title = f"variant {args.variant}" if args.variant else "the spec as written" + (" (v1)" if config.variants else "")
    print(f"{config.path}: {title}\n")
    print(table(practical))
    if config.variants:
        choices = "; ".join(f"{f}: {', '.join(map(str, v))}" for f, v in config.variants.items())
        print(f"\nvariants ({choices}):")
        for vid, p in enumerate_variants(config.practical, config.variants).items():
            values = ", ".join(f"{f}={field_value(p, f)}" for f in config.variants)
            print(f"  {vid}: {values}; {p.param_counts[0]:,} parameters")
    return 0


def cmd_similarity(args) -> int:
    from .classroom.similarity import SimilarityError, similarity_report, write_report

    try:
        report = similarity_report(Path(args.folder), Path(args.known) if args.known else None,
                                   [Path(t) for t in args.template] if args.template else None, args.threshold)
    except SimilarityError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if (args.anonymous is None) != (args.secret_file is None):
        print("error: --anonymous MAPPING and --secret-file F go together", file=sys.stderr)
        return 2
    if args.anonymous:
        from .classroom.anonymous import pseudonymise_report, write_mapping
        from .release.variants import VariantsError, read_secret

        try:
            secret = read_secret(Path(args.secret_file))
        except VariantsError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        alias = write_mapping(Path(args.anonymous), [s.name for s in report.submissions] + [
            n for n in report.skipped if not n.startswith("known/")], secret, Path(args.out))
        report = pseudonymise_report(report, alias)
    csv_path, html_path = write_report(report, Path(args.out))
    above = sum(m.similarity >= report.threshold for m in report.matches)
    print(f"{len(report.submissions)} submissions, {len(report.known)} known solutions: {len(report.matches)} pairs "
          f"compared, {above} at or above {report.threshold:.0%}"
          + (f"; not compared: {', '.join(sorted(report.skipped))}" if report.skipped else ""))
    print(f"Ranked pairs: {csv_path}\nSide by side: {html_path}")
    return 0


def cmd_merge(args) -> int:
    from .classroom.batch import merge_outputs
    from .classroom.gradebook import MergeError

    try:
        return merge_outputs([Path(p) for p in args.outputs], Path(args.out))
    except MergeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def shard_arg(text: str):
    from .classroom.batch import Shard

    try:
        return Shard.parse(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def cmd_release(args) -> int:
    from .release.release import ReleaseError, write_template

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
    from .release.variants import VariantsError, write_variants

    try:
        written = write_variants(Path(args.roster), Path(args.secret_file), Path(args.out), load_config(args.config))
    except VariantsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(written.summary())
    return 0


def cmd_otter(args) -> int:
    from .integrations.otter_zip import OtterZipError, build_otter_zip

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
        p.add_argument("--cache", default=str(DEFAULT_CACHE),
                       help="where the grader keeps its dataset tensors, one file per dataset (default: %(default)s)")

    g = sub.add_parser("grade", help="grade one submission")
    g.add_argument("submission", help="a cnn.py or a notebook (.ipynb), a folder holding one, "
                   "or a student repo with assignment/cnn.py")
    g.add_argument("--out", default="grading-out", help="folder for the reports (default: %(default)s)")
    g.add_argument("--threads", type=int, default=None, help="torch threads for the student's code "
                   "(default: the cores available, at most 4)")
    g.add_argument("--variant", default=None, help="the student's variant of the spec, e.g. v2 (default: v1, "
                   "the spec as written; `spec` lists them)")
    common(g)
    g.set_defaults(run=cmd_grade, exit_now=True)

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
    a.add_argument("--roster", default=None, help="CSV with header student,variant: each student's variant, "
                   "the student matching the submission's name in FOLDER (default: none, everyone v1)")
    a.add_argument("--anonymous", metavar="MAPPING", default=None, help="name every student by a pseudonym in "
                   "all that grade-all writes; the mapping back goes to MAPPING, a file of yours outside --out "
                   "(needs --secret-file)")
    a.add_argument("--secret-file", metavar="F", default=None, help="the course secret (as for `variants`) that "
                   "keys the pseudonyms of --anonymous")
    a.add_argument("--classroom50", metavar="CLASSROOM/ASSIGNMENT", type=classroom_assignment, default=None,
                   help="FOLDER is what `gh teacher download ORG CLASSROOM ASSIGNMENT` wrote: grade each student's "
                   "latest submit/ tag (with a course: policy, the latest by their deadline), and add the tag, its time "
                   "and the score their own run reported to the gradebook (default: FOLDER holds one cnn.py or "
                   "folder per student)")
    common(a)
    a.set_defaults(run=cmd_grade_all)

    au = sub.add_parser("audit", help="print a student's history of final marks from OUT/audit.jsonl")
    au.add_argument("student", help="the student's name, as in the gradebook (or their own, with --pseudonyms)")
    au.add_argument("--out", required=True, help="the grade-all output folder")
    au.add_argument("--pseudonyms", metavar="MAPPING", help="the mapping grade-all --anonymous wrote")
    au.set_defaults(run=cmd_audit)

    lms = sub.add_parser("lms", help="send the final marks to the course's LMS: push to Canvas, or write a CSV")
    lms_sub = lms.add_subparsers(dest="lms_command", required=True)

    def lms_common(p):
        p.add_argument("out", help=f"the grade-all output folder (gradebook.csv, submissions/NAME/{outputs.FEEDBACK.name})")
        p.add_argument("--roster", help="CSV with a column student and the students' LMS ids: canvas_id, "
                       "sis_user_id, login_id, email, id_number, name, section (default: the gradebook's names are the ids)")
        p.add_argument("--pseudonyms", metavar="MAPPING", help="the mapping grade-all --anonymous wrote: names are "
                       "mapped back only here, at the moment of posting")
        p.add_argument("--config", default=str(DEFAULT_CONFIG), help="grading config: the points of each mark "
                       "(default: %(default)s)")
        p.set_defaults(run=cmd_lms)

    pu = lms_sub.add_parser("push", help="post each student's final mark and feedback to a Canvas assignment; "
                            f"the token comes from ${'CANVAS_TOKEN'} or --token-file")
    lms_common(pu)
    pu.add_argument("--url", required=True, help="your Canvas, e.g. https://canvas.example.edu")
    pu.add_argument("--course", type=int, required=True, help="the course id (in the course's address)")
    pu.add_argument("--assignment", type=int, required=True, help="the assignment id (in its address)")
    pu.add_argument("--match", default="sis_user_id", choices=("sis_user_id", "login_id", "canvas_id"),
                    help="the roster column (or, without a roster, what the gradebook's names are) that identifies "
                    "a Canvas student (default: %(default)s)")
    pu.add_argument("--token-file", metavar="F", help="a file holding the Canvas token (default: $CANVAS_TOKEN)")
    pu.add_argument("--attach-report", action="store_true", help=f"attach {outputs.PAGE.name} to the comment")
    pu.add_argument("--dry-run", action="store_true", help="print what would be posted, and post nothing")

    cs = lms_sub.add_parser("csv", help="write the CSV that Moodle's or Canvas's grade import reads")
    lms_common(cs)
    cs.add_argument("--format", required=True, choices=("moodle", "canvas"))
    cs.add_argument("--csv", required=True, metavar="FILE", help="the CSV to write")
    cs.add_argument("--name", default="CNN practical", help="the assignment's name in the LMS (default: %(default)s)")
    cs.add_argument("--item", help="Moodle: the grade item's column (default: 'Assignment: NAME')")
    cs.add_argument("--assignment", help="Canvas: the assignment's id, which its column names (from its address)")
    cs.add_argument("--points-possible", type=float, help="the LMS's maximum points (default: the config's top mark's)")

    s = sub.add_parser("similarity", help="rank the pairs of submissions (and known solutions) that share code; "
                       "marks are not touched")
    s.add_argument("folder", help="the class, as for grade-all: one cnn.py file or folder (repo) per student")
    s.add_argument("--out", required=True, help="folder for similarity.csv and similarity.html")
    s.add_argument("--known", help="a folder of known solutions (e.g. public repositories); every .py file "
                   "under it is compared with each submission (default: none)")
    s.add_argument("--template", action="append", help="code handed out to students, which never counts as a "
                   "match; repeat for several files (default: the stub, assignment/cnn.py)")
    s.add_argument("--threshold", type=float, default=0.5, help="similarity from which the page lists a pair and "
                   "shows it side by side (default: %(default)s)")
    s.add_argument("--anonymous", metavar="MAPPING", help="name submissions by pseudonym, as grade-all --anonymous "
                   "does (the same MAPPING file; needs --secret-file)")
    s.add_argument("--secret-file", metavar="F", help="the course secret that keys the pseudonyms")
    s.set_defaults(run=cmd_similarity)

    p = sub.add_parser("spec", help="print the practical's derived table (layers, sizes, parameters) and variants")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="grading config (default: %(default)s)")
    p.add_argument("--variant", default=None, help="show this variant instead of the spec as written (default: v1)")
    p.set_defaults(run=cmd_spec)

    m = sub.add_parser("merge", help="join grade-all output folders (one per --shard) into one gradebook")
    m.add_argument("outputs", nargs="+", help="folders written by grade-all --out")
    m.add_argument("--out", required=True, help="folder for the merged gradebook and report folders")
    m.set_defaults(run=cmd_merge)

    r = sub.add_parser("release", help="write the student template repository")
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

    c = sub.add_parser("classroom50", help="write the Classroom 50 autograder bundle of the assignment")
    c.add_argument("out_dir", help="folder for autograders/SLUG/ and SLUG.assignment.json (runtime, release_assets)")
    c.add_argument("--config", default=str(DEFAULT_CONFIG), help="grading config packed into the bundle, with "
                   "the route's time budget (default: %(default)s)")
    c.add_argument("--variant", default=None, metavar="ID", help="grade as this variant of the spec (v1, v2, ...; "
                   "default: the spec as written)")
    c.add_argument("--assignment", default=None, metavar="SLUG", help="the assignment's slug in Classroom 50 "
                   "(default: cnn-practical, or cnn-practical-ID with --variant)")
    c.set_defaults(run=cmd_classroom50)

    o = sub.add_parser("otter", help="build an otter-grader autograder zip (Gradescope) that runs this grader")
    o.add_argument("out_zip", help="the zip to write, e.g. autograder.zip")
    o.add_argument("--config", default=str(DEFAULT_CONFIG), help="grading config packed into the zip "
                   "(default: %(default)s)")
    o.set_defaults(run=cmd_otter)
    return parser


def main(argv: list[str] | None = None, *, exit_now: bool = False) -> int:
    """Run the command `argv` asks for and return its exit code. With `exit_now` (the command line, not a
    caller in Python), a command that declares it has nothing left to clean up ends the process at once:
    `grade`, whose sandbox is ended and reports written, would spend about 0.4 s more in the interpreter's
    teardown with torch loaded."""
    args = build_parser().parse_args(argv)
    try:
        code = args.run(args)
    except (ConfigError, ReportFolderError) as err:
        print(f"error: {err}", file=sys.stderr)
        code = 2
    if exit_now and getattr(args, "exit_now", False):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
