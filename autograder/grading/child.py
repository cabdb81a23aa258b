"""Runs INSIDE the sandbox: import the student's cnn.py, call it, and save plain data for the grader.

Nothing here judges anything. Whatever this process reports could have been altered by the student's
code, which runs in the same interpreter, so the grader treats every value as a claim to verify. The
file is copied into the job folder and run as `python child.py JOB_DIR`; it imports only torch, numpy,
the standard library and the public `assignment` helpers.
"""
from __future__ import annotations

import itertools
import json
import os
import sys
import time
import traceback

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

# What the grader accepts (claims.py checks it): lists of at most MAX_ITEMS (the network has about ten
# modules and parameters; a model with more fails the architecture anyway), texts of at most MAX_TEXT.
MAX_ITEMS, MAX_TEXT = 1000, 2000


def student_error(err: BaseException, solution: str) -> dict:
    """The exception, with only the traceback frames that lie in the student's file."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == solution]
    where = "".join(traceback.format_list(frames[-3:])).rstrip()
    return {"type": text(type(err).__name__), "message": str(err)[:MAX_TEXT], "trace": where[-2 * MAX_TEXT:]}


def text(value) -> str:
    return str(value)[:MAX_TEXT]


def first(items, n: int = MAX_ITEMS) -> list:
    return list(itertools.islice(items, n))


class Reporter:
    """Progress reports to the grader, one JSON line each, on the pipe it opened for us: the phase, and the
    optimizer steps during train(). The grader reads them only to choose a time budget, draw a progress
    bar and tell an overloaded machine from a hang, never to give a mark (its watch.py has the threat)."""

    def __init__(self):
        fd = os.environ.pop("GRADER_PROGRESS_FD", "")
        self.fd = int(fd) if fd.isdigit() else None
        if self.fd is not None:
            os.set_blocking(self.fd, False)  # a full pipe drops a report rather than stall training
        self.last = 0.0

    def send(self, **msg) -> None:
        if self.fd is not None:
            try:
                os.write(self.fd, (json.dumps(msg) + "\n").encode())
            except OSError:
                pass

    def steps(self, n: int) -> None:
        now = time.monotonic()
        if now - self.last >= 0.5:
            self.last = now
            self.send(steps=n)


class Recorder:
    """Writes the results after every phase, atomically, so a crash later keeps what came before."""

    def __init__(self, path: str):
        self.path = path
        self.data = {"phase": "start", "errors": {}, "timings": {}}
        self.reporter = Reporter()

    def save(self) -> None:
        tmp = self.path + ".tmp"
        torch.save(self.data, tmp)
        os.replace(tmp, self.path)

    def phase(self, name: str) -> None:
        self.data["phase"] = name
        self.save()
        self.reporter.send(phase=name)


def plain_int(x):
    """x if it is a real int (bool excluded), else None. numpy integers count."""
    if type(x) is int:
        return x
    if type(x).__module__ == "numpy" and type(x).__name__.startswith(("int", "uint")):
        return int(x)
    return None


def describe(value) -> str:
    try:
        text = repr(value)
    except Exception:  # a hostile __repr__
        text = "<unprintable>"
    return f"{text[:120]} ({type(value).__name__[:120]})"


def run_output_shape(mod, cases: list, rec: Recorder) -> None:
    from torch import nn

    answers = []
    for case in cases:
        layer = getattr(nn, case["layer"])(**case["kwargs"])
        answer = {"value": None, "got": None, "error": None}
        try:
            value = mod.output_shape(tuple(case["in_shape"]), layer)
            ints = [plain_int(v) for v in value] if isinstance(value, (tuple, list)) else None
            if ints is not None and len(ints) == 3 and None not in ints and type(value) in (tuple, list):
                answer["value"] = ints
            else:
                answer["got"] = describe(value)
        except BaseException as err:  # noqa: BLE001  (SystemExit from student code is an answer too)
            answer["error"] = {"type": text(type(err).__name__), "message": str(err)[:300]}
        answers.append(answer)
    rec.data["output_shape"] = answers


def leaf_records(model, probe: torch.Tensor) -> tuple[list, torch.Tensor]:
    """Each leaf module's (name, class, input, output) during one eval-mode forward pass on `probe`."""
    records, hooks = [], []
    for name, module in first(model.named_modules()):
        if next(module.children(), None) is None:
            def hook(m, args, out, name=text(name)):
                if len(records) >= 2 * MAX_ITEMS:
                    return
                inp = args[0] if args and isinstance(args[0], torch.Tensor) else None
                records.append([name, text(type(m).__name__),
                                None if inp is None else inp.detach().clone(),
                                out.detach().clone() if isinstance(out, torch.Tensor) else None])
            hooks.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            out = model(probe)
    finally:
        for h in hooks:
            h.remove()
    return records, out


def clean_history(history) -> list:
    """Plain numbers where the student gave numbers (float, int, numpy or 0-d tensor); repr elsewhere."""
    if not isinstance(history, list):
        return [describe(history)]
    cleaned = []
    for entry in history[:10_000]:
        if not isinstance(entry, dict):
            cleaned.append(describe(entry))
            continue
        item = {}
        for key, value in list(entry.items())[:20]:
            try:
                number = float(value.item() if hasattr(value, "item") else value)
                item[text(key)] = number if not (type(value) is int) else value
            except Exception:
                item[text(key)] = describe(value)
        cleaned.append(item)
    return cleaned


def wait_for(path: str, timeout: float = 300.0) -> None:
    """The grader writes job.pt while this process starts (both import torch at once); it appears whole."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise SystemExit(f"[child] the grader did not write {os.path.basename(path)} within {timeout:g} s")
        time.sleep(0.005)


def main(job_dir: str) -> None:
    wait_for(os.path.join(job_dir, "job.pt"))
    job = torch.load(os.path.join(job_dir, "job.pt"), weights_only=True)
    os.remove(os.path.join(job_dir, "job.pt"))  # the results file's name is no longer written anywhere
    rec = Recorder(os.path.join(job_dir, job["results_name"]))
    torch.set_num_threads(job["threads"])
    solution = job["solution"]

    from assignment.solution import load_solution

    def timed(name, fn):
        rec.phase(name)
        start = time.perf_counter()
        try:
            return fn()
        except BaseException as err:  # noqa: BLE001
            rec.data["errors"][name] = student_error(err, solution)
            return None
        finally:
            rec.data["timings"][name] = time.perf_counter() - start
            rec.save()

    try:
        mod = timed("import", lambda: load_solution(solution))
        if mod is not None:
            rec.data["challenge_defined"] = defines(mod, "build_challenge_model")
            (run_challenge if "challenge" in job else run_phases)(mod, job, rec, timed)
    finally:
        rec.phase("done")  # not reached if the student's code ends the process


def stand_in_model(practical: dict) -> torch.nn.Module:
    """The practical's network (from the spec in job.pt), used only to see whether train() and
    top_patches() exist when build_model() fails. Nothing it produces is graded."""
    from torch import nn

    net, derived = practical["spec"]["network"], practical["derived"]
    channels = practical["spec"]["dataset"]["input"][0]
    c1, c2, pool, units = net["conv1"], net["conv2"], net["pool"], net["fc1"]["units"]

    def conv(c_in, c):
        return nn.Conv2d(c_in, c["filters"], c["kernel"], stride=c["stride"], padding=c["padding"])
    return nn.Sequential(conv(channels, c1), nn.ReLU(), conv(c1["filters"], c2), nn.ReLU(),
                         nn.MaxPool2d(pool["kernel"], stride=pool["stride"]), nn.Flatten(),
                         nn.Linear(derived["flat_sizes"][0], units), nn.ReLU(), nn.Linear(units, net["classes"]))


def probe_unimplemented(mod, job: dict, rec: Recorder) -> None:
    """Record a NotImplementedError from train() or top_patches(), or their absence, so feedback names every
    missing function."""
    from assignment.data import TensorImages, normalise

    dataset = job["practical"]["spec"]["dataset"]["name"]
    model = stand_in_model(job["practical"])
    tiny = TensorImages(normalise(job["train_x"][:100], dataset), job["train_y"][:100], dataset)
    calls = {"train": lambda: mod.train(model, tiny, tiny, iterations=2, log_every=1),
             "top_patches": lambda: mod.top_patches(model, normalise(job["patch_x"][:10], dataset), [0], k=2)}
    for name, call in calls.items():
        if not defines(mod, name):
            rec.data["errors"][name] = {"type": "AttributeError", "trace": "",
                                        "message": f"module 'assignment.cnn' has no attribute '{name}'"}
            continue
        try:
            call()
        except NotImplementedError as err:
            rec.data["errors"][name] = student_error(err, job["solution"])
        except BaseException:  # noqa: BLE001  (any other failure here says nothing about the student)
            pass
    rec.save()


def train_counted(mod, model, job: dict, rec: Recorder, timed, keep_history: bool) -> None:
    """The student's train() on the grader's data, every optimizer step counted and reported as it is made."""
    from assignment.data import TensorImages, normalise

    dataset = job["practical"]["spec"]["dataset"]["name"]
    steps = [0]

    def count_step(*_):
        steps[0] += 1
        rec.reporter.steps(steps[0])
    handle = register_optimizer_step_post_hook(count_step)
    train_set = TensorImages(normalise(job["train_x"], dataset), job["train_y"], dataset)
    valid_set = TensorImages(normalise(job["valid_x"], dataset), job["valid_y"], dataset)
    torch.manual_seed(job["seed"])
    model.train()

    def train():
        history = mod.train(model, train_set, valid_set, iterations=job["iterations"],
                            log_every=job["log_every"])
        if keep_history:
            rec.data["history"] = clean_history(history)
    timed("train", train)
    handle.remove()
    rec.data["optimizer_steps"] = steps[0]


def test_logits(model, job: dict, rec: Recorder) -> None:
    """The model's logits on the test images, in the order the grader sent them."""
    from assignment.data import normalise

    model.eval()
    images = normalise(job["test_x"], job["practical"]["spec"]["dataset"]["name"])
    with torch.no_grad():
        outs = [model(images[i:i + 1000]) for i in range(0, len(images), 1000)]
    rec.data["test_logits"] = torch.cat([o.detach().float().cpu() for o in outs])


def run_phases(mod, job: dict, rec: Recorder, timed) -> None:
    from assignment.data import normalise

    dataset = job["practical"]["spec"]["dataset"]["name"]
    timed("output_shape", lambda: run_output_shape(mod, job["shape_cases"], rec))

    torch.manual_seed(job["seed"])
    model = timed("build_model", lambda: mod.build_model())  # inside timed: a missing build_model is named
    if not isinstance(model, torch.nn.Module):
        if "build_model" not in rec.data["errors"]:
            rec.data["errors"]["build_model"] = {
                "type": "TypeError", "trace": "",
                "message": f"build_model() returned {describe(model)}, expected an nn.Module"}
        probe_unimplemented(mod, job, rec)
        return

    image = job["practical"]["spec"]["dataset"]["input"]  # (C, H, W)

    def model_io():
        model.eval()
        shapes = {}
        with torch.no_grad():
            for b in (1, 7):
                out = model(torch.randn(b, *image))
                shapes[b] = list(out.shape) if isinstance(out, torch.Tensor) else describe(out)
        rec.data["model_io"] = shapes
        rec.data["param_count_initial"] = sum(p.numel() for p in model.parameters())
        rec.data["param_shapes_initial"] = [[text(n), list(p.shape)] for n, p in first(model.named_parameters())]
    timed("model_io", model_io)

    train_counted(mod, model, job, rec, timed, keep_history=True)

    def weights():
        rec.data["params"] = [[text(n), p.detach().cpu().clone()] for n, p in first(model.named_parameters())]
        rec.data["buffers"] = [[text(n), list(b.shape)] for n, b in first(model.named_buffers())]
        rec.data["module_count"] = sum(1 for n, _ in model.named_modules() if n)
        rec.data["modules"] = [[text(n), text(type(m).__name__)] for n, m in
                               first((n, m) for n, m in model.named_modules() if n)]
        model.eval()
        records, out = leaf_records(model, job["probe_x"])
        rec.data["records"] = records
        rec.data["probe_out"] = out.detach().clone() if isinstance(out, torch.Tensor) else describe(out)
    timed("inspect", weights)

    timed("evaluate", lambda: test_logits(model, job, rec))

    def patches():
        model.eval()
        with torch.no_grad():
            got = mod.top_patches(model, normalise(job["patch_x"], dataset), list(job["filters"]), k=job["k"])
        try:
            import numpy as np
            rec.data["patches"] = torch.as_tensor(np.asarray(
                got.detach().cpu() if isinstance(got, torch.Tensor) else got, dtype=np.float32))
        except Exception:
            rec.data["patches"] = describe(got)
    timed("top_patches", patches)
    rec.phase("done")


def defines(mod, name: str) -> bool:
    try:
        return callable(getattr(mod, name, None))
    except BaseException:  # noqa: BLE001  (a module __getattr__ that raises)
        return False


def run_challenge(mod, job: dict, rec: Recorder, timed) -> None:
    """The optional challenge, in a child of its own: build_challenge_model(), trained by the student's
    train() within the step budget, then its logits on the test images (in the grader's secret order).
    The parameter count is this process's claim; the grader checks the caps and scores the logits."""
    torch.manual_seed(job["seed"])
    model = timed("build_model", lambda: mod.build_challenge_model())
    if not isinstance(model, torch.nn.Module):
        if "build_model" not in rec.data["errors"]:
            rec.data["errors"]["build_model"] = {
                "type": "TypeError", "trace": "",
                "message": f"build_challenge_model() returned {describe(model)}, expected an nn.Module"}
        return
    rec.data["param_count"] = sum(p.numel() for p in model.parameters())
    if rec.data["param_count"] > job["challenge"]["max_parameters"]:
        return  # refused by the grader whatever it learns: not worth the training time
    train_counted(mod, model, job, rec, timed, keep_history=False)
    if "train" in rec.data["errors"]:
        return
    timed("evaluate", lambda: test_logits(model, job, rec))


if __name__ == "__main__":
    sys.setrecursionlimit(10_000)
    main(sys.argv[1])
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: the student's atexit hooks and threads do not get to run
