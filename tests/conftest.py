"""Shared fixtures: the real data root, and no network."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _data_root() -> Path | None:
    for candidate in (os.environ.get("ROBENCH_DATA"), REPO / ".data"):
        if candidate and Path(candidate, "cifar10").is_dir():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real benchmark data (unpacked from ../shared/data by .ci/run); tests needing it skip without it."""
    root = _data_root()
    if root is None:
        pytest.skip("real data not found: set ROBENCH_DATA or run `../shared/tools/prepare-data .data`")
    return root


@pytest.fixture(scope="session", autouse=True)
def _offline_hub():
    """Keep tests off the network: the Hub is never reached from a test by accident (tests that need a Hub
    start their own server on 127.0.0.1 and say so)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    yield


@pytest.fixture(scope="session")
def tiny(data_root, tmp_path_factory):
    """A small CNN trained for seconds on real CIFAR-10 (tests/tiny_model.py), and its saved weights."""
    import sys

    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from tiny_model import train_tiny_cnn

    model = train_tiny_cnn(data_root)
    weights = tmp_path_factory.mktemp("tiny") / "tiny.pt"
    torch.save(model.state_dict(), weights)
    return model, weights
