"""Random-cell ensembles (Devaguptapu et al., ICCVW 2021, section 4.4): several small DARTS-space networks built
from randomly sampled cells, whose cell counts sum to a budget (e.g. 12 + 6 + 2 = 20), combined by a small
head on their logits: two linear layers with batch norm, then a linear classifier. The ensemble is one network
for attacks: gradients flow through every member and the head.

The paper trains each member separately (standard DARTS protocol, epochs split by cell count), then fits the
head for two epochs. Members see normalised inputs: train member ``i`` on ``model.normalize(x)``.
"""

from __future__ import annotations

import torch
from torch import nn

from robench.zoo.darts import NetworkCIFAR
from robench.zoo.genotypes import EnsembleGenotype, as_genotype, random_ensemble_genotype
from robench.zoo.layers import Normalize, Stats
from robench.zoo.registry import NORMALIZE_DATASET, register_model

# The zoo's default sample: seed 0, members of 12, 6 and 2 cells (the paper's example split of 20 cells).
RANDOM_ENSEMBLE_SEED0 = random_ensemble_genotype(seed=0, cells=(12, 6, 2))


class RandomEnsemble(nn.Module):
    """DARTS-space member networks of width ``C`` and a combining head of width ``hidden`` on their logits."""

    def __init__(
        self,
        genotype: EnsembleGenotype,
        C: int = 36,
        num_classes: int = 10,
        hidden: int = 64,
        auxiliary: bool = False,
        img_size: int = 32,
        mean: Stats = None,
        std: Stats = None,
    ):
        super().__init__()
        self.normalize = Normalize(mean, std)
        self.genotype = genotype
        self.num_classes = num_classes
        self.members = nn.ModuleList(
            NetworkCIFAR(member, C=C, num_classes=num_classes, layers=layers, auxiliary=auxiliary, img_size=img_size)
            for layers, member in genotype.members
        )
        self.combiner = nn.Sequential(
            nn.Linear(len(self.members) * num_classes, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.BatchNorm1d(hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalize(x)
        return self.combiner(torch.cat([member(x) for member in self.members], dim=1))

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        """(logits, None): the combined network has no auxiliary output (members have their own)."""
        return self.forward(x), None


@register_model(
    family="ensemble",
    paper="devaguptapu2021nasrobustness",
    licence="none stated (method of tdchaitanya/nas-robustness; no code or weights released)",
    datasets={"cifar10": {}, "cifar100": {}, "svhn": {}},
    normalization=NORMALIZE_DATASET,
    aliases=("random_cell_ensemble",),
)
def random_ensemble(
    genotype: EnsembleGenotype | str = RANDOM_ENSEMBLE_SEED0,
    C: int = 36,
    hidden: int = 64,
    auxiliary: bool = False,
    num_classes: int = 10,
    img_size: int = 32,
    mean: Stats = None,
    std: Stats = None,
) -> RandomEnsemble:
    """Ensemble of small random DARTS-space networks (Devaguptapu et al., ICCVW 2021).

    Other samples: ``genotype=random_ensemble_genotype(seed, cells)`` from :mod:`robench.zoo.genotypes`.
    """
    return RandomEnsemble(
        as_genotype(genotype, EnsembleGenotype),
        C=C,
        num_classes=num_classes,
        hidden=hidden,
        auxiliary=auxiliary,
        img_size=img_size,
        mean=mean,
        std=std,
    )
