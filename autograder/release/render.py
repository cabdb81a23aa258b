"""The student's files that quote the practical's numbers, rendered from the spec.

The handout (`README.md`), the stub's docstrings (`cnn.py`) and the notebook are Jinja2 templates in
`templates/assignment/`; `practical.json` is `Practical.student_facts()`. The public checks, the
driver and the notebook's code read their numbers from `practical.json` (through
`assignment/practical.py`), so only these four files differ between specs.

The repository's own `assignment/` holds the rendering of `grading.yml`, for students who work in
this repository; tests/release/test_render.py fails when the two drift apart. After editing a template or
grading.yml, refresh them with `python -m autograder.release.render`. Imports no torch.
"""
from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

import jinja2
import nbformat

from assignment import datasets
from assignment import practical as student_practical

from ..practical import spec
from ..practical.config import DEFAULT_CONFIG, Config, load_config
from ..practical import paths
from ..practical.paths import REPO
from ..judging.causes import AVAILABLE

TEMPLATES = paths.TEMPLATES / "assignment"
STABILITY = REPO / "benchmarks" / "results"  # benchmarks/bench.py stability
# file in assignment/ -> its template in TEMPLATES (None: written from the spec directly)
RENDERED = {"README.md": "README.md.j2", "cnn.py": "cnn.py.j2", "practical.ipynb": "practical.ipynb.j2",
            "practical.json": None}
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}


def facts_text(practical: spec.Practical) -> str:
    """assignment/practical.json."""
    return json.dumps(practical.student_facts(), indent=2) + "\n"


# --- wording helpers the templates call; they quote sizes from the spec, they compute none ---------

def shape(values) -> str:
    """(25, 9, 9) -> '25x9x9'."""
    return "x".join(str(v) for v in values)


def conv_settings(conv: student_practical.Conv, detail: bool = True) -> str:
    """'stride 2, no padding', 'stride 1, `"same"` padding (2 pixels on each side)', ..."""
    if conv.padding == "same":
        text = 'stride 1, `"same"` padding'
        if detail:
            k = conv.kernel
            split = (f"{(k - 1) // 2} pixels on each side" if k % 2
                     else f"{k - 1} pixels in all, one more after than before")
            text += f" ({split})"
        return text
    if conv.padding == 0:
        return f"stride {conv.stride}, no padding"
    return f"stride {conv.stride}, padding {conv.padding} on each side"


def size_sum(n: int, kernel: int, stride: int, padding, out: int) -> str:
    """The size arithmetic of one axis, with the answer the spec derived: 'floor((28 - 12) / 2) + 1 = 9'."""
    if padding == "same":
        return f"{n} stays {out}"
    inner = f"{n} - {kernel}" if padding == 0 else f"{n} + 2·{padding} - {kernel}"
    return f"floor(({inner}) / {stride}) + 1 = {out}"


def window(patch: student_practical.Patch, axis: str) -> str:
    """Which input rows (axis 'i') or columns ('j') activation (i, j) of conv1 sees: '2i to 2i+11'."""
    start = axis if patch.stride == 1 else f"{patch.stride}{axis}"
    first = f"{start}-{patch.padding}" if patch.padding else start
    last = patch.size - 1 - patch.padding
    end = f"{start}+{last}" if last > 0 else (f"{start}-{-last}" if last < 0 else start)
    return f"{first} to {end}"


def conv_call(c_in: int, conv: student_practical.Conv) -> str:
    """The nn.Conv2d(...) that builds `conv`, as the notebook writes it."""
    text = f"nn.Conv2d({c_in}, {conv.filters}, kernel_size={conv.kernel}"
    if conv.stride != 1:
        text += f", stride={conv.stride}"
    if conv.padding != 0:
        text += f", padding={conv.padding!r}".replace("'", '"')
    return text + ")"


def pool_call(pool: student_practical.Pool) -> str:
    return f"nn.MaxPool2d({pool.kernel}" + (f", stride={pool.stride})" if pool.stride != pool.kernel else ")")


def standardised(d: datasets.Dataset) -> str:
    """How the handout says the pixels are standardised."""
    def numbers(values) -> str:
        return ", ".join(f"{v:.4f}" for v in values)
    if len(d.mean) == 1:
        return (f"the mean ({numbers(d.mean)}) and standard deviation ({numbers(d.std)}) of the training pixels,\n"
                f"so a blank pixel is about {-d.mean[0] / d.std[0]:.2f}, not 0")
    return (f"each channel's mean ({numbers(d.mean)}) and standard deviation\n({numbers(d.std)}) over "
            "the training pixels")


def dataset_words(d: datasets.Dataset) -> str:
    """The handout's sentences on what the dataset holds."""
    c, h, w = d.input
    pixels = "grey pixels" if c == 1 else f"pixels in colour ({c} channels: red, green, blue)"
    text = (f"{d.title} has {d.n_train:,} training and {d.n_test:,} test images of {d.what}, each {h}x{w} {pixels} "
            f"with a\nlabel from 0 to {len(d.classes) - 1}.")
    if d.classes != datasets.DIGITS:
        names = ", ".join(f"{i} {name}" for i, name in enumerate(d.classes))
        text += "\n" + textwrap.fill(f"The label is the index of the class: {names}.", width=105)
    return text


def context(practical: spec.Practical, config: Config) -> dict:
    """What the templates see: the practical as students read it (assignment.practical), and the policy."""
    p = student_practical.parse(practical.student_facts())
    d = p.data
    params = {layer.name: layer.params for layer in p.layers}
    c, h, w = p.input
    pool_in = p.conv2_out[1]
    kept = (p.pool_outs[0][1] - 1) * p.pool.stride + p.pool.kernel  # rows the rounded-down pooling covers
    ceil = len(p.pool_outs) > 1
    benchmarked = load_config(DEFAULT_CONFIG).practical == practical
    return {
        "p": p, "d": d, "c1": p.conv1, "c2": p.conv2, "pool": p.pool, "C": c, "H": h, "W": w,
        "digits": d.name == "mnist", "dataset_words": dataset_words(d), "standardised": standardised(d),
        "patch_source": "images[n, 0]" if c == 1 else "images[n]",  # a colour patch takes every channel
        "same_shape": [o for o in datasets.DATASETS.values() if o.input == d.input and o.name != d.name],
        "provisional": config.accuracy.provisional,
        "params": params,
        "ceil": ceil,
        "fc1_ceil_params": p.flat_sizes[-1] * p.fc1_units + p.fc1_units,
        "fc1_share": round(100 * params["fc1"] / p.param_counts[0]),
        "pool_in": pool_in, "pool_dropped": pool_in - kept,
        "patch_pad_after": (p.patch.size - 1 - p.patch.padding if p.conv1.padding == "same" else p.patch.padding),
        "dropout_pct": f"{p.dropout * 100:g}",
        "filters_word": NUMBER_WORDS.get(len(p.example_filters), str(len(p.example_filters))),
        "budget": config.training.iterations,
        "limits": config.limits, "available": AVAILABLE,  # the grader's limits and modules, as the handout states them
        "challenge": challenge_facts(config),
        "calibration": calibration(config),
        "experiments_policy": config.experiments,
        "s_plus_pct": f"{config.accuracy.s_plus * 100:g}", "s_pct": f"{config.accuracy.s * 100:g}",
        # the handout quotes accuracies and times measured on the shipped network only (docs/benchmarks.md)
        "benchmarked": benchmarked,
        "batched": lambda name, dims=p.input: "(" + ", ".join([name, *map(str, dims)]) + ")",
        "conv_settings": conv_settings, "size_sum": size_sum, "window": window,
        "conv_call": conv_call, "pool_call": pool_call,
    }


def stability_path(dataset: str) -> Path:
    """Where `bench.py stability` keeps its 20-seed results: stability.json for MNIST, stability-NAME.json else."""
    return STABILITY / ("stability.json" if dataset == "mnist" else f"stability-{dataset}.json")


def calibration(config: Config) -> dict | None:
    """The handout recipe's accuracies over its training seeds, as `bench.py stability` measured them under a
    config with this config's network, dataset, budget and S+ bar; None when none was measured."""
    path = stability_path(config.practical.dataset)
    if not path.is_file():
        return None
    saved = json.loads(path.read_text())
    measured = load_config(STABILITY.parents[1] / saved["config"])
    same = (measured.practical == config.practical and measured.training.iterations == config.training.iterations
            and measured.accuracy.s_plus == config.accuracy.s_plus)
    row = next((r for r in saved["rows"] if r["submission"] == "handout recipe"), None)
    if not same or row is None:
        return None
    return {"seeds": row["seeds"], "s_plus": row["s_plus"],
            **{k: f"{row[k] * 100:.2f}" for k in ("min", "median", "max")}}


def challenge_facts(config: Config) -> dict | None:
    """What the handout says of the challenge track (None: the config has none)."""
    c = config.challenge
    if c is None:
        return None
    names = [c.badge_name(bar) for bar in c.badges]
    return {"badges": " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names),
            "iterations": c.iterations, "max_parameters": c.max_parameters, "wall_seconds": f"{c.wall_seconds:g}"}


def environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["x"] = shape
    env.filters["num"] = lambda n: f"{n:,}"
    env.filters["minutes"] = lambda s: f"{s / 60:g} minutes" if s % 60 == 0 else f"{s:g} s"
    env.filters["tuple_text"] = lambda values: "(" + ", ".join(map(str, values)) + ")"
    return env


def render_notebook(env: jinja2.Environment, name: str, values: dict) -> str:
    """The notebook template, each cell's source rendered, written as nbformat writes it."""
    source = env.loader.get_source(env, name)[0]
    nb = nbformat.reads(source, as_version=4)
    for cell in nb.cells:
        cell.source = env.from_string(cell.source).render(values)
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def render_files(practical: spec.Practical, config: Config) -> dict[str, str]:
    """File name in assignment/ -> its text, for this spec (one variant's) and this policy."""
    env, values = environment(), context(practical, config)
    files = {}
    for name, template in RENDERED.items():
        if template is None:
            files[name] = facts_text(practical)
        elif name.endswith(".ipynb"):
            files[name] = render_notebook(env, template, values)
        else:
            files[name] = env.get_template(template).render(values)
    return files


def render_text(template: str, practical: spec.Practical, config: Config) -> str:
    """A template's text rendered for this spec, as the assignment/ files are (the student README)."""
    return environment().from_string(template).render(context(practical, config))


def main(argv: list[str] | None = None) -> int:
    """Rewrite this repository's assignment/ files from grading.yml (or the config given)."""
    parser = argparse.ArgumentParser(prog="python -m autograder.release.render",
                                     description="Rewrite assignment/ from grading.yml's spec (or CONFIG's).")
    parser.add_argument("config", nargs="?", help="a grading.yml (default: the repository's)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config)
    except (OSError, ValueError) as err:
        parser.error(str(err))
    package = Path(student_practical.__file__).resolve().parent
    for name, text in render_files(config.practical, config).items():
        (package / name).write_text(text)
        print(f"wrote {package / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
