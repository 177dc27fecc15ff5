"""What makes a number traceable: the exact weights, the library versions and the device it came from."""

from __future__ import annotations

import platform
from importlib import metadata

import torch
from torch import nn

from robench.zoo.checkpoint import state_dict_sha256

_LIBRARIES = ("robench", "torch", "torchvision", "torchattacks", "pyautoattack", "timm", "numpy")


def weights_sha256(model: nn.Module) -> str:
    """The weights' identity as result records cite it: the same hash a checkpoint's config.json records."""
    return state_dict_sha256(model.state_dict())


def environment(device: torch.device) -> dict:
    versions = {}
    for lib in _LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = None
    env = {"versions": versions, "python": platform.python_version(), "device": str(device),
           "platform": platform.platform(), "threads": torch.get_num_threads()}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
        env["cudnn"] = torch.backends.cudnn.version()
        env["cudnn_deterministic"] = torch.backends.cudnn.deterministic
    return env
