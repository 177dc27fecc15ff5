"""RobNet (Guo et al., CVPR 2020): dense 14-edge cells whose edges carry any subset of {3x3 sep conv, identity}.

Every BN inside the cells is non-affine (kept from the search stage); only the stem BNs are affine. One cell code
shared by all cells (reductions included) gives the cell-based RobNet-large; one code per cell gives RobNet-free.
No auxiliary head, no drop-path, and no input normalisation (the models are trained on [0,1] inputs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from robench.errors import RobenchError
from robench.zoo.darts import CellNetwork
from robench.zoo.genotypes import ROBNET_EDGES, ROBNET_FREE, ROBNET_LARGE, STEPS, RobNetGenotype, as_genotype
from robench.zoo.layers import Stats
from robench.zoo.operations import CodedEdge, cell_preprocess
from robench.zoo.registry import register_model


class RobNetCell(nn.Module):
    """Each of the 4 nodes sums all its predecessors through coded edges; the cell concatenates the 4 nodes."""

    def __init__(
        self, codes: Sequence[str], C_prev_prev: int, C_prev: int, C: int, reduction: bool, reduction_prev: bool
    ):
        super().__init__()
        self.reduction = reduction
        self.preprocess0, self.preprocess1 = cell_preprocess(C_prev_prev, C_prev, C, reduction_prev, affine=False)
        self.multiplier = STEPS
        self._ops = nn.ModuleList(
            CodedEdge(code, C, 2 if reduction and src < 2 else 1, affine=False)
            for (_, src), code in zip(ROBNET_EDGES, codes, strict=True)
        )

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        k = 0
        for node in range(STEPS):
            inputs = node + 2
            states.append(sum(self._ops[k + j](states[j]) for j in range(inputs)))
            k += inputs
        return torch.cat(states[2:], dim=1)


class RobNet(CellNetwork):
    """The RobNet network: DARTS skeleton (reductions at L//3 and 2L//3 doubling C) with RobNet cells."""

    def __init__(
        self,
        genotype: RobNetGenotype,
        C: int = 36,
        num_classes: int = 10,
        layers: int = 20,
        stem: str = "cifar",
        mean: Stats = None,
        std: Stats = None,
    ):
        if len(genotype.cells) not in (1, layers):
            raise RobenchError(
                f"the RobNet genotype has {len(genotype.cells)} cells but the network has {layers} layers",
                "give one shared cell code, or one code per layer (cell-free)",
            )
        if layers < 1 or C < 2 or C % 2:
            raise RobenchError(
                f"invalid width/depth C={C}, layers={layers}", "C must be an even number >= 2, layers >= 1"
            )
        super().__init__(C, stem, mean, std)
        self.genotype = genotype
        C_prev_prev, C_prev, reduction_prev = self.stem_channels, self.stem_channels, self.stem_reduces
        C_cell = C
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                C_cell *= 2
            cell = RobNetCell(genotype.cell(i), C_prev_prev, C_prev, C_cell, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_cell
        self._add_classifier(C_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s0, s1 = self._stems(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self._head(s1)

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        """(logits, None): RobNet has no auxiliary head."""
        return self.forward(x), None


def _robnet(genotype: RobNetGenotype | str, **kwargs) -> RobNet:
    return RobNet(as_genotype(genotype, RobNetGenotype), **kwargs)


_LICENCE = "MIT (gmh14/RobNets)"
_SMALL_IMAGES = {"cifar10": {}, "cifar100": {}, "svhn": {}, "tiny-imagenet": {}}


@register_model(
    family="robnet",
    paper="guo2020robnet",
    licence=_LICENCE,
    aliases=("robnet_large_v1",),
    datasets={**_SMALL_IMAGES, "imagenet": {"C": 48, "stem": "imagenet"}},
)
def robnet_large(
    genotype: RobNetGenotype | str = ROBNET_LARGE,
    C: int = 36,
    layers: int = 20,
    stem: str = "cifar",
    num_classes: int = 10,
    mean: Stats = None,
    std: Stats = None,
) -> RobNet:
    """RobNet-large: one searched cell shared by all 20 cells (Guo et al., CVPR 2020)."""
    return _robnet(genotype, C=C, num_classes=num_classes, layers=layers, stem=stem, mean=mean, std=std)


@register_model(family="robnet", paper="guo2020robnet", licence=_LICENCE, datasets=_SMALL_IMAGES)
def robnet_large_v2(
    genotype: RobNetGenotype | str = ROBNET_LARGE,
    C: int = 64,
    layers: int = 33,
    stem: str = "cifar",
    num_classes: int = 10,
    mean: Stats = None,
    std: Stats = None,
) -> RobNet:
    """RobNet-large-v2: the RobNet-large cell, 64 channels and 33 cells (Guo et al., CVPR 2020)."""
    return _robnet(genotype, C=C, num_classes=num_classes, layers=layers, stem=stem, mean=mean, std=std)


@register_model(family="robnet", paper="guo2020robnet", licence=_LICENCE, datasets=_SMALL_IMAGES)
def robnet_free(
    genotype: RobNetGenotype | str = ROBNET_FREE,
    C: int = 36,
    layers: int = 20,
    stem: str = "cifar",
    num_classes: int = 10,
    mean: Stats = None,
    std: Stats = None,
) -> RobNet:
    """RobNet-free: a different searched cell for each of the 20 cells (cell-free search; Guo et al., CVPR 2020)."""
    return _robnet(genotype, C=C, num_classes=num_classes, layers=layers, stem=stem, mean=mean, std=std)
