"""How an evaluation runs fast: the exact speed-ups it always uses, and the options that may change a number.

Always on, because each leaves every logit and every input gradient bit for bit as the plain computation gives
them (the tests compare robench with pyautoattack's ``run_standard_evaluation`` example for example):

- input gradients only: while a model is attacked its parameters do not require gradients, so no backward
  pass computes weight gradients that nobody reads (FAB calls ``.backward()``, which otherwise computes them);
- inference mode for the forwards that only classify: the clean pass, the check after every stage, Square's
  queries, the targets of a transfer matrix.

Options, off by default, that can change a number (so a result records them, and a resumed run must use the
same): ``compile`` (torch.compile: fused kernels round differently from eager ones), and the CUDA-only
``channels_last`` and ``amp`` (half-precision autocast).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Iterator

import torch
from torch import nn

from robench.errors import RobenchError

EXACT_SPEEDUPS = ("input-gradients-only", "inference-mode-classification")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class SpeedOptions:
    """The speed options that can change a number; all off is the exact computation."""

    compile: bool = False
    channels_last: bool = False
    amp: str | None = None  # "bf16" or "fp16"

    def check(self, device: torch.device) -> None:
        if self.amp is not None and self.amp not in AMP_DTYPES:
            raise RobenchError(f"unknown mixed precision {self.amp!r}", hint=f"use one of: {', '.join(AMP_DTYPES)}")
        cuda_only = [name for name, on in (("channels_last", self.channels_last), ("amp", self.amp)) if on]
        if cuda_only and device.type != "cuda":
            raise RobenchError(f"{' and '.join(cuda_only)} {'is a' if len(cuda_only) == 1 else 'are'} CUDA "
                               f"option{'s' if len(cuda_only) > 1 else ''}, but the device is {device}",
                               hint="drop the option, or evaluate on a GPU (--device cuda)")

    @property
    def changes_numbers(self) -> dict:
        """The options in use, each of which can change a number (empty: the exact computation)."""
        return {key: value for key, value in asdict(self).items() if value}

    def to_record(self) -> dict:
        return {**asdict(self), "exact": list(EXACT_SPEEDUPS)}

    @classmethod
    def from_record(cls, record: dict | None) -> SpeedOptions:
        """The options a record's ``settings.speed`` names (none for a record from before they existed)."""
        return cls(**{key: value for key, value in (record or {}).items() if key in cls.__dataclass_fields__})


class _Accelerated(nn.Module):
    """The model as the CUDA options run it: channels_last inputs, autocast, float32 logits out."""

    def __init__(self, model: nn.Module, options: SpeedOptions):
        super().__init__()
        self.model, self.options = model, options

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.options.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if self.options.amp is None:
            return self.model(x)
        with torch.autocast(x.device.type, dtype=AMP_DTYPES[self.options.amp]):
            return self.model(x).float()


@contextmanager
def attack_ready(model: nn.Module, options: SpeedOptions, device: torch.device) -> Iterator[nn.Module]:
    """``model`` as the attacks call it under ``options``; its parameters require no gradients (and a
    channels_last option keeps its weights in that layout) only for the duration."""
    options.check(device)
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    if options.channels_last:
        model.to(memory_format=torch.channels_last)
    try:
        run = _Accelerated(model, options) if options.channels_last or options.amp else model
        # dynamic: the attacks shrink their batches as points fall (APGD-T's targets, Square's queries); one graph
        # with a symbolic batch size, rather than a compilation per size until dynamo's limit turns it off
        yield torch.compile(run, dynamic=True) if options.compile else run
    finally:
        if options.channels_last:
            model.to(memory_format=torch.contiguous_format)
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


class InferenceForward(nn.Module):
    """The model for an attack that only queries it (Square): each query runs in inference mode, which skips
    autograd's bookkeeping; the logits come back as an ordinary tensor, since the attack edits them in place."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled():
            return self.model(x)
        with torch.inference_mode():
            logits = self.model(x)
        return logits.clone()
