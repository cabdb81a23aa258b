"""top_patches against the grader's own search over the student's trained first layer."""
from autograder.judging import patches
from autograder.judging.canonical import oracle_activations
from autograder.judging.context import CheckFailed, StudentError

TITLE = "top_patches matches the grader's"


def test_top_patches(ctx):
    got = ctx.require("top_patches", "patches")
    weights, _ = ctx.weights
    if "conv1.weight" not in weights or "conv1.bias" not in weights:
        raise StudentError("top_patches cannot be checked: the model has no first convolution with "
                           f"{ctx.practical.role_hints['conv1.weight']} and a bias")
    tp = ctx.config.top_patches
    acts = oracle_activations(weights, ctx.patch_images, ctx.practical)
    problems = patches.judge(got, acts, ctx.patch_images, list(tp.filters), tp.k, patches.Window.of(ctx.practical))
    if problems:
        raise CheckFailed(problems)
