"""Benchmark data: data set specs and threat models, locating and caching splits, and tensor pipelines.

>>> split = load_split("cifar10", "test")
>>> idx = select_subset(len(split), 1000, seed=0)
>>> for x, y, i in iter_batches(split, idx, batch_size=200, device="cpu"): ...

The table of data sets is plain Python; the loaders import torch and load on first use, so that what only
reads the table (the leaderboard, the CLI) stays light.
"""

from __future__ import annotations

import importlib

from robench.data.datasets import (
    DATASETS,
    DatasetSpec,
    Normalization,
    ThreatModel,
    get_dataset,
    list_datasets,
    parse_eps,
    parse_norm,
)

_LAZY = {
    **dict.fromkeys(("NO_AUGMENT", "Augment", "TrainLoader"), "robench.data.loader"),
    "data_roots": "robench.data.sources",
    **dict.fromkeys(("PreparedSplit", "SplitStatus", "TensorSplit", "iter_batches", "load_split", "prepare_split",
                     "select_subset", "split_status", "subset_hash"), "robench.data.split"),  # fmt: skip
}

__all__ = sorted(["DATASETS", "DatasetSpec", "Normalization", "ThreatModel", "get_dataset", "list_datasets",
                  "parse_eps", "parse_norm", *_LAZY])  # fmt: skip


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'robench.data' has no attribute {name!r}")
