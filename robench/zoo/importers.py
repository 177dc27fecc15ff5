"""Import the original authors' checkpoints into zoo models, strictly, and export zoo models back to them.

Reading is safe: :mod:`robench.zoo.safe_pickle` rebuilds the tensors and turns every other pickled object (RobNets'
``lr_scheduler`` object, a numpy scalar, anything a ``__reduce__`` names) into an inert placeholder, so nothing the
file names is imported or run. Accepted forms: a bare state_dict or ``{'state_dict': ..., 'epoch': ...,
'optimizer': ...}``; keys all carrying the ``module.`` prefix of (Distributed)DataParallel saves;
``auxiliary_head.*`` tensors, dropped when the model is built without the head; RobNet's SVHN checkpoints, whose
classifier has 100 rows, sliced to the 10 digit classes; state_dicts written before PyTorch 0.4.1 (DARTS pins
0.3.1), which have no BatchNorm ``num_batches_tracked``; floating-point tensors of another precision than the
model's, converted to it. Each adaptation is logged. Anything else that differs, and any NaN or infinite value,
is an error naming the keys; nothing is loaded partially.
"""

from __future__ import annotations

import logging
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from robench.errors import RobenchError
from robench.zoo import safe_pickle
from robench.zoo.factory import create_model

log = logging.getLogger(__name__)

AUX_PREFIX = "auxiliary_head."
PARALLEL_PREFIX = "module."
BATCHES_TRACKED = "num_batches_tracked"


@dataclass(frozen=True)
class OriginalLayout:
    """How an original code base saves one model and how its evaluation script reads it back.

    ``auxiliary``: the authors' network has an auxiliary head (their key layout includes it); ``wrapped``: the
    state_dict is saved as ``{'state_dict': ...}``; ``prefix``: the key prefix of DataParallel saves; ``source``:
    which script writes such files; ``evaluation``: the script that reads them, which at its defaults builds the
    network without the auxiliary head and loads strictly, so :func:`export_original` writes no head by default.
    """

    name: str
    architecture: str
    dataset: str
    auxiliary: bool
    wrapped: bool
    prefix: str
    source: str
    evaluation: str


_DARTS_TEST = "test.py: raw state_dict into the network built without --auxiliary"
_PGD_ATTACK = "eval/pgd_attack.py: checkpoint['state_dict'] into the network built without --auxiliary"
_ROBNET_EVAL = "main.py --eval_only: checkpoint['state_dict']"

ORIGINAL_LAYOUTS: dict[str, OriginalLayout] = {
    layout.name: layout
    for layout in (
        OriginalLayout("darts_v1", "darts_v1", "cifar10", True, False, "",
                       "quark0/darts, nas-robustness: raw state_dict", f"quark0/darts cnn/{_DARTS_TEST}"),
        OriginalLayout("darts_v2", "darts_v2", "cifar10", True, False, "",
                       "quark0/darts, nas-robustness: raw state_dict", f"quark0/darts cnn/{_DARTS_TEST}"),
        OriginalLayout("pdarts", "pdarts", "cifar10", True, False, "",
                       "chenxin061/pdarts, nas-robustness: raw state_dict", f"chenxin061/pdarts {_DARTS_TEST}"),
        OriginalLayout("pcdarts", "pc_darts", "cifar10", True, False, "",
                       "nas-robustness: raw state_dict", f"yuhuixu1993/PC-DARTS {_DARTS_TEST}"),
        OriginalLayout("racl", "racl", "cifar10", True, True, "",
                       "AdvRush code: {'epoch', 'state_dict', 'optimizer'}", f"nutellamok/advrush {_PGD_ATTACK}"),
        OriginalLayout("advrush", "advrush", "cifar10", True, True, "",
                       "nutellamok/advrush adv_train.py (no --auxiliary in its README): {'epoch', 'state_dict', "
                       "'optimizer'}", f"nutellamok/advrush {_PGD_ATTACK}"),
        OriginalLayout("arnas", "arnas", "cifar10", True, True, "",
                       "fyqsama/ARNAS adv_train.py (auxiliary on): {'epoch', 'state_dict', 'optimizer'}",
                       f"fyqsama/ARNAS ARNAS_train_eval/{_PGD_ATTACK}"),
        OriginalLayout("arnas_tiny", "arnas", "tiny-imagenet", True, False, PARALLEL_PREFIX,
                       "fyqsama/ARNAS Tiny-ImageNet: raw state_dict saved from nn.DataParallel",
                       "none released: the DataParallel-wrapped network, built without the head, loading strictly"),
        OriginalLayout("robnet_large", "robnet_large", "cifar10", False, True, "",
                       "gmh14/RobNets main.py: {'epoch', 'best_acc', 'optimizer', 'state_dict', 'scheduler'}",
                       f"gmh14/RobNets {_ROBNET_EVAL}"),
        OriginalLayout("robnet_large_v2", "robnet_large_v2", "cifar10", False, True, "",
                       "gmh14/RobNets main.py: {'epoch', 'best_acc', 'optimizer', 'state_dict', 'scheduler'}",
                       f"gmh14/RobNets {_ROBNET_EVAL}"),
        OriginalLayout("robnet_free", "robnet_free", "cifar10", False, True, "",
                       "gmh14/RobNets main.py: {'epoch', 'best_acc', 'optimizer', 'state_dict', 'scheduler'}",
                       f"gmh14/RobNets {_ROBNET_EVAL}"),
    )
}  # fmt: skip


def get_layout(name: str) -> OriginalLayout:
    if name not in ORIGINAL_LAYOUTS:
        raise RobenchError(f"unknown original layout {name!r}", f"known layouts: {', '.join(ORIGINAL_LAYOUTS)}")
    return ORIGINAL_LAYOUTS[name]


def model_for_layout(name: str) -> nn.Module:
    """A zoo model whose state_dict has exactly the keys and shapes of the original layout ``name``."""
    layout = get_layout(name)
    return create_model(layout.architecture, layout.dataset, **({"auxiliary": True} if layout.auxiliary else {}))


def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict in an original checkpoint file. Only tensors are rebuilt: every other object the file pickles
    becomes an inert placeholder, and nothing it names is imported or run (logged when there were any)."""
    path = Path(path)
    if not path.is_file():
        raise RobenchError(f"checkpoint not found: {path}", "check the path")
    replaced: set[str] = set()
    try:
        # torch warns about the pickled classes' source code, which is never looked at here
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            obj = torch.load(
                path, map_location="cpu", weights_only=False, pickle_module=safe_pickle, replaced=replaced
            )
    except Exception as err:  # a damaged pickle can fail in any of its opcodes' constructors
        raise RobenchError(
            f"cannot read {path} as a PyTorch checkpoint ({type(err).__name__}: {_first_line(err)})",
            "the file may be truncated or not a checkpoint at all (e.g. a download's HTML error page); fetch it again",
        ) from None
    state = unwrap_state_dict(obj, str(path), replaced)
    if replaced:
        log.info(
            "importing checkpoint: %s also pickles %s; kept as inert placeholders (not imported, not run)",
            path,
            ", ".join(sorted(replaced)),
        )
    return state


def _first_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else "no detail"


def unwrap_state_dict(
    obj: Any, origin: str = "checkpoint", replaced: set[str] = frozenset()
) -> dict[str, torch.Tensor]:
    """A bare state_dict, or the ``'state_dict'`` entry of a training checkpoint. ``replaced`` names the pickled
    classes read as placeholders, for the error message."""
    if isinstance(obj, Mapping) and "state_dict" in obj:
        obj = obj["state_dict"]
    if (
        not isinstance(obj, Mapping)
        or not obj
        or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    ):
        if replaced:
            raise RobenchError(
                f"{origin} is neither a state_dict nor a dict with a 'state_dict' entry; it pickles "
                f"{', '.join(sorted(replaced))}, which robench neither imported nor ran",
                "never open this file with torch.load(weights_only=False): opened that way, it would run the code it names",
            )
        raise RobenchError(
            f"{origin} is neither a state_dict nor a dict with a 'state_dict' entry",
            "save the weights with torch.save(model.state_dict(), path)",
        )
    return dict(obj)


def adapt_state_dict(
    model: nn.Module, state_dict: Mapping[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The documented adaptations of an original state_dict to ``model``; returns it and what was done.
    Raises RobenchError for what no adaptation may hide: a ``module.`` prefix on only some keys, NaN or infinite
    values, a floating-point tensor where the model holds integers."""
    notes = []
    state = dict(state_dict)
    prefixed = [k for k in state if k.startswith(PARALLEL_PREFIX)]
    if prefixed and len(prefixed) < len(state):
        bare = [k for k in state if not k.startswith(PARALLEL_PREFIX)]
        raise RobenchError(
            f"checkpoint mixes keys with and without the '{PARALLEL_PREFIX}' prefix ({len(prefixed)} with, e.g. "
            f"{prefixed[0]}; {len(bare)} without: {_listing(bare)})",
            "a DataParallel save prefixes every key: the file was assembled from two models or edited by hand",
        )
    if prefixed:
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
    expected = model.state_dict()
    notes += _fill_batches_tracked(expected, state)
    notes += _match_precision(expected, state)
    _check_finite(state)
    return state, notes


def _fill_batches_tracked(expected: Mapping[str, torch.Tensor], state: dict) -> list[str]:
    """PyTorch before 0.4.1 had no BatchNorm ``num_batches_tracked``, and its strict load_state_dict took the other
    keys alone. Such a file lacks that buffer in every BatchNorm and nowhere else: then each is set to 0 (what
    today's BatchNorm does for a version-1 state_dict; eval-mode outputs never read it). A file lacking it in only
    some layers was not written that way and is left to the strict check."""
    tracked = [k for k in expected if k.rsplit(".", 1)[-1] == BATCHES_TRACKED]
    if not tracked or any(k in state for k in tracked):
        return []
    for key in tracked:
        state[key] = torch.zeros_like(expected[key])
    note = f"set {BATCHES_TRACKED} to 0 in all {len(tracked)} BatchNorm layers (a state_dict from before PyTorch 0.4.1)"
    return [note]


def _match_precision(expected: Mapping[str, torch.Tensor], state: dict) -> list[str]:
    """Floating-point tensors saved in another precision are converted to the model's, and said so; a floating
    tensor where the model keeps integers (or the reverse) is a real mismatch."""
    converted: dict[tuple[torch.dtype, torch.dtype], int] = {}
    wrong = []
    for key, value in state.items():
        target = expected.get(key)
        if target is None or value.dtype == target.dtype:
            continue
        if value.is_floating_point() and target.is_floating_point():
            state[key] = value.to(target.dtype)
            converted[(value.dtype, target.dtype)] = converted.get((value.dtype, target.dtype), 0) + 1
        else:
            wrong.append(f"{key} ({value.dtype}, model {target.dtype})")
    if wrong:
        raise RobenchError(
            f"checkpoint tensors of another kind than the model's: {_listing(wrong, 3)}",
            "the file holds other data than these weights: check the architecture and the file",
        )
    return [
        f"converted {count} {str(src).removeprefix('torch.')} tensors to {str(dst).removeprefix('torch.')}"
        f"{' (rounded to the model precision)' if torch.finfo(src).bits > torch.finfo(dst).bits else ''}"
        for (src, dst), count in converted.items()
    ]


def _check_finite(state: Mapping[str, torch.Tensor]) -> None:
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise RobenchError(
            f"checkpoint holds NaN or infinite values in {len(bad)} tensors: {_listing(bad)}",
            "the weights are broken (training diverged, or float64 values beyond float32's range): use another "
            "checkpoint",
        )


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
    Returns the adaptations made (prefix stripped, auxiliary head dropped, head sliced, BatchNorm counters set,
    precision converted), each also logged."""
    state = read_checkpoint(source) if isinstance(source, (str, Path)) else unwrap_state_dict(source)
    state, notes = adapt_state_dict(model, state)
    check_state_dict(model, state)
    model.load_state_dict(state, strict=True)
    for note in notes:
        log.info("importing checkpoint: %s", note)
    return notes


def export_original(
    model: nn.Module, layout: str, path: str | Path | None = None, auxiliary: bool = False
) -> dict[str, Any]:
    """The checkpoint object the authors' evaluation script (``OriginalLayout.evaluation``) loads at its defaults:
    their key layout, wrapping and prefix, without the auxiliary head, which none of those scripts builds unless
    told to. ``auxiliary=True`` writes the head too (DARTS' README command ``test.py --auxiliary``, nas-robustness's
    scripts), from a model built with it. Written to ``path`` when given, in the pre-1.6 serialisation that the
    authors' PyTorch versions (0.3.1 to 1.2) read as well as today's."""
    spec = get_layout(layout)
    cfg = getattr(model, "robench_cfg", None)
    if cfg is None or cfg.architecture != spec.architecture:
        found = cfg.architecture if cfg is not None else type(model).__name__
        raise RobenchError(
            f"the {layout} layout is for {spec.architecture} models, got {found}",
            f"build the model with create_model({spec.architecture!r}, ...)",
        )
    has_aux = getattr(model, "auxiliary_head", None) is not None
    if auxiliary and not (spec.auxiliary and has_aux):
        raise RobenchError(
            f"cannot write the auxiliary head in the {layout} layout: "
            + ("the model has none" if spec.auxiliary else "the authors' network has none"),
            "build the model with auxiliary=True and load weights that include the head"
            if spec.auxiliary
            else "export without auxiliary=True",
        )
    state = OrderedDict(
        (spec.prefix + k, v) for k, v in model.state_dict().items() if auxiliary or not k.startswith(AUX_PREFIX)
    )
    if has_aux and not auxiliary:
        log.info("exporting %s: the auxiliary head is left out (%s)", layout, spec.evaluation)
    obj: dict[str, Any] = {"state_dict": state} if spec.wrapped else state
    if path is not None:
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    return obj
