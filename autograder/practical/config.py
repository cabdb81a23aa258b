"""grading.yml: load it, check every key and type, and hand back typed settings.

A config may start from another one: `base: ../grading.yml` (relative to the file) takes every section
of that file, and this file's mappings override it key by key (anything else replaces). The merged
whole is validated as strictly as a complete file. The list of checks comes from autograder/judging/checks/
(registry.py); the config holds only their policy.
"""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from .paths import REPO
from .phases import BUDGETED
from .registry import CheckInfo, RegistryError, discover, render
from .spec import Practical, SpecError, enumerate_variants, parse_practical

DEFAULT_CONFIG = REPO / "grading.yml"
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
OPTIONAL_SECTIONS = ("challenge", "experiments", "course")  # a config without them has no such track


class ConfigError(ValueError):
    """grading.yml is malformed; the message says where and how."""


@dataclass(frozen=True)
class Training:
    iterations: int
    log_every: int
    seed: int


@dataclass(frozen=True)
class Accuracy:
    s_plus: float
    s: float
    provisional: str = ""  # where bars not yet calibrated come from; the handout quotes it
    canaries: float = 0.25  # share of the secret canary images a model that counts must classify (canaries.py); 0: off


@dataclass(frozen=True)
class OutputShape:
    cases: int
    seed: int


@dataclass(frozen=True)
class TopPatches:
    filters: list
    k: int
    images: int


@dataclass(frozen=True)
class Limits:
    """What the sandbox allows the child (grading.yml's `limits`; the sandbox enforces them, isolation.py)."""
    wall_seconds: float
    cpu_seconds: float
    memory_mb: int
    processes: int
    output_kb: int
    # phase -> seconds it may take (phases.BUDGETED, each one, in grading.yml); only with a progress watch
    phases: dict = field(default_factory=dict)
    idle_seconds: float = 0  # train() blocked this long (no CPU used, none waited for) is stopped; 0: never


@dataclass(frozen=True)
class Challenge:
    """The optional challenge track: build_challenge_model(), trained by the student's train()."""
    badges: list  # the test accuracies that earn a badge, lowest first; each badge is named after its bar
    iterations: int  # optimizer steps train() may make
    max_parameters: int  # the most parameters the challenge model may have
    wall_seconds: float  # the whole challenge run, by the grader's clock on the grading machine

    @staticmethod
    def badge_name(bar: float) -> str:
        """0.99 -> '99%', 0.995 -> '99.5%'."""
        return f"{bar * 100:.2f}".rstrip("0").rstrip(".") + "%"

    def badge_for(self, accuracy: float) -> str | None:
        """The badge of the highest bar that `accuracy` reaches, or None."""
        reached = [bar for bar in self.badges if accuracy >= bar]
        return self.badge_name(reached[-1]) if reached else None


@dataclass(frozen=True)
class Experiments:
    """Marking the experiments table handed in beside cnn.py. Without this section the table is shown, unmarked.
    The grader cannot rerun the table's runs: it marks a complete table, not its numbers."""
    points: float  # the Gradescope points a complete table earns, beside the mark's (the mark is unchanged)
    min_runs: int  # the finished runs (rows with a test accuracy) a complete table holds


@dataclass(frozen=True)
class Course:
    """The course's policy (`course:`): the deadline, the late rule, and the instructor's CSVs of extensions and
    overrides (read by classroom/policy.py). grade-all applies it; a single `grade` does not."""
    deadline: datetime  # aware, in `timezone`
    timezone: str  # an IANA name, e.g. Europe/London
    late_counts_as: str | None = None  # a late mark better than this counts as this (e.g. "S": a late S+ is S)
    points_per_day: float = 0  # or: points off per started day late,
    max_points_off: float = 0  # up to this many
    extensions: Path | None = None  # CSV student,deadline,reason
    overrides: Path | None = None  # CSV student,mark,points,reason,by,when


@dataclass(frozen=True)
class CheckSpec:
    title: str  # for the spec as written
    visibility: str
    template: str = ""  # the title before the spec's facts are put in (see registry.facts)

    def title_for(self, practical: Practical) -> str:
        return render(self.template, practical) if self.template else self.title


@dataclass(frozen=True)
class Config:
    practical: Practical  # the spec as written (variant v1)
    variants: dict  # field -> allowed values; see spec.enumerate_variants
    training: Training
    accuracy: Accuracy
    output_shape: OutputShape
    top_patches: TopPatches
    limits: Limits
    checks: dict  # name -> CheckSpec, in grading.yml's order
    marks: dict  # mark -> list of check names, best mark first
    points: dict  # mark -> score
    challenge: Challenge | None = None  # None: grading.yml has no challenge section
    experiments: Experiments | None = None  # None: a handed-in experiments table is shown, not marked
    course: Course | None = None  # None: no deadline, extensions or overrides; the final mark is the automatic one
    path: str = ""
    sha256: str = ""  # of the policy as graded (bases merged in); results.json records it (provenance.py)


def _section(raw: dict, key: str, cls, where: str):
    value = raw.get(key)
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: '{key}' must be a mapping, got {type(value).__name__}")
    fields = {f.name: f.type for f in dataclasses.fields(cls)}
    optional = {f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}
    unknown = set(value) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) in '{key}': {', '.join(sorted(unknown))}; "
                          f"allowed: {', '.join(fields)}")
    missing = set(fields) - set(value) - optional
    if missing:
        raise ConfigError(f"{where}: '{key}' lacks {', '.join(sorted(missing))}")
    for name, kind in fields.items():
        if name not in value:
            continue
        v = value[name]
        ok = {"int": type(v) is int, "float": isinstance(v, (int, float)) and not isinstance(v, bool),
              "str": isinstance(v, str), "list": isinstance(v, list), "dict": isinstance(v, dict)}[kind]
        if not ok:
            raise ConfigError(f"{where}: '{key}.{name}' must be {kind}, got {v!r}")
    return cls(**value)


def _check_phases(limits: Limits, where: str) -> None:
    """Every budgeted phase, and only those, with a positive number of seconds within the wall limit."""
    phases = limits.phases
    unknown, missing = set(phases) - set(BUDGETED), set(BUDGETED) - set(phases)
    if unknown or missing:
        raise ConfigError(f"{where}: limits.phases must give seconds for exactly {', '.join(BUDGETED)} "
                          f"(train() gets wall_seconds); unknown: {', '.join(sorted(unknown)) or 'none'}, "
                          f"missing: {', '.join(sorted(missing)) or 'none'}")
    for name, value in phases.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= limits.wall_seconds:
            raise ConfigError(f"{where}: limits.phases.{name} must be a number of seconds in (0, wall_seconds="
                              f"{limits.wall_seconds:g}], got {value!r}")


def parse_config(raw, where: str = "grading.yml") -> Config:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level, got {type(raw).__name__}")
    top = {"practical", "training", "accuracy", "output_shape", "top_patches", "limits", "checks", "marks", "points"}
    unknown = set(raw) - top - set(OPTIONAL_SECTIONS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}; allowed: "
                          f"{', '.join(sorted(top | set(OPTIONAL_SECTIONS)))}")
    missing = top - set(raw)
    if missing:
        raise ConfigError(f"{where}: missing section(s): {', '.join(sorted(missing))}")
    challenge = parse_challenge(raw, where)

    try:
        practical, variants = parse_practical(raw["practical"], "practical")
    except SpecError as err:
        raise ConfigError(f"{where}: {err}") from err
    training = _section(raw, "training", Training, where)
    if training.iterations < 2 * training.log_every or training.log_every < 1:
        raise ConfigError(f"{where}: training.iterations ({training.iterations}) must be at least twice "
                          f"training.log_every ({training.log_every}), so that the loss can be seen to go down")
    accuracy = _section(raw, "accuracy", Accuracy, where)
    if not 0 <= accuracy.s <= accuracy.s_plus <= 1:
        raise ConfigError(f"{where}: need 0 <= accuracy.s <= accuracy.s_plus <= 1, got s={accuracy.s}, "
                          f"s_plus={accuracy.s_plus}")
    if not 0 <= accuracy.canaries <= 1:
        raise ConfigError(f"{where}: need 0 <= accuracy.canaries <= 1, got {accuracy.canaries}")
    patches = _section(raw, "top_patches", TopPatches, where)
    n_filters = min(p.conv1.filters for p in enumerate_variants(practical, variants).values())
    if not patches.filters or not all(type(f) is int and 0 <= f < n_filters for f in patches.filters):
        raise ConfigError(f"{where}: top_patches.filters must be a non-empty list of ints in 0..{n_filters - 1} "
                          f"(conv1 has {n_filters} filters)")
    limits = _section(raw, "limits", Limits, where)
    if limits.memory_mb < 4096:
        raise ConfigError(f"{where}: limits.memory_mb is {limits.memory_mb}; importing torch needs at least 4096")
    _check_phases(limits, where)
    if limits.idle_seconds < 0:
        raise ConfigError(f"{where}: limits.idle_seconds must be a number of seconds, or 0 to never stop train() "
                          f"for being blocked; got {limits.idle_seconds!r}")

    try:
        registered = discover()
    except RegistryError as err:
        raise ConfigError(f"autograder/judging/checks: {err}") from err
    checks = parse_checks(raw["checks"], registered, practical, where)

    marks, points = raw["marks"], raw["points"]
    if not isinstance(marks, dict) or set(marks) != {"S+", "S"}:
        raise ConfigError(f"{where}: 'marks' must define exactly S+ and S")
    for mark, needed in marks.items():
        bad = [c for c in needed or [] if c not in registered] if isinstance(needed, list) else [needed]
        if bad or not needed:
            raise ConfigError(f"{where}: marks.{mark} must be a non-empty list of checks; unknown: {bad}")
    if set(marks["S"]) - set(marks["S+"]):
        raise ConfigError(f"{where}: every check that S needs must also be needed by S+")
    if not isinstance(points, dict) or set(points) != {"S+", "S"} or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in points.values()):
        raise ConfigError(f"{where}: 'points' must give a number for S+ and for S")
    return Config(practical, variants, training, accuracy, _section(raw, "output_shape", OutputShape, where), patches, limits,
                  checks, {"S+": list(marks["S+"]), "S": list(marks["S"])}, dict(points), challenge,
                  parse_experiments(raw, where), parse_course(raw, where), where)


MARK_ORDER = ("S+", "S", "none")  # best first
COURSE_KEYS = ("deadline", "timezone", "late", "extensions", "overrides")


def parse_course(raw: dict, where: str) -> Course | None:
    """The optional `course:` section (absent or null: no policy). The CSVs' paths are relative to the config file."""
    section = raw.get("course")
    if section is None:
        return None
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: 'course' must be a mapping, got {type(section).__name__}")
    unknown = set(section) - set(COURSE_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) in 'course': {', '.join(sorted(unknown))}; allowed: "
                          f"{', '.join(COURSE_KEYS)}")
    for key in ("deadline", "timezone"):
        if key not in section:
            raise ConfigError(f"{where}: 'course' lacks {key}, e.g. deadline: \"2025-03-07 17:00\", "
                              "timezone: Europe/London")
    zone = section["timezone"]
    try:
        tz = ZoneInfo(zone) if isinstance(zone, str) and zone.strip() else None
    except (ZoneInfoNotFoundError, ValueError):
        tz = None
    if tz is None:
        raise ConfigError(f"{where}: course.timezone must be a time zone name such as Europe/London or UTC, got {zone!r}")
    deadline = parse_time(section["deadline"], tz, f"{where}: course.deadline")
    late = section.get("late") or {}
    if not isinstance(late, dict) or set(late) - {"counts_as", "points_per_day", "max_points_off"} or \
            ("counts_as" in late) == ("points_per_day" in late) and late:
        raise ConfigError(f"{where}: course.late must be {{counts_as: S}} (a late mark better than S counts as S) or "
                          f"{{points_per_day: P, max_points_off: C}}; got {late!r}")
    counts_as = late.get("counts_as")
    if counts_as is not None and counts_as not in MARK_ORDER:
        raise ConfigError(f"{where}: course.late.counts_as must be one of {', '.join(MARK_ORDER)}, got {counts_as!r}")
    numbers = {}
    for key in ("points_per_day", "max_points_off"):
        value = late.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{where}: course.late.{key} must be a number of points >= 0, got {value!r}")
        numbers[key] = float(value)
    if "points_per_day" in late and (numbers["points_per_day"] <= 0 or numbers["max_points_off"] <= 0):
        raise ConfigError(f"{where}: course.late needs points_per_day > 0 and max_points_off > 0, got {late!r}")
    files = {}
    for key in ("extensions", "overrides"):
        value = section.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{where}: course.{key} must be the path of a CSV file, relative to {where}; got {value!r}")
        files[key] = Path(where).resolve().parent / value if value else None
    return Course(deadline, zone, counts_as, numbers["points_per_day"], numbers["max_points_off"], **files)


def parse_time(value, tz: ZoneInfo, what: str) -> datetime:
    """'2025-03-07 17:00' (or an ISO time with an offset) as an aware datetime; without an offset, in `tz`."""
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).strip()) if isinstance(value, str) else None
        except ValueError:
            moment = None
        if moment is None:
            raise ConfigError(f"{what} must be a date and time such as \"2025-03-07 17:00\" (in the course's time "
                              f"zone) or with an offset, \"2025-03-07T17:00+00:00\"; got {value!r}")
    return moment.replace(tzinfo=tz) if moment.tzinfo is None else moment


def parse_experiments(raw: dict, where: str) -> Experiments | None:
    """The optional `experiments:` section (absent or null: the table is not marked)."""
    if raw.get("experiments") is None:
        return None
    policy = _section(raw, "experiments", Experiments, where)
    if policy.points <= 0 or policy.min_runs < 1:
        raise ConfigError(f"{where}: experiments needs points > 0 and min_runs >= 1 (leave the section out for a "
                          f"table that is shown, not marked); got points={policy.points!r}, min_runs={policy.min_runs!r}")
    return policy


def parse_challenge(raw: dict, where: str) -> Challenge | None:
    """The optional `challenge:` section (absent or null: no challenge track)."""
    if raw.get("challenge") is None:
        return None
    challenge = _section(raw, "challenge", Challenge, where)
    bars = challenge.badges
    if not bars or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 < b <= 1 for b in bars):
        raise ConfigError(f"{where}: challenge.badges must list test accuracies in (0, 1], each a badge, "
                          f"e.g. [0.99, 0.995]; got {bars!r}")
    if len(set(bars)) != len(bars):
        raise ConfigError(f"{where}: challenge.badges lists a bar twice: {bars!r}")
    for name in ("iterations", "max_parameters"):
        if getattr(challenge, name) < 1:
            raise ConfigError(f"{where}: challenge.{name} must be at least 1, got {getattr(challenge, name)}")
    if challenge.wall_seconds <= 0:
        raise ConfigError(f"{where}: challenge.wall_seconds must be a positive number of seconds, "
                          f"got {challenge.wall_seconds!r}")
    return dataclasses.replace(challenge, badges=sorted(float(b) for b in bars))


def parse_checks(raw, registered: dict[str, CheckInfo], practical: Practical, where: str) -> dict[str, CheckSpec]:
    """Each registered check's policy: visibility, and optionally a title that overrides the check's own.
    Every check needs a line, so that none is shown or hidden by accident; an unknown name is refused."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: 'checks' must map each check to its policy, got {type(raw).__name__}")
    unknown = [n for n in raw if n not in registered]
    if unknown:
        raise ConfigError(f"{where}: checks.{unknown[0]}: no such check (no autograder/judging/checks/test_{unknown[0]}.py); "
                          f"the checks are {', '.join(registered)}")
    missing = [n for n in registered if n not in raw]
    if missing:
        raise ConfigError(f"{where}: 'checks' has no line for {', '.join(missing)}; give each its visibility, "
                          f"e.g. {missing[0]}: {{visibility: visible}}")
    checks = {}
    for name, policy in raw.items():
        if not isinstance(policy, dict) or not isinstance(policy.get("visibility"), str) or \
                set(policy) - {"title", "visibility"}:
            raise ConfigError(f"{where}: checks.{name} must be {{visibility: ...}}, optionally with a title; "
                              f"got {policy!r}")
        if policy["visibility"] not in VISIBILITIES:
            raise ConfigError(f"{where}: checks.{name}.visibility is {policy['visibility']!r}; "
                              f"use one of {', '.join(VISIBILITIES)}")
        template = policy.get("title", registered[name].title)
        if not isinstance(template, str) or not template.strip():
            raise ConfigError(f"{where}: checks.{name}.title must be a non-empty string, got {template!r}")
        try:
            title = render(template, practical)
        except RegistryError as err:
            raise ConfigError(f"{where}: checks.{name}: {err}") from err
        checks[name] = CheckSpec(title, policy["visibility"], template)
    return checks


def merged(base, override):
    """`override` on top of `base`: mappings key by key, anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{k: merged(base.get(k), v) if k in base else v for k, v in override.items()}}
    return override


def load_raw(path: str | Path, _seen: tuple = ()) -> dict:
    """The config file as one mapping, its `base` (and the base's base) merged in."""
    path = Path(path).resolve()
    if path in _seen:
        raise ConfigError(f"{_seen[-1]}: base {path} leads back to itself")
    try:
        content = path.read_bytes()
        raw = yaml.safe_load(content)
    except OSError as err:
        what = f"{_seen[-1]}: cannot read its base" if _seen else "cannot read the grading config"
        raise ConfigError(f"{what} {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(raw, dict) or "base" not in raw:
        return raw
    base = raw.pop("base")
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{path}: 'base' must be the path of another config, relative to this file; got {base!r}")
    return merged(load_raw(path.parent / base, (*_seen, path)), raw)


def resolved_yaml(path: str | Path) -> str:
    """The config with its bases merged in, as one self-contained file (for the otter zip)."""
    return yaml.safe_dump(load_raw(path), sort_keys=False)


def load_config(path: str | Path | None = None) -> Config:
    path = Path(path) if path else DEFAULT_CONFIG
    raw = load_raw(path)
    config = parse_config(raw, str(path))
    # the policy's hash, over the config as graded (its bases merged in)
    policy = yaml.safe_dump(raw, sort_keys=True).encode()
    return dataclasses.replace(config, sha256=hashlib.sha256(policy).hexdigest())
