"""Specs for the project's tests: grading.yml's practical with some network fields changed."""
from __future__ import annotations

import copy

from autograder.practical import spec
from autograder.practical.config import load_config, load_raw

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
