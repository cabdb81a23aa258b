"""build_model() gives a module that maps a batch of the spec's input shape to one logit per class."""
from autograder.judging import CheckFailed

TITLE = "Model maps (B, {input}) to (B, {classes})"


def test_model_io(ctx):
    shapes = ctx.require("model_io", "model_io")
    problems = [f"for an input of shape ({b}, 1, 28, 28) the model returned {got}, expected [{b}, 10]"
                for b, got in sorted(shapes.items()) if got != [b, 10]]
    if problems:
        raise CheckFailed(problems)
