"""Layers every zoo model shares: input normalisation inside the model, so attacks always work on [0,1] inputs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from robench.errors import RobenchError

Stats = Sequence[float] | None  # per-channel mean or std; None: no normalisation


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, or the identity when ``mean`` and ``std`` are None.

    The statistics are non-persistent buffers: they follow ``.to(device)`` and ``.half()`` but never appear in a
    state_dict, so checkpoints keep the original authors' key layout.
    """

    def __init__(self, mean: Stats = None, std: Stats = None):
        super().__init__()
        if (mean is None) != (std is None):
            raise RobenchError("normalisation needs both mean and std, or neither", "pass mean=None, std=None for none")
        self.enabled = mean is not None
        if self.enabled:
            if len(mean) != len(std) or any(s <= 0 for s in std):
                raise RobenchError(
                    f"bad normalisation statistics mean={mean}, std={std}",
                    "give one positive std per channel, as many as means",
                )
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std if self.enabled else x

    def extra_repr(self) -> str:
        if not self.enabled:
            return "identity"
        mean, std = ([round(v, 4) for v in t.flatten().tolist()] for t in (self.mean, self.std))
        return f"mean={mean}, std={std}"


class NormalizedInput:
    """Mixin for a network class taken from timm or torchvision: normalise the [0,1] input, then run the
    library's forward. The subclass sets ``self.normalize`` after the library's ``__init__``."""

    normalize: Normalize

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.normalize(x))

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        """(logits, aux_logits): no auxiliary head here."""
        return self.forward(x), None
