"""The practical's spec: parsing, refusals that name the field, and what is derived from it."""
import copy

import pytest
import yaml

from autograder.practical import spec
from autograder.practical.config import DEFAULT_CONFIG
from specs import spec_with

RAW = yaml.safe_load(DEFAULT_CONFIG.read_text())["practical"]


def test_default_spec_derives_todays_numbers():
    p, variants = spec.parse_practical(RAW)
    assert variants == {}
    assert (p.conv1_out, p.conv2_out, p.pool_outs) == ((25, 9, 9), (64, 9, 9), [(64, 4, 4), (64, 5, 5)])
    assert p.param_counts == [1_103_539, 1_693_363]
    assert p.roles["fc1.weight"] == [(1024, 1024), (1024, 1600)]
    assert p.patch == {"size": 12, "stride": 2, "padding": 0}
    assert p.layer_hints[0][2] == "the first convolution has kernel 12, stride 2 and no padding: (28 - 12) / 2 + 1 = 9"


def test_a_cohort_spec_derives_its_own_numbers():
    p = spec_with(conv1__filters=32, conv1__kernel=10, fc1__units=512)
    assert p.conv1_out == (32, 10, 10)  # (28 - 10) // 2 + 1
    assert p.pool_outs == [(64, 5, 5)]  # 10 is even: rounding up changes nothing
    expected = 10 * 10 * 32 + 32 + 5 * 5 * 32 * 64 + 64 + 1600 * 512 + 512 + 512 * 10 + 10
    assert p.param_counts == [expected]
    assert "or" not in p.param_hint


@pytest.mark.parametrize("change, field", [
    ({"conv1__kernel": -3}, "network.conv1.kernel"),
    ({"conv1__kernel": 40}, "network.conv1"),
    ({"conv2__stride": 2}, "network.conv2.padding"),
    ({"pool__kernel": 10}, "network.pool"),
    ({"dropout": 1.5}, "network.dropout"),
    ({"fc1__units": 0}, "network.fc1.units"),
], ids=["negative-kernel", "shrinks-below-1x1", "same-with-stride", "pool-too-big", "dropout", "no-units"])
def test_a_malformed_network_is_refused_naming_the_field(change, field):
    with pytest.raises(spec.SpecError, match=field.replace(".", r"\.")):
        spec_with(**change)


def test_unknown_dataset_and_wrong_input_are_refused():
    raw = copy.deepcopy(RAW)
    raw["dataset"]["name"] = "imagenet"
    with pytest.raises(spec.SpecError, match=r"dataset\.name .*imagenet"):
        spec.parse_practical(raw)
    raw["dataset"] = {"name": "mnist", "input": [3, 32, 32]}
    with pytest.raises(spec.SpecError, match=r"dataset\.input"):
        spec.parse_practical(raw)


def test_variants_enumerate_every_combination_with_the_spec_first():
    raw = copy.deepcopy(RAW)
    raw["variants"] = {"conv1.filters": [25, 32], "fc1.units": [512, 1024]}
    base, variants = spec.parse_practical(raw)
    assert variants["fc1.units"] == [1024, 512]  # the spec's own value first: v1 is the spec as written
    all_ = spec.enumerate_variants(base, variants)
    assert list(all_) == ["v1", "v2", "v3", "v4"]
    assert all_["v1"] == base
    assert (all_["v4"].conv1.filters, all_["v4"].fc1_units) == (32, 512)
    with pytest.raises(spec.SpecError, match="unknown variant 'v9'"):
        spec.variant_spec(base, variants, "v9")


@pytest.mark.parametrize("variants, match", [
    ({"conv1.filters": [32, 48]}, r"conv1\.filters: the spec's own value 25"),
    ({"conv1.size": [1, 2]}, "not a field"),
    ({"conv1.kernel": [12, 30]}, r"variant v2 \(conv1.kernel=30\)"),
    ({"dropout": [0.2]}, "at least two"),
], ids=["own-value-missing", "unknown-field", "bad-choice", "one-choice"])
def test_malformed_variants_are_refused(variants, match):
    raw = copy.deepcopy(RAW)
    raw["variants"] = variants
    with pytest.raises(spec.SpecError, match=match):
        spec.parse_practical(raw)


def test_the_table_lists_layers_sizes_and_the_total():
    text = spec.table(spec.parse_practical(RAW)[0])
    assert "25x9x9" in text and "1,049,600" in text and "1,103,539" in text and "1,693,363" in text


def test_the_datasets_follow_assignment_datasets():
    assert spec.DATASETS == {"mnist": (1, 28, 28), "fashion-mnist": (1, 28, 28), "cifar10": (3, 32, 32)}


def test_cifar10_takes_the_practicals_network_with_a_colour_input():
    raw = copy.deepcopy(RAW)
    raw["dataset"] = {"name": "cifar10", "input": [3, 32, 32]}
    p, _ = spec.parse_practical(raw)
    assert (p.conv1_out, p.conv2_out, p.pool_outs) == ((25, 11, 11), (64, 11, 11), [(64, 5, 5), (64, 6, 6)])
    # 12*12*3*25 + 25, 5*5*25*64 + 64, 1600*1024 + 1024, 1024*10 + 10; with 6x6 pooling fc1 has 2304*1024 + 1024
    assert p.param_counts == [10_825 + 40_064 + 1_639_424 + 10_250, 10_825 + 40_064 + 2_360_320 + 10_250]
    assert p.roles["conv1.weight"] == [(25, 3, 12, 12)] and p.patch_shape == (3, 12, 12)
    assert p.data.title == "CIFAR-10" and p.data.classes[0] == "airplane"
    assert spec.parse_practical(RAW)[0].patch_shape == (12, 12)  # one channel: 2-D patches, as before


@pytest.mark.parametrize("dataset, match", [
    ({"name": "cifar10", "input": [1, 28, 28]}, r"dataset\.input is \[1, 28, 28\], but cifar10 images are \[3, 32, 32\]"),
    ({"name": "fashion-mnist", "input": [3, 32, 32]}, r"fashion-mnist images are \[1, 28, 28\]"),
], ids=["cifar10-grey", "fashion-colour"])
def test_the_input_must_be_the_datasets_shape(dataset, match):
    raw = copy.deepcopy(RAW)
    raw["dataset"] = dataset
    with pytest.raises(spec.SpecError, match=match):
        spec.parse_practical(raw)


def test_one_logit_per_class_of_the_dataset():
    with pytest.raises(spec.SpecError, match=r"network\.classes is 5, but mnist has 10 classes"):
        spec_with(classes=5)
