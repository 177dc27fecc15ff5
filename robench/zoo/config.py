"""The configuration every zoo model carries as ``model.robench_cfg``: enough to rebuild, cite and evaluate it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True)
class ModelConfig:
    """What a zoo model is. ``create_model(architecture, dataset=dataset, **model_args)`` rebuilds the same
    architecture; ``model_args`` is JSON-serialisable (the genotype goes in as its canonical string).
    ``mean``/``std`` are the normalisation inside the model (None: inputs are used as they are, in [0,1])."""

    architecture: str
    dataset: str
    num_classes: int
    input_size: tuple[int, int, int]
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    model_args: Mapping[str, Any] = field(hash=False)
    genotype: str | None
    arch_id: str | None
    family: str
    paper: str

    def __post_init__(self) -> None:
        # A deep copy through JSON both freezes the arguments and proves they serialise.
        object.__setattr__(self, "model_args", MappingProxyType(json.loads(json.dumps(dict(self.model_args)))))
        object.__setattr__(self, "input_size", tuple(self.input_size))
        for name in ("mean", "std"):
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None else tuple(float(v) for v in value))

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["model_args"] = json.loads(json.dumps(dict(self.model_args)))
        out["input_size"] = list(self.input_size)
        out["mean"] = None if self.mean is None else list(self.mean)
        out["std"] = None if self.std is None else list(self.std)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})

    def __reduce__(self):
        # through the plain dict, so models carrying the config can be deep-copied and pickled
        return (type(self).from_dict, (self.to_dict(),))
