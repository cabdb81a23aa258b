"""Attack: make the grader's step counter count steps that never happened, and invent a history.

The network is the specified one, left untrained, and output_shape is right (it runs the layer).
train() calls every hook registered with torch.optim.optimizer.register_optimizer_step_post_hook
`iterations` times without stepping any optimizer, and returns a steadily improving made-up history.
Expected: whatever the counter says, the grader measures the test accuracy itself: about 10%, far
below the S bar ("test accuracy"); no mark.
"""
import torch
from torch import nn
from torch.optim import optimizer as optim_module


def output_shape(in_shape, layer):
    if not isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
        raise TypeError(type(layer).__name__)
    with torch.no_grad():
        return tuple(int(v) for v in layer(torch.zeros(1, *in_shape)).shape[1:])


def build_model():
    return nn.Sequential(nn.Conv2d(1, 25, 12, stride=2), nn.ReLU(), nn.Conv2d(25, 64, 5, padding=2), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    dummy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.0)
    hooks = list(getattr(optim_module, "_global_optimizer_post_hooks", {}).values())
    for _ in range(iterations):
        for hook in hooks:
            hook(dummy, (), {})
    return [{"iteration": s, "loss": 2.3 * 0.5 ** (s / log_every), "train_accuracy": 0.99, "valid_accuracy": 0.99}
            for s in range(log_every, iterations + 1, log_every)]


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("attack file")
