"""Random-cell ensembles (Devaguptapu et al., ICCVW 2021, section 4.4): several small DARTS-space networks built
from randomly sampled cells, whose cell counts sum to a budget (e.g. 12 + 6 + 2 = 20), combined by a small
head on their logits: two linear layers with batch norm, then a linear classifier. The ensemble is one network
for attacks: gradients flow through every member and the head.

The paper trains each member separately (standard DARTS protocol, epochs split by cell count), then fits the
head for two epochs: the ``random-ensemble`` training recipe, which trains :meth:`RandomEnsemble.member` ``i``
(the ensemble's normalisation, then member ``i``) and then :meth:`RandomEnsemble.combining_stage` (the head on
the fixed members). With ``auxiliary=True`` every member has DARTS' auxiliary head; the ensemble's own
auxiliary output, for training it as one network, is the mean of the members' auxiliary logits (robench's
choice: the paper trains no ensemble jointly).
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

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, aux_logits): the mean of the members' auxiliary logits in training mode with auxiliary
        heads, else None."""
        x = self.normalize(x)
        outputs = [member.forward_train(x) for member in self.members]
        logits = self.combiner(torch.cat([out for out, _ in outputs], dim=1))
        aux = [a for _, a in outputs if a is not None]
        return logits, torch.stack(aux).mean(0) if aux else None

    @property
    def drop_path_prob(self) -> float:
        return self.members[0].drop_path_prob

    @drop_path_prob.setter
    def drop_path_prob(self, p: float) -> None:
        for member in self.members:
            member.drop_path_prob = p

    def member(self, index: int) -> EnsembleMember:
        """Member ``index`` as a network of its own, sharing this ensemble's modules."""
        return EnsembleMember(self.normalize, self.members[index])

    def combining_stage(self) -> CombiningStage:
        """This ensemble with its members fixed: what the paper's second stage trains (the head only)."""
        return CombiningStage(self)


class EnsembleMember(nn.Module):
    """One member on [0, 1] inputs: the ensemble's normalisation, then the member network."""

    def __init__(self, normalize: Normalize, network: NetworkCIFAR):
        super().__init__()
        self.normalize = normalize
        self.network = network

    @property
    def drop_path_prob(self) -> float:
        return self.network.drop_path_prob

    @drop_path_prob.setter
    def drop_path_prob(self, p: float) -> None:
        self.network.drop_path_prob = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(self.normalize(x))

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.network.forward_train(self.normalize(x))


class CombiningStage(nn.Module):
    """The whole ensemble's forward with only the head as a submodule: the members stay in eval mode with their
    parameters frozen (``train()`` puts them there), so the head is fitted to the trained members' outputs."""

    def __init__(self, ensemble: RandomEnsemble):
        super().__init__()
        self.combiner = ensemble.combiner
        self._ensemble = (ensemble,)  # a tuple, so that the members are not parameters of this module

    def train(self, mode: bool = True) -> CombiningStage:
        self.training = mode
        self.combiner.train(mode)
        self._ensemble[0].members.eval().requires_grad_(False)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._ensemble[0](x)

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self._ensemble[0](x), None


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
