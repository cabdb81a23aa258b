"""CIFAR-10 end to end, on a small archive in CIFAR-10's own format that the test makes: downloaded from
127.0.0.1 through torchvision's own code (its URL and MD5s pointed at the archive), then graded through
the whole pipeline with a short config. The reference, built for 3x32x32, gets a mark; a model built for
MNIST gets none, and its feedback says the input is 3x32x32. The template released for CIFAR-10 checks
a 3x32x32 network.

The made images are learnable at a glance (each class a coloured square in its own place, over noise),
so that a short budget is enough; real CIFAR-10 is downloaded by users, never by the tests.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
import yaml

from assignment import data, datasets
from autograder.grading import caches
from autograder.practical.config import load_config
from autograder.release.release import write_template
from test_data import serving
from specs import default_reference

ROOT = Path(__file__).resolve().parents[2]
CIFAR10 = ROOT / "examples" / "cifar10.yml"
PER_BATCH, TEST = 60, 100  # five training batches of 60 (300 images, 30 of them for validation) and 100 to test
FOLDER = "cifar-10-batches-py"


def made_images(n: int, seed: int) -> tuple[np.ndarray, list[int]]:
    """n rows of 3072 bytes (1024 red, then green, then blue, as CIFAR-10 stores them) and their labels:
    noise, and for class c a 10x10 square of colour c at place c."""
    rng = np.random.default_rng(seed)
    labels = [int(c) for c in rng.integers(0, 10, n)]
    images = rng.integers(0, 90, (n, 3, 32, 32), dtype=np.uint8)
    for image, c in zip(images, labels):
        y, x = 2 + 10 * (c // 4), 2 + 7 * (c % 4)
        image[:, y:y + 10, x:x + 10] = [[[60 + 19 * c]], [[250 - 20 * c]], [[(97 * c) % 256]]]
    return images.reshape(n, 3072), labels


def md5(blob: bytes) -> str:
    return hashlib.md5(blob).hexdigest()


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict]:
    """cifar-10-python.tar.gz in a folder of its own, and the MD5s torchvision must check it against."""
    folder = tmp_path_factory.mktemp("cifar-mirror")
    batches = {f"data_batch_{i}": made_images(PER_BATCH, i) for i in range(1, 6)}
    batches["test_batch"] = made_images(TEST, 0)
    files = {name: pickle.dumps({"data": x, "labels": y, "batch_label": name}) for name, (x, y) in batches.items()}
    files["batches.meta"] = pickle.dumps({"label_names": list(datasets.get("cifar10").classes),
                                          "num_cases_per_batch": PER_BATCH, "num_vis": 3072})
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, blob in files.items():
            info = tarfile.TarInfo(f"{FOLDER}/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    (folder / "cifar-10-python.tar.gz").write_bytes(buffer.getvalue())
    sums = {name: md5(blob) for name, blob in files.items()}
    sums["tgz"] = md5(buffer.getvalue())
    return folder, {"images": batches, "md5": sums}


@pytest.fixture(scope="module")
def grader_cache(archive, tmp_path_factory) -> tuple[Path, list[str]]:
    """The grader's cache with CIFAR-10 in it, downloaded from the loopback server into the download folder
    by torchvision's own CIFAR10 class; and the paths the server was asked for."""
    folder, made = archive
    cache = tmp_path_factory.mktemp("grader-cache")
    sums = made["md5"]
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("CIFAR10_ROOT", raising=False)
        mp.setattr(datasets, "CACHE_ROOT", tmp_path_factory.mktemp("downloads"))
        cls = torchvision.datasets.CIFAR10
        mp.setattr(cls, "tgz_md5", sums["tgz"])
        mp.setattr(cls, "train_list", [[f"data_batch_{i}", sums[f"data_batch_{i}"]] for i in range(1, 6)])
        mp.setattr(cls, "test_list", [["test_batch", sums["test_batch"]]])
        mp.setattr(cls, "meta", {"filename": "batches.meta", "key": "label_names", "md5": sums["batches.meta"]})
        with serving(folder, mp) as (url, requested):
            mp.setattr(cls, "url", url + "cifar-10-python.tar.gz")
            sets = caches.grader_data(cache, "cifar10")
        assert (datasets.CACHE_ROOT / "cifar10" / FOLDER / "test_batch").is_file()  # where a download goes
    assert (cache / "cifar10-u8.pt").is_file() and sets["train_x"].shape == (270, 3, 32, 32)
    return cache, requested


def test_the_download_gives_the_archives_images_channels_first(archive, grader_cache):
    _, made = archive
    cache, requested = grader_cache
    assert requested == ["/cifar-10-python.tar.gz"] * len(requested) and requested
    sets = torch.load(cache / "cifar10-u8.pt", weights_only=True)
    rows, labels = made["images"]["test_batch"]
    assert sets["test_x"].dtype == torch.uint8 and sets["test_x"].shape == (TEST, 3, 32, 32)
    assert torch.equal(sets["test_x"], torch.from_numpy(rows.reshape(TEST, 3, 32, 32)))  # (N, C, H, W), not HWC
    assert sets["test_y"].tolist() == labels
    train = np.concatenate([made["images"][f"data_batch_{i}"][0] for i in range(1, 6)]).reshape(-1, 3, 32, 32)
    seen = torch.cat([sets["train_x"], sets["valid_x"]])
    assert len(seen) == 5 * PER_BATCH and len(sets["valid_x"]) == 30  # CIFAR-10's share: 5,000 of 50,000
    assert sorted(map(bytes, seen.numpy())) == sorted(map(bytes, train))  # every image once, in one of the two


def test_normalisation_is_per_channel(archive):
    rows, _ = archive[1]["images"]["test_batch"]
    pixels = rows[0].reshape(3, 32, 32)
    x = data.normalise(torch.from_numpy(pixels[None]), "cifar10")  # (1, 3, 32, 32)
    d = datasets.get("cifar10")
    for c in range(3):
        expected = torch.from_numpy((pixels[c] / 255.0 - d.mean[c]) / d.std[c]).float()
        assert torch.allclose(x[0, c], expected, atol=1e-6)


def short_config(folder: Path) -> Path:
    """examples/cifar10.yml with a short budget and bars for the made images."""
    path = folder / "cifar10-short.yml"
    path.write_text(yaml.safe_dump({"base": str(CIFAR10), "training": {"iterations": 100, "log_every": 50},
                                    "accuracy": {"s_plus": 0.9, "s": 0.5},
                                    "limits": {"wall_seconds": 240, "cpu_seconds": 240}}))
    return path


def grade(submission: Path, out: Path, cache: Path) -> tuple[dict, str]:
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submission), "--out", str(out),
                           "--config", str(short_config(out.parent)), "--cache", str(cache)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((out / "results.json").read_text()), (out / "feedback.md").read_text()


def test_the_reference_built_for_3x32x32_gets_a_mark(grader_cache, tmp_path):
    results, feedback = grade(ROOT / "reference", tmp_path / "reference", grader_cache[0])
    extra = results["extra_data"]
    assert extra["mark"] == "S+", feedback
    assert extra["accuracy_verified"] and extra["test_accuracy"] >= 0.9
    assert "Model maps (B, 3, 32, 32) to (B, 10)" in feedback
    assert (tmp_path / "reference" / "patches.png").stat().st_size > 5_000  # colour patches, named by class


def test_a_model_built_for_mnist_gets_no_mark_and_is_told_the_input(grader_cache, tmp_path):
    results, feedback = grade(default_reference(tmp_path / "mnist_cnn.py"), tmp_path / "mnist", grader_cache[0])
    assert results["extra_data"]["mark"] is None, feedback
    assert results["extra_data"]["checks"]["model_io"] != "passed"
    assert "the model is given CIFAR-10 images, 3x32x32" in feedback and "nn.Conv2d(3, ...)" in feedback


def test_its_template_checks_a_3x32x32_network(tmp_path):
    """The CIFAR-10 template's public checks that need no data pass with the reference, expecting its sizes."""
    template = tmp_path / "template"
    write_template(template, load_config(CIFAR10))
    (template / "assignment" / "cnn.py").write_text((ROOT / "reference" / "cnn.py").read_text())
    env = {k: v for k, v in os.environ.items() if k not in ("CNN_SOLUTION", "PYTEST_ADDOPTS")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "assignment/tests", "-p", "no:cacheprovider", "-v",
                           "-k", "output_shape or build_model"], cwd=template, env=env, capture_output=True,
                          text=True, timeout=600)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    for test_id in ("test_output_shape_of_practical_layers[conv1-25x11x11] PASSED",
                    "test_output_shape_of_practical_layers[pool-ceil-64x6x6] PASSED",
                    "test_build_model_parameter_count PASSED",
                    "test_build_model_conv_output_shapes[conv1-25x11x11] PASSED"):
        assert test_id in output, test_id
    handout = (template / "assignment" / "README.md").read_text()
    for text in ("| total | | 1,700,563 |", "cut the matching 3x12x12 patch out of\n   `images[n]`",
                 "The result is a tensor (len(filters), k, 3, 12, 12)", "S+ needs at least 45%",
                 "provisional bars: estimated for CIFAR-10", "0 airplane, 1 automobile", "export CIFAR10_ROOT="):
        assert text in handout, text
