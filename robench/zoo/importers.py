"""Import the original authors' checkpoints into zoo models, strictly, and export zoo models back to them.

Reading is safe (``torch.load(weights_only=True)``: tensors only, never arbitrary pickled objects). Accepted
forms: a bare state_dict or ``{'state_dict': ..., 'epoch': ..., 'optimizer': ...}``; keys with the ``module.``
prefix of (Distributed)DataParallel saves; ``auxiliary_head.*`` tensors, dropped when the model is built without
the head; RobNet's SVHN checkpoints, whose classifier has 100 rows, sliced to the 10 digit classes. Anything
else that differs is an error naming the missing, unexpected and mis-shaped keys; nothing is loaded partially.
"""

from __future__ import annotations

import logging
import pickle
import re
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robench.errors import RobenchError

log = logging.getLogger(__name__)

AUX_PREFIX = "auxiliary_head."
PARALLEL_PREFIX = "module."
_UNSAFE_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


@dataclass(frozen=True)
class OriginalLayout:
    """How an original code base saves one model: which zoo architecture and data set it is, whether the
    network carries the auxiliary head, whether the state_dict is wrapped as ``{'state_dict': ...}``, and the key
    prefix of DataParallel saves."""

    name: str
    architecture: str
    dataset: str
    auxiliary: bool
    wrapped: bool
    prefix: str
    source: str


ORIGINAL_LAYOUTS: dict[str, OriginalLayout] = {
    layout.name: layout
    for layout in (
        OriginalLayout(
            "darts_v1", "darts_v1", "cifar10", True, False, "", "quark0/darts, nas-robustness: raw state_dict"
        ),
        OriginalLayout(
            "darts_v2", "darts_v2", "cifar10", True, False, "", "quark0/darts, nas-robustness: raw state_dict"
        ),
        OriginalLayout(
            "pdarts", "pdarts", "cifar10", True, False, "", "chenxin061/pdarts, nas-robustness: raw state_dict"
        ),
        OriginalLayout("pcdarts", "pc_darts", "cifar10", True, False, "", "nas-robustness: raw state_dict"),
        OriginalLayout("racl", "racl", "cifar10", True, True, "", "AdvRush code: {'epoch', 'state_dict', 'optimizer'}"),
        OriginalLayout(
            "advrush", "advrush", "cifar10", True, True, "", "nutellamok/advrush: {'epoch', 'state_dict', 'optimizer'}"
        ),
        OriginalLayout(
            "arnas", "arnas", "cifar10", True, True, "", "fyqsama/ARNAS: {'epoch', 'state_dict', 'optimizer'}"
        ),
        OriginalLayout(
            "arnas_tiny",
            "arnas",
            "tiny-imagenet",
            True,
            False,
            PARALLEL_PREFIX,
            "fyqsama/ARNAS Tiny-ImageNet: raw state_dict saved from nn.DataParallel",
        ),
        OriginalLayout(
            "robnet_large", "robnet_large", "cifar10", False, True, "", "gmh14/RobNets: {'state_dict', ...}"
        ),
        OriginalLayout(
            "robnet_large_v2", "robnet_large_v2", "cifar10", False, True, "", "gmh14/RobNets: {'state_dict', ...}"
        ),
        OriginalLayout("robnet_free", "robnet_free", "cifar10", False, True, "", "gmh14/RobNets: {'state_dict', ...}"),
    )
}


def get_layout(name: str) -> OriginalLayout:
    if name not in ORIGINAL_LAYOUTS:
        raise RobenchError(f"unknown original layout {name!r}", f"known layouts: {', '.join(ORIGINAL_LAYOUTS)}")
    return ORIGINAL_LAYOUTS[name]


def model_for_layout(name: str) -> nn.Module:
    """A zoo model whose state_dict has exactly the keys and shapes of the original layout ``name``."""
    from robench.zoo.factory import create_model

    layout = get_layout(name)
    return create_model(layout.architecture, layout.dataset, **({"auxiliary": True} if layout.auxiliary else {}))


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict in an original checkpoint file, read without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise RobenchError(f"checkpoint not found: {path}", "check the path")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as err:
        found = _UNSAFE_GLOBAL.search(str(err))
        if found:  # e.g. a pickled lr scheduler next to the weights, as RobNet's training script saves
            raise RobenchError(
                f"{path} holds pickled Python objects besides tensors ({found.group(1)})",
                "robench loads tensors only; in an environment you trust, extract the weights once: "
                "torch.save(torch.load(p, weights_only=False)['state_dict'], 'weights.pth')",
            ) from None
        raise RobenchError(
            f"cannot read {path} as a PyTorch checkpoint ({type(err).__name__})",
            "the file may be truncated or not a checkpoint at all (e.g. a download's HTML error page); fetch it again",
        ) from None
    return unwrap_state_dict(obj, str(path))


def unwrap_state_dict(obj: Any, origin: str = "checkpoint") -> dict[str, torch.Tensor]:
    """A bare state_dict, or the ``'state_dict'`` entry of a training checkpoint."""
    if isinstance(obj, Mapping) and "state_dict" in obj:
        obj = obj["state_dict"]
    if (
        not isinstance(obj, Mapping)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        raise RobenchError(
            f"{origin} is neither a state_dict nor a dict with a 'state_dict' entry",
            "save the weights with torch.save(model.state_dict(), path)",
        )
    return dict(obj)


def adapt_state_dict(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The documented, lossless adaptations of an original state_dict to ``model``; returns it and what was done."""
    notes = []
    state = dict(state_dict)
    if any(k.startswith(PARALLEL_PREFIX) for k in state):
        state = {k.removeprefix(PARALLEL_PREFIX): v for k, v in state.items()}
        notes.append(f"stripped the '{PARALLEL_PREFIX}' prefix")
    aux = [k for k in state if k.startswith(AUX_PREFIX)]
    if aux and getattr(model, "auxiliary_head", None) is None:
        state = {k: v for k, v in state.items() if not k.startswith(AUX_PREFIX)}
        notes.append(f"dropped {len(aux)} auxiliary-head tensors (the model is built without the head)")
    cfg = getattr(model, "robench_cfg", None)
    if cfg is not None and cfg.family == "robnet" and cfg.dataset == "svhn":
        # RobNet's SVHN configs trained a 100-way head until 2020-08-23 (RobNets issues #5/#6); rows 0-9 are the digits.
        for key in ("classifier.weight", "classifier.bias"):
            if key in state and state[key].shape[0] == 100 and cfg.num_classes == 10:
                state[key] = state[key][:10].clone()
                notes.append(f"sliced {key} from 100 to 10 classes")
    return state, notes


def _listing(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def check_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """RobenchError naming every missing, unexpected and mis-shaped key, unless ``state_dict`` fits exactly."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    shapes = [
        f"{k} (checkpoint {list(state_dict[k].shape)}, model {list(v.shape)})"
        for k, v in expected.items()
        if k in state_dict and state_dict[k].shape != v.shape
    ]
    if not (missing or unexpected or shapes):
        return
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: {_listing(unexpected)}")
    if shapes:
        problems.append(f"{len(shapes)} with another shape: {_listing(shapes, 3)}")
    cfg = getattr(model, "robench_cfg", None)
    target = f"{cfg.architecture} ({cfg.dataset})" if cfg is not None else type(model).__name__
    raise RobenchError(
        f"checkpoint does not match {target}: " + "; ".join(problems),
        "check the architecture, the data set (number of classes) and the arguments (C, layers, genotype, auxiliary) "
        "the checkpoint was trained with",
    )


def load_original(model: nn.Module, source: str | Path | Mapping[str, Any]) -> list[str]:
    """Load an original checkpoint (a path, or an already loaded object) into ``model``, strictly.
    Returns the adaptations made (prefix stripped, auxiliary head dropped, head sliced)."""
    state = read_checkpoint(source) if isinstance(source, (str, Path)) else unwrap_state_dict(source)
    state, notes = adapt_state_dict(model, state)
    check_state_dict(model, state)
    model.load_state_dict(state, strict=True)
    for note in notes:
        log.info("importing checkpoint: %s", note)
    return notes


def export_original(model: nn.Module, layout: str, path: str | Path | None = None) -> dict[str, Any]:
    """The checkpoint object the original code reads for ``model`` (its key layout, wrapping and prefix);
    also written to ``path`` with ``torch.save`` when given."""
    spec = get_layout(layout)
    cfg = getattr(model, "robench_cfg", None)
    if cfg is None or cfg.architecture != spec.architecture:
        found = cfg.architecture if cfg is not None else type(model).__name__
        raise RobenchError(
            f"the {layout} layout is for {spec.architecture} models, got {found}",
            f"build the model with create_model({spec.architecture!r}, ...)",
        )
    has_aux = getattr(model, "auxiliary_head", None) is not None
    if has_aux != spec.auxiliary:
        raise RobenchError(
            f"the {layout} layout {'carries' if spec.auxiliary else 'has no'} an auxiliary head, the model "
            f"{'has one' if has_aux else 'does not'}",
            f"build the model with auxiliary={spec.auxiliary}",
        )
    state = OrderedDict((spec.prefix + k, v) for k, v in model.state_dict().items())
    obj: dict[str, Any] = {"state_dict": state} if spec.wrapped else state
    if path is not None:
        torch.save(obj, path)
    return obj
