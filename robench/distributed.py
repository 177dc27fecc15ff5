"""Devices and processes: the one device resolution every part uses, and the ``torchrun`` process group that
evaluation and training share (each rank on its own GPU; outcomes gathered to all ranks, so numbers never depend
on how many processes computed them)."""

from __future__ import annotations

import atexit
import os

import torch
import torch.distributed as dist

from robench.errors import RobenchError


def init_from_env() -> tuple[int, int]:
    """(rank, world size); joins the process group torchrun describes in the environment, if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        # a group left to the interpreter's teardown can abort the process (gloo's threads are still joinable)
        atexit.register(_leave)
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a torch.device. None means the GPU torchrun gave this process (``LOCAL_RANK``), else cuda
    when available, else cpu."""
    if device is None:
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", torch.cuda.current_device())))
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        raise RobenchError(f"unknown device {device!r}", hint="use cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RobenchError(f"device {resolved} was requested but no GPU is visible to torch", hint="use --device cpu")
    return resolved


def gather(obj, world: int) -> list:
    if world == 1:
        return [obj]
    out = [None] * world
    dist.all_gather_object(out, obj)
    return out
