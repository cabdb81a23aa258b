"""CNN practical: numpy output_shape, layers declared in an unusual order, an epoch-style loop.

The fully connected layers are created before the convolutions (so named_parameters() lists them
first), ReLU and pooling are modules, output_shape works on both axes at once with numpy arrays,
train walks through shuffled epochs and stops after exactly `iterations` steps, and top_patches
gathers all windows at once with advanced indexing.
"""
import numpy as np
import torch
from torch import nn

from assignment.data import as_tensors


def output_shape(in_shape, layer):
    if type(layer) not in (nn.Conv2d, nn.MaxPool2d):
        raise TypeError(f"{type(layer).__name__} is neither Conv2d nor MaxPool2d")
    size = np.array(in_shape[1:])
    k, s, d = (np.broadcast_to(np.array(v), 2) for v in (layer.kernel_size, layer.stride, layer.dilation))
    channels = layer.out_channels if isinstance(layer, nn.Conv2d) else in_shape[0]
    if isinstance(layer.padding, str):
        if layer.padding == "same":
            return (channels, int(size[0]), int(size[1]))
        pad = np.zeros(2, dtype=int)
    else:
        pad = np.broadcast_to(np.array(layer.padding), 2)
    room = size + 2 * pad - d * (k - 1) - 1
    if getattr(layer, "ceil_mode", False):
        out = -(-room // s) + 1
        out = out - ((out - 1) * s >= size + pad)  # the last window has to start inside
    else:
        out = room // s + 1
    return (int(channels), int(out[0]), int(out[1]))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64 * 4 * 4, 1024)
        self.fc2 = nn.Linear(1024, 10)
        self.conv1 = nn.Conv2d(1, 25, kernel_size=12, stride=2)
        self.conv2 = nn.Conv2d(25, 64, kernel_size=5, padding=2)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        x = self.pool(self.relu(self.conv2(self.relu(self.conv1(x)))))
        x = self.drop(self.relu(self.fc1(x.reshape(len(x), -1))))
        return self.fc2(x)


def build_model():
    return Net()


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    images, labels = as_tensors(train_set)
    v_images, v_labels = as_tensors(valid_set)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    criterion = nn.CrossEntropyLoss()
    history, step, hits = [], 0, []
    per_epoch = len(labels) // batch_size
    for epoch in range(-(-iterations // per_epoch)):
        perm = torch.randperm(len(labels))
        for b in range(per_epoch):
            if step == iterations:
                break
            batch = perm[b * batch_size:(b + 1) * batch_size]
            model.train()
            scores = model(images[batch])
            loss = criterion(scores, labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            step += 1
            hits.append((scores.argmax(1) == labels[batch]).float().mean().item())
            if step % log_every == 0:
                model.eval()
                with torch.no_grad():
                    valid = torch.cat([model(v_images[i:i + 2000]).argmax(1) for i in range(0, len(v_labels), 2000)])
                history.append({"iteration": step, "loss": loss.item(), "train_accuracy": float(np.mean(hits)),
                                "valid_accuracy": (valid == v_labels).float().mean().item()})
                hits = []
    return history


def top_patches(model, images, filters, k=12):
    with torch.no_grad():
        acts = torch.relu(model.conv1(images))[:, filters]  # (N, F, 9, 9)
    n, nf, h, w = acts.shape
    best = acts.permute(1, 0, 2, 3).reshape(nf, -1).topk(k, dim=1).indices  # (F, k)
    img, i, j = best // (h * w), (best % (h * w)) // w, best % w
    rows = (2 * i)[..., None] + torch.arange(12)  # (F, k, 12)
    cols = (2 * j)[..., None] + torch.arange(12)
    return images[img[..., None, None], 0, rows[..., :, None], cols[..., None, :]]  # (F, k, 12, 12)
