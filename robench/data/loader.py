"""Training batches straight from a uint8 split: shuffling and augmentation on tensors, on the device.

Every random draw comes from a generator seeded from ``(seed, epoch)``, so any epoch can be replayed on its
own, which is what resuming a training run needs.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from robench.data.split import TensorSplit, take, to_device
from robench.errors import RobenchError


def crop_flip(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Zero-pad by ``padding`` and crop back to the input size at a random offset per image, then mirror each
    image left-right with probability 1/2 (if ``flip``): torchvision's RandomCrop + RandomHorizontalFlip, done as
    gathers over the whole batch."""
    b, c, h, w = x.shape
    rows = torch.arange(h, device=x.device).expand(b, h)
    cols = torch.arange(w, device=x.device).expand(b, w)
    if padding:
        x = F.pad(x, (padding, padding, padding, padding))
        rows = rows + torch.randint(0, 2 * padding + 1, (b, 1), generator=generator, device=x.device)
        cols = cols + torch.randint(0, 2 * padding + 1, (b, 1), generator=generator, device=x.device)
        x = x.gather(2, rows[:, None, :, None].expand(b, c, h, x.shape[3]))
    if flip:
        mirrored = torch.rand(b, 1, generator=generator, device=x.device) < 0.5
        cols = torch.where(mirrored, cols.flip(1), cols)
    return x.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def cutout(x: torch.Tensor, size: int, generator: torch.Generator) -> torch.Tensor:
    """Zero a ``size`` x ``size`` square (clipped at the border) centred at a random pixel of each image."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b, 1), generator=generator, device=x.device)
    cx = torch.randint(0, w, (b, 1), generator=generator, device=x.device)
    ys, xs = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    in_rows = (ys >= cy - size // 2) & (ys < cy + size // 2)
    in_cols = (xs >= cx - size // 2) & (xs < cx + size // 2)
    return x.masked_fill((in_rows[:, :, None] & in_cols[:, None, :])[:, None], 0)


@dataclass(frozen=True)
class Augment:
    """Standard CIFAR training augmentation: random crop with ``crop_padding`` (0: none), horizontal flip, and
    cutout of side ``cutout`` (0: none; DARTS, ARNAS and RobNet-large-v1 use 16). Applied in that order."""

    crop_padding: int = 4
    flip: bool = True
    cutout: int = 0

    def __call__(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.crop_padding or self.flip:
            x = crop_flip(x, self.crop_padding, self.flip, generator)
        if self.cutout:
            x = cutout(x, self.cutout, generator)
        return x


NO_AUGMENT = Augment(crop_padding=0, flip=False, cutout=0)


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any parts, e.g. ``(seed, epoch, "order")``: independent streams per purpose."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little") >> 1


class TrainLoader:
    """Shuffled (or, with ``shuffle=False``, in-order), augmented epochs over a :class:`TensorSplit`, yielding
    ``(x, y)`` with ``x`` float in [0, 1].

    Iterating runs epoch ``loader.epoch`` and then advances it; ``set_epoch(k)`` makes the next iteration
    epoch ``k``, identical to epoch ``k`` of an uninterrupted run.
    """

    def __init__(
        self,
        split: TensorSplit,
        batch_size: int,
        device: str | torch.device = "cpu",
        augment: Augment = Augment(),
        seed: int = 0,
        drop_last: bool = True,
        shuffle: bool = True,
    ):
        if batch_size < 1 or (drop_last and batch_size > len(split)):
            raise RobenchError(
                f"batch size {batch_size} does not fit {split.dataset} {split.split} ({len(split)} images)",
                hint=f"use a batch size between 1 and {len(split)}",
            )
        self.split = split
        self.batch_size = batch_size
        self.device = torch.device(device)
        self.augment = augment
        self.seed = seed
        self.drop_last = drop_last
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.split)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        order_generator = torch.Generator().manual_seed(derive_seed(self.seed, epoch, "order"))
        n = len(self.split)
        order = torch.randperm(n, generator=order_generator) if self.shuffle else torch.arange(n)
        generator = torch.Generator(device=self.device).manual_seed(derive_seed(self.seed, epoch, "augment"))
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            x = to_device(take(self.split.images, idx), self.device)
            y = to_device(self.split.labels.index_select(0, idx), self.device)
            yield self.augment(x, generator).float().div_(255), y
