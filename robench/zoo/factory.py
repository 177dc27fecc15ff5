"""Build and describe zoo models: ``create_model``, ``info``, ``count_parameters`` (loading is
:mod:`robench.zoo.loading`'s)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

from torch import nn

from robench.errors import RobenchError
from robench.zoo.config import ModelConfig
from robench.data.datasets import DATASETS
from robench.zoo.registry import ModelEntry, get_entry
from robench.zoo.reported import Reported


def _jsonable(value: Any) -> Any:
    if hasattr(value, "to_str"):  # a genotype
        return value.to_str()
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    return value


def create_model(name: str, dataset: str = "cifar10", **overrides: Any) -> nn.Module:
    """A freshly initialised zoo model for ``dataset``, with ``overrides`` of its entry point's arguments
    (e.g. ``C=16, layers=8``, ``genotype="darts:..."``, ``mean=None, std=None``). The model carries
    ``model.robench_cfg``; ``create_model(cfg.architecture, dataset=cfg.dataset, **cfg.model_args)`` rebuilds it."""
    entry = get_entry(name)
    dataset = entry.check_dataset(dataset)
    unknown = sorted(set(overrides) - set(entry.parameters))
    if unknown:
        weights = " (weights come from zoo.load, not create_model)" if "pretrained" in unknown else ""
        raise RobenchError(
            f"{entry.name} does not take {', '.join(unknown)}{weights}",
            f"{entry.name} takes: {', '.join(entry.parameters)}",
        )
    # Every argument, defaults included, goes into model_args: a rebuild must not depend on today's defaults.
    bound = inspect.signature(entry.builder).bind(**{**entry.default_args(dataset), **overrides})
    bound.apply_defaults()
    kwargs = dict(bound.arguments)
    try:
        model = entry.builder(**kwargs)
    except TypeError as err:  # a wrongly typed override, e.g. layers="8"
        raise RobenchError(f"cannot build {entry.name} with {overrides}: {err}", "check the argument types") from None
    genotype = getattr(model, "genotype", None)
    model_args = {k: _jsonable(v) for k, v in kwargs.items()}
    if genotype is not None:
        model_args["genotype"] = genotype.to_str()
    num_classes = kwargs.get("num_classes", DATASETS[dataset].num_classes)
    img_size = kwargs.get("img_size", DATASETS[dataset].image_size[1])
    model.robench_cfg = ModelConfig(
        architecture=entry.name,
        dataset=dataset,
        num_classes=num_classes,
        input_size=(3, img_size, img_size),
        mean=kwargs.get("mean"),
        std=kwargs.get("std"),
        model_args=model_args,
        genotype=None if genotype is None else genotype.to_str(),
        arch_id=None if genotype is None else genotype.arch_id,
        family=entry.family,
        paper=entry.paper,
    )
    return model


def count_parameters(model: nn.Module, include_auxiliary: bool = False) -> int:
    """Trainable parameters; the auxiliary head is excluded unless asked for (DARTS' convention)."""
    return sum(
        p.numel() for n, p in model.named_parameters() if include_auxiliary or not n.startswith("auxiliary_head.")
    )


@dataclass(frozen=True)
class ModelInfo:
    """What ``robench info`` shows: the entry's facts and the parameter counts of the built model."""

    name: str
    description: str
    family: str
    paper: str
    licence: str
    dataset: str
    datasets: tuple[str, ...]
    aliases: tuple[str, ...]
    num_params: int  # auxiliary head excluded
    num_params_auxiliary_head: int | None  # None when the architecture has no auxiliary head
    num_params_100_classes: int | None  # RobNet: the papers' sizes match a 100-way classifier
    genotype: str | None
    arch_id: str | None
    mean: tuple[float, ...] | None
    std: tuple[float, ...] | None
    normalization_source: str | None  # the authors' file the default constants come from
    model_args: dict[str, Any]
    reported: tuple[Reported, ...]
    pretrained_datasets: tuple[str, ...]


def info(name: str, dataset: str | None = None) -> ModelInfo:
    """Facts about a zoo model for ``dataset`` (default: its first configured data set), counting parameters by
    building it."""
    entry = get_entry(name)
    dataset = entry.check_dataset(dataset) if dataset is not None else next(iter(entry.datasets))
    model = create_model(entry.name, dataset)
    cfg: ModelConfig = model.robench_cfg
    normalization = entry.normalization_for(dataset)
    aux = None
    if entry.has_auxiliary_head:
        aux = count_parameters(
            create_model(entry.name, dataset, auxiliary=True), include_auxiliary=True
        ) - count_parameters(model)
    return ModelInfo(
        name=entry.name,
        description=entry.description,
        family=entry.family,
        paper=entry.paper,
        licence=entry.licence,
        dataset=dataset,
        datasets=tuple(entry.datasets),
        aliases=entry.aliases,
        num_params=count_parameters(model),
        num_params_auxiliary_head=aux,
        num_params_100_classes=_params_with_100_classes(entry, dataset, model),
        genotype=cfg.genotype,
        arch_id=cfg.arch_id,
        mean=cfg.mean,
        std=cfg.std,
        normalization_source=None if normalization is None else normalization.source,
        model_args=dict(cfg.model_args),
        reported=entry.reported,
        pretrained_datasets=entry.pretrained_datasets,
    )


def _params_with_100_classes(entry: ModelEntry, dataset: str, model: nn.Module) -> int | None:
    if entry.family != "robnet":
        return None
    if model.robench_cfg.num_classes == 100:
        return count_parameters(model)
    return count_parameters(create_model(entry.name, dataset, num_classes=100))
