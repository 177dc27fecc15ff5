"""The model registry: a ``@register_model`` decorator on typed entry points, one :class:`ModelEntry` per name.

Names are canonical snake_case (``robnet_free``); dashes, case and the declared aliases resolve to them
(``robnet-free``, ``RobNet-Free``, ``darts`` -> ``darts_v2``). An unknown name is an error that suggests the
closest names, never a guess.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import inspect
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from robench.data.datasets import DATASETS, Normalization, get_dataset
from robench.errors import RobenchError
from robench.zoo.reported import REPORTED, Reported

WEIGHTS_DIR = Path(__file__).with_name("weights")

NORMALIZE_NONE = "none"  # inputs in [0,1] go straight in (adversarially trained RobNet / AdvRush / ARNAS)
NORMALIZE_DATASET = "dataset"  # the data set's constants inside the model (clean-trained networks)
# An entry whose authors normalise some data set with other digits than robench.data's names them per data set:
# register_model(normalization={"cifar100": PDARTS_CIFAR100}) normalises those, and the others as the data set does.


@dataclass(frozen=True)
class ModelEntry:
    """One registered architecture: how to build it per data set, where it comes from, what was reported."""

    name: str
    builder: Callable[..., Any]
    family: str
    paper: str  # citation key of the paper that introduced the architecture
    licence: str  # licence of the original code / weights
    datasets: Mapping[str, Mapping[str, Any]] = field(hash=False)  # data set -> default builder arguments
    normalization: str = NORMALIZE_NONE
    own_normalization: Mapping[str, Normalization] = field(default_factory=dict, hash=False)  # data set -> authors'
    aliases: tuple[str, ...] = ()
    reported: tuple[Reported, ...] = ()
    weights: Mapping[str, str] = field(default_factory=dict, hash=False)  # data set -> packaged weight directory
    description: str = ""
    tag_of: str | None = None  # packaged weights (a tag): the registered architecture they are a variant of

    @property
    def parameters(self) -> tuple[str, ...]:
        """The keyword arguments the entry point accepts."""
        return tuple(inspect.signature(self.builder).parameters)

    @property
    def has_auxiliary_head(self) -> bool:
        return "auxiliary" in self.parameters

    def check_dataset(self, dataset: str) -> str:
        dataset = get_dataset(dataset).name
        if dataset not in self.datasets:
            raise RobenchError(
                f"{self.name} has no {dataset} configuration",
                f"{self.name} is defined for: {', '.join(self.datasets)}",
            )
        return dataset

    def default_args(self, dataset: str) -> dict[str, Any]:
        """Builder arguments for ``dataset`` before user overrides: the data set's classes, image size and
        normalisation (only those the entry point takes), then the entry's own per-data-set settings."""
        dataset = self.check_dataset(dataset)
        spec = DATASETS[dataset]
        normalization = self.normalization_for(dataset)
        args: dict[str, Any] = {
            "num_classes": spec.num_classes,
            "img_size": spec.image_size[1],
            "mean": None if normalization is None else normalization.mean,
            "std": None if normalization is None else normalization.std,
        }
        accepted = self.parameters
        args = {k: v for k, v in args.items() if k in accepted}
        args.update(self.datasets[dataset])
        return args

    def normalization_for(self, dataset: str) -> Normalization | None:
        """The constants the entry normalises ``dataset`` with by default (None: inputs stay in [0, 1])."""
        dataset = self.check_dataset(dataset)
        if self.normalization == NORMALIZE_NONE:
            return None
        return self.own_normalization.get(dataset, DATASETS[dataset].normalization)

    def weights_dir(self, dataset: str) -> Path | None:
        """The packaged checkpoint directory for ``dataset``, when the entry declares one and it is installed."""
        name = self.weights.get(dataset)
        if name is None or not (WEIGHTS_DIR / name).is_dir():
            return None
        return WEIGHTS_DIR / name

    @property
    def pretrained_datasets(self) -> tuple[str, ...]:
        return tuple(d for d in self.datasets if self.weights_dir(d) is not None)


_ENTRIES: dict[str, ModelEntry] = {}
_ALIASES: dict[str, str] = {}


def _key(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


def register_model(
    *,
    family: str,
    paper: str,
    licence: str,
    datasets: Mapping[str, Mapping[str, Any]],
    normalization: str | Mapping[str, Normalization] = NORMALIZE_NONE,
    aliases: tuple[str, ...] = (),
    weights: Mapping[str, str] | None = None,
):
    """Register the decorated entry point under its function name. Reported numbers come from
    :data:`robench.zoo.reported.REPORTED` under the same name. ``normalization`` is NORMALIZE_NONE,
    NORMALIZE_DATASET, or a mapping from data sets to the authors' own constants (the other data sets normalise
    with the data set's)."""
    own: dict[str, Normalization] = {}
    if isinstance(normalization, Mapping):
        own, normalization = dict(normalization), NORMALIZE_DATASET
        if not all(isinstance(v, Normalization) for v in own.values()):
            raise ValueError("per-data-set normalisation must map data sets to Normalization constants")
    if normalization not in (NORMALIZE_NONE, NORMALIZE_DATASET):
        raise ValueError(f"normalization must be {NORMALIZE_NONE!r}, {NORMALIZE_DATASET!r} or a mapping")

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        name = fn.__name__
        for dataset in (*datasets, *own):
            if dataset not in datasets or dataset not in DATASETS:
                raise ValueError(f"{name}: unknown data set {dataset!r}")
        entry = ModelEntry(
            name=name,
            builder=fn,
            family=family,
            paper=paper,
            licence=licence,
            datasets=MappingProxyType({d: MappingProxyType(dict(a)) for d, a in datasets.items()}),
            normalization=normalization,
            own_normalization=MappingProxyType(own),
            aliases=tuple(aliases),
            reported=REPORTED.get(name, ()),
            weights=MappingProxyType(dict(weights or {})),
            description=(inspect.getdoc(fn) or "").split("\n")[0],
        )
        _add(entry)
        return fn

    return decorator


def _add(entry: ModelEntry) -> None:
    if entry.name in _ENTRIES or entry.name in _ALIASES:
        raise ValueError(f"model {entry.name!r} is registered twice")
    _ENTRIES[entry.name] = entry
    for alias in entry.aliases:
        if _key(alias) in _ENTRIES or _key(alias) in _ALIASES:
            raise ValueError(f"alias {alias!r} of {entry.name} is already taken")
        _ALIASES[_key(alias)] = entry.name


def register_weights(name: str, architecture: str, folder: str) -> ModelEntry:
    """Register packaged weights as a tag of ``architecture`` (timm's ``arch.tag``): the checkpoint in
    ``weights/<folder>`` says the data set it was trained on, the builder arguments it was built with (the
    tag's defaults) and how it was trained; ``name`` loads it (``zoo.load(name)``)."""
    base = get_entry(architecture)
    config = json.loads((WEIGHTS_DIR / folder / "config.json").read_text(encoding="utf-8"))
    dataset, args = config["robench"]["dataset"], dict(config["model_args"])
    unknown = sorted(set(args) - set(base.parameters))
    if unknown or dataset not in base.datasets:
        raise ValueError(f"{folder} does not hold a {architecture} for {dataset} (arguments {unknown})")
    own = dict(base.own_normalization)
    if args.get("mean") is not None:
        own[dataset] = Normalization(tuple(args["mean"]), tuple(args["std"]), f"{folder}/config.json")
    defaults = inspect.signature(base.builder).parameters
    changed = ", ".join(f"{k}={v}" for k, v in args.items()
                        if k not in ("genotype", "mean", "std") and v != defaults[k].default)
    training = config["robench"]["metadata"]["training"]["description"]
    entry = dataclasses.replace(
        base, name=name, licence=f"{config['pretrained_cfg']['license']} (robench-trained weights)",
        datasets=MappingProxyType({dataset: MappingProxyType({**base.datasets[dataset], **args})}),
        own_normalization=MappingProxyType(own), aliases=(), reported=(), weights=MappingProxyType({dataset: folder}),
        description=f"{architecture} with {changed}: {training} on {DATASETS[dataset].label} (robench weights)",
        tag_of=architecture,
    )  # fmt: skip
    _add(entry)
    return entry


def canonical_name(name: str) -> str:
    """The registry name for ``name`` (case, dashes and aliases resolved); RobenchError with suggestions if none."""
    key = _key(name)
    if key in _ENTRIES:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, list(_ENTRIES) + list(_ALIASES), n=3, cutoff=0.6)
    close = list(dict.fromkeys(_ALIASES.get(c, c) for c in close))
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    raise RobenchError(f"unknown model {name!r}", f"{hint}`robench list` shows every model name")


def get_entry(name: str) -> ModelEntry:
    return _ENTRIES[canonical_name(name)]


def is_model(name: str) -> bool:
    """True if ``name`` (or an alias of it) is a registered model."""
    key = _key(name)
    return key in _ENTRIES or key in _ALIASES


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registered names matching the fnmatch ``pattern`` (sorted); with ``pretrained``, only those with weights."""
    pattern = _key(pattern)
    names = [n for n, e in _ENTRIES.items() if fnmatch.fnmatchcase(n, pattern)]
    if pretrained:
        names = [n for n in names if _ENTRIES[n].pretrained_datasets]
    return sorted(names)


def entries() -> list[ModelEntry]:
    return [_ENTRIES[n] for n in sorted(_ENTRIES)]
