"""output_shape against torch's own answers, on the practical's layers and a few hundred random ones."""
from autograder.judging.context import CheckFailed, StudentError
from autograder.grading.shapes import describe_call

TITLE = "output_shape matches PyTorch"


def test_output_shape(ctx):
    answers = ctx.require("output_shape", "output_shape")
    errors = [a.get("error") for a in answers]
    if answers and all(e and e["type"] == "NotImplementedError" for e in errors):
        raise StudentError(f"output_shape() is not implemented yet: {errors[0]['message']}")
    problems, floats = [], 0
    for case, answer in zip(ctx.cases, answers):
        call = describe_call(case)
        if case["expected"] is None:  # another layer type: TypeError expected
            err = answer.get("error") or {}
            if err.get("type") != "TypeError":
                got = f"raised {err['type']}" if err else f"returned {answer['value'] or answer['got']}"
                problems.append(f"{call} {got}; expected a TypeError (only Conv2d and MaxPool2d are handled)")
            continue
        expected = tuple(case["expected"])
        if answer.get("error"):
            err = answer["error"]
            hint = (" -- it seems to run the layer; compute the shape from the settings instead"
                    if "alloc" in err["message"] or err["type"] == "MemoryError" else "")
            problems.append(f"{call} raised {err['type']}: {err['message'][:200]}; expected {expected}{hint}")
        elif answer.get("value") is None:
            floats += "float" in (answer.get("got") or "")
            problems.append(f"{call} returned {answer['got']}; expected an int tuple {expected}")
        elif tuple(answer["value"]) != expected:
            problems.append(f"{call} returned {tuple(answer['value'])}, expected {expected}")
    if len(answers) != len(ctx.cases):
        problems.append(f"got {len(answers)} answers for {len(ctx.cases)} calls")
    if problems:
        lead = [f"{len(problems)} of {len(ctx.cases)} calls wrong"]
        if floats:
            lead.append("some results are floats, expected an int for each size: use floor division //")
        raise CheckFailed(lead + problems[:5] + (["(more not listed)"] if len(problems) > 5 else []))
