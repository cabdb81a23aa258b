"""Verified training: the secret relabelling has no fixed point, and a model is judged against it."""
import pytest
import torch

from autograder.judging.relabel import derangement, provenance


def test_derangement_moves_every_class_and_varies():
    drawn = {tuple(derangement(10).tolist()) for _ in range(50)}
    for order in drawn:
        assert sorted(order) == list(range(10)) and all(label != c for c, label in enumerate(order))
    assert len(drawn) > 40  # secret per grade: no fixed choice
    with pytest.raises(ValueError):
        derangement(1)


def test_provenance_tells_a_model_trained_on_the_given_labels_from_one_that_was_not():
    real = torch.arange(1000) % 10
    relabel = derangement(10)
    honest = provenance(relabel[real], real, relabel)  # learnt what it was given
    assert honest.given == 1.0 and honest.real == 0.0 and not honest.trained_elsewhere
    smuggled = provenance(real, real, relabel)  # predicts the real classes
    assert smuggled.given == 0.0 and smuggled.trained_elsewhere
    assert "does not come from training on the data it was given" in smuggled.message()
    untrained = provenance(torch.zeros(1000, dtype=torch.long), real, relabel)
    assert not untrained.trained_elsewhere  # low accuracy is the accuracy check's business, not a cheat


def test_provenance_with_few_classes_needs_more_than_chance():
    real = torch.arange(1000) % 2
    relabel = derangement(2)  # the swap
    near_chance = torch.where(torch.arange(1000) < 550, real, relabel[real])  # 55% real, 45% given
    assert not provenance(near_chance, real, relabel).trained_elsewhere  # what chance alone can give
    assert provenance(real, real, relabel).trained_elsewhere
    assert not provenance(relabel[real], real, relabel).trained_elsewhere
