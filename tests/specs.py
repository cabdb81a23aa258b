"""Specs for the project's tests: grading.yml's practical with some network fields changed, the short-budget
config, and the reference built for the default spec."""
from __future__ import annotations

import copy
from pathlib import Path

from autograder.practical import spec
from autograder.practical.config import load_config, load_raw

ROOT = Path(__file__).resolve().parents[1]
FAST = ROOT / "tests" / "grading-fast.yml"  # the short-budget config: a few hundred steps
TINY = ROOT / "tests" / "grading-tiny.yml"  # the shortest: for the pipeline, not the marks
RAW = load_raw(load_config().path)["practical"]


def spec_with(dataset: str | None = None, **network) -> spec.Practical:
    """The default practical with network fields changed, e.g. spec_with(conv1__filters=32, fc1__units=512),
    on another dataset if named (its input shape goes with it). Raises SpecError as grading.yml would."""
    raw = copy.deepcopy(RAW)
    if dataset:
        raw["dataset"] = {"name": dataset, "input": list(spec.DATASETS[dataset])}
    for key, value in network.items():
        *parents, leaf = key.split("__")
        node = raw["network"]
        for part in parents:
            node = node[part]
        node[leaf] = value
    return spec.parse_practical(raw)[0]


def default_reference(path: Path) -> Path:
    """reference/cnn.py with grading.yml's network built in: what a solution of the default practical is."""
    facts = (ROOT / "assignment" / "practical.json").read_text()
    path.write_text((ROOT / "reference" / "cnn.py").read_text() + (
        "\n\nimport json as _json\n"
        f"_DEFAULT = practical.parse(_json.loads({facts!r}))\n\n\n"
        "def build_model() -> nn.Module:\n"
        "    return Net(_DEFAULT)\n"))
    return path
