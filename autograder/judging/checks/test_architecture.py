"""The network as specified, judged by behaviour: the student's weights in the grader's own network."""
from autograder.judging.context import CheckFailed

TITLE = "Architecture as specified"


def test_architecture(ctx):
    problems = ctx.architecture_problems
    if problems:
        raise CheckFailed(problems)
