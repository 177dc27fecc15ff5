"""The decoded-split cache: one safetensors file per (data set, split, source files), checked on every read.

A file holds ``images`` (uint8 [N, 3, H, W]) and ``labels`` (int64 [N]); its metadata holds the sha256 of that
content, so a damaged file is detected, reported and rebuilt rather than used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save

from robench.rundir import atomic_write

_logger = logging.getLogger(__name__)

CACHE_FORMAT = "robench-split-v1"
DEFAULT_CACHE_DIR = Path("~/.cache/robench/tensors")


def cache_dir() -> Path:
    """``$ROBENCH_CACHE`` if set, else ``~/.cache/robench/tensors``."""
    return Path(os.environ.get("ROBENCH_CACHE") or DEFAULT_CACHE_DIR).expanduser()


def cache_file(dataset: str, split: str, key: str) -> Path:
    return cache_dir() / f"{dataset}-{split}-{key[:20]}.safetensors"


def content_hash(images: torch.Tensor, labels: torch.Tensor) -> str:
    """sha256 of the shapes and bytes of ``images`` (uint8) and ``labels`` (int64, little-endian)."""
    digest = hashlib.sha256(json.dumps([list(images.shape), list(labels.shape)]).encode())
    digest.update(images.contiguous().numpy().data)
    digest.update(labels.contiguous().numpy().astype("<i8").data)
    return digest.hexdigest()


def write_cache(path: Path, images: torch.Tensor, labels: torch.Tensor, meta: dict[str, str]) -> None:
    """Write atomically (robench.rundir.atomic_write), so a reader never sees a half-written file."""
    tensors = {"images": images.contiguous(), "labels": labels.contiguous()}
    atomic_write(path, save(tensors, metadata={"format": CACHE_FORMAT, **meta}))


def read_meta(path: Path) -> dict[str, str] | None:
    """The metadata of a cache file (no payload read), or None if it is absent or unreadable."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata()
    except (OSError, SafetensorError):
        return None


def read_cache(path: Path) -> tuple[torch.Tensor, torch.Tensor, dict[str, str]] | None:
    """The cached images, labels and metadata after checking their sha256; None if absent or damaged.

    A damaged file is removed with a warning, so the caller rebuilds it.
    """
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            images, labels = f.get_tensor("images"), f.get_tensor("labels")
        problem = None
        if meta.get("format") != CACHE_FORMAT:
            problem = f"unknown format {meta.get('format')!r}"
        elif content_hash(images, labels) != meta.get("sha256"):
            problem = "content does not match its sha256"
    except (OSError, SafetensorError, ValueError, RuntimeError) as err:
        problem = f"unreadable ({err})"
    if problem is None:
        return images, labels, meta
    _logger.warning("cached split %s is damaged: %s; rebuilding it", path, problem)
    path.unlink(missing_ok=True)
    return None
