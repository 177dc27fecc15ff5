"""What every search shares: its configuration, data set, device, run directory and training split.

A search is a class with a ``method`` name, a frozen-dataclass ``config_type`` holding every setting (the
released code's values as defaults), named :class:`Preset` configurations, and :meth:`Search._search`.
:meth:`Search.run` returns its :class:`~robench.search.run.SearchResult` and, run again on the same directory,
resumes the search or returns the finished result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from robench.data import TensorSplit, get_dataset, load_split, select_subset
from robench.errors import RobenchError
from robench.distributed import resolve_device
from robench.progress import ProgressFn
from robench.search.run import SearchResult, SearchRun, config_dict

STATE_FORMAT = 1


@dataclass(frozen=True)
class Preset:
    """A named configuration and what it reproduces (the values in it that its source does not give say so)."""

    config: Any
    summary: str


class Search:
    method: ClassVar[str]
    config_type: ClassVar[type]
    presets: ClassVar[dict[str, Preset]] = {}
    zoo_entry: str  # the zoo entry whose ``genotype`` argument takes this search's result
    # the configuration fields a search's scale changes (its budget), shown beside the models it found
    budget_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def preset(cls, name: str | None = None) -> Any:
        """The configuration of preset ``name``; None: the configuration type's defaults."""
        if name is None:
            return cls.config_type()
        if name not in cls.presets:
            known = f"{cls.method} presets: {', '.join(cls.presets)}" if cls.presets else f"{cls.method} has none"
            raise RobenchError(f"{cls.method} has no preset {name!r}", hint=known)
        return cls.presets[name].config

    def __init__(self, config: Any = None, dataset: str = "cifar10", out: str | Path = "runs/search",
                 data_dir: str | Path | None = None, device: str | torch.device | None = None,
                 n_train: int | None = None, progress: ProgressFn | None = None):  # fmt: skip
        self.config = self.config_type() if config is None else config
        if not isinstance(self.config, self.config_type):
            raise RobenchError(f"{self.method} takes a {self.config_type.__name__}, not {type(self.config).__name__}",
                               hint=f"build it with robench.search.{self.config_type.__name__}(...)")  # fmt: skip
        self.spec = get_dataset(dataset)
        self.data_dir, self.n_train, self.progress = data_dir, n_train, progress
        self.device = resolve_device(device)
        self.run_dir = SearchRun(out, {"method": self.method, "dataset": self.spec.name, "n_train": n_train,
                                       "config": config_dict(self.config), "zoo_entry": self.zoo_entry})  # fmt: skip

    def run(self) -> SearchResult:
        """Search, resume an interrupted search, or read back a finished one from the run directory."""
        self.run_dir.claim()  # a different request on this directory is refused, finished or not
        done = self.run_dir.finished()
        return done if done is not None else self._search()

    def _search(self) -> SearchResult:
        """The method itself, from wherever the run directory's state says it stopped."""
        raise NotImplementedError

    def report(self, phase: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(phase, done, total)

    def training_split(self) -> TensorSplit:
        """The data set's training split, or its seed-0 subset of ``n_train`` images."""
        split = load_split(self.spec.name, "train", self.data_dir)
        if self.n_train is not None:
            split = split.subset(select_subset(len(split), self.n_train, seed=0))
        return split

    def load_state(self) -> dict[str, Any] | None:
        """The resumable state this directory holds, if any (checked to be of this robench's format)."""
        state = self.run_dir.load_state()
        if state is not None and state.get("format") != STATE_FORMAT:
            raise RobenchError(f"{self.run_dir.directory} holds a search state of another format",
                               hint="use a new --out directory")  # fmt: skip
        return state

