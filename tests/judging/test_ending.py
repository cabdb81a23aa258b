"""The messages said when a run ends early, for the practical (the cause at the top of the feedback) and for
the challenge (why it earned no badge): one decision of which limit stopped the run (judging/ending.py), in
each track's words. The words are pinned: the students' feedback quotes them."""
import signal

import pytest

from autograder.judging.ending import challenge_end, practical_end
from autograder.practical.config import Limits
from autograder.sandbox.isolation import Outcome

PHASES = {"import": 60, "output_shape": 30, "build_model": 30, "model_io": 30, "inspect": 60, "evaluate": 60,
          "top_patches": 60}
PRACTICAL = Limits(120, 120, 8192, 64, 2048, PHASES, 20)
CHALLENGE = Limits(240, 480, 8192, 64, 2048, PHASES, 20)
STEPS, CAP = 100, 300  # the practical's iterations; the challenge's step budget (its time cap: CHALLENGE's wall)

CASES = [  # (last phase in the results, the outcome, the practical's words, the challenge's)
    ("train", dict(returncode=0, stderr="MemoryError"), "memory limit: your code ran out of its 8192 MB, during "
     "train()", "crashed: it ran out of its 8192 MB of memory, during train() on the challenge model"),
    ("train", dict(returncode=-9), "your code ended early (killed by signal 9) during train(): do not exit or kill "
     "the process", "crashed: the process ended early (killed by signal 9) during train() on the challenge model"),
    ("evaluate", dict(returncode=128 + signal.SIGXCPU), "CPU time limit: your code used more than 120 s of CPU, "
     "during the forward pass on the test images", "crashed: it used more than its 480 s of CPU time, during the "
     "challenge model's forward pass on the test images"),
    ("train", dict(returncode=-9, output_exceeded=True), "output limit: your code printed more than 2048 KB and was "
     "stopped, during train(); print less (a line every log_every iterations is plenty)", "crashed: it printed "
     "more than 2048 KB and was stopped, during train() on the challenge model"),
    ("build_model", dict(returncode=-9, timed_out=True), "time limit: your code was stopped after 120 s, during "
     "build_model()", "over the time cap: the challenge run (importing cnn.py, build_challenge_model(), train() "
     "for up to 300 steps, the test images) took more than its 240 s on the grading machine, and was stopped "
     "during build_challenge_model()"),
    ("import", dict(returncode=-9, phase_timeout="import"), "time limit: importing cnn.py took more than its 60 s "
     "and was stopped; importing cnn.py should take seconds: put any code that trains, downloads, plots or waits "
     "at the top level under `if __name__ == \"__main__\":`", "over time: importing cnn.py took more than its 60 s "
     "and was stopped"),
    ("inspect", dict(returncode=-9, phase_timeout="inspect", phase_starved=True), "regrade: the machine was too "
     "busy: the forward pass on the probe images took more than its 60 s, while waiting for a CPU at least half "
     "as long as it ran; this is not a problem with your code, and it will be graded again", "over time: inspect "
     "took more than its 60 s and was stopped; the machine was busy at the time (it waited for a CPU at least "
     "half as long as it ran), so ask for a regrade"),
    ("train", dict(returncode=-9, timed_out=True, stopped_in_training="hang", idle_s=7.0, progress={"steps": 42}),
     "time limit: train() was stopped after 7 s without using any CPU, having made 42 of 100 optimizer steps: it "
     "seems stuck waiting (a sleep, input(), a lock, a DataLoader worker); check that nothing in train() waits "
     "for something that never comes", "stuck: train() used no CPU for 7 s on the challenge model and was "
     "stopped, during train() on the challenge model"),
    ("done", dict(returncode=0), None, None),
    # the practical judges results that reach the end even if a phase's budget ran out as it ended
    ("done", dict(returncode=-9, phase_timeout="top_patches"), None,
     "over time: top_patches took more than its 60 s and was stopped"),
]


@pytest.mark.parametrize("phase, outcome, practical, challenge", CASES)
def test_each_track_says_why_its_run_ended(phase, outcome, practical, challenge):
    ended = Outcome(**outcome)
    assert practical_end(ended, phase, PRACTICAL, STEPS) == practical
    assert challenge_end(ended, phase, CHALLENGE, CAP, CHALLENGE.wall_seconds) == challenge
