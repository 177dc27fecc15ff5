"""DARTS-space evaluation networks: NetworkCIFAR / NetworkImageNet (DARTS, P-DARTS, PC-DARTS, RACL, AdvRush) and
ARNAS' three-cell variant whose second reduction keeps the width (stages C : 2C : 2C).

Module names follow the original code (``stem``, ``cells.{i}.preprocess0/1``, ``cells.{i}._ops.{k}``,
``auxiliary_head.features.*``, ``classifier``) so original checkpoints load as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from robench.data.datasets import PDARTS_CIFAR100
from robench.errors import RobenchError
from robench.zoo.genotypes import (
    ADVRUSH,
    ARNAS,
    DARTS_V1,
    DARTS_V2,
    PC_DARTS,
    PDARTS,
    RACL,
    ArnasGenotype,
    DartsGenotype,
    Edge,
    as_genotype,
)
from robench.zoo.layers import Normalize, Stats
from robench.zoo.operations import OPS, cell_preprocess, drop_path
from robench.zoo.registry import NORMALIZE_DATASET, register_model


class Cell(nn.Module):
    """A DARTS cell: preprocess the two previous outputs, then 4 nodes of two (op, input) pairs each, concat."""

    def __init__(
        self,
        edges: Sequence[Edge],
        concat: Sequence[int],
        C_prev_prev: int,
        C_prev: int,
        C: int,
        reduction: bool,
        reduction_prev: bool,
    ):
        super().__init__()
        self.reduction = reduction
        self.preprocess0, self.preprocess1 = cell_preprocess(C_prev_prev, C_prev, C, reduction_prev)
        self._steps = len(edges) // 2
        self._indices = tuple(index for _, index in edges)
        self._concat = tuple(concat)
        self.multiplier = len(concat)
        self._ops = nn.ModuleList(OPS[op](C, 2 if reduction and index < 2 else 1, True) for op, index in edges)

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for step in range(self._steps):
            node = 0
            for k in (2 * step, 2 * step + 1):
                op = self._ops[k]
                h = op(states[self._indices[k]])
                if self.training and drop_prob > 0.0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                node = node + h
            states.append(node)
        return torch.cat([states[i] for i in self._concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS' auxiliary classifier after the second reduction: ReLU, 5x5 average pool, 1x1 conv to 128, BN, ReLU,
    a conv to 768 covering the whole pooled map, BN (absent in the ImageNet head), ReLU, linear."""

    def __init__(self, C: int, num_classes: int, in_size: int, pool_stride: int = 3, final_bn: bool = True):
        super().__init__()
        pooled = (in_size - 5) // pool_stride + 1
        if in_size < 5:
            raise RobenchError(
                f"the auxiliary head needs a feature map of at least 5x5 after the second reduction, "
                f"got {in_size}x{in_size}",
                "use a larger input size, or auxiliary=False",
            )
        layers: list[nn.Module] = [
            nn.ReLU(inplace=False),  # the input is the trunk's state: never modify it in place
            nn.AvgPool2d(5, stride=pool_stride, padding=0, count_include_pad=False),
            nn.Conv2d(C, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, pooled, bias=False),
        ]
        if final_bn:
            layers.append(nn.BatchNorm2d(768))
        layers.append(nn.ReLU(inplace=True))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class CellNetwork(nn.Module):
    """Stem, a stack of cells each fed by the two previous outputs, global average pooling, linear classifier.

    ``stem="cifar"``: one 3x3 conv to 3C + BN at full resolution. ``stem="imagenet"``: DARTS' ImageNet stems
    (two stride-2 convs, then ReLU + a third stride-2 conv), the first cell seeing a reduced predecessor.
    """

    def __init__(self, C: int, stem: str, mean: Stats, std: Stats):
        super().__init__()
        self.normalize = Normalize(mean, std)
        if stem == "cifar":
            self.stem = nn.Sequential(nn.Conv2d(3, 3 * C, 3, padding=1, bias=False), nn.BatchNorm2d(3 * C))
            self.stem_channels, self.stem_stride, self.stem_reduces = 3 * C, 1, False
        elif stem == "imagenet":
            self.stem0 = nn.Sequential(
                nn.Conv2d(3, C // 2, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(C // 2),
                nn.ReLU(inplace=True),
                nn.Conv2d(C // 2, C, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(C),
            )
            self.stem1 = nn.Sequential(
                nn.ReLU(inplace=False),  # stem0's output is also the first cell's s0
                nn.Conv2d(C, C, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(C),
            )
            self.stem_channels, self.stem_stride, self.stem_reduces = C, 8, True
        else:
            raise RobenchError(f"unknown stem {stem!r}", "stem is 'cifar' (32x32 / 64x64 inputs) or 'imagenet'")
        self.stem_type = stem
        self.cells = nn.ModuleList()

    def _add_classifier(self, C_prev: int, num_classes: int) -> None:
        self.num_features = C_prev
        self.num_classes = num_classes
        self.global_pooling = nn.AdaptiveAvgPool2d(1)  # = AvgPool2d(7) of the originals at 224x224
        self.classifier = nn.Linear(C_prev, num_classes)

    def _stems(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.normalize(x)
        if self.stem_type == "cifar":
            s = self.stem(x)
            return s, s
        s0 = self.stem0(x)
        return s0, self.stem1(s0)

    def _head(self, s: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pooling(s).flatten(1))


@dataclass(frozen=True)
class CellRole:
    """One cell of a network: which genotype cell it uses, whether it reduces, its width as a multiple of C."""

    kind: str
    reduction: bool
    width: int


@dataclass(frozen=True)
class CellSpec:
    """A cell role with its genotype cell filled in."""

    kind: str
    edges: tuple[Edge, ...]
    concat: tuple[int, ...]
    reduction: bool
    width: int


def cell_roles(layers: int, three_cell: bool = False) -> list[CellRole]:
    """Cells of an L-cell network: reductions at L//3 and 2L//3.

    DARTS doubles the width at both reductions (C : 2C : 4C). ARNAS (``three_cell``) uses its ``accurate`` cell
    before the second reduction and its ``robust`` cell after it, and its second reduction keeps the width
    (C : 2C : 2C). Evaluation networks and search supernets share this layout.
    """
    first, second = layers // 3, 2 * layers // 3
    roles, width = [], 1
    for i in range(layers):
        reduction = i in (first, second)
        if reduction:
            kind = "reduce"
            if not three_cell or (i == first and i != second):
                width *= 2
        elif three_cell:
            kind = "accurate" if i < second else "robust"
        else:
            kind = "normal"
        roles.append(CellRole(kind, reduction, width))
    return roles


def cell_layout(genotype: DartsGenotype | ArnasGenotype, layers: int) -> list[CellSpec]:
    """:func:`cell_roles` for ``genotype``'s kind, each role with its genotype cell."""
    specs = []
    for role in cell_roles(layers, three_cell=isinstance(genotype, ArnasGenotype)):
        edges, concat = genotype.cell(role.kind)
        specs.append(CellSpec(role.kind, edges, concat, role.reduction, role.width))
    return specs


class NetworkCIFAR(CellNetwork):
    """The DARTS evaluation network; with an :class:`ArnasGenotype`, ARNAS' C : 2C : 2C variant."""

    stem_kind = "cifar"

    def __init__(
        self,
        genotype: DartsGenotype | ArnasGenotype,
        C: int = 36,
        num_classes: int = 10,
        layers: int = 20,
        auxiliary: bool = False,
        img_size: int = 32,
        mean: Stats = None,
        std: Stats = None,
    ):
        if layers < 1 or C < 2 or C % 2:
            raise RobenchError(
                f"invalid width/depth C={C}, layers={layers}", "C must be an even number >= 2, layers >= 1"
            )
        super().__init__(C, self.stem_kind, mean, std)
        self.genotype = genotype
        self.drop_path_prob = 0.0  # set by training code; drop-path acts only in training mode
        self._aux_index = 2 * layers // 3
        C_prev_prev, C_prev, reduction_prev = self.stem_channels, self.stem_channels, self.stem_reduces
        size, aux_channels, aux_size = img_size // self.stem_stride, 0, 0
        for i, spec in enumerate(cell_layout(genotype, layers)):
            C_cell = spec.width * C
            cell = Cell(spec.edges, spec.concat, C_prev_prev, C_prev, C_cell, spec.reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = spec.reduction
            size = size // 2 if spec.reduction else size
            C_prev_prev, C_prev = C_prev, cell.multiplier * C_cell
            if i == self._aux_index:
                aux_channels, aux_size = C_prev, size
        self.auxiliary_head = self._auxiliary_head(aux_channels, num_classes, aux_size) if auxiliary else None
        self._add_classifier(C_prev, num_classes)

    def _auxiliary_head(self, C: int, num_classes: int, in_size: int) -> AuxiliaryHead:
        return AuxiliaryHead(C, num_classes, in_size, pool_stride=3, final_bn=True)

    def _forward(self, x: torch.Tensor, with_aux: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        s0, s1 = self._stems(x)
        aux = None
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if with_aux and i == self._aux_index:
                aux = self.auxiliary_head(s1)
        return self._head(s1), aux

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x, with_aux=False)[0]

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(logits, aux_logits); aux_logits only in training mode with an auxiliary head, else None."""
        return self._forward(x, with_aux=self.training and self.auxiliary_head is not None)


class NetworkImageNet(NetworkCIFAR):
    """The DARTS ImageNet network: ImageNet stems; its auxiliary head pools with stride 2 and has no final BN."""

    stem_kind = "imagenet"

    def _auxiliary_head(self, C: int, num_classes: int, in_size: int) -> AuxiliaryHead:
        return AuxiliaryHead(C, num_classes, in_size, pool_stride=2, final_bn=False)


def _cell_network(
    genotype: DartsGenotype | ArnasGenotype | str,
    kind: type,
    C: int,
    layers: int,
    auxiliary: bool,
    num_classes: int,
    img_size: int,
    mean: Stats,
    std: Stats,
    stem: str = "cifar",
) -> NetworkCIFAR:
    genotype = as_genotype(genotype, kind)
    if stem not in ("cifar", "imagenet"):
        raise RobenchError(f"unknown stem {stem!r}", "stem is 'cifar' or 'imagenet'")
    network = NetworkImageNet if stem == "imagenet" else NetworkCIFAR
    return network(genotype, C, num_classes, layers, auxiliary, img_size, mean, std)


# ---------------------------------------------------------------------------------------------------------------
# Registry entry points

_SMALL_IMAGES = {"cifar10": {}, "cifar100": {}, "svhn": {}, "tiny-imagenet": {}}
# DARTS' ImageNet setting: C=48, 14 cells, ImageNet stems (the CIFAR-searched cells transferred).
_WITH_IMAGENET = {**_SMALL_IMAGES, "imagenet": {"C": 48, "layers": 14, "stem": "imagenet"}}


@register_model(
    family="darts",
    paper="liu2019darts",
    licence="Apache-2.0 (quark0/darts)",
    datasets=_WITH_IMAGENET,
    normalization=NORMALIZE_DATASET,
    aliases=("darts_first_order",),
)
def darts_v1(
    genotype: DartsGenotype | str = DARTS_V1,
    C: int = 36,
    layers: int = 20,
    auxiliary: bool = False,
    stem: str = "cifar",
    num_classes: int = 10,
    img_size: int = 32,
    mean: Stats = None,
    std: Stats = None,
) -> NetworkCIFAR:
    """DARTS, first-order search (Liu et al., ICLR 2019)."""
    return _cell_network(genotype, DartsGenotype, C, layers, auxiliary, num_classes, img_size, mean, std, stem)


@register_model(
    family="darts",
    paper="liu2019darts",
    licence="Apache-2.0 (quark0/darts)",
    datasets=_WITH_IMAGENET,
    normalization=NORMALIZE_DATASET,
    aliases=("darts",),
)
def darts_v2(
    genotype: DartsGenotype | str = DARTS_V2,
    C: int = 36,
    layers: int = 20,
    auxiliary: bool = False,
    stem: str = "cifar",
    num_classes: int = 10,
    img_size: int = 32,
    mean: Stats = None,
    std: Stats = None,
) -> NetworkCIFAR:
    """DARTS, second-order search: the usual 'DARTS' baseline (Liu et al., ICLR 2019)."""
    return _cell_network(genotype, DartsGenotype, C, layers, auxiliary, num_classes, img_size, mean, std, stem)


@register_model(
    family="darts",
    paper="chen2019pdarts",
    licence="Huawei non-commercial, evaluation only (chenxin061/pdarts)",
    datasets=_WITH_IMAGENET,
    normalization={"cifar100": PDARTS_CIFAR100},
    aliases=("p_darts",),
)
def pdarts(
    genotype: DartsGenotype | str = PDARTS,
    C: int = 36,
    layers: int = 20,
    auxiliary: bool = False,
    stem: str = "cifar",
    num_classes: int = 10,
    img_size: int = 32,
    mean: Stats = None,
    std: Stats = None,
) -> NetworkCIFAR:
    """P-DARTS: progressive DARTS (Chen et al., ICCV 2019)."""
    return _cell_network(genotype, DartsGenotype, C, layers, auxiliary, num_classes, img_size, mean, std, stem)


@register_model(
    family="darts",
    paper="xu2020pcdarts",
    licence="none stated (weights of tdchaitanya/nas-robustness)",
    datasets=_WITH_IMAGENET,
    normalization=NORMALIZE_DATASET,
    aliases=("pcdarts",),
)
def pc_darts(
    genotype: DartsGenotype | str = PC_DARTS,
    C: int = 36,
    layers: int = 20,
    auxiliary: bool = False,
    stem: str = "cifar",
    num_classes: int = 10,
    img_size: int = 32,
    mean: Stats = None,
    std: Stats = None,
) -> NetworkCIFAR:
    """PC-DARTS: partially connected DARTS, CIFAR-10 cell (Xu et al., ICLR 2020)."""
    return _cell_network(genotype, DartsGenotype, C, layers, auxiliary, num_classes, img_size, mean, std, stem)


@register_model(
    family="darts",
    paper="dong2020racl",
    licence="unknown (no original code or weights released)",
    datasets=_SMALL_IMAGES,
)
def racl(
    genotype: DartsGenotype | str = RACL,
    C: int = 36,
    layers: int = 20,
    auxiliary: bool = False,
    num_classes: int = 10,
    img_size: int = 32,
    mean: Stats = None,
    std: Stats = None,
) -> NetworkCIFAR:
    """RACL: adversarially robust architecture via confidence-bound Lipschitz regularisation (Dong et al., 2020)."""
    return _cell_network(genotype, DartsGenotype, C, layers, auxiliary, num_classes, img_size, mean, std)


@register_model(
    family="darts",
    paper="mok2021advrush",
    licence="Apache-2.0 (nutellamok/advrush; no weights released)",
    datasets=_SMALL_IMAGES,
)
def advrush(
    genotype: DartsGenotype | str = ADVRUSH,
    C: int = 36,
    layers: int = 20,
    auxiliary: bool = False,
    num_classes: int = 10,
    img_size: int = 32,
    mean: Stats = None,
    std: Stats = None,
) -> NetworkCIFAR:
    """AdvRush: searched with a smoothness (input-loss curvature) regulariser (Mok et al., ICCV 2021)."""
    return _cell_network(genotype, DartsGenotype, C, layers, auxiliary, num_classes, img_size, mean, std)


@register_model(
    family="arnas",
    paper="ou2024arnas",
    licence="none stated (fyqsama/ARNAS)",
    datasets={"cifar10": {"C": 64}, "cifar100": {"C": 64}, "svhn": {"C": 64}, "tiny-imagenet": {"C": 84, "layers": 14}},
)
def arnas(
    genotype: ArnasGenotype | str = ARNAS,
    C: int = 64,
    layers: int = 20,
    auxiliary: bool = False,
    num_classes: int = 10,
    img_size: int = 32,
    mean: Stats = None,
    std: Stats = None,
) -> NetworkCIFAR:
    """ARNAS: accurate and robust cells, C : 2C : 2C stages (Ou, Feng and Sun, CVPR 2024)."""
    return _cell_network(genotype, ArnasGenotype, C, layers, auxiliary, num_classes, img_size, mean, std)
