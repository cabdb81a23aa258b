"""grading.yml: load it, check every key and type, and hand back typed settings."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from .spec import Practical, SpecError, enumerate_variants, parse_practical

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "grading.yml"
CHECKS = ("output_shape", "model_io", "architecture", "training", "accuracy_s", "accuracy", "top_patches")
VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")
# The child's phases that get a small time budget of their own (limits.phases); train() gets the wall limit.
BUDGETED_PHASES = ("import", "output_shape", "build_model", "model_io", "inspect", "evaluate", "top_patches")


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
    wall_seconds: float
    cpu_seconds: float
    memory_mb: int
    processes: int
    output_kb: int
    phases: dict  # phase -> seconds it may take (BUDGETED_PHASES, each one)


@dataclass(frozen=True)
class CheckSpec:
    title: str
    visibility: str


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
    path: str = ""


def _section(raw: dict, key: str, cls, where: str):
    value = raw.get(key)
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: '{key}' must be a mapping, got {type(value).__name__}")
    fields = {f.name: f.type for f in dataclasses.fields(cls)}
    unknown = set(value) - set(fields)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) in '{key}': {', '.join(sorted(unknown))}; "
                          f"allowed: {', '.join(fields)}")
    missing = set(fields) - set(value)
    if missing:
        raise ConfigError(f"{where}: '{key}' lacks {', '.join(sorted(missing))}")
    for name, kind in fields.items():
        v = value[name]
        ok = {"int": type(v) is int, "float": isinstance(v, (int, float)) and not isinstance(v, bool),
              "str": isinstance(v, str), "list": isinstance(v, list), "dict": isinstance(v, dict)}[kind]
        if not ok:
            raise ConfigError(f"{where}: '{key}.{name}' must be {kind}, got {v!r}")
    return cls(**value)


def _check_phases(limits: Limits, where: str) -> None:
    """Every budgeted phase, and only those, with a positive number of seconds within the wall limit."""
    phases = limits.phases
    unknown, missing = set(phases) - set(BUDGETED_PHASES), set(BUDGETED_PHASES) - set(phases)
    if unknown or missing:
        raise ConfigError(f"{where}: limits.phases must give seconds for exactly {', '.join(BUDGETED_PHASES)} "
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
    unknown = set(raw) - top
    if unknown:
        raise ConfigError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(top))}")
    missing = top - set(raw)
    if missing:
        raise ConfigError(f"{where}: missing section(s): {', '.join(sorted(missing))}")

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
    patches = _section(raw, "top_patches", TopPatches, where)
    n_filters = min(p.conv1.filters for p in enumerate_variants(practical, variants).values())
    if not patches.filters or not all(type(f) is int and 0 <= f < n_filters for f in patches.filters):
        raise ConfigError(f"{where}: top_patches.filters must be a non-empty list of ints in 0..{n_filters - 1} "
                          f"(conv1 has {n_filters} filters)")
    limits = _section(raw, "limits", Limits, where)
    if limits.memory_mb < 4096:
        raise ConfigError(f"{where}: limits.memory_mb is {limits.memory_mb}; importing torch needs at least 4096")
    _check_phases(limits, where)

    checks_raw = raw["checks"]
    if not isinstance(checks_raw, dict) or set(checks_raw) != set(CHECKS):
        found = sorted(checks_raw) if isinstance(checks_raw, dict) else checks_raw
        raise ConfigError(f"{where}: 'checks' must list exactly {', '.join(CHECKS)}; found {found}")
    checks = {name: _section(checks_raw, name, CheckSpec, f"{where}: checks") for name in checks_raw}
    for name, spec in checks.items():
        if spec.visibility not in VISIBILITIES:
            raise ConfigError(f"{where}: checks.{name}.visibility is {spec.visibility!r}; "
                              f"use one of {', '.join(VISIBILITIES)}")

    marks, points = raw["marks"], raw["points"]
    if not isinstance(marks, dict) or set(marks) != {"S+", "S"}:
        raise ConfigError(f"{where}: 'marks' must define exactly S+ and S")
    for mark, needed in marks.items():
        bad = [c for c in needed or [] if c not in CHECKS] if isinstance(needed, list) else [needed]
        if bad or not needed:
            raise ConfigError(f"{where}: marks.{mark} must be a non-empty list of checks; unknown: {bad}")
    if set(marks["S"]) - set(marks["S+"]):
        raise ConfigError(f"{where}: every check that S needs must also be needed by S+")
    if not isinstance(points, dict) or set(points) != {"S+", "S"} or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in points.values()):
        raise ConfigError(f"{where}: 'points' must give a number for S+ and for S")
    return Config(practical, variants, training, accuracy, _section(raw, "output_shape", OutputShape, where), patches, limits,
                  checks, {"S+": list(marks["S+"]), "S": list(marks["S"])}, dict(points), where)


def load_config(path: str | Path | None = None) -> Config:
    path = Path(path) if path else DEFAULT_CONFIG
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ConfigError(f"cannot read the grading config {path}: {err.strerror}") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from err
    return parse_config(raw, str(path))
