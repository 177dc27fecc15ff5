"""The random-cell ensemble of Devaguptapu et al. (ICCVW 2021, seed 003): cells drawn uniformly from the DARTS
space at zero search cost, one per member network, members of ``cells`` cells each (12 + 6 + 2 = 20 by default,
the paper's example split). The whole search is the draw; ``robench train random_ensemble --genotype`` trains it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from robench.errors import RobenchError
from robench.search.base import Search
from robench.search.run import SearchResult
from robench.zoo.genotypes import random_ensemble_genotype


@dataclass(frozen=True)
class RandomEnsembleConfig:
    cells: tuple[int, ...] = (12, 6, 2)
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.cells or min(self.cells) < 1:
            raise RobenchError(f"cells={list(self.cells)} must be positive cell counts", hint="e.g. cells=12,6,2")


class RandomEnsembleSearch(Search):
    method = "random-ensemble"
    config_type = RandomEnsembleConfig
    zoo_entry = "random_ensemble"
    budget_fields = ("cells",)

    def _search(self) -> SearchResult:
        started = time.perf_counter()
        genotype = random_ensemble_genotype(self.config.seed, self.config.cells)
        return self.run_dir.finish(genotype, {"cells": list(self.config.cells)}, time.perf_counter() - started)
