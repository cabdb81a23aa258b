"""Test accuracy against the lower S bar."""
from autograder.judging.checks.test_accuracy import _check

TITLE = "Test accuracy, S bar"


def test_accuracy_s(ctx):
    _check(ctx, ctx.config.accuracy.s, "S")
