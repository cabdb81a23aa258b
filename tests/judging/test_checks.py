"""Hidden checks judged on hand-made results, where a real grade would take minutes to reach the case."""
import math
from types import SimpleNamespace

import pytest

from autograder.judging.checks.test_training import test_training as training_check
from autograder.practical.config import load_config
from autograder.judging.context import CheckFailed
from autograder.judging.relabel import Provenance

CONFIG = load_config()  # 4000 iterations, an entry every 500


def ctx_with_losses(losses, provenance=Provenance(given=0.98, real=0.0)):
    history = [{"iteration": 500 * (i + 1), "loss": loss, "train_accuracy": 0.9, "valid_accuracy": 0.9}
               for i, loss in enumerate(losses)]
    return SimpleNamespace(config=CONFIG, practical=CONFIG.practical, res={"optimizer_steps": 4000},
                           require=lambda phase, key: history, provenance=provenance)


def test_converged_noisy_losses_pass():
    """Late in a good run the single-minibatch losses are small and noisy: the second half may average
    more than the first without anything being wrong."""
    training_check(ctx_with_losses([0.09, 0.04, 0.03, 0.02, 0.08, 0.05, 0.04, 0.06]))


@pytest.mark.parametrize("losses, words", [
    ([2.31, 2.30, 2.31, 2.29, 2.30, 2.31, 2.30, 2.30], "does not go down"),
    ([0.4, 0.5, 0.6, 0.7, 1.2, 1.4, 1.6, 1.9], "goes up"),
    ([0.4, 0.3, math.nan, 0.2, 0.2, 0.1, 0.1, 0.1], "not finite"),
])
def test_losses_that_show_no_learning_fail(losses, words):
    with pytest.raises(CheckFailed, match=words):
        training_check(ctx_with_losses(losses))


def test_a_model_that_predicts_the_real_classes_did_not_come_from_train():
    smuggled = ctx_with_losses([0.5, 0.3, 0.2, 0.1], Provenance(given=0.01, real=0.97))
    with pytest.raises(CheckFailed, match="does not come from training on the data it was given"):
        training_check(smuggled)
