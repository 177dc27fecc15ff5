"""A small CNN trained for a few seconds on real CIFAR-10: a real, imperfect model for evaluator tests
(an untrained one is broken by every attack and would make equality tests vacuous)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn


class TinyCNN(nn.Module):
    def __init__(self, width: int = 16, num_classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.head = nn.Linear(2 * width * 8 * 8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).flatten(1))


def train_tiny_cnn(data_dir: str | Path, seed: int = 0, n_train: int = 4096, epochs: int = 3) -> TinyCNN:
    from robench.data import load_split

    torch.manual_seed(seed)
    split = load_split("cifar10", "train", data_dir)
    idx = torch.randperm(len(split.labels), generator=torch.Generator().manual_seed(seed))[:n_train]
    x, y = split.images[idx].float() / 255, split.labels[idx]
    model = TinyCNN()
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(epochs):
        for xb, yb in zip(torch.split(x, 128), torch.split(y, 128)):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
    return model.eval()


def load_tiny_cnn(path: str | Path) -> TinyCNN:
    model = TinyCNN()
    model.load_state_dict(torch.load(path, weights_only=True))
    return model.eval()


if __name__ == "__main__":
    # python tests/tiny_model.py WEIGHTS OUT DATA_DIR N BATCH ATTACK...: evaluate with --out (kill/resume and
    # torchrun tests run this as a separate process)
    weights, out, data_dir, n, batch, *attacks = sys.argv[1:]
    from robench.evaluate import evaluate

    torch.set_num_threads(1)
    evaluate(load_tiny_cnn(weights), attacks=attacks, n_examples=int(n), batch_size=int(batch),
             data_dir=data_dir, out=out, checks=False, model_name="tiny-cnn")
