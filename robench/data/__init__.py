"""Benchmark data: data set specs and threat models, locating and caching splits, and tensor pipelines.

>>> split = load_split("cifar10", "test")
>>> idx = select_subset(len(split), 1000, seed=0)
>>> for x, y, i in iter_batches(split, idx, batch_size=200, device="cpu"): ...
"""

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
from robench.data.loader import NO_AUGMENT, Augment, TrainLoader
from robench.data.sources import data_roots
from robench.data.split import (
    PreparedSplit,
    SplitStatus,
    TensorSplit,
    iter_batches,
    load_split,
    prepare_split,
    select_subset,
    split_status,
    subset_hash,
)

__all__ = [
    "DATASETS",
    "NO_AUGMENT",
    "Augment",
    "DatasetSpec",
    "Normalization",
    "PreparedSplit",
    "SplitStatus",
    "TensorSplit",
    "ThreatModel",
    "TrainLoader",
    "data_roots",
    "get_dataset",
    "iter_batches",
    "list_datasets",
    "load_split",
    "parse_eps",
    "parse_norm",
    "prepare_split",
    "select_subset",
    "split_status",
    "subset_hash",
]
