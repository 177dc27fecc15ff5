"""Robust architecture searches: their output is a genotype the zoo builds and ``robench train`` trains.

>>> from robench.search import AdvRushConfig, get_search, search
>>> result = search("advrush", AdvRushConfig(), out="runs/advrush-search")    # the released code's run
>>> result.genotype            # a DartsGenotype; zoo.create_model("advrush", genotype=result.genotype)
>>> paper = get_search("advrush").preset("paper")                             # the paper's description

Methods: ``advrush`` and ``arnas`` (differentiable, DARTS space), ``robnet`` (one-shot supernet, sampled and
fine-tuned candidates; presets for its cell-free and budgeted searches), ``random-ensemble`` (random DARTS-space
cells). Each run directory resumes.
"""

from __future__ import annotations

from typing import Any

from robench.errors import RobenchError
from robench.search.base import Preset, Search
from robench.search.differentiable import AdvRushConfig, AdvRushSearch, ArnasConfig, ArnasSearch
from robench.search.random_ensemble import RandomEnsembleConfig, RandomEnsembleSearch
from robench.search.robnet import RobNetSearch, RobNetSearchConfig
from robench.search.run import SearchResult
from robench.search.supernet import CellSupernet

SEARCHES: dict[str, type[Search]] = {
    s.method: s for s in (AdvRushSearch, ArnasSearch, RobNetSearch, RandomEnsembleSearch)
}


def get_search(method: str) -> type[Search]:
    key = method.strip().lower().replace("_", "-")
    if key not in SEARCHES:
        raise RobenchError(f"unknown search method {method!r}", hint=f"methods: {', '.join(SEARCHES)}")
    return SEARCHES[key]


def search(method: str, config: Any = None, **kwargs: Any) -> SearchResult:
    """Run (or resume, or read back) search ``method`` with ``config`` (its config type; None: the defaults)."""
    return get_search(method)(config, **kwargs).run()


__all__ = [
    "SEARCHES",
    "AdvRushConfig",
    "AdvRushSearch",
    "ArnasConfig",
    "ArnasSearch",
    "CellSupernet",
    "Preset",
    "RandomEnsembleConfig",
    "RandomEnsembleSearch",
    "RobNetSearch",
    "RobNetSearchConfig",
    "Search",
    "SearchResult",
    "get_search",
    "search",
]
