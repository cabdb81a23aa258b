"""build_model() gives a module that maps a batch of the spec's input shape to one logit per class."""
from autograder.judging.context import CheckFailed

TITLE = "Model maps (B, {input}) to (B, {classes})"


def test_model_io(ctx):
    shapes = ctx.require("model_io", "model_io")
    image, classes = ", ".join(map(str, ctx.practical.input)), ctx.practical.classes
    problems = [f"for an input of shape ({b}, {image}) the model returned {got}, expected [{b}, {classes}]"
                for b, got in sorted(shapes.items()) if got != [b, classes]]
    if problems:
        raise CheckFailed(problems)
