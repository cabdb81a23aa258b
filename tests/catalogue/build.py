"""The catalogue of test submissions: load catalogue.yml and write any entry out as a cnn.py.

An entry starts from a base source (`handout` = files/handout_recipe.py, a correct submission
written the way the handout describes; `stub` = assignment/cnn.py, or a
file in files/) and applies its `edits` in order, each an exact text that must occur exactly once.
"""
from __future__ import annotations

import re
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
CATALOGUE = HERE / "catalogue.yml"
FILES = HERE / "files"
BASES = {"handout": FILES / "handout_recipe.py", "stub": ROOT / "assignment" / "cnn.py"}
KINDS = ("variant", "mistake", "attack")
MARKS = ("S+", "S", None)
REQUIRED = {"name", "kind", "base", "edits", "mark", "phrase", "why"}
# The config the catalogue test grades an entry under (key `budget`, default fast): tiny is for entries whose
# verdict does not depend on how far training gets, so that they train for 100 steps instead of 300.
BUDGETS = {"fast": ROOT / "tests" / "grading-fast.yml", "tiny": ROOT / "tests" / "grading-tiny.yml"}
# Files an attack creates only if the grader or its sandbox failed; the grading test asserts they never appear.
MARKER_PREFIXES = ("/tmp/cnn-grader-pwned-", "/tmp/cnn-grader-daemon-")


class CatalogueError(ValueError):
    """catalogue.yml is malformed; the message names the entry and the problem."""


def _check_entry(raw, index: int, seen: set) -> dict:
    where = f"{CATALOGUE.name} entry {index}"
    if not isinstance(raw, dict):
        raise CatalogueError(f"{where}: expected a mapping, got {type(raw).__name__}")
    where = f"{CATALOGUE.name} entry {index} ({raw.get('name', '?')})"
    unknown, missing = set(raw) - REQUIRED - {"budget"}, REQUIRED - set(raw)
    if unknown:
        raise CatalogueError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: {sorted(REQUIRED | {'budget'})}")
    if missing:
        raise CatalogueError(f"{where}: missing key(s) {sorted(missing)}")
    name = raw["name"]
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise CatalogueError(f"{where}: name must be snake_case, got {name!r}")
    if name in seen:
        raise CatalogueError(f"{where}: duplicate name {name!r}")
    seen.add(name)
    if raw["kind"] not in KINDS:
        raise CatalogueError(f"{where}: kind must be one of {KINDS}, got {raw['kind']!r}")
    if raw["mark"] not in MARKS:
        raise CatalogueError(f"{where}: mark must be 'S+', 'S' or null, got {raw['mark']!r}")
    if raw["kind"] == "attack" and raw["mark"] == "S+":
        raise CatalogueError(f"{where}: an attack must never be expected to get S+")
    if raw["kind"] == "variant" and raw["mark"] != "S+":
        raise CatalogueError(f"{where}: a variant is a correct solution and must expect S+")
    base = raw["base"]
    if not isinstance(base, str) or not (base in BASES or (FILES / base).is_file()):
        raise CatalogueError(f"{where}: base must be 'handout', 'stub' or a file in {FILES}, got {base!r}")
    phrase = raw["phrase"]
    if not isinstance(phrase, str) or not phrase.strip() or phrase != phrase.lower():
        raise CatalogueError(f"{where}: phrase must be a non-empty lowercase string, got {phrase!r}")
    why = raw["why"]
    if not isinstance(why, str) or not why.strip() or "\n" in why.strip():
        raise CatalogueError(f"{where}: why must be one line of text")
    edits = raw["edits"]
    if not isinstance(edits, list):
        raise CatalogueError(f"{where}: edits must be a list (may be empty)")
    for k, edit in enumerate(edits):
        if not isinstance(edit, dict) or set(edit) != {"old", "new"} or not all(
                isinstance(edit[key], str) for key in ("old", "new")) or not edit["old"]:
            raise CatalogueError(f"{where}: edit {k} must be exactly {{old: text, new: text}} with non-empty old")
    if raw["kind"] in ("variant", "mistake") and base == "handout" and not edits:
        raise CatalogueError(f"{where}: a {raw['kind']} based on the handout recipe needs at least one edit")
    if raw.setdefault("budget", "fast") not in BUDGETS:
        raise CatalogueError(f"{where}: budget must be one of {sorted(BUDGETS)}, got {raw['budget']!r}")
    if raw["kind"] == "variant" and raw["budget"] != "fast":
        raise CatalogueError(f"{where}: a variant's S+ is worth something only at the fast budget's bars")
    return dict(raw)


def entries(path: Path = CATALOGUE) -> list[dict]:
    """Every catalogue entry, validated; keys: name, kind, base, edits, mark, phrase, why, budget."""
    raw = yaml.safe_load(Path(path).read_text())
    if not isinstance(raw, list) or not raw:
        raise CatalogueError(f"{path}: expected a non-empty list of entries")
    seen: set = set()
    return [_check_entry(item, i, seen) for i, item in enumerate(raw)]


def base_source(entry: dict) -> str:
    base = entry["base"]
    return (BASES[base] if base in BASES else FILES / base).read_text()


def source(entry: dict) -> str:
    """The entry's cnn.py text: its base with every edit applied in order."""
    text = base_source(entry)
    for k, edit in enumerate(entry["edits"]):
        count = text.count(edit["old"])
        if count != 1:
            raise CatalogueError(f"{entry['name']}: edit {k} old text occurs {count} times in {entry['base']}, "
                                 f"expected exactly once: {edit['old']!r}")
        text = text.replace(edit["old"], edit["new"])
    return text


def materialise(entry: dict, dest_dir: str | Path) -> Path:
    """Write the entry's submission as dest_dir/cnn.py and return that path."""
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    path = dest / "cnn.py"
    path.write_text(source(entry))
    return path


def markers(entry: dict) -> list[Path]:
    """Files that appear only if the entry's attack got through: /tmp/cnn-grader-{pwned,daemon}-<name>."""
    return [Path(prefix + entry["name"]) for prefix in MARKER_PREFIXES]


def by_name(name: str) -> dict:
    for entry in entries():
        if entry["name"] == name:
            return entry
    raise KeyError(name)
