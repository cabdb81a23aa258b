"""The class integrity report: how much code each submission shares with the others and with known solutions.

copydetect does the comparing (winnowed fingerprints of the tokenised code, so names, comments, layout
and the order of functions do not hide a copy). This module finds the files the way grade-all does, leaves
the handout's stub out of every match, ranks the pairs, and writes similarity.csv and similarity.html.
It only reads source files: it never runs them, never grades, and never changes a mark.
"""
from __future__ import annotations

import csv
import hashlib
import html
from dataclasses import dataclass, field
from pathlib import Path

from assignment.solution import DEFAULT as STUB
from assignment.solution import HandInError, find_solution, read_hand_in

from .batch import find_submissions, solution_sha

NOISE_CHARS = 25  # copydetect's default: shorter runs of matching (tokenised) code are noise
MAX_SHOWN = 100  # pairs drawn side by side in the HTML page; the CSV has them all
CSV_NAME, HTML_NAME = "similarity.csv", "similarity.html"


@dataclass(frozen=True)
class Source:
    name: str  # the submission's name as in the gradebook, or known/<path inside the known folder>
    path: Path
    kind: str  # "submission" or "known"
    sha256: str


@dataclass
class Match:
    a: Source  # always a submission
    b: Source  # another submission, or a known solution
    share_a: float  # fraction of a's code (stub excluded) also found in b
    share_b: float
    tokens: int  # length of the shared passages in tokenised code (a name is one token): the ranking's key
    a_html: str = ""  # a's code, HTML-escaped, with the shared passages marked
    b_html: str = ""

    @property
    def similarity(self) -> float:
        """The share the page's threshold looks at. Two submissions: the larger share (a short file copied
        whole into a long one counts fully). A known solution: the submission's share, since a public
        repository holds more than the practical."""
        return max(self.share_a, self.share_b) if self.b.kind == "submission" else self.share_a


@dataclass
class Report:
    submissions: list[Source]
    known: list[Source]
    matches: list[Match]  # every pair compared, the most shared code first
    skipped: dict[str, str] = field(default_factory=dict)  # name -> why it was not compared
    threshold: float = 0.5


class SimilarityError(ValueError):
    """The folders given cannot be compared; the message says why."""


def _readable(path: Path) -> str | None:
    """Why `path` cannot be compared, or None."""
    try:
        text = read_hand_in(path).decode("utf-8")
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except HandInError as err:
        return str(err)
    except OSError as err:
        return f"cannot be read ({err.strerror})"
    return None if text.strip() else "empty file"


def class_sources(folder: Path) -> tuple[list[Source], dict[str, str]]:
    """Each submission in `folder`, found as grade-all finds it, and the ones that cannot be compared."""
    sources, skipped = [], {}
    for name, entry in find_submissions(folder).items():
        sha = solution_sha(entry)
        if sha is None:
            skipped[name] = "no cnn.py found"
            continue
        try:
            path = find_solution(entry)
        except FileNotFoundError:
            skipped[name] = "no cnn.py (a notebook is not compared)"
            continue
        except HandInError as err:  # a link: grading says what is wrong
            skipped[name] = str(err)
            continue
        why = _readable(path)
        if why:
            skipped[name] = why
        else:
            sources.append(Source(name, path, "submission", sha))
    return sources, skipped


def known_sources(folder: Path) -> tuple[list[Source], dict[str, str]]:
    """Every .py file under `folder` (public repositories come in any layout)."""
    if not folder.is_dir():
        raise SimilarityError(f"{folder} is not a folder of known solutions")
    sources, skipped = [], {}
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        name = f"known/{rel.as_posix()}"
        why = _readable(path)
        if why:
            skipped[name] = why
        else:
            sources.append(Source(name, path.resolve(), "known", hashlib.sha256(path.read_bytes()).hexdigest()))
    return sources, skipped


def compare(submissions: list[Source], known: list[Source], templates: list[Path],
            threshold: float = 0.5) -> list[Match]:
    """Every pair of submissions and every (submission, known solution), the most shared code first. Code
    that also appears in a template (the stub) is left out of every match. The first MAX_SHOWN matches at or
    above `threshold` carry their code with the shared passages marked.

    Ranked by the amount of shared code rather than by share: two short files written from one skeleton
    can share 95% of very little, which says less than 95% of a whole solution."""
    try:
        from copydetect import CopyDetector
    except ImportError:
        raise SimilarityError("the similarity report needs copydetect: pip install -e '.[test]' "
                              "(or pip install 'copydetect>=0.5,<0.6')") from None

    detector = CopyDetector(noise_t=NOISE_CHARS, guarantee_t=NOISE_CHARS, display_t=0.0, extensions=["py"],
                            silent=True, autoopen=False)
    for source in submissions:
        detector.add_file(str(source.path), "testref")
    for source in known:
        detector.add_file(str(source.path), "ref")
    for template in templates:
        detector.add_file(str(template), "boilerplate")
    if not submissions or len(submissions) + len(known) < 2:
        return []
    detector.run()

    by_path = {str(s.path): s for s in [*submissions, *known]}
    shares, tokens = detector.similarity_matrix, detector.token_overlap_matrix
    matches: dict[frozenset, Match] = {}
    for i, test in enumerate(detector.test_files):
        for j, ref in enumerate(detector.ref_files):
            key = frozenset((test, ref))
            if shares[i, j, 0] < 0 or key in matches:  # not compared (itself), or seen from the other side
                continue
            matches[key] = Match(by_path[test], by_path[ref], float(shares[i, j, 0]), float(shares[i, j, 1]),
                                 int(tokens[i, j]))
    ranked = sorted(matches.values(), key=lambda m: (-m.tokens, -m.similarity, m.a.name, m.b.name))

    marked = {frozenset((row[2], row[3])): row for row in detector.get_copied_code_list()}
    for match in ranked[:MAX_SHOWN]:
        row = marked.get(frozenset((str(match.a.path), str(match.b.path))))
        if row is None or match.similarity < threshold:
            continue
        first_is_a = row[2] == str(match.a.path)
        match.a_html, match.b_html = (row[4], row[5]) if first_is_a else (row[5], row[4])
    return ranked


def similarity_report(folder: Path, known_folder: Path | None = None, templates: list[Path] | None = None,
                      threshold: float = 0.5) -> Report:
    """Compare the class in `folder` with itself and with the .py files under `known_folder`."""
    if not 0 < threshold <= 1:
        raise SimilarityError(f"the threshold must lie in (0, 1], got {threshold}")
    templates = [STUB] if templates is None else templates
    for template in templates:
        if not template.is_file():
            raise SimilarityError(f"template {template} is not a file")
    submissions, skipped = class_sources(folder)
    known, skipped_known = known_sources(known_folder) if known_folder is not None else ([], {})
    skipped.update(skipped_known)
    return Report(submissions, known, compare(submissions, known, templates, threshold), skipped, threshold)


def write_csv(report: Report, path: Path) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["rank", "submission", "other", "other_kind", "similarity", "share_submission",
                         "share_other", "shared_tokens", "identical"])
        for rank, m in enumerate(report.matches, 1):
            writer.writerow([rank, m.a.name, m.b.name, m.b.kind, f"{m.similarity:.3f}", f"{m.share_a:.3f}",
                             f"{m.share_b:.3f}", m.tokens, "yes" if m.a.sha256 == m.b.sha256 else "no"])


STYLE = """body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.2em .6em;
text-align:left}tr:nth-child(even){background:#f4f4f4}.pair{display:grid;grid-template-columns:1fr 1fr;gap:1em}.pair>div{min-width:0}
pre{min-width:0;background:#fafafa;border:1px solid #ddd;padding:.5em;overflow-x:auto;font-size:85%}
.highlight-red{background:#f6c6c6}.highlight-green{background:#c6f0c6}"""


def report_html(report: Report) -> str:
    esc = html.escape
    ranked = list(enumerate(report.matches, 1))
    above = [(rank, m) for rank, m in ranked if m.similarity >= report.threshold]
    shown = [(rank, m) for rank, m in above if m.a_html]
    rows = "".join(
        f"<tr><td>{rank}</td><td>{esc(m.a.name)}</td><td>{esc(m.b.name)}</td><td>{m.b.kind}</td>"
        f"<td>{m.similarity:.0%}</td><td>{m.share_a:.0%}</td><td>{m.share_b:.0%}</td>"
        f"<td>{f'<a href=#pair-{rank}>side by side</a>' if m.a_html else ''}</td></tr>" for rank, m in above)
    pairs = "".join(
        f"<h3 id='pair-{rank}'>{rank}. {esc(m.a.name)} and {esc(m.b.name)}: {m.similarity:.0%}</h3>"
        f"<div class='pair'><div><b>{esc(m.a.name)}</b> ({m.share_a:.0%} shared)<pre>{m.a_html}</pre></div>"
        f"<div><b>{esc(m.b.name)}</b> ({m.share_b:.0%} shared)<pre>{m.b_html}</pre></div></div>"
        for rank, m in shown)
    left_out = (f"<p>The {len(above) - len(shown)} other pairs at or above the threshold are in {CSV_NAME} only.</p>"
                if len(above) > len(shown) else "")
    skipped = "".join(f"<li>{esc(n)}: {esc(why)}</li>" for n, why in sorted(report.skipped.items()))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Similarity report</title><style>{STYLE}</style></head><body>
<h1>Similarity report</h1>
<p>{len(report.submissions)} submissions compared with each other and with {len(report.known)} known solutions;
code that is also in the handout's stub does not count. Similarity is the share of a file's code found in the
other. A high score is a reason to read both files, not a verdict: it never changes a mark.</p>
<h2>Pairs at or above {report.threshold:.0%} ({len(above)} of {len(report.matches)}; all are in {CSV_NAME})</h2>
<table><tr><th>rank</th><th>submission</th><th>other</th><th>kind</th><th>similarity</th>
<th>share of submission</th><th>share of other</th><th></th></tr>{rows}</table>
{'<h2>Not compared</h2><ul>' + skipped + '</ul>' if skipped else ''}
<h2>Shared passages, side by side</h2>{left_out}{pairs or '<p>None at or above the threshold.</p>'}
</body></html>
"""


def write_report(report: Report, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    write_csv(report, out / CSV_NAME)
    (out / HTML_NAME).write_text(report_html(report))
    return out / CSV_NAME, out / HTML_NAME
