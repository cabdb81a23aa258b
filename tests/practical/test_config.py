"""Configs that start from a base, and the checks' policy: every check found in autograder/judging/checks/ needs
its line, an unknown one is refused, and a title may quote the spec."""
import pytest
import yaml

from autograder.practical import registry
from autograder.practical.config import ConfigError, DEFAULT_CONFIG, load_config, load_raw, parse_config
from autograder.practical.spec import parse_practical

TODAYS_TITLES = {
    "output_shape": "output_shape matches PyTorch", "model_io": "Model maps (B, 1, 28, 28) to (B, 10)",
    "architecture": "Architecture as specified", "training": "train() runs as specified",
    "accuracy_s": "Test accuracy, S bar", "accuracy": "Test accuracy, S+ bar",
    "top_patches": "top_patches matches the grader's",
}


def write(path, text):
    path.write_text(text)
    return path


def test_the_checks_come_from_their_files_with_todays_titles():
    config = load_config()
    assert set(registry.discover()) == set(TODAYS_TITLES)
    assert {n: c.title for n, c in config.checks.items()} == TODAYS_TITLES
    assert list(config.checks) == list(TODAYS_TITLES)  # grading.yml's order, as the feedback shows it


def test_a_base_is_merged_key_by_key_and_validated_whole(tmp_path):
    child = write(tmp_path / "short.yml", f"base: {DEFAULT_CONFIG}\ntraining: {{iterations: 200, log_every: 50}}\n"
                  "practical: {network: {fc1: {units: 512}}}\n")
    config = load_config(child)
    base = load_config()
    assert (config.training.iterations, config.training.seed) == (200, base.training.seed)
    assert config.practical.fc1_units == 512 and config.practical.conv1 == base.practical.conv1
    assert config.checks == base.checks
    write(tmp_path / "typo.yml", f"base: {DEFAULT_CONFIG}\ntraining: {{iteratons: 5}}\n")
    with pytest.raises(ConfigError, match="iteratons"):
        load_config(tmp_path / "typo.yml")


@pytest.mark.parametrize("text, words", [
    ("base: missing.yml\n", r"cannot read its base .*missing\.yml"),
    ("base: loop.yml\n", "leads back to itself"),
    ("base: [1]\n", "'base' must be the path"),
], ids=["missing-base", "cycle", "not-a-path"])
def test_a_bad_base_is_refused(tmp_path, text, words):
    with pytest.raises(ConfigError, match=words):
        load_config(write(tmp_path / "loop.yml", text))


def _with(change):
    raw = load_raw(DEFAULT_CONFIG)
    change(raw)
    return raw


@pytest.mark.parametrize("change, words", [
    (lambda r: r["checks"].update(speed={"visibility": "visible"}), r"checks\.speed: no such check"),
    (lambda r: r["checks"].pop("model_io"), "no line for model_io"),
    (lambda r: r["checks"]["model_io"].update(points=3), r"checks\.model_io must be"),
    (lambda r: r["checks"]["model_io"].update(title="Maps {size}"), r"checks\.model_io: .*\{size\}"),
], ids=["unknown-check", "missing-line", "unknown-key", "unknown-fact"])
def test_check_policy_errors_name_the_check(change, words):
    with pytest.raises(ConfigError, match=words):
        parse_config(_with(change))


def test_a_title_override_may_quote_the_spec():
    raw = _with(lambda r: r["checks"]["architecture"].update(title="A {params}-parameter network"))
    assert parse_config(raw).checks["architecture"].title == "A 1,103,539-parameter network"


def test_titles_follow_the_spec():
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())["practical"]
    raw["dataset"] = {"name": "cifar10", "input": [3, 32, 32]}
    practical, _ = parse_practical(raw)
    assert load_config().checks["model_io"].title_for(practical) == "Model maps (B, 3, 32, 32) to (B, 10)"


def test_a_check_file_without_a_title_is_refused(tmp_path):
    write(tmp_path / "test_speed.py", '"""Fast enough."""\n\n\ndef test_speed(ctx):\n    pass\n')
    with pytest.raises(registry.RegistryError, match=r"test_speed\.py: .*TITLE"):
        registry.discover(tmp_path)
