"""Verified training: the labels the child trains on are a secret derangement of the classes.

The grader hands train() and its validation set labels `given = relabel[real]`, where `relabel` is a
permutation of the classes in which no class keeps its own label, drawn from a secret: the grading
machine's key and the submission's hash (the same file regraded here gets the same one). A model
that learnt from those labels predicts `relabel[real]` on the test images; a model whose weights came
from anywhere else (smuggled, downloaded, trained on the dataset loaded by hand) predicts the real classes,
which the derangement makes wrong on every image. So the accuracy bars are measured against the
relabelled test labels, and a model that scores well on the real ones instead did not come from train().

Only the grader's job sees the relabelling; the student's own runs (driver, notebook, public checks)
use the real labels. The reports show nothing the model predicted: the patches figure names the real
class of the test image each patch came from (public, and silent on the relabelling), and every
accuracy they quote is against the labels train() was given. The threat model and its limits are in
docs/instructors.md.
"""
from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

import torch


def derangement(classes: int, seed: bytes | None = None) -> torch.Tensor:
    """A permutation of range(classes) with no fixed point, uniform over derangements (rejection sampling:
    about e tries on average). From `seed` (a secret: grade() derives it from the grading machine's key
    and the submission, so a regrade here is the same grade), else from the OS's secret random source."""
    if classes < 2:
        raise ValueError(f"a derangement needs at least 2 classes, got {classes}")
    rng = random.Random(seed) if seed is not None else secrets.SystemRandom()
    order = list(range(classes))
    while True:
        rng.shuffle(order)
        if all(label != c for c, label in enumerate(order)):
            return torch.tensor(order, dtype=torch.long)


@dataclass(frozen=True)
class Provenance:
    """How a trained model's test predictions match the two label sets, and the canaries."""
    given: float  # accuracy against the labels train() was handed (relabelled): what the bars use
    real: float  # accuracy against the real classes
    classes: int = 10
    canaries: float | None = None  # share of the secret canary test images classified by their secret labels
    canary_bar: float = 0.0  # a model whose accuracy counts must reach it (canaries.py); 0: not checked
    counts_from: float = 0.0  # the accuracy from which the canaries are judged: the S+ bar

    @property
    def real_classes(self) -> bool:
        """The model predicts the real classes, which train() never saw: its weights came from elsewhere.
        A model trained on the given labels gets `real` near 0 (every class is moved); an untrained or
        badly trained one gets both near chance. Half right on the real labels, and 40 points above chance
        (with few classes, chance alone comes near half), cannot come from the given ones."""
        return self.real >= max(0.5, 1 / self.classes + 0.4) and self.real > self.given

    @property
    def missed_canaries(self) -> bool:
        """Good on the dataset's images under the given labels, yet blind to the canaries that were mixed into
        the same training data: the labels were read off (a vote of a model trained elsewhere), not learnt.
        Only a model good enough for the top mark is judged so: the canaries are a small share of the data,
        learnt after the dataset's classes, so a model that learnt slowly (a low learning rate, a short
        budget) may not know them yet, and must not be accused."""
        return (self.canaries is not None and self.canary_bar > 0 and self.canaries < self.canary_bar
                and self.given >= self.counts_from)

    @property
    def trained_elsewhere(self) -> bool:
        return self.real_classes or self.missed_canaries

    def message(self) -> str:
        if self.real_classes:
            return (f"the model does not come from training on the data it was given: it predicts the real "
                    f"classes of the test images ({self.real:.1%} right), not the labels that train() was handed "
                    f"to learn ({self.given:.1%}). The grader's train_set carries its own labels; the weights must "
                    "be learnt from train_set inside train(), not loaded or trained elsewhere")
        return (f"the model does not come from training on the data it was given: it gets {self.given:.1%} of "
                f"the test images right by the labels train() was handed, but only {self.canaries:.1%} of the "
                f"grader's secret images, which are mixed into train_set with labels of their own (a model that "
                f"learns from train_set gets at least {self.canary_bar:.0%} of them). The weights must be learnt "
                "from train_set inside train(), not loaded or trained elsewhere")


def provenance(predicted: torch.Tensor, real_labels: torch.Tensor, relabel: torch.Tensor,
               canaries: tuple[torch.Tensor, torch.Tensor] | None = None, canary_bar: float = 0.0,
               counts_from: float = 0.0) -> Provenance:
    """`predicted` (N,) classes in the model's own terms against the real and the relabelled labels;
    `canaries`: (predicted, secret labels) on the canary test images, judged against `canary_bar` once the
    accuracy reaches `counts_from`."""
    given = (predicted == relabel[real_labels]).float().mean().item()
    real = (predicted == real_labels).float().mean().item()
    canary = None if canaries is None else (canaries[0] == canaries[1]).float().mean().item()
    return Provenance(given, real, len(relabel), canary, canary_bar, counts_from)
