"""The child's phases, declared once: their order, which of them get a time budget of their own, which
must have run before each, and how the feedback names them. Nothing here imports torch: the config,
the sandbox's watch and the judging all read it.

The child (grading/child.py) runs in the sandbox without this package, so it spells the phases itself;
a test holds its names to these.
"""
from __future__ import annotations

START, IMPORT, OUTPUT_SHAPE, BUILD_MODEL, MODEL_IO = "start", "import", "output_shape", "build_model", "model_io"
TRAIN, INSPECT, EVALUATE, TOP_PATCHES, DONE = "train", "inspect", "evaluate", "top_patches", "done"

ORDER = (START, IMPORT, OUTPUT_SHAPE, BUILD_MODEL, MODEL_IO, TRAIN, INSPECT, EVALUATE, TOP_PATCHES, DONE)  # as run
# Each gets a small time budget of its own (limits.phases); train() gets the wall limit.
BUDGETED = tuple(p for p in ORDER if p not in (START, TRAIN, DONE))
BEFORE_TRAINING = ORDER[:ORDER.index(TRAIN)]  # their results are final before train() starts
# Phases whose error can stop other checks, in the order they run; top_patches() stops only its own check,
# which then says its error in full.
CAUSES = ORDER[:ORDER.index(TOP_PATCHES)]
# The phases that must have run, without error, for a phase's result to exist.
PREREQUISITES = {OUTPUT_SHAPE: (IMPORT,),
                 **{p: (IMPORT, BUILD_MODEL) for p in (MODEL_IO, TRAIN, INSPECT, EVALUATE, TOP_PATCHES)}}
# The challenge's child runs these, with build_challenge_model() in build_model.
CHALLENGE = (IMPORT, BUILD_MODEL, TRAIN, EVALUATE)

# What runs in each phase, as the feedback says it ("... took more than its 60 s", "... raised an error").
WORDS = {START: "start-up", IMPORT: "importing cnn.py", OUTPUT_SHAPE: "output_shape()",
         BUILD_MODEL: "build_model()", MODEL_IO: "the model's forward pass", TRAIN: "train()",
         INSPECT: "the forward pass on the probe images", EVALUATE: "the forward pass on the test images",
         TOP_PATCHES: "top_patches()", DONE: "the end"}
# What a check that a phase's error stopped needs: "not run: needs <this> (see the cause at the top)".
NEEDS = {START: "start-up", IMPORT: "import", OUTPUT_SHAPE: "output_shape()", BUILD_MODEL: "build_model()",
         MODEL_IO: "the forward pass", TRAIN: "train()", INSPECT: "the forward pass",
         EVALUATE: "the forward pass", TOP_PATCHES: "top_patches()"}
CHALLENGE_WORDS = {START: "start-up", IMPORT: "importing cnn.py", BUILD_MODEL: "build_challenge_model()",
                   TRAIN: "train() on the challenge model",
                   EVALUATE: "the challenge model's forward pass on the test images", DONE: "the end"}
