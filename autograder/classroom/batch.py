"""grade-all: grade a class on a Dask cluster, one task per submission, and keep a gradebook.

Each submission becomes a GradeTask (worker.py) that runs `python -m autograder grade` on some worker's
machine; its reports come back as bytes and are written to OUT/submissions/NAME/. gradebook.csv is
rebuilt after every submission, so an interrupted run loses nothing and a rerun skips what is done (the
same file, by sha256). `--shard I/N` grades a fixed part of the class; `merge` joins the parts.
"""
from __future__ import annotations

import sys
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

from assignment.solution import EXPERIMENTS

from ..reports import outputs, report, reportdir
from ..reports.results_file import ResultsError, read
from ..grading.caches import DEFAULT_CACHE, grader_data
from ..practical.config import load_config, resolved_yaml
from .gradebook import (GRADED, NO_SOLUTION, NOT_IN_ROSTER, REGRADE, gradebook_row, needs_regrading, summary, write_gradebook)
from ..reports.leaderboard import write_leaderboard
from ..practical.spec import enumerate_variants, variant_spec
from ..grading.submission import (MAX_TABLE_BYTES, NOTEBOOK, SubmissionError, find_submission, read_hand_in, read_plain,
                                  refused, submission_sha)
from .roster import read_roster
from .anonymous import write_mapping
from .audit import AuditLog
from .collect import CollectError, collect, columns
from .policy import load_policy, submission_time
from ..release.variants import read_secret
from .worker import INTERRUPTED, GradeTask, TaskResult, grader_fingerprint

OVERHEAD_S = 300  # beyond the child's wall limit: data, judging and reports


@dataclass(frozen=True)
class Shard:
    """Part `index` of `count` (1-based): every count-th of the sorted names, from the index-th on."""
    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """'2/3' -> Shard(2, 3); anything else is a ValueError that says what was expected."""
        try:
            index, count = (int(part) for part in text.split("/"))
        except ValueError:
            raise ValueError(f"expected I/N, e.g. 2/3, got {text!r}") from None
        if not 1 <= index <= count:
            raise ValueError(f"expected I/N with 1 <= I <= N, e.g. 2/3, got {text!r}")
        return cls(index, count)

    def select(self, names: list[str]) -> list[str]:
        return sorted(names)[self.index - 1::self.count]


def find_submissions(folder: Path) -> dict[str, Path]:
    """name -> path, sorted by name, for each .py or notebook file, or folder, directly inside `folder`."""
    if not folder.is_dir():
        raise SystemExit(f"error: {folder} is not a folder of submissions")
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith(".") or not (entry.is_dir() or entry.suffix in (".py", NOTEBOOK)):
            continue
        name = entry.name if entry.is_dir() else entry.stem
        if name in found:
            raise SystemExit(f"error: two submissions in {folder} are both named {name!r}: {found[name].name} and "
                             f"{entry.name}; rename one so that each student has one entry")
        found[name] = entry
    return dict(sorted(found.items()))


def solution_sha(path: Path) -> str | None:
    """sha256 of the file that grading `path` would grade (a cnn.py, or a notebook as handed in); None if
    there is none."""
    return submission_sha(path)


def already_graded(out: Path, sha: str | None, variant: str = "v1") -> bool:
    try:
        results = read(out / outputs.RESULTS.name)
    except ResultsError:  # not what the grader wrote: graded again
        return False
    if results is None:
        return False
    extra = results.extra_data
    return extra.sha256 == sha and not extra.grader_error and not extra.regrade and (extra.variant or "v1") == variant


def clear_reports(out: Path) -> None:
    """Remove a previous grading's reports: a stale result must not pass for this run's."""
    if not out.exists() and not out.is_symlink():
        return
    with reportdir.opened(out) as folder:
        for output in outputs.ALL:
            folder.remove(output.name)


def save_reports(out: Path, files: dict[str, bytes]) -> None:
    """Write the reports a task sent back; each file whole or not at all, never through a link."""
    with reportdir.opened(reportdir.claim(out)) as folder:
        names = [o.name for o in outputs.ALL]
        for name in names:
            folder.remove(name)
        for name, data in files.items():
            if name in names:  # the worker sends only these; anything else is not ours to write
                folder.write(name, data)


def make_task(name: str, path: Path, config: bytes, timeout: float, fingerprint: str, cache: str | None,
              variant: str) -> GradeTask:
    """The task of grading `path`; a SubmissionError where the hand-in cannot be graded as it is."""
    found = find_submission(path)
    inside = "" if path.is_file() else found.name if found.suffix == NOTEBOOK else "cnn.py"
    table = found.with_name(EXPERIMENTS)  # only in a folder of the student's own: a bare file has none
    try:
        experiments = read_plain(table, MAX_TABLE_BYTES + 1) if path.is_dir() and table.is_file() else None
    except (OSError, SubmissionError):  # a link, or gone: not handed in
        experiments = None
    return GradeTask(name=name, entry=path.name, solution=inside, source=read_hand_in(found), config=config,
                     timeout=timeout, fingerprint=fingerprint, cache=cache, variant=variant, experiments=experiments)


def collected_class(folder: Path, out: Path, classroom50: tuple[str, str], policy) -> dict:
    """A `gh teacher download` folder as grade-all's submissions: username -> what collect.py found, the
    files of the chosen submit/ tag exported into OUT/collected/USERNAME. With a course policy, each
    student's tag is the latest by their own deadline (extensions included)."""
    deadline_for = policy.deadline_for if policy else None
    try:
        return {c.username: c for c in collect(folder, *classroom50, out / "collected", deadline_for)}
    except CollectError as err:
        raise SystemExit(f"error: {err}") from None


def grade_all(folder: Path, out: Path, *, config_path: str, jobs: int = 1, scheduler: str | None = None,
              shard: Shard | None = None, force: bool = False, cache: Path = DEFAULT_CACHE,
              roster: Path | None = None, anonymous: Path | None = None, secret_file: Path | None = None,
              classroom50: tuple[str, str] | None = None) -> int:
    """Grade every submission in `folder` (or one shard of them) on a local cluster of `jobs` worker
    processes, or on the Dask cluster at `scheduler`, whose workers use their own default `cache`
    unless another is given. With `roster` (the instructor's student,variant mapping), each student is
    graded against their variant. What comes back inconclusive (the machine was too busy) is graded once
    more at the end, one at a time. With the config's `course:` policy, the gradebook also shows each final
    mark and why, and OUT/audit.jsonl records every change (classroom/policy.py, audit.py). With `anonymous`
    (the instructor's mapping file) and `secret_file`, every output names students by pseudonym
    (classroom/anonymous.py). With `classroom50` (CLASSROOM, ASSIGNMENT), `folder` is what `gh teacher
    download` wrote: each student's latest submit/ tag is graded (with a course policy, the latest by that
    student's deadline), and the gradebook gains collect.py's columns. Returns 0, 1 if some submission could
    not be graded, 130 on Ctrl-C."""
    from .cluster import connect, run_tasks  # Dask is imported only to grade

    config = load_config(config_path)  # fail now on a bad config, not once per student
    ids = list(enumerate_variants(config.practical, config.variants))
    assigned = read_roster(roster, ids) if roster else None  # and on a bad roster
    policy = load_policy(config)  # and on a bad policy, extensions or overrides file
    secret = read_secret(secret_file) if anonymous is not None else None
    collected = None
    if classroom50 is not None:
        reportdir.claim(out)  # before exporting the students' files into it
        collected = collected_class(folder, out, classroom50, policy)
        submissions = {name: c.path for name, c in collected.items()}
    else:
        submissions = find_submissions(folder)
    if shard is not None:
        submissions = {name: submissions[name] for name in shard.select(list(submissions))}
    variant = {name: assigned.get(name) if assigned is not None else "v1" for name in submissions}
    if collected is not None:  # the tag's time: the exported files keep no history
        times = {name: collected[name].time for name in submissions} if policy else {}
    else:
        times = {name: submission_time(path) for name, path in submissions.items()} if policy else {}
    if secret is not None:  # from here on, every name is a pseudonym
        alias = write_mapping(anonymous, list(submissions), secret, out)
        submissions, variant, times = ({alias[n]: v for n, v in d.items()} for d in (submissions, variant, times))
        if collected is not None:
            collected = {alias[n]: c for n, c in collected.items() if n in alias}
        submissions = dict(sorted(submissions.items()))
    audit = AuditLog(out, policy, {"policy": config.path, "extensions": str(policy.course.extensions or ""),
                                   "overrides": str(policy.course.overrides or ""),
                                   "submission": "the platform's submission time"}) if policy else None
    reportdir.claim(out)
    if scheduler is None:
        grader_data(cache, config.practical.dataset)  # once, before the local workers race to build it
    worker_cache = None if scheduler is not None and cache == DEFAULT_CACHE else str(cache)
    config_bytes, fingerprint = resolved_yaml(config_path).encode(), grader_fingerprint()
    timeout = config.limits.wall_seconds + OVERHEAD_S

    status: dict[str, str] = {}  # name -> how its grading ended; the names still to grade are not in it
    tasks = []
    for name, path in submissions.items():
        sha = solution_sha(path)
        if sha is None:
            status[name] = NO_SOLUTION
        elif variant[name] is None:
            status[name] = NOT_IN_ROSTER
        elif not force and already_graded(out / "submissions" / name, sha, variant[name]):
            status[name] = GRADED
        else:
            entry = path.name if secret is None else name + (path.suffix if path.is_file() else "")
            try:
                task = make_task(name, path, config_bytes, timeout, fingerprint, worker_cache, variant[name])
            except SubmissionError as err:  # nothing to run: its reports say why, as `grade` would
                practical = variant_spec(config.practical, config.variants, variant[name])
                why = str(err).replace(str(path), entry)  # as `grade ENTRY` says it: no real name under --anonymous
                result = refused(entry, sha, config, practical, variant[name], why)
                save_reports(out / "submissions" / name, {o: data for o, write in report.writers(result, config).items()
                                                         if (data := write()) is not None})
                status[name] = GRADED
                continue
            tasks.append(replace(task, entry=entry))
    skipped = len(submissions) - len(tasks) - sum(s in (NO_SOLUTION, NOT_IN_ROSTER) for s in status.values())

    def book(pending: str = "pending") -> list[dict]:
        rows = [gradebook_row(n, out / "submissions" / n, status.get(n, pending), list(config.checks))
                for n in submissions]
        if collected is not None:
            best = max(config.points.values()) + (config.experiments.points if config.experiments else 0)
            rows = [{**r, **columns(collected[r["submission"]], r, best)} for r in rows]
        if audit is not None:
            audit.apply(rows, times)
        write_gradebook(out / "gradebook.csv", rows)
        if config.challenge is not None:
            write_leaderboard(out, list(submissions))
        return rows

    def record(result: TaskResult) -> None:
        save_reports(out / "submissions" / result.name, result.files)
        status[result.name] = result.status
        book()

    def clear_pending() -> None:  # a stale result must not pass for this run's
        for task in tasks:
            if task.name not in status:
                clear_reports(out / "submissions" / task.name)

    try:
        with connect(scheduler, jobs) if tasks else nullcontext() as client:  # nothing to grade: no cluster
            clear_pending()
            book()
            if tasks:
                run_tasks(client, tasks, record)
                again = [t for t in tasks if status.get(t.name) == REGRADE]
                if again:  # the machine was too busy for these: once more, one at a time, with a machine's cores
                    print(f"{len(again)} submission(s) to regrade (the machine was too busy): grading them again "
                          "one at a time", file=sys.stderr)
                    for task in again:
                        run_tasks(client, [replace(task, alone=True)], record)
    except KeyboardInterrupt:
        clear_pending()
        rows = book(pending=INTERRUPTED)
        done = sum(not needs_regrading(r) for r in rows)
        print(f"\nStopped: {done} of {len(rows)} rows are done and kept in {out / 'gradebook.csv'}; run the same "
              "command again to grade the rest", file=sys.stderr)
        return 130
    rows = book()
    print(f"{len(rows)} submissions ({skipped} already graded): {summary(rows)}")
    print(f"Gradebook: {out / 'gradebook.csv'}")
    if (out / "leaderboard.csv").is_file() and config.challenge is not None:
        print(f"Challenge leaderboard: {out / 'leaderboard.csv'} and {out / 'leaderboard.html'}")
    failed = [r["submission"] for r in rows if needs_regrading(r)]
    if failed:
        print(f"{len(failed)} submission(s) could not be graded: {', '.join(failed)}; rerun to retry them",
              file=sys.stderr)
    unlisted = [r["submission"] for r in rows if r["status"] == NOT_IN_ROSTER]
    if unlisted:
        print(f"{len(unlisted)} submission(s) have no line in {roster}, so no variant to grade against: "
              f"{', '.join(unlisted)}; add them and rerun", file=sys.stderr)
    return 1 if failed or unlisted else 0


def merge_outputs(outputs: list[Path], out: Path) -> int:
    """`merge`: join grade-all output folders into `out`. Returns 1 if some row still needs grading."""
    from .gradebook import merge

    rows = merge(outputs, out)
    print(f"{len(rows)} submissions from {len(outputs)} folders: {summary(rows)}")
    print(f"Gradebook: {out / 'gradebook.csv'}")
    if write_leaderboard(out, [r["submission"] for r in rows]):
        print(f"Challenge leaderboard: {out / 'leaderboard.csv'} and {out / 'leaderboard.html'}")
    failed = [r["submission"] for r in rows if needs_regrading(r)]
    if failed:
        print(f"{len(failed)} submission(s) are not graded: {', '.join(failed)}; rerun their shard, then merge "
              "again", file=sys.stderr)
    return 1 if failed else 0
