"""A pipeline's plan: which search, the training recipe for what it finds, the attack suite, where to publish.

A plan comes from a paper's recipe at a scale (:mod:`robench.pipeline.scales`) or from a pipeline file::

    name: advrush_searched_small       # the model's name in its records, its checkpoint and its Hub repo
    dataset: cifar10
    search:   {method: advrush, preset: released, n_train: 5000, settings: {epochs: 6, C: 8, layers: 5}}
    train:    {recipe: advrush-pgd, epochs: 1, model_args: {C: 16, layers: 8}}
    evaluate: {attacks: [pgd20, autoattack], n_examples: 500, seed: 0}
    repo: my-lab/robench-advrush-searched-small-cifar10   # null: not published

:meth:`Plan.resolve` builds every stage's configuration before anything runs, so a typo fails at once, not
after hours of search.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from robench.data import get_dataset
from robench.errors import RobenchError
from robench.evaluate.runner import Protocol
from robench.evaluate.settings import EvalSettings
from robench.search import Search, get_search
from robench.settings import apply_settings
from robench.train import Recipe
from robench.zoo.sources import validate_repo_id


@dataclass(frozen=True)
class SearchStage:
    method: str
    preset: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # fields of the method's configuration
    n_train: int | None = None  # search on the seed-0 subset of this many training images (None: all)


@dataclass(frozen=True)
class TrainStage:
    recipe: str
    epochs: int | None = None  # the recipe over this many epochs, its schedule compressed (None: as published)
    settings: dict[str, Any] = field(default_factory=dict)  # recipe fields
    model_args: dict[str, Any] = field(default_factory=dict)  # width and depth; the genotype is the search's
    n_train: int | None = None


@dataclass(frozen=True)
class EvalStage:
    attacks: tuple[str, ...] = ("pgd20", "autoattack")
    n_examples: int | None = None
    seed: int = 0


@dataclass(frozen=True)
class Plan:
    name: str
    search: SearchStage
    train: TrainStage
    evaluate: EvalStage = EvalStage()
    dataset: str = "cifar10"
    repo: str | None = None
    scale: str | None = None  # the named scale this plan was made at (None: a pipeline file's own budgets)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "the pipeline") -> Plan:
        stages = {"search": SearchStage, "train": TrainStage, "evaluate": EvalStage}
        known = {f.name for f in dataclasses.fields(cls)}
        _refuse_unknown(data, known, where)
        try:
            parts = {key: stages[key](**_checked(value, stages[key], f"{where}: {key}"))
                     for key, value in data.items() if key in stages}  # fmt: skip
            if "evaluate" in parts:
                parts["evaluate"] = dataclasses.replace(parts["evaluate"], attacks=tuple(parts["evaluate"].attacks))
            return cls(**{**data, **parts})
        except TypeError as err:
            raise RobenchError(f"{where} is incomplete ({err})",
                               hint="a pipeline needs name, search (method) and train (recipe)") from None

    @classmethod
    def read(cls, path: str | Path) -> Plan:
        path = Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
            raise RobenchError(f"cannot read the pipeline file {path} ({str(err).splitlines()[0]})",
                               hint="a pipeline file is YAML with name, search, train, evaluate and repo") from None
        if not isinstance(data, dict):
            raise RobenchError(f"{path} is not a pipeline file (no mapping at its top)",
                               hint="start it with `name:`, `search:` and `train:`")  # fmt: skip
        return cls.from_dict(data, where=str(path))

    def search_class(self) -> type[Search]:
        return get_search(self.search.method)

    def search_config(self) -> Any:
        search = self.search_class()
        return apply_settings(search.preset(self.search.preset), _texts(self.search.settings),
                              f"{search.method} search")  # fmt: skip

    def recipe(self) -> Recipe:
        recipe = Recipe.from_preset(self.train.recipe)
        if self.train.epochs is not None:
            recipe = recipe.shortened(self.train.epochs)
        return recipe.with_settings(_texts(self.train.settings))

    def eval_settings(self) -> EvalSettings:
        return EvalSettings(dataset=self.dataset, attacks=self.evaluate.attacks, n_examples=self.evaluate.n_examples,
                            seed=self.evaluate.seed)  # fmt: skip

    def protocol(self) -> Protocol:
        return Protocol.of(self.eval_settings())

    def resolve(self) -> Plan:
        """Check every stage's settings (data set, search configuration, recipe, attacks, Hub repo) now."""
        get_dataset(self.dataset)
        self.search_config()
        self.recipe()
        self.protocol()
        if "genotype" in self.train.model_args:
            raise RobenchError("a pipeline's train.model_args cannot set the genotype",
                               hint="the genotype is the one the search finds; set width and depth only")
        if self.repo is not None:
            validate_repo_id(self.repo)
        return self


def _texts(settings: dict[str, Any]) -> dict[str, str]:
    """YAML values as the command line's ``--set`` texts, so a file and a command line mean the same."""
    return {key: ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            for key, value in settings.items()}  # fmt: skip


def _checked(value: Any, cls: type, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RobenchError(f"{where} must be a mapping, not {value!r}", hint=f"fields: {_fields(cls)}")
    _refuse_unknown(value, {f.name for f in dataclasses.fields(cls)}, where)
    return value


def _refuse_unknown(data: dict, known: set[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        raise RobenchError(f"{where} has unknown field(s) {', '.join(unknown)}", hint=f"fields: {', '.join(sorted(known))}")


def _fields(cls: type) -> str:
    return ", ".join(f.name for f in dataclasses.fields(cls))
