"""Test accuracy of the trained model, measured by the grader (S+ bar and S bar), against the labels that
train() was given (relabel.py)."""
from autograder.judging.context import CheckFailed

TITLE = "Test accuracy, S+ bar"
NOT_COUNTED = "not counted: the model was not trained by train() on the data it was given (see train() runs as specified)"


def _check(ctx, bar: float, label: str):
    value, verified = ctx.accuracy
    steps = ctx.steps_made()
    if ctx.provenance.trained_elsewhere:
        raise CheckFailed([NOT_COUNTED])
    how = "measured by the grader" if verified else "from your model's outputs"
    if value < bar:
        raise CheckFailed([f"test accuracy {value:.2%} ({how}) after {steps} optimizer steps, "
                           f"below the {label} bar of {bar:.0%}"])


def test_accuracy(ctx):
    _check(ctx, ctx.config.accuracy.s_plus, "S+")
