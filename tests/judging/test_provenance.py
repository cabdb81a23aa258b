"""results.json says what a grading ran with: grader version, policy hash, torch, threads, seeds."""
import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import sys

import torch

from autograder.grading import grade, provenance
from autograder.practical.config import load_config


def test_results_json_records_the_provenance_of_the_grading(repo, mnist_root, tmp_path):
    config = repo / "tests" / "grading-fast.yml"
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(repo / "assignment" / "cnn.py"),
                           "--out", str(tmp_path), "--config", str(config), "--threads", "1"],
                          capture_output=True, text=True, cwd=repo)
    assert proc.returncode == 0, proc.stderr
    extra = json.loads((tmp_path / "results.json").read_text())["extra_data"]
    got = extra["provenance"]
    assert extra["sha256"] == hashlib.sha256((repo / "assignment" / "cnn.py").read_bytes()).hexdigest()
    assert got["grader"]["version"] == importlib.metadata.version("cnn-practical")
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True)
    if (repo / ".git").exists() and head.returncode == 0:
        assert got["grader"]["commit"] == head.stdout.strip()
        assert isinstance(got["grader"]["modified_since_commit"], bool)
    assert got["grader"]["code_sha256"] == provenance.code_sha256()
    assert got["policy"] == {"path": str(config.resolve()), "sha256": load_config(config).sha256}
    assert got["torch"] == torch.__version__ and got["threads"] == 1
    fast = load_config(config)
    assert got["seeds"]["training"] == fast.training.seed
    assert got["seeds"]["output_shape_cases"] == fast.output_shape.seed
    assert isinstance(got["seeds"]["test_order"], int) and 0 <= got["seeds"]["test_order"] < 2**62
    assert extra["isolation"]["level"] in ("root", "userns", "none")


def test_the_recorded_seed_is_the_one_that_ordered_the_test_images(repo):
    """write_inputs on tiny made-up data: the seed it returns reproduces the order the child got."""
    config = load_config(repo / "tests" / "grading-fast.yml")
    n = 30
    data = {f"{part}_{kind}": torch.randint(0, 255, (n, 28, 28), dtype=torch.uint8) if kind == "x"
            else torch.randint(0, 10, (n,)) for part in ("train", "valid", "test") for kind in ("x", "y")}
    runs = []
    for _ in range(2):
        job, base = grade.job_folder((repo / "assignment" / "cnn.py").read_bytes(), config.practical, uid=None)
        try:
            inputs = grade.write_inputs(job, config, config.practical, data, [], threads=1, uid=None)
            spec = torch.load(job / "job.pt", weights_only=True)
        finally:
            shutil.rmtree(base)
        shown = torch.cat([data["test_x"], inputs.canaries.test_x])  # the canaries come after the test images
        order = torch.randperm(len(shown), generator=torch.Generator().manual_seed(inputs.order_seed))
        assert torch.equal(order, inputs.perm) and torch.equal(spec["test_x"], shown[order])
        runs.append(inputs.order_seed)
    assert runs[0] != runs[1]  # drawn afresh for every grading


def test_policy_hash_follows_the_policy_bases_included(repo, tmp_path):
    """The hash is of the policy as graded: the config with its base merged in. A comment changes
    nothing; a changed bar in the base does."""
    base, short = tmp_path / "grading.yml", tmp_path / "short.yml"
    base.write_text((repo / "grading.yml").read_text())
    short.write_text("base: grading.yml\ntraining: {iterations: 300, log_every: 100, seed: 0}\n")
    first = load_config(short).sha256
    short.write_text(short.read_text() + "# a comment\n")
    assert load_config(short).sha256 == first
    base.write_text(base.read_text().replace("s_plus: 0.98", "s_plus: 0.97"))
    assert load_config(short).sha256 != first


def test_code_hash_follows_the_code(repo, tmp_path):
    copy = tmp_path / "autograder"
    shutil.copytree(repo / "autograder", copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = provenance.code_sha256((copy,))
    (copy / "release" / "templates" / "note.txt").write_text("not code")
    assert provenance.code_sha256((copy,)) == before
    (copy / "judging" / "checks" / "test_accuracy.py").write_text((copy / "judging" / "checks" / "test_accuracy.py").read_text() + "\n")
    assert provenance.code_sha256((copy,)) != before
