"""Test accuracy of the trained model, measured by the grader (S+ bar and S bar)."""
from autograder.judging import CheckFailed

TITLE = "Test accuracy, S+ bar"


def _check(ctx, bar: float, label: str):
    value, verified = ctx.accuracy
    how = "measured by the grader" if verified else "from your model's outputs"
    if value < bar:
        raise CheckFailed([f"test accuracy {value:.2%} ({how}) after {ctx.config.training.iterations} iterations, "
                           f"below the {label} bar of {bar:.0%}"])


def test_accuracy(ctx):
    _check(ctx, ctx.config.accuracy.s_plus, "S+")
