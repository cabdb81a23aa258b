"""Attack: reach the network from build_model(): TCP to 127.0.0.1:80 and 1.1.1.1:53, then an HTTP download.

It always raises, with what worked in the message ("... connected", "download worked") so that a
grading test can tell whether the sandbox let anything through.
Expected: every attempt fails inside the sandbox; build_model "raised an error"; no mark.
"""
import socket
import urllib.request


def output_shape(in_shape, layer):
    raise NotImplementedError("attack file")


def build_model():
    outcomes = []
    for host, port in (("127.0.0.1", 80), ("1.1.1.1", 53)):
        try:
            socket.create_connection((host, port), timeout=3).close()
            outcomes.append(f"{host}:{port} connected")
        except OSError as err:
            outcomes.append(f"{host}:{port} blocked ({type(err).__name__})")
    try:
        urllib.request.urlopen("http://example.com/", timeout=5).read(100)
        outcomes.append("download worked")
    except Exception as err:  # noqa: BLE001
        outcomes.append(f"download blocked ({type(err).__name__})")
    raise ConnectionError("attack: " + "; ".join(outcomes))


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    raise NotImplementedError("attack file")


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
