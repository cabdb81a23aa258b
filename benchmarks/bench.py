"""Benchmarks of the practical and its grader, rerunnable on any machine.

    python benchmarks/bench.py all                  # every section, then the report (about 1.5 hours on 2 cores)
    python benchmarks/bench.py throughput accuracy  # some sections only
    python benchmarks/bench.py report               # Markdown from the saved results

Each section saves its raw numbers to benchmarks/results/SECTION.json; `report` turns whatever is saved
into Markdown tables (stdout, or --markdown FILE) with the machine they ran on. Timings are medians of
--repeats runs; where two things are compared, the ratio is of medians measured in the same run.
Needs MNIST (MNIST_ROOT or the download). Run nothing else on the machine meanwhile.

Sections:
  throughput  training images/s at batch 50, 64, 128 and 256: the handout's plain loop vs the reference's
  accuracy    seconds of training to reach 98% and 99.2% test accuracy, reference vs the handout's recipe
  grade       end-to-end `python -m autograder grade` wall time and peak memory, four kinds of submission
  grade-all   submissions per hour with --jobs 1 and --jobs 2
  cluster     submissions per hour on a Dask cluster of 1 and of 2 workers, via grade-all --scheduler
  stability   the reference and the handout's recipe graded with 20 seeds under --config: accuracy
              min/median/max, S+ count; saved per dataset (stability.json for MNIST, stability-NAME.json
              else); --only reference or --only handout-recipe grades one of them
  live        seconds until `grade` prints the verdicts that need no training (stub, reference; short config),
              and the wall time to grade a hang at import under --config (the default grading.yml)
  overhead    the grader's own seconds (stub's whole grade; reference's wall minus training), this checkout
              side by side with --baseline, an earlier revision (short config)
  challenge   the example challenge submission graded under --config: its badge, the grader's accuracy, the
              parameters, the challenge run's seconds by the grader's clock, and the practical's mark
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from assignment import datasets  # noqa: E402  (needs ROOT on the path; imports no torch)
RESULTS = ROOT / "benchmarks" / "results"
HANDOUT = ROOT / "tests" / "catalogue" / "files" / "handout_recipe.py"
CHALLENGER = ROOT / "tests" / "catalogue" / "files" / "challenge_allconv.py"
FAST_CONFIG = ROOT / "tests" / "grading-fast.yml"
CRASH = "import torch\nraise ImportError('a module this submission needs is missing')\n"
HANG_AT_IMPORT = "import time\ntime.sleep(3600)\n"
SECTIONS = ("throughput", "accuracy", "grade", "grade-all", "cluster", "stability", "live", "overhead", "challenge")
BASELINE = "e8ae25f"  # the grader before it started the child first and trimmed its pytest run


# --------------------------------------------------------------------------- helpers
def median(xs):
    return statistics.median(xs) if xs else float("nan")


def results_file(name: str) -> Path:
    """A section's saved results (grade-all -> grade_all.json); stability-NAME keeps its dataset's name."""
    return RESULTS / f"{name if name.startswith('stability') else name.replace('-', '_')}.json"


def save(section: str, data: dict) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    data = {"machine": machine(), "when": time.strftime("%Y-%m-%d %H:%M"), **data}
    results_file(section).write_text(json.dumps(data, indent=1))


def machine() -> str:
    import torch

    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    names = [line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")]
    cpu = names[0] if names else platform.processor() or platform.machine()
    flags = ", AVX-512" if " avx512f" in info else ", AVX2" if " avx2" in info else ""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (f"{cores} cores of {cpu}{flags}; torch {torch.__version__} ({torch.get_num_threads()} threads), "
            f"Python {platform.python_version()}, {platform.system()}")


def mnist():
    from assignment.data import as_tensors, load_mnist

    splits = load_mnist()
    return splits, as_tensors(splits.test)


# --------------------------------------------------------------------------- throughput
def handout_step(model, optimiser, x, y):
    import torch.nn.functional as F

    loss = F.cross_entropy(model(x), y)
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()


def throughput(args) -> None:
    """Images/s of a training step, for the handout's loop (plain Adam, contiguous weights) and the
    reference's (fused Adam, channels_last), at each batch size."""
    import torch

    from reference.cnn import Net

    images = torch.randn(4096, 1, 28, 28)
    labels = torch.randint(0, 10, (4096,))
    rows = []
    for batch in (50, 64, 128, 256):
        row = {"batch": batch}
        for name, fused, layout in (("handout", False, torch.contiguous_format),
                                    ("reference", True, torch.channels_last)):
            rates = []
            for rep in range(args.repeats):
                torch.manual_seed(rep)
                model = Net().to(memory_format=layout)
                opt = torch.optim.Adam(model.parameters(), lr=1e-4, fused=fused)
                steps = max(10, 3000 // batch)
                for s in range(steps + 5):  # 5 warm-up steps
                    if s == 5:
                        start = time.perf_counter()
                    idx = torch.randint(0, len(labels), (batch,))
                    handout_step(model, opt, images[idx], labels[idx])
                rates.append(steps * batch / (time.perf_counter() - start))
            row[name] = median(rates)
        row["ratio"] = row["reference"] / row["handout"]
        rows.append(row)
        print(f"batch {batch}: handout {row['handout']:.0f} img/s, reference {row['reference']:.0f} img/s", flush=True)
    save("throughput", {"repeats": args.repeats, "rows": rows})


# --------------------------------------------------------------------------- time to accuracy
def timed_run(train_fn, splits, test, seed: int, **kwargs) -> tuple[float, float]:
    """(training seconds, test accuracy) of one run of `train_fn` on a fresh network."""
    import torch

    from reference.cnn import Net

    from reference.cnn import accuracy as reference_accuracy

    torch.manual_seed(seed)
    model = Net()
    start = time.perf_counter()
    train_fn(model, splits.train, splits.valid, **kwargs)
    seconds = time.perf_counter() - start
    return seconds, reference_accuracy(model, *test)


def handout_curve(splits, test, seed: int, iterations: int, every: int) -> list[tuple[int, float, float]]:
    """The handout's recipe, as handout_recipe.py writes it, with the test accuracy every `every` steps.
    The clock stops while the test set is measured. Returns (iteration, training seconds, accuracy)."""
    import torch

    from assignment.data import as_tensors
    from reference.cnn import Net
    from reference.cnn import accuracy as reference_accuracy

    torch.manual_seed(seed)
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    images, labels = as_tensors(splits.train)
    order, cursor, clock, curve = torch.randperm(len(labels)), 0, 0.0, []
    for step in range(1, iterations + 1):
        start = time.perf_counter()
        if cursor + 50 > len(order):
            order, cursor = torch.randperm(len(labels)), 0
        idx = order[cursor:cursor + 50]
        cursor += 50
        handout_step(model, opt, images[idx], labels[idx])
        clock += time.perf_counter() - start
        if step % every == 0:
            curve.append((step, clock, reference_accuracy(model, *test)))
    return curve


def accuracy(args) -> None:
    from reference.cnn import train_fast

    splits, test = mnist()
    fast = []
    budgets = {0.98: (200, 300, 400), 0.992: (1200, 1400, 1600)}
    for target, steps_list in budgets.items():
        for steps in steps_list:
            # log_every beyond the run: no validation pass, so the clock measures training only
            runs = [timed_run(train_fast, splits, test, seed, iterations=steps, log_every=steps + 1)
                    for seed in range(args.repeats)]
            fast.append({"target": target, "iterations": steps, "batch": 64,
                         "seconds": median([r[0] for r in runs]), "accuracy": median([r[1] for r in runs]),
                         "min_accuracy": min(r[1] for r in runs), "runs": runs})
            print(f"train_fast {steps} steps: {fast[-1]['seconds']:.1f} s, median test accuracy "
                  f"{fast[-1]['accuracy']:.4f}", flush=True)
    curves = [handout_curve(splits, test, seed, args.handout_iterations, 250) for seed in range(args.repeats)]
    print("handout recipe curve:", [(s, round(t, 1), a) for s, t, a in curves[0]], flush=True)
    save("accuracy", {"repeats": args.repeats, "fast": fast, "handout_curves": curves})


# --------------------------------------------------------------------------- grading
def grade_once(submission: Path, config: Path, threads: int | None = None) -> dict:
    """`python -m autograder grade` in a fresh process, as a user runs it; wall time from outside, peak
    memory (max RSS) of the grader and of its largest descendant (the child that runs the student's code)."""
    with tempfile.TemporaryDirectory(prefix="cnn-bench-") as tmp:
        out = Path(tmp) / "out"
        cmd = [sys.executable, str(Path(__file__).resolve()), "_grade", str(submission), str(out), str(config)]
        if threads:
            cmd.append(str(threads))
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - start
        if proc.returncode != 0 or not (out / "results.json").is_file():
            raise RuntimeError(f"grading {submission} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        results = json.loads((out / "results.json").read_text())
        memory = json.loads((out / "memory.json").read_text())
    extra = results["extra_data"]
    failed = [t["name"] for t in results["tests"] if t.get("status") != "passed" and t["name"] != "Mark"]
    return {"wall": wall, "mark": extra["mark"], "accuracy": extra["test_accuracy"], "failed": failed,
            "canaries": extra.get("canary_accuracy"),
            "train": extra["child"]["timings"].get("train", 0.0), "child_wall": extra["child"]["wall_s"],
            "challenge": extra.get("challenge"), **memory}


def _grade(argv: list[str]) -> int:
    """Internal: run the grader's CLI in this process, then record peak memory beside its reports."""
    from autograder.cli import main

    submission, out, config, *threads = argv
    code = main(["grade", submission, "--out", out, "--config", config, *(["--threads", threads[0]] if threads else [])])
    Path(out, "memory.json").write_text(json.dumps({
        "grader_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "child_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
    return code


def submissions(folder: Path) -> dict[str, Path]:
    """The four kinds of submission the grade section times."""
    crash = folder / "crash"
    crash.mkdir(parents=True, exist_ok=True)
    (crash / "cnn.py").write_text(CRASH)
    return {"reference": ROOT / "reference", "handout recipe": HANDOUT, "stub": ROOT / "assignment",
            "crash at import": crash}


def grade(args) -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in submissions(Path(tmp)).items():
            slow = name in ("reference", "handout recipe")
            runs = [grade_once(path, args.config) for _ in range(args.repeats if slow else max(args.repeats, 5))]
            row = {"submission": name, "marks": sorted({str(r["mark"]) for r in runs}), "runs": runs}
            for key in ("wall", "train", "child_wall", "grader_mb", "child_mb", "accuracy"):
                values = [r[key] for r in runs if r[key] is not None]
                row[key] = median(values) if values else None
            rows.append(row)
            print(f"{name}: {row['wall']:.1f} s wall (training {row['train']:.1f} s), marks {row['marks']}", flush=True)
    save("grade", {"repeats": args.repeats, "config": str(Path(args.config).resolve().relative_to(ROOT)), "rows": rows})


def small_class(tmp: Path) -> Path:
    """A class of 8: two correct submissions, the stub and a crash, each twice."""
    kinds = submissions(tmp / "kinds")
    folder = tmp / "class"
    folder.mkdir()
    for copy in range(2):
        for name, path in kinds.items():
            dest = folder / f"{name.replace(' ', '_')}_{copy}"
            dest.mkdir()
            shutil.copy(path if path.is_file() else path / "cnn.py", dest / "cnn.py")
    return folder


def grade_all(args) -> None:
    """Submissions per hour for a small class: two correct submissions, the stub and a crash, each twice.
    --jobs 1 and --jobs 2 alternate in each repeat, so that both see the same machine."""
    walls: dict[int, list[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = small_class(Path(tmp))
        n = len(list(folder.iterdir()))
        load = [os.getloadavg()[0]]
        for rep in range(args.repeats):
            for jobs in walls:
                out = Path(tmp) / f"out-{jobs}-{rep}"
                start = time.perf_counter()
                subprocess.run([sys.executable, "-m", "autograder", "grade-all", str(folder), "--out", str(out),
                                "--jobs", str(jobs), "--config", str(args.grade_all_config)],
                               check=True, capture_output=True, cwd=ROOT)
                walls[jobs].append(time.perf_counter() - start)
                load.append(os.getloadavg()[0])
                print(f"--jobs {jobs}: {n} submissions in {walls[jobs][-1]:.0f} s", flush=True)
    rows = [{"jobs": jobs, "submissions": n, "wall": median(w), "per_hour": n * 3600 / median(w), "walls": w}
            for jobs, w in walls.items()]
    save("grade-all", {"repeats": args.repeats, "config": str(Path(args.grade_all_config).resolve().relative_to(ROOT)),
                       "load_average": [min(load), max(load)], "rows": rows})


@contextmanager
def dask_workers(address: str, n: int, tmp: Path):
    """`n` processes of `dask worker --nthreads 1` joined to the scheduler at `address`; stopped on exit."""
    from distributed import Client

    procs = [subprocess.Popen([sys.executable, "-m", "dask", "worker", address, "--nthreads", "1", "--no-dashboard",
                               "--memory-limit", "0", "--local-directory", str(tmp / f"worker-{i}")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(n)]
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(n, timeout=120)
        yield
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=60)


def cluster(args) -> None:
    """Submissions per hour on a Dask cluster of 1 and of 2 workers, each `dask worker --nthreads 1`,
    through `grade-all --scheduler`: the class of the grade-all section, 1 and 2 workers alternating in
    each repeat. The workers are started before the clock, as they would be for a whole class."""
    rows, load = {1: [], 2: []}, [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        folder = small_class(tmp)
        n = len(list(folder.iterdir()))
        info = tmp / "scheduler.json"
        scheduler = subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--port", "0", "--no-dashboard",
                                      "--scheduler-file", str(info)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not (info.is_file() and info.stat().st_size) and time.monotonic() < deadline:
                time.sleep(0.2)
            address = json.loads(info.read_text())["address"]
            for rep in range(args.repeats):
                for workers in (1, 2):
                    out = tmp / f"out-{workers}-{rep}"
                    with dask_workers(address, workers, tmp):
                        start = time.perf_counter()
                        subprocess.run([sys.executable, "-m", "autograder", "grade-all", str(folder), "--out", str(out),
                                        "--scheduler", address, "--config", str(args.grade_all_config)],
                                       check=True, capture_output=True, cwd=ROOT)
                        wall = time.perf_counter() - start
                    reports = [p for p in (out / "submissions").rglob("*") if p.is_file()]
                    kb = sum(p.stat().st_size for p in reports) / 1024 / n
                    with open(out / "gradebook.csv") as f:  # the grader's own time, inside each grade
                        grade_s = sum(float(r["seconds"]) for r in csv.DictReader(f))
                    rows[workers].append({"wall": wall, "kb_returned": kb, "grade_s": grade_s})
                    print(f"{workers} worker(s): {n} submissions in {wall:.0f} s", flush=True)
                    load.append(os.getloadavg()[0])
        finally:
            scheduler.terminate()
            scheduler.wait(timeout=60)
    table = []
    for workers, runs in rows.items():
        wall = median([r["wall"] for r in runs])
        table.append({"workers": workers, "submissions": n, "wall": wall, "per_hour": n * 3600 / wall,
                      "worker_s_per_submission": workers * wall / n,
                      "kb_returned": median([r["kb_returned"] for r in runs]), "runs": runs})
    config = Path(args.grade_all_config).resolve()
    shown = config.relative_to(ROOT) if ROOT in config.parents else config
    save("cluster", {"repeats": args.repeats, "config": str(shown), "load_average": [min(load), max(load)],
                     "rows": table})


STABILITY = {"reference": "reference", "handout-recipe": "handout recipe"}  # --only NAME -> row name


def stability_file(dataset: str) -> str:
    """The stability section's results for a dataset (the handout quotes them: autograder.release.render)."""
    from autograder.release.render import stability_path

    return stability_path(dataset).stem


def handout_recipe(practical, folder: Path) -> Path:
    """handout_recipe.py for the config's spec. It is written for grading.yml's network, with the input
    (channels, and fc1's input size) written into it; only the input may differ, as on another dataset."""
    from autograder.practical.config import load_config
    from autograder.practical.spec import differences

    default = load_config().practical
    if differences(default, practical):
        raise SystemExit(f"the handout recipe is written for grading.yml's network, and this spec's differs "
                         f"({', '.join(f for f, _, _ in differences(default, practical))}): use --only reference")
    if practical.input == default.input:
        return HANDOUT
    text = HANDOUT.read_text()
    edits = {"nn.Conv2d(1, 25,": f"nn.Conv2d({practical.input[0]}, 25,",
             "nn.Linear(64 * 4 * 4, 1024)": "nn.Linear({}, 1024)".format(" * ".join(map(str, practical.pool_outs[0])))}
    for old, new in edits.items():
        if text.count(old) != 1:
            raise SystemExit(f"{HANDOUT.name} no longer holds `{old}` once: update bench.handout_recipe")
        text = text.replace(old, new)
    path = folder / "handout_recipe.py"
    path.write_text(text)
    return path


def stability(args) -> None:
    """Grade the reference and the handout's recipe with `--seeds` training seeds under the config (its
    bases merged in), and save the results per dataset. Two grades run at once with one torch thread
    each: the accuracy does not depend on the timing. --only grades one of them and keeps the other's
    saved row when it was measured under the same config."""
    import yaml

    from autograder.practical.config import load_config, load_raw

    config = load_config(args.config)
    base, dataset = load_raw(args.config), config.practical.dataset
    bar = config.accuracy.s_plus
    shown = str(Path(args.config).resolve().relative_to(ROOT)) if ROOT in Path(args.config).resolve().parents \
        else str(Path(args.config).resolve())
    names = [STABILITY[args.only]] if args.only else list(STABILITY.values())
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        configs = []
        for seed in range(args.seeds):
            base["training"]["seed"] = seed
            path = Path(tmp) / f"seed-{seed}.yml"
            path.write_text(yaml.safe_dump(base))
            configs.append(path)
        paths = {"reference": ROOT / "reference", "handout recipe": handout_recipe(config.practical, Path(tmp))}
        for name in names:
            with ThreadPoolExecutor(args.jobs) as pool:
                runs = list(pool.map(lambda c: grade_once(paths[name], c, threads=1), configs))
            accs = [r["accuracy"] if r["accuracy"] is not None else 0.0 for r in runs]
            canaries = [r["canaries"] if r["canaries"] is not None else 0.0 for r in runs]
            rows.append({"submission": name, "seeds": len(runs), "s_plus": sum(r["mark"] == "S+" for r in runs),
                         "min": min(accs), "median": median(accs), "max": max(accs), "bar": bar,
                         "margin": min(accs) - bar,
                         "accuracies": accs, "canaries_min": min(canaries),
                         "canary_bar": config.accuracy.canaries, "canaries": canaries})
            rows[-1]["not_s_plus"] = {seed: r["failed"] for seed, r in enumerate(runs) if r["mark"] != "S+"}
            print(f"{name}: S+ {rows[-1]['s_plus']}/{len(runs)}, accuracy min {min(accs):.4f} "
                  f"median {median(accs):.4f}; canaries min {min(canaries):.4f}; not S+ (seed: failed checks): {rows[-1]['not_s_plus']}", flush=True)
    earlier = load(stability_file(dataset))
    if args.only and earlier and earlier.get("config") == shown:
        kept = [r for r in earlier["rows"] if r["submission"] not in names]
        rows = sorted(kept + rows, key=lambda r: list(STABILITY.values()).index(r["submission"]))
    save(stability_file(dataset), {"config": shown, "dataset": dataset, "rows": rows})


# --------------------------------------------------------------------------- live
def streamed_grade(submission: Path, config: Path) -> dict:
    """`python -m autograder grade` in a fresh process; the seconds, timed from outside, at which each
    check's verdict line reached its stdout (a pipe, as in a CI log)."""
    with tempfile.TemporaryDirectory(prefix="cnn-bench-") as tmp:
        out = Path(tmp) / "out"
        cmd = [sys.executable, "-m", "autograder", "grade", str(submission), "--out", str(out), "--config", str(config)]
        start, seen = time.perf_counter(), {}
        with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT) as proc:
            for line in proc.stdout:
                if line.startswith("[") and "] " in line:
                    seen.setdefault(line.split("] ", 1)[1].split(":")[0], time.perf_counter() - start)
        wall = time.perf_counter() - start
        extra = json.loads((out / "results.json").read_text())["extra_data"]
    return {"wall": wall, "code": proc.returncode, "mark": extra["mark"], "verdicts": seen,
            "phase_timeout": extra["child"].get("phase_timeout")}


def live(args) -> None:
    from autograder.practical.config import load_config
    from autograder.judging.context import EARLY

    fast = load_config(FAST_CONFIG)
    early = [fast.checks[n].title for n in EARLY]
    rows = []
    for name, path in (("stub", ROOT / "assignment"), ("reference", ROOT / "reference")):
        runs = [streamed_grade(path, FAST_CONFIG) for _ in range(args.repeats)]
        for r in runs:
            r["no_training"] = max(r["verdicts"][t] for t in early)
        rows.append({"submission": name, "runs": runs, "no_training": median([r["no_training"] for r in runs]),
                     "wall": median([r["wall"] for r in runs])})
        print(f"{name}: checks needing no training at {rows[-1]['no_training']:.1f} s, "
              f"all done at {rows[-1]['wall']:.1f} s", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        hang = Path(tmp) / "cnn.py"
        hang.write_text(HANG_AT_IMPORT)
        run = streamed_grade(hang, Path(args.config))
    print(f"hang at import: {run['wall']:.1f} s, mark {run['mark']}, stopped in {run['phase_timeout']}", flush=True)
    save("live", {"repeats": args.repeats, "config": str(FAST_CONFIG.relative_to(ROOT)),
                  "hang_config": str(Path(args.config).resolve().relative_to(ROOT)), "rows": rows, "hang": run})


# --------------------------------------------------------------------------- challenge
def challenge(args) -> None:
    """The example challenge submission graded --repeats times under --config, each in a fresh process."""
    runs = [grade_once(CHALLENGER, args.config) for _ in range(args.repeats)]
    for r in runs:
        c = r["challenge"] or {}
        print(f"mark {r['mark']}, challenge {c.get('status')} {c.get('badge')}: accuracy {c.get('accuracy')}, "
              f"{c.get('parameters')} parameters, {c.get('seconds')} s; whole grade {r['wall']:.1f} s", flush=True)
    save("challenge", {"repeats": args.repeats, "config": str(Path(args.config).resolve().relative_to(ROOT)),
                       "submission": str(CHALLENGER.relative_to(ROOT)), "runs": runs})


# --------------------------------------------------------------------------- report
GOALS = {"fast98": 3.0, "fast992": 30.0, "stub": 10.0, "handout": 90.0, "no_training": 10.0, "hang": 90.0,
         "own": 4.0, "stub_whole": 3.0}


def goal(value, limit, unit="s") -> str:
    if value is None:
        return "not measured"
    if isinstance(value, str):
        return value
    if value <= limit:
        return f"met ({value:.1f} {unit} <= {limit:g} {unit})"
    return f"missed by {value - limit:.1f} {unit} ({value:.1f} {unit}, {value / limit:.2f}x the goal)"


def load(section: str) -> dict | None:
    file = results_file(section)
    return json.loads(file.read_text()) if file.is_file() else None


def stability_files() -> list[str]:
    """The stability section's saved results, one per dataset: MNIST's first, then the others by name."""
    others = sorted(p.stem for p in RESULTS.glob("stability-*.json"))
    return [name for name in ["stability", *others] if load(name)]


def report(args) -> str:
    lines, goals = ["## Results", ""], {}
    machines = sorted({d["machine"] for s in [*SECTIONS, *stability_files()] if (d := load(s))})
    letter = {m: f" {chr(ord('A') + i)}" if len(machines) > 1 else "" for i, m in enumerate(machines)}

    def on(d) -> str:  # which machine a section ran on, where the sections come from more than one
        return f", machine{letter[d['machine']]}" if len(machines) > 1 else ""
    lines += [f"Machine{letter[m]}: {m}" for m in machines] + [""]

    if d := load("throughput"):
        lines += [f"### Training throughput (images/s, median of {d['repeats']}{on(d)})", "",
                  "| batch | handout's loop | reference's loop | ratio |", "|---:|---:|---:|---:|"]
        lines += [f"| {r['batch']} | {r['handout']:.0f} | {r['reference']:.0f} | {r['ratio']:.2f}x |" for r in d["rows"]]
        lines += ["", "Handout's loop: plain Adam, contiguous weights. Reference's: fused Adam, channels_last weights.", ""]

    if d := load("accuracy"):
        lines += [f"### Time to accuracy (training seconds, median of {d['repeats']} seeds{on(d)})", "",
                  "| recipe | iterations x batch | training s | median test acc. | min test acc. |",
                  "|---|---:|---:|---:|---:|"]
        for r in d["fast"]:
            lines.append(f"| reference `train_fast` (one-cycle) | {r['iterations']} x {r['batch']} | {r['seconds']:.1f} | "
                         f"{r['accuracy']:.2%} | {r['min_accuracy']:.2%} |")
        for target, key in ((0.98, "fast98"), (0.992, "fast992")):
            ok = [r for r in d["fast"] if r["accuracy"] >= target]
            best = max(d["fast"], key=lambda r: r["accuracy"])
            goals[key] = min(r["seconds"] for r in ok) if ok else (
                f"not reached: the best median was {best['accuracy']:.2%} ({best['iterations']} x {best['batch']}, "
                f"{best['seconds']:.1f} s)")
        for target in (0.98, 0.992):
            firsts = [next(((s, t) for s, t, a in c if a >= target), None) for c in d["handout_curves"]]
            if all(firsts):
                lines.append(f"| handout's recipe, first reaching {target:.1%} | {median([f[0] for f in firsts]):.0f} x 50 | "
                             f"{median([f[1] for f in firsts]):.1f} | (test set every 250 iterations) | |")
            else:
                lines.append(f"| handout's recipe | did not reach {target:.1%} in "
                             f"{d['handout_curves'][0][-1][0]} x 50 | | | |")
        lines.append("")

    if d := load("grade"):
        lines += [f"### `python -m autograder grade`, end to end (median of {d['repeats']}+, config {d['config']}{on(d)})", "",
                  "| submission | mark | wall s | of which training s | everything else s | grader peak MB | child peak MB |",
                  "|---|---|---:|---:|---:|---:|---:|"]
        for r in d["rows"]:
            lines.append(f"| {r['submission']} | {', '.join(r['marks'])} | {r['wall']:.1f} | {r['train']:.1f} | "
                         f"{r['wall'] - r['train']:.1f} | {r['grader_mb']:.0f} | {r['child_mb']:.0f} |")
        by = {r["submission"]: r for r in d["rows"]}
        goals["stub"] = max(by["stub"]["wall"], by["crash at import"]["wall"])
        goals["handout"] = by["handout recipe"]["wall"]
        lines.append("")

    if d := load("grade-all"):
        lines += [f"### `grade-all` (median of {d['repeats']}, config {d['config']}{on(d)})", "",
                  "| jobs | submissions | wall s | submissions per hour |", "|---:|---:|---:|---:|"]
        lines += [f"| {r['jobs']} | {r['submissions']} | {r['wall']:.0f} | {r['per_hour']:.0f} |" for r in d["rows"]]
        if len(d["rows"]) == 2:
            lines += ["", f"--jobs 2 / --jobs 1: {d['rows'][1]['per_hour'] / d['rows'][0]['per_hour']:.2f}x"]
        if "load_average" in d:
            lines[-1] += f"; load average during the runs {d['load_average'][0]:.1f} to {d['load_average'][1]:.1f}"
        lines.append("")

    if d := load("cluster"):
        lines += [f"### `grade-all --scheduler` on a Dask cluster on this machine (median of {d['repeats']}, "
                  f"config {d['config']}{on(d)})", "",
                  "| Dask workers | submissions | wall s | submissions per hour | worker-seconds per submission | "
                  "KB of reports returned per submission |", "|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['workers']} | {r['submissions']} | {r['wall']:.0f} | {r['per_hour']:.0f} | "
                  f"{r['worker_s_per_submission']:.1f} | {r['kb_returned']:.0f} |" for r in d["rows"]]
        if len(d["rows"]) == 2:
            lines += ["", f"2 workers / 1 worker: {d['rows'][1]['per_hour'] / d['rows'][0]['per_hour']:.2f}x. "
                      f"Each worker runs one grade at a time (`--nthreads 1`); load average during the runs "
                      f"{d['load_average'][0]:.1f} to {d['load_average'][1]:.1f}."]
        lines.append("")

    for name in stability_files():
        d = load(name)
        title = datasets.get(d.get("dataset", "mnist")).title
        lines += [f"### Stability of the mark on {title} (config {d['config']}, one seed per grade{on(d)})", "",
                  "| submission | S+ | min acc. | median acc. | max acc. | margin above the S+ bar |", "|---|---:|---:|---:|---:|---:|"]
        lines += [f"| {r['submission']} | {r['s_plus']}/{r['seeds']} | {r['min']:.2%} | {r['median']:.2%} | "
                  f"{r['max']:.2%} | {r['margin'] * 100:+.2f} points |" for r in d["rows"]]
        lines.append("")

    if d := load("live"):
        lines += [f"### Answers as they come (median of {d['repeats']}, config {d['config']}{on(d)})", "",
                  "| submission | checks needing no training, s | whole grade, s |", "|---|---:|---:|"]
        lines += [f"| {r['submission']} | {r['no_training']:.1f} | {r['wall']:.1f} |" for r in d["rows"]]
        h = d["hang"]
        lines += ["", f"A hang at import (`time.sleep(3600)`), config {d['hang_config']}: mark {h['mark']}, "
                  f"stopped in {h['phase_timeout']}, graded in {h['wall']:.1f} s.", ""]
        goals["no_training"] = max(r["no_training"] for r in d["rows"])
        goals["hang"] = h["wall"] if h["mark"] is None else "the hang got a mark"

    if d := load("overhead"):
        lines += [f"### The grader's own seconds, side by side with {d['baseline']} (median of {d['repeats']}, "
                  f"config {d['config']}{on(d)})", "",
                  "| submission | baseline wall s | baseline own s | now wall s | now own s | own: now / baseline |",
                  "|---|---:|---:|---:|---:|---:|"]
        for r in d["rows"]:
            b, n = r["baseline"], r["now"]
            lines.append(f"| {r['submission']} | {b['wall']:.1f} | {b['own']:.1f} | {n['wall']:.1f} | {n['own']:.1f} | "
                         f"{n['own'] / b['own']:.2f}x |")
        busy = (f"; load average during the runs {d['load_average'][0]:.1f} to {d['load_average'][1]:.1f}"
                if "load_average" in d else "; the load average was not recorded")
        lines += ["", "Own seconds: the wall time minus the training time the child measured. Marks: "
                  + "; ".join(f"{r['submission']} {'/'.join(r['now']['marks'])}" for r in d["rows"]) + busy + ".", ""]
        rows = {r["submission"]: r["now"] for r in d["rows"]}
        goals["own"], goals["stub_whole"] = rows["reference"]["own"], rows["stub"]["wall"]

    if d := load("challenge"):
        runs = d["runs"]
        ranked = [r["challenge"] for r in runs if (r["challenge"] or {}).get("accuracy") is not None]
        lines += [f"### The challenge ({d['submission']}, {d['repeats']} grade(s), config {d['config']}{on(d)})", "",
                  "| badges | median test acc. | min test acc. | parameters | challenge run s (grader's clock) | "
                  "whole grade s | practical's mark |", "|---|---:|---:|---:|---:|---:|---|"]
        if ranked:
            lines.append(f"| {', '.join(sorted({str(c['badge']) for c in ranked}))} | "
                         f"{median([c['accuracy'] for c in ranked]):.2%} | {min(c['accuracy'] for c in ranked):.2%} | "
                         f"{ranked[0]['parameters']:,} | {median([c['seconds'] for c in ranked]):.1f} | "
                         f"{median([r['wall'] for r in runs]):.1f} | {', '.join(sorted({str(r['mark']) for r in runs}))} |")
        else:
            lines.append(f"| none: {runs[0]['challenge'] and runs[0]['challenge']['reason']} | | | | | | |")
        lines.append("")

    lines += ["### Goals", "",
              f"- reference, 98% test accuracy in <= 3 s of training: {goal(goals.get('fast98'), GOALS['fast98'])}",
              f"- reference, >= 99.2% within 30 s: {goal(goals.get('fast992'), GOALS['fast992'])}",
              f"- stub or crashing submission graded in <= 10 s: {goal(goals.get('stub'), GOALS['stub'])}",
              f"- handout's recipe graded in <= 90 s: {goal(goals.get('handout'), GOALS['handout'])}",
              f"- checks needing no training reported in <= 10 s: {goal(goals.get('no_training'), GOALS['no_training'])}",
              f"- a hang at import graded (no mark) in <= 90 s: {goal(goals.get('hang'), GOALS['hang'])}",
              f"- the grader's own part of a correct grade <= 4 s: {goal(goals.get('own'), GOALS['own'])}",
              f"- the stub's whole grade <= 3 s: {goal(goals.get('stub_whole'), GOALS['stub_whole'])}", ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- overhead
@contextmanager
def worktree(rev: str, where: Path):
    """`rev` checked out (detached) at `where`, removed afterwards."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(where), rev], check=True)
    try:
        yield where
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], check=False)


def cli_grade(root: Path, submission: Path, config: Path) -> dict:
    """`python -m autograder grade` of the checkout at `root` (its own package, run from there), timed from
    outside; the training seconds as the child measured them."""
    with tempfile.TemporaryDirectory(prefix="cnn-bench-") as tmp:
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submission), "--out", tmp,
                               "--config", str(config)], capture_output=True, text=True, cwd=root)
        wall = time.perf_counter() - start
        file = Path(tmp) / "results.json"
        if proc.returncode != 0 or not file.is_file():
            raise RuntimeError(f"grading {submission} at {root} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        extra = json.loads(file.read_text())["extra_data"]
    train = extra["child"]["timings"].get("train", 0.0)
    return {"wall": wall, "train": train, "own": wall - train, "mark": extra["mark"]}


def overhead(args) -> None:
    """The stub and the reference graded by this checkout and by --baseline, alternating in each repeat so
    that both see the same machine. Under the short config: the grader's own part does not depend on the
    number of training steps."""
    load = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp, worktree(args.baseline, Path(tmp) / "baseline") as base:
        roots = {"baseline": base, "now": ROOT}
        runs = {(who, sub): [] for who in roots for sub in ("stub", "reference")}
        for _ in range(args.repeats):
            for who, root in roots.items():
                for sub in ("stub", "reference"):
                    runs[who, sub].append(cli_grade(root, root / ("assignment" if sub == "stub" else sub),
                                                    root / "tests" / "grading-fast.yml"))
                    load.append(os.getloadavg()[0])
    rows = []
    for sub in ("stub", "reference"):
        row = {"submission": sub}
        for who in roots:
            got = runs[who, sub]
            row[who] = {k: median([r[k] for r in got]) for k in ("wall", "train", "own")}
            row[who]["marks"] = sorted({str(r["mark"]) for r in got})
            row[who]["runs"] = got
        rows.append(row)
        print(f"{sub}: own seconds {row['baseline']['own']:.1f} (baseline) -> {row['now']['own']:.1f} (now)", flush=True)
    save("overhead", {"repeats": args.repeats, "baseline": args.baseline, "config": "tests/grading-fast.yml",
                      "load_average": [min(load), max(load)], "rows": rows})


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_grade"]:
        return _grade(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sections", nargs="+", choices=[*SECTIONS, "all", "report"])
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=20, help="seeds for the stability section (default: %(default)s)")
    parser.add_argument("--only", choices=list(STABILITY), help="grade only this submission in the stability "
                        "section (default: both)")
    parser.add_argument("--jobs", type=int, default=2, help="grades at once in the stability section (default: %(default)s)")
    parser.add_argument("--config", default=str(ROOT / "grading.yml"), help="grading config (default: grading.yml)")
    parser.add_argument("--grade-all-config", default=str(FAST_CONFIG),
                        help="config for the grade-all and cluster sections (default: tests/grading-fast.yml)")
    parser.add_argument("--handout-iterations", type=int, default=4000,
                        help="length of the handout recipe's accuracy curve (default: %(default)s)")
    parser.add_argument("--baseline", default=BASELINE,
                        help="git revision the overhead section compares with (default: %(default)s)")
    parser.add_argument("--markdown", help="also write the report to this file")
    args = parser.parse_args(argv)
    run = {"throughput": throughput, "accuracy": accuracy, "grade": grade, "grade-all": grade_all, "cluster": cluster,
           "stability": stability, "live": live, "overhead": overhead, "challenge": challenge}
    for section in (SECTIONS if "all" in args.sections else args.sections):
        if section in run:
            print(f"== {section}", flush=True)
            run[section](args)
    text = report(args)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
