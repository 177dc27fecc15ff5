"""Splits as in-memory uint8 tensors: loading (decode once, then cache), subsets and evaluation batches."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

from robench.data.cache import cache_file, content_hash, read_cache, read_meta, write_cache
from robench.data.datasets import DatasetSpec, get_dataset
from robench.data.download import download as download_split
from robench.data.sources import Source, data_roots, find_source
from robench.errors import RobenchError

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class TensorSplit:
    """A whole split in memory: ``images`` uint8 [N, C, H, W] and ``labels`` int64 [N] on the CPU.

    ``sha256`` is the hash of the content (images and labels), so it identifies the data exactly wherever it
    was read from; ``source`` is the path it was read from.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]
    dataset: str
    split: str
    source: str
    sha256: str

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def official_size(self) -> int:
        return get_dataset(self.dataset).split_sizes[self.split]

    @property
    def partial(self) -> bool:
        """True for a sample of the split (e.g. 500 ImageNet validation images), not the whole of it."""
        return len(self) < self.official_size

    def subset(self, indices: torch.Tensor) -> TensorSplit:
        """The images at ``indices`` (in that order), hashed as :func:`subset_hash` so the subset is traceable."""
        indices = _check_indices(self, indices)
        return TensorSplit(take(self.images, indices), self.labels.index_select(0, indices), self.classes,
                           self.dataset, self.split, self.source, subset_hash(self, indices))  # fmt: skip


@dataclass(frozen=True)
class PreparedSplit:
    """What :func:`prepare_split` did: the split, its cache file (None if it could not be written), and whether
    it was decoded from the source files (False: read from the cache)."""

    split: TensorSplit
    cache_file: Path | None
    decoded: bool
    seconds: float


def locate(
    dataset: str, split: str = "test", data_dir: str | os.PathLike | None = None, download: bool = False
) -> Source:
    """Where ``split`` of ``dataset`` is on disk, downloading it first if asked and missing."""
    spec = get_dataset(dataset)
    split = spec.resolve_split(split)
    try:
        return find_source(spec, split, data_dir)
    except RobenchError:
        if not download:
            raise
    download_split(spec, split, data_roots(data_dir)[0])
    return find_source(spec, split, data_dir)


def prepare_split(
    dataset: str,
    split: str = "test",
    data_dir: str | os.PathLike | None = None,
    download: bool = False,
    workers: int | None = None,
) -> PreparedSplit:
    """Load a split from the cache, or decode it from its source files and cache it."""
    start = time.perf_counter()
    source = locate(dataset, split, data_dir, download)
    spec, split = source.spec, source.split
    path = cache_file(spec.name, split, source.fingerprint)
    cached = read_cache(path)
    if cached is not None:
        images, labels, meta = cached
        _check(spec, split, source, images, labels)
        result = TensorSplit(images, labels, source.scan.classes, spec.name, split, str(source.path), meta["sha256"])
        _warn_if_partial(result)
        return PreparedSplit(result, path, False, time.perf_counter() - start)

    _logger.info("decoding %s %s from %s", spec.name, split, source.path)
    images_np, labels_np = source.read(workers)
    images, labels = torch.from_numpy(images_np), torch.from_numpy(labels_np)
    _check(spec, split, source, images, labels)
    result = TensorSplit(images, labels, source.scan.classes, spec.name, split, str(source.path),
                         content_hash(images, labels))  # fmt: skip
    meta = {
        "dataset": spec.name,
        "split": split,
        "classes": json.dumps(result.classes),
        "sha256": result.sha256,
        "n_images": str(len(result)),
        "layout": source.layout.name,
        "key": source.fingerprint,
    }
    try:
        write_cache(path, images, labels, meta)
    except (OSError, RobenchError) as err:  # an unwritable cache costs a decode next time, never the run
        _logger.warning("could not cache %s %s at %s (%s): it will be decoded again next time", spec.name, split,
                        path, err)  # fmt: skip
        path = None
    _warn_if_partial(result)
    return PreparedSplit(result, path, True, time.perf_counter() - start)


def load_split(
    dataset: str, split: str = "test", data_dir: str | os.PathLike | None = None, download: bool = False
) -> TensorSplit:
    """A whole split as uint8 tensors, decoded once and then read from the cache.

    ``dataset`` is a name or alias (``cifar10``, ``tiny-imagenet``, ...); ``split`` is ``train`` or ``test``
    (Tiny-ImageNet's and ImageNet's ``test`` is their labelled validation set). Data are looked for under
    ``data_dir``, ``$ROBENCH_DATA`` and ``~/.cache/robench/data``; ``download=True`` fetches missing data.
    """
    return prepare_split(dataset, split, data_dir, download).split


@dataclass(frozen=True)
class SplitStatus:
    """Whether a split is on disk (``where``), how many images it has, whether it is cached, or what is wrong."""

    dataset: str
    split: str
    where: Path | None
    n_images: int | None
    cache_file: Path | None
    problem: str | None = None


def split_status(dataset: str, split: str, data_dir: str | os.PathLike | None = None) -> SplitStatus:
    """Look a split up without decoding it (for ``robench data info``)."""
    spec = get_dataset(dataset)
    split = spec.resolve_split(split)
    try:
        source = locate(spec.name, split, data_dir)
    except RobenchError as err:
        return SplitStatus(spec.name, split, None, None, None, err.message)
    try:
        path = cache_file(spec.name, split, source.fingerprint)
        meta = read_meta(path)
        if meta is not None and "n_images" in meta:
            return SplitStatus(spec.name, split, source.path, int(meta["n_images"]), path)
        return SplitStatus(spec.name, split, source.path, source.count(), None)
    except RobenchError as err:
        return SplitStatus(spec.name, split, source.path, None, None, err.message)


def _check(spec: DatasetSpec, split: str, source: Source, images: torch.Tensor, labels: torch.Tensor) -> None:
    n = images.shape[0]
    problem = None
    if n == 0:
        problem = "holds no images"
    elif tuple(images.shape[1:]) != spec.image_size or images.dtype != torch.uint8:
        problem = f"decoded to {images.dtype} images of shape {tuple(images.shape[1:])}, expected {spec.image_size}"
    elif labels.shape != (n,):
        problem = f"has {labels.shape[0]} labels for {n} images"
    elif labels.min() < 0 or labels.max() >= spec.num_classes:
        problem = f"has labels outside [0, {spec.num_classes})"
    elif n > spec.split_sizes[split]:
        problem = f"has {n:,} images, more than the official {spec.split_sizes[split]:,}"
    if problem:
        raise RobenchError(f"{spec.name} {split} at {source.path} {problem}", hint="re-extract or re-download it")


def _warn_if_partial(split: TensorSplit) -> None:
    if split.partial:
        _logger.warning("%s %s at %s holds %d of the official %d images", split.dataset, split.split, split.source,
                        len(split), split.official_size)  # fmt: skip


def select_subset(n_total: int, n_examples: int | None, seed: int = 0) -> torch.Tensor:
    """Indices of ``n_examples`` of ``n_total`` examples, chosen by ``seed``, in ascending order.

    ``None`` means all, in order. Example ``i`` is ranked by ``sha256(f"{seed}:{i}")`` and the first
    ``n_examples`` are taken, so the choice does not depend on any library's random generator and the subset
    of ``n`` is contained in the subset of ``m > n`` for the same seed.
    """
    if n_examples is None:
        return torch.arange(n_total, dtype=torch.int64)
    if not 0 < n_examples <= n_total:
        raise RobenchError(
            f"cannot select {n_examples} examples from a split of {n_total}",
            hint=f"use --n-examples between 1 and {n_total}, or omit it for the whole split",
        )
    ranked = sorted(range(n_total), key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).digest())
    return torch.tensor(sorted(ranked[:n_examples]), dtype=torch.int64)


def subset_hash(split: TensorSplit, indices: torch.Tensor) -> str:
    """sha256 over the split's content hash and the indices: the same images in the same order, the same hash."""
    digest = hashlib.sha256(split.sha256.encode())
    digest.update(torch.as_tensor(indices, dtype=torch.int64).contiguous().numpy().astype("<i8").data)
    return digest.hexdigest()


def _check_indices(split: TensorSplit, indices: torch.Tensor) -> torch.Tensor:
    indices = torch.as_tensor(indices, dtype=torch.int64).reshape(-1)
    if len(indices) and (indices.min() < 0 or indices.max() >= len(split)):
        raise RobenchError(
            f"subset indices fall outside {split.dataset} {split.split} (0..{len(split) - 1})",
            hint="build indices with select_subset(len(split), n, seed)",
        )
    return indices


def take(images: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """``images[idx]``, copying whole rows as 8-byte words when it can: on the CPU, ``index_select`` on uint8
    copies byte by byte and is several times slower."""
    row = math.prod(images.shape[1:])
    if images.dtype == torch.uint8 and images.is_contiguous() and row % 8 == 0 and images.storage_offset() % 8 == 0:
        words = images.view(len(images), row).view(torch.int64).index_select(0, idx)
        return words.view(torch.uint8).view(len(idx), *images.shape[1:])
    return images.index_select(0, idx)


def to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a CPU tensor to ``device``; through pinned memory for CUDA so the copy is asynchronous."""
    if device.type == "cuda":
        x = x.pin_memory()
    return x.to(device, non_blocking=True)


def iter_batches(
    split: TensorSplit, indices: torch.Tensor, batch_size: int, device: str | torch.device = "cpu"
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Evaluation batches ``(x, y, idx)`` over ``indices`` in order: ``x`` float in [0, 1] on ``device``, no
    augmentation; ``idx`` are the split indices of the batch (on the CPU)."""
    if batch_size < 1:
        raise RobenchError(f"batch size must be positive, got {batch_size}", hint="e.g. --batch-size 128")
    device = torch.device(device)
    indices = _check_indices(split, indices)
    for start in range(0, len(indices), batch_size):
        idx = indices[start : start + batch_size]
        x = to_device(take(split.images, idx), device)
        y = to_device(split.labels.index_select(0, idx), device)
        yield x.float().div_(255), y, idx
