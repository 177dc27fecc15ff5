"""A pickle module for ``torch.load`` that rebuilds tensors and nothing else.

The authors' training scripts pickle whatever they hold next to the weights: RobNets' ``main.py`` saves its
``lr_scheduler.CosineLRScheduler`` object, others a numpy scalar or an argparse namespace. ``torch.load`` with
``weights_only=True`` refuses such files, and ``weights_only=False`` would import RobNets' module and run whatever
the file names. This unpickler resolves a fixed table of torch's tensor and storage rebuild functions (plus
``OrderedDict``, the container of every state_dict, and torch's dtypes); every other global the file names becomes
a :class:`Placeholder` subclass that records what was named and the arguments it was given, and does nothing else.
No name from the file is ever imported, looked up or called.

    replaced = set()
    obj = torch.load(path, map_location="cpu", weights_only=False, pickle_module=safe_pickle, replaced=replaced)
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from typing import Any

import torch
import torch._utils

# The only globals a file can make the unpickler produce. Storage classes never reach find_class: torch.load's own
# wrapper turns every "...Storage" name into its inert StorageType marker first.
_REBUILD = {
    ("collections", "OrderedDict"): OrderedDict,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): torch._utils._rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
}
_DTYPES = {("torch", str(dtype).removeprefix("torch.")): dtype for dtype in vars(torch).values()
           if isinstance(dtype, torch.dtype)}  # fmt: skip


class Placeholder:
    """Stands for an object of a class the file names (``qualname``) that was not rebuilt: it keeps the
    arguments, state and items the pickle gave it, so nothing is lost, and has no behaviour of its own."""

    qualname = "?"

    def __new__(cls, *args: Any, **kwargs: Any) -> Placeholder:
        obj = super().__new__(cls)
        obj.args, obj.kwargs, obj.state, obj.items = args, kwargs, None, []
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.items.append((key, value))

    def append(self, value: Any) -> None:
        self.items.append(value)

    def extend(self, values: Any) -> None:
        self.items.extend(values)

    def __repr__(self) -> str:
        return f"<{self.qualname}, not loaded>"


class Unpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose globals come only from the rebuild table; ``replaced`` collects the names of
    every other global the file mentioned."""

    def __init__(self, file, *, replaced: set[str] | None = None, **kwargs: Any):
        super().__init__(file, **kwargs)
        self.replaced = set() if replaced is None else replaced
        self._placeholders: dict[str, type[Placeholder]] = {}

    def find_class(self, module: str, name: str) -> Any:
        found = _REBUILD.get((module, name), _DTYPES.get((module, name)))
        if found is not None:
            return found
        qualname = f"{module}.{name}"
        self.replaced.add(qualname)
        if qualname not in self._placeholders:
            self._placeholders[qualname] = type("Placeholder", (Placeholder,), {"qualname": qualname})
        return self._placeholders[qualname]


def load(file, *, replaced: set[str] | None = None, **kwargs: Any) -> Any:
    """``pickle.load`` through :class:`Unpickler` (torch.load calls it for the legacy format's headers)."""
    return Unpickler(file, replaced=replaced, **kwargs).load()
