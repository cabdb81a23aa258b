"""train() runs for exactly `iterations` steps and logs a sensible history every `log_every`."""
import math

from autograder.judging.context import CheckFailed, StudentError

TITLE = "train() runs as specified"

KEYS = ("iteration", "loss", "train_accuracy", "valid_accuracy")


def test_training(ctx):
    history = ctx.require("train", "history")
    cfg = ctx.config.training
    classes = ctx.practical.classes
    chance = math.log(classes)  # cross-entropy of a uniform guess
    problems = []
    steps = ctx.res.get("optimizer_steps", 0)
    if steps != cfg.iterations:
        problems.append(f"train(iterations={cfg.iterations}) made {steps} optimizer steps, expected "
                        f"{cfg.iterations}: run exactly `iterations` minibatch updates")
    entries = [h for h in history if isinstance(h, dict)]
    if len(entries) != len(history):
        problems.append("the history must be a list of dicts")
    missing = sorted({k for h in entries for k in KEYS if k not in h})
    if missing:
        problems.append(f"history entries lack {', '.join(missing)}; each needs {', '.join(KEYS)}")
    wanted = list(range(cfg.log_every, cfg.iterations + 1, cfg.log_every))
    got = [h.get("iteration") for h in entries]
    if [g for g in got if g != 0] != wanted:
        show = got if len(got) <= 12 else got[:5] + ["..."] + got[-3:]
        problems.append(f"history has entries at iterations {show}, expected {wanted[:3] + ['...'] + wanted[-1:]}"
                        f" (one every log_every={cfg.log_every})")
    losses = [h.get("loss") for h in entries]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in losses):
        problems.append(f"the losses are not finite numbers: {losses[:6]}; lower the learning rate, "
                        "and use the logits with nn.CrossEntropyLoss")
    elif len(losses) >= 2:
        # Logged losses are single minibatches, so noisy. Ask for clear learning (well below chance in the
        # second half) and no clear rise; once training has converged near zero, noise alone can make
        # the second half's mean exceed the first's, so a rise counts only above 0.5.
        half = len(losses) // 2
        first, last = sum(losses[:half]) / half, sum(losses[half:]) / (len(losses) - half)
        if last >= 0.9 * chance:
            problems.append(f"the loss does not go down: mean {last:.4g} over the second half of the history "
                            f"(guessing among {classes} classes gives {chance:.3f}; first half: {first:.4g})")
        elif last > 1.5 * first and last > 0.5:
            problems.append(f"the loss goes up: mean {first:.4g} over the first half of the history, {last:.4g} "
                            "over the second; lower the learning rate")
    for key in ("train_accuracy", "valid_accuracy"):
        values = [h.get(key) for h in entries]
        if not all(isinstance(v, (int, float)) and 0 <= v <= 1 for v in values):
            problems.append(f"{key} must be fractions in [0, 1]; got {values[:6]}")
    try:
        if ctx.provenance.trained_elsewhere:
            problems.insert(0, ctx.provenance.message())
    except StudentError:
        pass  # no predictions to compare: the accuracy checks say why
    if problems:
        raise CheckFailed(problems)
