"""The audit log beside the gradebook (audit.jsonl): one JSON line per change of a student's final mark.

Each line holds the student, the final mark and points before and after, the cause (graded, regrade,
resubmitted, extension, override, policy), the file it came from, the time it was written, and the inputs
the final mark was computed from (the automatic mark, the submission time, the deadline, the override).
Lines are only ever appended: a regrade, a new override or a changed policy adds one; none is rewritten.
The gradebook can be rebuilt from the automatic marks (results.json), the policy and this log (`rebuild`).
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from .gradebook import DONE, gradebook_row
from .policy import Override, Policy, policy_columns

LOG = "audit.jsonl"


def read_log(path: Path) -> list[dict]:
    """The log's lines, oldest first ([] if there is none yet)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    lines = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                lines.append(json.loads(line))
            except ValueError as err:
                raise ValueError(f"{path}, line {number}: not a JSON line ({err}); the log is only ever appended "
                                 "to, so this line was written by something else") from err
    return lines


def history(out: Path, student: str) -> list[dict]:
    """Every line of `student` in OUT/audit.jsonl, oldest first."""
    return [line for line in read_log(Path(out) / LOG) if line["student"] == student]


def describe(line: dict) -> str:
    """One line of `audit STUDENT`'s output."""
    def mark(state):
        return f"{state['mark']} ({state['points']:g} points)" if state else "nothing"
    return f"{line['time']}  {mark(line['before'])} -> {mark(line['after'])}  {line['cause']} ({line['source']})"


class AuditLog:
    """OUT/audit.jsonl, with each student's latest line kept in memory; `apply` adds the policy's columns to
    gradebook rows and appends a line for each student whose final mark (or what it rests on) changed."""

    def __init__(self, out: Path, policy: Policy, sources: dict[str, str]):
        self.path, self.policy, self.sources = Path(out) / LOG, policy, sources
        self.last = {line["student"]: line for line in read_log(self.path)}

    def apply(self, rows: list[dict], times: dict[str, datetime | None]) -> list[dict]:
        """`rows` with the policy's columns; blank for a row whose grading is not done."""
        for row in rows:
            name = row["submission"]
            if row["status"] not in DONE:
                row.update(dict.fromkeys(("submitted", "deadline", "final_mark", "final_points", "why"), ""))
                continue
            override = self.policy.overrides.get(name)
            inputs = {"status": row["status"], "automatic": row["mark"], "submitted": _iso(times.get(name)),
                      "deadline": _iso(self.policy.deadline_for(name)),
                      "override": override.as_dict() if override else None}
            row.update(policy_columns(self.policy, name, row["mark"], times.get(name),
                                      self.policy.deadline_for(name), override))
            after = {"mark": row["final_mark"], "points": float(row["final_points"])}
            last = self.last.get(name)
            if last is None or last["after"] != after or last["inputs"] != inputs:
                self._append(name, last, after, inputs)
        return rows

    def _append(self, name: str, last: dict | None, after: dict, inputs: dict) -> None:
        cause, source = self._cause(name, last, inputs)
        line = {"student": name, "before": last["after"] if last else None, "after": after, "cause": cause,
                "source": source, "time": datetime.now(timezone.utc).isoformat(timespec="seconds"), "inputs": inputs}
        with open(self.path, "a") as f:
            f.write(json.dumps(line, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.last[name] = line

    def _cause(self, name: str, last: dict | None, inputs: dict) -> tuple[str, str]:
        results = f"submissions/{name}/results.json"
        if last is None:
            return ("graded" if inputs["status"] == "graded" else inputs["status"]), results
        was = last["inputs"]
        changed = [("regrade", results) if (was["status"], was["automatic"]) != (inputs["status"], inputs["automatic"])
                   else None,
                   ("resubmitted", self.sources.get("submission:" + name, "the platform's submission time"))
                   if was["submitted"] != inputs["submitted"] else None,
                   ("extension", self.sources.get("extensions", "")) if was["deadline"] != inputs["deadline"] else None,
                   ("override", self.sources.get("overrides", "")) if was["override"] != inputs["override"] else None]
        changed = [c for c in changed if c] or [("policy", self.sources.get("policy", ""))]
        return ", ".join(c for c, _ in changed), "; ".join(s for _, s in changed)


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).isoformat() if moment else ""


def rebuild(out: Path, policy: Policy, checks: list[str]) -> list[dict]:
    """The gradebook's rows, rebuilt from each student's automatic mark (OUT/submissions/NAME/results.json),
    the policy's late rule and points, and the inputs the log's latest line records."""
    last = {line["student"]: line for line in read_log(Path(out) / LOG)}
    rows = []
    for name in sorted(last):
        inputs = last[name]["inputs"]
        row = gradebook_row(name, Path(out) / "submissions" / name, inputs["status"], checks)
        submitted = datetime.fromisoformat(inputs["submitted"]) if inputs["submitted"] else None
        override = Override(**inputs["override"]) if inputs["override"] else None
        row.update(policy_columns(policy, name, row["mark"], submitted, datetime.fromisoformat(inputs["deadline"]),
                                  override))
        rows.append(row)
    return rows
