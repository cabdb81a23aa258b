"""One job's private folder: the submission, the public helpers, the child script and its inputs; and
reading back what the child wrote, through torch's safe loader only."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import assignment

from ..practical.config import Config
from ..practical.spec import Practical

if TYPE_CHECKING:  # torch is imported where it is needed, once the child has started
    import torch

    from ..judging.canaries import Canaries

MAX_RESULTS_BYTES = 256 * 2**20
PRACTICAL_JSON = "practical.json"  # = spec.Practical.student_facts(), as a student template carries it


def job_folder(code: bytes, practical: Practical, uid: int | None) -> tuple[Path, Path]:
    """(job, base): a private folder with the submission's code as cnn.py, the public helpers and the child
    script, in a base folder of its own. torch-free, so that the child can start before the grader has
    imported torch; its inputs follow in job.pt (write_inputs), which the child waits for.

    The graded variant's facts go in as assignment/practical.json, written here from the spec: a
    solution that builds its network from them builds the graded one, and a practical.json handed in
    with the submission is never copied."""
    base = Path(tempfile.mkdtemp(prefix="cnn-grader-"))
    base.chmod(0o711)  # others may enter but not list: the job folder's name is the secret
    job = base / secrets.token_hex(12)
    (job / "lib" / "assignment").mkdir(parents=True)
    for sub in ("home", "tmp", "submission"):
        (job / sub).mkdir()
    (job / "submission" / "cnn.py").write_bytes(code)
    pkg = Path(assignment.__file__).parent
    for py in sorted(pkg.glob("*.py")):
        if py.name != "cnn.py":  # the public helpers; the stub is no helper
            shutil.copy(py, job / "lib" / "assignment" / py.name)
    facts = json.dumps(practical.student_facts(), indent=2)
    for folder in ("lib/assignment", "submission"):  # beside the helpers, and beside cnn.py as in a template
        (job / folder / PRACTICAL_JSON).write_text(facts)
    shutil.copy(Path(__file__).with_name("child.py"), job / "child.py")
    if uid is not None:
        for root, dirs, files in os.walk(job):
            for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
                os.chown(name, uid, uid)
    return job, base


@dataclass(frozen=True)
class Inputs:
    """What the grader keeps of the inputs it wrote for the child (write_inputs)."""
    perm: torch.Tensor  # the order in which the child sees the test images, the canaries among them
    relabel: torch.Tensor  # the child learns relabel[real class] (relabel.py)
    results: Path  # where the child writes its results, under a name only job.pt held
    probe: torch.Tensor  # the probe images (probe_images)
    order_seed: int  # the seed of `perm`, fresh for every grading; recorded once the child has ended
    canaries: Canaries  # the secret images among the child's data (canaries.py)


def write_inputs(job: Path, config: Config, practical: Practical, data: dict, cases: list, threads: int,
                 uid: int | None, relabel_seed: bytes | None = None, extra: dict | None = None) -> Inputs:
    """The child's inputs, as job.pt in the job folder, appearing at once (written aside, then renamed):
    the data, the secret orders and labels, the cases, and `extra` (the challenge's caps, for its own
    child). Returns what the grader keeps of them.

    Nothing public tells the child which image is which: the training and validation images come in a
    secret order with secretly relabelled classes (relabel.py) and secret canaries among them
    (canaries.py); the test images, canaries among them too, in another secret order."""
    import torch

    from ..judging.canaries import draw
    from ..judging.relabel import derangement

    order_seed = secrets.randbits(62)  # fresh for every grading; recorded once the child has ended
    secret = relabel_seed if relabel_seed is not None else secrets.token_bytes(32)
    relabel = derangement(practical.classes, relabel_seed)  # the child learns relabel[real class]
    canaries = draw(tuple(data["train_x"].shape[1:]), practical.classes, len(data["train_y"]), secret)
    mixed = torch.Generator().manual_seed(int.from_bytes(secret[:8], "big") >> 1)

    def shuffled(x, y, extra_x, extra_y):  # the images with the canaries among them, in a secret order
        x, y = torch.cat([x, extra_x]), torch.cat([relabel[y], extra_y])
        order = torch.randperm(len(y), generator=mixed)
        return x[order], y[order]

    n_valid = len(canaries.train_y) * len(data["valid_y"]) // len(data["train_y"])
    train_x, train_y = shuffled(data["train_x"], data["train_y"], canaries.train_x, canaries.train_y)
    valid_x, valid_y = shuffled(data["valid_x"], data["valid_y"], canaries.train_x[:n_valid],
                                canaries.train_y[:n_valid])
    test_x = torch.cat([data["test_x"], canaries.test_x])
    perm = torch.randperm(len(test_x), generator=torch.Generator().manual_seed(order_seed))
    tp = config.top_patches
    spec = {
        "solution": str(job / "submission" / "cnn.py"), "results_name": f"res-{secrets.token_hex(8)}.pt",
        "threads": threads, "seed": config.training.seed, "iterations": config.training.iterations,
        "log_every": config.training.log_every, "filters": list(tp.filters), "k": tp.k,
        "shape_cases": [{k: v for k, v in c.items() if k != "expected"} for c in cases],
        "train_x": train_x, "train_y": train_y, "valid_x": valid_x, "valid_y": valid_y,
        "test_x": test_x[perm], "patch_x": data["test_x"][:tp.images],
        "probe_x": probe_images(data, practical), "practical": practical.student_facts(),
    }
    spec.update(extra or {})
    tmp = job / ".job.pt.tmp"
    torch.save(spec, tmp)
    if uid is not None:
        os.chown(tmp, uid, uid)
    os.replace(tmp, job / "job.pt")
    return Inputs(perm, relabel, job / spec["results_name"], spec["probe_x"], order_seed, canaries)


def probe_images(sets: dict, practical: Practical) -> torch.Tensor:
    """Inputs on which the student's model and the canonical one must agree: 4 validation images and 4 of
    noise."""
    import torch

    from assignment import data

    images = data.normalise(sets["valid_x"][:4], practical.dataset)
    noise = torch.randn(4, *practical.input, generator=torch.Generator().manual_seed(0))
    return torch.cat([images, noise])


def load_results(path: Path) -> tuple[dict, str | None]:
    """The child's results, through torch's safe loader only (tensors and plain containers), within
    bounds: the file's size, then its zip's inflated sizes (before torch.load), then the type and size
    of every value the grader reads (claims.py)."""
    import torch

    from .claims import Refused, checked, zip_problem

    if not path.is_file():
        return {}, None
    if path.stat().st_size > MAX_RESULTS_BYTES:
        return {}, f"the results file is larger than {MAX_RESULTS_BYTES >> 20} MB and was not read"
    problem = zip_problem(path)
    if problem:
        return {}, f"the results file was not read: {problem}; it was not trusted"
    try:
        res = torch.load(path, weights_only=True, map_location="cpu")
    except Exception as err:  # any unpickling refusal or corruption
        return {}, f"the results file could not be read safely ({type(err).__name__}); it was not trusted"
    try:
        return checked(res), None
    except Refused as err:
        return {}, f"the results file does not hold what the grader wrote there ({err}); it was not trusted"
