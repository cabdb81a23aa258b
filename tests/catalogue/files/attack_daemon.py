"""Attack: leave a daemon behind that outlives the grading (double fork + setsid at import).

The grandchild is in a new session, so it belongs neither to the child's process group nor to its
children. It renames itself "cnn-grader-dmn" (see /proc/PID/comm), keeps the inherited stdout and
stderr open, sleeps 20 s and then writes its pid to MARKER. The module itself is a stub.
Expected: the grader kills it with the rest of the sandbox and is not held up by the open pipes; the
marker never appears and no "cnn-grader-dmn" process survives; "is not implemented yet"; no mark.
"""
import ctypes
import os
import time

MARKER = "/tmp/cnn-grader-daemon-attack_daemon"

_pid = os.fork()
if _pid == 0:
    os.setsid()
    if os.fork() == 0:
        try:
            ctypes.CDLL(None).prctl(15, b"cnn-grader-dmn", 0, 0, 0)  # PR_SET_NAME
        except Exception:  # noqa: BLE001
            pass
        time.sleep(20)
        with open(MARKER, "w") as fh:
            fh.write(str(os.getpid()))
    os._exit(0)
os.waitpid(_pid, 0)


def output_shape(in_shape, layer):
    raise NotImplementedError("output_shape is not written yet")


def build_model():
    raise NotImplementedError("build_model is not written yet")


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    raise NotImplementedError("train is not written yet")


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("top_patches is not written yet")
